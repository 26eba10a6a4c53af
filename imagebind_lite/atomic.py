"""Atomic file and directory writes (write to a temporary name, then ``os.replace``).

A reader never sees half a file: an interrupted write leaves the previous version (or
nothing) in place. Every model, index, shard, cache, report and world file goes through here.

One permission policy: whatever is written gets the mode an ordinary ``open`` / ``mkdir``
would give under the process umask (0644 / 0755 under umask 022, 0600 / 0700 under 077).
The temporary names need fixing up because ``mkdtemp`` creates 0700 directories and some
writers (safetensors among them) create 0600 files whatever the umask, which would make a
saved model or index unreadable to the rest of a team sharing it.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

PathLike = Union[str, os.PathLike]

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    # elsewhere the only way to read it is to set it; the lock keeps our own threads from
    # seeing the temporary value between the two calls
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """Mode of a newly written file: what ``open(path, "w")`` would give."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """Mode of a newly written directory: what ``mkdir`` would give."""
    return 0o777 & ~current_umask()


def apply_default_modes(path: PathLike) -> None:
    """Give ``path`` (and, for a directory, everything below it) the umask-derived modes."""
    path = Path(path)
    files, dirs = file_mode(), dir_mode()
    if not path.is_dir():
        os.chmod(path, files)
        return
    for root, subdirs, names in os.walk(path):
        os.chmod(root, dirs)
        for name in names:
            target = os.path.join(root, name)
            if not os.path.islink(target):  # a link's own mode means nothing; its target is not ours
                os.chmod(target, files)
        subdirs[:] = [d for d in subdirs if not os.path.islink(os.path.join(root, d))]


def _tmp_sibling(path: Path) -> Path:
    # same directory as the target so os.replace stays a rename on one file system
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")


@contextmanager
def atomic_path(path: PathLike, fix_modes: bool = True) -> Iterator[Path]:
    """Yield a temporary file path next to ``path``; on success it replaces ``path``.

    ``fix_modes=False`` is for writers that create the file with a plain ``open`` (its mode
    already follows the umask): it skips reading the umask and a ``chmod``, which add up over
    thousands of small files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    try:
        yield tmp
        if fix_modes:
            apply_default_modes(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


@contextmanager
def atomic_directory(path: PathLike) -> Iterator[Path]:
    """Yield a fresh temporary directory; on success it takes the place of ``path``.

    POSIX cannot rename a directory onto a non-empty one, so an existing target is first
    moved aside and removed after the swap: readers see the old or the new directory, never
    a mix of both.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
        apply_default_modes(tmp)
        old = None
        if path.exists():
            old = _tmp_sibling(path)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)

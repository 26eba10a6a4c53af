"""File checksums for saved indexes and shards, with a verified-file cache keyed by stat data.

Every file of an index directory has its SHA-256 in the directory's metadata and is checked
before use, so a truncated, edited or swapped file is refused instead of returning wrong
neighbours. Hashing is linear in the file size, though: at a million 512-d rows the
embeddings and an IVF-Flat index are 2 GB each, seconds of hashing in every ``query`` process
for a search that takes milliseconds. So, like git's index, a file whose stat data (device,
inode, size, mtime, ctime) is unchanged since it was last hashed is not hashed again: any
write through the file system moves ctime, which no user-space tool can set back. A hash is
only remembered when the file's ctime was already some seconds old when it was taken (a file
written within the same timestamp tick as its hashing could change without its stat data
changing: git's "racy" case). ``verify="full"`` ignores the cache; ``verify="none"`` is for
files the calling process has just written and hashed itself.

The cache lives in ``$IMAGEBIND_LITE_CACHE_DIR`` (default ``$XDG_CACHE_HOME/imagebind-lite``
or ``~/.cache/imagebind-lite``), one small JSON file per verified path; when it cannot be
written every load simply hashes in full.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Optional

from imagebind_lite.atomic import atomic_write_text

from .errors import IndexFileError

log = logging.getLogger(__name__)

CACHE_ENV = "IMAGEBIND_LITE_CACHE_DIR"
VERIFY_MODES = ("cached", "full", "none")
RACY_SECONDS = 2.0  # above the timestamp granularity of common file systems (FAT: 2 s)
_BLOCK = 1 << 22


def sha256_file(path, block: int = _BLOCK) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "imagebind-lite"


def _stat_key(path: Path) -> dict:
    st = os.stat(path)
    return {"dev": st.st_dev, "ino": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "ctime_ns": st.st_ctime_ns}


def _entry_path(path: Path) -> Path:
    name = hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:40]
    return cache_dir() / "verified" / f"{name}.json"


def _cached_sha(path: Path, key: dict) -> Optional[str]:
    try:
        entry = json.loads(_entry_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("stat") != key:
        return None
    return entry.get("sha256") if isinstance(entry.get("sha256"), str) else None


def _remember(path: Path, key: dict, sha: str) -> None:
    newest = max(key["mtime_ns"], key["ctime_ns"]) / 1e9
    if time.time() - newest < RACY_SECONDS:
        return  # racy: a write in the same tick would leave the stat data as it is now
    try:
        atomic_write_text(_entry_path(path), json.dumps({"path": str(path.resolve()), "stat": key, "sha256": sha}))
    except OSError as exc:  # a read-only home: verification still happens, just in full each time
        log.debug("cannot record the verified hash of %s: %s", path, exc)


def verify_file(path, expected: str, what: str, verify: str = "cached") -> None:
    """Raise ``IndexFileError`` naming ``path`` unless its SHA-256 is ``expected``."""
    if verify not in VERIFY_MODES:
        raise ValueError(f"verify must be one of {VERIFY_MODES}, got {verify!r}")
    path = Path(path)
    if not path.is_file():
        raise IndexFileError(f"{what} is missing", source=str(path))
    if verify == "none":
        return
    key = _stat_key(path)
    if verify == "cached" and _cached_sha(path, key) == expected:
        return
    actual = sha256_file(path)
    if actual != expected:
        raise IndexFileError(f"{what} does not match its checksum in the index metadata: it was truncated "
                             "or modified after saving, or comes from another index", source=str(path))
    if _stat_key(path) == key:  # unchanged while we hashed it
        _remember(path, key, actual)

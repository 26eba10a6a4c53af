"""The files a tower needs beside its weights, and where they live.

A tower from another library is rebuilt from small files of that library's own format: a
Hugging Face ``config.json`` with its tokenizer and image-processor files, open_clip's
``open_clip_config.json``. An encoder names the directory holding them in its data config,
``data["files"]`` (its preprocessing reads them too). That directory is:

- while building from a user's model: a private copy (``stage_files``), so the encoder never
  depends on the user's directory again;
- in a saved model: ``<modality>.files/`` beside ``<modality>.safetensors``, recorded relative
  to the model directory and resolved when the model is loaded.

Weights never go there: they live in the encoder's state dict and its safetensors file.
"""
from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Optional

from imagebind_lite.errors import CheckpointError

FILES_KEY = "files"  # data-config key naming the directory
# Suffixes of weight files: a copy of a model directory takes everything else.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".gguf", ".npz")
WEIGHT_INDEX_SUFFIX = ".index.json"  # the shard index of a sharded checkpoint


def is_weight_file(path: Path) -> bool:
    return path.suffix.lower() in WEIGHT_SUFFIXES or path.name.endswith(WEIGHT_INDEX_SUFFIX)


def new_files_directory(label: str) -> Path:
    """An empty private directory for a tower's files, removed when the process exits.

    A saved model takes a copy; until then the encoder reads from here, so the directory a
    user built it from can go away at once.
    """
    path = Path(tempfile.mkdtemp(prefix=f"imagebind-lite-{label}-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def stage_files(source: Path, label: str, names: Optional[Iterable[str]] = None) -> Path:
    """Copy the non-weight files at the top of ``source`` (or only ``names``) into a private directory."""
    staged = new_files_directory(label)
    wanted = set(names) if names is not None else None
    for path in sorted(source.iterdir()):
        if not path.is_file() or is_weight_file(path) or (wanted is not None and path.name not in wanted):
            continue
        shutil.copy2(path, staged / path.name)
    return staged


def files_of(data: dict) -> Optional[Path]:
    """The files directory a data config names, or None."""
    value = data.get(FILES_KEY)
    return Path(value) if value else None


def require_files(data: dict, what: str) -> Path:
    """The files directory of a data config, which must exist."""
    path = files_of(data)
    if path is None:
        raise CheckpointError(f"{what}: the data config names no files directory ({FILES_KEY!r})")
    if not path.is_dir():
        raise CheckpointError(f"{what}: its files directory {path} is missing")
    return path


def directory_version(path: Path) -> tuple:
    """Changes when the directory is replaced (saved models are replaced by an atomic rename), so
    per-process caches of a processor or tokenizer never serve an older one under the same path."""
    status = path.stat()
    return status.st_ino, status.st_mtime_ns


def files_digest(path: Path) -> str:
    """sha256 over the names and bytes of every file under ``path``: what the files ARE, wherever
    they are, so a moved model keeps its caches and an edited processor file invalidates them."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}:{file.stat().st_size};".encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def with_files_digest(data: dict) -> dict:
    """The data config with its files directory replaced by the digest of its contents."""
    path = files_of(data)
    if path is None:
        return data
    return {**data, FILES_KEY: f"sha256:{files_digest(path)}" if path.is_dir() else f"missing:{path}"}

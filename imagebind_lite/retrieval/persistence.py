"""Saving and loading an index directory: ``embeddings.safetensors`` + ``meta.json``.

Written atomically (a temporary directory renamed into place) and verified on load: format
version, dimension, row count, dtype and the SHA-256 of the embedding file, so a truncated
or tampered index fails with an error naming the file instead of returning wrong neighbours.
No pickle anywhere: safetensors and JSON only.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch
from safetensors.torch import load_file, save_file

from imagebind_lite.atomic import atomic_directory
from .errors import IndexFileError

FORMAT_NAME = "imagebind-lite-index"
FORMAT_VERSION = 1
EMB_FILE = "embeddings.safetensors"
META_FILE = "meta.json"
TENSOR_KEY = "embeddings"


def sha256_file(path: Path, block: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_rows(directory, emb: torch.Tensor, ids, modalities, sources) -> Path:
    """Write one index directory atomically; returns its path."""
    directory = Path(directory)
    with atomic_directory(directory) as tmp:
        save_file({TENSOR_KEY: emb.contiguous()}, str(tmp / EMB_FILE))
        meta = {
            "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
            "dim": int(emb.shape[1]), "count": int(emb.shape[0]), "dtype": "float32",
            "embedding_file": EMB_FILE, "sha256": sha256_file(tmp / EMB_FILE),
            "ids": list(ids), "modalities": list(modalities), "sources": list(sources),
        }
        (tmp / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    return directory


def read_meta(directory: Path) -> Dict[str, Any]:
    path = directory / META_FILE
    if not path.is_file():
        raise IndexFileError(f"not an index directory: {META_FILE} is missing", source=str(path))
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexFileError(f"index metadata is truncated or not JSON ({exc})", source=str(path)) from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise IndexFileError("not an imagebind-lite index metadata file", source=str(path))
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexFileError(f"index format version {version!r} is not supported (this build reads "
                             f"version {FORMAT_VERSION})", source=str(path))
    _check_fields(meta, path)
    return meta


def _check_fields(meta: Dict[str, Any], path: Path) -> None:
    for key, kind in (("dim", int), ("count", int), ("sha256", str), ("ids", list),
                      ("modalities", list), ("sources", list)):
        if not isinstance(meta.get(key), kind):
            raise IndexFileError(f"index metadata field {key!r} is missing or malformed", source=str(path))
    for key in ("ids", "modalities", "sources"):
        if len(meta[key]) != meta["count"]:
            raise IndexFileError(f"index metadata lists {len(meta[key])} {key} for {meta['count']} rows",
                                 source=str(path))
    if meta.get("dtype") != "float32":
        raise IndexFileError(f"unsupported index dtype {meta.get('dtype')!r}", source=str(path))


def load_rows(directory, expected_dim: Optional[int] = None) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """Read and verify an index directory; returns ``(embeddings [N, D], meta)``."""
    directory = Path(directory)
    meta = read_meta(directory)
    if expected_dim is not None and meta["dim"] != expected_dim:
        raise IndexFileError(f"index has dimension {meta['dim']}, expected {expected_dim}",
                             source=str(directory / META_FILE))
    path = directory / meta.get("embedding_file", EMB_FILE)
    if not path.is_file():
        raise IndexFileError("index embedding file is missing", source=str(path))
    if sha256_file(path) != meta["sha256"]:
        raise IndexFileError("index embedding file does not match its checksum in meta.json: "
                             "it was truncated or modified after saving", source=str(path))
    try:
        emb = load_file(str(path))[TENSOR_KEY]
    except Exception as exc:  # safetensors raises its own error types; re-raise as ours
        raise IndexFileError(f"cannot read index embeddings ({exc})", source=str(path)) from exc
    if tuple(emb.shape) != (meta["count"], meta["dim"]) or emb.dtype != torch.float32:
        raise IndexFileError(f"index embeddings have shape {tuple(emb.shape)} {emb.dtype}, metadata says "
                             f"({meta['count']}, {meta['dim']}) float32", source=str(path))
    return emb, meta

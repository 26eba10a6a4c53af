"""Embedding shards: the hand-off format between ``embed`` and ``index build``.

A shard is ``<name>.safetensors`` holding one float32 tensor ``"embeddings"`` ``[N, D]`` plus a
sidecar ``<name>.json`` listing, per row, the id, modality and source path, with the row count,
dimension and the SHA-256 of the tensor file. Many writers (one per GPU rank in a prediction
writer) can each write their own shards into one directory; ``read_shards`` reads them back
in name order. Both files are written atomically, the tensor file's bytes hashed as they are
written (one pass over the data instead of writing and then reading it back) and synced to
disk before it takes its final name.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from imagebind_lite.atomic import atomic_path, atomic_write_text
from imagebind_lite.errors import InputError

from .errors import IndexFileError
from .integrity import sha256_file

SHARD_FORMAT = "imagebind-lite-embedding-shard"
SHARD_VERSION = 1


@dataclass
class Shard:
    embeddings: torch.Tensor   # [N, D] float32
    ids: List[str]             # one id per row
    modalities: List[str]      # one modality name per row
    sources: List[str]         # one source path per row ("" when unknown)
    path: Path                 # the .safetensors file it came from


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def _write_tensor_file(path: Path, emb: torch.Tensor) -> str:
    """Write ``emb`` (contiguous float32, CPU) as the safetensors file ``{"embeddings": emb}``;
    returns the file's SHA-256, computed while writing.

    The bytes are exactly what ``safetensors.torch.save_file`` writes (a little-endian u64
    header length, a compact JSON header padded with spaces to 8 bytes, the raw data), written
    here so the data goes from the tensor's memory to the file and the hash without a copy.
    """
    if sys.byteorder != "little":  # the format is little-endian: let safetensors byte-swap
        save_file({"embeddings": emb}, str(path))
        return sha256_file(path)
    data = emb.numpy().reshape(-1).view(np.uint8)  # the tensor's own bytes, not a copy
    header = json.dumps({"embeddings": {"dtype": "F32", "shape": list(emb.shape), "data_offsets": [0, data.nbytes]}},
                        separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        for part in (len(header).to_bytes(8, "little"), header, data):
            digest.update(part)  # hashlib and write release the GIL on large buffers
            fh.write(part)
        fh.flush()
        os.fsync(fh.fileno())
    return digest.hexdigest()


def write_shard(path, emb: torch.Tensor, ids: Sequence[str], modality: Union[str, Sequence[str]],
                sources: Optional[Sequence[str]] = None, extra: Optional[Dict[str, Any]] = None) -> Path:
    """Write one shard (tensor file + JSON sidecar); returns the tensor file's path.

    ``extra``: more sidecar fields (an embedding run records the shard's place in its plan).
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    emb = torch.as_tensor(emb).detach().to("cpu", torch.float32).contiguous()
    n = emb.shape[0] if emb.dim() == 2 else -1
    mods = [modality] * max(n, 0) if isinstance(modality, str) else list(modality)
    srcs = [""] * max(n, 0) if sources is None else [str(s) for s in sources]
    if emb.dim() != 2 or not (len(ids) == len(mods) == len(srcs) == n):
        raise InputError(f"shard needs [N, D] embeddings with N ids/modalities/sources; got shape "
                         f"{list(emb.shape)}, {len(ids)} ids, {len(mods)} modalities, {len(srcs)} sources",
                         source=str(path))
    with atomic_path(path) as tmp:
        digest = _write_tensor_file(tmp, emb)
        meta = {"format": SHARD_FORMAT, "format_version": SHARD_VERSION, "count": n,
                "dim": int(emb.shape[1]), "sha256": digest, "ids": [str(i) for i in ids],
                "modalities": mods, "sources": srcs, **(extra or {})}
        # sidecar first: a tensor file without its sidecar is never picked up by read_shards
        atomic_write_text(_sidecar(path), json.dumps(meta))
    return path


def read_sidecar(path) -> Dict[str, Any]:
    """The checked JSON sidecar of shard ``path`` (the tensor file is not read)."""
    side = _sidecar(Path(path))
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFileError(f"shard sidecar is missing or not JSON ({exc})", source=str(side)) from exc
    if not isinstance(meta, dict) or meta.get("format") != SHARD_FORMAT or meta.get("format_version") != SHARD_VERSION:
        raise IndexFileError("not an embedding shard sidecar of a supported version", source=str(side))
    n = meta.get("count")
    if not isinstance(n, int) or not isinstance(meta.get("dim"), int) or any(
            not isinstance(meta.get(k), list) or len(meta[k]) != n for k in ("ids", "modalities", "sources")):
        raise IndexFileError("shard sidecar fields are missing or disagree with its row count", source=str(side))
    return meta


def read_shard(path) -> Shard:
    """Read and verify one shard."""
    path = Path(path)
    meta = read_sidecar(path)
    if not path.is_file() or sha256_file(path) != meta.get("sha256"):
        raise IndexFileError("shard tensor file is missing, truncated or modified", source=str(path))
    emb = load_file(str(path)).get("embeddings")
    n = meta.get("count")
    if emb is None or tuple(emb.shape) != (n, meta.get("dim")) or any(
            len(meta.get(k, [])) != n for k in ("ids", "modalities", "sources")):
        raise IndexFileError("shard contents do not match its sidecar", source=str(path))
    return Shard(emb.float(), meta["ids"], meta["modalities"], meta["sources"], path)


def shard_paths(directory) -> List[Path]:
    """Tensor files of every shard of ``directory`` (those with a sidecar), in file-name order."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError("embedding shard directory does not exist", source=str(directory))
    paths = sorted(p for p in directory.glob("*.safetensors") if _sidecar(p).is_file())
    if not paths:
        raise InputError("no embedding shards (*.safetensors with a .json sidecar) found",
                         source=str(directory))
    return paths


def read_shards(directory) -> Iterator[Shard]:
    """Yield every shard of ``directory`` (those with a sidecar) in file-name order."""
    for path in shard_paths(directory):
        yield read_shard(path)

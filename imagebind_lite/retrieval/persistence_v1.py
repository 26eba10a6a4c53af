"""Reading index directories of format version 1 (ids, modalities and sources inline in meta.json).

Version 1 checksummed only the embedding file, so edited row metadata cannot be detected:
such an index loads with a warning, and saving it again writes the current, fully
checksummed format.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict

import torch
from safetensors.torch import load_file

from .columns import StringColumn
from .errors import IndexFileError
from .integrity import sha256_file
from .persistence import META_FILE, TENSOR_KEY, StoredIndex

log = logging.getLogger(__name__)


def _check_fields(meta: Dict[str, Any], path: Path) -> None:
    for key, kind in (("sha256", str), ("ids", list), ("modalities", list), ("sources", list)):
        if not isinstance(meta.get(key), kind):
            raise IndexFileError(f"index metadata field {key!r} is missing or malformed", source=str(path))
    for key in ("ids", "modalities", "sources"):
        if len(meta[key]) != meta["count"]:
            raise IndexFileError(f"index metadata lists {len(meta[key])} {key} for {meta['count']} rows",
                                 source=str(path))


def load_v1(directory: Path, meta: Dict[str, Any]) -> StoredIndex:
    _check_fields(meta, directory / META_FILE)
    path = directory / meta.get("embedding_file", "embeddings.safetensors")
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
    log.warning("%s: index format version 1 does not checksum its ids and sources; save the index again "
                "(e.g. EmbeddingIndex.load(dir).save(dir)) to upgrade it", directory)
    names = list(dict.fromkeys(meta["modalities"]))
    code_of = {name: i for i, name in enumerate(names)}
    codes = torch.tensor([code_of[m] for m in meta["modalities"]], dtype=torch.int16)
    ids, sources = StringColumn(), StringColumn()
    ids.extend(str(i) for i in meta["ids"])
    sources.extend(str(s) for s in meta["sources"])
    return StoredIndex(directory, meta, emb, codes, names, ids, sources)

"""The files of an index directory, read without torch: names, ``meta.json`` and its checks, row metadata.

Shared by the full loader (``persistence.py``) and the torch-free search of a saved ANN index
(``saved_search.py``), so both accept and refuse exactly the same directories:
``meta.json`` carries a checksum of its own content and the SHA-256 of every other file;
``rows.safetensors`` holds per row its modality code, id and source (UTF-8 blobs + offsets).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, Tuple

import numpy as np

from .columns import StringColumn
from .errors import IndexFileError
from .integrity import verify_file
from .tensor_files import map_arrays, read_header

FORMAT_NAME = "imagebind-lite-index"
FORMAT_VERSION = 2
EMB_FILE = "embeddings.safetensors"
ROWS_FILE = "rows.safetensors"
META_FILE = "meta.json"
TENSOR_KEY = "embeddings"
ROW_TENSORS = ("modality_codes", "id_offsets", "id_bytes", "source_offsets", "source_bytes")


def meta_checksum(meta: Dict[str, Any]) -> str:
    body = {k: v for k, v in meta.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def read_meta(directory: Path) -> Dict[str, Any]:
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise IndexFileError(f"not an index directory: {META_FILE} is missing", source=str(path))
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexFileError(f"index metadata is truncated or not JSON ({exc})", source=str(path)) from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise IndexFileError("not an imagebind-lite index metadata file", source=str(path))
    version = meta.get("format_version")
    if version not in (1, FORMAT_VERSION):
        raise IndexFileError(f"index format version {version!r} is not supported (this build reads versions "
                             f"1 and {FORMAT_VERSION})", source=str(path))
    if version == FORMAT_VERSION and meta.get("checksum") != meta_checksum(meta):
        raise IndexFileError("index metadata does not match its checksum: it was edited after saving",
                             source=str(path))
    for key, kind in (("dim", int), ("count", int)):
        if not isinstance(meta.get(key), kind) or meta[key] < 0:
            raise IndexFileError(f"index metadata field {key!r} is missing or malformed", source=str(path))
    if meta.get("dtype") != "float32":
        raise IndexFileError(f"unsupported index dtype {meta.get('dtype')!r}", source=str(path))
    return meta


def verify_listed(directory: Path, meta: Dict[str, Any], name: str, verify: str) -> Path:
    """Check file ``name`` against the checksum ``meta.json`` lists for it; returns its path."""
    files = meta.get("files") or {}
    if not isinstance(files.get(name), str):
        raise IndexFileError(f"index metadata lists no checksum for {name}", source=str(Path(directory) / META_FILE))
    verify_file(Path(directory) / name, files[name], f"index file {name}", verify)
    return Path(directory) / name


def embeddings_layout(directory: Path, meta: Dict[str, Any]) -> int:
    """Byte offset of the ``[count, dim]`` float32 rows in the embeddings file, checked against meta.json."""
    path = Path(directory) / EMB_FILE
    entries, start = read_header(path)
    entry = entries.get(TENSOR_KEY)
    if entry is None:
        raise IndexFileError(f"tensor {TENSOR_KEY!r} is missing", source=str(path))
    shape = tuple(entry["shape"])
    if shape != (meta["count"], meta["dim"]) or entry["dtype"] != "F32":
        raise IndexFileError(f"index embeddings have shape {shape} {entry['dtype']}, metadata says "
                             f"({meta['count']}, {meta['dim']}) float32", source=str(path))
    return start + int(entry["data_offsets"][0])


def _check_rows(path: Path, meta: Dict[str, Any], arrays: Dict[str, np.ndarray]) -> None:
    n = meta["count"]
    codes = arrays["modality_codes"]
    if codes.shape != (n,) or arrays["id_offsets"].shape != (n + 1,) or arrays["source_offsets"].shape != (n + 1,):
        raise IndexFileError(f"row metadata does not hold {n} rows", source=str(path))
    if n and (int(codes.min()) < 0 or int(codes.max()) >= len(meta["modality_names"])):
        raise IndexFileError("row metadata names a modality the index does not list", source=str(path))


def read_rows(directory: Path, meta: Dict[str, Any], verify: str) -> Tuple[np.ndarray, StringColumn, StringColumn]:
    """``(modality codes [N] int16, ids, sources)`` of a version-2 directory, verified and memory-mapped."""
    path = verify_listed(directory, meta, ROWS_FILE, verify)
    arrays = map_arrays(path, ROW_TENSORS)
    _check_rows(path, meta, arrays)
    ids = StringColumn(arrays["id_bytes"], arrays["id_offsets"])
    sources = StringColumn(arrays["source_bytes"], arrays["source_offsets"])
    for column in (ids, sources):
        problem = column.check()
        if problem:
            raise IndexFileError(problem, source=str(path))
    return arrays["modality_codes"], ids, sources

"""Saving and loading the per-modality faiss indexes of an index directory.

Each modality's index is one ``ann-<code>.faiss`` file in faiss's own serialisation, written
inside the index directory's atomic write; ``meta.json`` records its SHA-256, spec, entry count
and calibrated search defaults. Loading verifies the hash, then checks the file against the
rest of the directory (dimension, inner-product metric, one entry per row of its modality),
so an ANN file from another build or another index is refused, never searched.
A read-only load memory-maps IVF lists (faiss ``IO_FLAG_MMAP``): a query process then reads
only the lists it probes, instead of the whole file. numpy and faiss only: the torch-free
search of a saved index (``saved_search.py``) loads the ANN files with this same code.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from .ann_config import AnnConfig
from .ann_sub import SubIndex
from .errors import IndexFileError
from .integrity import sha256_file, verify_file

log = logging.getLogger(__name__)


def ann_file(code: int) -> str:
    return f"ann-{code}.faiss"


def save_ann(directory, backend, names: Sequence[str]) -> Dict[str, Any]:
    """Write every sub-index of ``backend`` (a ``FaissBackend``) into ``directory``; returns the ``ann``
    section of meta.json."""
    directory = Path(directory)
    cfg = backend.config
    modalities = {}
    for code, sub in sorted(backend.subs.items()):
        path = directory / ann_file(code)
        backend.faiss.write_index(sub.index, str(path))
        modalities[names[code]] = {"file": path.name, "sha256": sha256_file(path), **sub.describe()}
    return {"factory": cfg.factory, "target_recall": cfg.target_recall, "seed": cfg.seed,
            "flat_below": cfg.flat_below, "modalities": modalities}


def _read(faiss, path: Path, mapped: bool):
    try:
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP if mapped else 0)
    except RuntimeError as exc:
        raise IndexFileError(f"faiss cannot read this ANN index ({str(exc).strip().splitlines()[-1]})",
                             source=str(path)) from exc


def _sub_from(faiss, path: Path, entry: Dict[str, Any], dim: int, rows: int, mapped: bool) -> SubIndex:
    index = _read(faiss, path, mapped)
    if index.d != dim or index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise IndexFileError(f"ANN index has dimension {index.d} / metric {index.metric_type}, the index needs "
                             f"dimension {dim} with inner product", source=str(path))
    if index.ntotal != rows or entry.get("rows") != rows:
        raise IndexFileError(f"ANN index holds {index.ntotal} entries for {rows} rows of its modality: it "
                             "belongs to another build", source=str(path))
    return SubIndex(index, str(entry.get("spec", "?")), count=rows, trained_rows=int(entry.get("trained_rows", rows)),
                    nprobe=entry.get("nprobe"), ef_search=entry.get("ef_search"), rerank=int(entry.get("rerank", 0)),
                    recall=entry.get("recall@10"), extra={"mapped": mapped})


def load_ann(directory, meta: Dict[str, Any], codes: np.ndarray, names: Sequence[str], verify: str = "cached",
             read_only: bool = False) -> Optional[Tuple[AnnConfig, Dict[int, SubIndex]]]:
    """``(config, {code: SubIndex})`` of a saved ANN section, or None when the index has none."""
    section = meta.get("ann")
    if not section:
        return None
    from .ann_factory import require_faiss

    faiss = require_faiss()
    directory = Path(directory)
    codes = np.asarray(codes)
    counts = np.bincount(codes.astype(np.int64), minlength=len(names)).tolist() if codes.size else [0] * len(names)
    subs = {}
    for name, entry in section.get("modalities", {}).items():
        if name not in names:
            raise IndexFileError(f"ANN section names modality {name!r}, which the index does not hold",
                                 source=str(directory / "meta.json"))
        code = names.index(name)
        path = directory / str(entry.get("file", ""))
        verify_file(path, str(entry.get("sha256")), f"ANN index of {name!r}", verify)
        subs[code] = _sub_from(faiss, path, entry, int(meta["dim"]), counts[code], read_only)
    missing = [n for code, n in enumerate(names) if counts[code] and code not in subs]
    if missing:
        raise IndexFileError(f"the ANN index covers no rows of {missing}", source=str(directory / "meta.json"))
    config = AnnConfig(factory=section.get("factory"), target_recall=float(section.get("target_recall", 0.95)),
                       seed=int(section.get("seed", 0)), flat_below=int(section.get("flat_below", 2048)))
    return config, subs

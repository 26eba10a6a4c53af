"""Choosing a saved ANN index's search defaults (nprobe, efSearch) from recall measured at build.

The right ``nprobe`` depends on the data, the list count and how far queries sit from the
rows, so no constant fits every index. After training, each modality's index is searched with
a ladder of settings by a seeded sample of the index's own rows, drawn from every modality
(queries in use come from any modality, and cross-modal ones, across the modality gap, need
more probes than a row searching its own neighbourhood). The smallest setting whose
recall@10 against exact search reaches the target becomes the default stored with the index.
"""
from __future__ import annotations

import logging

import numpy as np
import torch

from .ann_factory import hnsw_of, ivf_of
from .ann_sub import SubIndex
from .exact import exact_topk

log = logging.getLogger(__name__)

NPROBE_LADDER = (1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 2048, 4096)
EF_LADDER = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
RERANK_LADDER = (20, 50, 100)
CALIBRATION_K = 10


def recall_at(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean fraction of each exact top-k row list found by the approximate one."""
    hits = total = 0
    for a, e in zip(approx, exact):
        truth = set(int(x) for x in e if x >= 0)
        hits += len(truth & set(int(x) for x in a))
        total += len(truth)
    return hits / total if total else 1.0


def sample_queries(emb: torch.Tensor, n: int, count: int, seed: int) -> np.ndarray:
    rows = np.sort(np.random.default_rng(seed + 1).choice(n, min(count, n), replace=False))
    return np.ascontiguousarray(emb[torch.from_numpy(rows)].numpy(), dtype=np.float32)


def _ladder(faiss, sub: SubIndex) -> tuple:
    ivf = ivf_of(faiss, sub.index)
    if ivf is not None:
        return "nprobe", [v for v in NPROBE_LADDER if v < ivf.nlist] + [ivf.nlist]
    if hnsw_of(faiss, sub.index) is not None:
        return "ef_search", list(EF_LADDER)
    return None, []


def _walk(faiss, sub: SubIndex, name: str, ladder, queries, truth, emb, k: int, target: float) -> tuple:
    """``(setting, recall)``: the first rung reaching ``target``, else the last one."""
    best = (ladder[0], 0.0)
    for value in ladder:
        _, rows = sub.search(faiss, queries, k, emb, {name: value})
        best = (value, recall_at(rows, truth))
        if best[1] >= target:
            break
    return best


def calibrate(faiss, sub: SubIndex, emb: torch.Tensor, codes: torch.Tensor, code: int, queries: np.ndarray,
              target: float, tune_rerank: bool = True) -> None:
    """Set ``sub``'s default search setting to the smallest one reaching ``target`` recall@10.

    A lossy code whose re-scored candidates still miss the target at the widest setting gets a
    larger ``rerank`` (more candidates re-scored exactly), when ``tune_rerank``.
    """
    name, ladder = _ladder(faiss, sub)
    if name is None or not len(queries):
        return
    n = codes.shape[0]
    k = min(CALIBRATION_K, sub.count)
    scores, truth = exact_topk(torch.from_numpy(queries), emb[:n], k, codes[:n] == code)
    truth = truth.masked_fill(torch.isinf(scores), -1).numpy()
    reranks = [sub.rerank] + [r for r in RERANK_LADDER if r > sub.rerank] if sub.rerank and tune_rerank else [sub.rerank]
    for rerank in reranks:
        sub.rerank = rerank
        value, found = _walk(faiss, sub, name, ladder, queries, truth, emb, k, target)
        if found >= target:
            break
    setattr(sub, name, value)
    sub.recall = round(found, 4)
    if found < target:
        log.warning("%s: recall@10 %.3f at %s=%d, rerank %d, below the target %.2f (the code is too lossy "
                    "for this data: use more PQ bytes or a flat code)", sub.spec, found, name, value, sub.rerank,
                    target)

"""Cross-modal retrieval metrics: R@k, median rank, MRR and mAP, several positives per query.

``R@k`` is the fraction of queries with at least one relevant item in the top k (the
CLIP/ImageBind convention; torchmetrics calls it hit rate, and it equals torchmetrics'
RetrievalRecall when each query has exactly one positive). The rank of a query is the rank of
its best-scored relevant item. Ties are broken pessimistically (an irrelevant item tied with a
relevant one ranks first) so collapsed, constant embeddings cannot score well.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from imagebind_lite.errors import InputError


def relevance_from_ids(query_ids: Sequence, gallery_ids: Sequence) -> torch.Tensor:
    """Boolean ``[Q, G]``: query i is relevant to gallery j when their ids (or labels) match."""
    codes: Dict[object, int] = {}
    q = torch.tensor([codes.setdefault(x if not torch.is_tensor(x) else x.item(), len(codes)) for x in query_ids])
    g = torch.tensor([codes.setdefault(x if not torch.is_tensor(x) else x.item(), len(codes)) for x in gallery_ids])
    return q.unsqueeze(1) == g.unsqueeze(0)


def _first_rank(scores: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
    """Rank of the best-scored relevant item per query row: O(Q x G) comparisons, no sort."""
    best_pos = scores.masked_fill(~rel, float("-inf")).max(dim=1, keepdim=True).values
    return 1 + ((scores >= best_pos) & ~rel).sum(dim=1)


def _average_precision(scores: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
    """AP per query row over the full ranking (needs a sort: the costly part of the metrics)."""
    # order by score descending, irrelevant before relevant on ties (stable sorts, keys last-first)
    by_rel = torch.argsort(rel.to(torch.int8), dim=1, stable=True)
    by_score = torch.argsort(torch.gather(scores, 1, by_rel), dim=1, descending=True, stable=True)
    hits = torch.gather(rel, 1, torch.gather(by_rel, 1, by_score)).float()
    positions = torch.arange(1, scores.shape[1] + 1, dtype=torch.float32)
    precision = torch.cumsum(hits, dim=1) / positions
    return (precision * hits).sum(dim=1) / hits.sum(dim=1)


def retrieval_metrics(query_emb: torch.Tensor, gallery_emb: torch.Tensor, relevance,
                      ks: Sequence[int] = (1, 5, 10), chunk: int = 1024,
                      with_map: bool = True) -> Dict[str, float]:
    """R@k for ``ks``, median rank, MRR and mAP of queries against a gallery by cosine similarity.

    ``relevance``: boolean ``[Q, G]`` (several positives allowed). Queries without any relevant
    item are left out and counted in ``n_skipped``. ``with_map=False`` skips mAP, the only
    metric that needs a full sort (about 10x the cost of the others).
    """
    q = F.normalize(torch.as_tensor(query_emb).float(), dim=-1)
    g = F.normalize(torch.as_tensor(gallery_emb).float(), dim=-1)
    rel = torch.as_tensor(relevance).bool()
    if rel.shape != (q.shape[0], g.shape[0]):
        raise InputError(f"relevance must be [{q.shape[0]}, {g.shape[0]}], got {list(rel.shape)}")
    keep = rel.any(dim=1)
    q, rel = q[keep], rel[keep]
    if q.shape[0] == 0:
        raise InputError("no query has a relevant gallery item")
    ranks, aps = [], []
    for start in range(0, q.shape[0], chunk):  # bounded memory: [chunk, G] scores at a time
        scores, r = q[start:start + chunk] @ g.T, rel[start:start + chunk]
        ranks.append(_first_rank(scores, r))
        if with_map:
            aps.append(_average_precision(scores, r))
    rank = torch.cat(ranks).float()
    out = {f"R@{k}": (rank <= k).float().mean().item() for k in ks}
    out.update({"median_rank": rank.quantile(0.5).item(), "MRR": (1.0 / rank).mean().item()})
    if with_map:
        out["mAP"] = torch.cat(aps).mean().item()
    out.update({"n_queries": int(q.shape[0]), "n_skipped": int((~keep).sum())})
    return out


def bidirectional_retrieval(a: torch.Tensor, b: torch.Tensor, a_ids: Optional[Sequence] = None,
                            b_ids: Optional[Sequence] = None, names: Tuple[str, str] = ("a", "b"),
                            ks: Sequence[int] = (1, 5, 10)) -> Dict[str, Dict[str, float]]:
    """Retrieval ``a -> b`` and ``b -> a``.

    Without ids, row i of ``a`` matches row i of ``b`` (same instance); with ids (or class
    labels) every gallery row sharing the query's id is a positive.
    """
    if (a_ids is None) != (b_ids is None):
        raise InputError("give both a_ids and b_ids, or neither")
    if a_ids is None:
        if a.shape[0] != b.shape[0]:
            raise InputError(f"paired retrieval needs as many rows in a ({a.shape[0]}) as in b ({b.shape[0]})")
        rel = torch.eye(a.shape[0], dtype=torch.bool)
    else:
        rel = relevance_from_ids(a_ids, b_ids)
    na, nb = names
    return {f"{na}->{nb}": retrieval_metrics(a, b, rel, ks), f"{nb}->{na}": retrieval_metrics(b, a, rel.T, ks)}

"""Cross-modal retrieval metrics: R@k, median rank, MRR and mAP, several positives per query.

``R@k`` is the fraction of queries with at least one relevant item in the top k (the
CLIP/ImageBind convention; torchmetrics calls it hit rate, and it equals torchmetrics'
RetrievalRecall when each query has exactly one positive). The rank of a query is the rank of
its best-scored relevant item.

Tie rule, the one used everywhere in the library (training's validation R@1 included): ties
count against the query. The rank is 1 + the number of irrelevant items scoring at least as
high as the best relevant one. Two reasons: collapsed, constant embeddings then score 0
instead of chance or better, and the result does not depend on the order of the gallery
(breaking ties by index, as ``argmax`` does, would reward whichever item happens to come first).
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from imagebind_lite.errors import InputError

from .results import RetrievalResult


def relevance_from_ids(query_ids: Sequence, gallery_ids: Sequence) -> torch.Tensor:
    """Boolean ``[Q, G]``: query i is relevant to gallery j when their ids (or labels) match."""
    q, g = _shared_codes(query_ids, gallery_ids)
    return q.reshape(-1, 1) == g.reshape(1, -1)


def _shared_codes(query_keys, gallery_keys) -> Tuple[torch.Tensor, torch.Tensor]:
    """Both key lists as integer tensors, equal keys getting equal codes."""
    if torch.is_tensor(query_keys) and torch.is_tensor(gallery_keys):
        return query_keys, gallery_keys  # labels already: no Python loop over them
    codes: Dict[object, int] = {}
    q, g = ([codes.setdefault(x.item() if torch.is_tensor(x) else x, len(codes)) for x in keys]
            for keys in (query_keys, gallery_keys))
    return torch.tensor(q, dtype=torch.long), torch.tensor(g, dtype=torch.long)


def _first_rank(scores: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
    """Rank of the best-scored relevant item per query row, ties counted against the query:
    O(Q x G) comparisons, no sort."""
    best_pos = scores.masked_fill(~rel, float("-inf")).max(dim=1, keepdim=True).values
    return 1 + ((scores >= best_pos) & ~rel).sum(dim=1)


RelevanceRows = Callable[[int, int], torch.Tensor]  # (start, end) -> boolean [end - start, G]


def _ranks(q: torch.Tensor, g: torch.Tensor, relevance_rows: RelevanceRows, chunk: int,
           with_map: bool) -> Tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor]:
    """``(ranks, average precisions or None, kept)`` of the queries that have a relevant item.

    Scores and relevance come ``chunk`` query rows at a time: memory stays bounded by
    ``[chunk, G]`` however large the query set.
    """
    ranks, aps, kept = [], [], []
    for start in range(0, max(q.shape[0], 1), chunk):
        end = min(start + chunk, q.shape[0])
        rel = relevance_rows(start, end)
        keep = rel.any(dim=1)
        scores, rel = q[start:end][keep] @ g.T, rel[keep]
        kept.append(keep)
        ranks.append(_first_rank(scores, rel))
        if with_map:
            aps.append(_average_precision(scores, rel))
    rank = torch.cat(ranks)
    if rank.numel() == 0:
        raise InputError("no query has a relevant gallery item")
    return rank, (torch.cat(aps) if with_map else None), torch.cat(kept)


def recall_at_k(query_emb: torch.Tensor, gallery_emb: torch.Tensor, k: int = 1, query_keys=None,
                gallery_keys=None, chunk: int = 1024) -> float:
    """R@k by cosine similarity, without building a dense relevance matrix.

    Without keys, gallery row i is query i's only positive (paired rows, as in a held-out set
    seen through two modalities); with keys (ids or integer class labels, tensors or lists),
    every gallery row sharing the query's key is. Runs on the embeddings' device.
    """
    q = F.normalize(torch.as_tensor(query_emb).float(), dim=-1)
    g = F.normalize(torch.as_tensor(gallery_emb).float(), dim=-1)
    rows = _keyed_rows(q, g, query_keys, gallery_keys)
    rank, _, _ = _ranks(q, g, rows, chunk, with_map=False)
    return (rank <= k).float().mean().item()


def _keyed_rows(q: torch.Tensor, g: torch.Tensor, query_keys, gallery_keys) -> RelevanceRows:
    if (query_keys is None) != (gallery_keys is None):
        raise InputError("give both query_keys and gallery_keys, or neither")
    if query_keys is None:
        if q.shape[0] != g.shape[0]:
            raise InputError(f"paired retrieval needs as many queries ({q.shape[0]}) as gallery rows "
                             f"({g.shape[0]})")
        qk = gk = torch.arange(q.shape[0], device=q.device)
    else:
        qk, gk = (keys.reshape(-1).to(q.device) for keys in _shared_codes(query_keys, gallery_keys))
    return lambda start, end: qk[start:end, None] == gk[None, :]


def _average_precision(scores: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
    """AP per query row over the full ranking (needs a sort: the costly part of the metrics)."""
    # order by score descending, irrelevant before relevant on ties (stable sorts, keys last-first)
    by_rel = torch.argsort(rel.to(torch.int8), dim=1, stable=True)
    by_score = torch.argsort(torch.gather(scores, 1, by_rel), dim=1, descending=True, stable=True)
    hits = torch.gather(rel, 1, torch.gather(by_rel, 1, by_score)).float()
    positions = torch.arange(1, scores.shape[1] + 1, dtype=torch.float32, device=scores.device)
    precision = torch.cumsum(hits, dim=1) / positions
    return (precision * hits).sum(dim=1) / hits.sum(dim=1)


def retrieval_metrics(query_emb: torch.Tensor, gallery_emb: torch.Tensor, relevance,
                      ks: Sequence[int] = (1, 5, 10), chunk: int = 1024,
                      with_map: bool = True) -> RetrievalResult:
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
    rel = rel.to(q.device)
    rank, aps, keep = _ranks(q, g, lambda start, end: rel[start:end], chunk, with_map)
    rank = rank.float()
    return RetrievalResult(recall={k: (rank <= k).float().mean().item() for k in ks},
                           median_rank=rank.quantile(0.5).item(), mrr=(1.0 / rank).mean().item(),
                           mean_average_precision=aps.mean().item() if with_map else None,
                           n_queries=int(keep.sum()), n_skipped=int((~keep).sum()))


def bidirectional_retrieval(a: torch.Tensor, b: torch.Tensor, a_ids: Optional[Sequence] = None,
                            b_ids: Optional[Sequence] = None, names: Tuple[str, str] = ("a", "b"),
                            ks: Sequence[int] = (1, 5, 10)) -> Dict[str, RetrievalResult]:
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

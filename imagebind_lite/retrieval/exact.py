"""Exact maximum-inner-product search: chunked matrix product + ``torch.topk`` with merging.

Memory stays bounded by ``query_chunk x row_chunk`` scores whatever the collection size
(about 4 MB of scratch scores per block, whatever N), and the per-chunk top-k are merged into a
running top-k so no full ``[Q, N]`` score matrix ever exists. Rows can be restricted by an
optional boolean mask (the modality filter) without copying the collection.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

# The [queries, rows] score block is kept near 2^20 floats (4 MB): small enough to stay in
# cache between the matmul that writes it and the topk that reads it (measured at 1M x 512:
# 4096-row blocks for 256 queries beat 65536-row ones), large enough that per-chunk Python
# overhead is negligible; a single query scans 256k rows per step.
SCORE_BLOCK = 1 << 20
MIN_ROW_CHUNK, MAX_ROW_CHUNK = 4096, 1 << 18
DEFAULT_QUERY_CHUNK = 256


# Below this many queries the product is a matrix-vector one, memory-bound: numpy's bundled
# OpenBLAS sgemv streamed the rows ~1.5x faster than torch's (MKL) mv here (1M x 512: 168 vs
# 256 ms), so small batches go through numpy on zero-copy views of the same memory.
NUMPY_GEMV_BELOW = 4


def _scores_into(queries: torch.Tensor, rows: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    if queries.shape[0] < NUMPY_GEMV_BELOW and rows.device.type == "cpu" and rows.dtype == torch.float32:
        np_out = out.numpy()
        np_out[...] = queries.numpy() @ rows.numpy().T
        return out
    return torch.mm(queries, rows.T, out=out)


def _merge(best_s: torch.Tensor, best_i: torch.Tensor, s: torch.Tensor, i: torch.Tensor, k: int):
    cat_s = torch.cat([best_s, s], dim=1)
    cat_i = torch.cat([best_i, i], dim=1)
    top_s, pos = torch.topk(cat_s, min(k, cat_s.shape[1]), dim=1)
    return top_s, torch.gather(cat_i, 1, pos)


def _search_block(queries, rows, k, mask, row_chunk):
    q = queries.shape[0]
    best_s = torch.empty(q, 0, dtype=queries.dtype)
    best_i = torch.empty(q, 0, dtype=torch.long)
    # one reused score buffer: a fresh [Q, chunk] allocation per chunk is an mmap + page faults
    buffer = torch.empty(q, min(row_chunk, rows.shape[0]), dtype=queries.dtype)
    for start in range(0, rows.shape[0], row_chunk):
        stop = min(start + row_chunk, rows.shape[0])
        scores = buffer if stop - start == buffer.shape[1] else torch.empty(q, stop - start, dtype=queries.dtype)
        _scores_into(queries, rows[start:stop], scores)
        if mask is not None:
            # filtered-out rows can never win: -inf keeps shapes fixed and avoids a gather
            scores.masked_fill_(~mask[start:stop].unsqueeze(0), float("-inf"))
        s, i = torch.topk(scores, min(k, stop - start), dim=1)
        best_s, best_i = _merge(best_s, best_i, s, i + start, k)
    return best_s, best_i


@torch.no_grad()
def exact_topk(
    queries: torch.Tensor,
    rows: torch.Tensor,
    k: int,
    mask: Optional[torch.Tensor] = None,
    row_chunk: Optional[int] = None,
    query_chunk: int = DEFAULT_QUERY_CHUNK,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` rows by inner product for each query.

    Returns ``(scores [Q, k'], row_indices [Q, k'])`` sorted by decreasing score, with
    ``k' = min(k, N)``. Entries whose score is ``-inf`` are masked rows (fewer than ``k``
    rows passed the mask) and must be dropped by the caller.
    """
    n = rows.shape[0]
    k = min(k, n)
    if k <= 0 or queries.shape[0] == 0:
        return torch.empty(queries.shape[0], 0), torch.empty(queries.shape[0], 0, dtype=torch.long)
    if row_chunk is None:
        rows_per_query = SCORE_BLOCK // min(query_chunk, queries.shape[0])
        row_chunk = max(MIN_ROW_CHUNK, min(MAX_ROW_CHUNK, rows_per_query))
    out_s, out_i = [], []
    for start in range(0, queries.shape[0], query_chunk):
        s, i = _search_block(queries[start:start + query_chunk], rows, k, mask, row_chunk)
        out_s.append(s)
        out_i.append(i)
    return torch.cat(out_s), torch.cat(out_i)

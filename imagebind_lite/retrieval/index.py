"""The embedding index: embeddings of any modality with ids, modality and source path.

Exact search is a chunked matrix product + ``torch.topk`` (``exact.py``); approximate search
goes through faiss HNSW/IVF (``ann.py``), chosen by collection size (``backend="auto"``) or by
flag. Adds are incremental; searches may run from several threads at once; ``save``/``load``
persist to a verified directory (``persistence.py``). Embeddings are L2-normalised on the way
in, so inner product is cosine similarity.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import torch

from imagebind_lite.errors import InputError

from . import persistence
from .ann import AnnConfig, FaissBackend
from .exact import exact_topk
from .storage import RowStore

ModalityFilter = Union[None, str, Sequence[str]]
BACKENDS = ("auto", "exact", "faiss")


@dataclass(frozen=True)
class SearchResult:
    id: str          # the row's id, unique in the index
    modality: str    # modality of the indexed item
    source: str      # file it was embedded from ("" when unknown)
    score: float     # cosine similarity to the query
    rank: int        # 1-based position in the result list


def _as_matrix(x, dim: int, what: str, modality: Optional[str] = None) -> torch.Tensor:
    x = torch.as_tensor(x).detach().to("cpu", torch.float32)
    if x.dim() == 1:
        x = x.unsqueeze(0)
    if x.dim() != 2 or x.shape[1] != dim:
        raise InputError(f"{what} must have shape [N, {dim}], got {list(x.shape)}", modality=modality)
    if not torch.isfinite(x).all():
        raise InputError(f"{what} contain NaN or infinite values", modality=modality)
    return x


def _row_norms(x: torch.Tensor, what: str, ids: Optional[Sequence[str]] = None, modality=None) -> torch.Tensor:
    """``[N, 1]`` L2 norms; a zero row cannot be normalised and is reported by its id."""
    norms = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    bad = torch.nonzero(norms.flatten() == 0).flatten()
    if len(bad):
        first = int(bad[0])
        raise InputError(f"{what} row {first} has zero norm and cannot be normalised", modality=modality,
                         source=ids[first] if ids else None)
    return norms


class EmbeddingIndex:
    """Cosine-similarity index over L2-normalised float32 embeddings ``[N, D]``."""

    def __init__(self, dim: int, ann: Optional[AnnConfig] = None, exact_below: int = 200_000):
        self._store = RowStore(dim)
        self.ann_config = ann or AnnConfig()
        self.exact_below = exact_below  # auto backend: exact search below this many rows
        self._write_lock = threading.Lock()  # serialises adds and the lazy faiss construction
        self._faiss: Optional[FaissBackend] = None

    # ----- contents ---------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self._store.dim

    def __len__(self) -> int:
        return len(self._store)

    @property
    def ids(self) -> List[str]:
        return self._store.ids[: len(self)]

    @property
    def sources(self) -> List[str]:
        return self._store.sources[: len(self)]

    @property
    def modalities(self) -> List[str]:
        """Modality of every row, in row order."""
        _, codes, _ = self._store.snapshot()
        names = self._store.modality_names
        return [names[c] for c in codes.tolist()]

    @property
    def embeddings(self) -> torch.Tensor:
        return self._store.snapshot()[0]

    def add(self, embeddings, ids: Sequence[str], modality: Union[str, Sequence[str]],
            sources: Optional[Sequence[str]] = None) -> None:
        """Append rows; ``modality`` is one name for all rows or one per row."""
        ids = list(ids)
        label = modality if isinstance(modality, str) else None
        emb = _as_matrix(embeddings, self.dim, "embeddings", label)
        n = emb.shape[0]
        mods = [modality] * n if isinstance(modality, str) else list(modality)
        srcs = [""] * n if sources is None else [str(s) for s in sources]
        for name, values in (("ids", ids), ("modality", mods), ("sources", srcs)):
            if len(values) != n:
                raise InputError(f"{n} embeddings but {len(values)} {name}", modality=label)
        norms = _row_norms(emb, "embeddings", ids, label)
        with self._write_lock:
            self._store.check_new_ids(ids, label or "")
            # normalised inside the store's buffer: no second full-size copy for a 1M-row add
            self._store.append(emb, ids, mods, srcs, divide_by=norms)

    # ----- search -----------------------------------------------------------------------
    def _wanted_codes(self, modality: ModalityFilter) -> Optional[List[int]]:
        if modality is None:
            return None
        names = [modality] if isinstance(modality, str) else list(modality)
        return [self._store.code(name) for name in names]  # -1 for absent: matches nothing

    def _pick_backend(self, backend: str, n: int) -> str:
        if backend not in BACKENDS:
            raise InputError(f"unknown search backend {backend!r}; choose one of {BACKENDS}")
        if backend == "auto":
            return "exact" if n < self.exact_below else "faiss"
        return backend

    def _faiss_backend(self) -> FaissBackend:
        with self._write_lock:  # one lazy construction even when many threads search at once
            if self._faiss is None:
                self._faiss = FaissBackend(self.dim, self.ann_config)
            return self._faiss

    def build_ann(self) -> None:
        """Build the faiss sub-indexes now instead of lazily at the first approximate search."""
        emb, codes, n = self._store.snapshot()
        self._faiss_backend().build(emb, codes, n)

    def search_rows(self, queries, k: int = 10, modality: ModalityFilter = None,
                    backend: str = "auto") -> Tuple[torch.Tensor, torch.Tensor]:
        """Top-k as tensors ``(scores [Q, k], rows [Q, k])``; padding is ``-inf`` / ``-1``."""
        if k <= 0:
            raise InputError(f"k must be positive, got {k}")
        q = _as_matrix(queries, self.dim, "queries")
        q = q / _row_norms(q, "queries")
        emb, codes, n = self._store.snapshot()
        wanted = self._wanted_codes(modality)
        if self._pick_backend(backend, n) == "faiss":
            return self._faiss_backend().search(emb, codes, n, q, k, wanted)
        mask = None if wanted is None else torch.isin(codes, torch.tensor(wanted, dtype=codes.dtype))
        scores, rows = exact_topk(q, emb, k, mask)
        rows = rows.masked_fill(torch.isinf(scores), -1)
        return scores, rows

    def search(self, queries, k: int = 10, modality: ModalityFilter = None,
               backend: str = "auto") -> List[List[SearchResult]]:
        """Ranked results for each query row (a 1-D query counts as one row)."""
        scores, rows = self.search_rows(queries, k, modality, backend)
        store = self._store
        out: List[List[SearchResult]] = []
        for s_row, r_row in zip(scores.tolist(), rows.tolist()):
            hits = [(s, r) for s, r in zip(s_row, r_row) if r >= 0]
            out.append([SearchResult(store.ids[r], store.modality_at(r), store.sources[r], s, rank + 1)
                        for rank, (s, r) in enumerate(hits)])
        return out

    # ----- persistence ------------------------------------------------------------------
    def save(self, directory) -> Path:
        """Write ``embeddings.safetensors`` + ``meta.json`` atomically into ``directory``."""
        emb, _, n = self._store.snapshot()
        return persistence.save_rows(directory, emb, self.ids[:n], self.modalities[:n], self.sources[:n])

    @classmethod
    def load(cls, directory, dim: Optional[int] = None, ann: Optional[AnnConfig] = None,
             exact_below: int = 200_000) -> "EmbeddingIndex":
        """Load and verify a saved index; ``dim`` (optional) must match the stored one."""
        emb, meta = persistence.load_rows(directory, expected_dim=dim)
        index = cls(meta["dim"], ann=ann, exact_below=exact_below)
        if meta["count"]:
            index._add_verified(emb, meta["ids"], meta["modalities"], meta["sources"])
        return index

    def _add_verified(self, emb: torch.Tensor, ids, modalities, sources) -> None:
        # stored rows are already normalised: skip re-normalising (bit-identical round trip)
        with self._write_lock:
            self._store.check_new_ids(ids, "")
            self._store.append(emb, list(ids), list(modalities), list(sources))

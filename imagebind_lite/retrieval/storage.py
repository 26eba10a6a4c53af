"""Row storage of the embedding index: a growable float32 buffer plus per-row metadata.

Appends amortise to O(1) per row (capacity doubling, as a Python list does), so building an
index from many small shards never re-copies the whole collection on every add. Readers take
a snapshot ``(embeddings[:n], codes[:n])``: rows appended later land beyond ``n`` or in a new
buffer, so a concurrent search never sees a half-written row. A loaded index starts from the
saved file's memory map and its stored string columns; the id -> row map (only adds and id
lookups need it) is built on first use, not at load.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch

from imagebind_lite.errors import InputError

from .columns import StringColumn


class RowStore:
    """Embeddings ``[N, D]`` with an id, a modality and a source path per row."""

    def __init__(self, dim: int):
        if dim <= 0:
            raise InputError(f"index dimension must be positive, got {dim}")
        self.dim = dim
        self._emb = torch.empty(0, dim, dtype=torch.float32)
        self._codes = torch.empty(0, dtype=torch.int16)  # modality code per row; int16 = 2 B/row
        self._n = 0
        self.ids = StringColumn()
        self.sources = StringColumn()
        self.modality_names: List[str] = []
        self._code_of: Dict[str, int] = {}
        self._row_of_map: Optional[Dict[str, int]] = {}

    @classmethod
    def from_stored(cls, stored) -> "RowStore":
        """Rows of a loaded ``persistence.StoredIndex`` (memory-mapped, not copied)."""
        store = cls(stored.meta["dim"])
        store._emb, store._codes, store._n = stored.embeddings, stored.codes, stored.embeddings.shape[0]
        store.ids, store.sources = stored.ids, stored.sources
        store.modality_names = list(stored.modality_names)
        store._code_of = {name: i for i, name in enumerate(store.modality_names)}
        store._row_of_map = None
        return store

    def __len__(self) -> int:
        return self._n

    @property
    def _row_of(self) -> Dict[str, int]:
        if self._row_of_map is None:
            self._row_of_map = {id_: row for row, id_ in enumerate(self.ids[: self._n])}
        return self._row_of_map

    def row_of(self, id_: str) -> int:
        return self._row_of[id_]

    def has_modality(self, modality: str) -> bool:
        return modality in self._code_of

    def code(self, modality: str, create: bool = False) -> int:
        if modality not in self._code_of:
            if not create:
                return -1
            self._code_of[modality] = len(self.modality_names)
            self.modality_names.append(modality)
        return self._code_of[modality]

    def modality_at(self, row: int) -> str:
        return self.modality_names[int(self._codes[row])]

    def check_new_ids(self, ids: Sequence[str], modality: str) -> None:
        seen = set()
        existing = self._row_of
        for id_ in ids:
            if not isinstance(id_, str):
                raise InputError(f"ids must be strings, got {type(id_).__name__}", modality=modality)
            if id_ in existing or id_ in seen:
                raise InputError(f"duplicate id {id_!r}: ids must be unique in an index", modality=modality,
                                 source=id_)
            seen.add(id_)

    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        if need <= self._emb.shape[0]:
            return
        cap = max(need, 2 * self._emb.shape[0], 1024)
        # a fresh buffer (not in-place resize) so snapshots held by readers stay valid
        emb = torch.empty(cap, self.dim, dtype=torch.float32)
        emb[: self._n] = self._emb[: self._n]
        codes = torch.empty(cap, dtype=torch.int16)
        codes[: self._n] = self._codes[: self._n]
        self._emb, self._codes = emb, codes

    def append(self, emb: torch.Tensor, ids: Sequence[str], modalities: Sequence[str],
               sources: Sequence[str], divide_by: Optional[torch.Tensor] = None) -> None:
        """Append validated rows, optionally divided by ``[N, 1]`` norms (caller holds the write lock)."""
        m = emb.shape[0]
        self._reserve(m)
        codes = torch.tensor([self.code(x, create=True) for x in modalities], dtype=torch.int16)
        self._emb[self._n: self._n + m] = emb
        if divide_by is not None:  # in place: rows beyond _n are invisible to readers until published
            self._emb[self._n: self._n + m].div_(divide_by)
        self._codes[self._n: self._n + m] = codes
        for offset, id_ in enumerate(ids):
            self._row_of[id_] = self._n + offset
        self.ids.extend(ids)
        self.sources.extend(sources)
        self._n += m  # published last: readers snapshotting before this never see the new rows

    def snapshot(self) -> Tuple[torch.Tensor, torch.Tensor, int]:
        n = self._n
        return self._emb[:n], self._codes[:n], n

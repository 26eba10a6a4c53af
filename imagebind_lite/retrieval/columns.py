"""A column of strings (row ids, source paths) stored as one UTF-8 blob plus offsets.

A saved index of a million rows would otherwise parse a million-entry JSON list for its ids
and another for its sources before answering a query that shows ten of them. Stored as bytes
and offsets (memory-mapped from the index file), a row's string is decoded only when a result
needs it; rows added in memory are kept as plain Python strings after the stored ones.
"""
from __future__ import annotations

from typing import Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np


class StringColumn:
    """List-like strings: a stored (blob, offsets) part followed by in-memory appends."""

    def __init__(self, blob=None, offsets=None):
        # numpy arrays (a torch-free reader of a saved index) or CPU tensors: both view the same memory
        self._blob = np.asarray(blob) if blob is not None else np.empty(0, np.uint8)
        self._offsets = np.asarray(offsets) if offsets is not None else np.zeros(1, np.int64)
        self._stored = len(self._offsets) - 1
        self._extra: List[str] = []

    def __len__(self) -> int:
        return self._stored + len(self._extra)

    def _one(self, i: int) -> str:
        if i < self._stored:
            return bytes(self._blob[self._offsets[i]:self._offsets[i + 1]]).decode("utf-8")
        return self._extra[i - self._stored]

    def __getitem__(self, key: Union[int, slice]):
        if isinstance(key, slice):
            return [self._one(i) for i in range(*key.indices(len(self)))]
        i = int(key)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"row {key} out of range for {len(self)} rows")
        return self._one(i)

    def __iter__(self) -> Iterator[str]:
        return (self._one(i) for i in range(len(self)))

    def extend(self, values: Iterable[str]) -> None:
        self._extra.extend(values)

    def check(self) -> Optional[str]:
        """A description of what is wrong with the stored offsets, or None."""
        off = self._offsets
        if off.ndim != 1 or len(off) < 1 or off[0] != 0 or off[-1] != len(self._blob):
            return "string offsets do not span the string bytes"
        if len(off) > 1 and bool(np.any(np.diff(off) < 0)):
            return "string offsets are not increasing"
        return None


def encode_strings(values: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
    """``(utf-8 blob, int64 offsets [N + 1])`` for ``values``."""
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    if encoded:
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets

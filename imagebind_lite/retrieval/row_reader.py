"""Rows of the embeddings file read with positioned reads, for re-scoring ANN candidates.

Re-scoring a lossy (PQ) index's candidates needs a few hundred scattered rows per query.
Through a memory map each touched row faults in a whole large page-cache folio (with the
kernel's read-ahead, megabytes), and those pages stay mapped and resident in the process: a
long-running query process ends up holding most of the embeddings file, which is what a
compressed index exists to avoid. ``os.pread`` copies just the requested bytes from the page
cache; the kernel may cache the file, the process does not hold it. Rows are sorted and
adjacent ones read in one call, so a query costs one system call per run of rows.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .errors import IndexFileError


class RowReader:
    """``take(rows) -> float32 [len(rows), dim]`` from ``path``, whose rows start at byte ``offset``.

    ``check`` (optional) runs once before the first read: the file's verification, paid only by
    a search that actually reads rows.
    """

    def __init__(self, path, count: int, dim: int, offset: int, check: Optional[Callable[[], int]] = None):
        self.path, self.count, self.dim = Path(path), int(count), int(dim)
        self._offset = offset
        self._check = check
        self._fd: Optional[int] = None
        self._lock = threading.Lock()

    @property
    def shape(self):
        return (self.count, self.dim)

    def _open(self) -> int:
        with self._lock:
            if self._fd is None:
                if self._check is not None:
                    self._offset = self._check()  # the layout, checked against the file's header
                    self._check = None
                size = os.stat(self.path).st_size
                if self._offset + self.count * self.dim * 4 > size:
                    raise IndexFileError("embeddings file is shorter than its header says", source=str(self.path))
                self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            return self._fd

    def take(self, rows) -> np.ndarray:
        """The rows (any order, repeats allowed) as a fresh ``[len(rows), dim]`` float32 array."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        if not len(rows):
            return out
        if rows.min() < 0 or rows.max() >= self.count:
            raise IndexError(f"row out of range for {self.count} rows")
        fd = self._open()
        unique, inverse = np.unique(rows, return_inverse=True)
        got = np.empty((len(unique), self.dim), dtype=np.float32)
        row_bytes = self.dim * 4
        # runs of consecutive rows: one read each
        breaks = np.flatnonzero(np.diff(unique) != 1) + 1
        for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, len(unique)]):
            want = int(hi - lo) * row_bytes
            data = os.pread(fd, want, self._offset + int(unique[lo]) * row_bytes)
            if len(data) != want:
                raise IndexFileError("embeddings file is shorter than its header says", source=str(self.path))
            got[lo:hi] = np.frombuffer(data, dtype=np.float32).reshape(int(hi - lo), self.dim)
        out[:] = got[inverse.reshape(-1)]
        return out

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the OS closes the descriptor anyway
            pass

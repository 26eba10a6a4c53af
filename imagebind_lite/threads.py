"""Preprocessing runs torch on one intra-op thread.

Decoding and feature extraction (a Kaldi fbank of one clip, the resize of one image) are many
small torch operations. With two or more intra-op threads each of them wakes the OpenMP pool,
and when another process keeps a core busy those wake-ups wait for the scheduler: measured on a
2-core machine with other jobs running, one recording's fbank took 10-20x longer on two threads
than on one, while on an idle machine the two cost the same. Training and inference on whole
batches keep every thread.

OpenMP keeps the thread count per calling thread, so the count is lowered and restored in the
thread that preprocesses (nested entries leave it to the outermost one); a server embedding on
several threads at once is not slowed down by another thread's preprocessing.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import torch

_state = threading.local()


@contextmanager
def one_intra_op_thread() -> Iterator[None]:
    depth = getattr(_state, "depth", 0)
    saved = torch.get_num_threads() if depth == 0 else 1
    if depth == 0 and saved != 1:
        torch.set_num_threads(1)
    _state.depth = depth + 1
    try:
        yield
    finally:
        _state.depth = depth
        if depth == 0 and saved != 1:
            torch.set_num_threads(saved)

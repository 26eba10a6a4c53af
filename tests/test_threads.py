"""Preprocessing runs on one torch thread and gives the thread count back afterwards."""
from __future__ import annotations

import threading

import numpy as np
import torch

from imagebind_lite.registry import get_modality
from imagebind_lite.threads import one_intra_op_thread


def test_transform_runs_on_one_thread_and_restores_the_count(monkeypatch):
    spec = get_modality("audio")
    data = spec.presets()["tiny"].data
    seen = []
    original = type(spec).to_tensor
    monkeypatch.setattr(type(spec), "to_tensor",
                        lambda self, raw, d, s: seen.append(torch.get_num_threads()) or original(self, raw, d, s))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        spec.transform(data)(spec.example_input(data, np.random.default_rng(0)))
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_nested_entries_restore_the_count_once_and_other_threads_keep_theirs():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    inside, release = threading.Event(), threading.Event()
    other = []

    def preprocess():
        with one_intra_op_thread():
            with one_intra_op_thread():
                pass
            other.append(torch.get_num_threads())
            inside.set()
            release.wait(5)

    worker = threading.Thread(target=preprocess)
    try:
        worker.start()
        inside.wait(5)
        assert other == [1]                    # the preprocessing thread, still inside after a nested exit
        assert torch.get_num_threads() == 2    # this thread runs its batches on every thread meanwhile
        release.set()
        worker.join()
        with one_intra_op_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)

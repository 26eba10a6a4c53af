"""Caches of many pair data sets filled in one pass: the same results as one pass per data set,
each set's own bad-sample policy, one computation per cache key, and lazily built transform
state built once before the workers fork."""
from __future__ import annotations

import multiprocessing
import os

import pytest
import torch
from torch.utils.data import ConcatDataset, Dataset
from training_helpers import module, world_data, write_thermal_manifest

from imagebind_lite.errors import InputError
from imagebind_lite.registry import get_modality
from imagebind_lite.training import ManifestPairDataset, PivotCache
from imagebind_lite.training.cache_many import cache_inputs_many
from imagebind_lite.training.cache_pass import load_all
from imagebind_lite.training.datasets import BadSample, cache_inputs
from imagebind_lite.training.pivot_cache import compute_pivot_embeddings

SIZES = (5, 13, 30)  # different lengths: batches of 8 mix data sets and end mid-set


@pytest.fixture(scope="module")
def model():
    return module()


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    """Three manifests; the second has an unreadable image and an unreadable thermal file."""
    roots = [tmp_path_factory.mktemp(f"set{i}") for i in range(len(SIZES))]
    paths = [write_thermal_manifest(root, n) for root, n in zip(roots, SIZES)]
    (roots[1] / "vision" / "004.png").write_bytes(b"not an image")
    (roots[1] / "thermal" / "009.png").write_bytes(b"\x89PNG garbage")
    return paths


def _sets(model, manifests, policies=("skip", "skip", "skip")):
    transforms = {m: get_modality(m).transform(c) for m, c in model.data_configs().items()}
    return [ManifestPairDataset(path, "thermal", transforms, on_bad_sample=policy)
            for path, policy in zip(manifests, policies)]


def test_one_pivot_pass_gives_each_set_what_its_own_pass_gives(model, manifests, tmp_path):
    sets = _sets(model, manifests)
    alone = [compute_pivot_embeddings(model.pivot, dataset, batch_size=8) for dataset in sets]
    cache = PivotCache(str(tmp_path), batch_size=8, num_workers=2)
    together = cache.get_many(model.pivot, [(f"train-{i}", d) for i, d in enumerate(sets)],
                              model.data_configs()["vision"])
    assert (cache.hits, cache.misses) == (0, 3) and len(list(tmp_path.glob("pivot-train-*"))) == 3
    for one, many, n in zip(alone, together, SIZES):
        assert many.ids == one.ids and many.skipped == one.skipped
        torch.testing.assert_close(many.embeddings, one.embeddings, rtol=0, atol=1e-6)
    assert len(together[1]) == SIZES[1] - 1 and "004.png" in together[1].skipped[0][0]
    assert [len(e) for e in (together[0], together[2])] == [SIZES[0], SIZES[2]]
    reread = PivotCache(str(tmp_path)).get_many(model.pivot, [(f"train-{i}", d) for i, d in enumerate(sets)],
                                                model.data_configs()["vision"], compute=False)
    for one, again in zip(together, reread):  # saved per data set, under its own name
        assert again.ids == one.ids and again.skipped == one.skipped and torch.equal(again.embeddings, one.embeddings)


def test_a_failing_set_names_its_file_and_the_sets_before_it_are_kept(model, manifests, tmp_path):
    sets = _sets(model, manifests, policies=("skip", "fail", "skip"))
    cache, mode = PivotCache(str(tmp_path), batch_size=8), model.pivot.training
    with pytest.raises(InputError, match="004.png"):
        cache.get_many(model.pivot, [(f"train-{i}", d) for i, d in enumerate(sets)], model.data_configs()["vision"])
    assert [p.name.split("-")[2] for p in tmp_path.glob("pivot-train-*")] == ["0"]
    assert model.pivot.training == mode
    with pytest.raises(InputError, match="009.png"):
        cache_inputs_many(sets, num_workers=0, batch_size=8)
    assert sets[0].input_cache is not None and sets[1].input_cache is None and sets[2].input_cache is None


def test_sets_with_one_key_are_embedded_once(model, manifests, tmp_path):
    first, second, other = _sets(model, [manifests[2], manifests[2], manifests[0]])
    embedded = []
    hook = model.pivot.register_forward_hook(lambda mod, args, out: embedded.append(len(out)))
    try:
        cache = PivotCache(str(tmp_path), batch_size=8)
        found = cache.get_many(model.pivot, [("val-a", first), ("val-b", second), ("val-c", other)],
                               model.data_configs()["vision"])
    finally:
        hook.remove()
    assert sum(embedded) == SIZES[2] + SIZES[0]
    assert found[0] is found[1] and (cache.hits, cache.misses) == (1, 2)
    assert sorted(p.name.split("-")[2] for p in tmp_path.glob("pivot-val-*")) == ["a", "c"]


def test_one_input_pass_fills_each_set_as_its_own_pass_does(model, manifests):
    alone, together = _sets(model, manifests), _sets(model, manifests)
    for dataset in alone:
        cache_inputs(dataset)
    cache_inputs_many(together, num_workers=2, batch_size=8)
    for one, many in zip(alone, together):
        assert many.label_cache == one.label_cache and len(many.input_cache) == len(one.input_cache)
        for a, b in zip(one.input_cache, many.input_cache):
            assert (isinstance(a, BadSample) and a == b) or torch.equal(a, b)
    assert isinstance(together[1].input_cache[9], BadSample) and "009.png" in together[1].input_cache[9].source


def test_the_data_module_caches_every_set_in_one_pass_each(monkeypatch):
    from imagebind_lite.training import cache_many

    passes = []
    original = cache_many.DataLoader
    monkeypatch.setattr(cache_many, "DataLoader", lambda *a, **k: passes.append(1) or original(*a, **k))
    model = module(pairs=("thermal", "depth"))
    data = world_data(train_size=16, val_size=8, cache_inputs=True).bind(model.pivot, model.data_configs())
    data.setup("fit")
    sets = [*data.train_sets.values(), *data.val_sets.values()]
    assert len(sets) == 4 and all(d.pivot_cache is not None and d.input_cache is not None for d in sets)
    assert len(passes) == 1  # the pivot pass (the input pass goes through load_all)
    assert data.cache.misses == 3 and data.cache.hits == 1  # the held-out sets share one world collection
    for dataset in sets:
        alone = compute_pivot_embeddings(model.pivot, dataset, batch_size=64)
        assert dataset.pivot_cache.ids == alone.ids
        torch.testing.assert_close(dataset.pivot_cache.embeddings, alone.embeddings, rtol=0, atol=1e-6)


class _Numbers(Dataset):
    def __init__(self, n, start=0):
        self.n, self.start = n, start

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        return torch.tensor([self.start + index]), {"index": self.start + index}


def test_workers_return_the_same_items_as_this_process():
    data = ConcatDataset([_Numbers(37), _Numbers(0), _Numbers(50, start=100)])
    here, there = load_all(data, num_workers=0, batch_size=16), load_all(data, num_workers=2, batch_size=16)
    assert len(here) == len(there) == 87
    assert all(torch.equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(here, there))


_BUILT = {}  # name -> pid of the process that built it: a transform's per-process lazy state


class _LazyTransformSet(Dataset):
    """Each item reports which process built the lazy state its transform used."""

    def __init__(self, name, n=40):
        self.name, self.n = name, n

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        if self.name not in _BUILT:
            _BUILT[self.name] = os.getpid()
        return _BUILT[self.name]


@pytest.mark.skipif(multiprocessing.get_start_method() != "fork", reason="workers inherit state only when forked")
def test_lazy_transform_state_is_built_here_before_the_workers_fork():
    _BUILT.clear()
    data = ConcatDataset([_LazyTransformSet("tokenizer"), _LazyTransformSet("filterbank")])
    builders = set(load_all(data, num_workers=2, batch_size=8))
    assert builders == {os.getpid()}  # built once, here; no worker built its own

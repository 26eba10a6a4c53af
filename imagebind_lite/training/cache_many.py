"""One cache-filling pass over many pair data sets at once, results split back per data set.

A pass in worker processes forks its workers afresh and joins them at the end: a fixed cost
(0.15-0.5 s from a ~1 GB process on 2 cores, whatever the pass's length) that, paid once per
data set and cache, dominated the setup of a small alignment (train and val sets of every pair,
pivot embeddings and inputs: up to 20 passes). Here the items of every data set go through one
DataLoader, end to end; each data set's own ``on_bad_sample`` policy applies to its own bad
items, and each gets exactly what a pass of its own would have given it.
"""
from __future__ import annotations

import bisect
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader

from imagebind_lite.training.cache_pass import load_all, prime
from imagebind_lite.training.datasets import BadSample, PairDataset, _InputView, fail_on_bad, split_bad

# ids, embeddings [N, D], skipped (source, message): a data set's pivot embeddings
Embedded = Tuple[List[str], torch.Tensor, List[Tuple[str, str]]]


def cache_inputs_many(datasets: Sequence[PairDataset], num_workers: int = 0, batch_size: int = 64) -> None:
    """``cache_inputs`` for every data set, in one pass: each keeps its X items and labels."""
    datasets = list(datasets)
    if not datasets:
        return
    items = load_all(ConcatDataset([_InputView(dataset) for dataset in datasets]), num_workers, batch_size)
    start = 0
    for dataset in datasets:  # in order: the sets before one that fails keep their cache, as before
        part, start = items[start:start + len(dataset)], start + len(dataset)
        fail_on_bad(split_bad(part, lambda item: item[0])[1], dataset.on_bad_sample)
        # labels too: reading one may cost a full decode (the world renders the whole sample)
        dataset.input_cache = [tensor for tensor, _ in part]
        dataset.label_cache = [label for _, label in part]


class _Tagged(ConcatDataset):
    """Items of several data sets end to end, each as ``(index of its data set, *item)``."""

    def __getitem__(self, index: int):
        return (bisect.bisect_right(self.cumulative_sizes, index), *super().__getitem__(index))


def _collate_tagged(items):
    """``(tag of every item, (tag, id) of the readable ones, their images stacked, (tag, BadSample)s)``."""
    good = [item for item in items if not isinstance(item[2], BadSample)]
    bad = [(tag, image) for tag, _, image in items if isinstance(image, BadSample)]
    images = torch.stack([image for _, _, image in good]) if good else None
    return [tag for tag, _, _ in items], [(tag, sid) for tag, sid, _ in good], images, bad


class _Gathered:
    """One data set's share of the pass so far."""

    def __init__(self, size: int, policy: str):
        self.size, self.policy, self.seen = size, policy, 0
        self.ids: List[str] = []
        self.chunks: List[torch.Tensor] = []
        self.skipped: List[Tuple[str, str]] = []
        self.result: Optional[Embedded] = None

    def take(self, tag: int, tags: List[int], good, embedded: Optional[torch.Tensor], bad) -> None:
        """This data set's items of one batch: its policy on its bad ones, its rows of the embeddings."""
        mine = [sample for owner, sample in bad if owner == tag]
        fail_on_bad(mine, self.policy)
        self.skipped.extend((sample.source, sample.message) for sample in mine)
        rows = [row for row, (owner, _) in enumerate(good) if owner == tag]
        if rows:
            self.ids.extend(good[row][1] for row in rows)
            self.chunks.append(embedded if len(rows) == len(good) else embedded[rows])
        self.seen += tags.count(tag)

    def finish(self) -> Embedded:
        embeddings = torch.cat(self.chunks) if self.chunks else torch.empty(0, 0)
        self.result, self.chunks = (self.ids, embeddings, self.skipped), []
        return self.result


@torch.no_grad()
def embed_many(pivot: nn.Module, datasets: Sequence[PairDataset], batch_size: int = 256, num_workers: int = 0,
               device: Optional[torch.device] = None,
               done: Optional[Callable[[int, Embedded], None]] = None) -> List[Embedded]:
    """Embed every image of every data set once with the pivot in eval mode, without gradients,
    in one pass (batches may mix data sets). ``done(i, embedded)`` is called as soon as data set
    ``i`` is complete, before any later one's policy can raise, so a caller can save it then."""
    if device is not None:  # setup runs before Lightning moves the module: bring the pivot along
        pivot.to(device)
    device = next(pivot.parameters()).device
    parts = [_Gathered(len(dataset), dataset.on_bad_sample) for dataset in datasets]
    view = _Tagged([dataset.images() for dataset in datasets])
    prime(view, num_workers)
    loader = DataLoader(view, batch_size=batch_size, num_workers=num_workers, collate_fn=_collate_tagged)
    was_training = pivot.training
    pivot.eval()
    try:
        for tag, part in enumerate(parts):
            if part.size == 0:
                _finish(tag, part, done)
        for tags, good, images, bad in loader:
            embedded = pivot(images.to(device)).float().cpu() if images is not None else None
            for tag in sorted(set(tags)):
                parts[tag].take(tag, tags, good, embedded, bad)
                if parts[tag].seen == parts[tag].size:
                    _finish(tag, parts[tag], done)
    finally:
        pivot.train(was_training)
    return [part.result for part in parts]


def _finish(tag: int, part: _Gathered, done: Optional[Callable[[int, Embedded], None]]) -> None:
    result = part.finish()
    if done is not None:
        done(tag, result)

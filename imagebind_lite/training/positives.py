"""Several positives per anchor (captions or clips of one image): dataset, order and collate.

A manifest gives several positives for one image by repeating the image's path on several
rows or, in JSONL, by a list in the X cell (``data.manifest.positive_groups``). The data set
then has one item per *image*, so an image is never twice in one pass: no batch, and no
global batch under DDP (rank shards of one permutation), holds the same image as two
separate samples that would be each other's negatives with identical anchor embeddings.
What a step sees of an image's positives is chosen per pair (``positives``):

- ``"sample"`` (default): one positive per image per pass, drawn afresh each pass from a
  generator seeded by (seed, epoch, cycle), the same on every rank and on resume. A positive
  that cannot be read gives way to the image's next one (and is reported as skipped).
- ``"all"``: every positive of every image in the batch; the batch carries ``owner`` (each X
  row's image) and the loss uses the multi-positive form (``losses.multi_positive``:
  InfoNCE targets spread uniformly over an image's positives; the sigmoid loss with one +1
  label per positive). Captions of one image are never negatives of each other: in the
  X -> image direction an image is one column, in image -> X all its rows are targets.

Validation always uses each image's first positive, so paired retrieval metrics keep one X
per image. Manifests without repeated images or list cells keep the plain one-row-per-sample
dataset.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from imagebind_lite.data.manifest import Positive, positive_groups, read_manifest
from imagebind_lite.errors import InputError
from imagebind_lite.training.data_order import PairLoader
from imagebind_lite.training.datasets import (
    OWNER, PIVOT, BadSample, ManifestPairDataset, PairCollate, _stack, read_or_bad, undraw,
)

POSITIVE_MODES = ("sample", "all")


def check_positives(mode: str) -> str:
    if mode not in POSITIVE_MODES:
        raise InputError(f"positives must be one of {POSITIVE_MODES}, got {mode!r}")
    return mode


def grouped_manifest(manifest, modality: str, pivot_modality: str = PIVOT):
    """(manifest, groups) when some anchor has several positives, else (manifest, None)."""
    from imagebind_lite.registry import get_modality

    manifest = manifest if hasattr(manifest, "rows") else read_manifest(manifest, [pivot_modality, modality])
    anchor_is_file = not get_modality(pivot_modality).strings_are_data
    groups = positive_groups(manifest, pivot_modality, modality, anchor_is_file)
    return manifest, (groups if any(len(group) > 1 for group in groups) else None)


@dataclass
class UnreadableAnchor(BadSample):
    """An anchor none of whose positives could be read: the first failure, plus the others
    (each is reported, as a one-row sample's failure would be)."""

    others: List[BadSample] = field(default_factory=list)


class MultiPositivePairDataset(ManifestPairDataset):
    """One item per anchor of a manifest whose anchors may have several positives.

    Index ``g`` is the g-th anchor; ``(g, k)`` asks for its k-th positive first (what
    ``PositivesPairLoader`` yields in "sample" mode). Ids, labels and the pivot input are the
    anchor's first row's, so the pivot cache embeds each image once.
    """

    def __init__(self, manifest, modality: str, transforms: Dict[str, Callable], positives: str = "sample",
                 on_bad_sample: str = "fail", pivot_modality: str = PIVOT, groups: Optional[List[List[Positive]]] = None):
        super().__init__(manifest, modality, transforms, on_bad_sample, pivot_modality)
        self.positives = check_positives(positives)
        if groups is None:
            groups = positive_groups(self.manifest, pivot_modality, modality, not self._text[pivot_modality])
        self.groups = groups

    def __len__(self) -> int:
        return len(self.groups)

    def _row(self, index: int) -> int:
        return self.groups[index][0].row

    def sample_id(self, index: int) -> str:
        return super().sample_id(self._row(index))

    def label(self, index: int) -> int:
        return super().label(self._row(index))

    def raw_item(self, index: int, modality: str):
        return super().raw_item(self._row(index), modality)

    def source(self, index: int, modality: str) -> str:
        return super().source(self._row(index), modality)

    def positive_source(self, positive: Positive) -> str:
        where = super().source(positive.row, self.modality)
        return where if positive.element is None else f"{where} [{positive.element}]"

    def load_positive(self, positive: Positive):
        """One positive's tensor, or a ``BadSample`` naming its file (or row) and modality."""
        source = self.positive_source(positive)

        def read():
            raw = self.manifest.item(positive.row, self.modality, self._text[self.modality], positive.element)
            return self.first_stage(self.modality)(raw, source)  # the signal, when augmented

        return read_or_bad(read, self.manifest.sample_id(positive.row), self.modality, source)

    def load(self, index: int, modality: str):
        """The X side is every positive of the anchor (a list); that is what ``cache_inputs`` keeps."""
        if modality != self.modality:
            return super().load(index, modality)
        return [self.load_positive(positive) for positive in self.groups[index]]

    def pick_positives(self, indices: Sequence[int], generator: torch.Generator) -> List[Union[int, Tuple[int, int]]]:
        """"sample" mode: one positive per anchor, uniformly; a draw for every anchor (not only
        this rank's), so the choice does not depend on how anchors are sharded."""
        if self.positives != "sample":
            return list(indices)
        draws = torch.rand(len(self.groups), generator=generator, dtype=torch.float64)
        return [(g, min(int(draws[g] * len(self.groups[g])), len(self.groups[g]) - 1)) for g in indices]

    def __getitem__(self, index):
        index, key = undraw(index)
        group, first = index if isinstance(index, tuple) else (index, 0)
        item = self.anchor_item(group)
        if isinstance(item, BadSample):
            return item
        good, bad = [], []
        for value in self._candidates(group, first, key):
            (bad if isinstance(value, BadSample) else good).append(value)
            if good and self.positives == "sample":
                break
        if not good:
            first = bad[0]
            return UnreadableAnchor(first.id, first.modality, first.source, first.message, bad[1:])
        item[self.modality] = good if self.positives == "all" else good[0]
        if bad:
            item["skipped"] = bad
        return item

    def _candidates(self, group: int, first: int, key: Tuple[int, int] = (0, 0)) -> Iterator[Any]:
        count = len(self.groups[group])
        order = [first] + [k for k in range(count) if k != first]
        for k in order:
            positive = self.groups[group][k]
            value = self.input_cache[group][k] if self.input_cache is not None else self.load_positive(positive)
            if self.augment is not None:
                value = self.finish(value, self.manifest.sample_id(positive.row), self.positive_source(positive),
                                    (*key, group, k))
            yield value


class PositivesCollate(PairCollate):
    """``PairCollate`` that also reports positives skipped inside an item and, with several
    positives per item ("all"), stacks every item's rows and records their ``owner``."""

    def __init__(self, modality: str, pivot_modality: str = PIVOT, several: bool = False):
        super().__init__(modality, pivot_modality)
        self.several = several

    def __call__(self, items: Sequence[Any]) -> Dict[str, Any]:
        inner = [bad for item in items if isinstance(item, dict) for bad in item.pop("skipped", [])]
        inner += [bad for item in items if isinstance(item, UnreadableAnchor) for bad in item.others]
        batch = super().__call__(items)
        batch["skipped"] = list(batch["skipped"]) + inner
        return batch

    def stack_others(self, good: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
        if not self.several:
            return super().stack_others(good)
        rows = [tensor for item in good for tensor in item[self.modality]]
        owner = [index for index, item in enumerate(good) for _ in item[self.modality]]
        return {self.modality: _stack(self.modality, rows), OWNER: torch.tensor(owner, dtype=torch.long)}


class PositivesPairLoader(PairLoader):
    """``PairLoader`` whose shuffled passes also draw each anchor's positive ("sample" mode),
    from a generator seeded by (seed, epoch, cycle) so a resumed run draws the same ones."""

    def _shard(self) -> List[Any]:
        shard = super()._shard()
        if not self.shuffle:
            return shard  # validation: each anchor's first positive
        mixed = np.random.SeedSequence([self.seed, self._epoch, self._cycle, 1]).generate_state(1)[0]
        return self.dataset.pick_positives(shard, torch.Generator().manual_seed(int(mixed)))


def loader_parts(dataset, modality: str, pivot_modality: str = PIVOT):
    """(loader class, collate) for a pair data set: the plain ones unless its anchors have
    several positives."""
    if not isinstance(dataset, MultiPositivePairDataset):
        return PairLoader, PairCollate(modality, pivot_modality)
    return PositivesPairLoader, PositivesCollate(modality, pivot_modality, several=dataset.positives == "all")

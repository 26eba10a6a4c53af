"""Pair datasets (image, X) over manifests or the synthetic world, and their collate.

Every item is a dict ``{"id", "label", "pivot" | "pivot_emb", X}``: the pivot's input tensor
(the image, unless another ``pivot_modality`` anchors the pair), or the frozen pivot's cached
embedding of it when a pivot cache is attached (then the image is never decoded again). An
unreadable sample becomes a ``BadSample`` that the collate drops and lists in the batch under
``"skipped"``; the policy (``imagebind_lite.data.bad_samples``, shared with batch inference)
is applied in the main process: ``on_bad_sample="fail"`` raises one clean ``InputError``
naming the file, ``"skip"`` lets the training module count and name what was dropped.

Transforms come from the encoders' data configs (``ModalitySpec.transform``), never from
constants here. A training set may also carry ``augment`` (``ModalitySpec.augmented``) for its
X side: X is then read in two stages, the decoded signal (what ``cache_inputs`` keeps) and the
augmented tensor, drawn with a generator seeded by (seed, epoch, cycle, index) that the loader
passes in as a ``Draw`` (see ``imagebind_lite.augment``). Reference: torch ``Dataset``/``collate_fn``
conventions.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

# BAD_SAMPLE_POLICIES, check_policy and fail_on_bad are part of this module's surface too:
# the data module and the loaders import the policy from here, beside the datasets it governs.
from imagebind_lite.data.bad_samples import (  # noqa: F401
    BAD_SAMPLE_POLICIES, BadSample, check_policy, fail_on_bad, read_or_bad, split_bad,
)
from imagebind_lite.data.manifest import read_manifest
from imagebind_lite.registry import get_modality

log = logging.getLogger(__name__)

PIVOT = "vision"  # the default pivot modality: ImageBind binds everything to images
PIVOT_INPUT, PIVOT_EMB = "pivot", "pivot_emb"  # batch keys, whatever the pivot's modality
OWNER = "owner"  # batch key: each X row's anchor row, when anchors have several positives
# World raw data that needs its rate alongside (modalities accept (array, rate) tuples).
_WORLD_RATES = {"audio": "sample_rate", "imu": "imu_rate"}


@dataclass(frozen=True)
class Draw:
    """A sample index tagged with the pass that draws it: seeds the sample's augmentation."""

    index: Any  # what the data set's __getitem__ takes otherwise
    epoch: int
    cycle: int


def undraw(index: Any) -> Tuple[Any, Tuple[int, int]]:
    """``(index, (epoch, cycle))``; an untagged index counts as drawn in epoch 0."""
    return (index.index, (index.epoch, index.cycle)) if isinstance(index, Draw) else (index, (0, 0))


class PairDataset(Dataset):
    """Base class: subclasses provide ``__len__``, ``sample_id``, ``label``, ``raw_item``,
    ``source`` and ``fingerprint``; this class applies transforms, the cache and the policy."""

    def __init__(self, modality: str, transforms: Dict[str, Callable], on_bad_sample: str = "fail",
                 pivot_modality: str = PIVOT):
        self.modality = modality
        self.pivot_modality = pivot_modality
        self.transforms = dict(transforms)
        self.on_bad_sample = check_policy(on_bad_sample)
        self.pivot_cache = None  # PivotEmbeddings once attached; see pivot_cache.py
        self.input_cache: Optional[List[Any]] = None  # X tensors (or BadSample) by index; see cache_inputs
        self.label_cache: Optional[List[int]] = None  # labels by index, filled with input_cache
        self.augment = None  # AugmentedTransform for the X side of training sets; None: no augmentation
        self.augment_seed = 0

    # ---- provided by subclasses --------------------------------------------------------------
    def sample_id(self, index: int) -> str:
        raise NotImplementedError

    def label(self, index: int) -> int:
        raise NotImplementedError

    def raw_item(self, index: int, modality: str) -> Any:
        """A path, in-memory raw data or text: what ``transforms[modality]`` accepts."""
        raise NotImplementedError

    def source(self, index: int, modality: str) -> str:
        """Human-readable origin of one item (the file path), for error reports."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        """Identifies the data (not the transforms) for the pivot cache key."""
        raise NotImplementedError

    # ---- shared --------------------------------------------------------------------------------
    def load(self, index: int, modality: str):
        """Transformed tensor (the decoded signal for an augmented X), or a ``BadSample`` when the
        item cannot be read."""
        source = self.source(index, modality)
        return read_or_bad(lambda: self.first_stage(modality)(self.raw_item(index, modality), source),
                           self.sample_id(index), modality, source)

    def first_stage(self, modality: str) -> Callable:
        """item -> tensor, or -> signal where ``finish`` augments afterwards."""
        return self.augment.signal if self.augment is not None and modality == self.modality else self.transforms[modality]

    def finish(self, value: Any, sample_id: str, source: str, key: Sequence[int]):
        """What ``first_stage`` made -> the X tensor (augmented with a generator seeded by
        ``augment_seed`` and ``key``), or a ``BadSample``."""
        if self.augment is None or isinstance(value, BadSample):
            return value
        rng = np.random.default_rng([self.augment_seed, *key])
        return read_or_bad(lambda: self.augment.features(value, source, rng), sample_id, self.modality, source)

    def __getitem__(self, index):
        index, (epoch, cycle) = undraw(index)
        item = self.anchor_item(index)
        if isinstance(item, BadSample):
            return item
        other = self.load(index, self.modality) if self.input_cache is None else self.input_cache[index]
        if self.augment is not None:
            other = self.finish(other, self.sample_id(index), self.source(index, self.modality), (epoch, cycle, index))
        if isinstance(other, BadSample):
            return other
        item[self.modality] = other
        return item

    def anchor_item(self, index: int):
        """``{"id", "label", pivot input or cached embedding}`` of one sample, or a BadSample."""
        sid = self.sample_id(index)
        label = self.label(index) if self.label_cache is None else self.label_cache[index]
        item: Dict[str, Any] = {"id": sid, "label": label}
        if self.pivot_cache is not None:
            embedding = self.pivot_cache.get(sid)
            if embedding is None:  # its image failed while the cache was built (skip policy)
                pivot = self.pivot_modality
                return BadSample(sid, pivot, self.source(index, pivot), "pivot input unreadable (found when caching)")
            item[PIVOT_EMB] = embedding
        else:
            image = self.load(index, self.pivot_modality)
            if isinstance(image, BadSample):
                return image
            item[PIVOT_INPUT] = image
        return item

    def images(self) -> "ImageView":
        """The un-augmented images alone, for computing the pivot cache."""
        return ImageView(self)


def cache_inputs(dataset: PairDataset, num_workers: int = 0, batch_size: int = 64) -> None:
    """Preprocess every X item once and keep the tensors in memory, so later epochs skip
    decoding and feature extraction; an augmented set keeps the decoded signals instead, and
    augments and extracts features from them afresh in every pass. (Several data sets: one
    pass for all, ``cache_many.cache_inputs_many``.)"""
    from imagebind_lite.training.cache_many import cache_inputs_many

    cache_inputs_many([dataset], num_workers, batch_size)


class _PairsView(Dataset):
    """One part of every sample of a pair dataset, for a single pass that fills a cache."""

    def __init__(self, pairs: PairDataset):
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)


class _InputView(_PairsView):
    """``(X tensor | BadSample, label)``: what ``cache_inputs`` keeps."""

    def __getitem__(self, index: int):
        return self.pairs.load(index, self.pairs.modality), self.pairs.label(index)


class ImageView(_PairsView):
    """``(id, image tensor | BadSample)`` for each sample of a pair dataset."""

    def __getitem__(self, index: int):
        return self.pairs.sample_id(index), self.pairs.load(index, self.pairs.pivot_modality)


class ManifestPairDataset(PairDataset):
    """(pivot, X) pairs listed in a manifest with a pivot column (``vision``) and an X column."""

    def __init__(self, manifest, modality: str, transforms: Dict[str, Callable], on_bad_sample: str = "fail",
                 pivot_modality: str = PIVOT):
        super().__init__(modality, transforms, on_bad_sample, pivot_modality)
        columns = [pivot_modality, modality]
        self.manifest = manifest if hasattr(manifest, "rows") else read_manifest(manifest, columns)
        self.manifest.require(columns)
        self._text = {m: get_modality(m).strings_are_data for m in columns}

    def __len__(self) -> int:
        return len(self.manifest)

    def sample_id(self, index: int) -> str:
        return self.manifest.sample_id(index)

    def label(self, index: int) -> int:
        return self.manifest.label(index)

    def raw_item(self, index: int, modality: str):
        return self.manifest.item(index, modality, self._text[modality])

    def source(self, index: int, modality: str) -> str:
        if self._text[modality]:
            return f"{self.manifest.path}:row {index}"
        return str(self.manifest.item(index, modality))

    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.manifest.path.read_bytes()).hexdigest()
        return f"manifest:{self.manifest.path}:{digest}"


class WorldPairDataset(PairDataset):
    """(image, X) pairs of one synthetic-world collection, generated in memory."""

    def __init__(self, config, collection: str, size: int, transforms: Dict[str, Callable],
                 modality: Optional[str] = None, start: int = 0, on_bad_sample: str = "fail",
                 pivot_modality: str = PIVOT):
        from imagebind_lite.data.world import WorldDataset

        super().__init__(modality or collection, transforms, on_bad_sample, pivot_modality)
        self.world = WorldDataset(config, collection, size, start=start)
        self._last = (None, None)  # (index, raw sample): vision and X come from one generation

    def __len__(self) -> int:
        return len(self.world)

    def _sample(self, index: int) -> Dict[str, Any]:
        if self._last[0] != index:
            self._last = (index, self.world[index])
        return self._last[1]

    def sample_id(self, index: int) -> str:
        return f"{self.world.collection}-{self.world.start + index:06d}"

    def label(self, index: int) -> int:
        return int(self._sample(index)["label"])

    def raw_item(self, index: int, modality: str):
        raw = self._sample(index)[modality]
        rate_field = _WORLD_RATES.get(modality)
        return (raw, getattr(self.world.config, rate_field)) if rate_field else raw

    def source(self, index: int, modality: str) -> str:
        return f"world:{self.sample_id(index)}:{modality}"

    def fingerprint(self) -> str:
        config = json.dumps(self.world.config.to_dict(), sort_keys=True)
        return f"world:{config}:{self.world.collection}:{self.world.start}:{len(self.world)}"

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_last"] = (None, None)
        return state


class PairCollate:
    """Batch pair items: drop ``BadSample`` entries and list them under ``"skipped"``."""

    def __init__(self, modality: str, pivot_modality: str = PIVOT):
        self.modality = modality
        self.pivot_modality = pivot_modality

    def __call__(self, items: Sequence[Any]) -> Dict[str, Any]:
        good, skipped = split_bad(items)
        # ids as one numpy array, not a list: Lightning walks every list in a batch several
        # times per step (device moves, precision casts), a measurable cost with 1000s of ids.
        batch: Dict[str, Any] = {"ids": np.array([item["id"] for item in good], dtype=object), "skipped": skipped,
                                 "labels": torch.tensor([item["label"] for item in good], dtype=torch.long)}
        if not good:
            return batch
        cached = PIVOT_EMB in good[0]
        pivot_key = PIVOT_EMB if cached else PIVOT_INPUT
        batch[pivot_key] = _stack(None if cached else self.pivot_modality, [item[pivot_key] for item in good])
        batch.update(self.stack_others(good))
        return batch

    def stack_others(self, good: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
        """The X side of the batch (several positives per image batch it differently)."""
        return {self.modality: _stack(self.modality, [item[self.modality] for item in good])}


def _stack(modality: Optional[str], tensors: List[torch.Tensor]) -> torch.Tensor:
    if modality is None:
        return torch.stack(tensors)
    return get_modality(modality).collate(tensors)


def batch_size_of(batch: Dict[str, Any]) -> int:
    return len(batch["ids"])

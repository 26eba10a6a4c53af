"""``PairDataModule``: (image, X) pair data for every aligned modality, from manifests or the world.

Transforms are derived from the encoders' data configs, which the data module reads from the
training module at ``setup`` (or from ``bind`` when driven by hand), so preprocessing is never
configured twice. With ``use_pivot_cache`` the frozen pivot's embeddings are computed once per
data set (see pivot_cache.py) and the images are never decoded again. Training batches come
from one ``PairLoader`` per pair (seeded, sharded, resumable; see data_order.py) combined by
Lightning's ``CombinedLoader`` (``max_size_cycle``: every step sees every pair, shorter ones
cycle; ``min_size``: stop at the shortest). Reference: Lightning's LightningDataModule docs.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Union

import lightning.pytorch as pl
from lightning.pytorch.utilities import CombinedLoader

from imagebind_lite.data.world.config import EVAL_COLLECTION, WorldConfig
from imagebind_lite.errors import InputError
from imagebind_lite.registry import get_modality
from imagebind_lite.training.build import plain_hparams
from imagebind_lite.training.cache_pass import cache_worker_count
from imagebind_lite.training.datasets import (
    PIVOT, ManifestPairDataset, PairCollate, PairDataset, WorldPairDataset, check_policy,
)
from imagebind_lite.training.cache_many import cache_inputs_many
from imagebind_lite.training.pivot_cache import PivotCache
from imagebind_lite.training.positives import (
    MultiPositivePairDataset, check_positives, grouped_manifest, loader_parts,
)
from imagebind_lite.training.val_classes import ValClasses, classes_of
from imagebind_lite.training.stream_dataset import StreamPairDataset, StreamPairLoader, stream_dataset

log = logging.getLogger(__name__)

TRAIN_MODES = ("max_size_cycle", "min_size")



def _check_sources_and_modes(world, manifests, shards, mode: str, on_bad_sample: str, positives) -> None:
    """Fail on contradictory data sources or unknown mode names before anything is read."""
    if (world is None) == (manifests is None and shards is None):
        raise InputError("give either world= or manifests= and/or shards=")
    both = sorted(set(manifests or {}) & set(shards or {}))
    if both:
        raise InputError(f"pair(s) {both} have both a training manifest and shards; give one")
    if mode not in TRAIN_MODES:
        raise InputError(f"mode must be one of {TRAIN_MODES}, got {mode!r}")
    check_policy(on_bad_sample)
    for positive_mode in (positives.values() if isinstance(positives, dict) else [positives]):
        check_positives(positive_mode)


class PairDataModule(pl.LightningDataModule):
    """Training and held-out (pivot, X) pairs of every aligned modality, and their caches.

    The pairs come from the synthetic world, manifests or tar shards.

    Args:
        world: synthetic world to generate pairs from (collections named after modalities;
            validation on its held-out ``eval`` collection). Exclusive with ``manifests``.
        manifests: modality -> pair manifest (columns ``vision`` and the modality).
        val_manifests: modality -> held-out manifest (may be one file with all columns).
        pairs: modalities to load pairs for (default: the training module's aligned modalities).
        train_size, val_size: pairs per modality drawn from the world (train_size may be a
            dict modality -> size).
        batch_size, val_batch_size: per pair and per process (val default: batch_size).
        num_workers: DataLoader workers per pair loader (0: load in the main process).
        mode: CombinedLoader mode for training, "max_size_cycle" or "min_size".
        use_pivot_cache: compute pivot embeddings once and reuse them every epoch.
        cache_inputs: preprocess every X item once and keep it in memory (fast epochs
            after the first; costs memory: N x one sample tensor per pair); an augmented
            modality keeps its decoded signal instead and augments it afresh each epoch.
        cache_dir: where cached pivot embeddings are stored (None: in memory for this run).
        on_bad_sample: "skip" (drop, count and report unreadable samples) or "fail".
        seed: seed of the per-epoch shuffling (same seed, same batches).
        drop_last: drop the last incomplete batch of each pass (contrastive losses prefer
            full batches; under DDP every rank must contribute equally).
        positives: when a manifest gives several positives per image (repeated image
            paths, or JSONL list cells): "sample" one per image per pass, or use "all" as
            multi-positive targets; one mode for every pair or a dict per pair (see
            positives.py). Batches never hold one image twice.
        augment: modality -> its augmentation options, e.g. ``{"audio": {"gain_db": 6,
            "time_mask": 20}}``, applied to training pairs only (never to validation, the
            pivot's inputs, evaluation or embedding); the options each modality knows are
            listed by its ``augmenter`` hook, and an unknown one is an error. Draws are
            seeded by ``seed``, the epoch and the sample, so runs repeat exactly.
        class_prompts: prompt file (a world.json, or ``{class_name: [prompt, ...]}`` in label
            order) for zero-shot validation of labelled held-out sets; the synthetic world
            brings its own prompts (see val_classes.py).
        shards: modality -> training tar shards instead of a manifest: an ``index.json``,
            a folder holding one, glob patterns or a list of paths (``imagebind-lite
            shards`` writes them). Streamed: split over ranks and workers, shuffled by
            shard order and a buffer, resumable; no pivot cache (see stream_dataset.py).
        shuffle_buffer: samples held (as raw bytes) by each worker's shuffle buffer.
        cache_workers: DataLoader workers for the one-time passes that fill the caches
            (decoding every X item, embedding every pivot image); None: ``num_workers``.
            Where training reads fastest from memory in the main process (``num_workers``
            0 on a small machine), these passes still decode in parallel with one worker
            per core.
    
    """

    def __init__(
        self,
        world: Optional[WorldConfig] = None,
        manifests: Optional[Dict[str, str]] = None,
        val_manifests: Optional[Dict[str, str]] = None,
        pairs: Optional[List[str]] = None,
        train_size: Union[int, Dict[str, int]] = 2048,
        val_size: int = 256,
        batch_size: int = 64,
        val_batch_size: Optional[int] = None,
        num_workers: int = 0,
        mode: str = "max_size_cycle",
        use_pivot_cache: bool = True,
        cache_inputs: bool = False,
        cache_dir: Optional[str] = None,
        on_bad_sample: str = "fail",
        seed: int = 0,
        drop_last: bool = True,
        positives: Union[str, Dict[str, str]] = "sample",
        augment: Optional[Dict[str, Dict[str, Any]]] = None,
        class_prompts: Optional[str] = None,
        shards: Optional[Dict[str, Union[str, List[str]]]] = None,
        shuffle_buffer: int = 1000,
        cache_workers: Optional[int] = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        plain_hparams(self)
        _check_sources_and_modes(world, manifests, shards, mode, on_bad_sample, positives)
        if isinstance(world, dict):  # e.g. re-created from saved hyper-parameters
            world = WorldConfig.from_dict(world)
        # Built now, so a typo in the options fails when the config is read, not after caching.
        self.augmenters = {m: get_modality(m).augmenter(options or {}) for m, options in (augment or {}).items()}
        self.world, self.manifests, self.val_manifests = world, dict(manifests or {}), dict(val_manifests or {})
        self.shards = dict(shards or {})
        self._pivot = None
        self._pivot_modality = PIVOT
        self._data_configs: Optional[Dict[str, dict]] = None
        self.train_sets: Dict[str, PairDataset] = {}
        self.val_sets: Dict[str, PairDataset] = {}
        self._val_classes: Dict[str, Optional[ValClasses]] = {}
        self._cache_workers = cache_worker_count(cache_workers, num_workers)
        self.cache = PivotCache(cache_dir, batch_size=max(batch_size, 64), num_workers=self._cache_workers)

    # ---- wiring to the model -----------------------------------------------------------------
    def bind(self, pivot, data_configs: Dict[str, dict], pivot_modality: str = PIVOT) -> "PairDataModule":
        """Use this pivot and these data configs (``AlignmentModule.data_configs()``)."""
        self._pivot, self._data_configs, self._pivot_modality = pivot, dict(data_configs), pivot_modality
        return self

    def _module(self):
        trainer = getattr(self, "trainer", None)
        return trainer.lightning_module if trainer is not None else None

    def pair_modalities(self) -> List[str]:
        if self.hparams.pairs:
            return list(self.hparams.pairs)
        if self.world is None:
            return list(self.manifests) + list(self.shards)
        return [m for m in self._data_configs if m != self._pivot_modality]

    # ---- datasets ------------------------------------------------------------------------------
    def setup(self, stage: Optional[str] = None) -> None:
        module = self._module()
        if self._data_configs is None:
            if module is None or not hasattr(module, "data_configs"):
                raise InputError("PairDataModule needs a training module with data_configs(), or bind()")
            self.bind(module.pivot, module.data_configs(), getattr(module, "pivot_modality", PIVOT))
        transforms = {m: get_modality(m).transform(c) for m, c in self._data_configs.items()}
        for modality in self.pair_modalities():
            if modality not in transforms:
                raise InputError(f"no encoder for pair {modality!r}", modality=modality)
            pivot = self._pivot_modality
            pair_transforms = {pivot: transforms[pivot], modality: transforms[modality]}
            if stage in (None, "fit") and modality not in self.train_sets:
                self.train_sets[modality] = self._dataset(modality, pair_transforms, train=True)
            held_out = None if modality in self.val_sets else self._dataset(modality, pair_transforms, train=False)
            if held_out is not None:
                self.val_sets[modality] = held_out
        self._attach_augmenters()
        for modality, dataset in self.val_sets.items():  # a bad prompt file fails before training
            if modality not in self._val_classes:
                self._val_classes[modality] = classes_of(dataset, self.hparams.class_prompts)
        if self.hparams.use_pivot_cache:
            self._attach_pivot_cache()
        if self.hparams.cache_inputs:  # one pass for all sets: workers are forked once, not per set
            sets = list(self.train_sets.values()) + list(self.val_sets.values())
            # streams are never cached
            cache_inputs_many([d for d in sets if getattr(d, "input_cache", False) is None], self._cache_workers)

    def val_classes(self, modality: str) -> Optional[ValClasses]:
        """The classes (names, prompts) the labels of ``modality``'s held-out set name, if any."""
        return self._val_classes.get(modality)

    def _dataset(self, modality: str, transforms, train: bool) -> Optional[PairDataset]:
        hp = self.hparams
        if self.world is not None:
            collection = modality if train else EVAL_COLLECTION
            size = hp.train_size if train else hp.val_size
            size = size.get(modality, 0) if isinstance(size, dict) else size
            if size <= 0:
                return None
            return WorldPairDataset(self.world, collection, size, transforms, modality=modality,
                                    on_bad_sample=hp.on_bad_sample, pivot_modality=self._pivot_modality)
        if train and modality in self.shards:
            return stream_dataset(self.shards[modality], modality, transforms, hp.on_bad_sample,
                                  self._pivot_modality, hp.shuffle_buffer)
        source = (self.manifests if train else self.val_manifests).get(modality)
        if source is None:
            if train:
                raise InputError(f"no manifest for pair {modality!r}", modality=modality)
            return None
        manifest, groups = grouped_manifest(source, modality, self._pivot_modality)
        if groups is not None:  # some image has several positives; validation uses the first
            mode = (hp.positives.get(modality, "sample") if isinstance(hp.positives, dict) else hp.positives)
            return MultiPositivePairDataset(manifest, modality, transforms, mode if train else "sample",
                                            hp.on_bad_sample, self._pivot_modality, groups)
        return ManifestPairDataset(manifest, modality, transforms, on_bad_sample=hp.on_bad_sample,
                                   pivot_modality=self._pivot_modality)

    def _attach_augmenters(self) -> None:
        """Training sets only, before ``cache_inputs`` (an augmented set caches signals)."""
        for modality, augmenter in self.augmenters.items():
            if modality == self._pivot_modality:
                raise InputError(f"{modality} is the frozen pivot: its inputs stay deterministic (its embeddings "
                                 "are cached); augment the modalities being trained", modality=modality)
            if modality not in self.pair_modalities():
                raise InputError(f"augment names {modality!r}, which is not a trained pair "
                                 f"({', '.join(self.pair_modalities())})", modality=modality)
            dataset = self.train_sets.get(modality)
            if isinstance(dataset, StreamPairDataset) and augmenter:
                raise InputError("augmentation is applied to manifest pairs only, not yet to streamed shards; "
                                 "train this pair from its manifest to augment it", modality=modality)
            if dataset is not None and augmenter and dataset.augment is None:
                dataset.augment = get_modality(modality).augmented(self._data_configs[modality], augmenter)
                dataset.augment_seed = self.hparams.seed

    def _attach_pivot_cache(self) -> None:
        """Compute on one process per node first, then every process loads from disk."""
        trainer = getattr(self, "trainer", None)
        shared = self.cache.cache_dir is not None and trainer is not None and trainer.world_size > 1
        first = trainer is None or trainer.local_rank == 0
        device = trainer.strategy.root_device if trainer is not None else None
        named = [(f"train-{m}", d) for m, d in self.train_sets.items() if not isinstance(d, StreamPairDataset)] + \
                [(f"val-{m}", d) for m, d in self.val_sets.items()]
        if shared and not first:
            trainer.strategy.barrier("pivot-cache")  # wait for local rank 0 to write the files
        named = [(name, dataset) for name, dataset in named if dataset.pivot_cache is None]
        # every miss in one pass over all their images: workers are forked once, not per data set
        found = self.cache.get_many(self._pivot, named, self._data_configs[self._pivot_modality], device)
        for (name, dataset), cached in zip(named, found):
            dataset.pivot_cache = cached
            if dataset.pivot_cache.skipped:
                log.warning("%s: %d image(s) unreadable while caching: %s", name, len(dataset.pivot_cache.skipped),
                            ", ".join(s for s, _ in dataset.pivot_cache.skipped[:20]))
        if shared and first:
            trainer.strategy.barrier("pivot-cache")

    # ---- loaders -------------------------------------------------------------------------------
    def train_dataloader(self):
        hp = self.hparams
        loaders = {m: self._loader(m, d, hp.batch_size, shuffle=True, drop_last=hp.drop_last)
                   for m, d in self.train_sets.items()}
        module = self._module()
        resume = getattr(module, "resume_cursors", None) if module is not None else None
        if resume:  # continue right after the last batch the checkpointed run consumed
            for modality, cursor in resume.get("pairs", {}).items():
                if modality in loaders:
                    loaders[modality].resume_from(cursor, resume.get("epoch_end", False))
            module.resume_cursors = None
        return CombinedLoader(loaders, mode=hp.mode)

    def _loader(self, modality: str, dataset: PairDataset, batch_size: int, shuffle: bool, drop_last: bool):
        hp = self.hparams
        loader_class, collate = (StreamPairLoader, PairCollate(modality, self._pivot_modality)) \
            if isinstance(dataset, StreamPairDataset) else loader_parts(dataset, modality, self._pivot_modality)
        return loader_class(dataset, batch_size, collate, shuffle=shuffle, seed=hp.seed, drop_last=drop_last,
                            num_workers=hp.num_workers, on_bad_sample=hp.on_bad_sample)

    def val_dataloader(self):
        hp = self.hparams
        if not self.val_sets:
            return []
        # PairLoader too (in order, sharded by rank, last batch kept): it applies the policy
        loaders = {m: self._loader(m, d, hp.val_batch_size or hp.batch_size, shuffle=False, drop_last=False)
                   for m, d in self.val_sets.items()}
        return CombinedLoader(loaders, mode="sequential")

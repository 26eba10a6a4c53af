"""Settings of ``imagebind-lite demo``: the default run and the ``--quick`` one."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from imagebind_lite.errors import InputError

ALIGNED = ("text", "audio", "depth", "thermal", "imu")  # each trained only against images


@dataclass
class DemoConfig:
    out_dir: Path = Path("demo_output")   # report directory (world files, models, index, plots)
    seed: int = 0                          # world seed and training seed
    num_concepts: int = 16                 # K concepts of the synthetic world
    image_size: int = 64                   # side of the written images (the pivot resizes to 32)
    pairs_per_modality: int = 4000         # (image, X) pairs written per aligned modality
    pair_sizes: dict = field(default_factory=dict)  # per-modality exceptions to pairs_per_modality
    eval_size: int = 800                   # held-out instances carrying all six modalities
    direct_pairs: int = 4000               # (audio, text) pairs for the direct baseline
    pivot_images: int = 10000              # images the pivot is pretrained on
    pivot_epochs: int = 10                 # pivot pretraining epochs
    # 20 epochs reach what 25 did in a fifth less time (emergent audio->text 0.82 / 0.92 / 0.90
    # for seeds 0-2 against 0.83 / 0.92 / 0.87, every showcase query right); 12 lost 0.1
    align_epochs: int = 20                 # epochs of the five-pair alignment run
    direct_epochs: int = 20                # epochs of the direct audio-text baseline (audio's budget)
    batch_size: int = 128                  # per pair
    # The world's sounds are steady 2 s tones: one 1 s clip in 16 mel bands carries what tells
    # them apart, at a quarter of the tiny preset's audio tokens (two clips, 32 bands); the
    # direct baseline uses the same audio encoder, so the ratio compares like with like.
    audio_data: dict = field(default_factory=lambda: {"clips_per_sample": 1, "num_mel_bins": 16})
    lr: float = 2e-3                       # AdamW peak learning rate for the aligned encoders
    num_workers: int = 0                   # DataLoader workers (2-core machines: 0 is fastest)
    # workers for the one-time decoding passes that fill the caches: one per core
    cache_workers: int = field(default_factory=lambda: min(4, os.cpu_count() or 1))
    world_workers: int = field(default_factory=lambda: min(8, os.cpu_count() or 1))  # processes writing the world
    pivot_weights: Optional[Path] = None   # a saved model with a vision encoder: skip pretraining
    # On Linux CPU runs, use both cores through processes, one core each (the small encoders gain
    # nothing from a second intra-op thread): a second process trains the direct baseline while
    # the first pretrains the pivot, and another aligns ``beside_pairs`` while the first aligns
    # the other pairs (the two alignments are then combined into one model). Elsewhere, one
    # run after the other.
    beside: bool = True
    beside_pairs: tuple = ("depth", "thermal", "imu")
    progress: bool = True                  # progress bars
    examples: int = 3                      # results shown per example query

    @classmethod
    def quick(cls, **changes) -> "DemoConfig":
        """Under a minute on 2 cores; still shows emergent alignment clearly above chance."""
        # Depth, thermal and IMU stay near chance at this size either way (top-1 via text 0.04-0.10
        # with 800 pairs each), so they get fewer pairs and the run still trains and evaluates
        # them at 40 % of the cost; part of the time saved buys 12 epochs instead of 8 for the
        # headline pairs (emergent audio->text over seeds 0-4: lowest 0.32 instead of 0.10).
        small = dict(pairs_per_modality=800, pair_sizes={"depth": 320, "thermal": 320, "imu": 320}, eval_size=160,
                     direct_pairs=800, pivot_images=2400, pivot_epochs=4, align_epochs=12, direct_epochs=12,
                     batch_size=64)
        return cls(**{**small, **changes})

    def __post_init__(self):
        unknown = sorted(set(self.pair_sizes) - set(ALIGNED))
        if unknown:
            raise InputError(f"pair_sizes names {unknown}; the aligned pairs are {ALIGNED}")
        self.beside_pairs = tuple(self.beside_pairs)
        unknown = sorted(set(self.beside_pairs) - set(ALIGNED))
        if unknown or len(set(self.beside_pairs)) == len(ALIGNED):
            raise InputError(f"beside_pairs must name some of the aligned pairs {ALIGNED}, not all of them "
                             f"(the first process aligns the rest); got {self.beside_pairs}")

    def pairs(self, modality: str) -> int:
        """How many (image, ``modality``) pairs the world gets."""
        return int(self.pair_sizes.get(modality, self.pairs_per_modality))

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}

"""Small builders shared by the training tests: a tiny world, modules, trainers, manifests."""
from __future__ import annotations

import csv
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
from PIL import Image

from imagebind_lite.data.world import WorldConfig
from imagebind_lite.training import AlignmentModule, PairDataModule

TINY_WORLD = WorldConfig(num_concepts=4, image_size=32)


def module(pairs=("thermal",), **kwargs) -> AlignmentModule:
    kwargs.setdefault("warmup_steps", 2)
    kwargs.setdefault("total_steps", 20)
    return AlignmentModule(pivot="vision/tiny", modalities={m: "tiny" for m in pairs}, **kwargs)


def world_data(**kwargs) -> PairDataModule:
    kwargs.setdefault("train_size", 32)
    kwargs.setdefault("val_size", 0)
    kwargs.setdefault("batch_size", 8)
    return PairDataModule(world=TINY_WORLD, **kwargs)


def trainer(root, **kwargs) -> pl.Trainer:
    kwargs.setdefault("max_steps", 3)
    kwargs.setdefault("logger", False)
    kwargs.setdefault("enable_checkpointing", False)
    return pl.Trainer(accelerator="cpu", devices=1, default_root_dir=str(root), enable_progress_bar=False,
                      enable_model_summary=False, num_sanity_val_steps=0, **kwargs)


def write_thermal_manifest(root: Path, n: int = 24) -> Path:
    """A (vision, thermal) manifest of ``n`` small PNG pairs with labels."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        for modality, shape in (("vision", (32, 32, 3)), ("thermal", (32, 32))):
            path = root / modality / f"{i:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(path)
        rows.append({"id": f"s{i:03d}", "label": i % 3, "vision": f"vision/{i:03d}.png",
                     "thermal": f"thermal/{i:03d}.png"})
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest

"""Small builders shared by the training tests: a tiny world, modules, trainers, manifests."""
from __future__ import annotations

import csv
import json
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


CAPTIONS = [["a red dog", "a dog, red"], ["a cat"], ["a kettle", "steel kettle", "a kettle on a stove"],
            ["a drum"], ["two birds", "birds"], ["a tree"], ["a car", "red car"], ["a boat"]]


def _images(root: Path, n: int):
    rng = np.random.default_rng(0)
    for i in range(n):
        path = root / "img" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)


def write_caption_manifest(root: Path, form: str = "rows", captions=CAPTIONS) -> Path:
    """COCO-style rows (the image path repeated per caption) or JSONL list cells."""
    _images(root, len(captions))
    if form == "rows":
        path = root / "captions.csv"
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["id", "label", "vision", "text"])
            writer.writeheader()
            for i, texts in enumerate(captions):
                for k, text in enumerate(texts):
                    writer.writerow({"id": f"c{i}-{k}", "label": i % 3, "vision": f"img/{i}.png", "text": text})
        return path
    path = root / "captions.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"c{i}", "label": i % 3, "vision": f"./img/{i}.png", "text": texts})
                              for i, texts in enumerate(captions)))
    return path

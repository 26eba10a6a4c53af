"""The demo's training stages, each a plain Lightning run (the same path as ``imagebind-lite fit``).

1. write the synthetic world to files and manifests (world_stage.py: it needs no Lightning);
2. pretrain the pivot image encoder (the stand-in for CLIP weights) and freeze it;
3. align text, audio, depth, thermal and IMU, each only against images, with the
   pivot-embedding cache: one multi-pair run, or two side by side (``beside_alignment``) whose
   models are then combined, since no pair's gradient ever reaches another pair's encoder;
4. train the direct baseline: the same two encoders (tiny audio and text, from scratch) trained
   together on (audio, text) pairs, with the same per-modality budget as the alignment: the
   ceiling emergent audio-text alignment is reported against (emergent / direct ratio).

4 needs only the written world, so on a Linux CPU run ``beside_direct_baseline`` trains it in a
second process while the first pretrains the pivot (runner.py, background.py).
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Dict

import lightning.pytorch as pl

from imagebind_lite.demo.config import ALIGNED, DemoConfig

log = logging.getLogger(__name__)


def _trainer(config: DemoConfig, name: str, epochs: int, export_dir=None, callbacks=()) -> pl.Trainer:
    """Single device, quiet, a resumable ``last.ckpt`` under ``out_dir/checkpoints`` at most once a
    minute and at the end (once per epoch, the 40 MB state of the alignment's text encoder and
    optimizer took ~7 % of a short run); validation (whole held-out retrieval) only after the last
    epoch: it is the stage's result."""
    from imagebind_lite.training import make_trainer

    return make_trainer(export_dir=export_dir, checkpoint_dir=config.out_dir / "checkpoints" / name,
                        checkpoint_every_s=60.0, max_epochs=epochs, accelerator="auto",
                        check_val_every_n_epoch=epochs, progress=config.progress, callbacks=list(callbacks))


def _audio_overrides(config: DemoConfig) -> dict:
    return {"audio": {"data": dict(config.audio_data)}} if config.audio_data else {}


def _seed_stage(config: DemoConfig, stage: int) -> None:
    """Seed torch, numpy and Python before a stage builds its encoders: the run then depends on
    ``config.seed`` alone, not on whatever the process drew before (a notebook, a test suite)."""
    pl.seed_everything(config.seed * 1000 + stage, workers=True, verbose=False)


def beside_alignment(config: DemoConfig, pivot_dir: Path, world_paths: Dict[str, Path]) -> Path:
    """The second process's share of stage 3: the ``config.beside_pairs`` alignment, then the world
    preview (~2 s of matplotlib; this share is the smaller one, so its core would otherwise wait).
    No progress bars (they would interleave with the main ones) and no decoding workers (the
    process has one core)."""
    from imagebind_lite.demo.world_stage import preview_stage

    quiet = dataclasses.replace(config, progress=False, cache_workers=0)
    aligned = align_stage(quiet, pivot_dir, world_paths, modalities=tuple(config.beside_pairs))
    preview_stage(quiet)
    return aligned


def beside_direct_baseline(config: DemoConfig, world_paths: Dict[str, Path]) -> Path:
    """Stage 4 in a second process while the first pretrains the pivot (the baseline needs only
    the written world); quiet and single-core as above. Draws the world preview too when no
    pairs align beside the others."""
    from imagebind_lite.demo.world_stage import preview_stage

    quiet = dataclasses.replace(config, progress=False, cache_workers=0)
    direct = direct_baseline_stage(quiet, world_paths)
    if not config.beside_pairs:
        preview_stage(quiet)
    return direct


def pretrain_pivot_stage(config: DemoConfig, world_paths: Dict[str, Path], callbacks=()) -> Path:
    """Train the tiny vision encoder on labelled world images, export it, return its directory."""
    from imagebind_lite.training import PivotDataModule, PivotPretrainModule

    _seed_stage(config, 1)
    target = config.out_dir / "pivot"
    module = PivotPretrainModule(encoder="vision/tiny", num_classes=config.num_concepts)
    # the held-out images (only logged) come from what the pair collections have beyond the
    # training images, so they never take training images away
    spare = sum(config.pairs(m) for m in ALIGNED) - config.pivot_images
    data = PivotDataModule(manifests=[str(world_paths[m]) for m in ALIGNED], train_size=config.pivot_images,
                           val_size=max(64, min(512, config.pivot_images // 4, spare)), batch_size=config.batch_size,
                           num_workers=config.num_workers, cache_images=True, cache_workers=config.cache_workers)
    _trainer(config, "pivot", config.pivot_epochs, callbacks=callbacks).fit(module, data)
    module.export_model(target)
    return target


def align_stage(config: DemoConfig, pivot_dir: Path, world_paths: Dict[str, Path], callbacks=(),
                modalities=ALIGNED) -> Path:
    """The (image, X) pairs of ``modalities`` in one run, each its own loss and temperature;
    exported to ``out_dir/model`` when all five train here, else to a part to be combined."""
    from imagebind_lite.training import AlignmentModule, PairDataModule

    _seed_stage(config, 2)
    name = "align" if tuple(modalities) == ALIGNED else "align-" + "-".join(modalities)
    target = config.out_dir / ("model" if name == "align" else f"model_parts/{name}")
    module = AlignmentModule(pivot=str(pivot_dir), modalities={m: "tiny" for m in modalities}, lr=config.lr,
                             warmup_steps=20, encoder_overrides=_audio_overrides(config))
    data = PairDataModule(manifests={m: str(world_paths[m]) for m in modalities},
                          val_manifests={m: str(world_paths["eval"]) for m in modalities},
                          batch_size=config.batch_size, num_workers=config.num_workers, cache_inputs=True,
                          use_pivot_cache=True, cache_dir=str(config.out_dir / "cache"), on_bad_sample="skip",
                          seed=config.seed, class_prompts=str(world_paths["world"]), cache_workers=config.cache_workers)
    _trainer(config, name, config.align_epochs, export_dir=target, callbacks=list(callbacks)).fit(module, data)
    return target


def direct_baseline_stage(config: DemoConfig, world_paths: Dict[str, Path]) -> Path:
    """Fresh audio and text encoders trained together on (audio, text) pairs."""
    from imagebind_lite.training import AlignmentModule, PairDataModule

    _seed_stage(config, 3)
    target = config.out_dir / "direct_baseline"
    module = AlignmentModule(pivot="text/tiny", pivot_modality="text", train_pivot=True,
                             modalities={"audio": "tiny"}, lr=config.lr, warmup_steps=20,
                             encoder_overrides=_audio_overrides(config))
    data = PairDataModule(manifests={"audio": str(world_paths["audio_text"])},
                          val_manifests={"audio": str(world_paths["eval"])}, batch_size=config.batch_size,
                          num_workers=config.num_workers, cache_inputs=True, use_pivot_cache=False,
                          on_bad_sample="skip", seed=config.seed, cache_workers=config.cache_workers)
    _trainer(config, "direct", config.direct_epochs, export_dir=target).fit(module, data)
    return target

"""In-process training without YAML: what a script or notebook (and the demo) calls.

    from imagebind_lite.training import fit_alignment, pretrain_pivot
    pivot_dir = pretrain_pivot(WorldConfig(), "runs/pivot", max_epochs=4)
    metrics = fit_alignment(
        AlignmentModule(pivot=str(pivot_dir), modalities={"audio": "tiny"}, temperatures={"audio": 20.0}),
        PairDataModule(world=WorldConfig(), train_size=3072, cache_inputs=True),
        export_dir="runs/audio/model", max_epochs=4)

Both build their Lightning ``Trainer`` with ``make_trainer`` (quiet defaults: no progress bar
or model summary, CSV logs only when ``log_dir`` is given) and return the final logged
metrics as floats; pass any other ``Trainer`` argument through ``trainer_kwargs``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Optional

import lightning.pytorch as pl

from imagebind_lite.training.callbacks import ExportSavedModel
from imagebind_lite.training.monitoring import monitor_callbacks

log = logging.getLogger(__name__)


def make_trainer(export_dir=None, checkpoint_dir=None, log_dir=None, max_epochs: int = 3, max_steps: int = -1,
                 accelerator: str = "cpu", devices: Any = 1, precision: str = "32-true",
                 gradient_clip_val: Optional[float] = 1.0, progress: bool = False,
                 checkpoint_every_n_steps: Optional[int] = 50, check_val_every_n_epoch: Optional[int] = 1,
                 early_stopping=None, checkpoint=None, checkpoint_every_s: Optional[float] = None,
                 **trainer_kwargs) -> pl.Trainer:
    """The one Trainer factory of the library (fits, the demo's stages, batch inference).

    ``export_dir``: write the saved model there when fitting ends. ``checkpoint_dir``: keep a
    resumable ``last.ckpt`` there, every ``checkpoint_every_n_steps`` steps (None: at each
    epoch end), or at most every ``checkpoint_every_s`` seconds of training when that is given
    (and always when fitting ends): saving a small model's optimizer state costs ~0.2 s, which
    at one save per short epoch is a noticeable share of a short run. Only the latest state is
    kept: it is what resuming needs, and a second copy of it would double the disk use of a
    large model. ``log_dir``: CSV logs. Any other ``Trainer`` argument passes through ``trainer_kwargs``.

    ``early_stopping={"monitor": "val/audio/zero_shot_top1", "patience": 3, "mode": "max"}``: stop
    when the metric stops improving. ``checkpoint={"monitor": ..., "mode": "max", "save_top_k": 1}``:
    keep the best checkpoints (in ``checkpoint_dir`` unless ``dirpath`` is given) and export the
    best one's weights instead of the last (monitoring.py).
    """
    callbacks = list(trainer_kwargs.pop("callbacks", []))
    if export_dir is not None:
        callbacks.append(ExportSavedModel(str(export_dir)))
    if checkpoint_dir is not None:
        callbacks.append(_last_checkpoint(checkpoint_dir, checkpoint_every_n_steps, checkpoint_every_s))
    callbacks += monitor_callbacks(early_stopping, checkpoint, checkpoint_dir)
    logger = pl.loggers.CSVLogger(str(log_dir), name="") if log_dir is not None else False
    trainer_kwargs.setdefault("num_sanity_val_steps", 0)
    trainer_kwargs.setdefault("log_every_n_steps", 10)
    return pl.Trainer(accelerator=accelerator, devices=devices, precision=precision, max_epochs=max_epochs,
                      max_steps=max_steps, gradient_clip_val=gradient_clip_val, callbacks=callbacks,
                      logger=logger, enable_checkpointing=checkpoint_dir is not None or checkpoint is not None,
                      check_val_every_n_epoch=check_val_every_n_epoch,
                      enable_progress_bar=progress, enable_model_summary=False, **trainer_kwargs)


def _last_checkpoint(checkpoint_dir, every_n_steps: Optional[int], every_s: Optional[float]):
    """The resumable ``last.ckpt`` callback: by wall time when ``every_s`` is given, else by steps
    (None: each epoch end). Lightning saves it once more when fitting ends."""
    from datetime import timedelta

    from lightning.pytorch.callbacks import ModelCheckpoint

    trigger = ({"train_time_interval": timedelta(seconds=every_s)} if every_s is not None
               else {"every_n_train_steps": every_n_steps})
    return ModelCheckpoint(dirpath=str(checkpoint_dir), save_last=True, save_top_k=0, **trigger)


def _metrics(trainer: pl.Trainer) -> Dict[str, float]:
    return {key: float(value) for key, value in trainer.callback_metrics.items()}


def fit_alignment(module, data, export_dir=None, ckpt_path: Optional[str] = None, **trainer_args) -> Dict[str, float]:
    """Fit an ``AlignmentModule`` on a ``PairDataModule``; returns the last logged metrics."""
    trainer = make_trainer(export_dir=export_dir, **trainer_args)
    trainer.fit(module, data, ckpt_path=ckpt_path)
    return _metrics(trainer)


def pretrain_pivot(world=None, out_dir="runs/pivot", max_epochs: int = 4, train_size: int = 4096,
                   batch_size: int = 128, encoder: str = "vision/tiny", **trainer_args) -> Path:
    """Pretrain the tiny vision pivot on world images (see pretrain.py); returns the saved-model
    directory ``out_dir/model`` to pass as ``AlignmentModule(pivot=...)``."""
    from imagebind_lite.data.world import WorldConfig
    from imagebind_lite.training.pretrain import PivotDataModule, PivotPretrainModule

    world = world or WorldConfig()
    module = PivotPretrainModule(encoder=encoder, num_classes=world.num_concepts)
    data = PivotDataModule(world=world, train_size=train_size, batch_size=batch_size)
    model_dir = Path(out_dir) / "model"
    metrics = fit_alignment(module, data, export_dir=model_dir, max_epochs=max_epochs, **trainer_args)
    log.info("pivot pretrained: val top-1 %.3f -> %s", metrics.get("val/top1", float("nan")), model_dir)
    return model_dir

"""Early stopping and best-checkpoint export on a validation metric, with Lightning's callbacks.

``early_stopping: {monitor, patience, mode}`` becomes Lightning's ``EarlyStopping`` and
``checkpoint: {monitor, mode, save_top_k}`` a ``ModelCheckpoint(monitor=...)`` (both in
``make_trainer`` and in the ``fit`` config). When a monitored checkpoint exists, the saved model
written at the end of ``fit`` (``ExportSavedModel``) is that checkpoint's best epoch, not the
last one: on small data the last epoch is often an overfitted one. Checkpoints are read with
``torch.load(weights_only=True)``: no pickled code runs when a run's best weights come back.
Reference: Lightning docs, "Early Stopping" and "Customize checkpointing behavior".
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, List, Optional

import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from imagebind_lite.errors import InputError

log = logging.getLogger(__name__)

MODES = ("max", "min")


@dataclasses.dataclass
class EarlyStoppingOptions:
    monitor: str                    # a logged metric, e.g. "val/audio/zero_shot_top1"
    patience: int = 3               # validations without improvement before training stops
    mode: str = "max"               # "max" for accuracies, "min" for losses
    min_delta: float = 0.0          # the smallest change that counts as an improvement


@dataclasses.dataclass
class CheckpointOptions:
    monitor: str                    # a logged metric, e.g. "val/audio/zero_shot_top1"
    mode: str = "max"               # "max" for accuracies, "min" for losses
    save_top_k: int = 1             # best checkpoints kept on disk
    dirpath: Optional[str] = None   # default: the run's checkpoint directory


def _options(value: Any, cls):
    """A dataclass from itself, a dict or a jsonargparse Namespace (None stays None)."""
    if value is None or isinstance(value, cls):
        return value
    given = dict(vars(value)) if hasattr(value, "__dict__") and not isinstance(value, dict) else dict(value)
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise InputError(f"{cls.__name__}: unknown option(s) {unknown}; options: {', '.join(known)}")
    if not given.get("monitor"):
        raise InputError(f"{cls.__name__}: name the logged metric to watch, e.g. monitor: val/audio/zero_shot_top1")
    options = cls(**given)
    if options.mode not in MODES:
        raise InputError(f"{cls.__name__}: mode must be one of {MODES}, got {options.mode!r}")
    return options


def monitor_callbacks(early_stopping: Any = None, checkpoint: Any = None,
                      default_dirpath: Optional[str] = None) -> List[Callback]:
    """Lightning callbacks for the ``early_stopping`` and ``checkpoint`` options (either may be None)."""
    stop = _options(early_stopping, EarlyStoppingOptions)
    best = _options(checkpoint, CheckpointOptions)
    callbacks: List[Callback] = []
    if stop is not None:
        callbacks.append(EarlyStopping(monitor=stop.monitor, patience=stop.patience, mode=stop.mode,
                                       min_delta=stop.min_delta))
    if best is not None:
        dirpath = best.dirpath or default_dirpath
        callbacks.append(ModelCheckpoint(dirpath=None if dirpath is None else str(dirpath),
                                         filename="best-{epoch}-{step}", monitor=best.monitor, mode=best.mode,
                                         save_top_k=best.save_top_k))
    return callbacks


def monitored_checkpoint(trainer) -> Optional[ModelCheckpoint]:
    """The trainer's first ``ModelCheckpoint`` that watches a metric, if any."""
    monitored = [c for c in trainer.checkpoint_callbacks if getattr(c, "monitor", None)]
    if len(monitored) > 1:
        log.warning("%d checkpoints watch a metric; the best of the first (%s) is exported",
                    len(monitored), monitored[0].monitor)
    return monitored[0] if monitored else None


def restore_best_weights(trainer, module) -> Optional[str]:
    """Load the monitored checkpoint's best weights into ``module``; its path, or None (nothing to load).

    Called by the exporting process (global rank 0) only: under DDP the other processes end ``fit``
    with the last weights, and nothing needs the checkpoint file on another node's disk."""
    callback = monitored_checkpoint(trainer)
    if callback is None:
        return None
    path = callback.best_model_path
    if not path or not Path(path).is_file():
        log.warning("checkpoint on %s saved nothing (did validation run?): exporting the last weights",
                    callback.monitor)
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    module.load_state_dict(state)
    return path

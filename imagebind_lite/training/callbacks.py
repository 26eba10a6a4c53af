"""Callbacks: per-pair throughput logging, and export of the trained model at the end of fit.

``ThroughputLogger`` logs ``train/<pair>/samples_per_sec`` from wall time between consecutive
batch ends (data loading included: what a user waits for), skipping the first step (warm-up).
``ExportSavedModel`` writes the saved-model format (``imagebind_lite.load_model`` reads it)
from global rank 0 when fit ends; the module decides what to export (``export_model``). With a
``ModelCheckpoint`` that monitors a metric, the best checkpoint's weights are loaded into the
module first and exported (``best=False``: the last weights); see monitoring.py.
Reference: Lightning's Callback hooks and its ThroughputMonitor (not used: it needs FLOPs).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Dict, Optional

import lightning.pytorch as pl
from lightning.pytorch.utilities import rank_zero_only

from imagebind_lite.training.monitoring import restore_best_weights

log = logging.getLogger(__name__)


def _pair_sizes(batch: Any, module) -> Dict[str, int]:
    if not isinstance(batch, dict):
        return {}
    if "ids" in batch:
        return {module.modality_of(batch): len(batch["ids"])}
    return {m: len(p["ids"]) for m, p in batch.items() if isinstance(p, dict) and "ids" in p}


class ThroughputLogger(pl.Callback):
    """Samples per second per pair, and for all pairs together."""

    def __init__(self, log_every_n_steps: Optional[int] = None):
        self.log_every_n_steps = log_every_n_steps  # None: the trainer's log_every_n_steps
        self._last: Optional[float] = None
        self.history: list = []  # (step, {pair: samples/s}) for tests and benchmarks

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._last = None  # do not count validation or epoch boundaries as training time

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        now = time.perf_counter()
        last, self._last = self._last, now
        if last is None:
            return
        elapsed = max(now - last, 1e-9)
        rates = {m: n / elapsed for m, n in _pair_sizes(batch, pl_module).items()}
        self.history.append((trainer.global_step, rates))
        every = max(1, self.log_every_n_steps or trainer.log_every_n_steps)
        if trainer.global_step % every and batch_idx != 1:  # the first timed step of an epoch is logged
            return
        for modality, rate in rates.items():
            pl_module.log(f"train/{modality}/samples_per_sec", rate, on_step=True, on_epoch=False)
        if rates:
            pl_module.log("train/samples_per_sec", sum(rates.values()), on_step=True, on_epoch=False)


class ExportSavedModel(pl.Callback):
    """At the end of ``fit``, write ``pl_module.export_model(dirpath)`` (rank 0 only); the best
    monitored checkpoint's weights when there is one and ``best`` is on."""

    def __init__(self, dirpath: str = "model", best: bool = True):
        self.dirpath = dirpath
        self.best = best

    def on_fit_end(self, trainer, pl_module) -> None:
        if trainer.interrupted:
            return  # an interrupted run has not finished: keep its checkpoints, export nothing
        self._export(trainer, pl_module)
        trainer.strategy.barrier("export-saved-model")

    @rank_zero_only
    def _export(self, trainer, pl_module) -> None:
        directory = Path(self.dirpath).expanduser()  # relative paths are relative to the cwd
        source = restore_best_weights(trainer, pl_module) if self.best else None
        pl_module.export_model(directory)
        log.info("exported the trained model (%s) to %s", f"best checkpoint {source}" if source else "last weights",
                 directory)

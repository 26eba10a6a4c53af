"""``imagebind-lite fit|validate|test|predict --config ...``: LightningCLI on our modules.

Model and data are given with ``class_path`` (subclass mode), so one CLI serves the alignment
run (``AlignmentModule`` + ``PairDataModule``) and the pivot pretraining
(``PivotPretrainModule`` + ``PivotDataModule``); short class names work, e.g.
``class_path: AlignmentModule``. LightningCLI's SaveConfigCallback writes the resolved
config (``config.yaml``) into each run's log directory. Top-level ``early_stopping: {monitor,
patience, mode}`` and ``checkpoint: {monitor, mode, save_top_k}`` add Lightning's EarlyStopping
and a monitored ModelCheckpoint, whose best weights become the exported model
(training/monitoring.py). Errors about user input print one
clear line and exit with status 2 instead of a torch traceback.
Reference: Lightning docs, "Configure hyperparameters from the CLI".
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.cli import LightningCLI

from imagebind_lite.errors import ImageBindLiteError
from imagebind_lite.training.monitoring import CheckpointOptions, EarlyStoppingOptions, monitor_callbacks


def add_monitor_options(parser) -> None:
    """The config's top-level ``early_stopping`` and ``checkpoint`` keys (training/monitoring.py)."""
    parser.add_argument("--early_stopping", type=Optional[EarlyStoppingOptions], default=None,
                        help="stop when a logged metric stops improving: {monitor, patience, mode, min_delta}")
    parser.add_argument("--checkpoint", type=Optional[CheckpointOptions], default=None,
                        help="keep the best checkpoints on a logged metric and export the best one: "
                             "{monitor, mode, save_top_k, dirpath}")


class ImageBindLiteCLI(LightningCLI):
    """LightningCLI with imagebind-lite's modules importable by short name."""

    def add_arguments_to_parser(self, parser) -> None:
        # Trainer defaults that suit alignment runs; every one can be overridden in YAML/CLI.
        parser.set_defaults({"trainer.log_every_n_steps": 10})
        add_monitor_options(parser)

    def instantiate_trainer(self, **kwargs):
        extra = monitor_callbacks(self._get(self.config_init, "early_stopping"),
                                  self._get(self.config_init, "checkpoint"))
        if extra:  # after the YAML's own callbacks (the trainer puts checkpoints last anyway)
            trainer = self._get(self.config_init, "trainer", default={}) or {}
            given = kwargs.get("callbacks", trainer.get("callbacks")) or []
            kwargs["callbacks"] = (given if isinstance(given, list) else [given]) + extra
        return super().instantiate_trainer(**kwargs)


def _register_short_names() -> None:
    # Importing makes the classes visible to jsonargparse's subclass resolution.
    import imagebind_lite.training  # noqa: F401


def run_lightning_cli(argv: Optional[Sequence[str]] = None) -> ImageBindLiteCLI:
    """Run LightningCLI on ``argv`` (e.g. ``["fit", "--config", "configs/world/align_audio.yaml"]``)."""
    _register_short_names()
    # From the console script argv *is* sys.argv[1:]; passing it again makes LightningCLI warn.
    args = None if argv is None or list(argv) == sys.argv[1:] else list(argv)
    try:
        return ImageBindLiteCLI(
            LightningModule, LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
            args=args, seed_everything_default=0, save_config_kwargs={"overwrite": True},
            auto_configure_optimizers=False,
        )
    except (ImageBindLiteError, ValueError) as exc:
        ours = _our_error(exc)
        if ours is None:
            raise
        print(f"error: {ours}", file=sys.stderr)
        raise SystemExit(2) from exc


def _our_error(exc: BaseException) -> Optional[str]:
    """Our input error, even when jsonargparse re-raised it while building a class."""
    seen = exc
    while seen is not None:
        if isinstance(seen, ImageBindLiteError):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    # jsonargparse folds instantiation errors of Union types into one ValueError's text
    for line in str(exc).splitlines():
        if line.strip().startswith("- [modality"):  # InputError's "[modality ...]" prefix
            return line.strip()[2:]
    return None

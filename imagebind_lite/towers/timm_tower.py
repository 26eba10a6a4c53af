"""timm models as trunks, with weights and preprocessing through timm itself.

Weights come from a local file through timm's own loader (``pretrained_cfg_overlay=dict(file=...)``),
so a checkpoint timm can read, including the formats its per-model filters convert, loads as
in timm; the hub is used only when asked. The model is headless (``num_classes=0``): it returns
pooled features ``[B, num_features]``. Its preprocessing is timm's evaluation transform from
``resolve_data_config``: the model's own input size, interpolation, mean/std and crop, not
ImageNet defaults. References: timm ``create_model``, ``resolve_data_config``, ``create_transform``.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn

from imagebind_lite.errors import CheckpointError, UnknownNameError
from imagebind_lite.towers.logs import collected_logs

TIMM_PREPROCESS = "timm"
# timm data-config fields a user may set in an encoder's data config (beside "image_size")
TIMM_DATA_KEYS = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode")
# what timm only logs when a checkpoint leaves parameters out or brings ones the model lacks
_MISFIT_PREFIXES = ("Missing keys", "Unexpected keys")


class TimmTrunk(nn.Module):
    """``[B, 3, H, W]`` -> pooled features ``[B, num_features]``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    @property
    def num_features(self) -> int:
        return int(self.model.num_features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)


def create_timm_model(name: Optional[str], weights: Optional[str] = None, hub: bool = False,
                      kwargs: Optional[dict] = None) -> nn.Module:
    """Headless ``name``; weights from the local file ``weights``, the hub (``hub``), or none."""
    import timm

    if not name or not timm.is_model(name):
        raise UnknownNameError(f"unknown timm model {name!r}; any name from timm.list_models() works, e.g. 'resnet18'")
    if weights is not None and not Path(weights).is_file():
        raise CheckpointError(f"timm weights file not found: {weights}")
    overlay = {"file": str(weights)} if weights is not None else None
    with collected_logs("timm.models._builder") as messages:
        try:
            model = timm.create_model(name, pretrained=weights is not None or hub, pretrained_cfg_overlay=overlay,
                                      num_classes=0, **(kwargs or {}))
        except Exception as exc:  # unpickling refusals, shape mismatches, unreadable files
            if weights is None:
                raise
            raise CheckpointError(f"cannot load {weights} into timm model {name!r}: {type(exc).__name__}: {exc}") from exc
    misfit = [m for m in messages if m.startswith(_MISFIT_PREFIXES)]
    if misfit and weights is not None:  # timm loads non-strictly once it drops the classifier
        raise CheckpointError(f"{weights} does not fit timm model {name!r}: {' '.join(misfit)[:600]}")
    return model


def timm_data_config(model: nn.Module, asked: dict) -> dict:
    """timm's evaluation data config for ``model``; entries the user set in ``asked`` win."""
    from timm.data import resolve_data_config

    args = {key: asked[key] for key in TIMM_DATA_KEYS if asked.get(key) is not None}
    if asked.get("image_size") is not None and "input_size" not in args:
        args["img_size"] = int(asked["image_size"])
    resolved = resolve_data_config(args, model=model)
    input_size = [int(v) for v in resolved["input_size"]]
    return {
        "preprocess": TIMM_PREPROCESS, "image_size": max(input_size[1:]), "input_size": input_size,
        "interpolation": str(resolved["interpolation"]), "mean": [float(v) for v in resolved["mean"]],
        "std": [float(v) for v in resolved["std"]], "crop_pct": float(resolved["crop_pct"]),
        "crop_mode": str(resolved.get("crop_mode", "center")),
    }


def timm_transform(data: dict) -> Callable[[Any], torch.Tensor]:
    """timm's own evaluation transform for a data config ``timm_data_config`` wrote (cached per
    process: transforms are rebuilt in each DataLoader worker, never pickled)."""
    return _transform(json.dumps({key: data[key] for key in TIMM_DATA_KEYS}, sort_keys=True))


@lru_cache(maxsize=16)
def _transform(frozen: str):
    from timm.data import create_transform

    config = json.loads(frozen)
    return create_transform(input_size=tuple(config["input_size"]), interpolation=config["interpolation"],
                            mean=tuple(config["mean"]), std=tuple(config["std"]), crop_pct=config["crop_pct"],
                            crop_mode=config["crop_mode"], is_training=False)

"""Any timm model as a vision trunk, with weights from a local file (or the hub, on request).

The model is created headless (``num_classes=0``) so it returns pooled features
``[B, model.num_features]``; the shared ``Head`` then projects them to the embedding space.
``TIMM_KIND`` is the trunk kind a modality offers to get it (vision does, as ``"timm"``).
Weights come from a local ``.safetensors`` file or a torch checkpoint read with
``weights_only=True`` (no pickle code runs); the hub is used only when ``trunk["hub"]`` is true.
References: timm ``create_model`` / ``load_checkpoint`` (we keep our own small loader so that
classifier weights are dropped and a mismatching file fails loudly).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from imagebind_lite.config import EncoderConfig
from imagebind_lite.errors import CheckpointError, UnknownNameError
from imagebind_lite.layers import PassThroughStem
from imagebind_lite.modalities.vision_image import IMAGENET_MEAN, IMAGENET_STD
from imagebind_lite.trunk_kinds import BuiltTrunk, TrunkKind

log = logging.getLogger(__name__)

# Wrappers that training scripts put around a state dict.
STATE_DICT_KEYS = ("state_dict", "model", "module")
# timm's default preprocessing; a config's own data entries win.
IMAGENET_DATA = {"image_size": 224, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "interpolation": "bicubic"}


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


def create_timm_trunk(trunk: dict) -> TimmTrunk:
    """Build ``trunk["timm_model"]`` headless; load ``trunk["pretrained_path"]`` when given."""
    import timm

    name = trunk.get("timm_model")
    if not name or not timm.is_model(name):
        raise UnknownNameError(
            f"unknown timm model {name!r}; any name from timm.list_models() works, e.g. 'resnet18'"
        )
    hub = bool(trunk.get("hub", False))
    model = timm.create_model(name, pretrained=hub, num_classes=0, **trunk.get("timm_kwargs", {}))
    path: Optional[str] = trunk.get("pretrained_path")
    if path:
        load_local_weights(model, Path(path))
    return TimmTrunk(model)


def build_timm_trunk(config: EncoderConfig) -> BuiltTrunk:
    """The timm trunk named by ``config.trunk``, and the config to record.

    The head reads the pooled width from the config, so it is recorded there (and in
    config.json). Once loaded, the weights live in the encoder's state dict: the recorded config
    drops the weight source (kept as ``initialised_from``) so a saved model reloads without that
    file or the network.
    """
    trunk = create_timm_trunk(config.trunk)
    source = config.trunk.get("pretrained_path") or ("hub" if config.trunk.get("hub") else None)
    recorded = config.replace(pool="none", data={**IMAGENET_DATA, **config.data}, trunk={
        "kind": "timm", "output_width": trunk.num_features, "pretrained_path": None, "hub": False,
        "initialised_from": source or config.trunk.get("initialised_from"),
    })
    return BuiltTrunk(trunk, recorded)


def image_stem(config: EncoderConfig) -> PassThroughStem:
    """timm models patchify (or convolve) the image themselves; one sample is [3, H, W]."""
    return PassThroughStem(input_ndim=3)


TIMM_KIND = TrunkKind(build_timm_trunk, keys=("timm_model",), stem=image_stem)


def read_state_dict(path: Path) -> dict:
    """A safetensors file or a pickle-free torch checkpoint -> flat ``{name: tensor}``."""
    if not path.is_file():
        raise CheckpointError(f"timm weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # safetensors/pickle-guard errors vary; name the file instead
        raise CheckpointError(f"cannot read timm weights {path}: {type(exc).__name__}: {exc}") from exc
    for key in STATE_DICT_KEYS:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state dict")
    # DataParallel/DDP checkpoints prefix every key with "module.".
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def load_local_weights(model: nn.Module, path: Path) -> None:
    """Load a local checkpoint into a headless timm model; classifier weights are ignored."""
    state = read_state_dict(path)
    classifier = getattr(model, "pretrained_cfg", {}).get("classifier") or ()
    prefixes = tuple(f"{c}." for c in ([classifier] if isinstance(classifier, str) else classifier))
    dropped = [k for k in state if prefixes and k.startswith(prefixes)]
    state = {k: v for k, v in state.items() if k not in dropped}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise CheckpointError(f"{path} does not fit timm model: {exc}") from exc
    if missing or unexpected:
        raise CheckpointError(
            f"{path} does not fit timm model: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    log.info("loaded timm weights from %s (%d tensors, dropped classifier %s)", path, len(state), dropped)

"""Official ImageBind checkpoint <-> imagebind-lite ``MultiModalModel``.

``from_official`` derives each encoder's ``EncoderConfig`` from the checkpoint's tensor shapes
(width, depth, MLP ratio, output dim, extra key/value token, ln_pre, post-scale), starting from
the modality's ``imagebind_huge`` preset for what shapes cannot tell: the number of attention
heads (``nn.MultiheadAttention`` stores none), drop-path rates, stem strides and the data config.
So the same code converts the released ImageBind-huge weights and the small random-weight
models the parity tests build. Weights are assigned, not copied: the model shares storage with
the state dict it came from, which keeps converting the 4.8 GB checkpoint within memory.
Reference: ImageBind ``imagebind/models/imagebind_model.py`` (Girdhar et al. 2023).
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Iterable, Mapping, Optional

import torch

from imagebind_lite.compat.imagebind_checkpoint import official_to_ours, ours_to_official
from imagebind_lite.config import EncoderConfig
from imagebind_lite.encoder import Encoder
from imagebind_lite.errors import CheckpointError
from imagebind_lite.factory import create_encoder
from imagebind_lite.model import MultiModalModel
from imagebind_lite.registry import get_modality
from imagebind_lite.saved_model import save_model

log = logging.getLogger(__name__)

BASE_PRESET = "imagebind_huge"
_CONTAINER_KEYS = ("state_dict", "model", "module")  # wrappers some training scripts add
_WRAPPER_PREFIXES = ("module.", "model.")


def config_from_weights(modality: str, state: Mapping[str, torch.Tensor],
                        num_heads: Optional[int] = None) -> EncoderConfig:
    """Our ``EncoderConfig`` for one converted encoder state dict (``stem.*``, ``trunk.*``...)."""
    base = get_modality(modality).preset(BASE_PRESET)
    width = state["trunk.blocks.0.norm_1.weight"].shape[0]
    depth = len({key.split(".")[2] for key in state if key.startswith("trunk.blocks.")})
    scale = state.get("post.log_scale")
    derived = dict(
        width=width, depth=depth, embed_dim=state["head.proj.weight"].shape[0],
        mlp_ratio=state["trunk.blocks.0.mlp.fc1.weight"].shape[0] / width,
        extra_kv="trunk.blocks.0.attn.bias_k" in state, pre_norm="trunk.pre_norm.weight" in state,
        output_scale=_output_scale(scale, base.output_scale),
        num_heads=num_heads or base.num_heads,
    )
    if num_heads is None and width != base.width:  # heads cannot be read from weights: say what was assumed
        log.warning("%s: width %d differs from %s's %d; assuming %d attention heads (pass num_heads if not)",
                    modality, width, BASE_PRESET, base.width, base.num_heads)
    if width % derived["num_heads"]:
        raise CheckpointError(
            f"{modality}: width {width} is not divisible by {derived['num_heads']} heads; the checkpoint "
            "does not store the head count, pass it (num_heads / --num-heads)"
        )
    unchanged = all(getattr(base, name) == value for name, value in derived.items() if name != "output_scale")
    return base.replace(**derived, preset=BASE_PRESET if unchanged else "imagebind_converted")


def _output_scale(log_scale: Optional[torch.Tensor], preset_scale: Optional[float]) -> Optional[float]:
    """The post-scale the weights hold; the preset's round number when they agree to float32 precision."""
    if log_scale is None:
        return None
    scale = math.exp(float(log_scale))
    return preset_scale if preset_scale and math.isclose(scale, preset_scale, rel_tol=1e-6) else scale


def build_loaded_encoder(config: EncoderConfig, state: Mapping[str, torch.Tensor]) -> Encoder:
    """Build an encoder for ``config`` and load ``state`` strictly.

    ``assign=True`` swaps the checkpoint's tensors in instead of copying them, so the random
    initial weights are freed at once and peak memory stays at one checkpoint plus one encoder.
    (A meta-device build would skip the init too, but the trunk computes its drop-path ramp
    with ``torch.linspace(...).tolist()``, which meta tensors cannot do.)
    """
    encoder = create_encoder(config)
    try:
        encoder.load_state_dict(dict(state), strict=True, assign=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{config.modality}: checkpoint does not fit the {config.preset} layout: {exc}") from exc
    return encoder.eval()


def from_official(state_dict: Mapping[str, torch.Tensor], modalities: Optional[Iterable[str]] = None,
                  num_heads: Optional[Mapping[str, int]] = None) -> MultiModalModel:
    """Official ImageBind state dict -> ``MultiModalModel`` (eval mode) with the same outputs."""
    states = official_to_ours(state_dict, modalities)
    encoders = {}
    for modality, state in states.items():
        config = config_from_weights(modality, state, (num_heads or {}).get(modality))
        encoders[modality] = build_loaded_encoder(config, state)
        log.info("converted %s: width %d, depth %d, heads %d, %.1fM parameters", modality, config.width,
                 config.depth, config.num_heads, sum(p.numel() for p in encoders[modality].parameters()) / 1e6)
    return MultiModalModel(encoders).eval()


def to_official(model: MultiModalModel) -> dict[str, torch.Tensor]:
    """Our model -> official ImageBind state dict (for the official code or other tools)."""
    return ours_to_official({m: encoder.state_dict() for m, encoder in model.encoders.items()})


def load_official_checkpoint(path) -> dict[str, torch.Tensor]:
    """Read an official ``.pth`` safely (``weights_only=True``: tensors only, no arbitrary pickle)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        loaded = _torch_load(path)
    except Exception as exc:  # zip/pickle/unpickler errors come in many types
        raise CheckpointError(f"cannot read {path} as a PyTorch checkpoint (weights only): {exc}") from exc
    while isinstance(loaded, dict) and len(loaded) == 1 and next(iter(loaded)) in _CONTAINER_KEYS:
        loaded = next(iter(loaded.values()))
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors")
    return _strip_wrapper_prefix(loaded)


def _strip_wrapper_prefix(state: dict) -> dict:
    """``module.`` (DDP) / ``model.`` (Lightning-style wrappers) before every key -> plain ImageBind keys."""
    while state:  # wrappers nest in any order (model.module.<key>)
        prefix = next((p for p in _WRAPPER_PREFIXES if all(key.startswith(p) for key in state)), None)
        if prefix is None:
            break
        state = {key[len(prefix):]: value for key, value in state.items()}
    return state


def _torch_load(path: Path):
    try:  # memory-map the zip format: a 4.8 GB checkpoint then costs no second copy in RAM
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc):
            raise
        return torch.load(path, map_location="cpu", weights_only=True)  # legacy (non-zip) files


def convert_checkpoint(checkpoint, out_dir, modalities: Optional[Iterable[str]] = None,
                       num_heads: Optional[Mapping[str, int]] = None,
                       dtype: Optional[torch.dtype] = None) -> MultiModalModel:
    """``imagebind_huge.pth`` -> saved-model directory ``out_dir`` that ``load_model`` serves."""
    model = from_official(load_official_checkpoint(checkpoint), modalities, num_heads)
    if dtype is not None:
        model = model.to(dtype)
    save_model(model, out_dir)
    return model

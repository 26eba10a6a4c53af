"""Key mapping between the official ImageBind state dict and our per-modality encoders.

The official checkpoint (Girdhar et al. 2023, ``imagebind_model.ImageBindModel``) keeps one
flat dict whose keys start with ``modality_preprocessors.<m>.``, ``modality_trunks.<m>.``,
``modality_heads.<m>.`` and ``modality_postprocessors.<m>.``. Ours is one state dict per
encoder with keys ``stem.*``, ``trunk.*``, ``head.*``, ``post.*``. Every rule below is a pair of
templates (official, ours) used in both directions, so the two directions cannot drift apart.

Only two tensors change shape or value on the way:
- vision stem: ImageBind runs a Conv3d with kernel (2, 14, 14) over an image repeated into two
  frames, which equals a Conv2d whose kernel is the sum of the two time taps. Back to official
  we split the kernel evenly over the taps (exact in float: halving and re-adding is lossless),
  so ours -> official -> ours is the identity, while official -> ours -> official keeps the
  output but not the individual taps.
- text causal mask: ImageBind stores its additive -inf mask as a buffer; our trunk builds the
  mask on the fly, so it is dropped on the way in and rebuilt on the way out.
"""
from __future__ import annotations

import re
from typing import Iterable, Mapping, Optional

import torch

from imagebind_lite.errors import CheckpointError

MODALITIES = ("vision", "text", "audio", "depth", "thermal", "imu")
VISION_TIME_TAPS = 2  # ImageBind's image-as-video kernel depth (kernel_size=(2, 14, 14))
TEXT_MASK_KEY = "modality_preprocessors.text.mask"

_PATCH_STEM = {  # ImageBind stem attribute names per modality (RGBDTPreprocessor & co.)
    "audio": "rgbt_stem", "thermal": "rgbt_stem", "depth": "depth_stem", "imu": "imu_stem",
}
_BLOCK_RULES = (  # BlockWithMasking over nn.MultiheadAttention -> our Block over SDPA
    ("blocks.{i}.attn.in_proj_weight", "blocks.{i}.attn.qkv.weight"),
    ("blocks.{i}.attn.in_proj_bias", "blocks.{i}.attn.qkv.bias"),
    ("blocks.{i}.attn.out_proj.weight", "blocks.{i}.attn.proj.weight"),
    ("blocks.{i}.attn.out_proj.bias", "blocks.{i}.attn.proj.bias"),
    ("blocks.{i}.attn.bias_k", "blocks.{i}.attn.bias_k"),
    ("blocks.{i}.attn.bias_v", "blocks.{i}.attn.bias_v"),
    *((f"blocks.{{i}}.{name}.{p}", f"blocks.{{i}}.{name}.{p}")
      for name in ("norm_1", "norm_2", "mlp.fc1", "mlp.fc2") for p in ("weight", "bias")),
    ("pre_transformer_layer.0.weight", "pre_norm.weight"),  # vision's ln_pre
    ("pre_transformer_layer.0.bias", "pre_norm.bias"),
)


def _stem_rules(modality: str) -> list[tuple[str, str]]:
    if modality == "vision":
        return [("cls_token", "cls_token"), ("rgbt_stem.proj.1.weight", "proj.weight"),
                ("pos_embedding_helper.pos_embed", "pos_embed")]
    if modality == "text":
        return [("token_embedding.weight", "token_embedding.weight"), ("pos_embed", "pos_embed")]
    stem = _PATCH_STEM[modality]
    # IMU keeps its position embedding on the preprocessor itself, the others in a helper.
    pos = "pos_embed" if modality == "imu" else "pos_embedding_helper.pos_embed"
    return [("cls_token", "cls_token"), (f"{stem}.proj.weight", "proj.weight"),
            (f"{stem}.norm_layer.weight", "norm.weight"), (f"{stem}.norm_layer.bias", "norm.bias"),
            (pos, "pos_embed")]


def _head_rules(modality: str) -> list[tuple[str, str]]:
    if modality == "text":  # SelectEOSAndProject(proj=Sequential(LayerNorm, Linear))
        return [("proj.0.weight", "norm.weight"), ("proj.0.bias", "norm.bias"), ("proj.1.weight", "proj.weight")]
    linear = 3 if modality == "imu" else 2  # IMU has Dropout(0.5) at index 2
    return [("0.weight", "norm.weight"), ("0.bias", "norm.bias"), (f"{linear}.weight", "proj.weight")]


def rules(modality: str) -> list[tuple[str, str]]:
    """All (official key template, our key template) pairs of one modality; ``{i}`` = block index."""
    if modality not in MODALITIES:
        raise CheckpointError(f"ImageBind has no {modality!r} branch; it has {', '.join(MODALITIES)}")
    sections = (
        (f"modality_preprocessors.{modality}.", "stem.", _stem_rules(modality)),
        (f"modality_trunks.{modality}.", "trunk.", _BLOCK_RULES),
        (f"modality_heads.{modality}.", "head.", _head_rules(modality)),
    )
    pairs = [(official + a, ours + b) for official, ours, table in sections for a, b in table]
    if modality != "vision":  # vision has no post-scale; the others LearnableLogitScaling at index 1
        pairs.append((f"modality_postprocessors.{modality}.1.log_logit_scale", "post.log_scale"))
    return pairs


def _compile(template: str) -> re.Pattern:
    return re.compile(re.escape(template).replace(re.escape("{i}"), r"(?P<i>\d+)") + "$")


def _rename(key: str, compiled: list[tuple[re.Pattern, str]]) -> Optional[str]:
    for pattern, target in compiled:
        match = pattern.match(key)
        if match:
            return target.replace("{i}", match.groupdict().get("i") or "")
    return None


def official_modalities(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """The ImageBind branches present in a state dict, in ImageBind's order."""
    return [m for m in MODALITIES if any(k.startswith(f"modality_trunks.{m}.") for k in state_dict)]


def official_to_ours(state_dict: Mapping[str, torch.Tensor],
                     modalities: Optional[Iterable[str]] = None) -> dict[str, dict[str, torch.Tensor]]:
    """Official flat state dict -> ``{modality: our encoder state dict}``; unknown keys raise."""
    wanted = list(modalities) if modalities is not None else official_modalities(state_dict)
    compiled = {m: [(_compile(o), ours) for o, ours in rules(m)] for m in wanted}
    converted: dict[str, dict[str, torch.Tensor]] = {m: {} for m in wanted}
    unknown = []
    for key, tensor in state_dict.items():
        modality = _modality_of(key)
        if modality not in MODALITIES:
            unknown.append(key)
            continue
        if modality not in compiled or key == TEXT_MASK_KEY:
            continue  # a branch the caller did not ask for, or the mask our trunk builds itself
        ours = _rename(key, compiled[modality])
        if ours is None:
            unknown.append(key)
            continue
        converted[modality][ours] = _tensor_to_ours(modality, ours, tensor)
    if unknown:
        raise CheckpointError(f"not an ImageBind checkpoint this converter knows: unexpected keys {unknown[:8]}"
                              + (f" and {len(unknown) - 8} more" if len(unknown) > 8 else ""))
    missing = [m for m in wanted if not converted[m]]
    if missing:
        raise CheckpointError(f"the checkpoint has no {', '.join(missing)} branch")
    return converted


def ours_to_official(states: Mapping[str, Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``{modality: our encoder state dict}`` -> official flat state dict (ImageBind key names)."""
    flat: dict[str, torch.Tensor] = {}
    for modality, state in states.items():
        compiled = [(_compile(ours), official) for official, ours in rules(modality)]
        for key, tensor in state.items():
            official = _rename(key, compiled)
            if official is None:
                raise CheckpointError(f"{modality} weight {key!r} has no ImageBind counterpart")
            flat[official] = _tensor_to_official(modality, key, tensor)
        if modality == "text":
            length = state["stem.pos_embed"].shape[1]
            flat[TEXT_MASK_KEY] = torch.full((length, length), float("-inf")).triu_(1)
    return flat


def _modality_of(key: str) -> Optional[str]:
    parts = key.split(".")
    return parts[1] if len(parts) > 2 and parts[0].startswith("modality_") else None


def _tensor_to_ours(modality: str, key: str, tensor: torch.Tensor) -> torch.Tensor:
    if modality == "vision" and key == "stem.proj.weight" and tensor.dim() == 5:
        return tensor.sum(dim=2)  # Conv3d over repeated frames == Conv2d with summed taps
    return tensor


def _tensor_to_official(modality: str, key: str, tensor: torch.Tensor) -> torch.Tensor:
    if modality == "vision" and key == "stem.proj.weight" and tensor.dim() == 4:
        taps = (tensor / VISION_TIME_TAPS).unsqueeze(2)
        return taps.repeat(1, 1, VISION_TIME_TAPS, 1, 1)
    return tensor

"""Building encoders from names: the one place a preset name becomes modules.

``create_encoder("audio/tiny", embed_dim=32)`` looks the modality up in the registry, takes the
preset's config, applies the overrides (dict fields are merged) and lets the modality's stage
hooks build it. A full ``EncoderConfig`` (from a saved model's ``config.json``) builds the same way.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from imagebind_lite.config import EncoderConfig
from imagebind_lite.encoder import Encoder
from imagebind_lite.registry import get_modality, split_preset_name


def create_encoder(name_or_config: str | EncoderConfig, **overrides: Any) -> Encoder:
    """``create_encoder("audio/tiny", embed_dim=32)`` or from a full ``EncoderConfig``."""
    if isinstance(name_or_config, EncoderConfig):
        config = name_or_config
    else:
        modality, preset = split_preset_name(name_or_config)
        config = get_modality(modality).preset(preset)
    if overrides:
        config = config.replace(**overrides)
    return get_modality(config.modality).build_encoder(config)


def encoders_from_presets(presets: Mapping[str, str] | Iterable[str], **overrides: Any) -> dict[str, Encoder]:
    """``{"vision": "tiny", "audio": "tiny"}`` or ``["vision/tiny", "audio/tiny"]`` -> encoders by modality."""
    names = presets.items() if isinstance(presets, Mapping) else (split_preset_name(p) for p in presets)
    return {modality: create_encoder(f"{modality}/{preset}", **overrides) for modality, preset in names}

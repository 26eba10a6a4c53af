"""Compatibility with other model families' checkpoints (ImageBind's official release)."""
from imagebind_lite.compat.convert import (
    config_from_weights, convert_checkpoint, from_official, load_official_checkpoint, to_official,
)
from imagebind_lite.compat.imagebind_checkpoint import official_modalities, official_to_ours, ours_to_official

__all__ = [
    "config_from_weights", "convert_checkpoint", "from_official", "load_official_checkpoint",
    "official_modalities", "official_to_ours", "ours_to_official", "to_official",
]

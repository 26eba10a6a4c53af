"""Shared by the single-channel image sensors (depth, thermal): resize/crop of float maps and
the 1-channel patchify stem (ImageBind's ``Conv2d(1, width, k, k, bias=False)`` + LayerNorm)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from imagebind_lite import EncoderConfig
from imagebind_lite.layers import PatchStem, Stem


def resize_and_crop(image: torch.Tensor, size: int, mode: str = "bilinear") -> torch.Tensor:
    """[C, H, W] -> [C, size, size]: short side to ``size`` then centre crop."""
    height, width = image.shape[-2:]
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    if (new_h, new_w) != (height, width):
        image = F.interpolate(image[None], size=(new_h, new_w), mode=mode, align_corners=False, antialias=True)[0]
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return image[:, top:top + size, left:left + size]


def single_channel_stem(config: EncoderConfig) -> Stem:
    """Square patches of a [1, S, S] map -> tokens, with the class token and position embeddings."""
    patch = config.stem["patch_size"]
    grid = config.data["image_size"] // patch
    proj = nn.Conv2d(1, config.width, kernel_size=patch, stride=patch, bias=False)
    return PatchStem(proj, grid * grid, config.width, input_ndim=3, norm_eps=config.stem.get("norm_eps"))

"""Image augmentation for training (vision when it is a trained encoder, depth, thermal):
random resized crop and horizontal flip, on the decoded image the input cache keeps.

    augment:
      depth: {crop_scale: [0.5, 1.0], hflip: 0.5}

The crop samples a box covering ``crop_scale`` of the area with an aspect ratio in
``crop_ratio`` and resizes it to the encoder's square ``image_size``; the modality's own
resize + centre crop then has nothing left to do. Flips are horizontal only: a scene seen in a
mirror is still a plausible scene, while upside-down rooms and heat maps are not. Works on
PIL images (8-bit vision, resized with the data config's interpolation, bicubic by default) and
on float tensors [C, H, W] (depth disparity, thermal, 16-bit vision; bilinear, antialiased).
Reference: Szegedy et al. 2015 (the Inception crop that torchvision's RandomResizedCrop follows).
"""
from __future__ import annotations

import math
from typing import Any, Optional, Tuple

import numpy as np
import torch
from PIL import Image

from imagebind_lite import InputError
from imagebind_lite.augment import Augmenter, check_options, probability, value_range

KNOWN = {
    "crop_scale": "[low, high] fraction of the image area a random crop keeps (random resized crop)",
    "crop_ratio": "[low, high] aspect ratio (width / height) of the crop (default [0.75, 1.333])",
    "hflip": "probability of a horizontal flip (true: 0.5)",
}
DEFAULT_RATIO = (3.0 / 4.0, 4.0 / 3.0)
CROP_TRIES = 10  # then fall back to the largest centred box within the ratio range


class ImageAugmenter(Augmenter):
    def __init__(self, modality: str, options: Optional[dict] = None, interpolation: str = "bilinear"):
        options = check_options(modality, options, KNOWN)
        super().__init__(modality, options)
        self.scale = value_range(modality, "crop_scale", options["crop_scale"], low=0.0) if "crop_scale" in options else None
        if self.scale is not None and not 0.0 < self.scale[1] <= 1.0:
            raise InputError(f"augmentation 'crop_scale' must lie in (0, 1], got {options['crop_scale']!r}",
                             modality=modality)
        self.ratio = value_range(modality, "crop_ratio", options.get("crop_ratio", DEFAULT_RATIO), low=1e-3)
        self.flip_p = probability(modality, "hflip", options.get("hflip", 0.0))
        self.interpolation = interpolation  # for tensors; PIL images follow the data config

    def signal(self, signal: Any, data: dict, rng: np.random.Generator) -> Any:
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as TF

        height, width = _size_of(signal)
        if self.scale is not None:
            top, left, h, w = crop_box(height, width, self.scale, self.ratio, rng)
            size = _target_size(data.get("image_size"), (h, w))
            is_pil = isinstance(signal, Image.Image)
            mode = InterpolationMode(data.get("interpolation", "bicubic") if is_pil else self.interpolation)
            signal = TF.resized_crop(signal, top, left, h, w, list(size), interpolation=mode, antialias=True)
        if self.flip_p and rng.random() < self.flip_p:
            signal = TF.hflip(signal)
        return signal


def crop_box(height: int, width: int, scale: Tuple[float, float], ratio: Tuple[float, float],
             rng: np.random.Generator) -> Tuple[int, int, int, int]:
    """(top, left, h, w) of a random box with area fraction in ``scale`` and w/h in ``ratio``."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(CROP_TRIES):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    aspect = min(max(width / height, ratio[0]), ratio[1])  # e.g. a panorama: as wide as allowed
    if width / height < aspect:
        w, h = width, min(height, round(width / aspect))
    else:
        w, h = min(width, round(height * aspect)), height
    return (height - h) // 2, (width - w) // 2, h, w


def _size_of(signal: Any) -> Tuple[int, int]:
    if isinstance(signal, Image.Image):
        return signal.height, signal.width
    if isinstance(signal, torch.Tensor) and signal.dim() >= 2:
        return int(signal.shape[-2]), int(signal.shape[-1])
    raise TypeError(f"image augmentation takes a PIL image or a [C, H, W] tensor, got {type(signal).__name__}")


def _target_size(image_size: Any, crop: Tuple[int, int]) -> Tuple[int, int]:
    """The encoder's input size (square, or [height, width] for library towers); the crop's own
    size when the data config names none (the library's transform resizes it later)."""
    if image_size is None:
        return crop
    if isinstance(image_size, (list, tuple)):
        return int(image_size[-2]), int(image_size[-1])
    return int(image_size), int(image_size)


"""Vision, the pivot: jpg/png (any PIL mode, EXIF orientation) and raw arrays/tensors.

Trunk kinds:
- ``"transformer"`` (our patch stem + the built-in transformer; configs written when it was
  called ``"vit"`` still load): ``tiny`` for CPU demos (32x32 images) and ``imagebind_huge``,
  ImageBind's vision encoder (OpenCLIP ViT-H/14: 1280 wide, 32 deep, 16 heads, ``ln_pre``,
  no post scale);
- ``"timm"`` (``timm_trunk.py``): ANY timm model by name, headless, weights from a local file
  through timm, preprocessed with timm's own data config, e.g.
  ``create_encoder("vision/timm", trunk={"timm_model": "convnext_nano",
  "pretrained_path": "/weights/convnext_nano.safetensors"})``; the shared head projects it;
- ``"open_clip"`` and ``"hf_clip"`` (``vision_towers.py``): the image tower of an open_clip model
  or of a Hugging Face CLIP / SigLIP / SigLIP2 directory, with its own projection (no head) and
  its library's preprocessing, e.g. ``create_encoder("vision/hf_clip", trunk={"hf_clip_path": D})``.

Preprocessing (see ``vision_image.py``) follows the data config: CLIP/ImageBind's (short side to
``image_size``, bicubic, centre crop, ``/255``, mean/std) unless it names a library's own.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from imagebind_lite import EncoderConfig, InputError, ModalitySpec, register_modality
from imagebind_lite.layers import PatchStem, Stem
from imagebind_lite.modalities import vision_image
from imagebind_lite.modalities.image_augment import ImageAugmenter
from imagebind_lite.modalities.timm_trunk import TIMM_KIND
from imagebind_lite.modalities.vision_towers import IMAGE_TOWER_KINDS

CLIP_DATA = {"image_size": 224, "mean": list(vision_image.CLIP_MEAN), "std": list(vision_image.CLIP_STD),
             "interpolation": "bicubic"}


def vision_presets() -> dict[str, EncoderConfig]:
    return {
        # 32x32 images as a 4x4 grid of 8-pixel patches: ~600 train img/s on 2 CPU cores, so the
        # demo pretrains it in a minute; 4-pixel patches (65 tokens) measured 4-10x slower.
        "tiny": EncoderConfig("vision", embed_dim=128, width=96, depth=3, num_heads=4, pre_norm=True,
                              stem={"patch_size": 8, "bias": True}, trunk={"kind": "transformer"},
                              data={**CLIP_DATA, "image_size": 32}),
        # Any timm model: pass trunk={"timm_model": ...}; resnet18 when none is named. The data
        # config is the model's own (timm's), filled in when it is built.
        "timm": EncoderConfig("vision", embed_dim=128, pool="none", trunk={"kind": "timm", "timm_model": "resnet18"}),
        # The image tower of a CLIP-family model; embed_dim 0: the tower's own projection size.
        "open_clip": EncoderConfig("vision", embed_dim=0, pool="none",
                                   trunk={"kind": "open_clip", "open_clip_model": None, "pretrained_path": None}),
        "hf_clip": EncoderConfig("vision", embed_dim=0, pool="none", trunk={"kind": "hf_clip", "hf_clip_path": None}),
        # ImageBind's Conv3d stem k=(2,14,14) sees the image repeated as 2 frames, so it equals a
        # Conv2d whose kernel is the sum of the two time taps: the checkpoint converter sums them.
        "imagebind_huge": EncoderConfig("vision", embed_dim=1024, width=1280, depth=32, num_heads=16,
                                        pre_norm=True, stem={"patch_size": 14, "bias": False},
                                        trunk={"kind": "transformer"}, data=dict(CLIP_DATA)),
    }


@register_modality("vision")
class VisionModality(ModalitySpec):
    extensions = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
    trunk_kinds = {**ModalitySpec.trunk_kinds, "timm": TIMM_KIND, **IMAGE_TOWER_KINDS}
    preset_aliases = {"timm_resnet18": "timm"}  # an earlier copy of the timm preset under its model's name

    def presets(self) -> dict[str, EncoderConfig]:
        return vision_presets()

    def read_file(self, path: Path) -> vision_image.CanonicalImage:
        with Image.open(path) as image:
            image.load()  # decode now so a truncated file fails here, naming the file
            return vision_image.from_pil(image)

    def read_bytes(self, data: bytes, suffix: str) -> vision_image.CanonicalImage:
        with Image.open(io.BytesIO(data)) as image:  # PIL finds the format from the bytes
            image.load()
            return vision_image.from_pil(image)

    def validate(self, raw: Any, source: str) -> vision_image.CanonicalImage:
        try:
            if isinstance(raw, Image.Image):
                return vision_image.from_pil(raw)
            if isinstance(raw, (np.ndarray, torch.Tensor)):
                return vision_image.from_array(raw)
        except vision_image.ImageValueError as exc:
            raise InputError(str(exc), modality=self.name, source=source) from None
        raise InputError(
            f"expected an image path, PIL image, array or tensor, got {type(raw).__name__}",
            modality=self.name, source=source,
        )

    def to_tensor(self, raw: vision_image.CanonicalImage, data: dict, source: str) -> torch.Tensor:
        return vision_image.preprocess(raw, data)

    def augmenter(self, options: dict) -> ImageAugmenter:
        """Only where vision is a trained encoder: a frozen pivot's inputs stay deterministic."""
        return ImageAugmenter(self.name, options)

    def example_input(self, data: dict, rng: np.random.Generator) -> np.ndarray:
        size = data["image_size"]
        size = max(size) if isinstance(size, (list, tuple)) else int(size)  # towers may record [height, width]
        return rng.integers(0, 256, (size + 8, size + 16, 3), dtype=np.uint8)  # not square: crops too

    def build_stem(self, config: EncoderConfig) -> Stem:
        patch = config.stem["patch_size"]
        size = config.data["image_size"]
        if size % patch:
            raise InputError(f"image_size {size} is not a multiple of patch_size {patch}", modality=self.name)
        proj = nn.Conv2d(3, config.width, kernel_size=patch, stride=patch, bias=config.stem.get("bias", False))
        return PatchStem(proj, (size // patch) ** 2, config.width, input_ndim=3, norm_eps=config.stem.get("norm_eps"))

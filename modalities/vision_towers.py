"""The image towers of CLIP-family models as vision trunks (``"open_clip"``, ``"hf_clip"`` kinds).

``create_encoder("vision/open_clip", trunk={"open_clip_model": "ViT-B-32", "pretrained_path": W})``
or ``create_encoder("vision/hf_clip", trunk={"hf_clip_path": "/models/siglip-base-patch16-224"})``:
the embedding is the library's own image features (``encode_image``, ``get_image_features``)
and the preprocessing the library's own (open_clip's transform; the directory's image
processor), recorded in the data config so embedding, training and the CLI all use it.
"""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torch import nn

from imagebind_lite.config import EncoderConfig
from imagebind_lite.modalities import vision_image
from imagebind_lite.modalities.tower_kinds import TowerSide, hf_sample_ndim, tower_kinds
from imagebind_lite.towers import hf_tower, open_clip_tower
from imagebind_lite.towers.packing import pack

DEFAULT_SIZE = 224  # image_size recorded for processors whose output size depends on the image (SigLIP2)


def open_clip_data(files: Path, tower: nn.Module, asked: dict) -> dict:
    return {**open_clip_tower.preprocess_config(files), **asked, "preprocess": open_clip_tower.OPEN_CLIP_PREPROCESS}


def hf_data(files: Path, model: nn.Module, asked: dict) -> dict:
    """The layout of the processor's outputs, found by processing one image (loading the
    processor here makes a directory without one fail now, naming it)."""
    processor = hf_tower.image_processor(files)
    fields = processor(images=_grey_image(), return_tensors="pt")
    sample, layout = pack({name: value[0] for name, value in fields.items()})
    size = int(sample.shape[-1]) if sample.dim() == 3 else DEFAULT_SIZE
    return {**asked, "preprocess": hf_tower.HF_PREPROCESS, "layout": layout, "image_size": size}


def example(data: dict) -> torch.Tensor:
    return vision_image.preprocess(_grey_image(), data)


def stem_ndim(config: EncoderConfig) -> int:
    return 3 if config.data.get("preprocess") == open_clip_tower.OPEN_CLIP_PREPROCESS else hf_sample_ndim(config)


def _grey_image() -> Image.Image:
    return Image.new("RGB", (DEFAULT_SIZE, DEFAULT_SIZE), (128, 128, 128))


IMAGE_SIDE = TowerSide("image", hf_data, example, stem_ndim, open_clip_tower.ImageTower, open_clip_data)
IMAGE_TOWER_KINDS = tower_kinds(IMAGE_SIDE)

"""Thermal: 8- or 16-bit single-channel images (LLVIP-style), a ViT with a 1-channel patch stem.

ImageBind-size preset after ImageBind's thermal trunk (768 wide, 12 deep, 12 heads, extra
key/value token, fixed post-scale 10). Preprocessing: scale to [0, 1] by bit depth, resize the
short side, centre crop, normalise with the data config's mean/std.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from imagebind_lite import EncoderConfig, InputError, ModalitySpec, register_modality
from imagebind_lite.cnn_kind import cnn_kind
from imagebind_lite.layers import Stem
from imagebind_lite.modalities.image_augment import ImageAugmenter
from imagebind_lite.modalities.sensor_images import resize_and_crop, single_channel_stem


@register_modality("thermal")
class ThermalModality(ModalitySpec):
    extensions = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".npy")
    trunk_kinds = {**ModalitySpec.trunk_kinds, "cnn": cnn_kind(in_chans=1)}

    def presets(self) -> dict[str, EncoderConfig]:
        # Calibrated on the synthetic world's 8-bit 0-80 C images (mostly cool background).
        tiny_data = {"image_size": 32, "mean": 0.27, "std": 0.08}
        return {
            "tiny": EncoderConfig("thermal", embed_dim=128, width=64, depth=2, num_heads=4,
                                  stem={"patch_size": 8, "norm_eps": 1e-5}, data=tiny_data),
            # Start here with little data: a small CNN over the thermal image (any image_size).
            "cnn": EncoderConfig("thermal", embed_dim=128, trunk={"kind": "cnn", "channels": [16, 32, 64, 128]},
                                 data={**tiny_data, "image_size": 64}),
            "imagebind_huge": EncoderConfig(
                "thermal", embed_dim=1024, width=768, depth=12, num_heads=12, extra_kv=True, output_scale=10.0,
                stem={"patch_size": 16, "norm_eps": 1e-5}, data={"image_size": 224, "mean": 0.5, "std": 0.25},
            ),
        }

    def read_file(self, path: Path) -> np.ndarray:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False)
        with Image.open(path) as image:
            array = np.asarray(image)
            if image.mode in ("RGB", "RGBA") and array.ndim == 3 and np.ptp(array[..., :3].astype(np.int32), axis=-1).max() == 0:
                array = array[..., 0]  # grey saved as RGB: keep one channel
        return array

    def validate(self, raw, source: str) -> np.ndarray:
        array = np.asarray(raw)
        if array.ndim == 3 and 1 in (array.shape[0], array.shape[-1]):
            array = array.squeeze(0) if array.shape[0] == 1 else array[..., 0]
        if array.ndim != 2:
            raise InputError(f"expected a single-channel image, got shape {array.shape}", modality=self.name, source=source)
        if array.dtype == np.uint8:
            return array.astype(np.float32) / 255.0
        if array.dtype in (np.uint16, np.int32, np.uint32) and array.max(initial=0) > 1:
            return array.astype(np.float32) / 65535.0  # 16-bit radiometric images
        array = array.astype(np.float32)
        if not np.isfinite(array).all():
            raise InputError("thermal image has NaN or inf values", modality=self.name, source=source)
        return array

    def to_tensor(self, raw: np.ndarray, data: dict, source: str) -> torch.Tensor:
        return self.signal_to_tensor(self.to_signal(raw, data, source), data, source)

    def to_signal(self, raw: np.ndarray, data: dict, source: str) -> torch.Tensor:
        """Full-size [1, H, W] in [0, 1]: what the input cache keeps when thermal is augmented."""
        return torch.from_numpy(np.ascontiguousarray(raw))[None]

    def signal_to_tensor(self, signal: torch.Tensor, data: dict, source: str) -> torch.Tensor:
        image = resize_and_crop(signal, data["image_size"])
        return (image - data["mean"]) / data["std"]

    def augmenter(self, options: dict) -> ImageAugmenter:
        return ImageAugmenter(self.name, options)

    def example_input(self, data: dict, rng: np.random.Generator) -> np.ndarray:
        size = data["image_size"]
        return rng.integers(0, 256, (size + 8, size + 16), dtype=np.uint8)

    def build_stem(self, config: EncoderConfig) -> Stem:
        return single_channel_stem(config)

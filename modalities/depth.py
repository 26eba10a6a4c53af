"""Depth: 16-bit png in millimetres or npy in metres -> normalised disparity, a 1-channel ViT.

Units: integer images/arrays (16-bit png/tiff, integer npy) hold MILLIMETRES (the SUN RGB-D /
NYU-D / Kinect convention); float arrays (npy, 32-bit float tiff) hold METRES.

Disparity: ImageBind trains on disparity (after Omnivore) for scale invariance. With a stereo
camera's intrinsics, disparity = baseline * focal / depth; those are unknown for a bare depth
map, so we use ``disparity = data["disparity_scale"] / depth_metres`` (1 / metres when the scale
is 1), with depth first clamped to ``data["min_depth"]`` so near-zero readings cannot blow up.
Missing pixels (0, negative, NaN, inf) get disparity 0: the value an infinitely far point has,
so "no reading" never looks like a near surface. A map with no valid pixel is an error.
Then resize (short side) + centre crop to ``image_size``, and (x - mean) / std.

Optional data-config keys for releases and published recipes (absent = the behaviour above):
- ``depth_encoding``: ``"millimetres"`` (default) or ``"sunrgbd"``: SUN RGB-D's pngs store
  millimetres rotated left by 3 bits (its toolbox's read3dPoints.m rotates them back);
- ``max_depth``: metres; farther readings are set to it (the SUN RGB-D recipe caps at 8 m);
- ``disparity_scale: "camera"``: baseline x focal length of the camera that took the map, read
  from the release's files next to it (``depth_camera.py``: SUN RGB-D's intrinsics.txt and
  sensor folder), so disparity is in pixels as a stereo camera measures it;
- ``max_disparity``: disparity clamped to it (Omnivore's DepthNorm clamps at 75 before dividing).
The mean/std are ours, not ImageBind's (its released code has no depth preprocessing): the
disparity moments of depths spread uniformly over 1-6 m, a room (mean ln(6)/5 = 0.36, std 0.2).
Set them from your data, and for a converted checkpoint from the data it was trained on.

ImageBind-size preset (ImageBind-huge's depth branch): Conv2d(1, 384, k16, s16, bias=False) + LayerNorm
(eps 1e-5), 384 wide, 12 deep, 8 heads, extra key/value token, fixed post-scale 5, 1024 out.
Key map for a converter (prefix ``modality_preprocessors.depth.``): ``depth_stem.proj.weight``
-> ``stem.proj.weight``, ``depth_stem.norm_layer.*`` -> ``stem.norm.*``, ``cls_token`` ->
``stem.cls_token``, ``pos_embedding_helper.pos_embed`` -> ``stem.pos_embed``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from imagebind_lite import EncoderConfig, InputError, ModalitySpec, register_modality
from imagebind_lite.cnn_kind import cnn_kind
from imagebind_lite.layers import Stem
from imagebind_lite.modalities.depth_camera import camera_disparity_scale
from imagebind_lite.modalities.image_augment import ImageAugmenter
from imagebind_lite.modalities.sensor_images import resize_and_crop, single_channel_stem

MILLIMETRES_PER_METRE = 1000.0


@register_modality("depth")
class DepthModality(ModalitySpec):
    extensions = (".png", ".npy", ".tif", ".tiff")
    trunk_kinds = {**ModalitySpec.trunk_kinds, "cnn": cnn_kind(in_chans=1)}

    def presets(self) -> dict[str, EncoderConfig]:
        room_data = {
            "image_size": 224,        # side of the square crop fed to the encoder
            "disparity_scale": 1.0,   # disparity = scale / depth in metres (1 -> 1/m)
            "min_depth": 0.1,         # metres; nearer readings are clamped (caps disparity at 10)
            "mean": 0.36, "std": 0.2,  # disparity normalisation (uniform 1-6 m scenes)
        }
        # The tiny preset is calibrated on the synthetic world (objects up close: wider disparities).
        tiny_data = {**room_data, "image_size": 32, "mean": 0.53, "std": 0.46}
        return {
            "tiny": EncoderConfig("depth", embed_dim=128, width=64, depth=2, num_heads=4,
                                  stem={"patch_size": 8, "norm_eps": 1e-5}, data=tiny_data),
            # Start here with little data: a small CNN over the disparity map, which unlike the
            # transformer's position embeddings takes any image_size.
            "cnn": EncoderConfig("depth", embed_dim=128, trunk={"kind": "cnn", "channels": [16, 32, 64, 128]},
                                 data={**tiny_data, "image_size": 64}),
            "imagebind_huge": EncoderConfig(
                "depth", embed_dim=1024, width=384, depth=12, num_heads=8, extra_kv=True, output_scale=5.0,
                stem={"patch_size": 16, "norm_eps": 1e-5}, data=room_data,
            ),
        }

    def read_file(self, path: Path) -> np.ndarray:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False)
        with Image.open(path) as image:
            if image.mode in ("1", "L", "P", "RGB", "RGBA", "LA"):
                raise InputError(f"an 8-bit {image.mode!r} image carries no metric depth; expected a 16-bit "
                                 "png in millimetres or an npy in metres", modality=self.name, source=str(path))
            return np.asarray(image)

    def validate(self, raw, source: str) -> np.ndarray:
        """-> integer codes as stored (decoded by ``to_tensor``, which knows the encoding), or
        float32 depth in metres with NaN where missing."""
        if isinstance(raw, torch.Tensor):
            raw = raw.detach().cpu().numpy()
        array = np.asarray(raw)
        if array.ndim == 3 and 1 in (array.shape[0], array.shape[-1]):
            array = array.squeeze(0) if array.shape[0] == 1 else array[..., 0]
        if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
            raise InputError(f"expected a single-channel depth map [H, W], got shape {array.shape} "
                             f"dtype {array.dtype}", modality=self.name, source=source)
        if np.issubdtype(array.dtype, np.integer):
            if not (array > 0).any():
                raise InputError("depth map has no valid pixel (all zero or negative)", modality=self.name, source=source)
            return array
        metres = array.astype(np.float32)
        metres[~(np.isfinite(metres) & (metres > 0))] = np.nan
        if np.isnan(metres).all():
            raise InputError("depth map has no valid pixel (all zero, negative, NaN or inf)",
                             modality=self.name, source=source)
        return metres

    def to_tensor(self, raw: np.ndarray, data: dict, source: str) -> torch.Tensor:
        return self.signal_to_tensor(self.to_signal(raw, data, source), data, source)

    def to_signal(self, raw: np.ndarray, data: dict, source: str) -> torch.Tensor:
        """Full-size disparity [1, H, W]: what the input cache keeps when depth is augmented."""
        metres = to_metres(raw, data.get("depth_encoding", "millimetres"), source)
        if data.get("max_depth"):
            metres = np.minimum(metres, np.float32(data["max_depth"]))  # NaN (missing) stays NaN
        scale = data["disparity_scale"]
        if scale == "camera":
            scale = camera_disparity_scale(source)
        depth = torch.from_numpy(np.ascontiguousarray(metres))
        disparity = float(scale) / depth.clamp(min=data["min_depth"])
        disparity = torch.nan_to_num(disparity, nan=0.0)  # missing -> "infinitely far"
        if data.get("max_disparity"):
            disparity = disparity.clamp(max=float(data["max_disparity"]))
        return disparity[None]

    def signal_to_tensor(self, signal: torch.Tensor, data: dict, source: str) -> torch.Tensor:
        image = resize_and_crop(signal, data["image_size"])
        return (image - data["mean"]) / data["std"]

    def augmenter(self, options: dict) -> ImageAugmenter:
        return ImageAugmenter(self.name, options)

    def example_input(self, data: dict, rng: np.random.Generator) -> np.ndarray:
        size = data["image_size"]
        return rng.uniform(0.5, 6.0, (size + 8, size + 16)).astype(np.float32)  # metres

    def build_stem(self, config: EncoderConfig) -> Stem:
        return single_channel_stem(config)


def to_metres(array: np.ndarray, encoding: str, source: str) -> np.ndarray:
    """Stored depth -> float32 metres, NaN where missing. Floats are metres already."""
    if not np.issubdtype(array.dtype, np.integer):
        return array
    if encoding == "sunrgbd":  # undo the 3-bit left rotation of the 16-bit millimetre codes
        codes = array.astype(np.uint16)
        array = (codes >> 3) | (codes << 13)
    elif encoding != "millimetres":
        raise InputError(f"unknown depth_encoding {encoding!r}; use 'millimetres' or 'sunrgbd'",
                         modality="depth", source=source)
    metres = array.astype(np.float32) / MILLIMETRES_PER_METRE
    metres[array <= 0] = np.nan
    return metres

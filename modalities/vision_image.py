"""Image decoding and CLIP-style preprocessing for the vision modality.

Everything an image can arrive as (a file in any PIL mode, a uint8 HxWx3 array, a float
[3, H, W] tensor in [0, 1]) is coerced to one of two canonical forms: an RGB PIL image (8-bit
sources, so files and uint8 arrays go through exactly the PIL bicubic resize that CLIP and
ImageBind use) or a float [3, H, W] tensor in [0, 1] (16-bit and float sources, which PIL's
8-bit RGB would truncate). References: CLIP/open_clip ``image_transform`` (resize short side,
bicubic, centre crop, mean/std), ImageBind ``data.load_and_transform_vision_data``. Towers from
other libraries get those libraries' own transforms (timm, open_clip, Hugging Face processors).
"""
from __future__ import annotations

from typing import Union

import numpy as np
import torch
from PIL import Image, ImageOps

from imagebind_lite.towers import hf_tower, open_clip_tower
from imagebind_lite.towers.files import require_files
from imagebind_lite.towers.packing import pack
from imagebind_lite.towers.timm_tower import TIMM_PREPROCESS, timm_transform

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Float inputs are taken as [0, 1] images; allow a little overshoot (e.g. from a bicubic resize).
FLOAT_RANGE_SLACK = 1e-2
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")

CanonicalImage = Union[Image.Image, torch.Tensor]


class ImageValueError(ValueError):
    """Raw image data the vision modality cannot interpret; the caller adds modality and source."""


def from_pil(image: Image.Image) -> CanonicalImage:
    """Any PIL image -> RGB PIL image, or a float [3, H, W] tensor for 16-bit/float modes."""
    image = ImageOps.exif_transpose(image)  # phone photos store rotation in EXIF, not pixels
    if image.mode in SIXTEEN_BIT_MODES or image.mode == "F":
        array = np.asarray(image)
        if image.mode == "F":
            return from_float(array.astype(np.float32), channels_first=False)
        scale = 255.0 if image.mode == "I" and array.max(initial=0) <= 255 else 65535.0
        return from_float(array.astype(np.float32) / scale, channels_first=False)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # PIL warns when converting such palettes straight to RGB
    # Alpha is dropped, not composited, exactly as CLIP's and ImageBind's ``convert("RGB")``.
    return image if image.mode == "RGB" else image.convert("RGB")


def channel_layout(shape: tuple, prefer_channels_first: bool) -> bool:
    """True if a 3-d array is [C, H, W], False if [H, W, C]; raise on impossible channel counts."""
    last_ok, first_ok = shape[-1] in (1, 3, 4), shape[0] in (1, 3)
    if last_ok and first_ok:
        return prefer_channels_first
    if last_ok or first_ok:
        return first_ok
    raise ImageValueError(
        f"expected an image with 1, 3 (RGB) or 4 (RGBA) channels, got shape {tuple(shape)}"
    )


def from_array(raw: Union[np.ndarray, torch.Tensor]) -> CanonicalImage:
    """A numpy array or torch tensor (HxW, HxWxC or CxHxW) -> canonical image."""
    is_tensor = isinstance(raw, torch.Tensor)
    array = raw.detach().cpu().numpy() if is_tensor else np.asarray(raw)
    if array.ndim not in (2, 3) or array.size == 0:
        raise ImageValueError(f"expected an HxW, HxWxC or CxHxW image, got shape {array.shape}")
    channels_first = array.ndim == 3 and channel_layout(array.shape, prefer_channels_first=is_tensor)
    if np.issubdtype(array.dtype, np.integer) and array.dtype not in (np.uint8, np.uint16):
        array = narrow_integers(array)  # e.g. int64 pixel values from a numpy computation
    if array.dtype == np.uint8:
        hwc = np.moveaxis(array, 0, -1) if channels_first else array
        if hwc.ndim == 3 and hwc.shape[-1] == 1:
            hwc = hwc[..., 0]
        return from_pil(Image.fromarray(np.ascontiguousarray(hwc)))
    if array.dtype == np.uint16:
        return from_float(array.astype(np.float32) / 65535.0, channels_first)
    if np.issubdtype(array.dtype, np.floating):
        return from_float(array.astype(np.float32), channels_first)
    raise ImageValueError(f"unsupported image dtype {array.dtype}; use uint8, uint16 or float in [0, 1]")


def narrow_integers(array: np.ndarray) -> np.ndarray:
    """Other integer arrays -> uint8 (values <= 255) or uint16 (<= 65535), never wrapping."""
    low, high = int(array.min()), int(array.max())
    if low < 0 or high > 65535:
        raise ImageValueError(f"integer image values must lie in [0, 65535], got [{low}, {high}]")
    return array.astype(np.uint8 if high <= 255 else np.uint16)


def from_float(array: np.ndarray, channels_first: bool) -> torch.Tensor:
    """Float array in [0, 1] -> [3, H, W] tensor (grey replicated, alpha dropped)."""
    if not np.isfinite(array).all():
        raise ImageValueError("image has NaN or inf values")
    low, high = float(array.min()), float(array.max())
    if low < -FLOAT_RANGE_SLACK or high > 1 + FLOAT_RANGE_SLACK:
        raise ImageValueError(
            f"float images must hold values in [0, 1], got [{low:.3g}, {high:.3g}] "
            "(divide 8-bit data by 255, or pass it as uint8)"
        )
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.dim() == 2:
        tensor = tensor[None]
    elif not channels_first:
        tensor = tensor.permute(2, 0, 1)
    if tensor.shape[0] == 4:
        tensor = tensor[:3]
    if tensor.shape[0] == 1:
        tensor = tensor.expand(3, -1, -1)
    return tensor.clamp(0.0, 1.0).contiguous()


def preprocess(image: CanonicalImage, data: dict) -> torch.Tensor:
    """Canonical image -> model-ready tensor, by the data config's ``preprocess`` entry: absent
    (CLIP/ImageBind: resize short side, centre crop, mean/std), or the library whose own
    transform the encoder's tower was trained with (``LIBRARY_TRANSFORMS``)."""
    library = data.get("preprocess")
    if library is None:
        return resize_crop_normalise(image, data)
    if library not in LIBRARY_TRANSFORMS:
        raise ImageValueError(f"unknown preprocess {library!r} in the data config; known: {', '.join(LIBRARY_TRANSFORMS)}")
    return LIBRARY_TRANSFORMS[library](data)(as_8bit_pil(image))


def as_8bit_pil(image: CanonicalImage) -> Image.Image:
    """What the libraries' transforms take: an 8-bit RGB PIL image (16-bit and float images are
    rounded to 8 bits, as the libraries' own loaders would)."""
    if isinstance(image, Image.Image):
        return image
    array = (image.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(np.ascontiguousarray(array))


def hf_image_inputs(data: dict):
    """The tower directory's own image processor, its outputs packed into one tensor."""
    processor = hf_tower.image_processor(require_files(data, "vision encoder"))

    def process(image: Image.Image) -> torch.Tensor:
        fields = processor(images=image, return_tensors="pt")
        return pack({name: value[0] for name, value in fields.items()})[0]

    return process


LIBRARY_TRANSFORMS = {
    TIMM_PREPROCESS: timm_transform,                            # timm's create_transform (eval)
    open_clip_tower.OPEN_CLIP_PREPROCESS: open_clip_tower.image_transform,  # image_transform_v2
    hf_tower.HF_PREPROCESS: hf_image_inputs,                    # the directory's image processor
}


def resize_crop_normalise(image: CanonicalImage, data: dict) -> torch.Tensor:
    """Canonical image -> normalised [3, size, size]: resize short side, centre crop, mean/std."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    size = int(data["image_size"])
    mode = InterpolationMode(data.get("interpolation", "bicubic"))
    if isinstance(image, Image.Image):
        # PIL path: byte-for-byte what torchvision.Resize + ToTensor do in CLIP/ImageBind.
        image = TF.center_crop(TF.resize(image, size, interpolation=mode), size)
        tensor = TF.pil_to_tensor(image).float().div_(255.0)
    else:
        tensor = TF.resize(image, size, interpolation=mode, antialias=True).clamp_(0.0, 1.0)
        tensor = TF.center_crop(tensor, size)
    mean = torch.tensor(data["mean"], dtype=torch.float32).reshape(-1, 1, 1)
    std = torch.tensor(data["std"], dtype=torch.float32).reshape(-1, 1, 1)
    return (tensor - mean) / std

"""Vision modality: real image files of every mode, raw arrays, tiny/timm encoders, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import imagebind_lite as il
from imagebind_lite import CheckpointError, ImageBindLiteError, InputError, UnknownNameError

SIZE = 32  # the tiny preset's image_size


def rgb_array(height=48, width=64, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def write_files(directory) -> dict:
    """One file per supported source format, as users' data comes."""
    rgb = rgb_array()
    paths = {name: directory / name for name in
             ("rgb.png", "grey.png", "grey16.png", "rgba.png", "la.png", "palette.png", "photo.jpg", "rgb.bmp")}
    Image.fromarray(rgb).save(paths["rgb.png"])
    Image.fromarray(rgb[..., 0]).save(paths["grey.png"])
    Image.fromarray(np.full((40, 40), 32768, dtype=np.uint16)).save(paths["grey16.png"])
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])).save(paths["rgba.png"])
    Image.fromarray(rgb[..., 0]).convert("LA").save(paths["la.png"])
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(paths["palette.png"], transparency=0)
    Image.fromarray(rgb).save(paths["photo.jpg"], quality=95)
    Image.fromarray(rgb).save(paths["rgb.bmp"])
    return paths


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return il.MultiModalModel({"vision": il.create_encoder("vision/tiny")})


@pytest.fixture()
def transform(model):
    return model.transform("vision")


def denormalise(tensor: torch.Tensor, data: dict) -> torch.Tensor:
    mean = torch.tensor(data["mean"]).reshape(-1, 1, 1)
    std = torch.tensor(data["std"]).reshape(-1, 1, 1)
    return tensor * std + mean


def test_every_file_format_embeds_to_unit_vectors(model, tmp_path):
    paths = list(write_files(tmp_path).values())
    embeddings = model.embed({"vision": paths})["vision"]
    assert embeddings.shape == (len(paths), 128)
    assert torch.isfinite(embeddings).all()
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(len(paths)))


def test_file_and_uint8_array_give_identical_tensors(transform, tmp_path):
    paths = write_files(tmp_path)
    tensor = transform(paths["rgb.png"])
    assert tensor.shape == (3, SIZE, SIZE)
    torch.testing.assert_close(tensor, transform(rgb_array()))
    # RGBA: alpha is dropped as CLIP/ImageBind do, so it equals the RGB image.
    torch.testing.assert_close(transform(paths["rgba.png"]), tensor)


def test_imagebind_preprocessing_equals_open_clip_transform(tmp_path):
    from open_clip.transform import image_transform

    path = tmp_path / "photo.jpg"
    Image.fromarray(rgb_array(300, 412)).save(path, quality=90)  # odd crop margin: rounding matters
    spec = il.get_modality("vision")
    data = spec.preset("imagebind_huge").data
    reference = image_transform(224, is_train=False, mean=data["mean"], std=data["std"])
    with Image.open(path) as image:
        expected = reference(image)
    torch.testing.assert_close(spec.transform(data)(path), expected, atol=1e-6, rtol=0)


def test_grey_and_16bit_are_scaled_and_replicated(transform, tmp_path):
    paths = write_files(tmp_path)
    data = transform.data
    grey = denormalise(transform(paths["grey.png"]), data)
    torch.testing.assert_close(grey[0], grey[1])
    torch.testing.assert_close(grey[1], grey[2])
    # A 16-bit image at half scale must land at 0.5, not saturate at 255/255 or fall to 128/65535.
    grey16 = denormalise(transform(paths["grey16.png"]), data)
    torch.testing.assert_close(grey16, torch.full_like(grey16, 32768 / 65535), atol=1e-5, rtol=0)


def test_jpeg_exif_orientation_is_applied(transform, tmp_path):
    wide = np.zeros((32, 64, 3), np.uint8)
    wide[:, :32] = (255, 0, 0)  # left half red, right half blue
    wide[:, 32:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: displayed rotated 90 degrees clockwise
    path = tmp_path / "rotated.jpg"
    Image.fromarray(wide).save(path, quality=95, exif=exif)
    upright = transform(np.ascontiguousarray(np.rot90(wide, k=-1)))  # tall: red on top
    ignored = transform(wide)
    loaded = transform(path)
    assert (loaded - upright).abs().mean() < 0.05
    assert (loaded - ignored).abs().mean() > 0.5


def test_raw_arrays_and_tensors(transform):
    rgb = rgb_array()
    as_float = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    # Float tensors resize in torch (antialiased bicubic), uint8 in PIL: close, not identical.
    torch.testing.assert_close(transform(as_float), transform(rgb), atol=0.1, rtol=0)
    torch.testing.assert_close(transform(torch.from_numpy(rgb).permute(2, 0, 1)), transform(rgb))
    torch.testing.assert_close(transform(rgb.astype(np.int64)), transform(rgb))
    assert transform(rgb[..., 0]).shape == (3, SIZE, SIZE)
    assert transform(Image.fromarray(rgb)).shape == (3, SIZE, SIZE)


def test_transform_survives_pickling_for_dataloader_workers(transform, tmp_path):
    import pickle

    path = write_files(tmp_path)["photo.jpg"]
    torch.testing.assert_close(pickle.loads(pickle.dumps(transform))(path), transform(path))


def test_backward_reaches_every_parameter(transform):
    torch.manual_seed(0)
    encoder = il.create_encoder("vision/tiny").train()
    batch = torch.stack([transform(rgb_array(seed=s)) for s in range(3)])
    embeddings = encoder(batch)
    loss = -(embeddings @ embeddings.T).logsumexp(dim=-1).mean()
    loss.backward()
    for name, parameter in encoder.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\nnot really a png", "truncated"])
def test_corrupt_and_empty_files_name_file_and_modality(transform, tmp_path, content):
    path = tmp_path / "bad.png"
    if content == "truncated":
        Image.fromarray(rgb_array(200, 200)).save(path)
        content = path.read_bytes()[:2000]
    path.write_bytes(content)
    with pytest.raises(ImageBindLiteError) as caught:
        transform(path)
    assert "bad.png" in str(caught.value) and "vision" in str(caught.value)


@pytest.mark.parametrize("raw, message", [
    (np.full((8, 8, 3), np.nan, np.float32), "NaN"),
    (np.zeros((8, 8, 5), np.uint8), "channels"),
    (torch.zeros(5, 8, 8), "channels"),
    (np.full((3, 8, 8), 200.0, np.float32), "[0, 1]"),
    (np.zeros((2, 3, 8, 8), np.uint8), "shape"),
    (np.full((8, 8, 3), -4, np.int32), "[0, 65535]"),
    (np.zeros((8, 8, 3), bool), "dtype"),
    ("not an image but a string", "not found"),
])
def test_bad_arrays_raise_input_error(transform, raw, message):
    with pytest.raises(InputError) as caught:
        transform(raw)
    assert message in str(caught.value) and caught.value.modality == "vision"


def test_unsupported_extension_and_unknown_preset(tmp_path):
    path = tmp_path / "image.xyz"
    path.write_bytes(b"123")
    with pytest.raises(InputError, match="unsupported file type"):
        il.get_modality("vision").load(path)
    with pytest.raises(UnknownNameError, match="tiny"):
        il.create_encoder("vision/enormous")
    with pytest.raises(UnknownNameError, match="timm"):
        il.create_encoder("vision/timm", trunk={"timm_model": "no_such_net"})
    with pytest.raises(InputError, match="vision/timm"):
        il.create_encoder("vision/tiny", trunk={"timm_model": "resnet18"})


# ---- timm trunks ------------------------------------------------------------------------------
def save_timm_weights(path, name="test_resnet", seed=1):
    """A timm model WITH its classifier, randomised, saved the way users keep weights."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    source = timm.create_model(name, pretrained=False)
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    return state


@pytest.mark.parametrize("filename", ["weights.safetensors", "weights.pth"])
def test_timm_trunk_loads_local_weights(tmp_path, filename):
    path = tmp_path / filename
    saved = save_timm_weights(path)
    encoder = il.create_encoder("vision/timm", data={"image_size": SIZE},
                                trunk={"timm_model": "test_resnet", "pretrained_path": str(path)})
    loaded = encoder.trunk.model.state_dict()
    assert set(loaded) == {k for k in saved if not k.startswith("fc.")}
    for key, value in loaded.items():
        torch.testing.assert_close(value, saved[key], msg=key)
    assert encoder.config.trunk["output_width"] == encoder.trunk.num_features
    model = il.MultiModalModel({"vision": encoder})
    images = [rgb_array(), rgb_array(seed=3)]
    embeddings = model.embed({"vision": images})["vision"]
    assert embeddings.shape == (2, 128)
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(2))
    # The saved model carries the weights: it reloads after the original file is gone.
    model.save(tmp_path / "saved")
    path.unlink()
    torch.testing.assert_close(il.load_model(tmp_path / "saved").embed({"vision": images})["vision"], embeddings)
    assert il.load_model(tmp_path / "saved").encoder("vision").config.trunk["initialised_from"] == str(path)


def test_timm_trunk_refuses_wrong_or_unsafe_weights(tmp_path):
    wrong = tmp_path / "wrong.safetensors"
    save_timm_weights(wrong, name="test_efficientnet")
    with pytest.raises(CheckpointError, match="wrong.safetensors"):
        il.create_encoder("vision/timm", trunk={"timm_model": "test_resnet", "pretrained_path": str(wrong)})
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"state_dict": {}, "payload": Image.Image}, unsafe)  # a class: needs real unpickling
    with pytest.raises(CheckpointError, match="unsafe.pth"):
        il.create_encoder("vision/timm", trunk={"timm_model": "test_resnet", "pretrained_path": str(unsafe)})
    with pytest.raises(CheckpointError, match="missing.pth"):
        il.create_encoder("vision/timm", trunk={"timm_model": "test_resnet", "pretrained_path": str(tmp_path / "missing.pth")})


def test_any_timm_name_trains_and_round_trips(tmp_path):
    torch.manual_seed(0)
    encoder = il.create_encoder("vision/timm", data={"image_size": SIZE},
                                trunk={"timm_model": "test_vit", "timm_kwargs": {"img_size": SIZE}})
    encoder(torch.randn(2, 3, SIZE, SIZE)).sum().backward()
    assert all(p.grad is not None for p in encoder.head.parameters())
    model = il.MultiModalModel({"vision": encoder})
    model.save(tmp_path / "saved")
    images = [rgb_array(seed=s) for s in range(2)]
    torch.testing.assert_close(il.load_model(tmp_path / "saved").embed({"vision": images})["vision"],
                               model.embed({"vision": images})["vision"])


def test_bare_timm_config_gets_the_models_own_data_config():
    """Not ImageNet at 224 px for every model: timm's own config for this one (160 px, its crop)."""
    import timm
    from timm.data import resolve_model_data_config

    encoder = il.create_encoder(il.EncoderConfig("vision", embed_dim=16, trunk={"timm_model": "test_resnet"}))
    own = resolve_model_data_config(timm.create_model("test_resnet"))
    data = encoder.data_config
    assert data["preprocess"] == "timm" and tuple(data["input_size"]) == tuple(own["input_size"])
    assert data["image_size"] == own["input_size"][-1] == 160 and data["crop_pct"] == own["crop_pct"]
    assert tuple(data["mean"]) == tuple(own["mean"]) and data["interpolation"] == own["interpolation"]
    assert il.MultiModalModel({"vision": encoder}).embed({"vision": [rgb_array()]})["vision"].shape == (1, 16)


def test_timm_resnet18_preset_builds_without_network():
    encoder = il.create_encoder("vision/timm_resnet18", data={"image_size": SIZE}).eval()
    assert encoder.config.trunk["output_width"] == 512
    with torch.no_grad():
        assert encoder(torch.randn(1, 3, SIZE, SIZE)).shape == (1, 128)


@pytest.mark.slow
def test_imagebind_huge_shapes():
    encoder = il.create_encoder("vision/imagebind_huge").eval()
    assert encoder.stem.proj.kernel_size == (14, 14) and encoder.stem.proj.bias is None
    assert encoder.stem.pos_embed.shape == (1, 257, 1280)
    assert 6.2e8 < sum(p.numel() for p in encoder.parameters()) < 6.4e8
    with torch.no_grad():
        embedding = encoder(il.get_modality("vision").transform(encoder.data_config)(rgb_array(300, 400))[None])
    assert embedding.shape == (1, 1024)
    torch.testing.assert_close(embedding.norm(dim=-1), torch.ones(1))

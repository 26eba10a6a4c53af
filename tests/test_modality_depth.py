"""Depth modality: 16-bit png in millimetres and npy in metres -> disparity, invalid pixels, bad input."""
import numpy as np
import pytest
import torch
from PIL import Image

import imagebind_lite as ib

TINY = ib.get_modality("depth").preset("tiny").data


def room(height=48, width=64, seed=0):
    """Depth in metres: a wall at 5 m and a box at 1.5 m, plus a little noise."""
    rng = np.random.default_rng(seed)
    depth = np.full((height, width), 5.0) + rng.normal(0, 0.01, (height, width))
    depth[height // 4: height // 2, width // 4: width // 2] = 1.5
    return depth


def write_png_mm(path, metres):
    millimetres = np.round(np.nan_to_num(metres, nan=0.0) * 1000).astype(np.uint16)
    Image.fromarray(millimetres).save(path)
    assert Image.open(path).mode == "I;16"


@pytest.fixture
def model():
    return ib.MultiModalModel.from_presets({"depth": "tiny"})


def test_png_in_millimetres_and_npy_in_metres_agree(model, tmp_path):
    metres = np.round(room() * 1000) / 1000  # what the png can hold
    write_png_mm(tmp_path / "d.png", metres)
    np.save(tmp_path / "d.npy", metres.astype(np.float32))
    transform = model.transform("depth")
    from_png, from_npy = transform(str(tmp_path / "d.png")), transform(str(tmp_path / "d.npy"))
    assert from_png.shape == (1, TINY["image_size"], TINY["image_size"])
    assert torch.allclose(from_png, from_npy, atol=1e-5)
    embeddings = model.embed({"depth": [tmp_path / "d.png", tmp_path / "d.npy"]})["depth"]
    assert embeddings.shape == (2, 128) and torch.isfinite(embeddings).all()
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(2), atol=1e-5)
    assert torch.allclose(embeddings[0], embeddings[1], atol=1e-4)


def test_values_are_normalised_disparity_and_invalid_pixels_are_zero_disparity(model):
    size = TINY["image_size"]
    depth = np.full((size, size), 2.0, dtype=np.float32)  # no resize needed at this size
    depth[:, : size // 4] = 0.0
    depth[0, -1], depth[1, -1], depth[2, -1] = np.nan, np.inf, -1.0
    sample = model.transform("depth")(depth)[0]
    disparity = sample * TINY["std"] + TINY["mean"]
    assert torch.allclose(disparity[3:, size // 4:], torch.full_like(disparity[3:, size // 4:], 0.5), atol=1e-5)
    assert torch.allclose(disparity[:, : size // 4], torch.zeros(size, size // 4), atol=1e-5)
    assert torch.allclose(disparity[:3, -1], torch.zeros(3), atol=1e-5)


def test_near_readings_are_clamped_so_disparity_stays_bounded(model):
    depth = np.full((32, 32), 1e-4, dtype=np.float32)
    disparity = model.transform("depth")(depth) * TINY["std"] + TINY["mean"]
    assert torch.allclose(disparity, torch.full_like(disparity, 1.0 / TINY["min_depth"]), rtol=1e-5)


def test_non_square_maps_are_resized_and_centre_cropped(model):
    sample = model.transform("depth")(torch.from_numpy(room(120, 200)))
    assert sample.shape == (1, 32, 32)


def test_backward_through_the_encoder():
    encoder = ib.create_encoder("depth/tiny").train()
    spec = ib.get_modality("depth")
    transform = spec.transform(encoder.data_config)
    embeddings = encoder(spec.collate([transform(room(seed=s)) for s in range(3)]))
    (embeddings @ embeddings.T).triu(1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in encoder.parameters())
    assert encoder.stem.proj.weight.grad.abs().sum() > 0


def test_imagebind_huge_stem_matches_imagebinds():
    config = ib.get_modality("depth").preset("imagebind_huge")
    stem = ib.get_modality("depth").build_stem(config)
    assert stem(torch.zeros(1, 1, 224, 224)).shape == (1, 1 + 14 * 14, 384)
    assert stem.proj.kernel_size == (16, 16) and stem.proj.bias is None and stem.norm.eps == 1e-5


def test_eight_bit_png_is_refused_with_the_file_named(model, tmp_path):
    Image.fromarray(np.full((8, 8), 100, dtype=np.uint8)).save(tmp_path / "vis.png")
    with pytest.raises(ib.InputError, match="no metric depth") as info:
        model.embed({"depth": [tmp_path / "vis.png"]})
    assert "vis.png" in str(info.value) and "'depth'" in str(info.value)


@pytest.mark.parametrize("name,content,match", [
    ("empty.png", b"", "empty"),
    ("corrupt.png", b"\x89PNG\r\n\x1a\nnot really", "cannot decode"),
    ("corrupt.npy", b"\x93NUMPY garbage", "cannot decode"),
])
def test_corrupt_or_empty_files_name_the_file_and_modality(model, tmp_path, name, content, match):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ib.ImageBindLiteError, match=match) as info:
        model.embed({"depth": [tmp_path / name]})
    assert name in str(info.value) and "'depth'" in str(info.value)


@pytest.mark.parametrize("bad,match", [
    (np.full((16, 16), np.nan, dtype=np.float32), "no valid pixel"),
    (np.zeros((16, 16), dtype=np.uint16), "no valid pixel"),
    (np.full((16, 16), np.inf), "no valid pixel"),
    (np.ones((3, 16, 16)), "single-channel"),
    (np.ones(16), "single-channel"),
])
def test_bad_arrays_are_input_errors(model, bad, match):
    with pytest.raises(ib.InputError, match=match):
        model.embed({"depth": [bad]})


@pytest.mark.slow
def test_stem_matches_imagebinds_depth_preprocessor():
    """Same tokens as ImageBind's depth RGBDTPreprocessor with the weights mapped one to one
    (test-only reference from ``imagebind-unofficial``; see tests/install_reference_impl.sh)."""
    from functools import partial

    from reference_impl import import_reference

    mp = import_reference("imagebind.models.multimodal_preprocessors")
    config = ib.get_modality("depth").preset("imagebind_huge")
    ours = ib.get_modality("depth").build_stem(config)
    stem = mp.PatchEmbedGeneric([torch.nn.Conv2d(1, 384, kernel_size=16, stride=16, bias=False)],
                                norm_layer=torch.nn.LayerNorm(384))
    theirs = mp.RGBDTPreprocessor(rgbt_stem=None, depth_stem=stem, img_size=[1, 224, 224], num_cls_tokens=1,
                                  pos_embed_fn=partial(mp.SpatioTemporalPosEmbeddingHelper, learnable=True))
    ours.load_state_dict({"proj.weight": stem.proj.weight, "norm.weight": stem.norm_layer.weight,
                          "norm.bias": stem.norm_layer.bias, "cls_token": theirs.cls_token,
                          "pos_embed": theirs.pos_embedding_helper.pos_embed})
    x = torch.randn(2, 1, 224, 224)
    assert torch.allclose(ours(x), theirs(depth=x)["trunk"]["tokens"], atol=1e-5)


# ----- data-config options for releases and published recipes (SUN RGB-D, Omnivore) ------------
def sunrgbd_code(millimetres):
    """How the SUN RGB-D release stores millimetres: rotated left by 3 bits in 16 bits."""
    mm = np.asarray(millimetres, dtype=np.uint16)
    return (mm << 3) | (mm >> 13)


def transform_with(**changes):
    return ib.get_modality("depth").transform({**TINY, "mean": 0.0, "std": 1.0, **changes})


def test_sunrgbd_encoding_undoes_the_bit_rotation_of_the_release(tmp_path):
    metres = np.full((32, 32), 2.5, dtype=np.float32)
    metres[:4] = 9.0  # beyond the 8 m cap of the SUN RGB-D recipe
    Image.fromarray(sunrgbd_code(np.round(metres * 1000))).save(tmp_path / "d.png")
    decoded = transform_with(depth_encoding="sunrgbd", max_depth=8.0)(str(tmp_path / "d.png"))[0]
    assert torch.allclose(decoded[4:], torch.full((28, 32), 1 / 2.5), atol=1e-5)
    assert torch.allclose(decoded[:4], torch.full((4, 32), 1 / 8.0), atol=1e-5)
    as_millimetres = transform_with()(str(tmp_path / "d.png"))[0]  # the default reads the codes as mm: ~8x too far
    assert as_millimetres[10, 10] < decoded[10, 10] / 7


def test_camera_disparity_scale_reads_the_sunrgbd_sample_intrinsics(tmp_path):
    sample = tmp_path / "SUNRGBD" / "realsense" / "lg" / "2014_10_24-14_09_07-1311000073"
    (sample / "depth_bfx").mkdir(parents=True)
    (sample / "intrinsics.txt").write_text("691.58 0 362.38\n0 691.58 264.75\n0 0 1\n")
    Image.fromarray(sunrgbd_code(np.full((32, 32), 2000))).save(sample / "depth_bfx" / "0000103.png")
    transform = transform_with(depth_encoding="sunrgbd", disparity_scale="camera", max_disparity=75.0)
    disparity = transform(str(sample / "depth_bfx" / "0000103.png"))[0]
    assert torch.allclose(disparity, torch.full_like(disparity, 0.095 * 691.58 / 2.0), rtol=1e-5)  # 32.85 px
    near = transform_with(disparity_scale="camera", max_disparity=75.0)  # 0.3 m: 219 px, clamped to 75
    Image.fromarray(np.full((32, 32), 300, dtype=np.uint16)).save(sample / "depth_bfx" / "0000103.png")
    assert torch.allclose(near(str(sample / "depth_bfx" / "0000103.png")), torch.full((1, 32, 32), 75.0))


@pytest.mark.parametrize("changes,item,match", [
    ({"disparity_scale": "camera"}, np.ones((8, 8), dtype=np.float32), "file path"),
    ({"depth_encoding": "inches"}, np.ones((8, 8), dtype=np.uint16), "unknown depth_encoding"),
])
def test_recipe_options_fail_clearly(changes, item, match):
    with pytest.raises(ib.InputError, match=match):
        transform_with(**changes)(item)


def test_camera_scale_without_a_sensor_folder_names_the_file(tmp_path):
    Image.fromarray(np.full((8, 8), 900, dtype=np.uint16)).save(tmp_path / "d.png")
    with pytest.raises(ib.InputError, match="sensor folder") as info:
        transform_with(disparity_scale="camera")(str(tmp_path / "d.png"))
    assert "d.png" in str(info.value)

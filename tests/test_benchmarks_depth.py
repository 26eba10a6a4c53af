"""``imagebind-lite manifest sunrgbd|nyud`` on fixtures in the releases' own formats: SUN RGB-D
sample folders (scene.txt, intrinsics.txt, bit-rotated 16-bit pngs) with the toolbox's
allsplit.mat (MATLAB v5 cells), and NYU-Depth v2's labelled .mat (MATLAB v7.3 = HDF5, cell of
char arrays, column-major depths) with splits.mat."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

import imagebind_lite as ib
from benchmark_fixtures import (
    NYU_SCENES, benchmark_json, cli, evaluate, label_names, save_tiny_model, write_matlab_73, write_nyud_release,
)
from imagebind_lite.data.benchmarks import get_benchmark
from imagebind_lite.data.manifest import read_manifest

AUTHORS_PREFIX = "/n/fs/sun3d/data/SUNRGBD/"
SUN_SAMPLES = [  # (sensor folder path, scene, fx)
    ("kv1/NYUdata/NYU0003", "bedroom", 518.857901),
    ("kv2/kinect2data/000065_2014-05-16_20-14-38_260595134347_rgbf000121-resize", "office", 529.5),
    ("realsense/lg/2014_10_24-14_09_07-1311000073", "idk", 691.58),  # outside the 19 classes
    ("xtion/xtion_align_data/2014_12_09-12_18_24-1311000073", "study_space", 570.34),
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model"))


def cell(strings):
    out = np.empty((1, len(strings)), dtype=object)
    out[0, :] = strings
    return out


@pytest.fixture
def sunrgbd(tmp_path):
    """SUNRGBD/ + SUNRGBDtoolbox/ side by side, as the two zips unpack."""
    root = tmp_path / "SUNRGBD"
    for i, (folder, scene, fx) in enumerate(SUN_SAMPLES):
        sample = root / folder
        for sub in ("image", "depth", "depth_bfx"):
            (sample / sub).mkdir(parents=True)
        (sample / "scene.txt").write_text(scene)  # the release's files have no trailing newline
        (sample / "intrinsics.txt").write_text(f"{fx} 0 320.0 \n0 {fx} 240.0 \n0 0 1 \n")
        millimetres = np.full((24, 32), 1500 + 500 * i, dtype=np.uint16)
        millimetres[:3, :3] = 0  # missing readings
        frame = f"{i:07d}"
        for sub in ("depth", "depth_bfx"):
            Image.fromarray((millimetres << 3) | (millimetres >> 13)).save(sample / sub / f"{frame}.png")
        Image.new("RGB", (32, 24), (10 * i, 0, 0)).save(sample / "image" / f"{frame}.jpg")
    split = tmp_path / "SUNRGBDtoolbox" / "traintestSUNRGBD"
    split.mkdir(parents=True)
    scipy.io.savemat(split / "allsplit.mat", {"alltest": cell([AUTHORS_PREFIX + f for f, _, _ in SUN_SAMPLES]),
                                              "alltrain": cell([AUTHORS_PREFIX + "kv1/NYUdata/NYU0001"])})
    return root


def test_sunrgbd_test_split_keeps_the_19_classes_and_evaluates(sunrgbd, tmp_path, model_dir):
    rc, out, err = cli("manifest", "sunrgbd", sunrgbd, tmp_path / "sun", "--template", "a photo of a {}.")
    assert rc == 0, err
    manifest = read_manifest(tmp_path / "sun" / "manifest.csv", ["depth"])
    assert label_names(manifest) == ["bedroom", "office", "study_space"]
    assert manifest.rows[0]["id"] == "kv1/NYUdata/NYU0003"
    assert manifest.item(1, "depth").parent.name == "depth_bfx"
    description = benchmark_json(tmp_path / "sun")
    assert description["data"]["outside_protocol_left_out"] == {"idk": 1} and description["data"]["n_classes"] == 19
    assert description["paper"]["figures"] == {"top1": 35.1}
    variants = {v["name"]: v["data"] for v in description["preprocessing"]}
    assert variants["sunrgbd_millimetres"] == {"depth_encoding": "sunrgbd"}
    assert variants["omnivore_disparity"]["disparity_scale"] == "camera"
    metrics = evaluate(model_dir, tmp_path / "sun", tmp_path / "eval")
    assert 0.0 <= metrics["zero_shot"]["depth"]["top1"] <= 1.0


def test_sunrgbd_disparity_recipe_reads_each_samples_camera(sunrgbd, tmp_path):
    cli("manifest", "sunrgbd", sunrgbd, tmp_path / "sun")
    manifest = read_manifest(tmp_path / "sun" / "manifest.csv", ["depth"])
    data = {**ib.get_modality("depth").preset("tiny").data, **get_benchmark("sunrgbd").variants[1].data}
    transform = ib.get_modality("depth").transform(data)
    disparity = [float(transform(str(manifest.item(i, "depth")))[0, -1, -1]) * 75.0 for i in range(3)]
    assert disparity == pytest.approx([0.075 * 518.857901 / 1.5, 0.075 * 529.5 / 2.0, 0.095 * 570.34 / 3.0], rel=1e-4)


def test_sunrgbd_missing_split_file_sample_and_depth_map(sunrgbd, tmp_path):
    split = tmp_path / "SUNRGBDtoolbox" / "traintestSUNRGBD" / "allsplit.mat"
    rc, out, err = cli("manifest", "sunrgbd", sunrgbd, tmp_path / "sun", "--split-file", tmp_path / "nowhere.mat")
    assert rc == 2 and "allsplit.mat not found" in err and "nowhere.mat" in err
    split.rename(tmp_path / "moved.mat")
    rc, out, err = cli("manifest", "sunrgbd", sunrgbd, tmp_path / "sun")
    assert rc == 2 and "SUNRGBDtoolbox.zip" in err
    rc, out, err = cli("manifest", "sunrgbd", sunrgbd, tmp_path / "sun", "--split-file", tmp_path / "moved.mat")
    assert rc == 0, err
    (sunrgbd / SUN_SAMPLES[1][0] / "scene.txt").unlink()
    rc, out, err = cli("manifest", "sunrgbd", sunrgbd, tmp_path / "sun", "--split-file", tmp_path / "moved.mat")
    assert rc == 2 and "scene.txt" in err and "alltest[1]" in err
    (sunrgbd / SUN_SAMPLES[1][0] / "scene.txt").write_text("office")
    next((sunrgbd / SUN_SAMPLES[3][0] / "depth_bfx").glob("*.png")).unlink()
    rc, out, err = cli("manifest", "sunrgbd", sunrgbd, tmp_path / "sun", "--split-file", tmp_path / "moved.mat")
    assert rc == 2 and "depth_bfx" in err and "alltest[3]" in err


@pytest.fixture
def nyud(tmp_path):
    return write_nyud_release(tmp_path / "nyu")


def test_nyud_test_images_are_exported_and_grouped_into_ten_classes(nyud, tmp_path, model_dir):
    rc, out, err = cli("manifest", "nyud", nyud, tmp_path / "nyu", "--template", "a photo of a {}.")
    assert rc == 0, err
    manifest = read_manifest(tmp_path / "nyu" / "manifest.csv", ["depth"])
    assert label_names(manifest) == ["kitchen", "others", "others", "living_room"]
    assert [r["scene_type"] for r in manifest.rows] == ["kitchen", "basement", "study_room", "living_room"]
    depth = np.load(manifest.item(1, "depth"))
    assert depth.shape == (12, 16) and depth.dtype == np.float32
    assert depth[0, :4].tolist() == [0, 1, 2, 3] and depth[5, 5] == 3.0  # image 3 of the .mat
    description = benchmark_json(tmp_path / "nyu")
    assert description["data"]["n_classes"] == 10 and description["paper"]["figures"] == {"top1": 54.0}
    group = description["class_groups"]["others"]
    assert group["reduce"] == "max" and len(group["names"]) == 18 and "study room" in group["names"]
    prompts = (tmp_path / "nyu" / "prompts.json").read_text()
    assert '"a photo of a basement."' in prompts and '"a photo of a others."' not in prompts
    metrics = evaluate(model_dir, tmp_path / "nyu", tmp_path / "eval")
    assert 0.0 <= metrics["zero_shot"]["depth"]["top1"] <= 1.0


def test_nyud_disparity_variant_gives_kinect_disparity(nyud, tmp_path):
    cli("manifest", "nyud", nyud, tmp_path / "nyu")
    path = read_manifest(tmp_path / "nyu" / "manifest.csv").item(0, "depth")  # 1 m everywhere but row 0
    data = {**ib.get_modality("depth").preset("tiny").data, **get_benchmark("nyud").variants[1].data}
    sample = ib.get_modality("depth").transform(data)(str(path))
    assert torch.allclose(sample[0, -4:, -4:] * 75.0, torch.full((4, 4), 0.075 * 518.857901), rtol=1e-4)


def test_nyud_unknown_scene_type_and_missing_split_file(nyud, tmp_path):
    scenes = NYU_SCENES[:2] + ["spaceship"] + NYU_SCENES[3:]
    write_matlab_73(nyud / "nyu_depth_v2_labeled.mat", np.ones((6, 12, 16), dtype=np.float32), scenes)
    rc, out, err = cli("manifest", "nyud", nyud, tmp_path / "nyu")
    assert rc == 2 and "unknown class 'spaceship'" in err and "sceneTypes[3]" in err
    (nyud / "splits.mat").unlink()
    rc, out, err = cli("manifest", "nyud", nyud, tmp_path / "nyu")
    assert rc == 2 and "splits.mat" in err and "not found" in err

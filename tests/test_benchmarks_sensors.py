"""``imagebind-lite manifest llvip|ego4d`` on fixtures in the releases' formats: LLVIP's
infrared/test jpgs with Pascal-VOC XML annotations, Ego4D's ego4d.json with per-video IMU csv
files as the ego4d CLI writes them."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import imagebind_lite as ib
from benchmark_fixtures import benchmark_json, cli, evaluate, label_names, save_tiny_model, write_csv
from imagebind_lite.data.manifest import read_manifest

LLVIP_BOXES = {"190001": [(10, 8, 22, 40), (60, 20, 75, 47)], "190002": [(30, 5, 44, 30), (0, 0, 5, 5)]}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model"))


def voc_xml(name, size, boxes, label="person"):
    objects = "".join(
        f"\t<object>\n\t\t<name>{label}</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n"
        f"\t\t<difficult>0</difficult>\n\t\t<bndbox>\n\t\t\t<xmin>{b[0]}</xmin>\n\t\t\t<ymin>{b[1]}</ymin>\n"
        f"\t\t\t<xmax>{b[2]}</xmax>\n\t\t\t<ymax>{b[3]}</ymax>\n\t\t</bndbox>\n\t</object>\n" for b in boxes)
    return (f"<annotation>\n\t<folder>LLVIP</folder>\n\t<filename>{name}.jpg</filename>\n\t<source>\n"
            f"\t\t<database>LLVIP</database>\n\t</source>\n\t<size>\n\t\t<width>{size[0]}</width>\n"
            f"\t\t<height>{size[1]}</height>\n\t\t<depth>3</depth>\n\t</size>\n\t<segmented>0</segmented>\n"
            f"{objects}</annotation>\n")


@pytest.fixture
def llvip(tmp_path):
    """LLVIP/: infrared + visible jpgs (grey thermal saved as 3-channel, as the release does) + XML."""
    root = tmp_path / "LLVIP"
    for sub in ("infrared/test", "infrared/train", "visible/test", "Annotations"):
        (root / sub).mkdir(parents=True)
    for i, (name, boxes) in enumerate(LLVIP_BOXES.items()):
        grey = np.full((48, 80), 40, dtype=np.uint8)
        for x0, y0, x1, y1 in boxes:
            grey[y0:y1, x0:x1] = 200 + i  # warm bodies
        Image.fromarray(grey).convert("RGB").save(root / "infrared" / "test" / f"{name}.jpg", quality=100)
        Image.new("RGB", (80, 48), (90, 90, 90)).save(root / "visible" / "test" / f"{name}.jpg")
        (root / "Annotations" / f"{name}.xml").write_text(voc_xml(name, (80, 48), boxes))
    return root


def test_llvip_person_and_background_crops_from_the_annotated_boxes(llvip, tmp_path, model_dir):
    rc, out, err = cli("manifest", "llvip", llvip, tmp_path / "llvip", "--template", "a thermal photo of a {}.")
    assert rc == 0, err
    manifest = read_manifest(tmp_path / "llvip" / "manifest.csv", ["thermal"])
    names = label_names(manifest)
    assert names.count("person") == 3 and names.count("background") == 3  # the 5x5 box is below --min-size
    rows = {r["id"]: r for r in manifest.rows}
    person = np.asarray(Image.open(manifest.root / rows["person/190001_1"]["thermal"]))
    assert person.shape == (27, 15) and person.mean() > 190  # the box (60, 20, 75, 47), warm
    for k, name in ((0, "190001"), (1, "190001"), (0, "190002")):
        box = [int(v) for v in rows[f"background/{name}_{k}"]["box"].split()]
        person_box = LLVIP_BOXES[name][k]
        assert (box[2] - box[0], box[3] - box[1]) == (person_box[2] - person_box[0], person_box[3] - person_box[1])
        assert not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in LLVIP_BOXES[name])
    facts = benchmark_json(tmp_path / "llvip")["data"]
    assert facts["boxes_below_min_size"] == 1 and facts["options"] == {"seed": 0, "min_size": 8}
    variants = {v["name"]: v["data"] for v in benchmark_json(tmp_path / "llvip")["preprocessing"]}
    assert variants["no_normalize"] == {"mean": 0.0, "std": 1.0}
    first = (tmp_path / "llvip" / "manifest.csv").read_text()
    cli("manifest", "llvip", llvip, tmp_path / "again", "--template", "a thermal photo of a {}.")
    assert (tmp_path / "again" / "manifest.csv").read_text() == first  # seeded: the same crops
    metrics = evaluate(model_dir, tmp_path / "llvip", tmp_path / "eval")
    assert 0.0 <= metrics["zero_shot"]["thermal"]["top1"] <= 1.0


def test_llvip_missing_annotation_and_unknown_object_class(llvip, tmp_path):
    (llvip / "Annotations" / "190002.xml").unlink()
    rc, out, err = cli("manifest", "llvip", llvip, tmp_path / "llvip")
    assert rc == 2 and "190002.xml" in err and "infrared/test/190002.jpg" in err
    (llvip / "Annotations" / "190002.xml").write_text(voc_xml("190002", (80, 48), [(1, 1, 20, 20)], label="car"))
    rc, out, err = cli("manifest", "llvip", llvip, tmp_path / "llvip")
    assert rc == 2 and "unknown class 'car'" in err and "190002.xml object 0" in err


IMU_COLUMNS = ["component_idx", "component_timestamp_ms", "canonical_timestamp_ms",
               "gyro_x", "gyro_y", "gyro_z", "accl_x", "accl_y", "accl_z"]


def write_imu_stream(path, seconds=12.0, rate=200.0, offset_ms=1_234_000.0):
    """An Ego4D IMU csv: gyro then accelerometer columns, canonical ms time stamps, constant
    channels (gyro 0.1-0.3 rad/s, accl 1-3 m/s^2) so their order can be checked after reading."""
    times = offset_ms + np.arange(int(seconds * rate)) * 1000.0 / rate
    rows = [(0, t - offset_ms, t, 0.1, 0.2, 0.3, 1.0, 2.0, 3.0) for t in times]
    write_csv(path, IMU_COLUMNS, rows)


@pytest.fixture
def ego4d(tmp_path):
    root = tmp_path / "ego4d_data"
    videos = [("a1f0", ["Cooking"], True), ("b2e1", ["Cleaning / laundry"], True),
              ("c3d2", ["Cooking", "Baking"], True), ("d4c3", ["Cooking"], False)]
    (root / "v2" / "imu").mkdir(parents=True)
    metadata = {"date": "2022-03-01", "version": "v2",
                "videos": [{"video_uid": uid, "scenarios": scenarios, "has_imu": has_imu, "duration_sec": 12.0}
                           for uid, scenarios, has_imu in videos]}
    (root / "ego4d.json").write_text(json.dumps(metadata))
    for uid, _, has_imu in videos:
        if has_imu:
            write_imu_stream(root / "v2" / "imu" / f"{uid}.csv")
    return root


def test_ego4d_single_scenario_videos_become_imu_clips(ego4d, tmp_path, model_dir):
    rc, out, err = cli("manifest", "ego4d", ego4d, tmp_path / "imu", "--clips-per-video", "2",
                       "--clip-seconds", "5")
    assert rc == 0, err
    manifest = read_manifest(tmp_path / "imu" / "manifest.csv", ["imu"])
    assert [r["id"] for r in manifest.rows] == ["a1f0_0", "a1f0_1", "b2e1_0", "b2e1_1"]
    assert label_names(manifest) == ["Cooking", "Cooking", "Cleaning / laundry", "Cleaning / laundry"]
    facts = benchmark_json(tmp_path / "imu")["data"]
    assert facts["left_out_by_scenario_count"] == {"2": 1} and facts["n_classes"] == 2
    spec = ib.get_modality("imu")
    recording = spec.load(manifest.item(0, "imu"))
    assert recording.rate == pytest.approx(200.0) and recording.values.shape[1] in (1000, 1001)
    assert recording.values[:, 0].tolist() == pytest.approx([1.0, 2.0, 3.0, 0.1, 0.2, 0.3])  # acc, then gyro
    with pytest.warns(UserWarning, match="zero-padded"):  # 5 s clips, the ImageBind-size window holds 10 s
        clip = spec.transform(spec.preset("imagebind_huge").data)(manifest.item(1, "imu"))
    assert clip.shape == (6, 2000) and torch.isfinite(clip).all()
    metrics = evaluate(model_dir, tmp_path / "imu", tmp_path / "eval")
    assert 0.0 <= metrics["zero_shot"]["imu"]["top1"] <= 1.0


def test_ego4d_missing_stream_and_split_file(ego4d, tmp_path):
    rc, out, err = cli("manifest", "ego4d", ego4d, tmp_path / "imu", "--split-file", tmp_path / "test_uids.txt")
    assert rc == 2 and "split file not found" in err and "test_uids.txt" in err
    (tmp_path / "test_uids.txt").write_text("b2e1\n")
    rc, out, err = cli("manifest", "ego4d", ego4d, tmp_path / "imu", "--split-file", tmp_path / "test_uids.txt")
    assert rc == 0 and benchmark_json(tmp_path / "imu")["data"]["n_samples"] == 1
    (ego4d / "v2" / "imu" / "a1f0.csv").unlink()
    rc, out, err = cli("manifest", "ego4d", ego4d, tmp_path / "imu")
    assert rc == 2 and "a1f0.csv" in err and "ego4d.json video a1f0" in err

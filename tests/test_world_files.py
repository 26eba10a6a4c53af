"""Synthetic world written to disk: files, manifests, world.json, the CLI and the preview, and
the written files read back through the registered modality loaders."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from imagebind_lite import registry
from imagebind_lite.cli import main as cli_main
from imagebind_lite.commands.world import parse_sizes
from imagebind_lite.data.world import SyntheticWorld, WorldConfig, write_world
from imagebind_lite.errors import InputError

SIZES = {"text": 2, "audio": 2, "depth": 2, "thermal": 2, "imu": 2, "eval": 3}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    world = SyntheticWorld(WorldConfig(num_concepts=8, seed=2, image_size=32))
    out = tmp_path_factory.mktemp("world")
    return world, out, write_world(world, out, sizes=SIZES, progress=False)


def _rows(manifest: Path):
    with open(manifest, newline="") as f:
        return list(csv.DictReader(f))


def test_manifests_have_the_documented_columns_and_existing_relative_files(written):
    world, out, paths = written
    assert paths["eval"] == out / "eval" / "manifest.csv"
    for collection, count in SIZES.items():
        rows = _rows(paths[collection])
        assert len(rows) == count
        modalities = world.modalities(collection)
        with open(paths[collection]) as f:
            header = f.readline().strip().split(",")
        assert header[:2 + len(modalities)] == ["id", "label", *modalities]
        assert {"tempo", "tempo_bin", "size"} <= set(header)
        for i, row in enumerate(rows):
            sample = world.sample(collection, i)
            assert row["id"] == sample["id"] and int(row["label"]) == sample["label"]
            for m in modalities:
                if m == "text":
                    assert row[m] == sample["text"]
                else:
                    assert not Path(row[m]).is_absolute()
                    assert (paths[collection].parent / row[m]).is_file()
    assert not list(out.rglob("*.tmp*"))  # no temporary leftovers


def test_files_round_trip_to_the_generated_arrays(written):
    world, out, paths = written
    root = paths["eval"].parent
    imu_suffixes = set()
    for i, row in enumerate(_rows(paths["eval"])):
        s = world.sample("eval", i)
        assert np.array_equal(np.asarray(Image.open(root / row["vision"]).convert("RGB")), s["vision"])
        depth = Image.open(root / row["depth"])
        assert depth.mode == "I;16"
        assert np.abs(np.asarray(depth, dtype=np.float64) / 1000.0 - s["depth"]).max() <= 0.0005 + 1e-6
        assert np.array_equal(np.asarray(Image.open(root / row["thermal"])), s["thermal"])
        audio, rate = sf.read(root / row["audio"], dtype="float32")
        assert rate == world.config.sample_rate and sf.info(root / row["audio"]).subtype == "PCM_16"
        assert np.abs(audio - s["audio"]).max() < 1.0 / 16384
        imu_path = root / row["imu"]
        imu_suffixes.add(imu_path.suffix)
        if imu_path.suffix == ".npy":
            imu = np.load(imu_path)
        else:
            assert imu_path.read_text().splitlines()[0] == "ax,ay,az,gx,gy,gz"
            imu = np.loadtxt(imu_path, delimiter=",", skiprows=1)
        assert np.abs(imu - s["imu"]).max() < 1e-4
    assert imu_suffixes == {".csv", ".npy"}  # the default "mixed" exercises both readers


def test_world_json_describes_the_world(written):
    world, out, paths = written
    data = json.loads(paths["world"].read_text())
    assert WorldConfig.from_dict(data["config"]) == world.config
    assert data["class_names"] == world.class_names
    assert data["prompts"] == world.class_prompts()
    assert data["manifests"]["eval"] == "eval/manifest.csv"
    assert "tempo" in data["nonvisual_attributes"]


def test_written_files_load_through_the_modality_loaders(written):
    world, out, paths = written
    row = _rows(paths["eval"])[0]
    shapes = {}
    for m in ("vision", "depth", "thermal", "audio", "imu", "text"):
        spec = registry.get_modality(m)
        data = spec.preset("tiny").data
        item = row[m] if m == "text" else paths["eval"].parent / row[m]
        tensor = spec.transform(data)(item)
        assert bool(tensor.isfinite().all()), m
        shapes[m] = (tuple(tensor.shape), data)
    for m, channels in (("vision", 3), ("depth", 1), ("thermal", 1)):
        shape, data = shapes[m]
        assert shape == (channels, data["image_size"], data["image_size"]), m
    shape, data = shapes["audio"]
    assert shape == (data["clips_per_sample"], 1, data["num_mel_bins"], data["target_length"])
    shape, data = shapes["imu"]
    assert shape == (6, data["num_samples"])
    shape, data = shapes["text"]
    assert shape == (data["context_length"],)


def test_sixteen_bit_thermal_is_written_as_single_channel_16_bit(tmp_path):
    world = SyntheticWorld(WorldConfig(num_concepts=4, image_size=16, thermal_bits=16))
    paths = write_world(world, tmp_path, sizes={"thermal": 1}, progress=False, imu_format="npy")
    row = _rows(paths["thermal"])[0]
    image = Image.open(paths["thermal"].parent / row["thermal"])
    assert image.mode == "I;16" and np.array_equal(np.asarray(image), world.sample("thermal", 0)["thermal"])
    assert set(paths) == {"thermal", "world"}


def test_bad_sizes_and_formats_raise(tmp_path):
    world = SyntheticWorld(WorldConfig(num_concepts=4, image_size=16))
    with pytest.raises(InputError):
        write_world(world, tmp_path, sizes={"smell": 1}, progress=False)
    with pytest.raises(InputError):
        write_world(world, tmp_path, sizes={"imu": 1}, imu_format="xml", progress=False)
    with pytest.raises(InputError):
        parse_sizes("audio=x")
    assert parse_sizes("8")["eval"] == 2 and parse_sizes("audio=3,eval=1") == {"audio": 3, "eval": 1}


def test_cli_writes_world_and_preview(tmp_path, capsys):
    assert cli_main(["world", str(tmp_path), "--num-concepts", "4", "--image-size", "16", "--sizes",
                     "audio=1,eval=2", "--preview", "--preview-n", "2", "--no-progress"]) == 0
    assert (tmp_path / "preview.png").stat().st_size > 1000
    assert Image.open(tmp_path / "preview.png").format == "PNG"
    assert (tmp_path / "pairs" / "audio" / "manifest.csv").is_file()
    assert "preview" in capsys.readouterr().out


def test_several_writer_processes_write_the_same_files(tmp_path):
    """Samples depend on their index alone: two processes give byte-identical files and manifests."""
    import hashlib

    world = SyntheticWorld(WorldConfig(num_concepts=4, seed=1, image_size=16))
    sizes = {"audio": 300, "eval": 2}  # more than two chunks: the pool is used

    def digests(root: Path, workers: int) -> dict:
        write_world(world, root, sizes=sizes, progress=False, workers=workers)
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    one, two = digests(tmp_path / "one", 1), digests(tmp_path / "two", 2)
    assert sum(name.startswith("pairs/audio/audio/") for name in one) == 300
    assert one == two


def test_world_files_get_the_mode_the_umask_gives(tmp_path):
    """The world's writers skip the atomic writer's mode fix-up (each creates its file with a plain
    open): the files must still come out as an ordinary write would make them."""
    import os
    import stat

    world = SyntheticWorld(WorldConfig(num_concepts=4, seed=1, image_size=16))
    old = os.umask(0o027)
    try:
        write_world(world, tmp_path, sizes={"audio": 2, "eval": 4}, progress=False)
    finally:
        os.umask(old)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".wav", ".png", ".csv", ".npy", ".json"}
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o640}


def test_an_interrupted_rewrite_leaves_no_manifest_listing_half_written_files(tmp_path, monkeypatch):
    """Sample files are written in place; the manifest is what makes them visible: an earlier
    run's manifest goes before the files are rewritten and the new one comes last."""
    from imagebind_lite.data.world import fileio

    world = SyntheticWorld(WorldConfig(num_concepts=4, seed=1, image_size=16))
    paths = write_world(world, tmp_path, sizes={"audio": 4, "imu": 4}, progress=False)
    assert paths["audio"].is_file() and paths["imu"].is_file()
    written = []

    def write_wav_then_fail(path, audio, rate):
        if written:
            path.write_bytes(b"RIFF")  # a truncated file, as a killed writer leaves one
            raise KeyboardInterrupt
        written.append(path)
        real_write_wav(path, audio, rate)

    real_write_wav = fileio.write_wav
    monkeypatch.setattr(fileio, "write_wav", write_wav_then_fail)
    with pytest.raises(KeyboardInterrupt):
        write_world(world, tmp_path, sizes={"audio": 4, "imu": 4}, progress=False)
    assert not paths["audio"].exists()  # the rewritten collection is not listed any more
    assert paths["imu"].is_file()  # the untouched one still is (imu comes after audio)
    monkeypatch.undo()
    write_world(world, tmp_path, sizes={"audio": 4}, progress=False)
    rows = _rows(paths["audio"])
    assert len(rows) == 4 and all(sf.info(str(paths["audio"].parent / r["audio"])).frames > 0 for r in rows)

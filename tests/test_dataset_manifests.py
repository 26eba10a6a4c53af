"""``imagebind-lite manifest``: labelled datasets on disk (class folders, ESC-50) -> manifest +
prompts that ``evaluate`` and the manifest reader take as they are."""
from __future__ import annotations

import contextlib
import csv
import io
import json

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from imagebind_lite import ImageBindLiteError, MultiModalModel
from imagebind_lite.cli import main
from imagebind_lite.data.manifest import read_manifest

ESC_CLASSES = {0: "dog", 1: "church_bells", 2: "rain"}


def cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture
def esc50(tmp_path):
    """An ESC-50-shaped release: meta/esc50.csv with the real columns, 1 s clips in audio/."""
    root = tmp_path / "ESC-50-master"
    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    rows = []
    for i in range(9):
        target, fold = (2 - i % 3), 1 + i // 3  # targets listed out of order on purpose
        name = f"{fold}-{1000 + i}-A-{target}.wav"
        wave = 0.1 * np.random.default_rng(i).standard_normal(16000)
        soundfile.write(str(root / "audio" / name), wave.astype(np.float32), 16000)
        rows.append({"filename": name, "fold": fold, "target": target, "category": ESC_CLASSES[target],
                     "esc10": "False", "src_file": 1000 + i, "take": "A"})
    with open(root / "meta" / "esc50.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_esc50_folds_become_a_manifest_that_evaluate_scores(esc50, tmp_path):
    rc, out, err = cli("manifest", "esc50", esc50, tmp_path / "esc", "--folds", "1,3")
    assert rc == 0, err
    manifest = read_manifest(tmp_path / "esc" / "manifest.csv", ["audio"])
    assert len(manifest) == 6 and manifest.columns == ["id", "label", "audio"]
    assert all(manifest.item(i, "audio").is_file() for i in range(len(manifest)))
    assert {manifest.sample_id(i)[0] for i in range(6)} == {"1", "3"}  # ids are ESC-50 file stems
    prompts = json.loads((tmp_path / "esc" / "prompts.json").read_text())
    assert list(prompts) == ["dog", "church_bells", "rain"]  # target order, not file order
    assert prompts["church_bells"] == ["this is a sound of church bells."]

    torch.manual_seed(0)
    MultiModalModel.from_presets({"text": "tiny", "audio": "tiny"}).save(tmp_path / "model")
    rc, out, err = cli("evaluate", "--model", tmp_path / "model", "--manifest", tmp_path / "esc" / "manifest.csv",
                       "--prompts", tmp_path / "esc" / "prompts.json", "--out", tmp_path / "eval", "--no-progress")
    assert rc == 0, err
    assert "zero-shot audio" in out
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert 0.0 <= metrics["zero_shot"]["audio"]["top1"] <= 1.0


def test_class_folders_with_nested_files_and_a_template_ensemble(tmp_path):
    root = tmp_path / "photos"
    for name, count in (("red_car", 2), ("cat", 1), ("empty", 0)):
        (root / name / "sub").mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(root / name / "sub" / f"{i}.png")
    (root / "cat" / "notes.txt").write_text("not an image")
    rc, out, err = cli("manifest", "folders", root, tmp_path / "out", "--modality", "vision",
                       "--template", "a photo of a {}.", "--template", "a {}.")
    assert rc == 0, err
    manifest = read_manifest(tmp_path / "out" / "manifest.csv", ["vision"])
    assert [manifest.sample_id(i) for i in range(3)] == ["cat/sub/0.png", "red_car/sub/0.png", "red_car/sub/1.png"]
    assert manifest.class_names == ["cat", "red_car"]
    prompts = json.loads((tmp_path / "out" / "prompts.json").read_text())
    assert prompts == {"cat": ["a photo of a cat.", "a cat."], "red_car": ["a photo of a red car.", "a red car."]}


@pytest.mark.parametrize("args, message", [
    (("manifest", "folders", "{root}", "{out}"), "needs --modality"),
    (("manifest", "folders", "{root}", "{out}", "--modality", "vision", "--template", "a photo"), "exactly one"),
    (("manifest", "folders", "{root}/nowhere", "{out}", "--modality", "vision"), "does not exist"),
    (("manifest", "esc50", "{root}", "{out}"), "meta/esc50.csv"),
    (("manifest", "esc50", "{esc}", "{out}", "--folds", "one"), "comma-separated integers"),
    (("manifest", "esc50", "{esc}", "{out}", "--folds", "5"), "no ESC-50 clips"),
])
def test_bad_requests_say_what_is_wrong(esc50, tmp_path, args, message):
    (tmp_path / "root" / "dog").mkdir(parents=True)
    (tmp_path / "root" / "dog" / "a.png").write_bytes(b"")
    filled = [a.format(root=tmp_path / "root", out=tmp_path / "out", esc=esc50) for a in args]
    rc, out, err = cli(*filled)
    assert rc == 2 and message in err


def test_esc50_clips_missing_from_disk_are_named(esc50, tmp_path):
    missing = sorted((esc50 / "audio").iterdir())[0]
    missing.unlink()
    with pytest.raises(ImageBindLiteError, match=missing.name):
        from imagebind_lite.data.benchmarks import esc50_manifest

        esc50_manifest(esc50, tmp_path / "out")


def test_esc50_benchmark_description_and_a_category_that_contradicts_its_target(esc50, tmp_path):
    from imagebind_lite.data.benchmarks import load_benchmark

    rc, out, err = cli("manifest", "esc50", esc50, tmp_path / "esc")
    assert rc == 0, err
    description = load_benchmark(tmp_path / "esc")
    assert description["benchmark"] == "esc50" and description["task"] == "classification"
    assert description["paper"]["figures"] == {"top1": 66.9} and "Table 2" in description["paper"]["source"]
    assert description["files"]["manifest"] == str(tmp_path / "esc" / "manifest.csv")
    assert description["data"]["n_samples"] == 9 and description["data"]["folds"] == [1, 2, 3, 4, 5]
    text = (esc50 / "meta" / "esc50.csv").read_text().splitlines()
    text[4] = text[4].replace(",rain,", ",thunder,")  # target 2 is "rain" on the other rows
    (esc50 / "meta" / "esc50.csv").write_text("\n".join(text) + "\n")
    rc, out, err = cli("manifest", "esc50", esc50, tmp_path / "esc")
    assert rc == 2 and "unknown class 'thunder'" in err and "line 5" in err


def test_esc50_allow_missing_leaves_absent_clips_out_and_counts_them(esc50, tmp_path):
    sorted((esc50 / "audio").iterdir())[0].unlink()
    rc, out, err = cli("manifest", "esc50", esc50, tmp_path / "esc", "--allow-missing")
    assert rc == 0, err
    assert len(read_manifest(tmp_path / "esc" / "manifest.csv")) == 8
    assert json.loads((tmp_path / "esc" / "benchmark.json").read_text())["data"]["missing_left_out"] == 1


def test_folders_description_names_the_modality(tmp_path):
    for name in ("dog", "cat"):
        (tmp_path / "root" / name).mkdir(parents=True)
        Image.new("RGB", (8, 8), (len(name) * 30, 0, 0)).save(tmp_path / "root" / name / "a.png")
    assert cli("manifest", "folders", tmp_path / "root", tmp_path / "out", "--modality", "vision")[0] == 0
    description = json.loads((tmp_path / "out" / "benchmark.json").read_text())
    assert description["modality"] == "vision" and description["columns"]["input"] == "vision"
    assert description["paper"]["figures"] == {}
    MultiModalModel.from_presets({"text": "tiny", "vision": "tiny"}).save(tmp_path / "model")
    rc, out, err = cli("evaluate", "--model", tmp_path / "model", "--manifest", tmp_path / "out" / "manifest.csv",
                       "--prompts", tmp_path / "out" / "prompts.json", "--no-progress")
    assert rc == 0 and "zero-shot vision" in out, err


def test_every_adapter_is_a_manifest_subcommand_and_descriptions_are_checked(tmp_path, capsys):
    from imagebind_lite.data.benchmarks import ADAPTERS, get_benchmark, list_benchmarks, load_benchmark

    with pytest.raises(SystemExit) as exit_info:
        main(["manifest", "-h"])
    assert exit_info.value.code == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in ADAPTERS) and set(list_benchmarks()) == set(ADAPTERS)
    with pytest.raises(ImageBindLiteError, match="unknown benchmark 'mnist'"):
        get_benchmark("mnist")
    (tmp_path / "benchmark.json").write_text('{"format": 1, "benchmark": "x"}')
    with pytest.raises(ImageBindLiteError, match="not a format-1 benchmark description"):
        load_benchmark(tmp_path)

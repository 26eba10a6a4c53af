"""``imagebind-lite manifest audioset|vggsound|clotho|audiocaps`` on fixtures laid out and
formatted as the releases are (AudioSet's commented segment csv, VGGSound's header-less csv,
Clotho's five caption columns, AudioCaps' test.csv), with real wav/flac clips."""
from __future__ import annotations

import pytest

from benchmark_fixtures import (
    benchmark_json, cli, evaluate, save_tiny_model, write_audioset_release, write_clotho_release, write_csv,
    write_wav,
)
from imagebind_lite.data.benchmarks import load_benchmark
from imagebind_lite.data.manifest import read_manifest

@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model"))


@pytest.fixture
def audioset(tmp_path):
    """The release's csv files + clips named the three ways downloaders name them."""
    return write_audioset_release(tmp_path / "audioset")


def test_audioset_eval_segments_become_a_multi_label_benchmark(audioset, tmp_path):
    rc, out, err = cli("manifest", "audioset", audioset, tmp_path / "as")
    assert rc == 0, err
    manifest = read_manifest(tmp_path / "as" / "manifest.csv", ["audio"])
    assert manifest.columns == ["id", "labels", "audio"] and len(manifest) == 3
    assert manifest.rows[0]["labels"] == "Domestic animals, pets;Squeak;Animal"
    assert manifest.item(2, "audio").name == "Y-0xrDOAhfz4_30.000_40.000.flac"
    description = load_benchmark(tmp_path / "as")
    assert description["task"] == "multilabel" and description["metrics"] == ["mAP"]
    assert description["paper"]["figures"] == {"mAP": 17.6}
    assert description["columns"] == {"id": "id", "labels": "labels", "separator": ";", "input": "audio"}
    prompts = (tmp_path / "as" / "prompts.json").read_text()
    assert prompts.index("Speech") < prompts.index("Squeak")  # class index order
    assert "this is a sound of domestic animals, pets." in prompts.lower()


def test_audioset_unknown_label_and_missing_clip_name_the_segment_row(audioset, tmp_path):
    text = (audioset / "eval_segments.csv").read_text()
    (audioset / "eval_segments.csv").write_text(text.replace("/m/09x0r", "/m/0zzzz"))
    rc, out, err = cli("manifest", "audioset", audioset, tmp_path / "as")
    assert rc == 2 and "unknown class '/m/0zzzz'" in err and "eval_segments.csv line 5" in err
    (audioset / "eval_segments.csv").write_text(text)
    (audioset / "audio" / "Y--4gqARaEJE.wav").unlink()
    rc, out, err = cli("manifest", "audioset", audioset, tmp_path / "as")
    assert rc == 2 and "--4gqARaEJE" in err and "eval_segments.csv line 4" in err and "--allow-missing" in err
    rc, out, err = cli("manifest", "audioset", audioset, tmp_path / "as", "--allow-missing")
    assert rc == 0 and benchmark_json(tmp_path / "as")["data"]["missing_left_out"] == 1
    assert len(read_manifest(tmp_path / "as" / "manifest.csv")) == 2


@pytest.fixture
def vggsound(tmp_path):
    root = tmp_path / "vggsound"
    rows = [("---g-f_I2yQ", 1, "people marching", "test"), ("--0PQM4-hqg", 30, "waterfall burbling", "train"),
            ("--56QUhyDQM", 185, "playing tennis", "test"), ("--5OkAjCI7g", 40, "people belly laughing", "test")]
    write_csv(root / "vggsound.csv", None, rows)
    for i, (ytid, start, _, split) in enumerate(rows):
        if split == "test":
            write_wav(root / "video" / f"{ytid}_{start:06d}.wav", i)
    return root


def test_vggsound_test_split_is_evaluated_as_written(vggsound, tmp_path, model_dir):
    rc, out, err = cli("manifest", "vggsound", vggsound, tmp_path / "vgg", "--template", "the sound of {}")
    assert rc == 0, err
    manifest = read_manifest(tmp_path / "vgg" / "manifest.csv", ["audio"])
    assert [r["id"] for r in manifest.rows] == ["---g-f_I2yQ_000001", "--56QUhyDQM_000185", "--5OkAjCI7g_000040"]
    description = benchmark_json(tmp_path / "vgg")
    assert description["data"]["n_classes"] == 4  # every label of the file, train included
    assert description["paper"]["figures"] == {"top1": 27.8} and description["data"]["split"] == "test"
    metrics = evaluate(model_dir, tmp_path / "vgg", tmp_path / "eval")
    assert 0.0 <= metrics["zero_shot"]["audio"]["top1"] <= 1.0


def test_vggsound_unknown_split_and_missing_clip(vggsound, tmp_path):
    rc, out, err = cli("manifest", "vggsound", vggsound, tmp_path / "vgg", "--split", "val")
    assert rc == 2 and "no 'val' rows" in err
    next((vggsound / "video").glob("--56QUhyDQM*")).unlink()
    rc, out, err = cli("manifest", "vggsound", vggsound, tmp_path / "vgg")
    assert rc == 2 and "--56QUhyDQM" in err and "vggsound.csv line 3" in err


@pytest.fixture
def clotho(tmp_path):
    return write_clotho_release(tmp_path / "clotho", ["Santa Motor.wav", "Flipping Coin.wav"])


def test_clotho_writes_five_caption_pairs_per_clip(clotho, tmp_path):
    rc, out, err = cli("manifest", "clotho", clotho, tmp_path / "clotho")
    assert rc == 0, err
    manifest = read_manifest(tmp_path / "clotho" / "manifest.csv", ["audio", "text"])
    assert len(manifest) == 10 and manifest.columns[:3] == ["id", "audio", "text"]
    assert [r["id"] for r in manifest.rows[:6]] == ["Santa Motor"] * 5 + ["Flipping Coin"]
    assert manifest.rows[2]["text"] == "santa motor sound number 3, heard"
    assert manifest.item(0, "audio") == manifest.item(4, "audio")
    description = benchmark_json(tmp_path / "clotho")
    assert description["task"] == "retrieval" and description["files"]["prompts"] is None
    assert description["columns"] == {"group": "id", "query": "text", "gallery": "audio"}
    assert "audio->text R@5" in description["metrics"]
    assert description["paper"]["figures"] == {"text->audio R@1": 6.0, "text->audio R@10": 28.4}
    assert not (tmp_path / "clotho" / "prompts.json").exists()


def test_clotho_missing_clip_names_the_captions_row(clotho, tmp_path):
    (clotho / "evaluation" / "Flipping Coin.wav").unlink()
    rc, out, err = cli("manifest", "clotho", clotho, tmp_path / "clotho")
    assert rc == 2 and "Flipping Coin.wav" in err and "clotho_captions_evaluation.csv line 3" in err


def test_audiocaps_test_csv_groups_captions_by_clip(tmp_path):
    root = tmp_path / "audiocaps"
    write_csv(root / "test.csv", ["audiocap_id", "youtube_id", "start_time", "caption"],
              [(103541, "7fmOlUlwoNg", 20, "Continuous crinkling and crumpling"),
               (103542, "7fmOlUlwoNg", 20, "Plastic crinkles as a person handles it"),
               (104160, "6BJ455B1aAs", 0, "A goat bleats repeatedly")])
    write_wav(root / "test" / "Y7fmOlUlwoNg.wav", 0)
    write_wav(root / "test" / "6BJ455B1aAs_0.wav", 1)
    rc, out, err = cli("manifest", "audiocaps", root, tmp_path / "ac")
    assert rc == 0, err
    manifest = read_manifest(tmp_path / "ac" / "manifest.csv", ["audio", "text"])
    assert [r["id"] for r in manifest.rows] == ["7fmOlUlwoNg", "7fmOlUlwoNg", "6BJ455B1aAs"]
    assert benchmark_json(tmp_path / "ac")["data"]["clips"] == 2
    (root / "test" / "6BJ455B1aAs_0.wav").unlink()
    rc, out, err = cli("manifest", "audiocaps", root, tmp_path / "ac")
    assert rc == 2 and "6BJ455B1aAs" in err and "test.csv line 4" in err

"""Saved models aligned to one pivot in separate runs combine into one model.

The combined model embeds every modality exactly as the model it came from did; the shared pivot
must be the same encoder everywhere, and a pivot that differs (weights or config) or a different
embedding size is an error naming what differs; files directories travel with their encoder;
each pair's recorded temperature comes along; a failed combine leaves nothing behind.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from hf_helpers import make_tiny_bert
from tower_helpers import TEXTS

import imagebind_lite as ib
from imagebind_lite.errors import CheckpointError


def _pivot(seed: int = 0):
    torch.manual_seed(seed)
    return ib.create_encoder("vision/tiny")


def _saved(path, pivot, **encoders):
    """A saved model of ``pivot`` plus ``encoders``, with a temperature recorded per trained pair."""
    ib.MultiModalModel({"vision": pivot, **encoders}).save(path)
    (path / "temperatures.json").write_text(json.dumps({m: {"scale": 10.0 + len(m), "learnable": True}
                                                        for m in encoders}))
    return path


def _inputs():
    torch.manual_seed(1)
    return {"vision": torch.randn(2, 3, 32, 32), "audio": torch.randn(2, 2, 1, 32, 96),
            "depth": torch.randn(2, 1, 32, 32)}


def test_the_combined_model_embeds_each_modality_as_its_source_did(tmp_path):
    pivot = _pivot()
    first = _saved(tmp_path / "a", pivot, audio=ib.create_encoder("audio/tiny"))
    second = _saved(tmp_path / "b", pivot, depth=ib.create_encoder("depth/tiny"))
    out = ib.combine_models([first, second], tmp_path / "both")
    combined = ib.load_model(out)
    assert combined.modalities == ["vision", "audio", "depth"]
    inputs = _inputs()
    with torch.no_grad():
        got = combined(inputs)
        want = {**ib.load_model(first)({m: inputs[m] for m in ("vision", "audio")}),
                **ib.load_model(second)({"depth": inputs["depth"]})}
    for modality in inputs:
        torch.testing.assert_close(got[modality], want[modality], atol=0, rtol=0)
    temperatures = json.loads((out / "temperatures.json").read_text())
    assert temperatures == {"audio": {"scale": 15.0, "learnable": True}, "depth": {"scale": 15.0, "learnable": True}}


def test_a_pivot_that_differs_is_an_error_and_writes_nothing(tmp_path):
    first = _saved(tmp_path / "a", _pivot(0), audio=ib.create_encoder("audio/tiny"))
    second = _saved(tmp_path / "b", _pivot(1), depth=ib.create_encoder("depth/tiny"))
    with pytest.raises(CheckpointError, match="'vision' encoders of .* differ \\(weights\\).*different pivots"):
        ib.combine_models([first, second], tmp_path / "both")
    assert not (tmp_path / "both").exists()


def test_a_pivot_config_that_differs_or_another_embedding_size_is_an_error(tmp_path):
    torch.manual_seed(0)
    first = _saved(tmp_path / "a", ib.create_encoder("vision/tiny"), audio=ib.create_encoder("audio/tiny"))
    torch.manual_seed(0)
    deeper = ib.create_encoder("vision/tiny", depth=4)
    second = _saved(tmp_path / "b", deeper, depth=ib.create_encoder("depth/tiny"))
    with pytest.raises(CheckpointError, match="differ \\(configs\\)"):
        ib.combine_models([first, second], tmp_path / "both")
    narrow = ib.MultiModalModel({"vision": ib.create_encoder("vision/tiny", embed_dim=64)})
    narrow.save(tmp_path / "narrow")
    with pytest.raises(CheckpointError, match="different sizes"):
        ib.combine_models([first, tmp_path / "narrow"], tmp_path / "both")


def test_an_encoder_with_a_files_directory_keeps_it_and_loads_without_its_source(tmp_path):
    import shutil

    pivot = _pivot()
    source = make_tiny_bert(tmp_path / "bert")
    first = _saved(tmp_path / "a", pivot, text=ib.create_encoder("text/hf", trunk={"hf_path": str(source)}))
    second = _saved(tmp_path / "b", pivot, audio=ib.create_encoder("audio/tiny"))
    want = ib.load_model(first).embed({"text": TEXTS})["text"]
    shutil.rmtree(source)
    out = ib.combine_models([second, first], tmp_path / "both")
    assert (out / "text.files").is_dir()
    shutil.rmtree(first)
    torch.testing.assert_close(ib.load_model(out).embed({"text": TEXTS})["text"], want)


def test_the_combine_command_names_the_modalities_it_wrote(tmp_path):
    pivot = _pivot()
    first = _saved(tmp_path / "a", pivot, audio=ib.create_encoder("audio/tiny"))
    second = _saved(tmp_path / "b", pivot, imu=ib.create_encoder("imu/tiny"))
    result = subprocess.run([sys.executable, "-m", "imagebind_lite.cli", "combine", str(first), str(second),
                             "--out", str(tmp_path / "both")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("vision, audio, imu")
    failed = subprocess.run([sys.executable, "-m", "imagebind_lite.cli", "combine", str(first), str(tmp_path / "none"),
                             "--out", str(tmp_path / "other")], capture_output=True, text=True, timeout=300)
    assert failed.returncode == 2 and "config.json is missing" in failed.stderr

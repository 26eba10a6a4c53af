"""Saved models: identical embeddings after a round trip, no pickle ever executed."""
import json
import pickle

import numpy as np
import pytest
import torch

import imagebind_lite as ib


@pytest.fixture
def model():
    return ib.MultiModalModel.from_presets({"thermal": "tiny"}).eval()


def test_round_trip_gives_identical_embeddings(model, tmp_path):
    images = [np.random.rand(40, 48).astype(np.float32) for _ in range(3)]
    model.save(tmp_path / "model")
    loaded = ib.load_model(tmp_path / "model")
    assert torch.equal(model.embed({"thermal": images})["thermal"], loaded.embed({"thermal": images})["thermal"])
    assert json.loads((tmp_path / "model" / "config.json").read_text())["encoders"]["thermal"]["preset"] == "tiny"


def test_a_bfloat16_load_embeds_float32_inputs(model, tmp_path):
    images = [np.random.rand(40, 48).astype(np.float32) for _ in range(3)]
    model.save(tmp_path / "model")
    half = ib.load_model(tmp_path / "model", dtype=torch.bfloat16)
    assert next(half.encoder("thermal").parameters()).dtype == torch.bfloat16
    got, want = half.embed({"thermal": images})["thermal"], model.embed({"thermal": images})["thermal"]
    assert got.dtype == torch.float32 and torch.nn.functional.cosine_similarity(got, want).min() > 0.999


def test_save_replaces_an_existing_model_atomically(model, tmp_path):
    target = tmp_path / "model"
    model.save(target)
    ib.MultiModalModel.from_presets({"thermal": "tiny"}).save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging leftovers


def test_pickle_payload_is_refused(model, tmp_path):
    target = tmp_path / "model"
    model.save(target)

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pickle executed')",))

    with open(target / "thermal.safetensors", "wb") as handle:
        pickle.dump({"weights": Boom()}, handle)
    with pytest.raises(ib.CheckpointError, match="thermal.safetensors"):
        ib.load_model(target)


def test_missing_or_foreign_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ib.CheckpointError, match="config.json"):
        ib.load_model(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ib.CheckpointError, match="not valid JSON"):
        ib.load_model(tmp_path)

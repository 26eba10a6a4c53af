"""Saved models written by earlier code still load and embed exactly as they did.

The fixtures under ``tests/fixtures/`` were written once by the first saved-model format's code
(``make_saved_models_v1.py`` says how) and hold fixed raw inputs with the embeddings that code
gave them. Renames since then (the built-in trunk kind that vision configs spelled ``"vit"``)
must be read as their new names.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import imagebind_lite as ib

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = ["saved_model_v1", "saved_model_v1_timm"]


def stored_inputs(directory: Path) -> tuple[dict[str, list], dict[str, torch.Tensor]]:
    """``expected.safetensors`` -> raw inputs per modality (numpy, in their stored dtypes) and embeddings."""
    stored = load_file(str(directory / "expected.safetensors"))
    inputs: dict[str, list] = {}
    for key in sorted(k for k in stored if k.startswith("input.")):
        _, modality, _ = key.split(".")
        value = stored[key]
        inputs.setdefault(modality, []).append(value if modality == "text" else value.numpy())
    expected = {k.split(".", 1)[1]: v for k, v in stored.items() if k.startswith("embedding.")}
    return inputs, expected


@pytest.mark.parametrize("name", MODELS)
def test_an_old_saved_model_embeds_as_it_did(name):
    directory = FIXTURES / name
    inputs, expected = stored_inputs(directory)
    model = ib.load_model(directory)
    assert sorted(model.modalities) == sorted(expected) and model.embed_dim == 16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short fixture recordings are padded with a warning
        got = model.embed(inputs)
    for modality, want in expected.items():
        torch.testing.assert_close(got[modality], want, atol=1e-5, rtol=1e-5, msg=modality)


def test_the_old_vit_trunk_kind_is_read_as_the_transformer(tmp_path):
    written = json.loads((FIXTURES / "saved_model_v1" / "config.json").read_text())
    assert written["encoders"]["vision"]["trunk"]["kind"] == "vit"  # as the old code wrote it
    model = ib.load_model(FIXTURES / "saved_model_v1", modalities=["vision"])
    assert model.encoder("vision").config.trunk["kind"] == "transformer"
    model.save(tmp_path / "resaved")
    resaved = json.loads((tmp_path / "resaved" / "config.json").read_text())
    assert resaved["encoders"]["vision"]["trunk"]["kind"] == "transformer"
    inputs, expected = stored_inputs(FIXTURES / "saved_model_v1")
    again = ib.load_model(tmp_path / "resaved").embed({"vision": inputs["vision"]})["vision"]
    torch.testing.assert_close(again, expected["vision"], atol=1e-5, rtol=1e-5)

"""The contract every registered modality keeps, checked for every modality x preset.

Each preset builds; a raw input from the modality's own ``example_input`` goes through its
``transform`` and ``collate`` into a forward pass; the model saves and reloads with identical
weights, config and outputs. The cases come from the registry when this module is collected, so
a plugin modality (installed through the entry point, or registered by a test module collected
earlier, like ``test_new_modality``'s tactile sensor) is checked without a line here.

Presets that need files from outside get them from ``OUTSIDE_FILES`` (a tiny local BERT for
``text/hf``, tiny random-weight open_clip and Hugging Face CLIP models for the tower presets, a
tiny AST for ``audio/hf``); ImageBind-size presets run with a reduced width and depth by default and at full
size only under ``-m slow``.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

import imagebind_lite as ib
from audio_hf_helpers import make_tiny_audio_model
from hf_helpers import make_tiny_bert
from tower_helpers import make_tiny_hf, make_tiny_open_clip

from imagebind_lite.towers.files import with_files_digest

# A preset above either bound counts as big: the default run builds it with REDUCED instead.
BIG_WIDTH, BIG_DEPTH = 256, 4
REDUCED = dict(width=32, depth=1, num_heads=2, embed_dim=32)


def tiny_bert_overrides(scratch: Path) -> dict:
    return {"trunk": {"hf_path": str(make_tiny_bert(scratch / "tiny_bert"))}}


def tiny_open_clip_overrides(scratch: Path) -> dict:
    name, weights = make_tiny_open_clip(scratch / "open_clip")
    return {"trunk": {"open_clip_model": name, "pretrained_path": str(weights)}}


def tiny_hf_clip_overrides(scratch: Path) -> dict:
    return {"trunk": {"hf_clip_path": str(make_tiny_hf(scratch / "hf_clip", "clip"))}}


def tiny_ast_overrides(scratch: Path) -> dict:
    return {"trunk": {"hf_audio_path": str(make_tiny_audio_model(scratch / "ast", "ast"))}}


OUTSIDE_FILES: dict[tuple[str, str], Callable[[Path], dict]] = {
    ("text", "hf"): tiny_bert_overrides,
    ("vision", "open_clip"): tiny_open_clip_overrides, ("text", "open_clip"): tiny_open_clip_overrides,
    ("vision", "hf_clip"): tiny_hf_clip_overrides, ("text", "hf_clip"): tiny_hf_clip_overrides,
    ("audio", "hf"): tiny_ast_overrides,
}


def same_files(config: ib.EncoderConfig) -> ib.EncoderConfig:
    """The config with its files directory (if any) stood for by a digest of its contents."""
    return config.replace(data=with_files_digest(config.data))


def registered_presets() -> list[tuple[str, str]]:
    return [(m, p) for m in ib.list_modalities() for p in ib.get_modality(m).presets()]


def is_big(modality: str, preset: str) -> bool:
    config = ib.get_modality(modality).preset(preset)
    return config.width > BIG_WIDTH or config.depth > BIG_DEPTH


CASES = registered_presets()
BIG_CASES = [case for case in CASES if is_big(*case)]


def example_batch(encoder: ib.Encoder) -> tuple[list, torch.Tensor]:
    """Two raw examples of the encoder's modality and the batch its transform makes of them."""
    spec = ib.get_modality(encoder.modality)
    rng = np.random.default_rng(0)
    raws = [spec.example_input(encoder.data_config, rng) for _ in range(2)]
    transform = spec.transform(encoder.data_config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # padding warnings are each modality's own business
        return raws, spec.collate([transform(raw) for raw in raws])


def check_contract(modality: str, preset: str, scratch: Path, overrides: dict) -> None:
    if (modality, preset) in OUTSIDE_FILES:
        overrides = {**overrides, **OUTSIDE_FILES[modality, preset](scratch)}
    torch.manual_seed(0)
    encoder = ib.create_encoder(f"{modality}/{preset}", **overrides).eval()
    assert encoder.modality == modality and encoder.config.preset == preset
    raws, batch = example_batch(encoder)
    with torch.no_grad():
        embeddings = encoder(batch)
    assert embeddings.shape == (2, encoder.config.embed_dim) and torch.isfinite(embeddings).all()
    if encoder.config.output_scale is None:
        torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(2))

    model = ib.MultiModalModel({modality: encoder})
    torch.testing.assert_close(model.embed({modality: raws})[modality], embeddings)
    model.save(scratch / "saved")
    reloaded = ib.load_model(scratch / "saved").encoder(modality)
    # equal configs; a files directory is the saved model's copy now, with the same contents
    assert same_files(reloaded.config) == same_files(encoder.config)
    want, got = encoder.state_dict(), reloaded.state_dict()
    assert list(got) == list(want)
    for key in want:
        assert torch.equal(got[key], want[key]), key
    with torch.no_grad():
        assert torch.equal(reloaded(batch), embeddings)


@pytest.mark.parametrize("modality, preset", CASES, ids=[f"{m}/{p}" for m, p in CASES])
def test_preset_builds_embeds_and_round_trips(modality, preset, tmp_path):
    check_contract(modality, preset, tmp_path, REDUCED if is_big(modality, preset) else {})


@pytest.mark.slow
@pytest.mark.parametrize("modality, preset", BIG_CASES, ids=[f"{m}/{p}" for m, p in BIG_CASES])
def test_big_preset_at_full_size(modality, preset, tmp_path):
    check_contract(modality, preset, tmp_path, {})


def test_every_built_in_is_covered():
    """The parameterisation really came from the registry (an empty list would pass vacuously)."""
    covered = {m for m, _ in CASES}
    assert {"audio", "depth", "imu", "text", "thermal", "vision"} <= covered
    assert ("vision", "imagebind_huge") in BIG_CASES and ("text", "hf") in CASES

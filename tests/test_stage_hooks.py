"""Stage hooks and trunk kinds: a modality with its own trunk is one file and no copied builder."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import imagebind_lite as ib
from imagebind_lite import registry
from imagebind_lite.layers import PassThroughStem, PatchStem, Stem


# ---- a user's modality with a second trunk kind: a 1-D CNN over raw [channels, time] -------------
class ConvTrunk(nn.Module):
    def __init__(self, channels: int, width: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, width, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).amax(dim=-1)  # pooled [B, width]


def build_conv_trunk(config: ib.EncoderConfig) -> ib.BuiltTrunk:
    width = config.trunk.get("conv_width", 24)
    recorded = config.replace(pool="none", trunk={"kind": "conv", "output_width": width})
    return ib.BuiltTrunk(ConvTrunk(4, width), recorded)


class Vibration(ib.ModalitySpec):
    trunk_kinds = {**ib.ModalitySpec.trunk_kinds,
                   "conv": ib.TrunkKind(build_conv_trunk, keys=("conv_width",), stem=lambda c: PassThroughStem(2))}

    def presets(self):
        return {"tiny": ib.EncoderConfig("vibration", embed_dim=16, width=16, depth=1, num_heads=2),
                "cnn": ib.EncoderConfig("vibration", embed_dim=16, trunk={"kind": "conv", "conv_width": 12})}

    def to_tensor(self, raw, data, source):
        return torch.as_tensor(raw, dtype=torch.float32)

    def example_input(self, data, rng):
        return rng.standard_normal((4, 8)).astype(np.float32)

    def build_stem(self, config):
        return PatchStem(nn.Linear(8, config.width), 4, config.width, input_ndim=2)  # [4, 8]: a token per channel


@pytest.fixture
def vibration():
    ib.register_modality("vibration")(Vibration)
    try:
        yield ib.get_modality("vibration")
    finally:
        registry.unregister_modality("vibration")


def test_both_trunk_kinds_build_embed_and_reload(vibration, tmp_path):
    waves = [np.random.default_rng(i).standard_normal((4, 8)).astype(np.float32) for i in range(3)]
    cnn = ib.create_encoder("vibration/cnn")
    assert isinstance(cnn.trunk, ConvTrunk) and isinstance(cnn.stem, PassThroughStem)
    assert cnn.config.trunk["output_width"] == 12 and cnn.head.proj.in_features == 12
    model = ib.MultiModalModel({"vibration": cnn})
    embeddings = model.embed({"vibration": waves})["vibration"]
    assert embeddings.shape == (3, 16)
    model.save(tmp_path / "saved")
    torch.testing.assert_close(ib.load_model(tmp_path / "saved").embed({"vibration": waves})["vibration"], embeddings)

    tiny = ib.create_encoder("vibration/tiny")
    assert isinstance(tiny.stem, PatchStem) and tiny.trunk.__class__.__name__ == "Transformer"
    assert ib.MultiModalModel({"vibration": tiny}).embed({"vibration": waves})["vibration"].shape == (3, 16)


def test_a_kind_key_selects_the_kind_and_a_stray_key_is_refused(vibration):
    implied = ib.create_encoder(ib.EncoderConfig("vibration", embed_dim=16, trunk={"conv_width": 8}))
    assert implied.config.trunk["kind"] == "conv" and implied.config.trunk["output_width"] == 8
    with pytest.raises(ib.InputError, match=r"'conv_width' belongs to the 'conv' trunk kind.*'vibration/cnn'"):
        ib.create_encoder("vibration/tiny", trunk={"kind": "transformer", "conv_width": 8})
    with pytest.raises(ib.InputError, match=r"unknown vibration trunk kind 'lstm'.*'transformer', 'conv'"):
        ib.create_encoder("vibration/tiny", trunk={"kind": "lstm"})


def test_the_old_vit_kind_name_builds_the_transformer():
    config = ib.get_modality("vision").preset("tiny").replace(trunk={"kind": "vit"})
    encoder = ib.create_encoder(config)
    assert encoder.config.trunk["kind"] == "transformer"
    assert encoder.trunk.__class__.__name__ == "Transformer"


def test_a_retired_preset_name_resolves_to_its_successor():
    spec = ib.get_modality("vision")
    assert "timm_resnet18" not in spec.presets() and spec.has_preset("timm_resnet18")
    assert spec.preset("timm_resnet18") == spec.preset("timm")


def test_a_stem_must_declare_its_sample_rank(vibration, monkeypatch):
    monkeypatch.setattr(Vibration, "build_stem", lambda self, config: nn.Linear(4, config.width))
    with pytest.raises(TypeError, match="'vibration' stem must derive from imagebind_lite.layers.Stem"):
        ib.create_encoder("vibration/tiny")


def test_the_input_hook_is_the_modalitys_own():
    """Only causal, EOT-pooled text with a token stem cuts batches short; nothing else does."""
    text = ib.create_encoder("text/tiny")
    assert type(text.prepare).__name__ == "DropTokensAfterLastEot"
    assert text.stem.accepts_shorter_inputs
    assert isinstance(ib.create_encoder("vision/tiny").prepare, nn.Identity)
    assert not ib.create_encoder("audio/tiny").stem.accepts_shorter_inputs
    bidirectional = ib.create_encoder("text/tiny", causal=False)
    assert isinstance(bidirectional.prepare, nn.Identity)


def test_every_built_in_stem_is_a_stem():
    for modality in ["audio", "depth", "imu", "text", "thermal", "vision"]:
        stem = ib.create_encoder(f"{modality}/tiny").stem
        assert isinstance(stem, Stem) and isinstance(stem.input_ndim, int)

"""The cnn trunk kind and its presets: the framework's own small CNN and any timm model by name.

Every preset embeds its modality's example inputs (audio's clips each through the CNN), trains
(gradients reach every parameter; a few steps on tiny data lower the loss), saves and reloads
to identical embeddings with nothing but the saved directory, and bad options fail naming the
modality. timm models are built from names with random weights, or from a locally saved file.
"""
from __future__ import annotations

import importlib.util
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import imagebind_lite as ib
from imagebind_lite.layers import ConvNet, PassThroughStem
from imagebind_lite.losses import symmetric_infonce
from imagebind_lite.towers.timm_tower import TimmTrunk

CNN_PRESETS = ["audio/cnn", "depth/cnn", "thermal/cnn", "imu/cnn"]


def example_batch(encoder: ib.Encoder, n: int = 3, seed: int = 0) -> torch.Tensor:
    spec = ib.get_modality(encoder.modality)
    rng = np.random.default_rng(seed)
    transform = spec.transform(encoder.data_config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return spec.collate([transform(spec.example_input(encoder.data_config, rng)) for _ in range(n)])


@pytest.mark.parametrize("name", CNN_PRESETS)
def test_preset_embeds_every_clip_through_the_cnn(name):
    encoder = ib.create_encoder(name).eval()
    assert isinstance(encoder.trunk, ConvNet) and isinstance(encoder.stem, PassThroughStem)
    assert encoder.config.trunk["kind"] == "cnn" and encoder.config.pool == "none"
    batch = example_batch(encoder)
    seen = []
    encoder.trunk.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape))
    with torch.no_grad():
        embeddings = encoder(batch)
    assert embeddings.shape == (3, encoder.config.embed_dim)
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(3))
    sample = batch.shape[2:] if name == "audio/cnn" else batch.shape[1:]
    rows = batch.shape[0] * batch.shape[1] if name == "audio/cnn" else batch.shape[0]
    assert seen == [torch.Size([rows, *sample])]  # audio: [B * clips, 1, mel, frames]
    if name == "audio/cnn":
        assert tuple(sample) == (1, encoder.data_config["num_mel_bins"], encoder.data_config["target_length"])


@pytest.mark.parametrize("name", CNN_PRESETS)
def test_gradients_reach_every_parameter(name):
    torch.manual_seed(0)
    encoder = ib.create_encoder(name).train()
    encoder(example_batch(encoder, n=4)).pow(3).sum().backward()
    missing = [key for key, p in encoder.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


@pytest.mark.parametrize("name, trunk", [
    ("depth/cnn", {}),
    ("imu/cnn", {"channels": [8, 16], "norm": "group", "pool": "max"}),
    ("audio/cnn", {"timm_model": "test_efficientnet"}),
    ("thermal/cnn", {"timm_model": "resnet10t"}),
])
def test_saved_model_rebuilds_from_its_config_alone(name, trunk, tmp_path):
    torch.manual_seed(0)
    encoder = ib.create_encoder(name, trunk=trunk).eval()
    if "timm_model" in trunk:
        assert isinstance(encoder.trunk, TimmTrunk) and encoder.head.proj.in_features == encoder.trunk.num_features
        assert encoder.config.trunk["in_chans"] == 1 and "channels" not in encoder.config.trunk
    batch = example_batch(encoder)
    with torch.no_grad():
        want = encoder(batch)
    ib.MultiModalModel({encoder.modality: encoder}).save(tmp_path / "saved")
    reloaded = ib.load_model(tmp_path / "saved").encoder(encoder.modality)
    assert reloaded.config == encoder.config
    with torch.no_grad():
        assert torch.equal(reloaded(batch), want)


def test_timm_weights_from_a_local_file_are_adapted_to_one_channel(tmp_path):
    import timm

    torch.manual_seed(1)
    rgb = timm.create_model("test_resnet", num_classes=0)
    path = tmp_path / "resnet.safetensors"
    save_file({k: v.contiguous() for k, v in rgb.state_dict().items()}, str(path))
    encoder = ib.create_encoder("depth/cnn", trunk={"timm_model": "test_resnet", "pretrained_path": str(path)})
    got = first_conv(encoder.trunk.model).weight
    torch.testing.assert_close(got, first_conv(rgb).weight.sum(dim=1, keepdim=True))  # timm sums RGB for 1 channel
    recorded = encoder.config.trunk
    assert recorded["pretrained_path"] is None and recorded["initialised_from"] == str(path)

    ib.MultiModalModel({"depth": encoder}).save(tmp_path / "saved")
    path.unlink()  # the saved model needs no weights file
    reloaded = ib.load_model(tmp_path / "saved").encoder("depth")
    assert torch.equal(first_conv(reloaded.trunk.model).weight, got)


def first_conv(model: torch.nn.Module) -> torch.nn.Module:
    return model.get_submodule(model.pretrained_cfg["first_conv"])


def test_own_cnn_weights_from_a_local_file(tmp_path):
    torch.manual_seed(2)
    donor = ib.create_encoder("thermal/cnn")
    path = tmp_path / "cnn.safetensors"
    save_file(donor.trunk.state_dict(), str(path))
    encoder = ib.create_encoder("thermal/cnn", trunk={"pretrained_path": str(path)})
    for key, value in donor.trunk.state_dict().items():
        assert torch.equal(encoder.trunk.state_dict()[key], value), key
    assert encoder.config.trunk["pretrained_path"] is None and encoder.config.trunk["initialised_from"] == str(path)

    torch.save(ib.create_encoder("thermal/cnn", trunk={"channels": [8, 16]}).trunk.state_dict(), tmp_path / "other.pt")
    with pytest.raises(ib.CheckpointError, match=r"modality 'thermal'.*other.pt"):
        ib.create_encoder("thermal/cnn", trunk={"pretrained_path": str(tmp_path / "other.pt")})
    with pytest.raises(ib.CheckpointError, match=r"modality 'thermal'.*not found"):
        ib.create_encoder("thermal/cnn", trunk={"pretrained_path": str(tmp_path / "missing.safetensors")})


def test_bad_options_fail_naming_the_modality():
    with pytest.raises(ib.ImageBindLiteError, match=r"modality 'audio'.*unknown timm model 'resnet_nonesuch'"):
        ib.create_encoder("audio/cnn", trunk={"timm_model": "resnet_nonesuch"})
    with pytest.raises(ib.InputError, match=r"modality 'imu'.*1-D"):
        ib.create_encoder("imu/cnn", trunk={"timm_model": "resnet10t"})
    with pytest.raises(ib.InputError, match=r"modality 'depth'.*unknown pool 'median'"):
        ib.create_encoder("depth/cnn", trunk={"pool": "median"})
    with pytest.raises(ib.InputError, match=r"modality 'depth'.*unknown cnn trunk option\(s\) 'chanels'"):
        ib.create_encoder("depth/cnn", trunk={"chanels": [8, 16]})
    # a cnn option given to the transformer would be ignored: refused, pointing at the preset
    with pytest.raises(ib.InputError, match=r"'channels' belongs to the 'cnn' trunk kind.*'audio/cnn'"):
        ib.create_encoder("audio/tiny", trunk={"kind": "transformer", "channels": [8]})


def test_a_timm_name_alone_selects_the_cnn_kind():
    encoder = ib.create_encoder("audio/tiny", trunk={"timm_model": "test_resnet"})
    assert encoder.config.trunk["kind"] == "cnn" and isinstance(encoder.trunk, TimmTrunk)
    assert encoder(example_batch(encoder, n=2)).shape == (2, 128)


@pytest.mark.parametrize("name", ["audio/cnn", "imu/cnn"])
def test_a_few_steps_on_tiny_data_lower_the_loss(name):
    """Six samples against fixed random targets (a frozen pivot's embeddings): InfoNCE falls."""
    torch.manual_seed(0)
    encoder = ib.create_encoder(name, embed_dim=16).train()
    batch = example_batch(encoder, n=6, seed=1)
    targets = torch.nn.functional.normalize(torch.randn(6, 16), dim=-1)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        loss = symmetric_infonce(encoder(batch), targets, 10.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="the unseen-voices benchmark synthesises speech with espeak-ng")
def test_unseen_voices_benchmark_smoke_run(capsys):
    spec = importlib.util.spec_from_file_location("bench", Path(__file__).resolve().parents[1] / "benchmarks"
                                                  / "bench_cnn_unseen_voices.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = bench.main(["--smoke", "--variants", "tiny,cnn"])
    assert set(results) == {"tiny", "cnn"} and "unseen-voice top-1" in capsys.readouterr().out

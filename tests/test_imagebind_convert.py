"""The ImageBind checkpoint converter and ``imagebind-lite convert``, without the reference code.

Small encoders built from the ``imagebind_huge`` presets (narrow and shallow) are exported to
ImageBind's key layout, saved as a ``.pth`` the way the official release is, and converted back
through the CLI; parity with the official model code itself is in test_imagebind_parity.py.
"""
from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest
import torch

from imagebind_lite import CheckpointError, MultiModalModel, create_encoder, load_model, training
from imagebind_lite.cli import main
from imagebind_lite.compat import from_official, official_modalities, official_to_ours, to_official

MODALITIES = ("vision", "text", "audio", "depth", "thermal", "imu")
HEADS = {"vision": 4, "text": 2, "audio": 4, "depth": 2, "thermal": 4, "imu": 2}


@pytest.fixture(scope="module")
def small_model() -> MultiModalModel:
    torch.manual_seed(0)
    encoders = {m: create_encoder(f"{m}/imagebind_huge", width=16, depth=2, num_heads=HEADS[m], embed_dim=8)
                for m in MODALITIES}
    with torch.no_grad():  # no parameter keeps its tidy init (LayerNorm 1/0, zero cls token...)
        for encoder in encoders.values():
            for param in encoder.parameters():
                param.add_(torch.randn_like(param) * 0.05)
    return MultiModalModel(encoders).eval()


def inputs(model: MultiModalModel) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    batch = {
        "vision": torch.randn(2, 3, 224, 224, generator=generator),
        "text": torch.stack([model.transform("text")(t) for t in ("a dog", "")]),
        "audio": torch.randn(2, 3, 1, 128, 204, generator=generator),
        "depth": torch.randn(2, 1, 224, 224, generator=generator),
        "thermal": torch.randn(2, 1, 224, 224, generator=generator),
        "imu": torch.randn(2, 6, 2000, generator=generator),
    }
    return {m: batch[m] for m in model.modalities}


def without_preset(config):
    """The config minus its name and post-scale (the text scale is learnt, so the weights set it)."""
    return dataclasses.replace(config, preset="-", output_scale=None)


def test_export_uses_imagebind_key_layout(small_model):
    official = to_official(small_model)
    assert official_modalities(official) == list(MODALITIES)
    assert official["modality_preprocessors.vision.rgbt_stem.proj.1.weight"].shape == (16, 3, 2, 14, 14)
    assert official["modality_trunks.audio.blocks.1.attn.in_proj_weight"].shape == (48, 16)
    assert official["modality_heads.imu.3.weight"].shape == (8, 16)
    assert official["modality_heads.text.proj.1.weight"].shape == (8, 16)
    mask = official["modality_preprocessors.text.mask"]
    assert mask.shape == (77, 77) and torch.isinf(mask[0, 1]) and mask[1, 0] == 0
    assert torch.allclose(official["modality_postprocessors.audio.1.log_logit_scale"].exp(), torch.tensor(20.0))
    assert "modality_postprocessors.vision.1.log_logit_scale" not in official
    assert all(k.startswith(("modality_preprocessors.", "modality_trunks.", "modality_heads.",
                             "modality_postprocessors.")) for k in official)


def test_round_trip_is_identical(small_model):
    again = from_official(to_official(small_model), num_heads=HEADS)
    for modality in MODALITIES:
        before, after = small_model.encoder(modality), again.encoder(modality)
        assert without_preset(after.config) == without_preset(before.config)
        if before.post.log_scale is not None:
            assert after.config.output_scale == pytest.approx(before.post.log_scale.exp().item(), rel=1e-6)
        assert before.state_dict().keys() == after.state_dict().keys()
        assert all(torch.equal(v, after.state_dict()[k]) for k, v in before.state_dict().items()), modality
    with torch.no_grad():
        expected, got = small_model(inputs(small_model)), again(inputs(again))
    assert all(torch.equal(expected[m], got[m]) for m in MODALITIES)


def test_cli_converts_a_pth_into_a_loadable_saved_model(small_model, tmp_path, capsys):
    torch.save({"model": to_official(small_model)}, tmp_path / "imagebind.pth")  # wrapped, as some scripts do
    args = ["convert", str(tmp_path / "imagebind.pth"), str(tmp_path / "out")]
    args += [f"--num-heads={m}={h}" for m, h in HEADS.items()]
    assert main(args) == 0
    assert "wrote" in capsys.readouterr().out
    loaded = load_model(tmp_path / "out")
    assert loaded.modalities == list(MODALITIES)
    with torch.no_grad():
        expected, got = small_model(inputs(small_model)), loaded(inputs(loaded))
    for modality in MODALITIES:
        assert torch.equal(expected[modality], got[modality]), modality
    embedded = loaded.embed({"text": ["a dog"]})["text"]
    assert torch.allclose(embedded, expected["text"][:1], atol=1e-5)  # batch of 1 vs 2: other kernels


def test_wrapper_prefixes_of_fine_tuning_scripts_are_stripped(small_model, tmp_path):
    """DDP saves ``module.<key>``; Lightning-style wrappers ``model.<key>``; both at once happen too."""
    official = to_official(small_model)
    torch.save({"state_dict": {f"model.module.{k}": v for k, v in official.items()}}, tmp_path / "tuned.pth")
    assert main(["convert", str(tmp_path / "tuned.pth"), str(tmp_path / "out"), "--modalities", "depth",
                 "--num-heads", "depth=2"]) == 0
    loaded = load_model(tmp_path / "out")
    assert torch.equal(loaded.encoder("depth").head.proj.weight, small_model.encoder("depth").head.proj.weight)


def test_cli_subset_and_dtype(small_model, tmp_path):
    torch.save(to_official(small_model), tmp_path / "imagebind.pth")
    args = ["convert", str(tmp_path / "imagebind.pth"), str(tmp_path / "out"), "--modalities", "vision,text",
            "--num-heads", "vision=4", "--num-heads", "text=2", "--dtype", "bfloat16"]
    assert main(args) == 0
    from safetensors.torch import load_file

    assert load_file(str(tmp_path / "out" / "text.safetensors"))["head.proj.weight"].dtype == torch.bfloat16
    loaded = load_model(tmp_path / "out")  # load_model builds float32 encoders: the weights are upcast
    assert loaded.modalities == ["vision", "text"]
    expected = small_model.encoder("text").head.proj.weight
    assert torch.equal(loaded.encoder("text").head.proj.weight, expected.to(torch.bfloat16).float())


def test_head_count_is_checked(small_model):
    official = to_official(small_model)
    with pytest.raises(CheckpointError, match="num_heads"):
        from_official(official, ["depth"], num_heads={"depth": 3})  # 16 wide: 3 heads cannot be


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_bad_checkpoints_are_refused(small_model, tmp_path):
    official = to_official(small_model)
    with pytest.raises(CheckpointError, match="unexpected keys"):
        official_to_ours({**official, "modality_trunks.audio.blocks.0.attn.mystery": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="no imu branch"):
        official_to_ours({k: v for k, v in official.items() if ".imu." not in k}, ["vision", "imu"])
    with pytest.raises(CheckpointError, match="does not fit"):
        broken = dict(official)
        broken["modality_heads.depth.2.weight"] = torch.zeros(8, 5)
        from_official(broken, ["depth"], num_heads=HEADS)
    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"x": object()}))
    assert main(["convert", str(tmp_path / "evil.pth"), str(tmp_path / "out")]) == 2  # weights_only refuses
    assert main(["convert", str(tmp_path / "missing.pth"), str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


def test_bad_num_heads_argument(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "x.pth"), str(tmp_path / "out"), "--num-heads", "vision"]) == 2
    assert "MODALITY=N" in capsys.readouterr().err


CONFIG = Path(__file__).resolve().parents[1] / "configs" / "imagebind_huge" / "new_modality_in_imagebind_space.yaml"


def test_config_trains_a_modality_around_the_converted_pivot(small_model, tmp_path):
    """The YAML's model section, with the converted pivot made small, trains one step."""
    import inspect

    import yaml

    config = yaml.safe_load(CONFIG.read_text())
    init_args = dict(config["model"]["init_args"])
    assert set(inspect.signature(training.PairDataModule).parameters) >= set(config["data"]["init_args"])
    assert all(hasattr(training, cb["class_path"]) for cb in config["trainer"]["callbacks"])
    from_official(to_official(small_model), ["vision"], num_heads=HEADS).save(tmp_path / "imagebind")
    init_args["pivot"] = str(tmp_path / "imagebind")
    init_args["encoder_overrides"] = {"thermal": {"width": 16, "depth": 1, "num_heads": 2, "embed_dim": 8}}
    module = training.AlignmentModule(**init_args)
    assert torch.equal(module.pivot.stem.proj.weight, small_model.encoder("vision").stem.proj.weight)
    pair = {"ids": [str(i) for i in range(4)], "pivot": torch.randn(4, 3, 224, 224),  # the pivot input key
            "thermal": torch.randn(4, 1, 224, 224)}
    loss = module.pair_loss("thermal", pair).loss
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is None for p in module.pivot.parameters())
    assert module.encoders["thermal"].head.proj.weight.grad is not None


def test_cli_converts_back_to_an_imagebind_state_dict(small_model, tmp_path):
    small_model.save(tmp_path / "ours")
    assert main(["convert", "--to-official", str(tmp_path / "ours"), str(tmp_path / "imagebind.pth")]) == 0
    state = torch.load(tmp_path / "imagebind.pth", weights_only=True)
    expected = to_official(small_model)
    assert state.keys() == expected.keys()
    assert all(torch.equal(state[k], expected[k]) for k in state)

"""Training data: manifests, the unreadable-sample policies, partial fine-tuning, the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from training_helpers import module, trainer, world_data, write_thermal_manifest

from imagebind_lite.data.manifest import read_manifest
from imagebind_lite.errors import InputError
from imagebind_lite.training import LoraSpec, PairDataModule

REPO = Path(__file__).resolve().parents[1]


def test_manifest_csv_and_jsonl(tmp_path):
    manifest = read_manifest(write_thermal_manifest(tmp_path, n=3), ["vision", "thermal"])
    assert len(manifest) == 3 and manifest.sample_id(1) == "s001" and manifest.label(2) == 2
    assert manifest.item(0, "thermal") == tmp_path / "thermal" / "000.png"
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text("\n".join(json.dumps({"vision": "a.png", "text": "a dog", "label": name})
                               for name in ("dog", "cat", "dog")))
    parsed = read_manifest(jsonl, ["text"])
    assert parsed.item(0, "text", strings_are_data=True) == "a dog"
    assert [parsed.label(i) for i in range(3)] == [0, 1, 0] and parsed.class_names == ["dog", "cat"]
    assert parsed.sample_id(2) == "m-00000002"  # no id column: derived from the row number


def test_missing_manifest_or_column_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="manifest not found") as error:
        read_manifest(tmp_path / "nope.csv")
    assert "nope.csv" in str(error.value)
    with pytest.raises(InputError, match="no column"):
        read_manifest(write_thermal_manifest(tmp_path, n=2), ["audio"])


def _manifest_data(manifest, policy, **kwargs):
    kwargs.setdefault("use_pivot_cache", False)
    return PairDataModule(manifests={"thermal": str(manifest)}, batch_size=8, on_bad_sample=policy, **kwargs)


def test_skip_policy_trains_on_and_reports_the_file(tmp_path, caplog):
    manifest = write_thermal_manifest(tmp_path)
    bad = tmp_path / "thermal" / "005.png"
    bad.write_bytes(b"\x89PNG garbage")
    model = module()
    run = trainer(tmp_path, max_steps=-1, max_epochs=2)
    with caplog.at_level("WARNING"):
        run.fit(model, _manifest_data(manifest, "skip"))
    assert run.global_step == 6  # 3 batches per epoch, none lost: the bad sample only shrinks one
    assert [source for source, _ in model.skipped_samples] == [str(bad)] * 2
    assert "cannot decode" in model.skipped_samples[0][1]
    assert float(run.callback_metrics["train/skipped_samples"]) == 1.0
    assert str(bad) in caplog.text and "skipped 1 unreadable" in caplog.text


def test_skip_policy_with_pivot_cache_reports_a_bad_image(tmp_path):
    manifest = write_thermal_manifest(tmp_path)
    bad = tmp_path / "vision" / "007.png"
    bad.write_bytes(b"not an image")
    model = module()
    run = trainer(tmp_path, max_steps=-1, max_epochs=1)
    run.fit(model, _manifest_data(manifest, "skip", use_pivot_cache=True, cache_dir=str(tmp_path / "cache")))
    assert [source for source, _ in model.skipped_samples] == [str(bad)]


def test_fail_policy_names_the_file_and_keeps_the_last_checkpoint(tmp_path):
    manifest = write_thermal_manifest(tmp_path)
    checkpoints = tmp_path / "ckpt"
    pl.seed_everything(0)
    first = trainer(tmp_path, max_steps=2, enable_checkpointing=True,
                    callbacks=[ModelCheckpoint(dirpath=str(checkpoints), every_n_train_steps=1, save_last=True)])
    first.fit(module(), _manifest_data(manifest, "fail"))
    last = checkpoints / "last.ckpt"
    saved = last.read_bytes()
    bad = tmp_path / "thermal" / "011.png"
    bad.write_bytes(b"")  # truncated to nothing
    second = trainer(tmp_path, max_steps=8, enable_checkpointing=True,
                     callbacks=[ModelCheckpoint(dirpath=str(checkpoints), every_n_train_steps=50, save_last=True)])
    with pytest.raises(InputError) as error:
        second.fit(module(), _manifest_data(manifest, "fail"), ckpt_path=str(last))
    assert str(bad) in str(error.value) and "thermal" in str(error.value)
    assert last.read_bytes() == saved
    assert torch.load(last, weights_only=True)["global_step"] == 2


def test_unfreeze_last_blocks_and_lora_train_only_what_they_should(tmp_path):
    pytest.importorskip("peft")
    model = module(pairs=("thermal", "depth"), unfreeze_last_n_blocks={"thermal": 1},
                   lora={"depth": LoraSpec(rank=2, target_modules=["qkv"])})
    thermal = {n for n, p in model.encoders["thermal"].named_parameters() if p.requires_grad}
    assert thermal and all(n.startswith(("trunk.blocks.1.", "head.")) for n in thermal)
    depth = {n for n, p in model.encoders["depth"].named_parameters() if p.requires_grad}
    assert any("lora_" in n for n in depth) and all("lora_" in n or n.startswith("head.") for n in depth)
    frozen = {n: p.clone() for n, p in model.encoders["depth"].named_parameters() if not p.requires_grad}
    trainer(tmp_path, max_steps=2).fit(model, world_data(train_size=16))
    assert all(torch.equal(p, frozen[n]) for n, p in model.encoders["depth"].named_parameters() if n in frozen)
    model.export_model(tmp_path / "model")  # adapters merged: a plain encoder reloads
    from imagebind_lite import load_model

    loaded = load_model(tmp_path / "model")
    images = torch.randn(2, 1, 32, 32)
    torch.testing.assert_close(loaded.encoder("depth")(images), model.encoders["depth"].eval()(images),
                               atol=1e-5, rtol=1e-5)


def test_lightning_cli_fit_runs_a_world_config(tmp_path, monkeypatch):
    from imagebind_lite.cli import main

    monkeypatch.chdir(tmp_path)
    config = REPO / "configs" / "world" / "align_audio.yaml"
    main(["fit", "--config", str(config), "--trainer.max_steps=2", "--trainer.enable_progress_bar=false",
          "--model.init_args.pivot=vision/tiny", "--data.init_args.world.num_concepts=4",
          "--data.init_args.train_size=16", "--data.init_args.val_size=8", "--data.init_args.batch_size=8"])
    run = tmp_path / "runs" / "world" / "align_audio"
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / "model" / "audio.safetensors").is_file()
    resolved = next(run.glob("lightning_logs/version_*/config.yaml")).read_text()
    assert "AlignmentModule" in resolved and "train_size: 16" in resolved


def test_cli_reports_bad_input_in_one_line(tmp_path, monkeypatch, capsys):
    from imagebind_lite.cli import main

    monkeypatch.chdir(tmp_path)
    config = REPO / "configs" / "world" / "align_thermal.yaml"
    with pytest.raises(SystemExit) as exited:
        main(["fit", "--config", str(config), "--model.init_args.pivot=no/such/pivot"])
    assert exited.value.code == 2
    assert "'no/such/pivot' is neither a saved-model directory nor a 'vision' preset" in capsys.readouterr().err


def _config_parser():
    from lightning.pytorch import LightningDataModule, LightningModule, Trainer
    from lightning.pytorch.cli import LightningArgumentParser

    import imagebind_lite.training  # noqa: F401  (short class names resolve after import)
    from imagebind_lite.commands.fit import add_monitor_options

    parser = LightningArgumentParser()
    parser.add_lightning_class_args(Trainer, "trainer")
    parser.add_lightning_class_args(LightningModule, "model", subclass_mode=True)
    parser.add_lightning_class_args(LightningDataModule, "data", subclass_mode=True)
    parser.add_argument("--seed_everything", type=int)
    add_monitor_options(parser)  # the fit command's early_stopping / checkpoint keys
    return parser


@pytest.mark.parametrize("config", sorted((REPO / "configs").rglob("*.yaml")), ids=lambda p: p.name)
def test_every_config_parses_against_the_classes(config):
    """Types and names are checked without building anything (the ImageBind-size ones need GPUs)."""
    parsed = _config_parser().parse_path(str(config))
    assert parsed.model.class_path.split(".")[-1] in ("AlignmentModule", "PivotPretrainModule")


def test_lora_without_peft_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "peft", None)  # import peft -> ImportError
    with pytest.raises(ImportError, match="pip install 'imagebind-lite\\[lora\\]'"):
        module(lora={"thermal": LoraSpec(rank=2)})


@pytest.mark.parametrize("mode, steps", [("min_size", 2), ("max_size_cycle", 4)])
def test_combined_loader_modes_set_the_epoch_length(tmp_path, mode, steps):
    model = module(pairs=("thermal", "depth"))
    run = trainer(tmp_path, max_steps=-1, max_epochs=1)
    run.fit(model, world_data(train_size={"thermal": 32, "depth": 16}, batch_size=8, mode=mode))
    assert run.global_step == steps

"""Heavier training checks (``pytest -m slow``): world retrieval lift and 2-process DDP on CPU."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from imagebind_lite.data.world import WorldConfig
from imagebind_lite.training import (
    AlignmentModule, ExportSavedModel, PairDataModule, PivotDataModule, PivotPretrainModule,
)

REPO = Path(__file__).resolve().parents[1]
_TRAINER = dict(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)


@pytest.mark.slow
def test_short_audio_alignment_lifts_held_out_retrieval_far_above_chance(tmp_path):
    world = WorldConfig(num_concepts=16)
    pl.seed_everything(0)
    pretrain = PivotPretrainModule(num_classes=16, warmup_steps=20)
    pl.Trainer(max_epochs=5, callbacks=[ExportSavedModel(str(tmp_path / "pivot"))], **_TRAINER).fit(
        pretrain, PivotDataModule(world=world, train_size=4096, val_size=256, batch_size=128))
    model = AlignmentModule(pivot=str(tmp_path / "pivot"), modalities={"audio": "tiny"},
                            temperatures={"audio": 20.0}, lr=5e-3, warmup_steps=20)
    data = PairDataModule(world=world, train_size=2048, val_size=256, batch_size=64, cache_inputs=True)
    run = pl.Trainer(max_epochs=10, **_TRAINER)
    run.fit(model, data)
    metrics = {k: float(v) for k, v in run.callback_metrics.items()}
    print("world image->audio retrieval:", {k: v for k, v in metrics.items() if k.startswith("val/")})
    chance = metrics["val/audio/chance"]  # 1/256
    assert metrics["val/audio/r1_image_to_audio"] >= 3 * chance
    assert metrics["val/audio/class_r1_image_to_audio"] >= 3 / 16  # class chance is 1/16


_DDP_SCRIPT = textwrap.dedent("""
    import sys, torch
    import lightning.pytorch as pl
    torch.set_num_threads(1)
    from imagebind_lite.data.world import WorldConfig
    from imagebind_lite.training import AlignmentModule, ExportSavedModel, PairDataModule

    out = sys.argv[1]
    pl.seed_everything(0)
    model = AlignmentModule(pivot="vision/tiny", modalities={"thermal": "tiny", "depth": "tiny"},
                            warmup_steps=1, total_steps=4)
    data = PairDataModule(world=WorldConfig(num_concepts=4, image_size=32), train_size=32, val_size=16,
                          batch_size=4, cache_dir=out + "/cache")
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_steps=4, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, callbacks=[ExportSavedModel(out + "/model")])
    before = {k: v.clone() for k, v in model.pivot.state_dict().items()}
    trainer.fit(model, data)
    assert all(torch.equal(v, before[k]) for k, v in model.pivot.state_dict().items())
    # DDP keeps replicas identical: every rank must hold the same trained weights
    flat = torch.cat([p.detach().flatten() for p in model.encoders.parameters()])
    gathered = trainer.strategy.all_gather(flat)
    assert torch.equal(gathered[0], gathered[1]), "ranks diverged"
    if trainer.is_global_zero:
        print("DDP-OK", trainer.world_size, float(trainer.callback_metrics["train/thermal/loss"]))

    # skip policy under DDP: one rank's batch loses a sample, both ranks trim to the same size
    model = AlignmentModule(pivot="vision/tiny", modalities={"thermal": "tiny"}, warmup_steps=1, total_steps=3)
    data = PairDataModule(manifests={"thermal": sys.argv[2]}, batch_size=4, on_bad_sample="skip")
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, data)
    skipped = trainer.strategy.reduce(torch.tensor(float(len(model.skipped_samples))), reduce_op="sum")
    if trainer.is_global_zero:
        print("DDP-SKIP-OK", trainer.global_step, int(skipped))
""")


@pytest.mark.slow
def test_two_process_ddp_on_cpu_trains_and_exports(tmp_path):
    from training_helpers import write_thermal_manifest

    manifest = write_thermal_manifest(tmp_path / "pairs", n=24)
    (tmp_path / "pairs" / "thermal" / "004.png").write_bytes(b"broken")
    script = tmp_path / "ddp_run.py"
    script.write_text(_DDP_SCRIPT)
    result = subprocess.run([sys.executable, str(script), str(tmp_path), str(manifest)], capture_output=True,
                            text=True, timeout=600, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "DDP-OK 2" in result.stdout
    assert "DDP-SKIP-OK 3 1" in result.stdout  # 24 pairs / 2 ranks / batch 4 = 3 steps, 1 skipped
    assert (tmp_path / "model" / "thermal.safetensors").is_file()
    from imagebind_lite import load_model

    assert load_model(tmp_path / "model").modalities == ["vision", "thermal", "depth"]
    assert len(list((tmp_path / "cache").glob("pivot-train-*.safetensors"))) == 2


_KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys, torch
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint
    from safetensors.torch import save_file
    torch.set_num_threads(1)
    from imagebind_lite.data.world import WorldConfig
    from imagebind_lite.training import AlignmentModule, PairDataModule

    out, kill_at, resume = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "resume"

    class Kill(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.global_step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)  # no clean-up, no exception handlers

    pl.seed_everything(0)
    model = AlignmentModule(pivot="vision/tiny", modalities={"thermal": "tiny", "depth": "tiny"},
                            warmup_steps=2, total_steps=9)
    data = PairDataModule(world=WorldConfig(num_concepts=4, image_size=32), val_size=0, batch_size=8,
                          train_size={"thermal": 32, "depth": 24})
    trainer = pl.Trainer(accelerator="cpu", max_steps=9, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0,
                         callbacks=[ModelCheckpoint(dirpath=out + "/ckpt", every_n_train_steps=1, save_last=True),
                                    Kill()])
    trainer.fit(model, data, ckpt_path=out + "/ckpt/last.ckpt" if resume else None)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out + "/final.safetensors")
""")


@pytest.mark.slow
def test_killed_process_resumes_to_the_same_weights(tmp_path):
    from safetensors.torch import load_file

    script = tmp_path / "run.py"
    script.write_text(_KILL_SCRIPT)

    def run(out, kill_at, mode):
        return subprocess.run([sys.executable, str(script), str(out), str(kill_at), mode], capture_output=True,
                              text=True, timeout=600, cwd=str(tmp_path))

    straight = run(tmp_path / "straight", -1, "fresh")
    assert straight.returncode == 0, straight.stderr[-2000:]
    killed = run(tmp_path / "killed", 6, "fresh")  # mid-epoch 1 (4 thermal batches per epoch)
    assert killed.returncode == -9 and not (tmp_path / "killed" / "final.safetensors").exists()
    resumed = run(tmp_path / "killed", -1, "resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    expected = load_file(str(tmp_path / "straight" / "final.safetensors"))
    got = load_file(str(tmp_path / "killed" / "final.safetensors"))
    assert expected.keys() == got.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(got[name], tensor, rtol=0, atol=1e-6, msg=name)

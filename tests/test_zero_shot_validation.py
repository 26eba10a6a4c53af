"""Generalisation you can see during ``fit``: zero-shot top-1 against class prompts on the held-out
set every epoch, early stopping on it, and the best epoch (not the last) as the exported model."""
import csv
import json
import os
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from training_helpers import module, trainer, world_data

import imagebind_lite
from imagebind_lite.errors import InputError
from imagebind_lite.training import PairDataModule, make_trainer
from imagebind_lite.training.monitoring import monitored_checkpoint
from imagebind_lite.training.val_classes import classes_of
from imagebind_lite.training.zero_shot_val import pivot_centroid_logits

REPO = Path(__file__).resolve().parents[1]
ZERO_SHOT = "val/thermal/zero_shot_top1"
CENTROIDS = "val/thermal/zero_shot_top1_pivot_centroids"


def _logged(log_dir: Path, key: str) -> list:
    rows = list(csv.DictReader(next(log_dir.rglob("metrics.csv")).open()))
    return [(int(r["epoch"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]


def _thermal_state(state: dict) -> dict:
    prefix = "encoders.thermal."
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def test_fit_logs_zero_shot_every_epoch_and_exports_the_best_checkpoint(tmp_path):
    run = make_trainer(export_dir=tmp_path / "model", checkpoint_dir=tmp_path / "ckpt", log_dir=tmp_path / "logs",
                       max_epochs=2, checkpoint={"monitor": ZERO_SHOT, "mode": "max"})
    run.fit(module(pairs=("thermal", "text")), world_data(train_size=16, val_size=8))
    for key in (ZERO_SHOT, "val/text/zero_shot_top1"):  # X -> prompts; images -> prompts for the text pair
        assert [epoch for epoch, _ in _logged(tmp_path / "logs", key)] == [0, 1], key
    assert CENTROIDS not in run.callback_metrics  # a text encoder is there: the prompt number, not the fallback
    best = monitored_checkpoint(run).best_model_path
    state = _thermal_state(torch.load(best, map_location="cpu", weights_only=True)["state_dict"])
    exported = imagebind_lite.load_model(tmp_path / "model").encoder("thermal").state_dict()
    assert exported.keys() == state.keys() and all(torch.equal(exported[k], v) for k, v in state.items())


class _ScriptedScore(pl.Callback):
    """A monitored score that peaks at epoch 1: later epochs are worse."""

    def __init__(self, scores):
        self.scores = scores

    def on_validation_epoch_end(self, trainer, pl_module):
        pl_module.log("test/score", self.scores[trainer.current_epoch])


def test_the_exported_model_is_the_best_epoch_not_the_last(tmp_path):
    run = make_trainer(export_dir=tmp_path / "model", checkpoint_dir=tmp_path / "ckpt", max_epochs=3,
                       checkpoint_every_n_steps=None, checkpoint={"monitor": "test/score", "mode": "max"},
                       callbacks=[_ScriptedScore([0.2, 0.9, 0.1])])
    model = module(lr=1e-2)
    run.fit(model, world_data(train_size=16, val_size=8))
    best_path = monitored_checkpoint(run).best_model_path
    assert "epoch=1" in Path(best_path).name
    best = _thermal_state(torch.load(best_path, weights_only=True)["state_dict"])
    last = _thermal_state(torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["state_dict"])
    assert any(not torch.equal(best[k], last[k]) for k in best)  # training went on after the best epoch
    exported = imagebind_lite.load_model(tmp_path / "model").encoder("thermal").state_dict()
    assert all(torch.equal(exported[k], v) for k, v in best.items())
    assert all(torch.equal(model.encoders["thermal"].state_dict()[k], v) for k, v in best.items())


def test_early_stopping_stops_when_the_metric_cannot_improve(tmp_path):
    run = make_trainer(max_epochs=10, early_stopping={"monitor": CENTROIDS, "patience": 2, "mode": "max"})
    run.fit(module(lr=0.0), world_data(train_size=16, val_size=8))  # lr 0: every epoch scores the same
    assert run.early_stopping_callback.stopped_epoch == 2 and run.current_epoch < 10
    assert ZERO_SHOT not in run.callback_metrics  # no text encoder in this run: only the named fallback


def test_a_frozen_text_companion_scores_the_prompts(tmp_path):
    model = module(frozen={"text": "tiny"})  # ImageBind's recipe: the pivot's text tower kept frozen
    metrics = trainer(tmp_path).validate(model, world_data(val_size=8), verbose=False)[0]
    assert 0.0 <= metrics[ZERO_SHOT] <= 1.0 and CENTROIDS not in metrics


def test_monitor_options_are_checked():
    with pytest.raises(InputError, match="mode"):
        make_trainer(checkpoint={"monitor": ZERO_SHOT, "mode": "maximum"})
    with pytest.raises(InputError, match="patient"):
        make_trainer(early_stopping={"monitor": ZERO_SHOT, "patient": 3})
    with pytest.raises(InputError, match="monitor"):
        make_trainer(checkpoint={"mode": "max"})


def test_pivot_centroids_leave_the_query_own_image_out():
    pivot = torch.eye(4)[[0, 1, 2, 2]]  # class 0 and 1 have one image each; class 2 two
    labels = torch.tensor([0, 1, 2, 2])
    logits = pivot_centroid_logits(pivot.clone(), pivot, labels, num_classes=4)
    assert torch.isinf(logits[0, 0]) and torch.isinf(logits[1, 1])  # its own image was the only one
    assert logits[2, 2] == pytest.approx(1.0)  # the other image of class 2
    assert torch.isinf(logits[:, 3]).all()  # no image of class 3 at all


def _labelled_thermal_manifest(root: Path, labels) -> Path:
    from training_helpers import write_thermal_manifest

    manifest = write_thermal_manifest(root, n=len(labels))
    rows = list(csv.DictReader(manifest.open()))
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, "label": label} for row, label in zip(rows, labels))
    return manifest


def test_string_labels_follow_the_prompt_file_order(tmp_path):
    from imagebind_lite.training.datasets import ManifestPairDataset

    manifest = _labelled_thermal_manifest(tmp_path, ["dog", "cat", "dog", "bee"])
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({"bee": ["a bee"], "cat": ["a cat"], "dog": ["a dog", "the dog"]}))
    classes = classes_of(ManifestPairDataset(manifest, "thermal", {}), str(prompts))
    assert classes.names == ["bee", "cat", "dog"]
    assert classes.to_classes(torch.tensor([0, 1, 2])).tolist() == [2, 1, 0]  # first-seen dog, cat, bee
    assert classes_of(ManifestPairDataset(manifest, "thermal", {}), None).names == ["dog", "cat", "bee"]
    prompts.write_text(json.dumps({"cat": ["a cat"], "dog": ["a dog"]}))
    with pytest.raises(InputError, match="bee"):
        classes_of(ManifestPairDataset(manifest, "thermal", {}), str(prompts))


def test_manifest_validation_scores_prompts_through_a_given_text_encoder(tmp_path):
    manifest = _labelled_thermal_manifest(tmp_path, ["dog", "cat"] * 4)
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({"cat": ["a cat", "a photo of a cat"], "dog": ["a dog"]}))
    model = module(zero_shot_text="tiny")  # a text encoder for validation only
    data = PairDataModule(manifests={"thermal": str(manifest)}, val_manifests={"thermal": str(manifest)},
                          class_prompts=str(prompts), batch_size=4)
    metrics = trainer(tmp_path).validate(model, data, verbose=False)[0]
    assert 0.0 <= metrics[ZERO_SHOT] <= 1.0 and CENTROIDS not in metrics
    assert not any(key.startswith("text") or ".text." in key for key in model.state_dict())  # not trained, not saved
    prompts.write_text(json.dumps({"cat": ["a cat"]}))  # "dog" has no prompts: fails before any training
    with pytest.raises(InputError, match="dog"):
        trainer(tmp_path).validate(model, PairDataModule(
            manifests={"thermal": str(manifest)}, val_manifests={"thermal": str(manifest)},
            class_prompts=str(prompts), batch_size=4))


def test_fit_cli_accepts_zero_shot_early_stopping_and_best_checkpoint_options(tmp_path, monkeypatch):
    from imagebind_lite.cli import main

    monkeypatch.chdir(tmp_path)
    config = REPO / "configs" / "world" / "align_audio_text_early_stop.yaml"
    main(["fit", "--config", str(config), "--model.init_args.pivot=vision/tiny", "--trainer.max_epochs=2",
          "--data.init_args.world.num_concepts=4", "--data.init_args.train_size=16", "--data.init_args.val_size=8",
          "--data.init_args.batch_size=8", "--trainer.enable_progress_bar=false", "--early_stopping.patience=1",
          "--checkpoint.save_top_k=1"])
    run = tmp_path / "runs" / "world" / "align_audio_text"
    assert len(list((run / "checkpoints").glob("best-*.ckpt"))) == 1
    assert sorted(imagebind_lite.load_model(run / "model").modalities) == ["audio", "text", "vision"]
    logged = _logged(run / "lightning_logs", "val/audio/zero_shot_top1")
    assert [epoch for epoch, _ in logged] == list(range(len(logged))) and logged
    resolved = next(run.glob("lightning_logs/version_*/config.yaml")).read_text()
    assert "early_stopping" in resolved and "val/audio/zero_shot_top1" in resolved


def _validate_on(rank, out_dir, world):
    from lightning.pytorch.strategies import DDPStrategy

    torch.manual_seed(0)  # the same weights in every process
    kwargs = dict(devices=1)
    if world > 1:  # join the process group spawn_gloo made; Lightning launches nothing itself
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="1", WORLD_SIZE=str(world), RANK=str(rank),
                          LOCAL_RANK=str(rank), NODE_RANK="0")
        kwargs = dict(devices=world, strategy=DDPStrategy(process_group_backend="gloo"))
    run = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                     enable_checkpointing=False, **kwargs)
    metrics = run.validate(module(pairs=("thermal", "text")), world_data(train_size=8, val_size=12, batch_size=4),
                           verbose=False)[0]
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(metrics))


@pytest.mark.slow
def test_zero_shot_under_ddp_equals_one_process(tmp_path):
    """2 gloo processes, 6 held-out rows each: every rank logs the 12-row metric of one process."""
    from gloo_helpers import spawn_gloo

    _validate_on(0, tmp_path, 1)
    single = json.loads((tmp_path / "rank0.json").read_text())
    spawn_gloo(_validate_on, str(tmp_path), 2, world=2)
    for rank in range(2):
        ddp = json.loads((tmp_path / f"rank{rank}.json").read_text())
        for key in (ZERO_SHOT, "val/text/zero_shot_top1", "val/thermal/class_r1_thermal_to_image"):
            assert ddp[key] == pytest.approx(single[key]), (rank, key)

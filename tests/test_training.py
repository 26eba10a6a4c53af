"""Alignment training: frozen pivot, pivot cache, resume mid-epoch, export, optimiser groups."""
from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from training_helpers import module, trainer, world_data

import imagebind_lite
from imagebind_lite.training import ExportSavedModel, PivotCache, ThroughputLogger
from imagebind_lite.training.optim import build_optimizer, param_groups, warmup_cosine_factor


class _Recorder(pl.Callback):
    """Records the pivot's mode and gradient flags while training."""

    def __init__(self):
        self.pivot_training, self.pivot_grads = [], []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.pivot_training.append(pl_module.pivot.training)
        self.pivot_grads.append(any(p.grad is not None for p in pl_module.pivot.parameters()))


def test_pivot_is_bitwise_unchanged_and_encoders_train(tmp_path):
    pl.seed_everything(0)
    model = module(pairs=("thermal", "depth"))
    before = {k: v.clone() for k, v in model.pivot.state_dict().items()}
    encoder_before = {k: v.clone() for k, v in model.encoders["thermal"].state_dict().items()}
    recorder = _Recorder()
    # no cache: the pivot really runs forward every step
    trainer(tmp_path, max_steps=3, callbacks=[recorder]).fit(model, world_data(use_pivot_cache=False))
    for name, tensor in model.pivot.state_dict().items():
        assert torch.equal(tensor, before[name]), name
    assert not any(p.requires_grad for p in model.pivot.parameters())
    assert recorder.pivot_training == [False] * 3 and not any(recorder.pivot_grads)
    changed = [k for k, v in model.encoders["thermal"].state_dict().items() if not torch.equal(v, encoder_before[k])]
    assert changed, "the thermal encoder did not train"


def test_pivot_parameters_are_not_in_the_optimiser():
    model = module(pairs=("thermal",), temperatures={"thermal": {"init": 10.0, "learnable": True}})
    groups = param_groups(model.named_parameters(), weight_decay=0.1)
    in_groups = {id(p) for g in groups for p in g["params"]}
    assert not in_groups & {id(p) for p in model.pivot.parameters()}
    no_decay = {id(p) for g in groups if g["weight_decay"] == 0 for p in g["params"]}
    assert id(model.temperatures["thermal"].log_scale) in no_decay
    norm = model.encoders["thermal"].head.norm
    assert id(norm.weight) in no_decay and id(norm.bias) in no_decay
    assert id(model.encoders["thermal"].head.proj.weight) not in no_decay


@pytest.mark.parametrize("precision, kernel", [(None, "foreach"), ("bf16-mixed", "foreach"), ("32-true", "fused")])
def test_cpu_optimiser_picks_a_fast_kernel_with_the_same_update(precision, kernel):
    torch.manual_seed(0)
    model = module(pairs=("thermal",))
    fast = build_optimizer(model.named_parameters(), lr=1e-2, weight_decay=0.1, precision=precision)
    assert all(group[kernel] for group in fast.param_groups)
    trained = [p for p in model.parameters() if p.requires_grad]
    start = [p.detach().clone() for p in trained]
    for p in trained:
        p.grad = torch.randn_like(p)
    fast.step()
    after_fast = [p.detach().clone() for p in trained]
    with torch.no_grad():
        for p, s in zip(trained, start):
            p.copy_(s)
    loop = torch.optim.AdamW(param_groups(model.named_parameters(), 0.1), lr=1e-2, betas=(0.9, 0.98), eps=1e-6,
                             foreach=False)
    loop.step()
    for p, expected in zip(trained, after_fast):
        torch.testing.assert_close(p.detach(), expected)


def test_fit_uses_the_fused_kernel_at_full_precision_only(tmp_path):
    """Lightning refuses a fused optimizer with gradient clipping under mixed precision: the
    kernel follows the Trainer's precision, and both runs train."""
    data = world_data(train_size=16)
    for precision, fused in (("32-true", True), ("bf16-mixed", False)):
        model = module(pairs=("thermal",))
        run = trainer(tmp_path / precision, max_steps=1, precision=precision, gradient_clip_val=0.5)
        run.fit(model, data)
        assert bool(run.optimizers[0].param_groups[0]["fused"]) is fused


def test_warmup_then_cosine():
    factors = [warmup_cosine_factor(s, warmup_steps=4, total_steps=14, min_lr_ratio=0.1) for s in range(16)]
    assert factors[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert factors[4] == pytest.approx(1.0) and factors[9] == pytest.approx(0.55)
    assert factors[14] == pytest.approx(0.1) and factors[15] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(factors[4:], factors[5:]))


def _first_batch(data, model):
    data.bind(model.pivot, model.data_configs()).setup("fit")
    batch, _, _ = next(iter(data.train_dataloader()))
    return batch["thermal"]


def test_cached_pivot_gives_the_same_loss_as_recomputing(tmp_path):
    model = module()
    cached = _first_batch(world_data(cache_dir=str(tmp_path)), model)
    fresh = _first_batch(world_data(use_pivot_cache=False), model)
    assert list(cached["ids"]) == list(fresh["ids"]) and "pivot_emb" in cached and "pivot" in fresh
    with torch.no_grad():
        loss_cached = model.pair_loss("thermal", cached).loss
        loss_fresh = model.pair_loss("thermal", fresh).loss
    torch.testing.assert_close(loss_cached, loss_fresh, rtol=0, atol=1e-6)


def test_cache_is_reused_from_disk_and_invalidated_by_pivot_or_transform(tmp_path):
    model = module()
    data = world_data(cache_dir=str(tmp_path)).bind(model.pivot, model.data_configs())
    data.setup("fit")
    dataset, config = data.train_sets["thermal"], model.data_configs()["vision"]
    assert data.cache.misses == 1 and len(list(tmp_path.glob("pivot-train-thermal-*.safetensors"))) == 1
    fresh = PivotCache(str(tmp_path))  # a new process: memory empty, disk warm
    first = fresh.get(model.pivot, dataset, "train-thermal", config)
    assert (fresh.hits, fresh.misses) == (1, 0)
    with torch.no_grad():
        model.pivot.head.proj.weight[0, 0] += 1e-3  # a different pivot
    changed = fresh.get(model.pivot, dataset, "train-thermal", config)
    assert (fresh.hits, fresh.misses) == (1, 1)
    assert not torch.equal(first.embeddings, changed.embeddings)
    fresh.get(model.pivot, dataset, "train-thermal", {**config, "mean": [0.5, 0.5, 0.5]})  # a different transform
    assert fresh.misses == 2 and len(list(tmp_path.glob("pivot-train-thermal-*.safetensors"))) == 3


class _Crash(pl.Callback):
    def __init__(self, at_step: int):
        self.at_step = at_step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.at_step:
            raise RuntimeError("simulated crash")


def _resumable_run(root, callbacks=(), ckpt_path=None, max_steps=7):
    pl.seed_everything(0)
    model = module(pairs=("thermal", "depth"), total_steps=max_steps)
    # thermal has 4 batches per epoch and depth 2, so depth cycles inside each epoch
    data = world_data(train_size={"thermal": 32, "depth": 16}, batch_size=8)
    checkpoint = ModelCheckpoint(dirpath=str(root / "ckpt"), every_n_train_steps=1, save_last=True)
    run = trainer(root, max_steps=max_steps, enable_checkpointing=True, callbacks=[checkpoint, *callbacks])
    run.fit(model, data, ckpt_path=ckpt_path)
    return model


@pytest.mark.parametrize("crash_at", [5, 4], ids=["mid-epoch", "epoch-boundary"])
def test_interrupted_and_resumed_run_reaches_the_same_weights(tmp_path, crash_at):
    straight = _resumable_run(tmp_path / "straight")
    with pytest.raises(RuntimeError, match="simulated crash"):
        _resumable_run(tmp_path / "resumed", callbacks=[_Crash(at_step=crash_at)])  # 4 steps per epoch
    last = tmp_path / "resumed" / "ckpt" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == crash_at
    resumed = _resumable_run(tmp_path / "resumed", ckpt_path=str(last))
    for name, tensor in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], tensor, rtol=0, atol=1e-6, msg=name)


def test_export_is_a_saved_model_and_throughput_is_logged(tmp_path):
    model = module(temperatures={"thermal": 10.0})
    throughput = ThroughputLogger()
    export = ExportSavedModel(str(tmp_path / "model"))
    run = trainer(tmp_path, max_steps=-1, max_epochs=1, callbacks=[throughput, export])
    run.fit(model, world_data(train_size=24, val_size=16))  # 3 steps, then validation
    loaded = imagebind_lite.load_model(tmp_path / "model")
    assert loaded.modalities == ["vision", "thermal"]
    for name, tensor in model.encoders["thermal"].state_dict().items():
        assert torch.equal(loaded.encoder("thermal").state_dict()[name], tensor)
    assert len(throughput.history) == 2 and throughput.history[-1][1]["thermal"] > 0
    metrics = run.callback_metrics
    for key in ("train/thermal/loss", "train/thermal/temperature", "train/thermal/top1_thermal_to_image",
                "train/thermal/top1_image_to_thermal", "train/thermal/samples_per_sec",
                "val/thermal/r1_image_to_thermal"):
        assert key in metrics, key
    assert float(metrics["train/thermal/temperature"]) == pytest.approx(0.1)


def test_bf16_autocast_and_gradient_clipping_run(tmp_path):
    model = module(pairs=("thermal", "depth"))
    run = trainer(tmp_path, max_steps=2, precision="bf16-mixed", gradient_clip_val=0.5)
    run.fit(model, world_data(train_size=16))
    assert run.global_step == 2 and torch.isfinite(run.callback_metrics["train/depth/loss"])
    assert "train/depth/samples_per_sec" in run.callback_metrics  # logged without adding a callback


def test_in_process_api_pretrains_a_pivot_and_aligns_to_it(tmp_path):
    from imagebind_lite.training import AlignmentModule, fit_alignment, pretrain_pivot
    from training_helpers import TINY_WORLD

    pivot_dir = pretrain_pivot(TINY_WORLD, tmp_path / "pivot", max_epochs=1, train_size=32, batch_size=16)
    assert imagebind_lite.load_model(pivot_dir).modalities == ["vision"]
    model = AlignmentModule(pivot=str(pivot_dir), modalities={"thermal": "tiny"}, warmup_steps=1)
    pivot = imagebind_lite.load_model(pivot_dir).encoder("vision").state_dict()
    assert all(torch.equal(v, pivot[k]) for k, v in model.pivot.state_dict().items())  # loaded, not fresh
    metrics = fit_alignment(model, world_data(train_size=16, val_size=8), export_dir=tmp_path / "model",
                            max_epochs=1, log_dir=tmp_path / "logs")
    assert "val/thermal/r1_image_to_thermal" in metrics
    assert imagebind_lite.load_model(tmp_path / "model").modalities == ["vision", "thermal"]
    assert list((tmp_path / "logs").rglob("metrics.csv"))


class _ValidationEpochs(pl.Callback):
    def __init__(self):
        self.epochs = []

    def on_validation_epoch_end(self, trainer, pl_module):
        self.epochs.append(trainer.current_epoch)


@pytest.mark.parametrize("every_n_steps", [None, 2])
def test_make_trainer_checkpoints_validates_and_exports_as_asked(tmp_path, every_n_steps):
    from imagebind_lite.training import make_trainer

    seen = _ValidationEpochs()
    run = make_trainer(export_dir=tmp_path / "model", checkpoint_dir=tmp_path / "ckpt", max_epochs=2,
                       checkpoint_every_n_steps=every_n_steps, check_val_every_n_epoch=2, callbacks=[seen])
    assert run.progress_bar_callback is None and run.logger is None
    run.fit(module(), world_data(train_size=16, val_size=8))
    assert seen.epochs == [1]  # validation only after the second epoch
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["last.ckpt"]  # the latest state only
    assert imagebind_lite.load_model(tmp_path / "model").modalities == ["vision", "thermal"]
    assert make_trainer(progress=True).progress_bar_callback is not None


def test_a_time_interval_checkpoints_once_at_the_end_of_a_short_fit(tmp_path, monkeypatch):
    """``checkpoint_every_s``: a fit shorter than the interval writes last.ckpt once, when it ends,
    and that checkpoint holds the final state (resumable at the last epoch)."""
    from imagebind_lite.training import make_trainer

    saves = []
    original = pl.Trainer.save_checkpoint
    monkeypatch.setattr(pl.Trainer, "save_checkpoint",
                        lambda self, *a, **k: saves.append(self.current_epoch) or original(self, *a, **k))
    run = make_trainer(checkpoint_dir=tmp_path / "ckpt", max_epochs=3, checkpoint_every_s=3600.0)
    run.fit(module(), world_data(train_size=16, val_size=8))
    assert len(saves) == 1
    state = torch.load(tmp_path / "ckpt" / "last.ckpt", map_location="cpu", weights_only=True)
    assert (state["epoch"], state["global_step"]) == (run.current_epoch, run.global_step) == (3, 6)


def test_pivot_pretraining_with_cached_images_sees_the_same_batches(monkeypatch):
    from imagebind_lite.modality import ModalityTransform
    from imagebind_lite.training import PivotDataModule, PivotPretrainModule
    from training_helpers import TINY_WORLD

    calls = []
    original = ModalityTransform.__call__
    monkeypatch.setattr(ModalityTransform, "__call__", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))

    def batches(cache_images: bool):
        torch.manual_seed(0)
        data = PivotDataModule(world=TINY_WORLD, train_size=24, val_size=8, batch_size=8, cache_images=cache_images)
        data.trainer = type("Run", (), {"lightning_module": PivotPretrainModule(num_classes=TINY_WORLD.num_concepts)})()
        data.setup("fit")
        calls.clear()
        torch.manual_seed(1)
        return list(data.train_dataloader())

    plain_batches = batches(False)
    assert len(calls) == 24
    cached_batches = batches(True)
    assert not calls  # decoded once in setup, never again
    for plain, cached in zip(plain_batches, cached_batches):
        assert torch.equal(plain["vision"], cached["vision"]) and torch.equal(plain["labels"], cached["labels"])


def test_a_full_precision_checkpoint_resumes_under_mixed_precision_with_clipping(tmp_path):
    """The saved optimizer state carries the fused kernel; resuming under bf16-mixed with
    clipping (where Lightning refuses it) switches to the kernel chosen for the new run."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    data = world_data(train_size=16)
    first = trainer(tmp_path / "a", max_steps=2, precision="32-true", enable_checkpointing=True,
                    callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)])
    first.fit(module(pairs=("thermal",)), data)
    assert first.optimizers[0].param_groups[0]["fused"]
    resumed = trainer(tmp_path / "b", max_steps=4, precision="bf16-mixed", gradient_clip_val=0.5)
    resumed.fit(module(pairs=("thermal",)), world_data(train_size=16), ckpt_path=tmp_path / "ckpt" / "last.ckpt")
    group = resumed.optimizers[0].param_groups[0]
    assert resumed.global_step == 4 and not group["fused"] and group["foreach"]

"""Gradient caching: gradients equal to one unchunked batch, replayed random masks, and real
Lightning fits (mixed precision, clipping, resume). The 2-process check is in
test_grad_cache_ddp.py."""
from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.nn import functional as F
from training_helpers import module, trainer, world_data

from imagebind_lite.errors import InputError
from imagebind_lite.training import grad_cache
from imagebind_lite.training.grad_cache import encode_in_chunks


def _pair(n=10, trained_pivot=False, owner=None):
    gen = torch.Generator().manual_seed(1)
    rows = n if owner is None else len(owner)
    pair = {"ids": list(range(n)), "thermal": torch.rand(rows, 1, 32, 32, generator=gen, dtype=torch.float64)}
    if trained_pivot:
        pair["pivot"] = torch.rand(n, 3, 32, 32, generator=gen, dtype=torch.float64)
    else:
        pair["pivot_emb"] = F.normalize(torch.randn(n, 128, generator=gen, dtype=torch.float64), dim=-1)
    if owner is not None:
        pair["owner"] = torch.tensor(owner)
    return pair


def _loss_and_grads(chunk, pair, **kwargs):
    torch.manual_seed(0)
    model = module(grad_cache_chunk=None if chunk is None else {"thermal": chunk}, **kwargs).double().train()
    out = model.pair_loss("thermal", pair)
    out.loss.backward()
    return out.loss.detach(), {n: p.grad for n, p in model.named_parameters() if p.grad is not None}


CASES = {
    "infonce, cached pivot": dict(),
    "infonce, trained pivot": dict(train_pivot=True),
    "sigmoid, cached pivot": dict(loss={"thermal": "sigmoid"}),
    "sigmoid, trained pivot": dict(loss={"thermal": "sigmoid"}, train_pivot=True),
    "infonce, several positives": dict(owner=[0, 1, 1, 2, 3, 3, 3, 4, 5, 6, 7, 8, 9, 9]),
    "sigmoid, several positives": dict(owner=[0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9], loss={"thermal": "sigmoid"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_gradients_equal_one_unchunked_batch(case):
    kwargs = dict(CASES[case])
    pair = _pair(trained_pivot=kwargs.get("train_pivot", False), owner=kwargs.pop("owner", None))
    want_loss, want = _loss_and_grads(None, pair, **kwargs)
    got_loss, got = _loss_and_grads(3, pair, **kwargs)
    assert got.keys() == want.keys() and any(name.startswith("pivot.") for name in got) == ("train_pivot" in kwargs)
    torch.testing.assert_close(got_loss, want_loss, atol=1e-12, rtol=0)
    for name, grad in want.items():
        torch.testing.assert_close(got[name], grad, atol=1e-9, rtol=0, msg=name)


def _stochastic_encoder():
    torch.manual_seed(0)
    overrides = {"thermal": {"drop_path": 0.5, "head_dropout": 0.3}}
    return module(encoder_overrides=overrides).encoders["thermal"].double().train()


def _grads_after(encoder, embed, x, upstream):
    encoder.zero_grad()
    torch.manual_seed(5)
    (embed(encoder, x) * upstream).sum().backward()
    return [p.grad.clone() for p in encoder.parameters()], torch.rand(3)


def test_dropout_and_drop_path_masks_are_replayed_in_the_second_pass(monkeypatch):
    encoder = _stochastic_encoder()
    x = torch.rand(10, 1, 32, 32, dtype=torch.float64)
    upstream = torch.randn(10, 128, dtype=torch.float64)
    chunked_with_graph = lambda enc, inp: torch.cat([enc(piece) for piece in inp.split(4)])
    want, want_next = _grads_after(encoder, chunked_with_graph, x, upstream)
    got, got_next = _grads_after(encoder, lambda enc, inp: encode_in_chunks(enc, inp, 4), x, upstream)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=1e-12, rtol=0)
    assert torch.equal(got_next, want_next)  # the re-runs left the caller's random stream alone
    # control: re-running without restoring the random state gives other masks, other gradients
    monkeypatch.setattr(grad_cache._ChunkState, "replay", lambda self: torch.random.fork_rng(devices=[]))
    wrong, _ = _grads_after(encoder, lambda enc, inp: encode_in_chunks(enc, inp, 4), x, upstream)
    assert any(not torch.allclose(g, w, atol=1e-6) for g, w in zip(wrong, want))


def test_without_gradients_the_forward_is_chunked_and_equal():
    model = module(grad_cache_chunk={"thermal": 3}).eval()
    pair = {k: (v.float() if torch.is_tensor(v) and v.is_floating_point() else v) for k, v in _pair().items()}
    with torch.no_grad():
        _, chunked = model.pair_embeddings("thermal", pair)
        whole = F.normalize(model.encoders["thermal"](pair["thermal"]), dim=-1)
        pivot = model.embed_pivot(torch.rand(7, 3, 32, 32), chunk=2)
        assert pivot.shape == (7, 128) and not pivot.requires_grad
    torch.testing.assert_close(chunked, whole, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("chunks", [{"depth": 4}, {"thermal": 0}])
def test_bad_chunk_settings_raise(chunks):
    with pytest.raises(InputError, match="grad_cache_chunk"):
        module(grad_cache_chunk=chunks)


def _fit(root, chunk, steps=3, **kwargs):
    pl.seed_everything(0)
    model = module(grad_cache_chunk=chunk, total_steps=steps)
    trainer(root, max_steps=steps, **kwargs).fit(model, world_data(train_size=32, batch_size=8))
    return model


def test_lightning_fit_with_grad_cache_reaches_the_weights_of_plain_batches(tmp_path):
    plain = _fit(tmp_path / "plain", None)
    cached = _fit(tmp_path / "cached", {"thermal": 3})
    for name, tensor in plain.state_dict().items():
        torch.testing.assert_close(cached.state_dict()[name], tensor, atol=1e-5, rtol=1e-4, msg=name)


def test_lightning_fit_with_grad_cache_bf16_and_clipping(tmp_path):
    model = _fit(tmp_path, {"thermal": 3}, steps=2, precision="bf16-mixed", gradient_clip_val=0.5)
    assert model.trainer.global_step == 2
    assert torch.isfinite(model.trainer.callback_metrics["train/thermal/loss"])


class _Crash(pl.Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == 3:
            raise RuntimeError("simulated crash")


def _resumable(root, callbacks=(), ckpt_path=None):
    pl.seed_everything(0)
    model = module(grad_cache_chunk={"thermal": 3}, loss={"thermal": "sigmoid"}, total_steps=5)
    checkpoint = ModelCheckpoint(dirpath=str(root / "ckpt"), every_n_train_steps=1, save_last=True)
    run = trainer(root, max_steps=5, enable_checkpointing=True, callbacks=[checkpoint, *callbacks])
    run.fit(model, world_data(train_size=32, batch_size=8), ckpt_path=ckpt_path)
    return model


def test_interrupted_grad_cache_run_resumes_to_the_same_weights(tmp_path):
    straight = _resumable(tmp_path / "straight")
    with pytest.raises(RuntimeError, match="simulated crash"):
        _resumable(tmp_path / "resumed", callbacks=[_Crash()])
    resumed = _resumable(tmp_path / "resumed", ckpt_path=str(tmp_path / "resumed" / "ckpt" / "last.ckpt"))
    assert "logit_biases.thermal.bias" in resumed.state_dict()
    for name, tensor in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], tensor, rtol=0, atol=1e-6, msg=name)


def test_cli_fits_the_sigmoid_big_batch_config(tmp_path, monkeypatch):
    from pathlib import Path

    from imagebind_lite.cli import main

    monkeypatch.chdir(tmp_path)
    config = Path(__file__).resolve().parents[1] / "configs" / "world" / "align_text_siglip_big_batch.yaml"
    main(["fit", "--config", str(config), "--trainer.max_steps=2", "--trainer.enable_progress_bar=false",
          "--model.init_args.pivot=vision/tiny", "--data.init_args.world.num_concepts=4",
          "--data.init_args.train_size=32", "--data.init_args.val_size=8", "--data.init_args.batch_size=16",
          "--model.init_args.grad_cache_chunk.text=5"])
    run = tmp_path / "runs" / "world" / "align_text_siglip"
    resolved = next(run.glob("lightning_logs/version_*/config.yaml")).read_text()
    assert "sigmoid" in resolved and "grad_cache_chunk" in resolved
    scales = (run / "model" / "temperatures.json").read_text()
    assert '"loss": "sigmoid"' in scales and '"bias"' in scales


def test_loss_choice_builds_siglip_scale_and_bias_and_rejects_unknown_settings():
    model = module(pairs=("thermal", "depth"), loss={"thermal": {"kind": "sigmoid", "bias_init": -5.0}})
    assert model.temperatures["thermal"].value == pytest.approx(10.0)  # SigLIP's initial scale
    assert model.temperatures["depth"].value == pytest.approx(1 / 0.07)  # InfoNCE keeps CLIP's
    assert list(model.logit_biases) == ["thermal"] and model.logit_biases["thermal"].value == -5.0
    from imagebind_lite.training.optim import param_groups

    no_decay = {id(p) for g in param_groups(model.named_parameters(), 0.1) if g["weight_decay"] == 0 for p in g["params"]}
    assert id(model.logit_biases["thermal"].bias) in no_decay
    with pytest.raises(InputError, match="loss kind"):
        module(loss={"thermal": "hinge"})
    with pytest.raises(InputError, match="not aligned"):
        module(loss={"audio": "sigmoid"})

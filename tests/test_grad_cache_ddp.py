"""Gradient caching under DDP (2 gloo processes): chunked halves on each rank give exactly the
gradients of one unchunked full batch on one process (cached pivot, trained pivot, sigmoid
loss, several positives per image with uneven row counts). Batches read from a caption
manifest with several captions per image, sharded by the real loaders, show the targets
stay right across ranks ("sample" and "all")."""

import lightning.pytorch as pl
import pytest
import torch
from gloo_helpers import spawn_gloo
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from training_helpers import module, write_caption_manifest

WORLD, PER_RANK, CHUNK = 2, 5, 2
OWNERS = {0: [0, 1, 1, 2, 3, 4, 4], 1: [0, 1, 2, 3, 4]}  # several positives: 7 rows vs 5
CASES = {
    "infonce, cached pivot": dict(),
    "sigmoid, trained pivot": dict(loss={"thermal": "sigmoid"}, train_pivot=True),
    "infonce, several positives": dict(owners=True),
}


class _Step(nn.Module):
    """What the training step computes for one pair, as a module DDP can wrap."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pair):
        return self.model.pair_loss("thermal", pair).loss


def _model(chunk, kwargs):
    torch.manual_seed(0)  # identical weights in every process
    kwargs = {k: v for k, v in kwargs.items() if k != "owners"}
    return module(grad_cache_chunk=None if chunk is None else {"thermal": chunk}, **kwargs).double().train()


def _pair(anchors: slice, kwargs, rows=None, owner=None):
    """Images ``anchors`` of the global batch and their thermal rows (``rows`` with ``owner``
    when images have several positives; else row i is image i's)."""
    gen = torch.Generator().manual_seed(3)
    n_rows = sum(len(o) for o in OWNERS.values()) if kwargs.get("owners") else WORLD * PER_RANK
    thermal = torch.rand(n_rows, 1, 32, 32, generator=gen, dtype=torch.float64)
    images = torch.rand(WORLD * PER_RANK, 3, 32, 32, generator=gen, dtype=torch.float64)
    cached = torch.nn.functional.normalize(torch.randn(WORLD * PER_RANK, 128, generator=gen, dtype=torch.float64))
    pair = {"ids": list(range(anchors.stop - anchors.start)), "thermal": thermal[anchors if rows is None else rows]}
    if kwargs.get("train_pivot"):
        pair["pivot"] = images[anchors]
    else:
        pair["pivot_emb"] = cached[anchors]
    if owner is not None:
        pair["owner"] = torch.tensor(owner)
    return pair


def _local_pair(rank, kwargs):
    anchors = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    if not kwargs.get("owners"):
        return _pair(anchors, kwargs)
    start = sum(len(OWNERS[r]) for r in range(rank))
    return _pair(anchors, kwargs, slice(start, start + len(OWNERS[rank])), OWNERS[rank])


def _full_pair(kwargs):
    everything = slice(0, WORLD * PER_RANK)
    if not kwargs.get("owners"):
        return _pair(everything, kwargs)
    owners = [o + r * PER_RANK for r in range(WORLD) for o in OWNERS[r]]
    return _pair(everything, kwargs, slice(0, len(owners)), owners)


def _caption_model(chunk):
    torch.manual_seed(0)
    from imagebind_lite.training import AlignmentModule

    return AlignmentModule(pivot="vision/tiny", modalities={"text": "tiny"}, warmup_steps=1, total_steps=2,
                           grad_cache_chunk=None if chunk is None else {"text": chunk}).double().train()


def _caption_batch(model, manifest, positives, batch_size):
    """The first training batch the data module gives this process (sharded under DDP)."""
    from imagebind_lite.training import PairDataModule

    data = PairDataModule(manifests={"text": manifest}, batch_size=batch_size, positives=positives,
                          use_pivot_cache=False)
    data.bind(model.pivot, model.data_configs()).setup("fit")
    batch, _, _ = next(iter(data.train_dataloader()))
    return batch["text"]


def _caption_grads(rank, manifest):
    out = {}
    for positives in ("sample", "all"):
        model = _caption_model(CHUNK)
        pair = _caption_batch(model, manifest, positives, batch_size=4)
        step = DistributedDataParallel(_TextStep(model))
        step(pair).backward()
        out[f"captions, {positives}"] = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return out


class _TextStep(_Step):
    def forward(self, pair):
        return self.model.pair_loss("text", pair).loss


def _worker(rank, out_dir, manifest):
    results = {}
    for case, kwargs in CASES.items():
        model = _model(CHUNK, kwargs)
        ddp = DistributedDataParallel(_Step(model))
        ddp(_local_pair(rank, kwargs)).backward()
        results[case] = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    results.update(_caption_grads(rank, manifest))
    torch.save(results, f"{out_dir}/rank{rank}.pt")


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("grad_cache_ddp")
    manifest = write_caption_manifest(tmp_path_factory.mktemp("captions"))
    spawn_gloo(_worker, str(out_dir), str(manifest), world=WORLD)
    return [torch.load(out_dir / f"rank{r}.pt") for r in range(WORLD)]


@pytest.mark.parametrize("case", list(CASES))
def test_chunked_ddp_gradients_equal_one_unchunked_full_batch(ddp_results, case):
    kwargs = CASES[case]
    model = _model(None, kwargs)
    model.pair_loss("thermal", _full_pair(kwargs)).loss.backward()
    want = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    for res in ddp_results:
        assert res[case].keys() == want.keys()
        for name, grad in want.items():
            torch.testing.assert_close(res[case][name], grad, atol=1e-9, rtol=0, msg=f"{case}: {name}")


@pytest.mark.parametrize("positives", ["sample", "all"])
def test_manifest_batches_sharded_over_ranks_give_the_one_process_gradients(ddp_results, positives, tmp_path):
    """Each rank's 4 images are half of the one-process batch of 8, with the same captions
    drawn ("sample") or all of them ("all": row counts may differ between the ranks)."""
    model = _caption_model(None)
    pair = _caption_batch(model, str(write_caption_manifest(tmp_path)), positives, batch_size=8)
    assert len(pair["ids"]) == 8 and (positives == "all") == ("owner" in pair)
    model.pair_loss("text", pair).loss.backward()
    want = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    case = f"captions, {positives}"
    for res in ddp_results:
        assert res[case].keys() == want.keys()
        for name, grad in want.items():
            torch.testing.assert_close(res[case][name], grad, atol=1e-9, rtol=0, msg=f"{case}: {name}")


class _SaveWeights(pl.Callback):
    """Each rank writes its final weights: DDP ranks must agree with each other."""

    def __init__(self, out_dir):
        self.out_dir = out_dir

    def on_fit_end(self, trainer, pl_module):
        torch.save(pl_module.state_dict(), f"{self.out_dir}/rank{trainer.global_rank}.pt")


@pytest.mark.slow
def test_lightning_ddp_fit_with_grad_cache_equals_one_process_with_the_global_batch(tmp_path):
    """Rank r takes every 2nd sample of each pass, so the two ranks' batches of 4 together are
    the one-process batch of 8 (in another order, which the loss does not see)."""
    from training_helpers import world_data

    def fit(devices, batch_size, chunk, callbacks=()):
        pl.seed_everything(0)
        model = module(grad_cache_chunk=chunk, loss={"thermal": "sigmoid"}, total_steps=3)
        run = pl.Trainer(accelerator="cpu", devices=devices, strategy="ddp_spawn" if devices > 1 else "auto",
                         max_steps=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=str(tmp_path),
                         callbacks=list(callbacks))
        run.fit(model, world_data(train_size=32, batch_size=batch_size))
        return model

    single = fit(1, 8, None)
    fit(2, 4, {"thermal": 3}, [_SaveWeights(str(tmp_path))])
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for name, want in single.state_dict().items():
        for weights in ranks:
            torch.testing.assert_close(weights[name], want, atol=1e-5, rtol=1e-4, msg=name)

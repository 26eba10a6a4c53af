"""``anchor_regression``: the term against a formula written out here, several rows per
anchor, the module adding it with its weight, the settings it refuses, and a real fit in
which it moves X embeddings onto their images (the modality gap a contrastive loss leaves).
Exactness under DDP with uneven rows per rank is in test_losses_ddp_scale.py."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F
from training_helpers import module, trainer, write_thermal_manifest

from imagebind_lite.errors import InputError
from imagebind_lite.losses import anchor_regression
from imagebind_lite.training import PairDataModule
from imagebind_lite.training.datasets import PairCollate


def _unit(n, d=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=gen, dtype=torch.float64), dim=1)


def test_equals_one_minus_cosine_averaged_over_rows():
    a, b = _unit(5).requires_grad_(), _unit(5, seed=1)
    want = sum(1 - torch.dot(a[i], b[i]) for i in range(5)) / 5
    got = anchor_regression(a, b)
    assert got.item() == pytest.approx(want.item(), abs=1e-12)
    torch.testing.assert_close(torch.autograd.grad(got, a)[0], -b / 5)
    assert anchor_regression(b, b).item() == pytest.approx(0.0, abs=1e-12)


def test_several_rows_per_anchor_target_their_own_anchor():
    a, b = _unit(4), _unit(2, seed=1)
    owner = torch.tensor([1, 0, 1, 1])
    want = torch.stack([1 - a[i] @ b[owner[i]] for i in range(4)]).mean()
    assert anchor_regression(a, b, owner).item() == pytest.approx(want.item(), abs=1e-12)
    with pytest.raises(InputError, match="as many rows"):
        anchor_regression(a, b)


def test_the_module_adds_the_weighted_term_to_the_pair_loss():
    torch.manual_seed(0)
    plain, pulled = module(), module(anchor_regression={"thermal": 4.0})
    pulled.load_state_dict(plain.state_dict())
    gen = torch.Generator().manual_seed(0)
    pair = {"ids": torch.arange(6).numpy(), "labels": torch.full((6,), -1), "skipped": [],
            "pivot_emb": torch.randn(6, 128, generator=gen), "thermal": torch.rand(6, 1, 32, 32, generator=gen)}
    with torch.no_grad():
        pivot, thermal = plain.pair_embeddings("thermal", pair)
        want = plain.pair_loss("thermal", pair).loss + 4.0 * anchor_regression(thermal, pivot)
        assert pulled.pair_loss("thermal", pair).loss.item() == pytest.approx(want.item(), abs=1e-6)


@pytest.mark.parametrize("weight, match", [(-1.0, ">= 0"), ("strong", ">= 0"), ({"audio": 1.0}, "not aligned")])
def test_weights_it_cannot_use_are_refused(weight, match):
    with pytest.raises(InputError, match=match):
        module(anchor_regression=weight)


def _mean_cosine_after_fit(tmp_path, weight):
    manifest = write_thermal_manifest(tmp_path, n=12)
    torch.manual_seed(0)
    model = module(anchor_regression=weight, lr=3e-3, total_steps=24)
    data = PairDataModule(manifests={"thermal": str(manifest)}, batch_size=6, cache_inputs=True, seed=0)
    run = trainer(tmp_path, max_steps=24, log_every_n_steps=1)
    run.fit(model, data)
    logged = float(run.callback_metrics["train/thermal/mean_cos_to_image"])  # the gap, as fit logs it
    model.eval()
    dataset = data.train_sets["thermal"]
    pair = PairCollate("thermal")([dataset[i] for i in range(len(dataset))])
    with torch.no_grad():
        pivot, thermal = model.pair_embeddings("thermal", pair)
    return float((pivot * thermal).sum(dim=1).mean()), logged


def test_a_fit_with_the_term_puts_x_embeddings_nearer_their_images(tmp_path):
    (without, logged_without), (with_term, logged_with) = (_mean_cosine_after_fit(tmp_path / "plain", 0.0),
                                                           _mean_cosine_after_fit(tmp_path / "pulled", 4.0))
    print(f"mean cos(thermal, image) after 24 steps: {without:.3f} without the term, {with_term:.3f} with it")
    assert with_term > without + 0.2, (without, with_term)
    assert logged_with > logged_without + 0.2, (logged_without, logged_with)

"""Two-process DDP on CPU (gloo): the sigmoid loss, multi-positive InfoNCE (also with
same-label positives that span the ranks) and the anchor regression give exactly the
full-batch gradients, including
ranks holding different numbers of rows (several captions per image, unevenly many). A gather without gradients is the control that must fail."""

import pytest
import torch
import torch.distributed as dist
from gloo_helpers import spawn_gloo
from torch import nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel

from imagebind_lite.losses import (
    LogitBias,
    Temperature,
    anchor_regression,
    multi_positive_infonce,
    sigmoid_loss,
)

WORLD = 2
ANCHORS = 3                 # per rank
ROWS = {0: 4, 1: 6}         # uneven rows per rank in the multi-positive cases
OWNERS = {0: [0, 1, 2, 2], 1: [0, 0, 1, 2, 1, 0]}
LABELS = {0: [0, 1, -1], 1: [1, 0, 2]}  # per anchor; classes 0 and 1 have an anchor on each rank


class _PairModel(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.enc_a = nn.Linear(6, 4)
        self.enc_b = nn.Linear(5, 4)
        self.temperature = Temperature(init=10.0)
        self.bias = LogitBias(-3.0)
        self.double()

    def forward(self, xa, xb, owner, kind, gather_fn=None, labels=None):
        a, b = F.normalize(self.enc_a(xa), dim=1), F.normalize(self.enc_b(xb), dim=1)
        if kind == "sigmoid":
            return sigmoid_loss(a, b, self.temperature.scale, self.bias.bias, gather_fn=gather_fn)
        if kind == "regression_multi":  # no gather of embeddings: only the row counts are shared
            loss = anchor_regression(a, b, owner, gather_fn=gather_fn)
            return loss + 0 * (self.bias.bias + self.temperature.scale)
        if kind == "sigmoid_multi":
            return sigmoid_loss(a, b, self.temperature.scale, self.bias.bias, owner=owner, gather_fn=gather_fn)
        loss = multi_positive_infonce(a, b, owner, self.temperature.scale, gather_fn=gather_fn,
                                      labels=labels if kind == "infonce_labels" else None)
        return loss + 0 * self.bias.bias  # every parameter takes part (DDP without unused-parameter search)


def _data():
    gen = torch.Generator().manual_seed(1)
    rows = sum(ROWS.values())
    return (torch.randn(rows, 6, generator=gen, dtype=torch.float64),
            torch.randn(WORLD * ANCHORS, 5, generator=gen, dtype=torch.float64))


def _local(rank, kind):
    xa, xb = _data()
    anchors = slice(rank * ANCHORS, (rank + 1) * ANCHORS)
    if kind == "sigmoid":  # one-to-one: row i of the anchors' slice
        return xa[anchors], xb[anchors], None, None
    start = sum(ROWS[r] for r in range(rank))
    return xa[start:start + ROWS[rank]], xb[anchors], torch.tensor(OWNERS[rank]), torch.tensor(LABELS[rank])


def _full(kind):
    xa, xb = _data()
    if kind == "sigmoid":
        return xa[:WORLD * ANCHORS], xb, None, None
    owners = [o + r * ANCHORS for r in range(WORLD) for o in OWNERS[r]]
    return xa, xb, torch.tensor(owners), torch.tensor([label for r in range(WORLD) for label in LABELS[r]])


def _detached_gather(x):
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.detach().contiguous())
    parts[dist.get_rank()] = x
    return torch.cat(parts)


KINDS = ("sigmoid", "sigmoid_multi", "infonce_multi", "infonce_labels", "regression_multi")


def _worker(rank, out_dir):
    model = _PairModel()
    ddp = DistributedDataParallel(model)
    results = {}
    for kind in KINDS:
        for variant, gather in (("exact", None), ("detached", _detached_gather)):
            if variant == "detached" and kind != "sigmoid":
                continue
            model.zero_grad(set_to_none=True)
            xa, xb, owner, labels = _local(rank, kind)
            loss = ddp(xa, xb, owner, kind, gather_fn=gather, labels=labels)
            loss.backward()
            results[(kind, variant)] = (loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()})
    torch.save(results, f"{out_dir}/rank{rank}.pt")


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("ddp_scale")
    spawn_gloo(_worker, str(out_dir), world=WORLD, timeout_s=60)
    return [torch.load(out_dir / f"rank{r}.pt") for r in range(WORLD)]


def _reference(kind):
    model = _PairModel()
    xa, xb, owner, labels = _full(kind)
    loss = model(xa, xb, owner, kind, labels=labels)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("kind", KINDS)
def test_ddp_gradients_equal_single_process_full_batch(ddp_results, kind):
    ref_loss, ref_grads = _reference(kind)
    assert len(ref_grads) == 6
    losses = torch.stack([res[(kind, "exact")][0] for res in ddp_results])
    torch.testing.assert_close(losses.mean(), ref_loss, atol=1e-10, rtol=0)
    for res in ddp_results:
        for name, want in ref_grads.items():
            torch.testing.assert_close(res[(kind, "exact")][1][name], want, atol=1e-6, rtol=0, msg=f"{kind}: {name}")


def test_ddp_control_gather_without_gradient_differs(ddp_results):
    _, ref_grads = _reference("sigmoid")
    grads = ddp_results[0][("sigmoid", "detached")][1]
    assert not torch.allclose(grads["enc_b.weight"], ref_grads["enc_b.weight"], atol=1e-6)

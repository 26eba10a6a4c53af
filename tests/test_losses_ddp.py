"""Two-process DDP on CPU (gloo): the local-loss form gives exactly the full-batch gradients.

Each rank holds half of the batch; after one backward through DistributedDataParallel the
(averaged) gradients of both encoders and of the learnable temperature must equal those of
one process on the whole batch. A gather without gradients is run as a control, to show the
comparison can fail.
"""

import pytest
import torch
import torch.distributed as dist
from gloo_helpers import spawn_gloo
from torch import nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel

from imagebind_lite.losses import SymmetricInfoNCE, Temperature

WORLD = 2
BATCH = 8  # global; each rank gets BATCH // WORLD rows


class _PairModel(nn.Module):
    """Two tiny encoders and the pair's loss, so DDP owns the temperature too."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)  # identical initial weights in every process
        self.enc_a = nn.Linear(6, 4)
        self.enc_b = nn.Linear(5, 4)
        self.loss = SymmetricInfoNCE(Temperature(init=10.0))
        self.double()

    def forward(self, xa, xb, gather_fn=None, gather=True):
        a = F.normalize(self.enc_a(xa), dim=1)
        b = F.normalize(self.enc_b(xb), dim=1)
        return self.loss(a, b, gather_fn=gather_fn, gather=gather)


def _grads(model):
    return {name: p.grad.detach().clone() for name, p in model.named_parameters()}


def _data():
    gen = torch.Generator().manual_seed(1)
    return torch.randn(BATCH, 6, generator=gen, dtype=torch.float64), torch.randn(
        BATCH, 5, generator=gen, dtype=torch.float64
    )


def _stacked_gather(x):
    """What Lightning's ``self.all_gather(x, sync_grads=True)`` returns: [world, b, D]."""
    from torch.distributed.nn.functional import all_gather

    return torch.stack(all_gather(x))


def _detached_gather(x):
    """The control: other ranks' rows arrive without gradient (wrong for the local form)."""
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.detach().contiguous())
    parts[dist.get_rank()] = x
    return torch.cat(parts)


def _worker(rank, out_dir):
    model = _PairModel()
    ddp = DistributedDataParallel(model)
    xa, xb = _data()
    rows = slice(rank * BATCH // WORLD, (rank + 1) * BATCH // WORLD)
    results = {}
    for variant, gather in [("default", None), ("stacked", _stacked_gather), ("detached", _detached_gather)]:
        model.zero_grad(set_to_none=True)
        loss = ddp(xa[rows], xb[rows], gather_fn=gather)
        loss.backward()
        results[variant] = (loss.detach(), _grads(model))
    with torch.no_grad():  # gather=False: uneven local batches (rank 1 drops a row) work
        start, stop = rows.start, rows.stop - rank
        results["local"] = (ddp(xa[start:stop], xb[start:stop], gather=False), (start, stop))
    torch.save(results, f"{out_dir}/rank{rank}.pt")


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("ddp")
    spawn_gloo(_worker, str(out_dir), world=WORLD, timeout_s=60)
    return [torch.load(out_dir / f"rank{r}.pt") for r in range(WORLD)]


@pytest.fixture(scope="module")
def reference():
    model = _PairModel()
    loss = model(*_data())
    loss.backward()
    return loss.detach(), _grads(model)


@pytest.mark.parametrize("variant", ["default", "stacked"])
def test_ddp_gradients_equal_single_process_full_batch(ddp_results, reference, variant):
    ref_loss, ref_grads = reference
    assert set(ref_grads) == {"enc_a.weight", "enc_a.bias", "enc_b.weight", "enc_b.bias", "loss.temperature.log_scale"}
    rank_losses = torch.stack([res[variant][0] for res in ddp_results])
    # The full-batch loss is the mean of the ranks' local losses.
    torch.testing.assert_close(rank_losses.mean(), ref_loss, atol=1e-10, rtol=0)
    for res in ddp_results:
        grads = res[variant][1]
        for name, want in ref_grads.items():
            torch.testing.assert_close(grads[name], want, atol=1e-6, rtol=0, msg=f"{variant}: {name}")


def test_ddp_control_without_gather_gradients_differs(ddp_results, reference):
    _, ref_grads = reference
    grads = ddp_results[0]["detached"][1]
    assert not torch.allclose(grads["enc_a.weight"], ref_grads["enc_a.weight"], atol=1e-6)
    # The temperature's gradient does not flow through the gather, so it still matches.
    torch.testing.assert_close(grads["loss.temperature.log_scale"], ref_grads["loss.temperature.log_scale"])


def test_gather_false_scores_each_ranks_uneven_batch_alone(ddp_results):
    model, (xa, xb) = _PairModel(), _data()
    with torch.no_grad():
        for res in ddp_results:
            loss, (start, stop) = res["local"]
            want = model(xa[start:stop], xb[start:stop])
            torch.testing.assert_close(loss, want, atol=1e-12, rtol=0)

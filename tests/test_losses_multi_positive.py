"""InfoNCE with several positives per anchor: a reference formula written out here, the
one-positive special case, accuracies, bad owners. The 2-process gloo check (uneven row
counts across ranks) lives in test_losses_ddp_scale.py."""
import pytest
import torch
from torch.nn import functional as F

from imagebind_lite.errors import InputError
from imagebind_lite.losses import multi_positive_infonce, symmetric_infonce


def _embeddings(m, n, d=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    a = F.normalize(torch.randn(m, d, generator=gen, dtype=torch.float64), dim=1).requires_grad_()
    b = F.normalize(torch.randn(n, d, generator=gen, dtype=torch.float64), dim=1).requires_grad_()
    return a, b


def _reference(a, b, owner, scale):
    """Soft-target cross entropy in both directions, spelled out with exp/log and loops."""
    z = scale * (a @ b.T)  # [m, n]
    m, n = z.shape
    xa = sum(torch.log(torch.exp(z[i]).sum()) - z[i, owner[i]] for i in range(m)) / m
    ax = 0.0
    for j in range(n):
        rows = [i for i in range(m) if owner[i] == j]
        log_p = z[:, j] - torch.log(torch.exp(z[:, j]).sum())
        ax = ax - sum(log_p[i] / len(rows) for i in rows)
    return (xa + ax / n) / 2


def test_equals_reference_formula_with_uneven_positive_counts():
    a, b = _embeddings(8, 3)
    owner = [0, 1, 1, 2, 2, 2, 0, 2]
    scale = torch.tensor(7.0, dtype=torch.float64, requires_grad=True)
    ours = multi_positive_infonce(a, b, torch.tensor(owner), scale)
    ref = _reference(a, b, owner, scale)
    assert ours.item() == pytest.approx(ref.item(), abs=1e-10)
    for got, want in zip(torch.autograd.grad(ours, (a, b, scale)), torch.autograd.grad(ref, (a, b, scale))):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=0)


def test_one_positive_each_is_symmetric_infonce():
    a, b = _embeddings(6, 6)
    ours = multi_positive_infonce(a, b, torch.arange(6), 11.0)
    ref = symmetric_infonce(a, b, 11.0)
    assert ours.item() == pytest.approx(ref.item(), abs=1e-12)
    for got, want in zip(torch.autograd.grad(ours, (a, b)), torch.autograd.grad(ref, (a, b))):
        torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


def test_accuracies_count_any_positive_as_a_hit():
    b = torch.eye(3)
    a = torch.stack([b[0], b[0], b[1], b[2]])  # two captions of image 0
    out = multi_positive_infonce(a, b, torch.tensor([0, 0, 1, 2]), 10.0, return_details=True)
    assert out.acc_ab.item() == 1.0 and out.acc_ba.item() == 1.0
    out = multi_positive_infonce(a, b, torch.tensor([0, 1, 1, 2]), 10.0, return_details=True)
    assert out.acc_ab.item() == 0.75  # row 1 is image 0's caption but labelled as image 1's
    assert out.logits_ab.shape == (4, 3) and out.logits_ba.shape == (3, 4)


@pytest.mark.parametrize("owner", [[0, 0, 0], [0, 1, 3], [0, 1]])
def test_anchor_without_rows_or_bad_owner_raises(owner):
    a, b = _embeddings(len(owner), 3)
    with pytest.raises(InputError):
        multi_positive_infonce(a, b, torch.tensor(owner), 5.0)

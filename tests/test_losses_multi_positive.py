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


def _label_reference(a, b, owner, labels, scale):
    """Same-label positives spelled out: row i's positives are its own anchor and every anchor
    of its label; anchor j's are its rows and every row of an anchor with its label."""
    z = scale * (a @ b.T)
    m, n = z.shape

    def positive(i, j):
        return owner[i] == j or (labels[owner[i]] >= 0 and labels[owner[i]] == labels[j])

    xa, ax = 0.0, 0.0
    for i in range(m):
        cols = [j for j in range(n) if positive(i, j)]
        xa = xa + torch.log(torch.exp(z[i]).sum()) - sum(z[i, j] for j in cols) / len(cols)
    for j in range(n):
        rows = [i for i in range(m) if positive(i, j)]
        ax = ax + torch.log(torch.exp(z[:, j]).sum()) - sum(z[i, j] for i in rows) / len(rows)
    return (xa / m + ax / n) / 2


@pytest.mark.parametrize("owner, labels", [
    ([0, 1, 2, 3, 4, 5], [0, 1, 0, 2, 1, 0]),        # one row per anchor, classes of 3, 2 and 1
    ([0, 1, 1, 2, 3, 3, 0, 2], [1, -1, 1, -1]),      # several rows per anchor, unlabelled anchors
])
def test_same_label_positives_equal_reference_formula(owner, labels):
    a, b = _embeddings(len(owner), len(labels), seed=3)
    scale = torch.tensor(9.0, dtype=torch.float64, requires_grad=True)
    ours = multi_positive_infonce(a, b, torch.tensor(owner), scale, labels=torch.tensor(labels))
    ref = _label_reference(a, b, owner, labels, scale)
    assert ours.item() == pytest.approx(ref.item(), abs=1e-10)
    for got, want in zip(torch.autograd.grad(ours, (a, b, scale)), torch.autograd.grad(ref, (a, b, scale))):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=0)


def test_unlabelled_or_all_distinct_labels_change_nothing():
    a, b = _embeddings(5, 5, seed=4)
    plain = symmetric_infonce(a, b, 8.0)
    for labels in ([-1] * 5, [4, 3, 2, 1, 0]):
        ours = multi_positive_infonce(a, b, torch.arange(5), 8.0, labels=torch.tensor(labels))
        assert ours.item() == pytest.approx(plain.item(), abs=1e-12)


def test_same_label_anchor_counts_as_a_hit_and_lowers_the_loss():
    b = torch.eye(4)
    a = torch.stack([b[1], b[0], b[2], b[3]])  # rows 0 and 1 each land on the other's image
    labels = torch.tensor([7, 7, 8, 9])       # ... which shows the same class
    plain = multi_positive_infonce(a, b, torch.arange(4), 10.0, return_details=True)
    by_label = multi_positive_infonce(a, b, torch.arange(4), 10.0, labels=labels, return_details=True)
    assert plain.acc_ab.item() == 0.5 and by_label.acc_ab.item() == 1.0 and by_label.acc_ba.item() == 1.0
    assert by_label.loss.item() < plain.loss.item()


def test_labels_of_the_wrong_length_raise():
    a, b = _embeddings(3, 3)
    with pytest.raises(InputError, match="labels"):
        multi_positive_infonce(a, b, torch.arange(3), 5.0, labels=torch.tensor([0, 1]))

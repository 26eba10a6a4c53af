"""Sigmoid loss (SigLIP): a reference formula written out here, open_clip's SigLipLoss, the
fused backward, the local-loss form over simulated ranks, several positives per anchor.

The 2-process gloo check lives in test_losses_ddp_scale.py.
"""
import math

import pytest
import torch
from torch.nn import functional as F

from imagebind_lite.errors import InputError
from imagebind_lite.losses import LogitBias, SigmoidLoss, SigmoidOutput, Temperature, sigmoid_loss


def _embeddings(m, n, d=6, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    a = F.normalize(torch.randn(m, d, generator=gen, dtype=dtype), dim=1).requires_grad_()
    b = F.normalize(torch.randn(n, d, generator=gen, dtype=dtype), dim=1).requires_grad_()
    return a, b


def _params(scale=10.0, bias=-10.0, dtype=torch.float64):
    log_scale = torch.tensor(math.log(scale), dtype=dtype, requires_grad=True)
    return log_scale, torch.tensor(bias, dtype=dtype, requires_grad=True)


def _reference(a, b, scale, bias, owner=None):
    """Written from the paper: -1/P sum_ij log(1 / (1 + exp(-y_ij z_ij))), labels built by loops."""
    owner = list(range(a.shape[0])) if owner is None else [int(o) for o in owner]
    total = 0.0
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            y = 1.0 if owner[i] == j else -1.0
            z = scale * torch.dot(a[i], b[j]) + bias
            total = total - torch.log(1.0 / (1.0 + torch.exp(-y * z)))
    return total / a.shape[0]


def _grads(loss, tensors):
    return torch.autograd.grad(loss, tensors)


@pytest.mark.parametrize("n,scale,bias", [(1, 10.0, -10.0), (5, 10.0, -10.0), (8, 30.0, 2.0)])
def test_value_and_gradients_equal_reference_formula(n, scale, bias):
    a, b = _embeddings(n, n)
    log_scale, bias_t = _params(scale, bias)
    ours = sigmoid_loss(a, b, log_scale.exp(), bias_t)
    ref = _reference(a, b, log_scale.exp(), bias_t)
    assert ours.item() == pytest.approx(ref.item(), abs=1e-9)
    for got, want in zip(_grads(ours, (a, b, log_scale, bias_t)), _grads(ref, (a, b, log_scale, bias_t))):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


def test_several_positives_per_anchor_equal_reference_formula():
    a, b = _embeddings(7, 3)
    owner = torch.tensor([0, 0, 1, 2, 2, 2, 1])
    log_scale, bias = _params(12.0, -4.0)
    ours = sigmoid_loss(a, b, log_scale.exp(), bias, owner=owner)
    ref = _reference(a, b, log_scale.exp(), bias, owner)
    assert ours.item() == pytest.approx(ref.item(), abs=1e-9)
    for got, want in zip(_grads(ours, (a, b, log_scale, bias)), _grads(ref, (a, b, log_scale, bias))):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-6), (torch.float32, 2e-5)])
@pytest.mark.parametrize("n", [1, 7, 32])
def test_matches_open_clip_siglip_loss(dtype, tol, n):
    loss_mod = pytest.importorskip("open_clip.loss")
    a, b = _embeddings(n, n, 16, dtype=dtype, seed=n)
    log_scale, bias = _params(10.0, -10.0, dtype)
    ours = sigmoid_loss(a, b, log_scale.exp(), bias)
    # open_clip scores images (rows) against texts; the sum over all pairs is the same either way
    ref = loss_mod.SigLipLoss()(b, a, log_scale.exp(), bias)
    assert ours.item() == pytest.approx(ref.item(), abs=tol, rel=tol)
    for got, want in zip(_grads(ours, (a, b, log_scale, bias)), _grads(ref, (a, b, log_scale, bias))):
        torch.testing.assert_close(got, want, atol=tol, rtol=0)


def test_fused_backward_matches_finite_differences():
    """Central differences on every input coordinate (gradcheck would run the one-shot
    backward twice, which the fused function refuses)."""
    a, b = _embeddings(4, 3)
    log_scale, bias = _params(3.0, -1.0)
    owner = torch.tensor([0, 2, 1, 2])
    inputs = (a, b, log_scale, bias)
    fn = lambda a, b, s, c: sigmoid_loss(a, b, s.exp(), c, owner=owner)
    analytic = _grads(fn(*inputs), inputs)
    eps = 1e-6
    for k, tensor in enumerate(inputs):
        numeric = torch.zeros_like(tensor)
        for index in range(tensor.numel()):
            bumped = [t.detach().clone() for t in inputs]
            bumped[k].view(-1)[index] += eps
            up = fn(*bumped).item()
            bumped[k].view(-1)[index] -= 2 * eps
            numeric.view(-1)[index] = (up - fn(*bumped).item()) / (2 * eps)
        torch.testing.assert_close(analytic[k], numeric, atol=1e-7, rtol=1e-6)


def _same_rows(x, full):
    return any(torch.equal(x, blk) for blk in full.split(x.shape[0]))


def test_local_loss_form_over_simulated_ranks_gives_full_batch_gradients():
    world, per_rank = 3, 4
    a, b = _embeddings(world * per_rank, world * per_rank)
    log_scale, bias = _params(10.0, -10.0)
    gather = lambda x: b if _same_rows(x, b) else a  # every rank sees the whole b through the gather
    losses = [sigmoid_loss(a[r * per_rank:(r + 1) * per_rank], b[r * per_rank:(r + 1) * per_rank], log_scale.exp(),
                           bias, gather_fn=gather, rank=r) for r in range(world)]
    mean = torch.stack(losses).mean()  # what DDP's averaging amounts to
    ref = sigmoid_loss(a, b, log_scale.exp(), bias)
    assert mean.item() == pytest.approx(ref.item(), abs=1e-12)
    tensors = (a, b, log_scale, bias)
    for got, want in zip(_grads(mean, tensors), _grads(ref, tensors)):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=0)
    wrong = [sigmoid_loss(a[r * per_rank:(r + 1) * per_rank], b[r * per_rank:(r + 1) * per_rank], log_scale.exp(),
                          bias, gather_fn=gather, rank=0) for r in range(world)]
    assert abs(torch.stack(wrong).mean().item() - ref.item()) > 1e-3  # the offset matters


def test_module_owns_siglip_initial_scale_and_bias_and_reports_accuracy():
    loss_fn = SigmoidLoss()
    assert loss_fn.temperature.value == pytest.approx(10.0) and loss_fn.bias.value == pytest.approx(-10.0)
    assert {name for name, _ in loss_fn.named_parameters()} == {"temperature.log_scale", "bias.bias"}
    eye = torch.eye(4)
    out = loss_fn(eye, eye[[1, 0, 2, 3]], return_details=True)
    assert isinstance(out, SigmoidOutput)
    assert out.acc_ab.item() == 0.5 and out.acc_ba.item() == 0.5
    fixed = SigmoidLoss(Temperature.fixed(5.0), LogitBias(0.0, learnable=False))
    assert list(fixed.parameters()) == [] and "bias.bias" in fixed.state_dict()


def test_bfloat16_inputs_reduce_in_float32():
    a, b = _embeddings(16, 16, 8, dtype=torch.float32)
    ref = sigmoid_loss(a, b, 10.0, -10.0)
    low = sigmoid_loss(a.bfloat16(), b.bfloat16(), 10.0, -10.0)
    low.backward()
    assert low.dtype == torch.float32 and low.item() == pytest.approx(ref.item(), rel=0.02)
    assert a.grad.dtype == torch.float32 and torch.isfinite(a.grad).all()


def test_second_backward_is_refused_instead_of_wrong():
    a, b = _embeddings(3, 3)
    loss = sigmoid_loss(a, b, 10.0, -10.0)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="cannot run twice"):
        loss.backward()


@pytest.mark.parametrize("shape_a,shape_b,owner", [((4, 3), (5, 3), None), ((4, 3), (4, 2), None),
                                                    ((3, 3), (2, 3), [0, 1, 2]), ((3, 3), (2, 3), [0, 1])])
def test_bad_shapes_or_owners_raise_input_error(shape_a, shape_b, owner):
    with pytest.raises(InputError):
        sigmoid_loss(torch.zeros(shape_a), torch.zeros(shape_b), 1.0, 0.0, owner=owner)

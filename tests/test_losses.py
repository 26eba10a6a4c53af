"""Symmetric InfoNCE and temperatures: closed form, open_clip parity, local-loss form, clamping.

The distributed (2-process gloo) check lives in test_losses_ddp.py.
"""
import math

import pytest
import torch
from torch.nn import functional as F

from imagebind_lite.errors import InputError
from imagebind_lite.losses import (
    InfoNCEOutput,
    SymmetricInfoNCE,
    Temperature,
    symmetric_cross_entropy,
    symmetric_infonce,
)


def _pair(n=6, d=5, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    a = F.normalize(torch.randn(n, d, generator=gen, dtype=dtype), dim=1).requires_grad_()
    b = F.normalize(torch.randn(n, d, generator=gen, dtype=dtype), dim=1).requires_grad_()
    return a, b


def _closed_form(a, b, scale):
    """The loss written out: log-softmax by hand (exp, sum, log), no torch CE helpers."""
    n = a.shape[0]
    logits = scale * (a @ b.T)
    row_terms = [torch.log(torch.exp(logits[i]).sum()) - logits[i, i] for i in range(n)]
    col_terms = [torch.log(torch.exp(logits[:, j]).sum()) - logits[j, j] for j in range(n)]
    return (sum(row_terms) / n + sum(col_terms) / n) / 2


def _grads(loss, tensors):
    return torch.autograd.grad(loss, tensors)


@pytest.mark.parametrize("n,d", [(1, 3), (6, 5), (9, 4)])
def test_value_and_gradients_equal_closed_form(n, d):
    a, b = _pair(n, d)
    temp = Temperature(init=12.5).double()
    ours = SymmetricInfoNCE(temp)(a, b)
    ours_grads = _grads(ours, (a, b, temp.log_scale))
    ref = _closed_form(a, b, temp.log_scale.exp())
    ref_grads = _grads(ref, (a, b, temp.log_scale))
    assert ours.item() == pytest.approx(ref.item(), abs=1e-6)
    for got, want in zip(ours_grads, ref_grads):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


def test_fused_cross_entropy_gradcheck():
    logits = torch.randn(5, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(symmetric_cross_entropy, (logits,))


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-6), (torch.float32, 2e-5)])
@pytest.mark.parametrize("n", [1, 7, 32])
def test_matches_open_clip_cliploss(dtype, tol, n):
    loss_mod = pytest.importorskip("open_clip.loss")
    a, b = _pair(n, 16, dtype=dtype, seed=n)
    log_scale = torch.tensor(math.log(1 / 0.07), dtype=dtype, requires_grad=True)
    ours = symmetric_infonce(a, b, log_scale.exp())
    ours_grads = _grads(ours, (a, b, log_scale))
    ref = loss_mod.ClipLoss()(a, b, log_scale.exp())
    ref_grads = _grads(ref, (a, b, log_scale))
    assert ours.item() == pytest.approx(ref.item(), abs=tol)
    for got, want in zip(ours_grads, ref_grads):
        torch.testing.assert_close(got, want, atol=tol, rtol=0)


def _simulated_ranks(world, gather_fn_for, rank_for=lambda r: r):
    """Run the local-loss form once per simulated rank in one process: every 'rank' sees the
    same full tensors through its gather, so gradients flow as they would through the
    distributed gather's backward. Returns (mean of rank losses, grads, full-batch ref)."""
    a, b = _pair(4 * world, 6)
    scale = torch.tensor(9.0, dtype=torch.float64, requires_grad=True)
    per_rank = 4
    losses = []
    for r in range(world):
        rows = slice(r * per_rank, (r + 1) * per_rank)
        gather = gather_fn_for(a, b)
        losses.append(symmetric_infonce(a[rows], b[rows], scale, gather_fn=gather, rank=rank_for(r)))
    mean_loss = torch.stack(losses).mean()  # what DDP's gradient averaging amounts to
    grads = _grads(mean_loss, (a, b, scale))
    ref = symmetric_infonce(a, b, scale)
    return mean_loss, grads, ref, _grads(ref, (a, b, scale))


def _same_rows(x, full):
    return any(torch.equal(x, blk) for blk in full.split(x.shape[0]))


@pytest.mark.parametrize("stacked", [False, True])
def test_local_loss_form_gives_full_batch_loss_and_gradients(stacked):
    def gather_for(a, b):
        def gather(x):
            full = a if _same_rows(x, a) else b
            return full.view(-1, x.shape[0], x.shape[1]) if stacked else full  # Lightning stacks
        return gather

    loss, grads, ref, ref_grads = _simulated_ranks(3, gather_for)
    assert loss.item() == pytest.approx(ref.item(), abs=1e-10)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=0)


def test_wrong_rank_offset_is_detected_by_the_comparison():
    def gather_for(a, b):
        return lambda x: a if _same_rows(x, a) else b

    loss, _, ref, _ = _simulated_ranks(2, gather_for, rank_for=lambda r: 0)
    assert abs(loss.item() - ref.item()) > 1e-3


def test_details_logits_computed_once_and_accuracies():
    eye = torch.eye(4, dtype=torch.float64)
    out = SymmetricInfoNCE(Temperature.fixed(10.0))(eye, eye, return_details=True)
    assert isinstance(out, InfoNCEOutput)
    assert out.logits_ba.data_ptr() == out.logits_ab.data_ptr()  # a transpose view, no 2nd matmul
    torch.testing.assert_close(out.logits_ba, out.logits_ab.T)
    assert out.acc_ab.item() == 1.0 and out.acc_ba.item() == 1.0
    assert out.scale.item() == pytest.approx(10.0)
    # Rows 0 and 1 of b swapped: a0->b1 and a1->b0 wrong both ways.
    swapped = eye[[1, 0, 2, 3]]
    out = symmetric_infonce(eye, swapped, 10.0, return_details=True)
    assert out.acc_ab.item() == 0.5 and out.acc_ba.item() == 0.5


def test_asymmetric_accuracy_directions():
    # b0 and b1 both sit on a0: a->b is ambiguous for a1 only; b->a fails for b1 only.
    a = torch.eye(3)
    b = F.normalize(torch.tensor([[1.0, 0, 0], [1.0, 0.2, 0], [0, 0, 1.0]]), dim=1)
    out = symmetric_infonce(a, b, 10.0, return_details=True)
    assert out.acc_ab.item() == pytest.approx(1.0)  # a1's best b is still b1 (0.196 > 0)
    assert out.acc_ba.item() == pytest.approx(2 / 3)  # b1's best a is a0


def test_bfloat16_inputs_close_to_float32():
    a, b = _pair(16, 8, dtype=torch.float32)
    ref = symmetric_infonce(a, b, 14.0)
    low = symmetric_infonce(a.bfloat16(), b.bfloat16(), 14.0)
    low.backward()
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(ref.item(), rel=0.02)
    assert a.grad.dtype == torch.float32 and torch.isfinite(a.grad).all()


@pytest.mark.parametrize("shape_a,shape_b", [((4, 3), (5, 3)), ((4, 3), (4, 2)), ((0, 3), (0, 3)), ((4,), (4,))])
def test_bad_shapes_raise_input_error(shape_a, shape_b):
    with pytest.raises(InputError, match="same shape"):
        symmetric_infonce(torch.zeros(shape_a), torch.zeros(shape_b), 1.0)


def test_gather_of_wrong_size_raises_input_error():
    a, b = _pair(4, 3)
    with pytest.raises(InputError, match="same \\[b, D\\] batch"):
        symmetric_infonce(a, b, 1.0, gather_fn=lambda x: torch.cat([x, x[:1]]))


def test_temperature_learnable_defaults():
    temp = Temperature()
    assert temp.value == pytest.approx(1 / 0.07, rel=1e-6)
    assert temp.temperature == pytest.approx(0.07, rel=1e-6)
    assert [name for name, _ in temp.named_parameters()] == ["log_scale"]
    assert temp.log_scale.item() == pytest.approx(math.log(1 / 0.07), rel=1e-6)


def test_temperature_clamped_to_range_with_zero_gradient_outside():
    temp = Temperature(min_scale=1.0, max_scale=100.0)
    for log_value, expected in [(math.log(1000.0), 100.0), (math.log(0.5), 1.0)]:
        with torch.no_grad():
            temp.log_scale.fill_(log_value)
        assert temp.value == pytest.approx(expected, rel=1e-6)
        (grad,) = torch.autograd.grad(temp.scale, temp.log_scale)
        assert grad.item() == 0.0
    temp.clamp_()  # in place, like open_clip after an optimiser step
    assert temp.log_scale.item() == pytest.approx(0.0, abs=1e-7)


def test_temperature_gradient_inside_range():
    temp = Temperature(init=20.0)
    (grad,) = torch.autograd.grad(temp.scale, temp.log_scale)
    assert grad.item() == pytest.approx(20.0, rel=1e-5)  # d exp(x)/dx = exp(x)


@pytest.mark.parametrize("scale", [20.0, 5.0, 10.0])
def test_fixed_temperature_is_a_saved_buffer(scale):
    temp = Temperature.fixed(scale)
    assert list(temp.parameters()) == []
    assert "log_scale" in temp.state_dict()
    assert temp.value == pytest.approx(scale, rel=1e-6)
    loss_fn = SymmetricInfoNCE(temp)
    assert list(loss_fn.parameters()) == []
    a, b = _pair(5, 4, dtype=torch.float32)
    torch.testing.assert_close(loss_fn(a, b), symmetric_infonce(a, b, scale))
    restored = Temperature.fixed(1.0)
    restored.load_state_dict(temp.state_dict())
    assert restored.value == pytest.approx(scale, rel=1e-6)


@pytest.mark.parametrize("kwargs", [dict(init=0.5), dict(init=200.0), dict(min_scale=5.0, max_scale=2.0), dict(min_scale=0.0)])
def test_temperature_rejects_bad_configuration(kwargs):
    with pytest.raises(ValueError):
        Temperature(**kwargs)


def test_module_gather_fn_used_unless_gather_false():
    calls = []

    def gather(x):
        calls.append(x.shape)
        return x  # one 'rank': same rows back, so the single-process path is taken

    a, b = _pair(4, 3)
    loss_fn = SymmetricInfoNCE(Temperature.fixed(5.0), gather_fn=gather)
    torch.testing.assert_close(loss_fn(a, b), symmetric_infonce(a, b, 5.0))
    assert len(calls) == 2
    loss_fn(a, b, gather=False)
    assert len(calls) == 2

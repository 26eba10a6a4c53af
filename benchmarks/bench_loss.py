"""Contrastive loss speed, forward + backward, ours vs open_clip on the same inputs in one run.

Softmax (InfoNCE): ours vs open_clip ``ClipLoss``, plus "one matmul + 2x F.cross_entropy",
which separates the gain of computing the logits once from that of the fused symmetric cross
entropy. Sigmoid (SigLIP): ours (fused backward) vs open_clip ``SigLipLoss``. Also the
sigmoid loss against the softmax loss (ours both). Goal: ours >= 1.3x faster than open_clip
at B=4096 with equal values; values and gradients are compared and printed.

All candidates see the same L2-normalised [B, D] inputs, the same learnable log-scale (and
bias for the sigmoid loss); each repeat times them back to back (order alternating) and the
medians are compared.

    python benchmarks/bench_loss.py [--batch 4096] [--dim 1024] [--repeats 7] [--device cuda] [--dtype bfloat16]
    python benchmarks/bench_loss.py --smoke     # seconds on CPU: the script works

Reference: open_clip/loss.py ClipLoss, SigLipLoss (single process, the only thing compared here).
"""
import argparse
import math
import statistics
import time

import torch
from torch.nn import functional as F

from imagebind_lite.losses import sigmoid_loss, symmetric_infonce


def _inputs(batch, dim, device, dtype):
    gen = torch.Generator().manual_seed(0)
    a = F.normalize(torch.randn(batch, dim, generator=gen), dim=1).to(device, dtype).requires_grad_()
    b = F.normalize(torch.randn(batch, dim, generator=gen), dim=1).to(device, dtype).requires_grad_()
    log_scale = torch.tensor(math.log(1 / 0.07), device=device, requires_grad=True)
    bias = torch.tensor(-10.0, device=device, requires_grad=True)
    return a, b, log_scale, bias


def _one_matmul_two_ce(a, b, log_scale, bias):
    logits = (a * log_scale.exp()) @ b.T
    labels = torch.arange(a.shape[0], device=a.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def candidates():
    """{family: {name: fn(a, b, log_scale, bias)}}; the first of a family is ours, the second
    open_clip's (the reference of its speed-up)."""
    from open_clip.loss import ClipLoss, SigLipLoss  # reference, benchmark-only dependency

    clip, siglip = ClipLoss(), SigLipLoss()
    return {
        "softmax": {
            "ours InfoNCE": lambda a, b, s, c: symmetric_infonce(a, b, s.exp()),
            "open_clip ClipLoss": lambda a, b, s, c: clip(a, b, s.exp()),
            "one matmul + 2x F.cross_entropy": _one_matmul_two_ce,
        },
        "sigmoid": {
            "ours sigmoid": lambda a, b, s, c: sigmoid_loss(a, b, s.exp(), c),
            "open_clip SigLipLoss": lambda a, b, s, c: siglip(a, b, s.exp(), c),
        },
    }


def _step(fn, tensors, device):
    """One forward + backward; returns (seconds, loss, grads)."""
    for t in tensors:
        t.grad = None
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    loss = fn(*tensors)
    loss.backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
    grads = [None if t.grad is None else t.grad.clone() for t in tensors]
    return time.perf_counter() - start, loss.detach(), grads


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--smoke", action="store_true", help="B=64, D=32, 1 repeat, CPU: the script works")
    args = parser.parse_args(argv)
    if args.smoke:
        args.batch, args.dim, args.repeats, args.device = 64, 32, 1, "cpu"
    return args


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device)
    tensors = _inputs(args.batch, args.dim, device, getattr(torch, args.dtype))
    families = candidates()
    flat = {name: fn for family in families.values() for name, fn in family.items()}
    results = {name: _step(fn, tensors, device) for name, fn in flat.items()}  # warm-up, kept for comparison
    times = {name: [] for name in flat}
    for rep in range(args.repeats):
        order = list(flat) if rep % 2 == 0 else list(reversed(flat))
        for name in order:
            times[name].append(_step(flat[name], tensors, device)[0])
    _report(args, families, {name: statistics.median(v) for name, v in times.items()}, results)


def _report(args, families, medians, results):
    print(f"B={args.batch} D={args.dim} device={args.device} dtype={args.dtype} "
          f"threads={torch.get_num_threads()} repeats={args.repeats} (forward+backward, median)")
    for family, members in families.items():
        ours, reference = list(members)[:2]
        print(f"{family}:")
        for name in members:
            print(f"  {name:34s} {medians[name] * 1e3:9.2f} ms   speed-up vs open_clip "
                  f"{medians[reference] / medians[name]:5.2f}x")
        _, ours_loss, ours_grads = results[ours]
        _, ref_loss, ref_grads = results[reference]
        grad_diff = max((g.float() - r.float()).abs().max().item()
                        for g, r in zip(ours_grads, ref_grads) if g is not None and r is not None)
        print(f"  loss ours={ours_loss.item():.8f} open_clip={ref_loss.item():.8f} "
              f"|diff|={abs(ours_loss.float().item() - ref_loss.float().item()):.2e}; max |grad diff| = {grad_diff:.2e}")
    ratio = medians["ours sigmoid"] / medians["ours InfoNCE"]
    print(f"sigmoid vs softmax (ours): {ratio:.2f}x the time of InfoNCE")


if __name__ == "__main__":
    main()

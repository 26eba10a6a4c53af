"""Contrastive loss speed: ours vs open_clip ``ClipLoss``, forward + backward, same run.

Both losses see the same L2-normalised [B, D] inputs and the same learnable log-scale; each
repeat times them back to back (order alternating) and the medians are compared. A third
line, "one matmul + 2x F.cross_entropy", separates the gain of computing the logits once from
the gain of the fused symmetric cross entropy. Values and gradients are checked to match.

Usage: python benchmarks/bench_loss.py [--batch 4096] [--dim 1024] [--repeats 7] [--device cpu]
Reference: open_clip/loss.py ClipLoss (single process, the only thing compared here).
"""
import argparse
import math
import statistics
import time

import torch
from torch.nn import functional as F

from imagebind_lite.losses import symmetric_infonce


def _inputs(batch, dim, device, dtype):
    gen = torch.Generator().manual_seed(0)
    a = F.normalize(torch.randn(batch, dim, generator=gen), dim=1).to(device, dtype).requires_grad_()
    b = F.normalize(torch.randn(batch, dim, generator=gen), dim=1).to(device, dtype).requires_grad_()
    log_scale = torch.tensor(math.log(1 / 0.07), device=device, requires_grad=True)
    return a, b, log_scale


def _ours(a, b, log_scale):
    return symmetric_infonce(a, b, log_scale.exp())


def _one_matmul_two_ce(a, b, log_scale):
    logits = (a * log_scale.exp()) @ b.T
    labels = torch.arange(a.shape[0], device=a.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


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
    return time.perf_counter() - start, loss.detach(), [t.grad.clone() for t in tensors]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = parser.parse_args()
    from open_clip.loss import ClipLoss  # reference, benchmark-only dependency

    device = torch.device(args.device)
    tensors = _inputs(args.batch, args.dim, device, getattr(torch, args.dtype))
    clip = ClipLoss()
    candidates = {
        "ours": _ours,
        "open_clip ClipLoss": lambda a, b, s: clip(a, b, s.exp()),
        "one matmul + 2x F.cross_entropy": _one_matmul_two_ce,
    }
    times = {name: [] for name in candidates}
    results = {name: _step(fn, tensors, device) for name, fn in candidates.items()}  # warm-up
    for rep in range(args.repeats):
        order = list(candidates) if rep % 2 == 0 else list(reversed(candidates))
        for name in order:
            times[name].append(_step(candidates[name], tensors, device)[0])
    _report(args, times, results)


def _report(args, times, results):
    print(f"B={args.batch} D={args.dim} device={args.device} dtype={args.dtype} "
          f"threads={torch.get_num_threads()} repeats={args.repeats} (forward+backward, median)")
    ref_time = statistics.median(times["open_clip ClipLoss"])
    for name, values in times.items():
        med = statistics.median(values)
        print(f"  {name:34s} {med * 1e3:9.2f} ms   speed-up vs open_clip {ref_time / med:5.2f}x")
    _, ours_loss, ours_grads = results["ours"]
    _, ref_loss, ref_grads = results["open_clip ClipLoss"]
    loss_diff = abs(ours_loss.float().item() - ref_loss.float().item())
    grad_diff = max((g - r).abs().max().item() for g, r in zip(ours_grads, ref_grads))
    print(f"  loss ours={ours_loss.item():.8f} open_clip={ref_loss.item():.8f} |diff|={loss_diff:.2e}; "
          f"max |grad diff| (a, b, log_scale) = {grad_diff:.2e}")


if __name__ == "__main__":
    main()

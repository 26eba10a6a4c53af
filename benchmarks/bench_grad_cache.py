"""Gradient caching: peak memory and step time of one big contrastive batch, chunked vs not.

The same ``AlignmentModule`` pair (a cached pivot, so only the X encoder trains, the default
recipe) takes one training step (forward, loss on the full B x B logits, backward, AdamW) on
the same batch of B pairs, once as one piece and once with ``grad_cache_chunk=c``. Goal:
peak memory <= 1/4 at <= 1.35x the step time (GradCache adds one forward pass).

- step time: median over repeats after a warm-up step, the two variants alternating;
- peak memory: CUDA: allocator peak during one step, minus what was allocated before it
  (weights, optimiser state, inputs) and in total; CPU: the growth of the peak resident set
  during one step, each variant in a fresh process, as a process's peak cannot be
  reset (allocator caching makes the CPU figure coarser than the CUDA one);
- the loss and the gradients of both variants are compared (they must be equal).

    python benchmarks/bench_grad_cache.py                      # B=4096, c=256, bf16 autocast on CUDA
    python benchmarks/bench_grad_cache.py --device cpu --precision 32 --batch 1024 --chunk 64 --override depth=4
    python benchmarks/bench_grad_cache.py --smoke              # seconds on CPU: the script works

The default X encoder is a ViT-S-like thermal encoder (width 384, depth 12, 50 tokens);
``--modality``/``--preset``/``--override key=json`` choose another. Its whole-batch step at
B=4096 holds roughly 35-40 GiB of bf16 activations (estimated, ~14 KB per token and block):
on a smaller GPU lower ``--batch`` or ``--override depth=...``. Reference: Gao et al. 2021
(GradCache).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import sys
import time
from contextlib import nullcontext

import torch
import torch.nn.functional as F

DEFAULT_OVERRIDES = {"width": 384, "depth": 12, "num_heads": 6,
                     "stem": {"patch_size": 16, "norm_eps": 1e-5},
                     "data": {"image_size": 112, "mean": 0.27, "std": 0.08}}
SMOKE = dict(batch=24, chunk=8, repeats=1, overrides={"width": 32, "depth": 1, "num_heads": 2})


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="bf16", choices=["bf16", "32"], help="bf16: autocast, as bf16-mixed")
    parser.add_argument("--modality", default="thermal")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=JSON",
                        help="EncoderConfig field of the X encoder, e.g. depth=4, on top of the default ViT-S-like one")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on CPU, to check the script runs")
    args = parser.parse_args(argv)
    # The default encoder is a thermal one; other modalities start from their preset as is.
    args.overrides = dict(DEFAULT_OVERRIDES) if (args.modality, args.preset) == ("thermal", "tiny") else {}
    for item in args.override:
        key, _, value = item.partition("=")
        args.overrides[key] = json.loads(value)
    if args.smoke:
        args.batch, args.chunk, args.repeats, args.device = SMOKE["batch"], SMOKE["chunk"], SMOKE["repeats"], "cpu"
        args.overrides = {**args.overrides, **SMOKE["overrides"]}
    return args


def build(args, chunk):
    """The module (chunked or not), its optimiser and one batch, all on the device."""
    from imagebind_lite.training import AlignmentModule
    from imagebind_lite.training.optim import build_optimizer

    torch.manual_seed(0)
    module = AlignmentModule(pivot="vision/tiny", modalities={args.modality: args.preset},
                             encoder_overrides={args.modality: args.overrides},
                             grad_cache_chunk=None if chunk is None else {args.modality: chunk})
    module.to(args.device).train()
    optimizer = build_optimizer(module.named_parameters(), 1e-4, 0.05)
    gen = torch.Generator().manual_seed(1)
    inputs = _random_inputs(module.encoders[args.modality], args.batch, gen)
    dim = module.pivot.config.embed_dim
    pair = {"ids": list(range(args.batch)), args.modality: inputs.to(args.device),
            "pivot_emb": F.normalize(torch.randn(args.batch, dim, generator=gen), dim=-1).to(args.device)}
    return module, optimizer, pair


def _random_inputs(encoder, batch, gen):
    """A batch of random images of the size the encoder's data config says (image-like
    modalities: vision, depth, thermal, whose patch stem is a convolution)."""
    conv = getattr(encoder.stem, "proj", None)
    size = encoder.data_config.get("image_size")
    if not isinstance(conv, torch.nn.Conv2d) or size is None:
        raise SystemExit(f"{encoder.modality}: this benchmark feeds random images; pick vision, depth or thermal")
    return torch.rand(batch, conv.in_channels, size, size, generator=gen)


def step(args, module, optimizer, pair):
    """One training step as Lightning runs it; returns (loss, gradients) for the comparison."""
    device_type = torch.device(args.device).type
    autocast = torch.autocast(device_type, dtype=torch.bfloat16) if args.precision == "bf16" else nullcontext()
    optimizer.zero_grad(set_to_none=True)
    with autocast:
        out = module.pair_loss(args.modality, pair)
    out.loss.backward()
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    optimizer.step()
    return out.loss.detach(), grads


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_steps(args):
    """Median step time of both variants (alternating), and their first step's loss/grads."""
    variants = {"whole batch": build(args, None), f"grad cache c={args.chunk}": build(args, args.chunk)}
    firsts = {name: step(args, *parts) for name, parts in variants.items()}  # warm-up, kept for comparison
    firsts = {name: (loss, [g.detach().clone() for g in grads]) for name, (loss, grads) in firsts.items()}
    times = {name: [] for name in variants}
    for repeat in range(args.repeats):
        order = list(variants) if repeat % 2 == 0 else list(reversed(variants))
        for name in order:
            _sync(args.device)
            start = time.perf_counter()
            step(args, *variants[name])
            _sync(args.device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}, firsts


def _prepared(args, chunk):
    """A built variant whose optimiser state already exists (one step on two pairs), so the
    measured step holds what every training step holds, not AdamW's one-time allocation."""
    module, optimizer, pair = build(args, chunk)
    step(args, module, optimizer, {k: v[:2] for k, v in pair.items()})
    return module, optimizer, pair


def _cuda_peak(args, chunk):
    module, optimizer, pair = _prepared(args, chunk)
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step(args, module, optimizer, pair)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    del module, optimizer, pair
    torch.cuda.empty_cache()
    return peak - before, peak


def _cpu_peak_child(args, chunk):
    module, optimizer, pair = _prepared(args, chunk)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step(args, module, optimizer, pair)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (after - before) * 1024, after * 1024  # ru_maxrss is in KiB on Linux


def peak_memory(args, chunk):
    """(peak bytes above the pre-step level, peak bytes in total) of one training step."""
    if torch.device(args.device).type == "cuda":
        return _cuda_peak(args, chunk)
    # A fresh process per variant: a process's peak cannot be reset, and memory the other
    # variant freed could be reused without showing up. Forked from a server that imported
    # torch once and never ran a thread pool (forking this process could deadlock).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "imagebind_lite.training"])
    with context.Pool(1) as pool:
        return pool.apply(_cpu_peak_child, (args, chunk))


def report(args, times, firsts, memory):
    whole, cached = list(times)
    print(f"grad cache: B={args.batch} chunk={args.chunk} {args.modality}/{args.preset} {args.overrides} "
          f"device={args.device} precision={args.precision} threads={torch.get_num_threads()} "
          f"repeats={args.repeats} (one step: forward, loss, backward, AdamW)")
    for name in times:
        step_peak, total = memory[name]
        print(f"  {name:22s} step {times[name] * 1e3:10.1f} ms   peak memory during step "
              f"{step_peak / 2**20:10.1f} MiB (total {total / 2**20:10.1f} MiB)")
    print(f"  step time ratio (grad cache / whole) {times[cached] / times[whole]:.3f}x   (goal <= 1.35x)")
    print(f"  peak memory ratio during step        {memory[cached][0] / max(memory[whole][0], 1):.3f}   (goal <= 0.25)")
    print(f"  peak memory ratio in total           {memory[cached][1] / max(memory[whole][1], 1):.3f}")
    (loss_a, grads_a), (loss_b, grads_b) = firsts[whole], firsts[cached]
    grad_diff = max((a.float() - b.float()).abs().max().item() for a, b in zip(grads_a, grads_b))
    print(f"  loss whole={loss_a.item():.6f} grad cache={loss_b.item():.6f} |diff|={abs(loss_a - loss_b).item():.2e}; "
          f"max |grad diff| = {grad_diff:.2e}")


def main(argv=None):
    args = parse_args(argv)
    times, firsts = time_steps(args)
    memory = {name: peak_memory(args, chunk) for name, chunk in zip(times, (None, args.chunk))}
    report(args, times, firsts, memory)


if __name__ == "__main__":
    sys.exit(main())

"""Training benchmarks, measured side by side in one run on the synthetic world.

(2) Pivot cache: training throughput (samples/s) of the same alignment config with the pivot
    embeddings cached (computed once, reused) vs recomputing the frozen pivot (and decoding the
    image: here rendering it) every step; then the same with images already decoded in memory,
    which isolates the pivot's forward pass. The one-time cost of building the cache is reported.
(3) Framework overhead: time per training step through Lightning (Trainer, logging,
    CombinedLoader, hooks) vs the bare fwd + bwd + AdamW step of the same trainable encoder in
    plain PyTorch, on the same in-memory batches. Target: under 15 % overhead.

    python benchmarks/bench_training.py [--pair thermal] [--batch-size 64] [--steps 40]

Step times are medians over steps after warm-up; variants alternate within each repeat so
background load hits them alike. CPU only unless --accelerator says otherwise.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import time
import warnings

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from imagebind_lite.data.world import WorldConfig
from imagebind_lite.losses import symmetric_infonce
from imagebind_lite.training import AlignmentModule, PairDataModule
from imagebind_lite.training.optim import build_optimizer, build_scheduler
from imagebind_lite.training.pivot_cache import compute_pivot_embeddings

WARMUP = 5  # steps excluded from timing (allocator warm-up, first-call dispatch)


class _StepTimer(pl.Callback):
    def __init__(self):
        self.ends = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.ends.append(time.perf_counter())


def _trainer(steps: int, callbacks, accelerator: str) -> pl.Trainer:
    return pl.Trainer(accelerator=accelerator, devices=1, max_steps=steps, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                      limit_val_batches=0, callbacks=callbacks)


def _module(args) -> AlignmentModule:
    pl.seed_everything(0)
    return AlignmentModule(pivot="vision/tiny", modalities={args.pair: "tiny"}, warmup_steps=5,
                           total_steps=10_000)


def _median_step(ends) -> float:
    gaps = [b - a for a, b in zip(ends[WARMUP:], ends[WARMUP + 1:])]
    return statistics.median(gaps)


def bench_cache(args, world: WorldConfig) -> dict:
    """Samples/s with and without the pivot cache, same module config and data."""
    results = {"cached": [], "recompute": []}
    for _ in range(args.repeats):
        for variant in ("cached", "recompute"):
            data = PairDataModule(world=world, train_size=args.train_size, val_size=0, batch_size=args.batch_size,
                                  cache_inputs=True, use_pivot_cache=variant == "cached")
            timer = _StepTimer()
            _trainer(args.steps, [timer], args.accelerator).fit(_module(args), data)
            results[variant].append(args.batch_size / _median_step(timer.ends))
    module = _module(args)  # the one-time price of the cache: embed every image once
    data = PairDataModule(world=world, train_size=args.train_size, val_size=0, use_pivot_cache=False)
    data.bind(module.pivot, module.data_configs()).setup("fit")
    start = time.perf_counter()
    compute_pivot_embeddings(module.pivot, data.train_sets[args.pair], batch_size=256)
    return {k: statistics.median(v) for k, v in results.items()} | {"setup_s": time.perf_counter() - start}


def _fixed_batches(args, world: WorldConfig, module: AlignmentModule, use_pivot_cache: bool = True):
    data = PairDataModule(world=world, train_size=args.batch_size * 8, val_size=0, batch_size=args.batch_size,
                          cache_inputs=True, use_pivot_cache=use_pivot_cache)
    data.bind(module.pivot, module.data_configs())
    data.setup("fit")
    loader = data.train_dataloader()
    return [batch[args.pair] for batch, _, _ in loader]


def _bare_steps(args, module: AlignmentModule, batches) -> float:
    """The plain PyTorch loop: encoder fwd, loss, bwd, AdamW + scheduler step."""
    encoder, temperature = module.encoders[args.pair], module.temperatures[args.pair]
    named = list(encoder.named_parameters()) + [("log_scale", temperature.log_scale)]
    optimizer = build_optimizer(named, 1e-3, 0.05)
    scheduler = build_scheduler(optimizer, 5, 10_000)
    loader = DataLoader(batches * (args.steps // len(batches) + 1), batch_size=None)
    ends = []
    for step, batch in enumerate(loader):
        if step == args.steps:
            break
        embeddings = F.normalize(encoder(batch[args.pair]), dim=-1)
        loss = symmetric_infonce(embeddings, F.normalize(batch["pivot_emb"], dim=-1), temperature.scale)
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        ends.append(time.perf_counter())
    return _median_step(ends)


def _lightning_steps(args, module: AlignmentModule, batches) -> float:
    loader = DataLoader(batches * (args.steps // len(batches) + 1), batch_size=None)
    timer = _StepTimer()
    _trainer(args.steps, [timer], args.accelerator).fit(module, train_dataloaders=loader)
    return _median_step(timer.ends)


def bench_pivot_forward(args, world: WorldConfig) -> dict:
    """Step time with images already decoded in memory: the pivot's forward pass alone."""
    cached = _fixed_batches(args, world, _module(args))
    images = _fixed_batches(args, world, _module(args), use_pivot_cache=False)
    results = {"cached": [], "images": []}
    for _ in range(args.repeats):
        results["cached"].append(_lightning_steps(args, _module(args), cached))
        results["images"].append(_lightning_steps(args, _module(args), images))
    return {k: statistics.median(v) for k, v in results.items()}


def bench_overhead(args, world: WorldConfig) -> dict:
    batches = _fixed_batches(args, world, _module(args))
    results = {"bare": [], "lightning": []}
    for _ in range(args.repeats):
        results["bare"].append(_bare_steps(args, _module(args), batches))
        results["lightning"].append(_lightning_steps(args, _module(args), batches))
    return {k: statistics.median(v) for k, v in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", default="thermal", help="aligned modality (tiny preset)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40, help="timed steps per run (plus warm-up)")
    parser.add_argument("--train-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--accelerator", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    world = WorldConfig(num_concepts=16)
    cache = bench_cache(args, world)
    print(f"(2) pivot cache, pair={args.pair}, B={args.batch_size}, {args.steps} steps x {args.repeats} repeats")
    print(f"    cached pivot      {cache['cached']:8.1f} samples/s")
    print(f"    recomputed pivot  {cache['recompute']:8.1f} samples/s")
    print(f"    speed-up          {cache['cached'] / cache['recompute']:8.2f}x   "
          f"(one-time cache build: {cache['setup_s']:.1f} s for {args.train_size} images)")
    forward = bench_pivot_forward(args, world)
    print(f"    same, images pre-decoded in memory (pivot forward only): "
          f"{forward['cached'] * 1e3:.2f} ms vs {forward['images'] * 1e3:.2f} ms per step, "
          f"{forward['images'] / forward['cached']:.2f}x")
    overhead = bench_overhead(args, world)
    ratio = overhead["lightning"] / overhead["bare"]
    print(f"(3) framework overhead, pair={args.pair}, B={args.batch_size}")
    print(f"    bare PyTorch step {overhead['bare'] * 1e3:8.2f} ms")
    print(f"    Lightning step    {overhead['lightning'] * 1e3:8.2f} ms")
    print(f"    overhead          {100 * (ratio - 1):+8.1f} %   (target < 15 %)")


if __name__ == "__main__":
    main()

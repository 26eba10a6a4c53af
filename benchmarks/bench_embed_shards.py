"""``embed`` at scale: shard count and the cost of writing shards against embedding alone.

100k small items (captions: the text encoder reads no file, so the loop is as fast as it gets
and the writing share as large as it gets) go through the same Lightning predict loop twice,
interleaved, ``--repeats`` times (best of each, and the median of the paired ratios):

- embedding alone: the predict loop with the same data loader and sampler, predictions dropped;
- ``embed_to_shards``: the same, buffering rows into ~64 MiB shards and writing them (tensor
  file + sidecar, hashed, atomically) on its writer thread, plus what resuming needs (the
  fingerprint of inputs and model, the sidecars read back at the end).

It prints the shard count (and what one shard per 64-row batch gave before), the bytes written
and the overhead of writing. Goal: <= 5 %.

    python benchmarks/bench_embed_shards.py                 # 100k captions, D=512
    python benchmarks/bench_embed_shards.py --smoke         # 2k captions: checks the script runs
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from imagebind_lite import MultiModalModel
from imagebind_lite.demo.logs import quiet_lightning
from imagebind_lite.inference.predict import (EmbedItemsDataset, EmbedModule, ShardSampler, SkipCollate,
                                              embed_to_shards)
from imagebind_lite.inference.shard_plan import make_plan
from imagebind_lite.training.api import make_trainer

log = logging.getLogger("bench_embed_shards")
WORDS = ("dog", "kettle", "drum", "boat", "fan", "bell", "cat", "car", "bird", "train", "clock", "horn")


def captions(n: int):
    return [(f"text:c{i}", f"a {WORDS[i % 12]} next to a {WORDS[(i // 12) % 12]}, take {i}",
             f"caption {i}") for i in range(n)]


def embed_alone(model, rows, args) -> float:
    """The predict loop of ``embed_to_shards`` without its writer: the same sampler, loader,
    module and trainer, built inside the timed span as there (the plan, which only shard
    writing and resuming need, is outside it)."""
    plan = make_plan("text", rows, model.encoder("text"), "32-true", model.embed_dim, args.shard_mb)
    start, cpu = time.perf_counter(), time.process_time()
    loader = DataLoader(EmbedItemsDataset(rows, model.transform("text"), "text"), batch_size=args.batch_size,
                        sampler=ShardSampler(plan, range(plan.num_shards)), collate_fn=SkipCollate("text"))
    trainer = make_trainer(accelerator="cpu", devices=1, progress=False, use_distributed_sampler=False)
    trainer.predict(EmbedModule(model.encoder("text")), loader, return_predictions=False)
    return time.perf_counter() - start, time.process_time() - cpu


def embed_sharded(model, rows, out: Path, args) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start, cpu = time.perf_counter(), time.process_time()
    embed_to_shards(model, "text", rows, out, batch_size=args.batch_size, accelerator="cpu", progress=False,
                    shard_mb=args.shard_mb)
    return time.perf_counter() - start, time.process_time() - cpu


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--shard-mb", type=float, default=64.0)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--workdir", type=Path)
    p.add_argument("--json", default=None)
    p.add_argument("--smoke", action="store_true", help="a tiny run that only checks the script works")
    args = p.parse_args(argv)
    if args.smoke:
        args.items, args.dim, args.repeats, args.shard_mb = 600, 64, 1, 0.1
    return args


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    quiet_lightning()
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_embed-"))
    try:
        torch.manual_seed(0)
        model = MultiModalModel.from_presets({"text": "tiny"}, embed_dim=args.dim).eval()
        rows = captions(args.items)
        embed_alone(model, rows[: 4 * args.batch_size], args)  # warm-up: tokenizer, first forwards
        alone_runs, sharded_runs, alone_cpu, sharded_cpu = [], [], [], []
        for _ in range(args.repeats):  # interleaved, so load from other processes hits both alike
            wall, cpu = embed_alone(model, rows, args)
            alone_runs.append(wall), alone_cpu.append(cpu)
            wall, cpu = embed_sharded(model, rows, work / "shards", args)
            sharded_runs.append(wall), sharded_cpu.append(cpu)
            log.info("repeat %d: alone %.2f s (CPU %.2f s), with shards %.2f s (CPU %.2f s)", len(alone_runs),
                     alone_runs[-1], alone_cpu[-1], sharded_runs[-1], sharded_cpu[-1])
        alone, sharded = min(alone_runs), min(sharded_runs)
        # each repeat's pair ran back to back: the median of their ratios is less hostage to one
        # slow minute than the ratio of the two minima
        paired = statistics.median(s / a for a, s in zip(alone_runs, sharded_runs)) - 1
        files = sorted((work / "shards").glob("text-s*.safetensors"))
        written = sum(p.stat().st_size + p.with_suffix(".json").stat().st_size for p in files)
        res = {"items": args.items, "dim": args.dim, "shards": len(files), "bytes_written": written,
               "one_per_batch_shards": -(-args.items // args.batch_size), "embed_alone_s": alone,
               "embed_with_shards_s": sharded, "overhead": sharded / alone - 1, "overhead_paired_median": paired,
               "alone_runs_s": alone_runs, "sharded_runs_s": sharded_runs,
               # process CPU time (all threads): what writing adds to the machine's work, which
               # the wall-clock figures only show through whatever else the cores were doing
               "alone_cpu_s": alone_cpu, "sharded_cpu_s": sharded_cpu,
               "cpu_overhead": min(sharded_cpu) / min(alone_cpu) - 1}
        print(f"\n== embed {args.items} captions, D={args.dim}, batch {args.batch_size}, torch "
              f"{torch.get_num_threads()} threads ==")
        print(f"shards: {res['shards']} of ~{args.shard_mb:g} MiB ({written / 2**20:.0f} MiB written; one shard per "
              f"batch would be {res['one_per_batch_shards']} shards)")
        print(f"embedding alone {alone:.2f} s, with shard writing {sharded:.2f} s: overhead "
              f"{100 * res['overhead']:+.1f} % (best of {args.repeats} each; median of the paired repeats "
              f"{100 * paired:+.1f} %)")
        print(f"process CPU time (all threads), best of each: {min(alone_cpu):.2f} s vs {min(sharded_cpu):.2f} s: "
              f"{100 * res['cpu_overhead']:+.1f} %")
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

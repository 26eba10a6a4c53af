"""Synthetic world throughput: generation (samples/s, per collection and all six modalities)
and writing files + manifests, measured side by side in one run.

    python benchmarks/bench_world.py [--n 1000] [--write 10000] [--sizes 64 224]

Generation is timed on one core (wall and CPU time: CPU time is what the code costs when the
machine is shared); writing covers png/16-bit png/wav/csv/npy encoding and the manifests, for
``--write`` samples split over the five pair collections (90%) and eval (10%).
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from imagebind_lite.data.world import COLLECTIONS, PAIR_COLLECTIONS, SyntheticWorld, WorldConfig, write_world
from imagebind_lite.data.world.sound import envelope, render_audio


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_generation(world: SyntheticWorld, n: int) -> dict:
    """collection -> (samples/s wall, samples/s cpu)."""
    rates = {}
    for collection in COLLECTIONS:
        wall, cpu = _timed(lambda: [world.sample(collection, i) for i in range(n)])
        rates[collection] = (n / wall, n / cpu)
    return rates


def naive_audio(concept, attrs, cfg, rng) -> np.ndarray:
    """Reference synthesis: the same sound by direct additive synthesis (one sine per
    harmonic, float64) with freshly drawn noise, as one would first write it."""
    t = np.arange(cfg.audio_samples) / cfg.sample_rate
    phase, beat_phase = rng.uniform(0, 1, 2)
    wave = sum(h * np.sin(2 * np.pi * (k + 1) * (attrs["pitch"] * t + phase))
               for k, h in enumerate(concept.harmonics) if h)
    beat = (attrs["tempo"] * t + beat_phase) % 1.0
    audio = attrs["loudness"] * wave / np.abs(wave).max() * envelope(concept.envelope, beat)
    audio += rng.standard_normal(len(t)) * cfg.audio_noise
    return np.clip(audio, -1, 1).astype(np.float32)


def bench_audio_vs_naive(world: SyntheticWorld, n: int) -> tuple:
    """(ours, naive) audio clips/s of CPU time on the same instances, alternating blocks.
    Ours is called through the world's own renderer arguments (private, benchmark only)."""
    cfg, items = world.config, [world.sample("text", i) for i in range(n)]
    jobs = [(world.concepts[s["label"]], s["attributes"], s["label"]) for s in items]

    def ours(block):
        for concept, attrs, label in block:
            render_audio(concept, attrs, world._tables[label], world._steps, world._buzz, cfg,
                         np.random.default_rng(label), world._noise)

    def naive(block):
        for concept, attrs, label in block:
            naive_audio(concept, attrs, cfg, np.random.default_rng(label))

    totals = [0.0, 0.0]
    for start in range(0, n, max(1, n // 4)):
        block = jobs[start:start + max(1, n // 4)]
        totals[0] += _timed(lambda: ours(block))[1]
        totals[1] += _timed(lambda: naive(block))[1]
    return n / totals[0], n / totals[1]


def bench_write(world: SyntheticWorld, total: int) -> tuple:
    per_pair = int(total * 0.9) // len(PAIR_COLLECTIONS)
    sizes = {c: per_pair for c in PAIR_COLLECTIONS}
    sizes["eval"] = total - per_pair * len(PAIR_COLLECTIONS)
    out = tempfile.mkdtemp(prefix="bench_world_")
    try:
        wall, cpu = _timed(lambda: write_world(world, out, sizes=sizes, progress=False))
        written = [p for p in Path(out).rglob("*") if p.is_file()]
        files, megabytes = len(written), sum(p.stat().st_size for p in written) / 1e6
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return wall, cpu, files, megabytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="samples per collection for generation")
    parser.add_argument("--write", type=int, default=10000, help="samples to write (0: skip)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 224], help="image sizes")
    parser.add_argument("--concepts", type=int, default=16)
    args = parser.parse_args()
    print(f"generation, {args.n} samples per collection, one process (samples/s wall | cpu)")
    for size in args.sizes:
        world = SyntheticWorld(WorldConfig(num_concepts=args.concepts, image_size=size))
        rates = bench_generation(world, args.n)
        row = "  ".join(f"{c} {w:6.0f} | {p:6.0f}" for c, (w, p) in rates.items())
        print(f"  image_size {size:3d}: {row}")
        pair_mean = sum(rates[c][1] for c in PAIR_COLLECTIONS) / len(PAIR_COLLECTIONS)
        print(f"  image_size {size:3d}: all six (eval) costs {pair_mean / rates['eval'][1]:.2f}x "
              f"a pair sample (cpu)")
    world = SyntheticWorld(WorldConfig(num_concepts=args.concepts, image_size=args.sizes[0]))
    ours, naive = bench_audio_vs_naive(world, min(args.n, 400))
    print(f"audio synthesis, clips/s cpu: wavetable + noise bank {ours:.0f} | direct sines + fresh noise "
          f"{naive:.0f} | ratio {ours / naive:.1f}x")
    if args.write:
        world = SyntheticWorld(WorldConfig(num_concepts=args.concepts, image_size=args.sizes[0]))
        wall, cpu, files, megabytes = bench_write(world, args.write)
        print(f"write {args.write} samples at image_size {args.sizes[0]}: {wall:.1f} s wall, {cpu:.1f} s cpu, "
              f"{args.write / wall:.0f} samples/s, {files} files, {megabytes:.0f} MB")


if __name__ == "__main__":
    main()

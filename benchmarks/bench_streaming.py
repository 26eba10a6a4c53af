"""Streaming read throughput: (image, X) pairs from tar shards against the manifest loader.

Both read the very same files with the same transforms (the data configs of ``--preset``), the
same batch size and DataLoader workers, no pivot cache: the manifest loader opens one file per
item (``PairLoader`` over ``ManifestPairDataset``), the stream reads shards front to back and
decodes members from memory (``StreamPairLoader``; shuffle buffer on). One pass each,
interleaved, best of ``--repeats``; samples/s and the ratio stream / manifest are printed and
written as JSON. Generating the files and the shards is not timed.

    python benchmarks/bench_streaming.py                          # 2048 jpg + wav pairs, ImageBind sizes
    python benchmarks/bench_streaming.py --modality thermal --workers 8 --samples 8192
    python benchmarks/bench_streaming.py --tiny                   # checks the script runs; figures meaningless
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
from PIL import Image

from imagebind_lite.data.shard_writer import write_shards
from imagebind_lite.registry import get_modality
from imagebind_lite.training.data_order import PairLoader
from imagebind_lite.training.datasets import ManifestPairDataset, PairCollate
from imagebind_lite.training.stream_dataset import StreamPairLoader, stream_dataset

log = logging.getLogger("bench_streaming")
WORDS = ("dog", "kettle", "drum", "boat", "fan", "bell", "cat", "car", "bird", "train", "clock", "horn")


def _write_x(modality: str, root: Path, i: int, rng: np.random.Generator, args) -> str:
    """One X item: a file path relative to ``root``, or the caption itself for text."""
    if modality == "text":
        return f"a {WORDS[i % 12]} beside a {WORDS[(i // 12) % 12]}, take {i}"
    if modality == "audio":
        path = root / "audio" / f"{i:06d}.wav"
        soundfile.write(path, (0.1 * rng.standard_normal(int(args.audio_seconds * 16000))).astype(np.float32), 16000)
    else:  # thermal: 8-bit single-channel png
        path = root / "thermal" / f"{i:06d}.png"
        Image.fromarray(rng.integers(0, 255, (args.image_size, args.image_size), dtype=np.uint8)).save(path)
    return str(path.relative_to(root))


def write_files(root: Path, args) -> Path:
    """``args.samples`` (jpg, X) pairs and their manifest."""
    rng = np.random.default_rng(0)
    for folder in ("vision", args.modality):
        (root / folder).mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(args.samples):
        image = rng.integers(0, 255, (args.image_size, args.image_size, 3), dtype=np.uint8)
        Image.fromarray(image).save(root / "vision" / f"{i:06d}.jpg", quality=90)
        rows.append({"id": f"b{i:06d}", "label": i % 10, "vision": f"vision/{i:06d}.jpg",
                     args.modality: _write_x(args.modality, root, i, rng, args)})
    manifest = root / "pairs.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def one_pass(loader) -> tuple[float, int]:
    start, samples = time.perf_counter(), 0
    for batch in loader:
        samples += len(batch["ids"])
    return time.perf_counter() - start, samples


def make_loaders(manifest: Path, shards: Path, args):
    transforms = {m: get_modality(m).transform(get_modality(m).preset(args.preset).data)
                  for m in ("vision", args.modality)}
    collate = PairCollate(args.modality)
    common = dict(batch_size=args.batch_size, collate_fn=collate, shuffle=True, num_workers=args.workers,
                  rank=0, world_size=1)
    listed = PairLoader(ManifestPairDataset(manifest, args.modality, transforms), **common)
    stream = StreamPairLoader(stream_dataset(str(shards), args.modality, transforms,
                                             shuffle_buffer=args.shuffle_buffer), **common)
    return listed, stream


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--modality", choices=("audio", "thermal", "text"), default="audio", help="the X of the pairs")
    p.add_argument("--preset", default="imagebind_huge", help="whose data configs give the transforms")
    p.add_argument("--samples", type=int, default=2048)
    p.add_argument("--image-size", type=int, default=256, help="side of the written jpg/png files")
    p.add_argument("--audio-seconds", type=float, default=5.0)
    p.add_argument("--samples-per-shard", type=int, default=256)
    p.add_argument("--shuffle-buffer", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=4, help="DataLoader workers of each loader")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--workdir", type=Path, help="keep the files here (default: a temporary folder)")
    p.add_argument("--json", default=None, help="also write the result here")
    p.add_argument("--tiny", "--smoke", action="store_true", help="a tiny run that only checks the script works")
    args = p.parse_args(argv)
    if args.tiny:
        args.samples, args.image_size, args.audio_seconds, args.preset = 24, 32, 1.0, "tiny"
        args.samples_per_shard, args.shuffle_buffer, args.batch_size, args.workers, args.repeats = 5, 8, 4, 0, 1
    return args


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_streaming-"))
    try:
        manifest = write_files(work / "files", args)
        write_shards(manifest, work / "shards", samples_per_shard=args.samples_per_shard)
        listed, stream = make_loaders(manifest, work / "shards", args)
        best = {"manifest": float("inf"), "stream": float("inf")}
        counts = {}
        for loader in (listed, stream):  # warm-up, untimed: tokenizer and decoder set-up, file cache
            one_pass(loader)
        for _ in range(args.repeats):  # interleaved, so load from other processes hits both alike
            for name, loader in (("manifest", listed), ("stream", stream)):
                seconds, counts[name] = one_pass(loader)
                best[name] = min(best[name], seconds)
        rates = {name: counts[name] / best[name] for name in best}
        result = {"modality": args.modality, "preset": args.preset, "samples": args.samples,
                  "batch_size": args.batch_size, "workers": args.workers, "samples_read": counts,
                  "manifest_samples_per_s": rates["manifest"], "stream_samples_per_s": rates["stream"],
                  "ratio_stream_over_manifest": rates["stream"] / rates["manifest"]}
        print(f"\n== (vision, {args.modality}) pairs, {args.samples} samples, batch {args.batch_size}, "
              f"{args.workers} worker(s), preset {args.preset} ==")
        print(f"manifest loader {rates['manifest']:.1f} samples/s, stream {rates['stream']:.1f} samples/s: "
              f"ratio stream / manifest {result['ratio_stream_over_manifest']:.2f}")
        print(json.dumps(result))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

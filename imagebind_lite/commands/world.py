"""``imagebind-lite world OUT_DIR``: write the synthetic world as files, manifests and a preview.

    imagebind-lite world data/world --sizes 256 --preview
    imagebind-lite world data/small --sizes text=100,audio=100,eval=50 --imu-format csv
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Dict

from imagebind_lite.data.world.config import COLLECTIONS, EVAL_COLLECTION, PAIR_COLLECTIONS, WorldConfig
from imagebind_lite.data.world.writer import IMU_FORMATS
from imagebind_lite.errors import InputError


def parse_sizes(text: str) -> Dict[str, int]:
    """``"256"`` (each pair collection 256, eval a quarter of it, at least 1) or
    ``"text=100,audio=100,eval=50"`` (only the named collections)."""
    text = text.strip()
    if text.isdigit():
        n = int(text)
        return {c: (max(1, n // 4) if c == EVAL_COLLECTION and n else n)
                for c in PAIR_COLLECTIONS + (EVAL_COLLECTION,)}
    sizes = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or name.strip() not in COLLECTIONS or not value.strip().isdigit():
            raise InputError(f"bad --sizes entry {part!r}: expected NAME=COUNT with NAME in {COLLECTIONS}",
                             modality="world")
        sizes[name.strip()] = int(value)
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    defaults = WorldConfig()
    parser.add_argument("out_dir", type=Path, help="directory to write files, manifests and world.json into")
    parser.add_argument("--num-concepts", type=int, default=defaults.num_concepts, help="number of concepts K")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="world seed")
    parser.add_argument("--image-size", type=int, default=defaults.image_size, help="image/depth/thermal side")
    parser.add_argument("--sample-rate", type=int, default=defaults.sample_rate, help="audio sample rate (Hz)")
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("256"),
                        help='samples per collection: "N" or "text=N,audio=N,depth=N,thermal=N,imu=N,eval=M"')
    parser.add_argument("--imu-format", choices=IMU_FORMATS, default="mixed", help="IMU file format")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1),
                        help="processes rendering and writing samples (the files are the same for any number)")
    parser.add_argument("--thermal-bits", type=int, choices=(8, 16), default=defaults.thermal_bits,
                        help="thermal png depth")
    parser.add_argument("--preview", action="store_true", help="also write OUT_DIR/preview.png")
    parser.add_argument("--preview-n", type=int, default=6, help="instances in the preview")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def run(args: argparse.Namespace) -> int:
    from imagebind_lite.data.world import SyntheticWorld, render_preview, write_world

    config = WorldConfig(num_concepts=args.num_concepts, seed=args.seed, image_size=args.image_size,
                         sample_rate=args.sample_rate, thermal_bits=args.thermal_bits)
    world = SyntheticWorld(config)
    paths = write_world(world, args.out_dir, sizes=args.sizes, progress=not args.no_progress,
                        imu_format=args.imu_format, workers=args.workers)
    if args.preview:
        paths["preview"] = render_preview(world, Path(args.out_dir) / "preview.png", n=args.preview_n)
    for name, path in paths.items():
        print(f"{name:8s} {path}")
    return 0

"""``imagebind-lite demo``: emergent audio-text alignment from scratch, end to end."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("demo_output"), help="report directory")
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute on 2 cores")
    parser.add_argument("--pivot-weights", type=Path, default=None,
                        help="saved model whose vision encoder is the pivot (skips pivot pretraining)")
    parser.add_argument("--seed", type=int, default=0, help="world and training seed")
    parser.add_argument("--num-concepts", type=int, default=16, help="concepts in the synthetic world")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args: argparse.Namespace) -> int:
    from imagebind_lite.demo import DemoConfig, run_demo

    changes = dict(out_dir=args.out, seed=args.seed, num_concepts=args.num_concepts,
                   pivot_weights=args.pivot_weights, progress=not args.no_progress)
    config = DemoConfig.quick(**changes) if args.quick else DemoConfig(**changes)
    run_demo(config)
    return 0

"""``imagebind-lite benchmark``: a saved model measured on ImageBind's benchmarks, beside the paper.

    imagebind-lite benchmark --model M out/esc50 out/nyu out/clotho [--variant NAME|all] [--out DIR]
    imagebind-lite evaluate --model M --benchmark out/esc50            # the same, one flag per DIR

Each DIR is what ``imagebind-lite manifest NAME ROOT OUT`` wrote; its benchmark.json names the
task (zero-shot top-1, multi-label mAP or R@k both ways), the paper's figures and the
preprocessing variants. All DIRs are read and checked before the model is loaded (with only the
encoders they need); then one table is printed with the paper's figure beside each measured one,
and ``--out`` writes it as summary.md and summary.json.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directories", nargs="+", type=Path, metavar="DIR",
                        help="output directory of `imagebind-lite manifest NAME ROOT OUT` (holds benchmark.json)")
    parser.add_argument("--model", required=True, type=Path, help="saved-model directory")
    parser.add_argument("--out", type=Path, help="directory for summary.md and summary.json")
    add_benchmark_options(parser)
    parser.add_argument("--device", default="cpu", help="torch device for the model")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def add_benchmark_options(parser: argparse.ArgumentParser) -> None:
    """The options a benchmark run takes beyond model, directories and output (``evaluate`` shares them)."""
    parser.add_argument("--variant", action="append", metavar="NAME",
                        help="preprocessing variant recorded in benchmark.json (repeatable; 'all' runs every one; "
                             "default: each benchmark's first). A benchmark without the name runs its default")
    parser.add_argument("--batch-size", type=int, default=64, help="inputs per forward pass (default 64)")
    parser.add_argument("--num-workers", type=int, default=0,
                        help="DataLoader worker processes decoding the benchmark's files (default 0: in-process)")


def run_benchmark_directories(model_path: Path, directories: Sequence[Path], args: argparse.Namespace) -> int:
    from imagebind_lite.data.benchmarks.tasks import plan_variants, read_task
    from imagebind_lite.evaluation.report import benchmark_markdown, write_benchmark_summary
    from imagebind_lite.inference.benchmark import run_benchmarks
    from imagebind_lite.model import load_model

    tasks = [read_task(d) for d in directories]  # every directory checked before the model loads
    plans = plan_variants(tasks, args.variant)
    needed = list(dict.fromkeys(m for task in tasks for m in task.modalities))
    model = load_model(model_path, modalities=needed, device=args.device)
    results = run_benchmarks(model, tasks, plans, batch_size=args.batch_size, num_workers=args.num_workers,
                             progress=not args.no_progress)
    print(benchmark_markdown(results), end="")
    if args.out:
        paths = write_benchmark_summary(args.out, results, model=str(model_path))
        print(f"summary: {paths['markdown']} and {paths['json']}")
    return 0


def run(args: argparse.Namespace) -> int:
    return run_benchmark_directories(args.model, args.directories, args)

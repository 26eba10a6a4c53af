"""``imagebind-lite evaluate``: emergent zero-shot evaluation of a saved model.

    imagebind-lite evaluate --model DIR --manifest CSV [--prompts world.json] [--out DIR] [--direct METRICS_JSON]
    imagebind-lite evaluate --model DIR --benchmark OUT [--benchmark OUT2 ...] [--variant NAME] [--out DIR]

Runs ``imagebind_lite.inference.evaluate_model``: the emergent matrix, zero-shot
classification against the prompts (a world.json also brings its attribute prompts, e.g. tempo
bins), the modality gap and its correction. ``--direct`` takes the metrics.json of a direct
baseline (same encoders trained on the emergent pairs) for the emergent/direct ratios.

``--benchmark OUT`` (a directory ``imagebind-lite manifest`` wrote) runs that benchmark's own
metric instead and prints the paper's figure beside the measured one: ``imagebind-lite
benchmark`` (``commands/benchmark.py``) does the work.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import List


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from imagebind_lite.commands.benchmark import add_benchmark_options

    parser.add_argument("--model", required=True, type=Path, help="saved-model directory")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--manifest", type=Path,
                        help="held-out manifest; row i of every modality column is one instance")
    source.add_argument("--benchmark", action="append", type=Path, metavar="OUT",
                        help="output directory of `imagebind-lite manifest NAME ROOT OUT` (repeatable): its own "
                             "metric, beside the paper's figure; --out then gets summary.md and summary.json")
    parser.add_argument("--prompts", type=Path,
                        help="world.json of the synthetic world, or a JSON {class_name: [prompt, ...]} "
                             "in label order")
    parser.add_argument("--out", type=Path, help="directory for metrics.json, report.md and plots "
                                                 "(with --benchmark: summary.md and summary.json)")
    parser.add_argument("--direct", type=Path, help="metrics.json of a direct baseline (emergent/direct ratios)")
    parser.add_argument("--trained", action="append", default=None, metavar="A,B",
                        help="a modality pair trained together (repeatable; default: every modality with vision)")
    parser.add_argument("--device", default="cpu", help="torch device for the model")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_benchmark_options(parser.add_argument_group("with --benchmark"))


def _trained_pairs(items):
    if items is None:
        return None
    from imagebind_lite.errors import InputError

    pairs = [tuple(p.strip() for p in item.split(",")) for item in items]
    bad = [item for item, pair in zip(items, pairs) if len(pair) != 2 or not all(pair)]
    if bad:
        raise InputError(f"--trained expects A,B (two modality names), got {bad}")
    return pairs


def _present_attributes(manifest_path, attributes):
    """A world.json's attribute prompts, for the binned columns this manifest actually has."""
    from imagebind_lite.data.manifest import read_manifest

    columns = read_manifest(manifest_path).columns
    return {name: spec for name, spec in attributes.items() if spec[0] in columns}


def _opt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def summary_lines(result) -> List[str]:
    """A few lines for a terminal: zero-shot top-1 per modality and mean R@1 by cell status."""
    lines = [f"zero-shot {m:<8} top1 {r.top1:.3f}  top5 {_opt(r.top5)}  mean-per-class {r.mean_per_class_recall:.3f}"
             for m, r in (result.zero_shot or {}).items()]
    for name, attr in (result.attributes or {}).items():
        tops = ", ".join(f"{m} {r.top1:.3f}" for m, r in attr.zero_shot.items())
        lines.append(f"attribute {name} top1 (chance {attr.chance:.3f}): {tops}")
    for status in ("trained", "emergent"):
        cells = [c for c in (result.matrix.cells if result.matrix else []) if c.metric == "R@1" and c.status == status]
        if cells:
            line = f"R@1 {status:<8} mean {sum(c.score for c in cells) / len(cells):.3f} over {len(cells)} pairs"
            ratios = [c.ratio for c in cells if c.ratio is not None]
            if ratios:
                line += f"; vs direct baseline x{sum(ratios) / len(ratios):.3f}"
            lines.append(line)
    return lines


def _run_benchmarks(args: argparse.Namespace) -> int:
    from imagebind_lite.commands.benchmark import run_benchmark_directories
    from imagebind_lite.errors import InputError

    manifest_only = [flag for flag, value in (("--prompts", args.prompts), ("--direct", args.direct),
                                               ("--trained", args.trained)) if value]
    if manifest_only:
        raise InputError(f"{', '.join(manifest_only)} go with --manifest; a benchmark directory brings its own "
                         "prompts and metric")
    return run_benchmark_directories(args.model, args.benchmark, args)


def run(args: argparse.Namespace) -> int:
    from imagebind_lite.errors import InputError

    if args.benchmark:
        return _run_benchmarks(args)
    if args.variant:
        raise InputError("--variant goes with --benchmark (a benchmark.json lists the variants)")
    from imagebind_lite.data.prompts import load_attribute_prompts, load_class_prompts
    from imagebind_lite.evaluation.report import load_direct_scores
    from imagebind_lite.inference.evaluate import evaluate_model
    from imagebind_lite.model import load_model

    model = load_model(args.model, device=args.device)
    prompts = load_class_prompts(args.prompts) if args.prompts else None
    attributes = _present_attributes(args.manifest, load_attribute_prompts(args.prompts)) if args.prompts else None
    direct = load_direct_scores(args.direct) if args.direct else None
    result = evaluate_model(model, args.manifest, prompts, out_dir=args.out,
                            trained_pairs=_trained_pairs(args.trained), direct_scores=direct,
                            attribute_prompts=attributes, progress=not args.no_progress)
    print(f"evaluated {result.n_samples} samples of {', '.join(result.modalities)}")
    for line in summary_lines(result):
        print("  " + line)
    if args.out:
        print(f"report: {args.out / 'report.md'}  (metrics.json and plots beside it)")
    return 0

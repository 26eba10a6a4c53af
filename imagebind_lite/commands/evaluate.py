"""``imagebind-lite evaluate``: emergent zero-shot evaluation of a saved model.

    imagebind-lite evaluate --model DIR --manifest CSV [--prompts world.json] [--out DIR] [--direct METRICS_JSON]

Runs ``imagebind_lite.evaluation.model_eval.evaluate_model``: the emergent matrix, zero-shot
classification against the prompts (a world.json also brings its attribute prompts, e.g. tempo
bins), the modality gap and its correction. ``--direct`` takes the metrics.json of a direct
baseline (same encoders trained on the emergent pairs) for the emergent/direct ratios.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, type=Path, help="saved-model directory")
    parser.add_argument("--manifest", required=True, type=Path,
                        help="held-out manifest; row i of every modality column is one instance")
    parser.add_argument("--prompts", type=Path,
                        help="world.json of the synthetic world, or a JSON {class_name: [prompt, ...]} "
                             "in label order")
    parser.add_argument("--out", type=Path, help="directory for metrics.json, report.md and plots")
    parser.add_argument("--direct", type=Path, help="metrics.json of a direct baseline (emergent/direct ratios)")
    parser.add_argument("--trained", action="append", default=None, metavar="A,B",
                        help="a modality pair trained together (repeatable; default: every modality with vision)")
    parser.add_argument("--device", default="cpu", help="torch device for the model")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


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


def run(args: argparse.Namespace) -> int:
    from imagebind_lite.evaluation.model_eval import (
        evaluate_model, load_attribute_prompts, load_class_prompts, load_direct_scores, summary_lines,
    )
    from imagebind_lite.model import load_model

    model = load_model(args.model, device=args.device)
    prompts = load_class_prompts(args.prompts) if args.prompts else None
    attributes = _present_attributes(args.manifest, load_attribute_prompts(args.prompts)) if args.prompts else None
    direct = load_direct_scores(args.direct) if args.direct else None
    results = evaluate_model(model, args.manifest, prompts, out_dir=args.out,
                             trained_pairs=_trained_pairs(args.trained), direct_scores=direct,
                             attribute_prompts=attributes, progress=not args.no_progress)
    print(f"evaluated {results.extra['n_samples']} samples of {', '.join(results.extra['modalities'])}")
    for line in summary_lines(results):
        print("  " + line)
    if args.out:
        print(f"report: {args.out / 'report.md'}  (metrics.json and plots beside it)")
    return 0

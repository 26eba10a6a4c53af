"""``imagebind-lite index build --shards DIR --out INDEX_DIR [--append]`` and ``index info INDEX_DIR``.

    imagebind-lite index build --shards shards/ --out idx/     # prints rows, dim, rows per modality
    imagebind-lite index info idx/                             # the same as one JSON line
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, TextIO


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give an ``index`` parser its ``build`` and ``info`` sub-commands (``args.func`` runs them)."""
    sub = parser.add_subparsers(dest="index_command", required=True)
    build = sub.add_parser("build", help="build an index directory from embedding shards")
    build.add_argument("--shards", required=True, type=Path, help="directory of *.safetensors shards")
    build.add_argument("--out", required=True, type=Path, help="index directory to write")
    build.add_argument("--append", action="store_true", help="add to the index already at --out")
    build.set_defaults(func=run_build)
    info = sub.add_parser("info", help="print rows, dimension and modality counts of an index")
    info.add_argument("index", type=Path)
    info.set_defaults(func=run_info)
    return parser


def add_index_arguments(subparsers) -> argparse.ArgumentParser:
    """Mount ``index build`` / ``index info`` on any program's subparsers object."""
    return add_arguments(subparsers.add_parser("index", help="build or inspect an embedding index"))


def run_build(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    from imagebind_lite.retrieval import build_index_from_shards, modality_counts

    index = build_index_from_shards(args.shards, args.out, append=args.append)
    counts = modality_counts(index)
    print(f"index {args.out}: {len(index)} rows, dim {index.dim}, "
          + ", ".join(f"{m}={c}" for m, c in sorted(counts.items())), file=out or sys.stdout)
    return 0


def run_info(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    from imagebind_lite.retrieval import EmbeddingIndex, modality_counts

    index = EmbeddingIndex.load(args.index)
    print(json.dumps({"rows": len(index), "dim": index.dim, "modalities": modality_counts(index)}),
          file=out or sys.stdout)
    return 0


def run(args: argparse.Namespace) -> int:
    return int(args.func(args) or 0)  # run_build or run_info, chosen by the sub-parser

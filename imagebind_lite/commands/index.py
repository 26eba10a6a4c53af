"""``imagebind-lite index build|info|verify``: build an index from embedding shards, inspect or check it.

    imagebind-lite index build --shards shards/ --out idx/                       # exact search
    imagebind-lite index build --shards shards/ --out idx/ --ann IVF1024,Flat    # + a saved faiss index
    imagebind-lite index build --shards more/ --out idx/ --append                # extends idx (and its ANN)
    imagebind-lite index info idx/                                               # one JSON line
    imagebind-lite index verify idx/                                             # re-hash every file
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, TextIO


def _add_ann_options(build: argparse.ArgumentParser) -> None:
    ann = build.add_argument_group("approximate search (saved faiss index)")
    ann.add_argument("--ann", metavar="SPEC",
                     help="faiss index-factory string, e.g. IVF1024,Flat (about sqrt(N) lists), IVF4096,PQ64 "
                          "(1/32 of the memory of flat rows at D=512), HNSW32, OPQ64,IVF4096,PQ64; trained on a "
                          "seeded sample and saved beside the embeddings")
    ann.add_argument("--target-recall", type=float, default=0.95,
                     help="recall@10 the saved nprobe/efSearch defaults must reach, measured at build (default 0.95)")
    ann.add_argument("--nprobe", type=int, help="fixed IVF nprobe default instead of the calibrated one")
    ann.add_argument("--ef-search", type=int, help="fixed HNSW efSearch default instead of the calibrated one")
    ann.add_argument("--rerank", type=int, help="re-score k x RERANK candidates exactly (default: 10 for PQ/SQ "
                                                "codes, 0 for exact codes)")
    ann.add_argument("--train-size", type=int, help="rows sampled to train the quantisers (default 64 per centroid)")
    ann.add_argument("--seed", type=int, default=0, help="training-sample seed")


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give an ``index`` parser its sub-commands (``args.func`` runs them)."""
    sub = parser.add_subparsers(dest="index_command", required=True)
    build = sub.add_parser("build", help="build an index directory from embedding shards")
    build.add_argument("--shards", required=True, type=Path, help="directory of *.safetensors shards")
    build.add_argument("--out", required=True, type=Path, help="index directory to write")
    build.add_argument("--append", action="store_true", help="add to the index already at --out (and its ANN index)")
    build.add_argument("--no-progress", action="store_true", help="hide progress bars")
    _add_ann_options(build)
    build.set_defaults(func=run_build)
    info = sub.add_parser("info", help="print rows, dimension, modality counts and ANN settings of an index")
    info.add_argument("index", type=Path)
    info.set_defaults(func=run_info)
    verify = sub.add_parser("verify", help="re-hash every file of an index against its metadata")
    verify.add_argument("index", type=Path)
    verify.set_defaults(func=run_verify)
    return parser


def add_index_arguments(subparsers) -> argparse.ArgumentParser:
    """Mount ``index build`` / ``index info`` / ``index verify`` on any program's subparsers object."""
    return add_arguments(subparsers.add_parser("index", help="build or inspect an embedding index"))


def _ann_config(args: argparse.Namespace):
    from imagebind_lite.retrieval import AnnConfig

    if not args.ann:
        tuning = [flag for flag, value in (("--nprobe", args.nprobe), ("--ef-search", args.ef_search),
                                           ("--rerank", args.rerank), ("--train-size", args.train_size)) if value]
        if tuning:
            from imagebind_lite.errors import InputError

            raise InputError(f"{', '.join(tuning)} tune an ANN index: add --ann SPEC (e.g. --ann IVF1024,Flat)")
        return None
    return AnnConfig(factory=args.ann, target_recall=args.target_recall, nprobe=args.nprobe,
                     ef_search=args.ef_search, rerank=args.rerank, train_size=args.train_size, seed=args.seed)


def describe_ann(ann: Optional[dict]) -> str:
    if not ann:
        return "exact search only (no ANN index)"
    parts = []
    for name, sub in (ann.get("modalities") or {}).items():
        if sub["spec"] == "Flat":
            parts.append(f"{name} exact ({sub['rows']} rows)")
            continue
        setting = ", ".join(f"{key} {sub[key]}" for key in ("nprobe", "ef_search", "rerank", "recall@10") if sub.get(key))
        parts.append(f"{name} {sub['spec']} ({setting})")
    return f"ANN {ann['factory']}: " + "; ".join(parts)


def run_build(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    from imagebind_lite.retrieval import build_index_from_shards

    index = build_index_from_shards(args.shards, args.out, append=args.append, ann=_ann_config(args),
                                    progress=not getattr(args, "no_progress", False))
    counts = index.modality_counts()
    out = out or sys.stdout
    print(f"index {args.out}: {len(index)} rows, dim {index.dim}, "
          + ", ".join(f"{m}={c}" for m, c in sorted(counts.items())), file=out)
    print(describe_ann(index.ann_description()), file=out)
    return 0


def run_info(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    from imagebind_lite.retrieval import EmbeddingIndex

    index = EmbeddingIndex.load(args.index, read_only=True)
    info = {"rows": len(index), "dim": index.dim, "modalities": index.modality_counts()}
    if index.ann_description():
        info["ann"] = index.ann_description()
    print(json.dumps(info), file=out or sys.stdout)
    return 0


def run_verify(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    from imagebind_lite.retrieval import EmbeddingIndex

    index = EmbeddingIndex.load(args.index, verify="full", read_only=True)
    print(f"{args.index}: every file matches its checksum ({len(index)} rows)", file=out or sys.stdout)
    return 0


def run(args: argparse.Namespace) -> int:
    return int(args.func(args) or 0)  # run_build, run_info or run_verify, chosen by the sub-parser

"""argparse pieces for ``imagebind-lite index build|info`` and ``imagebind-lite query``.

The CLI (``imagebind_lite/commands/``) fills its parsers with ``fill_index_parser(parser)`` and
``fill_query_parser(parser)`` (``add_*_arguments(subparsers)`` do the same on new subparsers),
then calls ``args.func(args)``. ``query`` combines its terms
(``--text``, ``--file``, ``--vector``; ``--weight`` sets the weight of the term just before it)
into one vector by embedding arithmetic. Text and file terms need a model: the CLI passes an
``embed_fn(terms) -> [Tensor[D]]`` to ``run_query``; precomputed vectors need nothing.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence, TextIO

import numpy as np
import torch
from safetensors.torch import load_file

from imagebind_lite.errors import InputError

from .index import BACKENDS, EmbeddingIndex, SearchResult
from .query import query_vector
from .shards import read_shards

log = logging.getLogger(__name__)


@dataclass
class QueryTerm:
    kind: str            # "text", "file" or "vector"
    value: str           # the text itself, or a path
    weight: float = 1.0  # coefficient in the weighted sum of the query

EmbedFn = Callable[[Sequence[QueryTerm]], List[torch.Tensor]]


class _TermAction(argparse.Action):
    """Appends a QueryTerm to ``args.terms`` keeping command-line order across flags."""

    def __call__(self, parser, namespace, values, option_string=None):
        terms = list(getattr(namespace, "terms", None) or [])
        if self.dest == "weight":
            if not terms:
                parser.error("--weight must follow a --text, --file or --vector term")
            terms[-1].weight = float(values)
        else:
            terms.append(QueryTerm(self.dest, values))
        namespace.terms = terms


def build_index_from_shards(shard_dir, out_dir, append: bool = False) -> EmbeddingIndex:
    """Read every shard of ``shard_dir`` into an index (optionally the one at ``out_dir``) and save it."""
    out_dir = Path(out_dir)
    index = EmbeddingIndex.load(out_dir) if append and out_dir.exists() else None
    for shard in read_shards(shard_dir):
        if index is None:
            index = EmbeddingIndex(shard.embeddings.shape[1])
        index.add(shard.embeddings, shard.ids, shard.modalities, shard.sources)
        log.info("added %d rows from %s", len(shard.ids), shard.path)
    index.save(out_dir)
    return index


def run_index_build(args, out: Optional[TextIO] = None) -> int:
    index = build_index_from_shards(args.shards, args.out, append=args.append)
    counts = Counter(index.modalities)
    print(f"index {args.out}: {len(index)} rows, dim {index.dim}, "
          + ", ".join(f"{m}={c}" for m, c in sorted(counts.items())), file=out or sys.stdout)
    return 0


def run_index_info(args, out: Optional[TextIO] = None) -> int:
    index = EmbeddingIndex.load(args.index)
    counts = Counter(index.modalities)
    print(json.dumps({"rows": len(index), "dim": index.dim, "modalities": dict(counts)}), file=out or sys.stdout)
    return 0


def fill_index_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give an ``index`` parser its ``build`` and ``info`` sub-commands (``args.func`` runs them)."""
    sub = parser.add_subparsers(dest="index_command", required=True)
    build = sub.add_parser("build", help="build an index directory from embedding shards")
    build.add_argument("--shards", required=True, type=Path, help="directory of *.safetensors shards")
    build.add_argument("--out", required=True, type=Path, help="index directory to write")
    build.add_argument("--append", action="store_true", help="add to the index already at --out")
    build.set_defaults(func=run_index_build)
    info = sub.add_parser("info", help="print rows, dimension and modality counts of an index")
    info.add_argument("index", type=Path)
    info.set_defaults(func=run_index_info)
    return parser


def add_index_arguments(subparsers) -> argparse.ArgumentParser:
    """Add ``index build`` / ``index info`` to a subparsers object."""
    return fill_index_parser(subparsers.add_parser("index", help="build or inspect an embedding index"))


def fill_query_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give a ``query`` parser its arguments (the CLI adds ``--model`` for text/file terms)."""
    parser.add_argument("--index", required=True, type=Path, help="index directory")
    for kind, help_ in (("text", "a text query"),
                        ("file", "[MODALITY:]PATH, a file of any modality (MODALITY: where its extension is ambiguous)"),
                        ("vector", "a precomputed embedding [D] (.npy or .safetensors)")):
        parser.add_argument(f"--{kind}", action=_TermAction, help=help_)
    parser.add_argument("--weight", action=_TermAction, type=float, help="weight of the previous term")
    parser.add_argument("-k", "--k", type=int, default=10, help="number of results")
    parser.add_argument("--modality", action="append", help="only return rows of this modality")
    parser.add_argument("--backend", choices=BACKENDS, default="auto")
    parser.add_argument("--json", action="store_true", help="print results as JSON lines")
    parser.set_defaults(func=run_query, terms=[])
    return parser


def add_query_arguments(subparsers) -> argparse.ArgumentParser:
    """Add ``query`` to a subparsers object."""
    return fill_query_parser(subparsers.add_parser("query", help="search an index by text, file(s) or vectors"))


def load_vector(path) -> torch.Tensor:
    """A query embedding from ``.npy`` (no pickle) or ``.safetensors`` (its single tensor)."""
    path = Path(path)
    try:
        if path.suffix == ".npy":
            vec = torch.from_numpy(np.load(path, allow_pickle=False))
        else:
            tensors = load_file(str(path))
            vec = tensors.get("embeddings", next(iter(tensors.values())))
    except Exception as exc:  # numpy/safetensors raise assorted types; one clear message
        raise InputError(f"cannot read query vector ({exc})", source=str(path)) from exc
    if vec.dim() == 2 and vec.shape[0] == 1:
        vec = vec[0]
    if vec.dim() != 1:
        raise InputError(f"a query vector must be [D], got {list(vec.shape)}", source=str(path))
    return vec.float()


def query_from_terms(terms: Sequence[QueryTerm], embed_fn: Optional[EmbedFn] = None) -> torch.Tensor:
    """Embed the terms (vectors directly, the rest via ``embed_fn``) and combine them."""
    if not terms:
        raise InputError("query needs at least one --text, --file or --vector term")
    need_model = [t for t in terms if t.kind != "vector"]
    if need_model and embed_fn is None:
        raise InputError("text and file query terms need a model (pass --model)")
    embedded = iter(embed_fn(need_model) if need_model else [])
    vectors = [load_vector(t.value) if t.kind == "vector" else next(embedded) for t in terms]
    return query_vector([(v, t.weight) for v, t in zip(vectors, terms)])


def format_results(results: Sequence[SearchResult]) -> str:
    lines = [f"{r.rank:>4}  {r.score:+.4f}  {r.modality:<10} {r.id}  {r.source}".rstrip() for r in results]
    return "\n".join(lines) if lines else "(no results)"


def run_query(args, embed_fn: Optional[EmbedFn] = None, out: Optional[TextIO] = None) -> int:
    out = out or sys.stdout
    index = EmbeddingIndex.load(args.index)
    vec = query_from_terms(args.terms, embed_fn)
    if vec.numel() != index.dim:
        raise InputError(f"query has dimension {vec.numel()} but the index has {index.dim}", source=str(args.index))
    results = index.search(vec, k=args.k, modality=args.modality, backend=args.backend)[0]
    if args.json:
        for r in results:
            print(json.dumps(r.__dict__), file=out)
    else:
        print(format_results(results), file=out)
    return 0

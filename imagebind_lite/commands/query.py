"""``imagebind-lite query``: search an index by text, files of any modality, vectors, or a weighted sum.

    imagebind-lite query --index idx --model m --text "a dog" -k 5
    imagebind-lite query --index idx --model m --file photo.jpg --file audio:bark.wav --weight 0.5

Terms (``--text``, ``--file``, ``--vector``; ``--weight`` sets the weight of the term just
before it) are combined by embedding arithmetic (``imagebind_lite.retrieval.search_terms``).
Text and file terms need ``--model``; precomputed vectors need nothing. ``MODALITY:PATH``
names the modality of a file whose extension several modalities read. A query of vectors
alone against an index with a saved ANN index is answered without importing torch
(``imagebind_lite.retrieval.saved_search``): the same results, a fraction of the start-up.
This module imports nothing heavy itself, so that path stays light.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence, TextIO


class _TermAction(argparse.Action):
    """Appends a query term to ``args.terms``, keeping command-line order across the term flags."""

    def __call__(self, parser, namespace, values, option_string=None):
        from imagebind_lite.retrieval.vectors import QueryTerm

        terms = list(getattr(namespace, "terms", None) or [])
        if self.dest == "weight":
            if not terms:
                parser.error("--weight must follow a --text, --file or --vector term")
            terms[-1].weight = float(values)
        else:
            terms.append(QueryTerm(self.dest, values))
        namespace.terms = terms


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from imagebind_lite.retrieval.results import BACKENDS

    parser.add_argument("--index", required=True, type=Path, help="index directory")
    for kind, help_ in (("text", "a text query"),
                        ("file", "[MODALITY:]PATH, a file of any modality (MODALITY: where its extension is ambiguous)"),
                        ("vector", "a precomputed embedding [D] (.npy or .safetensors)")):
        parser.add_argument(f"--{kind}", action=_TermAction, help=help_)
    parser.add_argument("--weight", action=_TermAction, type=float, help="weight of the previous term")
    parser.add_argument("-k", "--k", type=int, default=10, help="number of results")
    parser.add_argument("--modality", action="append", help="only return rows of this modality")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="auto: the index's saved ANN index when it has one, exact search otherwise")
    parser.add_argument("--nprobe", type=int, help="IVF lists to visit (default: the index's calibrated value)")
    parser.add_argument("--ef-search", type=int, help="HNSW beam width (default: the index's calibrated value)")
    parser.add_argument("--rerank", type=int, help="re-score k x RERANK ANN candidates exactly (0: off)")
    parser.add_argument("--json", action="store_true", help="print results as JSON lines")
    parser.add_argument("--model", type=Path, help="saved-model directory (needed for --text and --file terms)")
    parser.add_argument("--device", default="cpu", help="torch device for the model")
    parser.set_defaults(func=run, terms=[])
    return parser


def add_query_arguments(subparsers) -> argparse.ArgumentParser:
    """Mount ``query`` on any program's subparsers object."""
    return add_arguments(subparsers.add_parser("query", help="search an index by text, file(s) or vectors"))


def format_results(results: Sequence) -> str:
    lines = [f"{r.rank:>4}  {r.score:+.4f}  {r.modality:<10} {r.id}  {r.source}".rstrip() for r in results]
    return "\n".join(lines) if lines else "(no results)"


def run(args: argparse.Namespace, embed_fn=None, out: Optional[TextIO] = None) -> int:
    """``embed_fn`` embeds text and file terms; by default a ``TermEmbedder`` on ``--model``."""
    from imagebind_lite.retrieval.saved_search import search_saved

    out = out or sys.stdout
    options = {"nprobe": args.nprobe, "ef_search": args.ef_search, "rerank": args.rerank}
    results = search_saved(args.index, args.terms, k=args.k, modality=args.modality, backend=args.backend, **options)
    if results is None:  # text or file terms, exact search, or no saved ANN index: the full index
        from imagebind_lite.retrieval import TermEmbedder, search_terms

        if embed_fn is None and args.model:
            embed_fn = TermEmbedder(args.model, args.device)
        results = search_terms(args.index, args.terms, embed_fn, k=args.k, modality=args.modality,
                               backend=args.backend, **options)
    if args.json:
        for r in results:
            print(json.dumps(r.__dict__), file=out)
    else:
        print(format_results(results), file=out)
    return 0

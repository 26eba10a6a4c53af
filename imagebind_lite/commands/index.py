"""``imagebind-lite index build --shards DIR --out INDEX_DIR [--append]`` and ``index info INDEX_DIR``.

The parser and the work live with the index (``imagebind_lite.retrieval.commands``); this module
only mounts them on the CLI's ``index`` parser.
"""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from imagebind_lite.retrieval.commands import fill_index_parser

    fill_index_parser(parser)


def run(args: argparse.Namespace) -> int:
    return int(args.func(args) or 0)  # run_index_build or run_index_info, set by the sub-parser

"""``imagebind-lite combine MODEL... --out DIR``: saved models aligned to one pivot -> one model.

Pairs trained in separate runs against the same frozen pivot share its space, so their encoders
can sit in one model directory (``imagebind_lite.combine_models``); the shared pivot is checked to
be the same in every model.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", nargs="+", type=Path, help="saved-model directories; a modality in several "
                                                             "must be the same encoder in each (the pivot)")
    parser.add_argument("--out", type=Path, required=True, help="directory for the combined model, written atomically")


def run(args: argparse.Namespace) -> int:
    from imagebind_lite.combine import combine_models
    from imagebind_lite.saved_model import read_config

    out = combine_models(args.models, args.out)
    print(f"{out}: {', '.join(read_config(out)['encoders'])}")
    return 0

"""``imagebind-lite manifest``: a manifest + class prompts for a labelled dataset on disk.

    imagebind-lite manifest folders ROOT OUT --modality vision    # ROOT/<class>/<files>
    imagebind-lite manifest esc50 ESC-50-master OUT [--folds 1,2]  # the ESC-50 release
    imagebind-lite evaluate --model M --manifest OUT/manifest.csv --prompts OUT/prompts.json

See ``imagebind_lite.data.dataset_manifests``.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("layout", choices=("folders", "esc50"),
                        help="folders: one sub-directory per class; esc50: the ESC-50 release (meta/esc50.csv)")
    parser.add_argument("root", type=Path, help="the dataset directory")
    parser.add_argument("out", type=Path, help="directory for manifest.csv and prompts.json")
    parser.add_argument("--modality", help="modality of the files (folders layout; esc50 is audio)")
    parser.add_argument("--folds", help="esc50: comma-separated folds to keep, e.g. 1,2 (default: all five)")
    parser.add_argument("--template", action="append", metavar="TEXT",
                        help="prompt template with one {} for the class name, repeatable (an ensemble); "
                             "default 'a {}.' (esc50: 'this is a sound of {}.')")


def run(args: argparse.Namespace) -> int:
    from imagebind_lite.data.dataset_manifests import DEFAULT_TEMPLATES, esc50_manifest, folder_manifest
    from imagebind_lite.errors import InputError

    if args.layout == "folders":
        if not args.modality:
            raise InputError("the folders layout needs --modality (e.g. --modality vision)")
        manifest, prompts = folder_manifest(args.root, args.out, args.modality, args.template or DEFAULT_TEMPLATES)
    else:
        try:
            folds = [int(f) for f in args.folds.split(",")] if args.folds else None
        except ValueError:
            raise InputError(f"--folds expects comma-separated integers, got {args.folds!r}") from None
        extra = {"templates": args.template} if args.template else {}
        manifest, prompts = esc50_manifest(args.root, args.out, folds, **extra)
    print(f"wrote {manifest} and {prompts}")
    print(f"next: imagebind-lite evaluate --model MODEL --manifest {manifest} --prompts {prompts}")
    return 0

"""``imagebind-lite modalities``: what is registered, with presets and file types."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verbose", action="store_true", help="also print each preset's dimensions")


def run(args: argparse.Namespace) -> int:
    from imagebind_lite.registry import get_modality, list_modalities

    for name in list_modalities():
        spec = get_modality(name)
        presets = spec.presets()
        files = ", ".join(spec.extensions) or ("(strings)" if spec.strings_are_data else "-")
        print(f"{name:<10} presets: {', '.join(f'{name}/{p}' for p in presets):<40} files: {files}")
        if args.verbose:
            for preset, config in presets.items():
                print(f"    {preset:<16} D={config.embed_dim} width={config.width} depth={config.depth} heads={config.num_heads}")
    return 0

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
                print(f"    {preset:<16} D={config.embed_dim} {_trunk_summary(spec, config)}")
    return 0


def _trunk_summary(spec, config) -> str:
    """The transformer's dimensions, or another kind's name and the options its preset sets (the
    transformer's width/depth fields mean nothing to a CNN or a tower)."""
    kind = spec.trunk_kind(config)
    if kind == "transformer":
        return f"width={config.width} depth={config.depth} heads={config.num_heads}"
    options = " ".join(f"{key}={value}" for key, value in config.trunk.items() if key != "kind" and value is not None)
    return f"trunk={kind} {options}".rstrip()

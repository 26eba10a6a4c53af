"""``imagebind-lite world OUT_DIR``: write the synthetic world as files, manifests and a preview."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from imagebind_lite.data.world.cli import add_world_arguments

    add_world_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from imagebind_lite.data.world.cli import run_world

    run_world(args)
    return 0

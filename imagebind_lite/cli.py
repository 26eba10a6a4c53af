"""The ``imagebind-lite`` command line.

Every subcommand is one module of ``imagebind_lite/commands/`` that parses its arguments,
calls library functions and prints; ``fit`` / ``validate`` / ``test`` / ``predict`` go to
LightningCLI (``commands/fit.py``). Only the module of the subcommand that runs is imported,
so ``imagebind-lite modalities`` does not pay for Lightning's import.
"""
from __future__ import annotations

import argparse
import atexit
import importlib
import logging
import os
import sys
import threading
from typing import Optional, Sequence

# subcommand -> (module, help). Each module provides add_arguments(parser) and run(args) -> int.
SUBCOMMANDS = {
    "modalities": ("imagebind_lite.commands.modalities", "list registered modalities, presets and file types"),
    "embed": ("imagebind_lite.commands.embed", "embed files or a manifest into embedding shards"),
    "index": ("imagebind_lite.commands.index", "build an embedding index from shards"),
    "query": ("imagebind_lite.commands.query", "query an index by file, text or a weighted sum"),
    "serve": ("imagebind_lite.commands.serve", "serve an index and a model over HTTP: JSON API and web page"),
    "evaluate": ("imagebind_lite.commands.evaluate", "emergent zero-shot evaluation of a saved model"),
    "manifest": ("imagebind_lite.commands.manifest", "benchmark release on disk -> manifest + prompts + benchmark.json"),
    "benchmark": ("imagebind_lite.commands.benchmark", "a saved model on benchmark directories, beside the paper"),
    "demo": ("imagebind_lite.commands.demo", "the whole idea end to end on the synthetic world"),
    "world": ("imagebind_lite.commands.world", "write the synthetic world as files + manifests"),
    "shards": ("imagebind_lite.commands.shards", "pack a manifest's pairs into tar shards for streaming"),
    "convert": ("imagebind_lite.commands.convert", "convert an official ImageBind checkpoint"),
    "combine": ("imagebind_lite.commands.combine", "combine saved models aligned to one pivot into one model"),
}
LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test", "predict")


def _configure_logging() -> None:
    """Our messages at INFO on stderr; Lightning keeps its own handler (a root handler would
    print each of its lines twice, since records propagate to ancestors whatever their level)."""
    ours = logging.getLogger("imagebind_lite")
    if not ours.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        ours.addHandler(handler)
    ours.setLevel(logging.INFO)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _configure_logging()
    if argv and argv[0] in LIGHTNING_SUBCOMMANDS:
        from imagebind_lite.commands.fit import run_lightning_cli

        run_lightning_cli(argv)
        return 0
    parser = argparse.ArgumentParser(prog="imagebind-lite", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.add_parser("fit", help="train alignments with LightningCLI (--config configs/....yaml)")
    selected = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text)
        if name == selected:  # import only the module that will run
            importlib.import_module(module_name).add_arguments(sub)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from imagebind_lite.errors import ImageBindLiteError

    try:
        return int(importlib.import_module(SUBCOMMANDS[args.command][0]).run(args) or 0)
    except ImageBindLiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def console_main() -> None:
    """The ``imagebind-lite`` script: ``main``, then a quick exit. Tearing down an interpreter that
    has imported torch, Lightning and transformers (their modules, and every tensor the command
    kept) takes 1.5-2 s on 2 cores after the work is done and the output written; exit handlers
    still run (worker processes are reaped, logs flushed), only that teardown is skipped. A
    command that leaves a non-daemon thread running exits the normal way, which waits for it."""
    code = main()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is None:  # not CPython: the normal way
        sys.exit(code)
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or a closed pipe: nothing left to lose
            pass
    os._exit(code)


if __name__ == "__main__":
    console_main()

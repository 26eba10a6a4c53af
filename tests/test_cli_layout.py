"""One CLI layer: each subcommand is a module of ``imagebind_lite/commands``, the library builds no
parser, and a subcommand imports only its own module."""
import contextlib
import importlib
import io
import re
import subprocess
import sys
from pathlib import Path

import imagebind_lite
from imagebind_lite.cli import LIGHTNING_SUBCOMMANDS, SUBCOMMANDS, main

PACKAGE = Path(imagebind_lite.__file__).parent
COMMANDS = PACKAGE / "commands"
PARSER_WORDS = re.compile(r"\bargparse\b|\bLightningCLI\b")


def test_every_subcommand_is_one_commands_module():
    modules = {p.stem for p in COMMANDS.glob("*.py")} - {"__init__"}
    assert modules == set(SUBCOMMANDS) | {"fit"}
    for name, (module_name, _) in SUBCOMMANDS.items():
        assert module_name == f"imagebind_lite.commands.{name}"
        module = importlib.import_module(module_name)
        assert callable(module.add_arguments) and callable(module.run), name
    assert callable(importlib.import_module("imagebind_lite.commands.fit").run_lightning_cli)


def test_library_modules_hold_no_parsers():
    outside = [p for p in PACKAGE.rglob("*.py") if COMMANDS not in p.parents and p.name != "cli.py"]
    offenders = [str(p.relative_to(PACKAGE)) for p in outside if PARSER_WORDS.search(p.read_text())]
    assert offenders == []


def test_help_lists_every_subcommand():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([]) == 0
    for name in (*SUBCOMMANDS, "fit"):
        assert name in out.getvalue()
    assert set(LIGHTNING_SUBCOMMANDS) == {"fit", "validate", "test", "predict"}


def test_modalities_imports_only_its_own_command():
    """``imagebind-lite modalities`` stays quick: neither Lightning nor another subcommand loads."""
    probe = ("import sys; from imagebind_lite.cli import main; rc = main(['modalities']); "
             "loaded = sorted(m for m in sys.modules if m.startswith(('lightning', 'imagebind_lite.commands.')) "
             "or m in ('faiss', 'matplotlib')); print('LOADED', loaded); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "vision" in done.stdout and "audio" in done.stdout
    assert "LOADED ['imagebind_lite.commands.modalities']" in done.stdout

"""Packaging: modalities/ installs as ``imagebind_lite.modalities`` (never as a top-level
``modalities``, a name another PyPI distribution owns), and every package folder is listed."""
from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

import imagebind_lite as ib
from imagebind_lite.registry import ENTRY_POINT_GROUP

ROOT = Path(__file__).resolve().parents[1]
BUILT_INS = ["audio", "depth", "imu", "text", "thermal", "vision"]


def package_folders() -> set[str]:
    """Dotted names of the package folders the wheel must carry, after the folder mapping."""
    names = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "imagebind_lite").rglob("__init__.py")}
    if (ROOT / "modalities" / "__init__.py").is_file():
        names.add("imagebind_lite.modalities")
    return names


def test_every_package_folder_is_declared():
    tomllib = pytest.importorskip("tomllib")  # standard library from Python 3.11
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(setuptools["packages"]) == package_folders()
    assert setuptools["package-dir"] == {"imagebind_lite.modalities": "modalities"}


def test_built_ins_come_from_imagebind_lite_modalities():
    ib.list_modalities()
    assert not [name for name in sys.modules if name.split(".")[0] == "modalities"]
    advertised = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    for name in BUILT_INS:
        assert advertised[name] == f"imagebind_lite.modalities.{name}"
        assert type(ib.get_modality(name)).__module__ == f"imagebind_lite.modalities.{name}"


def test_the_repository_root_on_sys_path_registers_each_modality_once():
    """``python -m pytest`` puts the repository root first on sys.path; nothing may then import
    a modality a second time under another name (that would register it twice)."""
    script = ("import sys, imagebind_lite as ib; names = ib.list_modalities(); "
              "assert not [m for m in sys.modules if m.split('.')[0] == 'modalities'], sys.modules; print(names)")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert all(name in result.stdout for name in BUILT_INS)

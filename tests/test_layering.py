"""The core's modules import one way, bottom to top, and never a specific modality.

config/errors/atomic/empty_init/threads -> towers, layers -> encoder -> trunk_kinds, augment ->
modality, cnn_kind -> registry -> factory -> embedding, saved_model -> model. A module imports only
modules below it, at module level: an import hidden inside a function to dodge a cycle would make the order a fiction.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "imagebind_lite"
RANKS = {
    "imagebind_lite.config": 0, "imagebind_lite.errors": 0, "imagebind_lite.atomic": 0, "imagebind_lite.empty_init": 0,
    "imagebind_lite.threads": 0, "imagebind_lite.lazy": 0,
    "imagebind_lite.towers": 1, "imagebind_lite.layers": 1,
    "imagebind_lite.encoder": 2, "imagebind_lite.trunk_kinds": 3, "imagebind_lite.augment": 3, "imagebind_lite.modality": 4,
    "imagebind_lite.cnn_kind": 4,
    "imagebind_lite.registry": 5, "imagebind_lite.factory": 6, "imagebind_lite.embedding": 7,
    "imagebind_lite.saved_model": 7, "imagebind_lite.model": 8,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(name: str) -> str | None:
    return next((layer for layer in RANKS if name == layer or name.startswith(layer + ".")), None)


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import in ``path``."""
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.module, id(node) in top_level)]
            found += [(f"{node.module}.{alias.name}", id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
    return found


CORE_FILES = sorted(p for p in PACKAGE.rglob("*.py") if layer_of(module_name(p)) and module_name(p) != "imagebind_lite")


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: module_name(p))
def test_core_modules_import_only_lower_layers_at_module_level(path):
    own = layer_of(module_name(path))
    for imported, at_top in imports(path):
        target = layer_of(imported)
        if not imported.startswith("imagebind_lite") or target == own:
            continue
        assert target is not None, f"{module_name(path)} imports {imported}, outside the core's layers"
        assert at_top, f"{module_name(path)} imports {imported} inside a function"
        assert RANKS[target] < RANKS[own], f"{module_name(path)} (layer {RANKS[own]}) imports {imported} (layer {RANKS[target]})"


def test_the_core_never_imports_a_specific_modality():
    offenders = [f"{module_name(p)} -> {name}" for p in PACKAGE.rglob("*.py") for name, _ in imports(p)
                 if name.split(".")[0] == "modalities" or name.startswith("imagebind_lite.modalities")]
    assert not offenders


def test_the_chain_is_complete():
    assert len(CORE_FILES) >= len(RANKS)  # every layer has its file(s); layers/ has several

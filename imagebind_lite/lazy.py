"""Package attributes imported on first use (PEP 562), so importing a package stays cheap.

``imagebind_lite`` and ``imagebind_lite.retrieval`` re-export names whose modules pull in torch,
timm and torchvision: seconds that a process searching a saved index by vector, or the CLI's
help, should not pay. Each package lists where its names live and installs the pair below.
"""
from __future__ import annotations

from importlib import import_module
from typing import Callable, Dict, List, Tuple


def lazy_attributes(package: str, homes: Dict[str, str],
                    namespace: dict) -> Tuple[Callable[[str], object], Callable[[], List[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``homes`` maps a name to its submodule."""

    def __getattr__(name: str):
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{homes[name]}"), name)
        namespace[name] = value  # later lookups skip this function
        return value

    def __dir__() -> List[str]:
        return sorted(set(namespace) | set(homes))

    return __getattr__, __dir__

"""The modality registry: names -> ``ModalitySpec`` instances.

Built-in modalities and third-party ones are found the same way, through the entry-point group
``imagebind_lite.modalities`` (see pyproject.toml), so the core never imports a specific
modality. A user adds one with ``@register_modality("tactile")`` on a ``ModalitySpec``
subclass. Unlike timm's registry, registering a name twice raises: silently replacing an
encoder would make saved models load the wrong architecture.
"""
from __future__ import annotations

import importlib.metadata
import logging
import re
from typing import Callable, Optional, TypeVar

from imagebind_lite.errors import ImageBindLiteError, UnknownNameError
from imagebind_lite.modality import ModalitySpec

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "imagebind_lite.modalities"
_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")

_REGISTRY: dict[str, ModalitySpec] = {}
_entry_points_loaded = False

SpecClass = TypeVar("SpecClass", bound=type)


class DuplicateModalityError(ImageBindLiteError):
    """A modality name was registered twice."""


def register_modality(name: str) -> Callable[[SpecClass], SpecClass]:
    """Class decorator registering a ``ModalitySpec`` subclass under a lowercase ``name``."""
    if not _NAME_PATTERN.match(name or ""):
        raise ValueError(f"modality names are lowercase identifiers, got {name!r}")

    def decorate(cls: SpecClass) -> SpecClass:
        if not (isinstance(cls, type) and issubclass(cls, ModalitySpec)):
            raise TypeError(f"@register_modality({name!r}) expects a ModalitySpec subclass, got {cls!r}")
        load_entry_points()  # so a user's name clash with a built-in is caught now, not later
        if name in _REGISTRY:
            existing = type(_REGISTRY[name])
            raise DuplicateModalityError(
                f"modality {name!r} is already registered by {existing.__module__}.{existing.__qualname__}"
            )
        cls.name = name
        _REGISTRY[name] = cls()
        return cls

    return decorate


def unregister_modality(name: str) -> None:
    """Remove a registration (for tests and notebooks that redefine a modality)."""
    _REGISTRY.pop(name, None)


def load_entry_points(force: bool = False) -> None:
    """Import every module/class advertised under the entry-point group, once."""
    global _entry_points_loaded
    if _entry_points_loaded and not force:
        return
    _entry_points_loaded = True  # set first: the imports below call register_modality again
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name in _REGISTRY:
            continue
        try:
            loaded = entry_point.load()
        except Exception as exc:  # a broken plugin must not take the built-ins down with it
            log.warning("could not load modality plugin %r (%s): %s", entry_point.name, entry_point.value, exc)
            continue
        # An entry point may name a module (whose import registers) or an undecorated spec class.
        if isinstance(loaded, type) and issubclass(loaded, ModalitySpec) and entry_point.name not in _REGISTRY:
            register_modality(entry_point.name)(loaded)


def get_modality(name: str) -> ModalitySpec:
    """The registered spec for ``name``; raises ``UnknownNameError`` listing what exists."""
    load_entry_points()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown modality {name!r}; registered: {', '.join(sorted(_REGISTRY)) or 'none'}"
        ) from None


def list_modalities() -> list[str]:
    """Names of all registered modalities, sorted."""
    load_entry_points()
    return sorted(_REGISTRY)


def split_preset_name(name: str, default_modality: Optional[str] = None) -> tuple[str, str]:
    """``"audio/tiny"`` -> ``("audio", "tiny")``."""
    if "/" in name:
        modality, preset = name.split("/", 1)
        return modality, preset
    if default_modality is None:
        raise UnknownNameError(f"preset name {name!r} must look like 'modality/preset', e.g. 'audio/tiny'")
    return default_modality, name

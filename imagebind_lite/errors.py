"""Exception types of imagebind-lite.

One family the caller can catch: every error about user input (a corrupt file, an unknown
modality, a bad manifest) is an ``ImageBindLiteError`` and says which file or sample and which
modality it concerns, so a failing training run points at the culprit instead of a torch trace.
"""
from __future__ import annotations

from typing import Optional


class ImageBindLiteError(Exception):
    """Base class of every error raised on purpose by imagebind-lite."""


class InputError(ImageBindLiteError, ValueError):
    """Bad input data: names the modality and the file or sample it came from."""

    def __init__(self, message: str, *, modality: Optional[str] = None, source: Optional[str] = None):
        self.modality = modality
        self.source = None if source is None else str(source)
        where = []
        if modality:
            where.append(f"modality {modality!r}")
        if self.source:
            where.append(f"source {self.source!r}")
        prefix = f"[{', '.join(where)}] " if where else ""
        super().__init__(prefix + message)


class UnknownNameError(ImageBindLiteError, KeyError):
    """An unknown modality or preset name; lists what is available."""

    def __str__(self) -> str:  # KeyError would quote the whole message otherwise
        return str(self.args[0]) if self.args else ""


class CheckpointError(ImageBindLiteError):
    """A saved model or index that is missing, corrupt, or unsafe to load (e.g. a pickle)."""

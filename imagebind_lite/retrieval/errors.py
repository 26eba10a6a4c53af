"""Errors raised by the embedding index.

An index directory that is truncated, tampered with, or written by an incompatible version
must fail loudly at load time and name the file at fault, never return wrong neighbours.
"""
from __future__ import annotations

from imagebind_lite.errors import InputError


class IndexFileError(InputError):
    """A saved index or embedding shard that is missing, corrupt, or incompatible."""

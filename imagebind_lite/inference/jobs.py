"""What an embedding run embeds: rows from files or a manifest column (where they go, and what
a rerun skips, is ``shard_plan.py``).

A row is ``(id, item for the modality's transform, source shown in query results)``. Ids are
``<modality>:<sample id>`` (the manifest's ``id`` column, or the file path as given) so that
several modalities of one sample can share an index, whose ids must be unique.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, List, Sequence, Tuple

Row = Tuple[str, Any, str]


def file_rows(files: Sequence[Path], modality: str) -> List[Row]:
    return [(f"{modality}:{path}", path, str(path)) for path in files]


def manifest_rows(manifest, modality: str, column: str) -> List[Row]:
    """Rows of one column; text (strings are data) shows the text itself as its source."""
    from imagebind_lite.registry import get_modality

    strings = get_modality(modality).strings_are_data
    rows = []
    for i in range(len(manifest)):
        item = manifest.item(i, column, strings)
        rows.append((f"{modality}:{manifest.sample_id(i)}", item, str(item)))
    return rows

"""What an embedding run embeds, and where: rows from files or a manifest column, and an
output directory holding no stale shards of the modality about to be written.

A row is ``(id, item for the modality's transform, source shown in query results)``. Ids are
``<modality>:<sample id>`` (the manifest's ``id`` column, or the file path as given) so that
several modalities of one sample can share an index, whose ids must be unique.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, List, Sequence, Tuple

from imagebind_lite.errors import InputError

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


def clear_old_shards(out_dir, modality: str, overwrite: bool) -> None:
    """Stale shards from an earlier run would be merged into the next index: refuse, or delete.

    The pattern follows ``ShardWriter``'s names (``<modality>-r<rank>-...``)."""
    out_dir = Path(out_dir)
    old = sorted(out_dir.glob(f"{modality}-r*.safetensors")) if out_dir.is_dir() else []
    if old and not overwrite:
        raise InputError(f"already holds {len(old)} {modality} shard(s) from an earlier run; use an empty "
                         "--out or pass --overwrite", modality=modality, source=str(out_dir))
    for path in old:
        path.with_suffix(".json").unlink(missing_ok=True)  # sidecar first: an orphan tensor is never read
        path.unlink(missing_ok=True)

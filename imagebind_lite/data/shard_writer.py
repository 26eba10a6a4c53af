"""Write a manifest's samples into tar shards plus ``index.json`` (layout: see shards.py).

Files go in byte for byte (no re-encoding), so a sample read from a shard decodes to exactly
the tensors the manifest loader gives. Each shard is written under a temporary name and
renamed when complete, and the index is written last: an interrupted run leaves whole shards
and no index, never a half shard a reader could mistake for a short one.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tarfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from imagebind_lite.atomic import atomic_path, atomic_write_text
from imagebind_lite.data.bad_samples import check_policy
from imagebind_lite.data.manifest import Manifest, read_manifest
from imagebind_lite.data.shards import INDEX_FORMAT, INDEX_NAME, META_FIELD
from imagebind_lite.errors import InputError
from imagebind_lite.registry import get_modality, list_modalities

log = logging.getLogger(__name__)
KEY_DIGITS = 9


def _tar_bytes(size: int) -> int:
    return 512 + -(-size // 512) * 512  # a header block, then the data padded to whole blocks


class _ShardFile:
    """One shard being written: a tar at a temporary name that becomes ``path`` on close."""

    def __init__(self, path: Path):
        self.path, self.samples, self.bytes = path, 0, 0
        self._atomic = atomic_path(path)
        self._tmp = self._atomic.__enter__()
        self._handle = open(self._tmp, "wb")
        self._tar = tarfile.open(fileobj=self._handle, mode="w", format=tarfile.USTAR_FORMAT)

    def add(self, files: Sequence[Tuple[str, bytes]]) -> None:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0  # mtime 0: same input, same bytes
            self._tar.addfile(info, io.BytesIO(data))
            self.bytes += _tar_bytes(len(data))
        self.samples += 1

    def close(self, ok: bool = True) -> None:
        self._tar.close()
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        error = (None, None, None) if ok else (InputError, InputError("interrupted"), None)
        self._atomic.__exit__(*error)  # renames on success, removes the temporary file otherwise


def sample_files(manifest: Manifest, index: int, modalities: Sequence[str]) -> List[Tuple[str, bytes]]:
    """``(member name, bytes)`` of one manifest row; raises ``InputError`` naming the file."""
    key = f"{index:0{KEY_DIGITS}d}"
    files = []
    for modality in modalities:
        spec = get_modality(modality)
        value = manifest.item(index, modality, spec.strings_are_data)
        if spec.strings_are_data:
            suffix = spec.extensions[0] if spec.extensions else ".txt"
            files.append((f"{key}.{modality}{suffix}", str(value).encode("utf-8")))
            continue
        try:
            data = Path(value).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read file: {exc.strerror or exc}", modality=modality, source=str(value)) from None
        files.append((f"{key}.{modality}{Path(value).suffix.lower()}", data))
    meta = {"id": manifest.sample_id(index), "label": manifest.label(index)}
    files.append((f"{key}.{META_FIELD}", json.dumps(meta).encode("utf-8")))
    return files


def shard_modalities(manifest: Manifest, modalities: Optional[Sequence[str]]) -> List[str]:
    """The columns to store: those given, else every column naming a registered modality."""
    if modalities:
        manifest.require(modalities)
        return list(modalities)
    found = [column for column in manifest.columns if column in list_modalities()]
    if not found:
        raise InputError(f"manifest has no modality column; columns: {manifest.columns}", source=str(manifest.path))
    return found


def write_shards(manifest, out_dir, modalities: Optional[Sequence[str]] = None, samples_per_shard: int = 1000,
                 max_shard_mb: Optional[float] = None, prefix: str = "shard", on_bad_sample: str = "fail",
                 progress: bool = False) -> Dict:
    """Write every row of ``manifest`` into ``out_dir/<prefix>-NNNNNN.tar`` and the index.

    A new shard starts after ``samples_per_shard`` samples or before one that would take the
    shard past ``max_shard_mb``. Unreadable files: ``"fail"`` raises naming the file,
    ``"skip"`` leaves the row out and lists it in the index under ``"skipped"``.
    Returns the index document.
    """
    from tqdm.auto import tqdm

    check_policy(on_bad_sample)
    if samples_per_shard < 1:
        raise InputError(f"samples_per_shard must be >= 1, got {samples_per_shard}")
    manifest = manifest if isinstance(manifest, Manifest) else read_manifest(manifest)
    columns = shard_modalities(manifest, modalities)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    limit = None if max_shard_mb is None else max_shard_mb * 2 ** 20
    shards: List[_ShardFile] = []
    skipped: List[Dict[str, str]] = []
    current: Optional[_ShardFile] = None
    try:
        for index in tqdm(range(len(manifest)), desc="shards", unit="sample", disable=not progress):
            try:
                files = sample_files(manifest, index, columns)
            except InputError as exc:
                if on_bad_sample == "fail":
                    raise
                skipped.append({"id": manifest.sample_id(index), "error": str(exc)})
                continue
            size = sum(_tar_bytes(len(data)) for _, data in files)
            if current is not None and (current.samples >= samples_per_shard
                                        or (limit is not None and current.bytes + size > limit)):
                current.close()
                current = None
            if current is None:
                current = _ShardFile(out_dir / f"{prefix}-{len(shards):06d}.tar")
                shards.append(current)
            current.add(files)
    except BaseException:
        if current is not None:
            with contextlib.suppress(Exception):
                current.close(ok=False)
        raise
    if current is not None:
        current.close()
    return _write_index(out_dir, manifest, columns, shards, skipped)


def _write_index(out_dir: Path, manifest: Manifest, columns: List[str], shards: List[_ShardFile],
                 skipped: List[Dict[str, str]]) -> Dict:
    document = {
        "format": INDEX_FORMAT, "version": 1, "modalities": columns, "manifest": str(manifest.path),
        "samples": sum(s.samples for s in shards), "class_names": list(manifest.class_names),
        "shards": [{"path": s.path.name, "samples": s.samples, "bytes": s.path.stat().st_size} for s in shards],
        "skipped": skipped,
    }
    atomic_write_text(out_dir / INDEX_NAME, json.dumps(document, indent=1) + "\n")
    if skipped:
        log.warning("left out %d unreadable sample(s): %s", len(skipped), ", ".join(s["id"] for s in skipped[:20]))
    return document

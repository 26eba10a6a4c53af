"""Tar shards of paired samples: the member layout, the index, and reading a range of samples.

Layout (WebDataset's: a sample's files sit next to each other in the tar and share a key, the
member name up to its first dot)::

    000000042.vision.jpg    the files as they were, bytes unchanged
    000000042.audio.wav
    000000042.text.txt      text given in a manifest cell, UTF-8
    000000042.json          {"id": ..., "label": ...}

The modality sits between key and suffix because two modalities may share a suffix (an RGB
png and a 16-bit depth png). Shards written elsewhere with plain ``<key>.<ext>`` members
(``<key>.jpg``, ``<key>.wav``, ``<key>.txt``, ``<key>.cls``) are read too: a member goes to
the one wanted modality that reads its suffix.

An index JSON (``index.json`` beside the shards) lists every shard with its sample count, so
readers plan an epoch without opening the tars. Reading a sample range of one shard skips
the members before it through their headers only (uncompressed tars seek; nothing is read).
A shard that ends early or breaks mid-way yields ``BadSample`` records for every sample it
still owed, so the bad-sample policy reports it and sample counts (hence DDP step counts)
stay what the index promised. Reference: the WebDataset format specification.
"""
from __future__ import annotations

import glob
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from imagebind_lite.data.bad_samples import BadSample
from imagebind_lite.errors import InputError

INDEX_NAME = "index.json"
INDEX_FORMAT = "imagebind-lite-shards"
META_FIELD = "json"
LABEL_FIELDS = ("cls", "label")  # WebDataset's usual integer-label members
ShardSpec = Union[str, Sequence[str]]


@dataclass(frozen=True)
class Shard:
    path: str
    samples: int


@dataclass
class ShardSample:
    """One sample's raw members: ``files`` maps a field (``vision.jpg``, ``wav``) to bytes."""

    key: str
    shard: str
    files: Dict[str, bytes] = field(default_factory=dict)

    def member(self, name: str) -> str:
        return f"{self.shard}:{self.key}.{name}"


def split_member(name: str) -> Tuple[str, str]:
    """``dir/000042.audio.wav`` -> (``dir/000042``, ``audio.wav``): the key ends at the first
    dot of the base name."""
    folder, _, base = name.rpartition("/")
    key, _, rest = base.partition(".")
    return (f"{folder}/{key}" if folder else key), rest


# ---- index ---------------------------------------------------------------------------------------
def read_index(path: Union[str, Path]) -> Tuple[List[Shard], dict]:
    """Shards (paths resolved against the index's folder) and the whole index document."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        shards = [Shard(str((path.parent / entry["path"]).resolve()), int(entry["samples"]))
                  for entry in document["shards"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"cannot read shard index: {type(exc).__name__}: {exc}", source=str(path)) from None
    return shards, document


def count_samples(path: str) -> int:
    """Samples in one shard, from its member headers (no index at hand)."""
    keys = 0
    last = None
    try:
        with tarfile.open(path, "r:*") as tar:
            for info in tar:
                key, _ = split_member(info.name)
                if info.isfile() and key != last:
                    keys, last = keys + 1, key
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise InputError(f"cannot read tar shard: {type(exc).__name__}: {exc}", source=path) from None
    return keys


def resolve_shards(spec: ShardSpec) -> List[Shard]:
    """Shards named by an index JSON, a folder holding ``index.json``, glob patterns or paths
    (``file://`` prefixes allowed). Without an index each shard's headers are counted once."""
    items = [spec] if isinstance(spec, (str, Path)) else list(spec)
    shards: List[Shard] = []
    for item in items:
        item = str(item).removeprefix("file://")
        if item.endswith(".json") or Path(item, INDEX_NAME).is_file():
            shards += read_index(item if item.endswith(".json") else Path(item, INDEX_NAME))[0]
            continue
        if Path(item).is_dir():
            raise InputError(f"no {INDEX_NAME} in this folder; name its shards with a glob such as {item}/*.tar",
                             source=item)
        paths = sorted(glob.glob(item)) if glob.has_magic(item) else [item]
        if not paths:
            raise InputError("no shard matches this pattern", source=item)
        for path in paths:
            if not Path(path).is_file():
                raise InputError("shard not found", source=path)
            shards.append(Shard(str(Path(path).resolve()), count_samples(path)))
    if not shards:
        raise InputError(f"no shards in {spec!r}")
    return shards


# ---- reading -------------------------------------------------------------------------------------
def _groups(tar: tarfile.TarFile, start: int, stop: int) -> Iterator[Tuple[str, Dict[str, bytes]]]:
    """(key, {field: bytes}) of samples ``start <= i < stop``; earlier ones are passed over by
    their headers alone. Data is read as its header comes by: compressed tars never seek back."""
    index, key, files = -1, None, {}
    for info in tar:
        if not info.isfile():
            continue
        member_key, name = split_member(info.name)
        if member_key != key:
            if index >= start:
                yield key, files
            index, key, files = index + 1, member_key, {}
            if index >= stop:
                return
        if index >= start:
            files[name] = tar.extractfile(info).read()
    if start <= index < stop:
        yield key, files


def read_range(shard: Shard, start: int, stop: int) -> Iterator[Union[ShardSample, BadSample]]:
    """Samples ``start <= i < stop`` of one shard, in stored order; a broken or short shard
    yields a ``BadSample`` for each sample it could not deliver."""
    done = start
    problem: Optional[str] = None
    try:
        with tarfile.open(shard.path, "r:*") as tar:
            for key, files in _groups(tar, start, stop):
                yield ShardSample(key.rpartition("/")[2], shard.path, files)
                done += 1
    except (OSError, tarfile.TarError, EOFError) as exc:
        problem = f"truncated or corrupt tar shard after {done} sample(s): {type(exc).__name__}: {exc}"
    if done < stop:
        problem = problem or f"shard ended after {done} sample(s); its index lists {shard.samples} (truncated?)"
        for missing in range(done, stop):
            yield BadSample(f"{Path(shard.path).name}#{missing}", "shard", shard.path, problem)


def sample_meta(sample: ShardSample) -> Tuple[str, int]:
    """(id, label) from ``<key>.json`` (or a ``.cls`` member); the key when there is no id."""
    meta: Dict[str, Any] = {}
    if META_FIELD in sample.files:
        try:
            meta = json.loads(sample.files[META_FIELD].decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"sample metadata is not JSON: {exc}", source=sample.member(META_FIELD)) from None
    label = meta.get("label")
    for name in LABEL_FIELDS:
        if label is None and name in sample.files:
            label = sample.files[name].decode("utf-8", errors="replace").strip()
    try:
        label = -1 if label in (None, "") else int(label)
    except (TypeError, ValueError):
        raise InputError(f"label {label!r} is not an integer", source=sample.member(META_FIELD)) from None
    return str(meta.get("id", sample.key)), label


def find_member(sample: ShardSample, modality: str, extensions: Sequence[str],
                others: Sequence[Tuple[str, Sequence[str]]] = ()) -> Optional[str]:
    """The field holding ``modality``: ``<modality>.<ext>``, else a plain ``<ext>`` field that
    this modality reads and none of ``others`` (the pair's other modalities) does."""
    for name in sample.files:
        if name.partition(".")[0] == modality:
            return name
    for name in sample.files:
        suffix = "." + name.lower()
        if "." in name or suffix not in extensions:
            continue
        if not any(suffix in exts for other, exts in others if other != modality):
            return name
    return None

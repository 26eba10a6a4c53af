"""safetensors files read by memory map and written by streaming, for index-sized tensors.

``safetensors.torch.load_file`` reads a whole file into memory and ``save_file`` needs the
whole tensor in memory: at a million 512-d rows that is 2 GB per copy. Here a file is mapped
(``map_arrays``: pages are read only when a search touches them, so a process searching a
saved ANN index never pulls the embeddings in; the header alone, for positioned reads, comes
from ``read_header``) and written row block by row block
(``StreamingTensorWriter``: ``index build`` streams shards straight to disk, hashing as it
writes). The layout is safetensors' own (8-byte little-endian header length, JSON header,
8-byte aligned data), so the files stay readable by the safetensors library. numpy only:
a process that searches a saved index by vector never imports torch.
"""
from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import BinaryIO, Dict, Mapping, Optional, Sequence

import numpy as np

from .errors import IndexFileError

DTYPES = {"F32": np.float32, "F16": np.float16, "I16": np.int16, "I32": np.int32, "I64": np.int64,
          "U8": np.uint8}
CODES = {np.dtype(v): k for k, v in DTYPES.items()}
MAX_HEADER = 100 << 20


def _header_bytes(entries: Mapping[str, dict]) -> bytes:
    raw = json.dumps(dict(entries), separators=(",", ":")).encode("utf-8")
    raw += b" " * (-(8 + len(raw)) % 8)  # data starts 8-byte aligned, as safetensors writes it
    return struct.pack("<Q", len(raw)) + raw


def _layout(specs: Sequence[tuple]) -> Dict[str, dict]:
    """``[(name, dtype, shape)]`` -> safetensors header entries with consecutive offsets."""
    entries, offset = {}, 0
    for name, dtype, shape in specs:
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        entries[name] = {"dtype": CODES[np.dtype(dtype)], "shape": [int(s) for s in shape],
                         "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    return entries


class StreamingTensorWriter:
    """Write tensors of known shapes one block at a time, in declaration order; hashes as it goes."""

    def __init__(self, path, specs: Sequence[tuple]):
        self.path = Path(path)
        self.entries = _layout(specs)
        self._order = [name for name, _, _ in specs]
        self._expected = {name: e["data_offsets"][1] - e["data_offsets"][0] for name, e in self.entries.items()}
        self._written = dict.fromkeys(self._order, 0)
        self._digest = hashlib.sha256()
        self._fh: Optional[BinaryIO] = open(self.path, "wb")
        self._put(_header_bytes(self.entries))

    def _put(self, data) -> None:
        self._digest.update(data)
        self._fh.write(data)

    def write(self, name: str, block) -> None:
        """Append ``block`` (array or tensor of the declared dtype) to tensor ``name``."""
        if name not in self._written:
            raise KeyError(name)
        earlier = self._order[: self._order.index(name)]
        if any(self._written[n] != self._expected[n] for n in earlier):
            raise RuntimeError(f"tensor {name!r} written before the tensors declared ahead of it were complete")
        array = np.asarray(block)  # a CPU tensor converts without a copy
        want = DTYPES[self.entries[name]["dtype"]]
        data = np.ascontiguousarray(array, dtype=want).tobytes()
        if self._written[name] + len(data) > self._expected[name]:
            raise RuntimeError(f"more data than declared for tensor {name!r}")
        self._written[name] += len(data)
        self._put(data)

    def close(self) -> str:
        """Finish the file; returns its SHA-256."""
        missing = [n for n in self._order if self._written[n] != self._expected[n]]
        self._fh.flush()
        self._fh.close()
        self._fh = None
        if missing:
            raise RuntimeError(f"tensors {missing} were not written in full")
        return self._digest.hexdigest()


def write_tensors(path, tensors: Mapping[str, np.ndarray]) -> str:
    """Write small tensors in one go; returns the file's SHA-256."""
    arrays = {name: np.ascontiguousarray(t) for name, t in tensors.items()}
    writer = StreamingTensorWriter(path, [(n, a.dtype, a.shape) for n, a in arrays.items()])
    for name, array in arrays.items():
        writer.write(name, array)
    return writer.close()


def read_header(path: Path) -> tuple:
    """``(entries, data start)`` of a safetensors file, checked against its size."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise IndexFileError("not a safetensors file: shorter than its header", source=str(path))
        (length,) = struct.unpack("<Q", head)
        if length > min(MAX_HEADER, size - 8):
            raise IndexFileError("not a safetensors file: bad header length", source=str(path))
        try:
            entries = json.loads(fh.read(length).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IndexFileError(f"safetensors header is not JSON ({exc})", source=str(path)) from exc
    entries.pop("__metadata__", None)
    start = 8 + length
    for name, e in entries.items():
        begin, end = e.get("data_offsets", (0, -1))
        nbytes = int(np.prod(e.get("shape", []), dtype=np.int64)) * np.dtype(DTYPES.get(e.get("dtype"), np.uint8)).itemsize
        if e.get("dtype") not in DTYPES or end - begin != nbytes or begin < 0 or start + end > size:
            raise IndexFileError(f"safetensors entry {name!r} is malformed or beyond the end of the file",
                                 source=str(path))
    return entries, start


def map_arrays(path, names: Sequence[str]) -> Dict[str, np.ndarray]:
    """Copy-on-write memory maps of the named tensors (writable views; the file never changes)."""
    path = Path(path)
    entries, start = read_header(path)
    out = {}
    for name in names:
        if name not in entries:
            raise IndexFileError(f"tensor {name!r} is missing", source=str(path))
        e = entries[name]
        dtype, shape = DTYPES[e["dtype"]], tuple(e["shape"])
        if int(np.prod(shape, dtype=np.int64)) == 0:
            out[name] = np.empty(shape, dtype=dtype)
        else:
            out[name] = np.memmap(path, dtype=dtype, mode="c", offset=start + e["data_offsets"][0], shape=shape)
    return out

"""What the HTTP layer calls: a loaded model and index, queries in, ranked rows out.

Thread safety: requests run on a thread pool. The index is loaded read-only and is safe to
search from many threads (exact search reads a snapshot; faiss searches are read-only and take
their parameters per call, never by setting ``nprobe`` on the shared index). Model forwards
run one at a time under a lock, in inference mode: torch parallelises each forward over all
cores already, so overlapping forwards would only fight for them, and a lock keeps any
module state (norm buffers, caches) out of reach of concurrent calls.
"""
from __future__ import annotations

import logging
import mimetypes
import re
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch

from imagebind_lite.errors import ImageBindLiteError, InputError
from imagebind_lite.model import load_model
from imagebind_lite.registry import get_modality, list_modalities
from imagebind_lite.retrieval import EmbeddingIndex, query_vector
from imagebind_lite.retrieval.term_embedder import file_modality

from . import previews
from .queries import HttpError, Limits, Query, Term

log = logging.getLogger(__name__)
PREVIEW_CACHE = 1024
for _type, _suffix in (("audio/flac", ".flac"), ("audio/ogg", ".ogg"), ("audio/ogg", ".oga"), ("audio/ogg", ".opus"),
                       ("audio/wav", ".wav"), ("audio/mpeg", ".mp3"), ("audio/aiff", ".aiff")):
    mimetypes.add_type(_type, _suffix)


def _suffix(filename: str) -> str:
    suffix = Path(filename or "").suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,10}", suffix) else ""


class QueryEngine:
    """A saved model and a saved index, loaded once and queried by many requests."""

    def __init__(self, model_dir, index_dir, device: str = "cpu", media_root=None, limits: Limits = Limits()):
        self.index = EmbeddingIndex.load(index_dir, read_only=True)  # first: the cheaper one to find broken
        self.model = load_model(model_dir, device=device)
        if self.model.embed_dim != self.index.dim:
            raise InputError(f"the model embeds into {self.model.embed_dim} dimensions but the index holds "
                             f"{self.index.dim}-dimensional rows: they do not belong together", source=str(index_dir))
        self.media_root = Path(media_root or Path.cwd())
        self.limits = limits
        self._forward = threading.Lock()
        self._preview = lru_cache(maxsize=PREVIEW_CACHE)(self._render)
        if "text" in self.model.modalities:
            self.embed("text", "warm-up")  # the tokenizer loads on first use: not in the first request

    # ----- description ------------------------------------------------------------------------
    def _kind(self, modality: str, source: str) -> str:
        if modality in list_modalities() and get_modality(modality).strings_are_data:
            return "text"
        media = mimetypes.guess_type(source)[0] or ""
        return "audio" if media.startswith("audio/") else "image"

    def info(self) -> Dict[str, Any]:
        query_modalities = {m: {"extensions": list(get_modality(m).extensions),
                                "strings": get_modality(m).strings_are_data} for m in self.model.modalities}
        return {"rows": len(self.index), "dim": self.index.dim, "modalities": self.index.modality_counts(),
                "query_modalities": query_modalities, "backend": self.index.backend_for("auto"),
                "ann": self.index.ann_description(), "max_k": self.limits.max_k, "max_terms": self.limits.max_terms,
                "max_upload_bytes": self.limits.max_upload_bytes}

    # ----- queries ----------------------------------------------------------------------------
    def embed(self, modality: str, item) -> torch.Tensor:
        with self._forward, torch.inference_mode():
            return self.model.embed({modality: [item]})[modality][0].float().cpu()

    def _upload_modality(self, term: Term, filename: str) -> str:
        if term.modality is None:
            try:
                return file_modality(filename or "upload", self.model.modalities)[0]
            except InputError as exc:
                raise HttpError(400, f"upload {term.value!r}: {exc}") from None
        if term.modality not in self.model.modalities:
            raise HttpError(400, f"upload {term.value!r}: unknown modality {term.modality!r}; the model embeds "
                                 f"{', '.join(self.model.modalities)}")
        return term.modality

    def _vector(self, term: Term, uploads: Dict[str, Tuple[str, bytes]], tmp: Path, i: int) -> torch.Tensor:
        if term.kind == "text":
            if "text" not in self.model.modalities:
                raise HttpError(400, f"the model has no text encoder (it embeds {', '.join(self.model.modalities)})")
            return self.embed("text", term.value)
        if term.kind == "id":
            try:
                return self.index.embeddings[self.index.row_of(term.value)].clone()
            except InputError as exc:
                raise HttpError(400, str(exc)) from None
        if term.kind == "vector":
            if len(term.value) != self.index.dim:
                raise HttpError(400, f"a vector term needs {self.index.dim} numbers, got {len(term.value)}")
            return torch.tensor(term.value, dtype=torch.float32)
        filename, data = uploads[term.value]
        modality = self._upload_modality(term, filename)
        path = tmp / f"upload-{i}{_suffix(filename)}"
        path.write_bytes(data)
        try:
            return self.embed(modality, path)
        except ImageBindLiteError as exc:  # undecodable, empty, wrong type: the client's file
            raise HttpError(422, f"upload {filename or term.value!r} ({modality}): {exc}") from None

    def search(self, query: Query, uploads: Optional[Dict[str, Tuple[str, bytes]]] = None) -> Dict[str, Any]:
        started = time.perf_counter()
        try:
            self.index.check_filter(query.modality)  # fail before any forward
        except InputError as exc:
            raise HttpError(400, str(exc)) from None
        with tempfile.TemporaryDirectory(prefix="imagebind-lite-upload-") as tmp:
            vectors = [self._vector(t, uploads or {}, Path(tmp), i) for i, t in enumerate(query.terms)]
        embedded = time.perf_counter()
        try:
            vec = query_vector([(v, t.weight) for v, t in zip(vectors, query.terms)])
            groups = ([[m] for m in query.modality or self.index.modality_names] if query.per_modality
                      else [query.modality])
            hits = [hit for group in groups for hit in self._ranked(vec, query, group)]
        except (InputError, ImportError) as exc:
            raise HttpError(400, str(exc)) from None
        done = time.perf_counter()
        return {"results": hits, "k": query.k, "per_modality": query.per_modality,
                "backend": self.index.backend_for(query.backend),
                "embed_ms": round(1e3 * (embedded - started), 2), "search_ms": round(1e3 * (done - embedded), 2)}

    def _ranked(self, vec: torch.Tensor, query: Query, modality) -> list:
        scores, rows = self.index.search_rows(vec, query.k, modality, query.backend, **query.options)
        found = [(float(s), int(r)) for s, r in zip(scores[0].tolist(), rows[0].tolist()) if r >= 0]
        return [self._hit(rank, s, r) for rank, (s, r) in enumerate(found)]

    def _hit(self, rank: int, score: float, row: int) -> Dict[str, Any]:
        meta = self.index.row(row)
        kind = self._kind(meta.modality, meta.source)
        hit = {"rank": rank + 1, "id": meta.id, "modality": meta.modality, "source": meta.source,
               "score": round(score, 6), "row": row, "kind": kind}
        if kind != "text" and meta.source:
            hit["media"] = f"/api/media/{row}"
            hit["preview"] = f"/api/preview/{row}"  # for sounds: a waveform above the player
        return hit

    # ----- files of the index -----------------------------------------------------------------
    def media_path(self, row: int) -> Tuple[Path, str]:
        """The file the index lists for ``row`` (and its media type): never a path a client wrote."""
        if not 0 <= row < len(self.index):
            raise HttpError(404, f"no row {row}: the index has {len(self.index)} rows")
        meta = self.index.row(row)
        if self._kind(meta.modality, meta.source) == "text" or not meta.source:
            raise HttpError(404, f"row {row} ({meta.modality}) has no file")
        path = Path(meta.source)
        path = path if path.is_absolute() else self.media_root / path
        if not path.is_file():
            raise HttpError(404, f"the file row {row} was embedded from is missing: {meta.source}")
        return path, mimetypes.guess_type(path.name)[0] or "application/octet-stream"

    def _render(self, row: int) -> Tuple[str, bytes]:
        path, _ = self.media_path(row)
        modality = self.index.row(row).modality
        if modality not in list_modalities():
            raise HttpError(404, f"no preview for modality {modality!r}: it is not registered here")
        try:
            raw = get_modality(modality).load(path)
            picture = previews.render(modality, raw)
        except ImageBindLiteError as exc:
            raise HttpError(422, str(exc)) from None
        except Exception as exc:  # a renderer meeting data it cannot draw: the file's problem, not a crash
            log.warning("preview of row %d (%s) failed: %s", row, path, exc)
            raise HttpError(422, f"cannot render a preview of {path.name}: {type(exc).__name__}") from None
        if picture is None:
            raise HttpError(404, f"no preview for the {modality} file of row {row}")
        return picture

    def preview(self, row: int) -> Tuple[str, bytes]:
        return self._preview(row)

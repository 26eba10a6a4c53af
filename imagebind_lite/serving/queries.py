"""A search request, checked: terms (text, uploaded files, indexed rows, vectors) with weights,
``k``, a modality filter, the backend and ANN options. Everything a client can get wrong is
refused here with an ``HttpError`` naming the field, before any model or index work.

JSON body (``POST /api/query``)::

    {"text": "a dog"}                                            # one text term
    {"terms": [{"text": "a dog", "weight": 1.0},
               {"upload": "f0", "modality": "depth", "weight": 0.5},   # a multipart file part
               {"id": "audio:eval-000001"},                      # an indexed row's embedding
               {"vector": [0.1, ...]}],
     "k": 12, "modality": ["audio"], "backend": "auto", "nprobe": 16,
     "per_modality": true}                                        # the top k of each modality

Multipart requests carry that JSON in a ``query`` field (or plain ``text``, ``k``, ``modality``
and ``backend`` fields) plus the file parts; a file part no term names is one more term.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from imagebind_lite.retrieval.index import BACKENDS

TERM_KINDS = ("text", "upload", "id", "vector")
OPTION_NAMES = ("nprobe", "ef_search", "rerank")


class HttpError(Exception):
    """A request the server refuses: HTTP status and a message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Limits:
    max_k: int = 200              # results per query
    max_terms: int = 8            # terms of one query (texts, files, rows, vectors)
    max_text_chars: int = 2000    # one text term
    max_upload_bytes: int = 25 << 20  # the whole request body


@dataclass
class Term:
    kind: str                       # one of TERM_KINDS
    value: Any                      # text, upload field name, row id, or vector
    weight: float = 1.0
    modality: Optional[str] = None  # for uploads: which encoder reads the file


@dataclass
class Query:
    terms: List[Term]
    k: int = 12
    modality: Optional[List[str]] = None
    backend: str = "auto"
    options: Dict[str, int] = field(default_factory=dict)
    per_modality: bool = False      # top k of each (filtered) modality instead of the top k overall


def _int(value, name: str, low: int, high: Optional[int] = None) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise HttpError(400, f"{name} must be an integer {bound}, got {value!r}")
    return value


def _weight(value, where: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise HttpError(400, f"{where}: weight must be a finite number, got {value!r}")
    return float(value)


def _term(raw: Any, i: int, limits: Limits) -> Term:
    where = f"terms[{i}]"
    if not isinstance(raw, dict):
        raise HttpError(400, f"{where} must be an object such as {{\"text\": \"a dog\"}}")
    kinds = [k for k in TERM_KINDS if k in raw]
    if len(kinds) != 1:
        raise HttpError(400, f"{where} needs exactly one of {', '.join(TERM_KINDS)}")
    kind, value = kinds[0], raw[kinds[0]]
    if kind in ("text", "upload", "id") and (not isinstance(value, str) or not value.strip()):
        raise HttpError(400, f"{where}.{kind} must be a non-empty string")
    if kind == "text" and len(value) > limits.max_text_chars:
        raise HttpError(400, f"{where}.text is longer than {limits.max_text_chars} characters")
    if kind == "vector" and (not isinstance(value, list) or not value or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in value)):
        raise HttpError(400, f"{where}.vector must be a non-empty list of finite numbers")
    modality = raw.get("modality")
    if modality is not None and not isinstance(modality, str):
        raise HttpError(400, f"{where}.modality must be a string")
    return Term(kind, value, _weight(raw.get("weight", 1.0), where), modality or None)


def _filter(value) -> Optional[List[str]]:
    if value in (None, "", []):
        return None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise HttpError(400, "modality must be a modality name or a list of names")
    return names


def parse_query(payload: Any, limits: Limits, upload_names=()) -> Query:
    """Check a decoded JSON payload (``upload_names``: the file parts that came with it)."""
    if not isinstance(payload, dict):
        raise HttpError(400, "the query must be a JSON object such as {\"text\": \"a dog\"}")
    if not isinstance(payload.get("terms") or [], list):
        raise HttpError(400, "terms must be a list")
    raw_terms = list(payload.get("terms") or [])
    texts = payload.get("text")
    if texts is not None and not isinstance(texts, (str, list)):
        raise HttpError(400, "text must be a string or a list of strings")
    for text in ([texts] if isinstance(texts, str) else texts or []):
        raw_terms.append({"text": text})
    terms = [_term(raw, i, limits) for i, raw in enumerate(raw_terms)]
    named = {t.value for t in terms if t.kind == "upload"}
    unknown = sorted(named - set(upload_names))
    if unknown:
        raise HttpError(400, f"terms name upload(s) {unknown} that the request does not carry")
    terms += [Term("upload", name) for name in upload_names if name not in named]
    if not terms:
        raise HttpError(400, "a query needs at least one term: text, an uploaded file, an indexed id or a vector")
    if len(terms) > limits.max_terms:
        raise HttpError(400, f"a query may combine at most {limits.max_terms} terms, got {len(terms)}")
    backend = payload.get("backend", "auto")
    if backend not in BACKENDS:
        raise HttpError(400, f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    options = {name: _int(payload[name], name, 0 if name == "rerank" else 1)
               for name in OPTION_NAMES if payload.get(name) not in (None, "")}
    per_modality = payload.get("per_modality", False)
    if isinstance(per_modality, str) and per_modality.lower() in ("true", "false", "1", "0"):
        per_modality = per_modality.lower() in ("true", "1")
    if not isinstance(per_modality, bool):
        raise HttpError(400, f"per_modality must be true or false, got {per_modality!r}")
    return Query(terms, _int(payload.get("k", 12), "k", 1, limits.max_k), _filter(payload.get("modality")),
                 backend, options, per_modality)

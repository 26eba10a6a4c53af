"""Text and file query terms -> embeddings, with a saved model loaded for just those terms.

A file's modality comes from its extension through the registry; where several of the
model's modalities read that extension (a .png may be an image, a depth map or a thermal
image) the ``MODALITY:PATH`` form says which. Only the encoders the terms need are loaded, so
a text query against a six-modality model reads one encoder's weights.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, List, Sequence, Tuple

import torch

from imagebind_lite.errors import InputError

from .terms import QueryTerm


def file_modality(value: str, model_modalities: Sequence[str]) -> Tuple[str, Path]:
    """``"audio:x.wav"`` -> audio; ``"x.wav"`` -> the one model modality reading ``.wav`` files."""
    from imagebind_lite.registry import get_modality, list_modalities

    prefix, sep, rest = value.partition(":")
    if sep and prefix in list_modalities():
        return prefix, Path(rest)
    suffix = Path(value).suffix.lower()
    candidates = [m for m in model_modalities if suffix and suffix in get_modality(m).extensions]
    if len(candidates) == 1:
        return candidates[0], Path(value)
    if not candidates:
        raise InputError(f"no modality of the model ({', '.join(model_modalities)}) reads {suffix or 'extension-less'}"
                         " files; name one as MODALITY:PATH", source=value)
    raise InputError(f"ambiguous file type {suffix!r}: it could be {', '.join(candidates)}; "
                     f"say which as MODALITY:PATH, e.g. --file {candidates[0]}:{value}", source=value)


def resolve_terms(terms: Sequence[QueryTerm], model_modalities: Sequence[str]) -> List[Tuple[str, Any]]:
    """``[(modality, item)]`` for text and file terms, checked against the model's encoders."""
    resolved = [("text", term.value) if term.kind == "text" else file_modality(term.value, model_modalities)
                for term in terms]
    for modality, item in resolved:
        if modality not in model_modalities:
            raise InputError(f"the model has no {modality!r} encoder (it has {', '.join(model_modalities)})",
                             modality=modality, source=str(item))
    return resolved


class TermEmbedder:
    """An ``embed_fn`` for ``search_terms``: embeds text and file terms with a saved model."""

    def __init__(self, model_dir, device: str = "cpu"):
        self.model_dir, self.device = Path(model_dir), device

    def __call__(self, terms: Sequence[QueryTerm]) -> List[torch.Tensor]:
        from imagebind_lite.model import load_model
        from imagebind_lite.saved_model import read_config

        available = list(read_config(self.model_dir)["encoders"])
        resolved = resolve_terms(terms, available)
        model = load_model(self.model_dir, modalities={m for m, _ in resolved}, device=self.device)
        return [model.embed({modality: [item]})[modality][0] for modality, item in resolved]

"""Embedding a manifest in memory: row i of every modality column becomes row i of its tensor.

The held-out sets that evaluation scores are manifests in which every row is one instance seen
through several modalities (the synthetic world's ``eval/manifest.csv``, or any real
multimodal test set). For collections too large to hold in memory, ``embed_to_shards`` writes
shards through Lightning's predict loop instead.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch

from imagebind_lite.data.manifest import Manifest, read_manifest
from imagebind_lite.data.prompts import ClassPrompts
from imagebind_lite.errors import InputError
from imagebind_lite.evaluation.zero_shot import ClassTexts
from imagebind_lite.registry import get_modality

TEXT = "text"


def select_modalities(model, manifest: Manifest, modalities: Optional[Iterable[str]] = None) -> List[str]:
    """``modalities`` (checked against model and manifest), or every manifest column the model
    has an encoder for."""
    if modalities is not None:
        wanted = list(modalities)
        missing = [m for m in wanted if m not in model.modalities]
        if missing:
            raise InputError(f"the model has no encoder for {missing}; it has {model.modalities}",
                             modality=missing[0])
        manifest.require(wanted)
        return wanted
    chosen = [m for m in model.modalities if m in manifest.columns]
    if not chosen:
        raise InputError(f"no manifest column matches a model modality; columns {manifest.columns}, "
                         f"model {model.modalities}", source=str(manifest.path))
    return chosen


def embed_manifest_rows(model, manifest: Manifest, modalities: Sequence[str], batch_size: int = 64,
                        progress: bool = True) -> Dict[str, torch.Tensor]:
    """``{modality: [N, D]}`` for the given columns of an open manifest."""
    items = {m: [manifest.item(i, m, get_modality(m).strings_are_data) for i in range(len(manifest))]
             for m in modalities}
    return model.embed(items, batch_size=batch_size, progress=progress)


def embed_manifest(model, manifest_path, modalities: Optional[Iterable[str]] = None, batch_size: int = 64,
                   progress: bool = True) -> Tuple[Dict[str, torch.Tensor], torch.Tensor, List[str]]:
    """``({modality: [N, D]}, labels [N], ids)``; row i of every modality is sample i.

    Modalities: every manifest column the model has an encoder for, or exactly ``modalities``.
    Labels are -1 where the manifest has none.
    """
    manifest = read_manifest(manifest_path)
    embeddings = embed_manifest_rows(model, manifest, select_modalities(model, manifest, modalities),
                                     batch_size, progress)
    labels = torch.tensor([manifest.label(i) for i in range(len(manifest))], dtype=torch.long)
    return embeddings, labels, [manifest.sample_id(i) for i in range(len(manifest))]


def embed_class_prompts(model, class_prompts: ClassPrompts, batch_size: int = 64,
                        progress: bool = False) -> ClassTexts:
    """Text embeddings of every prompt: ``[C, T, D]``, or a list of ``[T_c, D]`` when counts differ."""
    if TEXT not in model.modalities:
        raise InputError(f"zero-shot prompts need a text encoder; the model has {model.modalities}", modality=TEXT)
    counts = [len(p) for p in class_prompts.values()]
    if not counts or min(counts) == 0:
        raise InputError("every class needs at least one prompt", modality=TEXT)
    flat = [str(p) for prompts in class_prompts.values() for p in prompts]
    emb = model.embed({TEXT: flat}, batch_size=batch_size, progress=progress)[TEXT]
    if len(set(counts)) == 1:
        return emb.reshape(len(counts), counts[0], emb.shape[-1])
    return list(torch.split(emb, counts))

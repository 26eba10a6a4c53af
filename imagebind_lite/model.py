"""``MultiModalModel``: the user-facing model, one encoder per modality sharing one space.

``{modality: batch tensor}`` -> ``{modality: embeddings [B, D]}`` as an ``nn.Module``, plus what a
user calls on a model: ``embed`` (paths, arrays or strings, batched internally), ``transform``
(the picklable preprocessing of one modality), ``save`` and ``load_model``. It sits on top of
the layers it ties together (factory, embedding, saved_model), none of which import it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from imagebind_lite.embedding import embed_items
from imagebind_lite.encoder import Encoder
from imagebind_lite.errors import UnknownNameError
from imagebind_lite.factory import encoders_from_presets
from imagebind_lite.modality import ModalityTransform
from imagebind_lite.registry import get_modality
from imagebind_lite.saved_model import load_encoders, save_model


class MultiModalModel(nn.Module):
    """``{modality: batch tensor}`` -> ``{modality: embeddings [B, D]}``."""

    def __init__(self, encoders: Mapping[str, Encoder]):
        super().__init__()
        dims = {name: enc.config.embed_dim for name, enc in encoders.items()}
        if len(set(dims.values())) > 1:
            raise ValueError(f"encoders disagree on the shared dimension: {dims}")
        self.encoders = nn.ModuleDict(dict(encoders))

    @classmethod
    def from_presets(cls, presets: Mapping[str, str] | Iterable[str], **overrides: Any) -> "MultiModalModel":
        """``from_presets({"vision": "tiny", "audio": "tiny"}, embed_dim=32)``."""
        return cls(encoders_from_presets(presets, **overrides))

    @property
    def modalities(self) -> list[str]:
        return list(self.encoders.keys())

    @property
    def embed_dim(self) -> int:
        return next(iter(self.encoders.values())).config.embed_dim

    def encoder(self, modality: str) -> Encoder:
        if modality not in self.encoders:
            raise UnknownNameError(f"this model has no {modality!r} encoder; it has: {', '.join(self.encoders)}")
        return self.encoders[modality]

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {modality: self.encoder(modality)(inputs) for modality, inputs in batch.items()}

    def transform(self, modality: str) -> ModalityTransform:
        """The picklable preprocessing transform of one modality, from its encoder's data config."""
        return get_modality(modality).transform(self.encoder(modality).data_config)

    def embed(self, inputs: Mapping[str, Any], batch_size: int = 32, progress: bool = False) -> dict[str, torch.Tensor]:
        """Paths, raw arrays/tensors or (text) strings per modality -> embeddings; batches internally."""
        return {mod: embed_items(self.encoder(mod), items, batch_size, progress) for mod, items in inputs.items()}

    def save(self, directory) -> None:
        save_model(self, directory)


def load_model(directory, modalities=None, device: str = "cpu", dtype=None, empty_init: bool = True) -> MultiModalModel:
    """Rebuild a ``MultiModalModel`` (in eval mode) from a saved-model directory, without pickle
    and without the network: everything it needs is in the directory.

    ``modalities``: load only these encoders; ``dtype``: cast the encoders (e.g. ``torch.bfloat16``;
    default: the dtype each encoder was saved in). ``empty_init``: build the encoders without
    allocating parameters and put the saved tensors in their place (``False``: random weights
    first, then copied over: the slower, hungrier old way).
    """
    return MultiModalModel(load_encoders(Path(directory), modalities, device, dtype, empty_init)).eval()

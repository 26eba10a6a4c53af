"""A pretrained Hugging Face audio model as a trunk: AST, wav2vec2 / HuBERT, a Whisper encoder, CLAP.

The model comes from a local ``save_pretrained`` directory (``local_files_only``, no network) or is
rebuilt from its ``config.json`` alone (a saved model's state dict then fills the weights). Only
the part that reads audio is kept: the encoder of an encoder-decoder (Whisper's decoder writes
text, not an embedding), the audio tower and projection of a dual encoder (CLAP's text tower
would double every saved encoder).

Pooling of the model's output into one vector per clip (``POOLS``):
- ``"projection"``: the model's own projection into its shared audio-text space (CLAP's
  ``get_audio_features``, ``ClapAudioModelWithProjection``'s ``audio_embeds``);
- ``"pooler"``: the model's own pooled output (AST: the mean of its two summary tokens, as AST
  was trained to classify; CLAP's audio tower before its projection);
- ``"mean"``: the mean of the last hidden states over time (wav2vec2, HuBERT, Whisper have no
  pooled output). Whisper pads every input to 30 s; only the frames of the clip itself are
  averaged (``valid_fraction``), or the mean would mostly describe padding.
``"auto"`` picks the first of these the model has.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import nn

from imagebind_lite.errors import CheckpointError
from imagebind_lite.towers import hf_tower
from imagebind_lite.towers.packing import Layout, unpack

POOLS = ("auto", "projection", "pooler", "mean")
AUDIO_INPUTS = ("input_values", "input_features")  # main inputs of audio models (waveform / spectrogram)
# Classes AutoModel would load without their projection (it maps their config to the bare tower).
WITH_PROJECTION = {"ClapAudioModelWithProjection": "audio_embeds"}


def _architecture(directory: Path) -> Optional[str]:
    import json

    try:
        names = json.loads((directory / hf_tower.CONFIG_FILE).read_text()).get("architectures") or []
    except (OSError, ValueError):
        return None
    return next((name for name in names if name in WITH_PROJECTION), None)


def load_pretrained(directory: Path) -> nn.Module:
    """The model in a local directory, with its weights."""
    arch = _architecture(directory)
    if arch is None:
        return hf_tower.load_model(directory)
    import transformers

    try:
        return getattr(transformers, arch).from_pretrained(str(directory), **hf_tower.loading_options())
    except Exception as exc:
        raise CheckpointError(
            f"cannot load a Hugging Face model from {directory}: {type(exc).__name__}: {exc}") from exc


def from_files(files: Path) -> nn.Module:
    """The same architecture from its ``config.json``, weights uninitialised."""
    arch = _architecture(files)
    if arch is None:
        return hf_tower.model_from_files(files)
    import transformers

    try:
        return getattr(transformers, arch)(transformers.AutoConfig.from_pretrained(str(files), local_files_only=True))
    except Exception as exc:
        raise CheckpointError(
            f"cannot rebuild a Hugging Face model from {files / hf_tower.CONFIG_FILE}: {exc}") from exc


def has_projection(model: nn.Module) -> bool:
    return callable(getattr(model, "get_audio_features", None)) or type(model).__name__ in WITH_PROJECTION


def audio_part(model: nn.Module, pool: str, where: Path) -> nn.Module:
    """The module that reads audio, for ``pool``; anything that is not an audio model is an error."""
    if callable(getattr(model, "get_audio_features", None)):  # a dual encoder: keep its audio tower
        model = hf_tower.only_tower(model, "audio")
        return model if pool in ("projection", "auto") else model.audio_model
    if type(model).__name__ in WITH_PROJECTION:
        return model if pool in ("projection", "auto") else model.audio_model
    if getattr(model.config, "is_encoder_decoder", False) and callable(getattr(model, "get_encoder", None)):
        model = model.get_encoder()
    if getattr(model, "main_input_name", None) not in AUDIO_INPUTS:
        raise CheckpointError(
            f"{where / hf_tower.CONFIG_FILE}: {type(model).__name__} is not an audio model (its input is "
            f"{getattr(model, 'main_input_name', None)!r}, not one of {AUDIO_INPUTS}); use AST, wav2vec2, HuBERT, "
            "Whisper or CLAP")
    return model


def _blocks(model: nn.Module) -> Optional[nn.ModuleList]:
    """The model's stack of transformer layers: the first ``layer`` / ``layers`` list, shallowest first."""
    for name, module in sorted(model.named_modules(), key=lambda item: item[0].count(".")):
        if isinstance(module, nn.ModuleList) and name.rsplit(".", 1)[-1] in ("layer", "layers") and len(module):
            return module
    return None


class HFAudioTrunk(nn.Module):
    """Packed feature-extractor outputs ``[B, ...]`` -> pooled features ``[B, width]``."""

    def __init__(self, model: nn.Module, layout: Layout, inputs: Sequence[str], pool: str,
                 valid_fraction: float = 1.0):
        super().__init__()
        if pool not in POOLS:
            raise CheckpointError(f"unknown hf_pool {pool!r}; use one of {POOLS}")
        if pool == "projection" and not has_projection(model):
            raise CheckpointError(f"{type(model).__name__} has no projection into an audio-text space (CLAP has): "
                                  "use hf_pool 'pooler' or 'mean'")
        self.model = model
        self.layout = layout
        self.inputs = list(inputs)
        self.pool = pool
        self.valid_fraction = float(valid_fraction)

    @property
    def blocks(self) -> nn.ModuleList:
        """The transformer layers: ``unfreeze_last_n_blocks`` trains the last N of them."""
        blocks = _blocks(self.model)
        if blocks is None:
            raise AttributeError(f"{type(self.model).__name__} has no layer list")
        return blocks

    @property
    def lora_targets(self) -> list[str]:
        """Names of the Linear layers inside the transformer layers (attention and MLP): where LoRA
        adapters go unless told otherwise (each library names them its own way)."""
        blocks = _blocks(self.model)
        linears = [name for name, m in (blocks or self.model).named_modules() if isinstance(m, nn.Linear)]
        return sorted({name.rsplit(".", 1)[-1] for name in linears})

    def resolve_pool(self, sample: torch.Tensor) -> str:
        """``"auto"`` -> the first pool this model offers (one forward pass on one sample)."""
        if self.pool != "auto":
            return self.pool
        if has_projection(self.model):
            return "projection"
        with torch.no_grad():
            out = self.model(**self._kwargs(sample[None]))
        return "pooler" if getattr(out, "pooler_output", None) is not None else "mean"

    def _kwargs(self, packed: torch.Tensor) -> dict:
        fields = unpack(packed, self.layout)
        return {name: fields[name] for name in self.inputs}

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        kwargs = self._kwargs(packed)
        if self.pool == "projection":
            if callable(getattr(self.model, "get_audio_features", None)):
                out = self.model.get_audio_features(**kwargs)
                return out if isinstance(out, torch.Tensor) else out.pooler_output
            return getattr(self.model(**kwargs), WITH_PROJECTION[type(self.model).__name__])
        out = self.model(**kwargs)
        if self.pool == "pooler":
            if getattr(out, "pooler_output", None) is None:
                raise CheckpointError(f"{type(self.model).__name__} has no pooled output: use hf_pool 'mean'")
            return out.pooler_output
        hidden = out.last_hidden_state
        if hidden.dim() != 3:
            raise CheckpointError(f"{type(self.model).__name__}'s hidden states are {hidden.dim()}-d, not [batch, "
                                  "time, width]: use hf_pool 'pooler' or 'projection'")
        keep = max(1, math.ceil(self.valid_fraction * hidden.shape[1]))
        return hidden[:, :keep].mean(dim=1)

"""A Hugging Face text model from a LOCAL directory as the text trunk (trained, with our head).

``AutoModel.from_pretrained(dir, local_files_only=True)`` (no network, ever), fed ids padded with
the tokenizer's pad token; the attention mask is rebuilt from those pads so one id tensor per
sample is all the encoder sees, like the BPE path. Pooling (``trunk["hf_pool"]``):
- ``"cls"`` (default): the first token's hidden state (BERT's [CLS]);
- ``"mean"``: the mean over non-pad tokens (sentence-transformers style).
The shared ``Head`` (LayerNorm + linear) then projects ``hidden_size`` to the embedding dim.
``HF_KIND`` is the trunk kind the text modality offers as ``"hf"``.

The model's ``config.json`` and tokenizer files are copied into the encoder's files directory
(``imagebind_lite.towers.files``), which a saved model carries: it rebuilds without the
directory it came from. Saved models written before that name the directory itself
(``hf_path``) and still load from it.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from imagebind_lite.config import EncoderConfig
from imagebind_lite.errors import InputError
from imagebind_lite.layers import PassThroughStem
from imagebind_lite.towers import hf_tower
from imagebind_lite.towers.files import FILES_KEY, stage_files
from imagebind_lite.trunk_kinds import BuiltTrunk, TrunkKind

HF_POOLS = ("cls", "mean")


class HFTextTrunk(nn.Module):
    """``[B, L]`` token ids -> pooled ``[B, hidden_size]``."""

    def __init__(self, model: nn.Module, pad_token_id: int, pool: str = "cls"):
        super().__init__()
        if pool not in HF_POOLS:
            raise InputError(f"unknown hf_pool {pool!r}; use one of {HF_POOLS}", modality="text")
        self.model = model
        self.pad_token_id = pad_token_id
        self.pool = pool

    @property
    def num_features(self) -> int:
        return int(self.model.config.hidden_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != self.pad_token_id).long()
        mask[:, 0] = 1  # an all-pad row would give NaN attention; keep its first token visible
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        if self.pool == "cls":
            return hidden[:, 0]
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1)


def _model_and_files(config: EncoderConfig) -> tuple[nn.Module, Path]:
    """From the user's directory (weights + a private copy of its files), or rebuilt from the
    encoder's files directory (or, for saved models that predate it, the directory they name)."""
    path = config.trunk.get("hf_path")
    if path:
        return hf_tower.load_model(Path(path)), stage_files(Path(path), "hf_text")
    files = config.data.get(FILES_KEY) or config.data.get("hf_path")
    if not files:
        raise InputError("the Hugging Face text trunk needs trunk={'hf_path': '/local/model/dir'}", modality="text")
    return hf_tower.model_from_files(Path(files)), Path(files)


def build_hf_trunk(config: EncoderConfig) -> BuiltTrunk:
    """The model in ``config.trunk["hf_path"]`` (or its files), and the config to record.

    Tokenisation must follow the trunk's tokenizer, so the recorded data config is derived from
    it; a context longer than the model's position table would fail inside transformers.
    """
    model, files = _model_and_files(config)
    tokenizer = hf_tower.tokenizer(files)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    trunk = HFTextTrunk(model, int(pad), config.trunk.get("hf_pool", "cls"))
    limit = getattr(model.config, "max_position_embeddings", None) or 10**9
    source = config.trunk.get("hf_path")
    recorded = config.replace(
        pool="none",
        trunk={"kind": "hf", "hf_path": None, "output_width": trunk.num_features,
               "initialised_from": source or config.trunk.get("initialised_from")},
    )
    data = {"tokenizer": "hf", FILES_KEY: str(files), "vocab_size": int(model.config.vocab_size),
            "context_length": min(int(config.data.get("context_length", 64)), int(limit))}
    return BuiltTrunk(trunk, EncoderConfig.from_dict({**recorded.to_dict(), "data": data}))


def token_ids_stem(config: EncoderConfig) -> PassThroughStem:
    """Hugging Face models embed the ids themselves; one sample is [context_length] ids."""
    return PassThroughStem(input_ndim=1)


HF_KIND = TrunkKind(build_hf_trunk, keys=("hf_path",), stem=token_ids_stem)

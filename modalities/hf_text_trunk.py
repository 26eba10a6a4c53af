"""A Hugging Face text model from a LOCAL directory as the text trunk.

``transformers.AutoModel.from_pretrained(dir, local_files_only=True)`` (no network, ever),
fed ids padded with the tokenizer's pad token; the attention mask is rebuilt from those pads so
one id tensor per sample is all the encoder sees, like the BPE path. Pooling (``trunk["hf_pool"]``):
- ``"cls"`` (default): the first token's hidden state (BERT's [CLS]);
- ``"mean"``: the mean over non-pad tokens (sentence-transformers style).
The shared ``Head`` (LayerNorm + linear) then projects ``hidden_size`` to the embedding dim.
``HF_KIND`` is the trunk kind the text modality offers as ``"hf"``.
"""
from __future__ import annotations

import torch
from torch import nn

from imagebind_lite.config import EncoderConfig
from imagebind_lite.errors import CheckpointError, InputError
from imagebind_lite.layers import PassThroughStem
from imagebind_lite.modalities.text_tokenizer import hf_tokenizer
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


def create_hf_trunk(trunk: dict) -> HFTextTrunk:
    from transformers import AutoModel  # imported on use: transformers is slow to import

    path = trunk.get("hf_path")
    if not path:
        raise InputError("the Hugging Face text trunk needs trunk={'hf_path': '/local/model/dir'}", modality="text")
    try:
        model = AutoModel.from_pretrained(path, local_files_only=True)
        tokenizer = hf_tokenizer(str(path))
    except (OSError, ValueError) as exc:  # missing dir/files, unknown architecture
        raise CheckpointError(f"cannot load a Hugging Face text model from {path}: {exc}") from exc
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return HFTextTrunk(model, int(pad), trunk.get("hf_pool", "cls"))


def build_hf_trunk(config: EncoderConfig) -> BuiltTrunk:
    """The model in ``config.trunk["hf_path"]``, and the config to record.

    Tokenisation must follow the trunk's directory, so the recorded data config is derived from
    it; a context longer than the model's position table would fail inside transformers.
    """
    trunk = create_hf_trunk(config.trunk)
    limit = getattr(trunk.model.config, "max_position_embeddings", None) or 10**9
    recorded = config.replace(
        pool="none",
        trunk={"kind": "hf", "output_width": trunk.num_features},
        data={"tokenizer": "hf", "hf_path": str(config.trunk["hf_path"]),
              "vocab_size": int(trunk.model.config.vocab_size),
              "context_length": min(int(config.data.get("context_length", 64)), int(limit))},
    )
    return BuiltTrunk(trunk, recorded)


def token_ids_stem(config: EncoderConfig) -> PassThroughStem:
    """Hugging Face models embed the ids themselves; one sample is [context_length] ids."""
    return PassThroughStem(input_ndim=1)


HF_KIND = TrunkKind(build_hf_trunk, keys=("hf_path",), stem=token_ids_stem)

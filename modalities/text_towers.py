"""The text towers of CLIP-family models as text trunks (``"open_clip"``, ``"hf_clip"`` kinds).

``create_encoder("text/open_clip", trunk={"open_clip_model": "ViT-B-32", "pretrained_path": W})``
or ``create_encoder("text/hf_clip", trunk={"hf_clip_path": "/models/clip-vit-base-patch32"})``:
the embedding is the library's own text features (``encode_text``, ``get_text_features``) of
the library's own tokenisation (open_clip's ``get_tokenizer``; the directory's tokenizer padded
to ``context_length`` as the models were trained: CLIP's 77, SigLIP's 64). Kept frozen beside
the matching image tower, it gives zero-shot X -> text for any modality trained against that
image tower: ImageBind's recipe.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from imagebind_lite.config import EncoderConfig
from imagebind_lite.modalities import text_tokenizer
from imagebind_lite.modalities.tower_kinds import TowerSide, hf_sample_ndim, tower_kinds
from imagebind_lite.towers import hf_tower, open_clip_tower
from imagebind_lite.towers.packing import pack

# Longest context a tokenizer may claim before it counts as "no limit" (transformers uses 1e30).
NO_LIMIT = 10**6
DEFAULT_CONTEXT = 64  # when neither the model nor the tokenizer says


def open_clip_data(files: Path, tower: nn.Module, asked: dict) -> dict:
    text_cfg = json.loads((files / open_clip_tower.CONFIG_FILE).read_text())["model_cfg"]["text_cfg"]
    context = int(open_clip_tower.tokenizer(files).context_length)  # the model's positions: not a choice
    return {**asked, "tokenizer": "open_clip", "context_length": context, "vocab_size": int(text_cfg["vocab_size"])}


def hf_data(files: Path, model: nn.Module, asked: dict) -> dict:
    """Context length: the one asked for, capped by the model's positions and the tokenizer's limit."""
    tokenizer = hf_tower.tokenizer(files)
    text_config = getattr(model.config, "text_config", model.config)
    limits = [int(v) for v in (getattr(text_config, "max_position_embeddings", None), tokenizer.model_max_length)
              if v is not None and v < NO_LIMIT]
    limit = min(limits, default=DEFAULT_CONTEXT)
    context = min(int(asked.get("context_length") or limit), limit)
    fields = tokenizer("", padding="max_length", truncation=True, max_length=context, return_tensors="pt")
    layout = pack({name: value[0] for name, value in fields.items()})[1]
    return {**asked, "tokenizer": "hf_tower", "context_length": context,
            "vocab_size": int(getattr(text_config, "vocab_size", len(tokenizer))), "layout": layout}


def example(data: dict) -> torch.Tensor:
    return text_tokenizer.tokenize("a photo", data)


def stem_ndim(config: EncoderConfig) -> int:
    return 1 if config.data.get("tokenizer") == "open_clip" else hf_sample_ndim(config)


TEXT_SIDE = TowerSide("text", hf_data, example, stem_ndim, open_clip_tower.TextTower, open_clip_data)
TEXT_TOWER_KINDS = tower_kinds(TEXT_SIDE)

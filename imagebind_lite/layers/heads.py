"""Heads (norm, pick a token, project to the shared dimension; or nothing, after a trunk that
projects itself) and the L2-normalising post stage."""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


class Head(nn.Module):
    """Tokens [B, N, width] (or pooled [B, width]) -> [B, embed_dim]."""

    def __init__(self, width: int, embed_dim: int, pool: str = "cls", dropout: float = 0.0,
                 bias: bool = False, norm: bool = True):
        super().__init__()
        if pool not in ("cls", "eot", "mean", "none"):
            raise ValueError(f"unknown pool {pool!r}")
        self.pool = pool
        self.norm = nn.LayerNorm(width, eps=1e-6) if norm else nn.Identity()
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.proj = nn.Linear(width, embed_dim, bias=bias)

    def select(self, tokens: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        if tokens.dim() == 2 or self.pool == "none":
            return tokens
        if self.pool == "cls":
            return tokens[:, 0]
        if self.pool == "mean":
            return tokens.mean(dim=1)
        # End-of-text pooling: the EOT token has the largest id in CLIP's BPE vocabulary.
        return tokens[torch.arange(tokens.shape[0], device=tokens.device), inputs.argmax(dim=-1)]

    def forward(self, tokens: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return self.proj(self.dropout(self.select(self.norm(tokens), inputs)))


class IdentityHead(nn.Module):
    """For trunks whose output already is the shared embedding (a CLIP-family tower ends in its
    own projection): a second, random projection would only scramble it."""

    def forward(self, features: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return features


class Normalize(nn.Module):
    """L2 normalisation, optionally times ImageBind's per-modality post scale.

    Training temperatures live in the loss; ``scale`` exists only so converted ImageBind
    checkpoints reproduce the official (scaled) outputs.
    """

    def __init__(self, scale: Optional[float] = None, learnable: bool = False, max_scale: float = 100.0):
        super().__init__()
        self.max_scale = max_scale
        self.log_scale: Optional[torch.Tensor]
        if scale is None:
            self.register_parameter("log_scale", None)
        elif learnable:
            self.log_scale = nn.Parameter(torch.tensor(math.log(scale)))
        else:
            self.register_buffer("log_scale", torch.tensor(math.log(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.normalize(x, dim=-1)
        if self.log_scale is None:
            return x
        return x * self.log_scale.exp().clamp(max=self.max_scale)

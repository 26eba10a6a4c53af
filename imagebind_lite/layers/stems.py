"""Stems: raw tensors -> token sequences with a class token and learned position embeddings.

``Stem`` is the base every stem derives from: it declares what the encoder needs to know about
the input (the dimensions of one sample, whether a shorter sequence works). ``PatchStem`` wraps any projection (Conv2d/Conv3d patchify, or a Linear over unfolded
windows) the way ImageBind's ``PatchEmbedGeneric`` + ``RGBDTPreprocessor`` do: project, flatten,
optional LayerNorm, prepend the class token, add position embeddings. ``TokenStem`` embeds
token ids for text (no class token; the head pools the end-of-text token). ``PassThroughStem``
hands the sample to a trunk that reads raw input itself (a timm CNN, a Hugging Face model).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn


class Stem(nn.Module):
    """Raw sample batch -> what the trunk reads. Subclasses set ``input_ndim``.

    ``input_ndim``: dimensions of ONE sample (3 for [C, H, W]); the encoder tells a batch
    ``[B, *sample]`` from several clips per row ``[B, S, *sample]`` by it.
    ``accepts_shorter_inputs``: a prefix of the sample's last axis works too (token ids whose
    positions are looked up), so a modality's input step may cut a batch short.
    """

    input_ndim: int
    accepts_shorter_inputs: bool = False


class PassThroughStem(Stem):
    """The sample goes to the trunk as it is: for trunks with their own input layers."""

    def __init__(self, input_ndim: int):
        super().__init__()
        self.input_ndim = input_ndim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class PatchStem(Stem):
    def __init__(self, proj: nn.Module, num_patches: int, width: int, input_ndim: int,
                 norm_eps: Optional[float] = None, cls_token: bool = True):
        super().__init__()
        self.proj = proj
        self.input_ndim = input_ndim  # dims of ONE sample, e.g. 3 for [C, H, W]
        self.norm = nn.LayerNorm(width, eps=norm_eps) if norm_eps is not None else nn.Identity()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width)) if cls_token else None
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + int(cls_token), width))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.proj(x)
        if tokens.dim() > 3:  # conv output [B, W, *grid] -> [B, N, W]
            tokens = tokens.flatten(2).transpose(1, 2)
        tokens = self.norm(tokens)
        if self.cls_token is not None:
            tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        if tokens.shape[1] != self.pos_embed.shape[1]:
            raise ValueError(
                f"input gives {tokens.shape[1]} tokens but the stem was built for {self.pos_embed.shape[1]}; "
                "the input size does not match the encoder's data config"
            )
        return tokens + self.pos_embed


class TokenStem(Stem):
    input_ndim = 1  # one sample is a [context_length] vector of token ids
    accepts_shorter_inputs = True  # positions are looked up, so a prefix of the context works

    def __init__(self, vocab_size: int, width: int, context_length: int):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.pos_embed = nn.Parameter(torch.zeros(1, context_length, width))
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.pos_embed, std=0.01)

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        return self.token_embedding(token_ids) + self.pos_embed[:, : token_ids.shape[1]]

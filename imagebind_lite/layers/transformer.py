"""Pre-norm transformer trunk on ``torch.nn.functional.scaled_dot_product_attention``.

Layout follows ImageBind's ``BlockWithMasking`` (pre-norm, LayerNorm eps 1e-6, GELU MLP,
stochastic depth, optional learned extra key/value token = ``nn.MultiheadAttention``'s
``add_bias_kv``) so official checkpoints map onto it one-to-one. Attention calls SDPA directly,
batch-first (ImageBind runs sequence-first through ``nn.MultiheadAttention``, which reaches the
same SDPA kernel when ``need_weights=False``: the speed is equal, see benchmarks/RESULTS.md),
and a plain causal trunk says ``is_causal`` rather than passing a mask.
References: ImageBind (Girdhar et al. 2023), timm ``vision_transformer.Block``.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from timm.layers import DropPath, Mlp
from torch import nn


class Attention(nn.Module):
    def __init__(self, width: int, num_heads: int, extra_kv: bool = False):
        super().__init__()
        if width % num_heads:
            raise ValueError(f"width {width} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(width, 3 * width)  # same packing as MultiheadAttention.in_proj_weight
        self.proj = nn.Linear(width, width)
        # ImageBind's audio/depth/thermal/imu trunks append one learned key and value token.
        self.bias_k = nn.Parameter(torch.zeros(1, 1, width)) if extra_kv else None
        self.bias_v = nn.Parameter(torch.zeros(1, 1, width)) if extra_kv else None

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        mask: Optional[torch.Tensor] = None
        if self.bias_k is not None:
            k = torch.cat([k, self.bias_k.expand(batch, 1, width)], dim=1)
            v = torch.cat([v, self.bias_v.expand(batch, 1, width)], dim=1)
            if causal:
                mask = torch.ones(length, k.shape[1], dtype=torch.bool, device=x.device).tril()
                mask[:, -1] = True  # the extra token is visible to every position
        # A plain causal trunk says so with is_causal: no mask is materialised, and GPUs can use
        # flash attention (a mask rules it out).
        is_causal = causal and mask is None
        q, k, v = (t.reshape(batch, -1, self.num_heads, width // self.num_heads).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)
        return self.proj(out.transpose(1, 2).reshape(batch, length, width))


class Block(nn.Module):
    def __init__(self, width: int, num_heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0,
                 extra_kv: bool = False, layer_scale: Optional[float] = None):
        super().__init__()
        self.norm_1 = nn.LayerNorm(width, eps=1e-6)
        self.attn = Attention(width, num_heads, extra_kv)
        self.norm_2 = nn.LayerNorm(width, eps=1e-6)
        self.mlp = Mlp(width, int(width * mlp_ratio), act_layer=nn.GELU)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.gamma_1 = nn.Parameter(torch.full((width,), layer_scale)) if layer_scale else None
        self.gamma_2 = nn.Parameter(torch.full((width,), layer_scale)) if layer_scale else None

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        attended = self.attn(self.norm_1(x), causal)
        x = x + self.drop_path(attended if self.gamma_1 is None else attended * self.gamma_1)
        fed = self.mlp(self.norm_2(x))
        return x + self.drop_path(fed if self.gamma_2 is None else fed * self.gamma_2)


class Transformer(nn.Module):
    """Tokens [B, N, width] -> tokens [B, N, width]."""

    def __init__(self, width: int, depth: int, num_heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0,
                 causal: bool = False, extra_kv: bool = False, pre_norm: bool = False,
                 layer_scale: Optional[float] = None):
        super().__init__()
        self.causal = causal
        self.pre_norm = nn.LayerNorm(width, eps=1e-6) if pre_norm else nn.Identity()
        # Plain floats (not torch.linspace) so the trunk can be built on the meta device.
        rates = [drop_path * i / (depth - 1) if depth > 1 else 0.0 for i in range(depth)]
        self.blocks = nn.ModuleList(
            Block(width, num_heads, mlp_ratio, rate, extra_kv, layer_scale) for rate in rates
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = self.pre_norm(tokens)
        for block in self.blocks:
            tokens = block(tokens, self.causal)
        return tokens

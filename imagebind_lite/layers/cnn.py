"""A small convolutional trunk for little data: conv-BN-ReLU blocks, downsampling, global pooling.

Convolutions share weights across positions and see only neighbourhoods, so a few hundred
samples are enough to learn them; a transformer over patches must first learn that locality
from the data, and with little of it memorises the training set instead (on speech from unseen
voices a 3-layer CNN on log-mel beat the tiny transformer preset by a wide margin). The design
follows the audio taggers of PANNs (Kong et al. 2020, "PANNs: Large-Scale Pretrained Audio
Neural Networks", CNN6/CNN10): blocks of 3x3 convolutions with batch norm and ReLU, 2x2 average
pooling and dropout between blocks, then the mean plus the maximum over all positions (the mean
hears what is spread over the clip, the max a short event). The same module runs 1-D (sensor
channels over time) or 2-D (log-mel, depth, thermal maps): only the layer types change.
"""
from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

POOLS = ("avgmax", "avg", "max")
NORMS = ("batch", "group")
_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}
GROUP_SIZE = 8  # channels per group of the group-norm option


def _norm(kind: str, spatial_dims: int, channels: int) -> nn.Module:
    if kind == "batch":
        return _BATCH_NORM[spatial_dims](channels)
    return nn.GroupNorm(max(1, channels // GROUP_SIZE), channels)


class Downsample(nn.Module):
    """Average pooling by 2 along every spatial axis still longer than 1 (so a short input, a
    narrow map or a deep stack never shrinks an axis to nothing)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = tuple(2 if size >= 2 else 1 for size in x.shape[2:])
        if all(k == 1 for k in kernel):
            return x
        pool = F.avg_pool1d if x.dim() == 3 else F.avg_pool2d
        return pool(x, kernel)


class ConvBlock(nn.Sequential):
    """``convs`` x (conv, norm, ReLU); the bias is left out since the norm adds one."""

    def __init__(self, in_chans: int, out_chans: int, spatial_dims: int, kernel_size: int, convs: int,
                 norm: str = "batch"):
        layers: list[nn.Module] = []
        for index in range(convs):
            layers += [
                _CONV[spatial_dims](in_chans if index == 0 else out_chans, out_chans, kernel_size,
                                    padding=kernel_size // 2, bias=False),
                _norm(norm, spatial_dims, out_chans),
                nn.ReLU(inplace=True),
            ]
        super().__init__(*layers)


class ConvNet(nn.Module):
    """``[B, in_chans, *spatial]`` (1 or 2 spatial axes) -> pooled features ``[B, channels[-1]]``.

    One block per entry of ``channels``; every block but the last is followed by downsampling
    and dropout (regularisation that matters most when data is scarce). ``norm="group"`` swaps
    batch norm for group norm where batch statistics do not fit: gradient caching (it runs each
    chunk twice, so batch norm's running statistics would be updated twice) or batches of one.
    """

    def __init__(self, in_chans: int, channels: Sequence[int], spatial_dims: int = 2, kernel_size: int = 3,
                 convs_per_block: int = 1, pool: str = "avgmax", dropout: float = 0.1, norm: str = "batch"):
        super().__init__()
        if spatial_dims not in _CONV:
            raise ValueError(f"ConvNet runs over 1 or 2 spatial axes, not {spatial_dims}")
        if pool not in POOLS:
            raise ValueError(f"unknown pool {pool!r}; use one of {', '.join(POOLS)}")
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; use one of {', '.join(NORMS)}")
        if not channels or kernel_size < 1 or kernel_size % 2 == 0 or convs_per_block < 1:
            raise ValueError("ConvNet needs at least one block, an odd kernel size and a conv per block")
        self.spatial_dims, self.pool = spatial_dims, pool
        self.num_features = int(channels[-1])
        layers: list[nn.Module] = []
        widths = [in_chans, *channels]
        for index, (width_in, width_out) in enumerate(pairwise(widths)):
            layers.append(ConvBlock(width_in, int(width_out), spatial_dims, kernel_size, convs_per_block, norm))
            if index < len(channels) - 1:
                layers += [Downsample(), nn.Dropout(dropout) if dropout else nn.Identity()]
        self.blocks = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Conv1d, nn.Conv2d)):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self.spatial_dims + 2:
            raise ValueError(f"expected [B, channels, {'length' if self.spatial_dims == 1 else 'height, width'}], "
                             f"got shape {tuple(x.shape)}")
        features = self.blocks(x).flatten(2)  # [B, C, positions]
        if self.pool == "avg":
            return features.mean(dim=-1)
        if self.pool == "max":
            return features.amax(dim=-1)
        return features.mean(dim=-1) + features.amax(dim=-1)

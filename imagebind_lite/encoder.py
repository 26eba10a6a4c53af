"""The four-stage encoder: ``stem -> trunk -> head -> post`` (ImageBind's decomposition).

An ``Encoder`` only runs its stages; which stages it gets is decided by the modality's build
hooks (``modality.py``). It carries the ``EncoderConfig`` it was built from (so ``config.data``
drives its preprocessing), and accepts either one item per row ``[B, *sample]`` or several clips
per row ``[B, S, *sample]``, whose embeddings are averaged (ImageBind's audio clips, prompt
ensembles for text).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from imagebind_lite.config import EncoderConfig
from imagebind_lite.errors import InputError
from imagebind_lite.layers import Stem


class Encoder(nn.Module):
    """``prepare`` (optional) sees the batch before the stem: modality-specific handling of the
    input that changes no result, such as text cutting positions no output can see."""

    def __init__(self, config: EncoderConfig, stem: Stem, trunk: nn.Module, head: nn.Module, post: nn.Module,
                 prepare: Optional[nn.Module] = None):
        super().__init__()
        if not isinstance(stem, Stem):
            # The encoder reads the sample rank from the stem to tell batches from clip stacks.
            raise TypeError(f"the {config.modality!r} stem must derive from imagebind_lite.layers.Stem "
                            f"(it declares input_ndim), got {type(stem).__name__}")
        self.config = config
        self.stem, self.trunk, self.head, self.post = stem, trunk, head, post
        self.prepare = prepare if prepare is not None else nn.Identity()

    @property
    def modality(self) -> str:
        return self.config.modality

    @property
    def data_config(self) -> dict:
        return self.config.data

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_floating_point():  # a bf16/fp16 encoder (load_model(dtype=...)) takes float32 inputs too
            x = x.to(next(self.parameters()).dtype)
        sample_ndim = self.stem.input_ndim
        clips = None
        if x.dim() == sample_ndim + 2:
            clips = x.shape[1]
            x = x.flatten(0, 1)
        elif x.dim() != sample_ndim + 1:
            raise InputError(
                f"expected a batch of {sample_ndim}-d samples ([B, ...] or [B, clips, ...]), got shape {tuple(x.shape)}",
                modality=self.modality,
            )
        x = self.prepare(x)
        embeddings = self.post(self.head(self.trunk(self.stem(x)), x))
        if clips is None:
            return embeddings
        averaged = embeddings.reshape(-1, clips, embeddings.shape[-1]).mean(dim=1)
        # Unit-norm encoders stay unit norm; scaled (ImageBind-converted) ones keep ImageBind's mean.
        return F.normalize(averaged, dim=-1) if self.config.output_scale is None else averaged

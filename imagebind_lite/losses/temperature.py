"""The learnable (or fixed) logit scale of a pair, and the SigLIP logit bias.

References: Radford et al. 2021 (CLIP: learnable log-scale, init log(1/0.07), capped at 100);
Girdhar et al. 2023 (ImageBind: fixed scales for some pairs); Zhai et al. 2023 (SigLIP:
``t' = log 10`` and a learnable bias ``b = -10``).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class Temperature(nn.Module):
    """The logit scale of one pair: ``logits = scale * a @ b.T``.

    Learnable: stored as ``log_scale`` (an ``nn.Parameter``), so the optimiser works in log
    space as in CLIP; ``scale`` is clamped to [min_scale, max_scale] (gradient zero outside,
    as in ImageBind). Fixed: ``log_scale`` is a buffer, still saved in the state dict so a
    saved model records the scale it was trained with.
    """

    def __init__(
        self,
        init: float = 1 / 0.07,
        learnable: bool = True,
        min_scale: float = 1.0,
        max_scale: float = 100.0,
    ):
        super().__init__()
        if not 0 < min_scale <= max_scale:
            raise ValueError(f"need 0 < min_scale <= max_scale, got {min_scale}, {max_scale}")
        if not min_scale <= init <= max_scale:
            raise ValueError(f"init scale {init} outside [{min_scale}, {max_scale}]")
        self.learnable = learnable
        self.min_scale = float(min_scale)
        self.max_scale = float(max_scale)
        log_init = torch.tensor(math.log(init), dtype=torch.float32)
        if learnable:
            self.log_scale = nn.Parameter(log_init)
        else:
            self.register_buffer("log_scale", log_init)

    @classmethod
    def fixed(cls, scale: float) -> "Temperature":
        """A constant scale (ImageBind: audio 20, depth 5, thermal 10, imu 5). The range is
        the default one widened to hold ``scale``, so a loaded state dict is not clamped."""
        return cls(init=scale, learnable=False, min_scale=min(1.0, scale), max_scale=max(100.0, scale))

    @property
    def scale(self) -> Tensor:
        """The clamped scale as a 0-d tensor, differentiable w.r.t. ``log_scale``."""
        low, high = math.log(self.min_scale), math.log(self.max_scale)
        return self.log_scale.clamp(low, high).exp()

    @property
    def value(self) -> float:
        """The current scale as a float, for logging (it syncs with the device)."""
        return float(self.scale.detach())

    @property
    def temperature(self) -> float:
        """tau = 1 / scale, the quantity papers call the temperature."""
        return 1.0 / self.value

    @torch.no_grad()
    def clamp_(self) -> "Temperature":
        """Pull ``log_scale`` back into range in place (open_clip does this after each step),
        so a parameter pushed past a bound does not stay stuck where its gradient is zero."""
        self.log_scale.clamp_(math.log(self.min_scale), math.log(self.max_scale))
        return self

    def forward(self) -> Tensor:
        return self.scale

    def extra_repr(self) -> str:
        kind = "learnable" if self.learnable else "fixed"
        return f"{kind}, scale={self.value:.4g}, range=[{self.min_scale:g}, {self.max_scale:g}]"


class LogitBias(nn.Module):
    """The additive logit bias of the sigmoid loss: ``logits = scale * a @ b.T + bias``.

    SigLIP starts it at -10 so that the (overwhelmingly negative) pairs of a large batch begin
    with a small loss instead of a huge correction that would dominate the first steps. A
    fixed bias is a buffer, saved like a fixed ``Temperature``.
    """

    def __init__(self, init: float = -10.0, learnable: bool = True):
        super().__init__()
        self.learnable = learnable
        value = torch.tensor(float(init), dtype=torch.float32)
        if learnable:
            self.bias = nn.Parameter(value)
        else:
            self.register_buffer("bias", value)

    @property
    def value(self) -> float:
        return float(self.bias.detach())

    def forward(self) -> Tensor:
        return self.bias

    def extra_repr(self) -> str:
        return f"{'learnable' if self.learnable else 'fixed'}, bias={self.value:.4g}"

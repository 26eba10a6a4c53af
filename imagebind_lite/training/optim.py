"""AdamW with linear warmup then cosine decay, and weight-decay parameter groups.

Weight decay is applied to matrices (linear/conv weights) only: norms, biases, temperatures
(log-scales), class tokens and position embeddings are excluded, as in CLIP/open_clip and
timm's ``no_weight_decay``. References: Loshchilov & Hutter 2019 (AdamW, SGDR cosine);
Radford et al. 2021 (CLIP training recipe). Frozen parameters are left out entirely.
"""
from __future__ import annotations

import math
from typing import Iterable, List, Optional, Tuple

import torch
from torch import nn

# Parameter-name fragments never decayed, whatever their shape.
NO_DECAY_NAMES = ("log_scale", "cls_token", "pos_embed", "bias_k", "bias_v", "gamma_")


def _no_decay(name: str, param: torch.Tensor) -> bool:
    return param.ndim < 2 or any(fragment in name for fragment in NO_DECAY_NAMES)


def param_groups(named_params: Iterable[Tuple[str, nn.Parameter]], weight_decay: float) -> List[dict]:
    """Two AdamW groups (decay / no decay) over the trainable parameters."""
    decay, no_decay = [], []
    for name, param in named_params:
        if not param.requires_grad:
            continue
        (no_decay if _no_decay(name, param) else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]


def warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0) -> float:
    """LR multiplier: linear 0 -> 1 over ``warmup_steps``, then cosine 1 -> ``min_lr_ratio``."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_optimizer(named_params, lr: float, weight_decay: float, betas=(0.9, 0.98), eps: float = 1e-6,
                    precision: Optional[str] = None):
    """AdamW over ``param_groups`` (CLIP's betas and eps by default), with the fastest CPU kernel
    that the run's Lightning ``precision`` allows (``fast_kernel``)."""
    groups = param_groups(named_params, weight_decay)
    if not groups:
        raise ValueError("no trainable parameters: every encoder is frozen")
    return _KernelKeepingAdamW(groups, lr=lr, betas=tuple(betas), eps=eps, **fast_kernel(groups, precision))


class _KernelKeepingAdamW(torch.optim.AdamW):
    """AdamW that keeps the kernel it was built with when it loads a saved state.

    torch's ``load_state_dict`` takes each group's options from the saved state, ``fused`` and
    ``foreach`` included, so a run saved at full precision (fused) and resumed under mixed
    precision with clipping would inherit the fused kernel that Lightning refuses there.
    """

    def load_state_dict(self, state_dict) -> None:
        kernels = [{key: group.get(key) for key in ("fused", "foreach")} for group in self.param_groups]
        super().load_state_dict(state_dict)
        for group, kernel in zip(self.param_groups, kernels):
            group.update(kernel)


def fast_kernel(groups: List[dict], precision: Optional[str] = None) -> dict:
    """Which AdamW kernel to ask for when every parameter is a plain floating tensor on the CPU.

    On the CPU torch otherwise picks the per-tensor loop, and the update of a text encoder's
    token table (tens of thousands of rows) then costs as much as a small model's backward. The
    fused kernel reads and writes each parameter and its two moments once per step: for the tiny
    text encoder (3.3M parameters, mostly its token table) it updates in 2.5 ms where the
    multi-tensor kernel takes 12 ms and the per-tensor loop more still, the same update up to
    float rounding. It is used for float32 parameters in a known full-precision run
    (``precision`` ``"32-true"``, ``"64-true"``...): under mixed precision the fused kernel
    unscales gradients itself, which Lightning refuses together with gradient clipping, so there
    (and when the precision is not known) the multi-tensor kernel is used. CUDA already defaults to the multi-tensor kernel,
    and sharded parameters (FSDP's DTensors) keep torch's choice.
    """
    params = [p for group in groups for p in group["params"]]
    if not all(type(p.data) is torch.Tensor and p.is_floating_point() and p.device.type == "cpu" for p in params):
        return {}
    if _full_precision(precision) and all(p.dtype == torch.float32 for p in params):
        return {"fused": True}
    return {"foreach": True}


def trainer_precision(module) -> Optional[str]:
    """The precision of the Trainer ``module`` is attached to (None when it is not attached)."""
    trainer = getattr(module, "_trainer", None)
    return None if trainer is None else str(trainer.precision)


def _full_precision(precision: Optional[str]) -> bool:
    return precision is not None and str(precision) in ("32", "32-true", "64", "64-true")


def build_scheduler(optimizer, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0):
    """A per-step ``LambdaLR`` implementing ``warmup_cosine_factor``."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine_factor(step, warmup_steps, total_steps, min_lr_ratio))

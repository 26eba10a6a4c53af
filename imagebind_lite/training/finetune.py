"""Partial fine-tuning of a pretrained modality encoder: last-N blocks, or LoRA via ``peft``.

For users who start a modality encoder from pretrained weights (ImageBind-LoRA's use case):
``unfreeze_last_n_blocks`` trains only the last N trunk blocks plus the head; ``LoraSpec``
injects low-rank adapters (Hu et al. 2021) into the trunk's linear layers through peft's
``inject_adapter_in_model`` and trains only them (plus the head). At export the adapters are
merged into the weights so the saved model is a plain encoder (``merged_copy``).

Which Linear layers get adapters: ``LoraSpec.target_modules`` when given; else the trunk's own
``lora_targets`` (a pretrained library model names its attention and MLP layers its own way,
``query``/``key``/``value`` or ``q_proj``/``k_proj``/..., and renames them across versions); else the
built-in transformer's ``qkv``/``proj``/``fc1``/``fc2``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import List, Optional

from torch import nn

from imagebind_lite.errors import ImageBindLiteError

TRANSFORMER_TARGETS = ["qkv", "proj", "fc1", "fc2"]  # the Linear layers of the built-in transformer


@dataclass
class LoraSpec:
    """LoRA adapters for one encoder's trunk."""

    rank: int = 8                    # r, the adapter rank
    alpha: float = 16.0              # scaling numerator: the update is (alpha / r) * B @ A
    dropout: float = 0.0             # dropout on the adapter input
    # names of the trunk's Linear layers that get adapters; None: the trunk's own (module docstring)
    target_modules: Optional[List[str]] = None
    train_head: bool = True          # also train the head (projection to the shared space)


def freeze_all_but_last_blocks(encoder: nn.Module, n: int) -> None:
    """Freeze the encoder except its last ``n`` trunk blocks and its head (n=0: head only)."""
    blocks = getattr(encoder.trunk, "blocks", None)
    if blocks is None:
        raise ImageBindLiteError(f"encoder {type(encoder.trunk).__name__} has no .blocks to unfreeze")
    if not 0 <= n <= len(blocks):
        raise ImageBindLiteError(f"unfreeze_last_n_blocks={n} but the trunk has {len(blocks)} blocks")
    encoder.requires_grad_(False)
    for block in list(blocks)[len(blocks) - n:]:
        block.requires_grad_(True)
    encoder.head.requires_grad_(True)


def _peft():
    try:
        import peft
    except ImportError as exc:  # optional dependency: say how to get it
        raise ImportError(
            "LoRA fine-tuning needs peft: pip install 'imagebind-lite[lora]' (or pip install peft)") from exc
    return peft


def add_lora(encoder: nn.Module, spec: LoraSpec) -> nn.Module:
    """Inject LoRA adapters into ``encoder.trunk`` in place; only adapters (and head) train."""
    peft = _peft()
    targets = spec.target_modules or getattr(encoder.trunk, "lora_targets", None) or TRANSFORMER_TARGETS
    config = peft.LoraConfig(r=spec.rank, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                             target_modules=list(targets))
    encoder.requires_grad_(False)
    encoder.trunk = peft.inject_adapter_in_model(config, encoder.trunk)
    for name, param in encoder.trunk.named_parameters():
        param.requires_grad_("lora_" in name)
    if spec.train_head:
        encoder.head.requires_grad_(True)
    return encoder


def has_lora(encoder: nn.Module) -> bool:
    return any("lora_" in name for name, _ in encoder.named_parameters())


def merged_copy(encoder: nn.Module) -> nn.Module:
    """A copy of ``encoder`` with LoRA adapters merged into plain Linear layers."""
    if not has_lora(encoder):
        return encoder
    from peft.tuners.lora import LoraLayer

    clone = copy.deepcopy(encoder)
    for parent in list(clone.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, LoraLayer):
                child.merge()
                setattr(parent, child_name, child.get_base_layer())
    return clone

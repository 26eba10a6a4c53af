"""One tensor per sample from a processor's several outputs, and back.

Encoders take one tensor per sample (so batches stack, clips average, and DataLoaders need no
special collate), while Hugging Face processors return several: SigLIP2's image processor gives
patches, a patch mask and the patch grid's shape; tokenizers give ids and an attention mask.
``pack`` flattens them into one vector (integers stay integers when every field is one) and
returns the layout; ``unpack`` restores the fields of a batch of such vectors from the layout,
which the encoder's data config records. A single field is passed through unchanged.
"""
from __future__ import annotations

import math
from typing import Dict, List, Mapping, Tuple

import torch

Layout = List[list]  # [[name, shape, dtype name], ...] (JSON-friendly)


def pack(fields: Mapping[str, torch.Tensor]) -> Tuple[torch.Tensor, Layout]:
    """One sample's fields (no batch axis) -> (tensor, layout)."""
    names = sorted(fields)
    layout = [[name, list(fields[name].shape), str(fields[name].dtype).replace("torch.", "")] for name in names]
    if len(names) == 1:
        return fields[names[0]], layout
    integral = all(not fields[name].is_floating_point() for name in names)
    dtype = torch.int64 if integral else torch.float32
    return torch.cat([fields[name].reshape(-1).to(dtype) for name in names]), layout


def unpack(batch: torch.Tensor, layout: Layout) -> Dict[str, torch.Tensor]:
    """A batch of packed samples ``[B, ...]`` -> ``{name: [B, *shape]}`` in each field's dtype."""
    if len(layout) == 1:
        name, _, dtype = layout[0]
        return {name: _restore(batch, dtype)}
    out, start = {}, 0
    for name, shape, dtype in layout:
        size = math.prod(shape)
        out[name] = _restore(batch[:, start:start + size].reshape(batch.shape[0], *shape), dtype)
        start += size
    return out


def _restore(value: torch.Tensor, dtype_name: str) -> torch.Tensor:
    target = getattr(torch, dtype_name)
    if target.is_floating_point:  # float fields keep the encoder's dtype (a bf16 model takes bf16 pixels)
        return value if value.is_floating_point() else value.to(target)
    return value.round().to(target) if value.is_floating_point() else value.to(target)


def sample_ndim(layout: Layout) -> int:
    """Dimensions of one packed sample (what the encoder's stem declares)."""
    return len(layout[0][1]) if len(layout) == 1 else 1

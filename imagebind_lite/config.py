"""Encoder configuration: one dataclass that fully describes an encoder, JSON-serialisable.

A preset is just an ``EncoderConfig``; a saved model stores the configs in ``config.json`` so
it can be rebuilt without pickle. Modality-specific knobs live in the free-form ``stem``,
``trunk`` and ``data`` dicts, read only by the modality that owns them (the core never looks
inside), which keeps one generic config instead of a constructor listing every modality.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class EncoderConfig:
    modality: str                        # registered modality name, e.g. "audio"
    preset: str = "custom"               # preset name it was built from, e.g. "tiny"
    embed_dim: int = 64                  # D, the shared embedding space's dimension
    width: int = 64                      # token width inside the trunk
    depth: int = 2                       # number of transformer blocks
    num_heads: int = 4                   # attention heads per block
    mlp_ratio: float = 4.0               # MLP hidden size / width
    drop_path: float = 0.0               # stochastic depth rate at the last block (linear ramp)
    causal: bool = False                 # causal attention mask (text)
    extra_kv: bool = False               # learned extra key/value token (ImageBind add_bias_kv)
    pre_norm: bool = False               # LayerNorm on tokens before the first block (CLIP ln_pre)
    pool: str = "cls"                    # token the head selects: "cls" (first), "eot" (argmax id), "mean", "none"
    head_dropout: float = 0.0            # dropout before the head projection (ImageBind imu: 0.5)
    head_bias: bool = False              # bias on the head projection
    output_scale: Optional[float] = None # ImageBind post-scale (e.g. audio 20); None = unit norm
    learnable_output_scale: bool = False # ImageBind text learns its post-scale
    stem: dict = field(default_factory=dict)   # modality-specific stem knobs (patch size, vocab...)
    trunk: dict = field(default_factory=dict)  # trunk kind and knobs, e.g. {"kind": "timm", "timm_model": "resnet18"}
    data: dict = field(default_factory=dict)   # data config: sizes, rates, mean/std; transforms read it

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "EncoderConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown EncoderConfig fields {sorted(unknown)}")
        return cls(**values)

    def replace(self, **changes: Any) -> "EncoderConfig":
        """A copy with some fields changed; dict fields are merged, not replaced."""
        merged = {}
        for key, value in changes.items():
            current = getattr(self, key)
            merged[key] = {**current, **value} if isinstance(current, dict) and isinstance(value, dict) else value
        return dataclasses.replace(self, **merged)

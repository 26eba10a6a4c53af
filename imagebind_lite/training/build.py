"""Building what an alignment run trains: encoders from presets or saved models, temperatures,
and each pair's loss (InfoNCE or sigmoid).

Kept apart from the LightningModule so the demo, the CLI and tests build the same pieces.
An encoder spec string is a preset (``"tiny"`` or ``"audio/tiny"``) or a saved-model directory
(``imagebind_lite.save_model`` format) holding that modality's encoder.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

from imagebind_lite.encoder import Encoder
from imagebind_lite.errors import InputError
from imagebind_lite.factory import create_encoder
from imagebind_lite.losses import LogitBias, Temperature
from imagebind_lite.model import load_model
from imagebind_lite.registry import get_modality


@dataclass
class TemperatureSpec:
    """The logit scale of one (image, X) pair."""

    init: float = 1 / 0.07    # initial scale 1/tau (CLIP: 1/0.07 ~ 14.3)
    learnable: bool = True    # learn log(scale) (CLIP, ImageBind text) or keep it fixed (ImageBind audio...)
    min_scale: float = 1.0    # clamp range of a learnable scale
    max_scale: float = 100.0  # CLIP's cap

    def build(self) -> Temperature:
        if not self.learnable:
            return Temperature.fixed(self.init)
        return Temperature(self.init, learnable=True, min_scale=self.min_scale, max_scale=self.max_scale)


TemperatureLike = Union[TemperatureSpec, float, Mapping[str, Any], None]
LOSS_KINDS = ("infonce", "sigmoid")


@dataclass
class LossSpec:
    """The contrastive loss of one (image, X) pair."""

    kind: str = "infonce"        # "infonce" (softmax: CLIP, ImageBind) or "sigmoid" (SigLIP)
    bias_init: float = -10.0     # sigmoid only: initial logit bias (SigLIP's -10)
    learnable_bias: bool = True  # sigmoid only: learn the bias (SigLIP) or keep it fixed

    def __post_init__(self):
        if self.kind not in LOSS_KINDS:
            raise InputError(f"loss kind must be one of {LOSS_KINDS}, got {self.kind!r}")

    def default_temperature(self) -> TemperatureSpec:
        """CLIP's learnable 1/0.07 for InfoNCE; SigLIP's learnable 10 for the sigmoid loss."""
        return TemperatureSpec(init=10.0) if self.kind == "sigmoid" else TemperatureSpec()

    def build_bias(self) -> Optional[LogitBias]:
        return LogitBias(self.bias_init, self.learnable_bias) if self.kind == "sigmoid" else None


def as_loss_spec(value: Union[LossSpec, str, Mapping[str, Any], None]) -> LossSpec:
    """A spec from a spec, a kind name ("infonce", "sigmoid"), a dict of fields, or None (InfoNCE)."""
    if value is None:
        return LossSpec()
    if isinstance(value, LossSpec):
        return value
    if isinstance(value, str):
        return LossSpec(kind=value)
    if isinstance(value, Mapping):
        return LossSpec(**dict(value))
    raise InputError(f"cannot read a loss from {value!r}")


def as_temperature_spec(value: TemperatureLike, default: Optional[TemperatureSpec] = None) -> TemperatureSpec:
    """A spec from a spec, a float (a fixed scale), a dict of spec fields, or None (``default``,
    else CLIP's learnable 1/0.07)."""
    if value is None:
        return default if default is not None else TemperatureSpec()
    if isinstance(value, TemperatureSpec):
        return value
    if isinstance(value, (int, float)):
        return TemperatureSpec(init=float(value), learnable=False)
    if isinstance(value, Mapping):
        return TemperatureSpec(**dict(value))
    raise InputError(f"cannot read a temperature from {value!r}")


def plain(value: Any) -> Any:
    """Dataclasses -> dicts, recursively: checkpoints then load with ``weights_only=True``
    (torch >= 2.6's default, which refuses to unpickle arbitrary classes)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    return value


def plain_hparams(module) -> None:
    """Make a Lightning module's saved hyper-parameters plain (see ``plain``)."""
    for key in list(module.hparams):
        module.hparams[key] = plain(module.hparams[key])


def load_encoder(spec: str, modality: str, overrides: Optional[Dict[str, Any]] = None,
                 embed_dim: Optional[int] = None) -> Encoder:
    """An encoder for ``modality`` from a preset name or a saved-model directory.

    ``embed_dim``: the shared dimension a preset is built with unless ``overrides`` set one (the
    pivot's, so a modality aligned to a CLIP tower gets that tower's size without being told).
    """
    path = Path(str(spec)).expanduser()
    if path.is_dir():
        if overrides:
            raise InputError("encoder_overrides apply to presets, not to saved models", modality=modality,
                             source=str(path))
        model = load_model(path, modalities=[modality])
        if modality not in model.modalities:
            raise InputError(f"saved model has no {modality!r} encoder", modality=modality, source=str(path))
        return model.encoder(modality).train()
    name = spec if "/" in spec else f"{modality}/{spec}"
    modality_spec = get_modality(modality)
    if not name.startswith(f"{modality}/") or not modality_spec.has_preset(name.split("/", 1)[1]):
        raise InputError(f"{spec!r} is neither a saved-model directory nor a {modality!r} preset "
                         f"(presets: {', '.join(sorted(modality_spec.presets()))})", modality=modality,
                         source=str(spec))
    return create_encoder(name, **{**({"embed_dim": embed_dim} if embed_dim else {}), **(overrides or {})})

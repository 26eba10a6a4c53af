"""The ``"cnn"`` trunk kind: a convolutional network over a modality's raw 1-D or 2-D samples.

For little data (a few hundred pairs) a CNN's locality and weight sharing generalise where a
small transformer memorises (``layers/cnn.py``). A modality offers the kind with
``trunk_kinds = {**ModalitySpec.trunk_kinds, "cnn": cnn_kind(in_chans=1)}`` (its samples are
``[in_chans, H, W]``; ``spatial_dims=1`` for ``[in_chans, T]``) and a preset that selects it.
The config's ``trunk`` picks the network:

- the framework's own small CNN (``ConvNet``), when no ``timm_model`` is named: ``channels``
  (one block each), ``kernel_size``, ``convs_per_block``, ``pool`` (``avgmax``/``avg``/``max``),
  ``dropout``, ``norm`` (``batch``/``group``);
- any timm model by name, 2-D only: ``{"kind": "cnn", "timm_model": "resnet18"}``, built headless
  with ``in_chans`` from the modality and randomly initialised unless weights are given
  (``pretrained_path``: a local file timm reads, safetensors or a ``weights_only`` torch file,
  its first convolution adapted to ``in_chans`` by timm; ``hub: True`` asks the hub);
  ``timm_kwargs`` go to ``timm.create_model``.

The trunk returns pooled features; the modality's head projects them to ``embed_dim``. The
recorded config spells out every option (so a later change of defaults never changes a saved
model) and drops the weight source, kept as ``initialised_from``: the weights then live in the
encoder's state dict, and a saved model rebuilds from ``config.json`` alone.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from imagebind_lite.config import EncoderConfig
from imagebind_lite.errors import CheckpointError, ImageBindLiteError, InputError
from imagebind_lite.layers import ConvNet, PassThroughStem
from imagebind_lite.towers.timm_tower import TimmTrunk, create_timm_model
from imagebind_lite.trunk_kinds import BuiltTrunk, TrunkKind

CNN = "cnn"
# Options of the framework's own CNN and their defaults, per number of spatial axes: 3x3 on maps
# as PANNs and image CNNs use; 5 samples on 1-D signals, whose neighbourhoods carry less each.
# On words from voices never heard in training (benchmarks/bench_cnn_unseen_voices.py, 3 seeds)
# one conv per 2-D block generalised as well as two (top-1 0.84 vs 0.84; the tiny transformer:
# 0.56) at a quarter of the cost; mean + max pooling beat the mean alone (0.81), and dropout 0.1
# beat 0 (0.80) and 0.3 (0.80).
OWN_DEFAULTS = {
    2: {"channels": [16, 32, 64, 128], "kernel_size": 3, "convs_per_block": 1, "pool": "avgmax",
        "dropout": 0.1, "norm": "batch"},
    1: {"channels": [32, 64, 128], "kernel_size": 5, "convs_per_block": 2, "pool": "avgmax",
        "dropout": 0.1, "norm": "batch"},
}
# Keys only this kind reads: one set without a "kind" selects it, one set under another kind errs.
CNN_KEYS = ("timm_model", "channels")
# Every key a cnn trunk config may hold (what a recorded config adds included): any other is a typo
# that would otherwise be silently ignored.
KNOWN_KEYS = {"kind", "timm_model", "timm_kwargs", "pretrained_path", "hub", "in_chans", "output_width",
              "initialised_from", *OWN_DEFAULTS[2]}


def cnn_kind(in_chans: int, spatial_dims: int = 2) -> TrunkKind:
    """The kind for samples ``[in_chans, *spatial]`` with 1 or 2 spatial axes."""
    if spatial_dims not in OWN_DEFAULTS:
        raise ValueError(f"the cnn trunk kind runs over 1 or 2 spatial axes, not {spatial_dims}")
    return TrunkKind(partial(build_cnn, in_chans, spatial_dims), keys=CNN_KEYS,
                     stem=partial(_pass_through, spatial_dims))


def build_cnn(in_chans: int, spatial_dims: int, config: EncoderConfig) -> BuiltTrunk:
    """The CNN ``config.trunk`` names and the config to record (see the module docstring)."""
    trunk = config.trunk
    unknown = sorted(set(trunk) - KNOWN_KEYS)
    if unknown:
        raise InputError(f"unknown cnn trunk option(s) {', '.join(map(repr, unknown))}; the options are "
                         f"{', '.join(sorted(KNOWN_KEYS - {'kind', 'output_width', 'in_chans'}))}",
                         modality=config.modality)
    weights = trunk.get("pretrained_path") or None
    build = _timm_trunk if trunk.get("timm_model") else _own_trunk
    module, options = build(in_chans, spatial_dims, config, weights)
    source = weights or ("hub" if trunk.get("hub") and trunk.get("timm_model") else None)  # only timm has a hub
    recorded_trunk = {"kind": CNN, **options, "in_chans": in_chans, "output_width": int(module.num_features),
                      "pretrained_path": None, "hub": False,
                      "initialised_from": source or trunk.get("initialised_from")}
    # the trunk pools, so the head takes its features as they are
    recorded = EncoderConfig.from_dict({**config.to_dict(), "pool": "none", "trunk": recorded_trunk})
    return BuiltTrunk(module, recorded)


def _own_trunk(in_chans: int, spatial_dims: int, config: EncoderConfig,
               weights: str | None) -> tuple[ConvNet, dict]:
    options = {key: config.trunk.get(key, default) for key, default in OWN_DEFAULTS[spatial_dims].items()}
    options["channels"] = [int(c) for c in options["channels"]]
    try:
        module = ConvNet(in_chans, spatial_dims=spatial_dims, **options)
    except ValueError as exc:
        raise InputError(f"bad cnn trunk options: {exc}", modality=config.modality) from None
    if weights is not None:
        _load_own_weights(module, Path(weights), config.modality)
    return module, {"timm_model": None, **options}


def _timm_trunk(in_chans: int, spatial_dims: int, config: EncoderConfig,
                weights: str | None) -> tuple[TimmTrunk, dict]:
    name, modality = config.trunk["timm_model"], config.modality
    if spatial_dims != 2:
        raise InputError(f"timm models take 2-D inputs, and {modality} samples are 1-D; leave timm_model "
                         "unset to use the built-in 1-D CNN", modality=modality)
    kwargs = {**(config.trunk.get("timm_kwargs") or {}), "in_chans": in_chans}
    try:
        model = create_timm_model(name, weights, bool(config.trunk.get("hub", False)), kwargs)
    except ImageBindLiteError as exc:  # an unknown name, an unreadable or misfitting file
        raise type(exc)(f"[modality {modality!r}] cnn trunk: {exc}") from None
    except Exception as exc:  # timm refusing the options (e.g. a model with a fixed input layout)
        raise InputError(f"cannot build timm model {name!r} with {kwargs}: {type(exc).__name__}: {exc}",
                         modality=modality) from exc
    return TimmTrunk(model), {"timm_model": name, "timm_kwargs": config.trunk.get("timm_kwargs") or {}}


def _load_own_weights(module: nn.Module, path: Path, modality: str) -> None:
    """Weights for the built-in CNN from a safetensors file or a torch file of tensors only."""
    if not path.is_file():
        raise CheckpointError(f"[modality {modality!r}] cnn weights file not found: {path}")
    try:
        state = load_file(str(path)) if path.suffix == ".safetensors" else torch.load(
            path, map_location="cpu", weights_only=True)
        module.load_state_dict(state)
    except Exception as exc:  # unreadable, a pickle with objects, or keys/shapes that do not fit
        raise CheckpointError(f"[modality {modality!r}] cannot load {path} into the cnn trunk: "
                              f"{type(exc).__name__}: {str(exc)[:600]}") from exc


def _pass_through(spatial_dims: int, config: EncoderConfig) -> PassThroughStem:
    """The CNN reads the sample itself: ``[in_chans, *spatial]``."""
    return PassThroughStem(input_ndim=spatial_dims + 1)

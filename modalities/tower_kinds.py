"""Trunk kinds for the towers of CLIP-family models, shared by the vision and text modalities.

- ``"open_clip"``: ``trunk={"open_clip_model": "ViT-B-32", "pretrained_path": "/w/vit_b_32.bin"}``
  (any ``open_clip.list_models()`` name, or ``"local-dir:/path"``; ``tokenizer_path`` for models
  whose tokenizer is a Hugging Face one);
- ``"hf_clip"``: ``trunk={"hf_clip_path": "/models/clip-vit-base-patch32"}``, a local Hugging Face
  directory of a CLIPModel, SiglipModel, Siglip2Model or any model with ``get_<tower>_features``
  (with ``"hub": True`` the path is a hub id, fetched once into the Hugging Face cache).

The tower's output is already the shared embedding (the model's own projection), so the head is
none and ``embed_dim`` is the tower's (a preset's 0 means "whatever the tower gives"). Building
from a user's files records what rebuilds the tower in a private files directory (see
``imagebind_lite.towers.files``) and drops the user's paths from the recorded config; a saved
model carries that directory. A config with no weight source is rebuilt from its files
directory with uninitialised weights (what ``load_model`` fills from the saved state dict).
The modality supplies how its data config describes the preprocessing (a ``TowerSide``); a
modality with no open_clip tower gives only the Hugging Face parts. Audio models, CLAP's audio
tower included, have their own kind (``hf_audio``, ``audio_towers.py``): most of them have no
projection, so they are pooled and given a head.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn

from imagebind_lite.config import EncoderConfig
from imagebind_lite.errors import InputError
from imagebind_lite.layers import IdentityHead, PassThroughStem
from imagebind_lite.towers import hf_tower, open_clip_tower
from imagebind_lite.towers.files import FILES_KEY, files_of, require_files, stage_files
from imagebind_lite.towers.packing import sample_ndim
from imagebind_lite.trunk_kinds import BuiltTrunk, TrunkKind

# Recorded trunk entries that name where a tower came from (dropped once its weights are ours).
OPEN_CLIP_SOURCES = ("open_clip_model", "pretrained_path", "pretrained", "tokenizer_path", "hub")
HF_SOURCES = ("hf_clip_path", "hub")


@dataclass(frozen=True)
class TowerSide:
    """What one modality needs from a tower: its name in the library, its module, its data config.

    The data-config builders get the files directory, the model and the data config asked for
    (a preset's, a user's or a recorded one) and return the data config to record.
    """

    tower: str                                                 # "image" / "text" / "audio": get_<tower>_features
    hf_data: Callable[[Path, nn.Module, dict], dict]           # for the hf_clip kind (records "layout")
    example: Callable[[dict], torch.Tensor]                    # one preprocessed sample for a data config
    stem_ndim: Callable[[EncoderConfig], int]                  # rank of one preprocessed sample
    open_clip_module: Optional[Callable[[nn.Module], nn.Module]] = None       # open_clip model -> this tower
    open_clip_data: Optional[Callable[[Path, nn.Module, dict], dict]] = None  # for the open_clip kind


def tower_embed_dim(config: EncoderConfig, got: int) -> int:
    """The tower's output dimension; a config asking for another one is a mistake worth an error."""
    if config.embed_dim not in (0, got):
        raise InputError(f"this {config.trunk.get('kind')} tower projects to {got} dimensions, not embed_dim="
                         f"{config.embed_dim}: a tower's embedding size is its own (leave embed_dim at 0)",
                         modality=config.modality)
    return got


def _recorded(config: EncoderConfig, data: dict, dim: int, sources: tuple, origin: Optional[str]) -> EncoderConfig:
    trunk = {**{k: v for k, v in config.trunk.items() if k not in sources}, "output_width": dim,
             "initialised_from": origin or config.trunk.get("initialised_from")}
    values = {**config.to_dict(), "embed_dim": dim, "pool": "none", "trunk": trunk, "data": data}
    return EncoderConfig.from_dict(values)


def _rebuild_files(config: EncoderConfig, asks: str) -> Path:
    """The files directory a built encoder's config names (there is no other source to build from)."""
    kind = config.trunk.get("kind")
    if files_of(config.data) is None:
        raise InputError(f"the {kind} {config.modality} tower needs its model: {asks}", modality=config.modality)
    return require_files(config.data, f"the {kind} {config.modality} encoder")


def build_open_clip(side: TowerSide, config: EncoderConfig) -> BuiltTrunk:
    trunk = config.trunk
    name = trunk.get("open_clip_model")
    if name:  # from the user's model: weights now, files staged for later
        hub_tag = trunk.get("pretrained") if trunk.get("hub") else None
        model = open_clip_tower.create_pretrained(name, trunk.get("pretrained_path"), hub_tag)
        files = open_clip_tower.write_files(name, model, trunk.get("tokenizer_path"))
        origin = f"{name} {trunk.get('pretrained_path') or hub_tag or ''}".strip()
    else:
        files = _rebuild_files(config, "trunk={'open_clip_model': 'ViT-B-32', 'pretrained_path': '/local/weights.bin'}")
        model, origin = open_clip_tower.from_files(files), None
    module = side.open_clip_module(model)
    dim = tower_embed_dim(config, open_clip_tower.embed_dim(files))
    data = {**side.open_clip_data(files, module, config.data), FILES_KEY: str(files)}
    return BuiltTrunk(module, _recorded(config, data, dim, OPEN_CLIP_SOURCES, origin))


def build_hf(side: TowerSide, config: EncoderConfig) -> BuiltTrunk:
    source = config.trunk.get("hf_clip_path")
    if source and config.trunk.get("hub"):  # a hub id, asked for: fetched once, then read like a directory
        source = str(hf_tower.from_hub(source))
    if source:
        model = hf_tower.load_pretrained(Path(source), side.tower)
        hf_tower.processor(Path(source), side.tower)  # a directory without one fails now, named
        files = stage_files(Path(source), "hf")
    else:
        files = _rebuild_files(config, "trunk={'hf_clip_path': '/local/model/dir'}")
        model = hf_tower.from_files(files, side.tower)
    data = {**side.hf_data(files, model, config.data), FILES_KEY: str(files)}
    tower = hf_tower.HFTower(model, side.tower, data["layout"])
    dim = config.embed_dim if not source else tower_embed_dim(config, _output_dim(tower, side.example(data)))
    return BuiltTrunk(tower, _recorded(config, data, dim, HF_SOURCES, config.trunk.get("hf_clip_path")))


@torch.no_grad()
def _output_dim(tower: hf_tower.HFTower, sample: torch.Tensor) -> int:
    """One forward pass on one preprocessed sample: models do not agree on where their
    projection size is written."""
    was_training = tower.training
    if sample.is_floating_point():
        sample = sample.to(next(tower.parameters()).dtype)
    out = tower.eval()(sample[None])
    tower.train(was_training)
    return int(out.shape[-1])


def _stem(side: TowerSide, config: EncoderConfig) -> PassThroughStem:
    return PassThroughStem(input_ndim=side.stem_ndim(config))


def _no_head(config: EncoderConfig) -> IdentityHead:
    return IdentityHead()


def tower_kinds(side: TowerSide) -> dict[str, TrunkKind]:
    """``{"hf_clip": ..., "open_clip": ...}`` for one modality (open_clip only for sides that have one)."""
    stem = partial(_stem, side)
    kinds = {"hf_clip": TrunkKind(partial(build_hf, side), keys=("hf_clip_path",), stem=stem, head=_no_head)}
    if side.open_clip_module is not None:
        kinds["open_clip"] = TrunkKind(partial(build_open_clip, side), keys=("open_clip_model",), stem=stem,
                                       head=_no_head)
    return kinds


def hf_sample_ndim(layout_owner: EncoderConfig) -> int:
    """Rank of one packed sample of an hf_clip encoder (from the layout its data config records)."""
    return sample_ndim(layout_owner.data["layout"])

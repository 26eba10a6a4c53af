"""The image or text tower of an open_clip model as a trunk.

``open_clip.create_model(name, pretrained=<local file>)`` builds any ``open_clip.list_models()``
architecture (or an open_clip ``local-dir:`` model directory) with its weights; a tower is then
open_clip's own ``encode_image`` / ``encode_text`` (projection included, not normalised), so no
head follows it. What rebuilds it is written the way open_clip itself reads a local model:
``open_clip_config.json`` (model and preprocessing configs) plus, for models whose tokenizer is
a Hugging Face one, that tokenizer's files, in the encoder's files directory; a rebuilt model
is ``create_model("local-dir:<files>")`` and its tokenizer ``get_tokenizer("local-dir:<files>")``.
The image transform is open_clip's ``image_transform_v2`` on the model's preprocessing config.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from imagebind_lite.errors import CheckpointError, UnknownNameError
from imagebind_lite.towers.files import directory_version, new_files_directory, stage_files
from imagebind_lite.towers.logs import silenced_root_records_from

OPEN_CLIP_PREPROCESS = "open_clip"
CONFIG_FILE = "open_clip_config.json"
LOCAL_DIR = "local-dir:"
PREPROCESS_KEYS = ("size", "mean", "std", "interpolation", "resize_mode", "fill_color")
DATA_KEYS = {"size": "image_size"}  # open_clip's preprocessing names -> data-config names


def _quiet():
    """open_clip logs "initialized randomly" on the root logger when we build a skeleton to load into."""
    import open_clip

    return silenced_root_records_from(str(Path(open_clip.__file__).parent))


def create_pretrained(name: str, pretrained_path: Optional[str], hub_tag: Optional[str] = None) -> nn.Module:
    """``name`` with weights from the local file ``pretrained_path`` (or a hub tag, when asked)."""
    import open_clip

    local_dir = name.startswith(LOCAL_DIR)
    if not local_dir and name not in open_clip.list_models():
        raise UnknownNameError(f"unknown open_clip model {name!r}; any name from open_clip.list_models() works, "
                               "e.g. 'ViT-B-32', or 'local-dir:/path' (a directory with open_clip_config.json)")
    if not local_dir and not pretrained_path and not hub_tag:
        raise CheckpointError(f"open_clip model {name!r} needs its weights: trunk pretrained_path=/local/file "
                              "(or hub=True with a pretrained tag)")
    if pretrained_path and not Path(pretrained_path).is_file():
        raise CheckpointError(f"open_clip weights file not found: {pretrained_path}")
    source = None if local_dir else (pretrained_path or hub_tag)
    try:
        with _quiet():
            return open_clip.create_model(name, pretrained=source, pretrained_text=False, pretrained_image=False)
    except Exception as exc:  # shape or key mismatches, unreadable or pickled files
        where = pretrained_path or name
        raise CheckpointError(f"cannot load open_clip model {name!r} from {where}: {type(exc).__name__}: {exc}") from exc


def write_files(name: str, model: nn.Module, tokenizer_dir: Optional[str]) -> Path:
    """A files directory that rebuilds ``model`` (``name``'s config) and its tokenizer."""
    import open_clip

    if name.startswith(LOCAL_DIR):
        return stage_files(Path(name[len(LOCAL_DIR):]), "open_clip")
    model_cfg = open_clip.get_model_config(name)
    hf_tokenizer = model_cfg.get("text_cfg", {}).get("hf_tokenizer_name")
    if hf_tokenizer and not tokenizer_dir:
        raise CheckpointError(f"open_clip model {name!r} uses the Hugging Face tokenizer {hf_tokenizer!r}: give its "
                              "files as trunk tokenizer_path=/local/tokenizer/dir (no network is used)")
    files = stage_files(Path(tokenizer_dir), "open_clip") if tokenizer_dir else new_files_directory("open_clip")
    preprocess = {k: _plain(v) for k, v in model.visual.preprocess_cfg.items()} if hasattr(model, "visual") else {}
    config = {"model_cfg": model_cfg, "preprocess_cfg": preprocess}
    (files / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    return files


def from_files(files: Path) -> nn.Module:
    """The architecture of ``files`` with uninitialised weights (a saved state dict fills them)."""
    import open_clip

    if not (files / CONFIG_FILE).is_file():
        raise CheckpointError(f"open_clip encoder files lack {files / CONFIG_FILE}")
    try:
        with _quiet():
            # device=None: no .to() call, which would fail on parameters built on the meta device
            return open_clip.create_model(LOCAL_DIR + str(files), load_weights=False, pretrained_text=False,
                                          pretrained_image=False, device=None)
    except Exception as exc:
        raise CheckpointError(f"cannot rebuild an open_clip model from {files / CONFIG_FILE}: {exc}") from exc


def embed_dim(files: Path) -> int:
    return int(json.loads((files / CONFIG_FILE).read_text())["model_cfg"]["embed_dim"])


def preprocess_config(files: Path) -> dict:
    """The image preprocessing of a files directory, as data-config entries (open_clip's ``size``
    is our ``image_size``; the user may override any of them in the encoder's data config)."""
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict

    stored = json.loads((files / CONFIG_FILE).read_text()).get("preprocess_cfg", {})
    config = merge_preprocess_dict(asdict(PreprocessCfg()), stored)
    return {DATA_KEYS.get(key, key): _plain(config[key]) for key in PREPROCESS_KEYS}


def _plain(value):
    """JSON-friendly: tuples become lists, a square size one number (as our other data configs)."""
    if isinstance(value, (tuple, list)):
        return int(value[0]) if len(value) == 2 and value[0] == value[1] and isinstance(value[0], int) else list(value)
    return value


class ImageTower(nn.Module):
    """``[B, 3, H, W]`` -> ``encode_image`` features ``[B, D]`` (before normalisation)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.visual = model.visual

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.visual(images)


class TextTower(nn.Module):
    """``[B, L]`` token ids -> ``encode_text`` features ``[B, D]`` (before normalisation)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        for name in ("visual", "logit_scale", "logit_bias"):  # the image tower and the loss's scalars
            if hasattr(model, name):
                delattr(model, name)
        self.model = model

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        return self.model.encode_text(token_ids)


def image_transform(data: dict):
    """open_clip's evaluation transform for the preprocessing entries of ``data`` (cached per process)."""
    return _transform(json.dumps({key: data[DATA_KEYS.get(key, key)] for key in PREPROCESS_KEYS}, sort_keys=True))


@lru_cache(maxsize=16)
def _transform(frozen: str):
    from open_clip.transform import PreprocessCfg, image_transform_v2

    return image_transform_v2(PreprocessCfg(**json.loads(frozen)), is_train=False)


def tokenizer(files: Path):
    """open_clip's tokenizer for the model in ``files`` (cached per process and directory version)."""
    return _tokenizer(str(files), directory_version(files))


@lru_cache(maxsize=8)
def _tokenizer(files: str, version: tuple):
    import open_clip

    with _quiet():
        return open_clip.get_tokenizer(LOCAL_DIR + files)


"""The saved-model format: ``config.json`` + one ``<modality>.safetensors`` per encoder.

This module reads and writes the files (``save_model``, ``load_encoders``); ``imagebind_lite.model``
wraps the loaded encoders in the user-facing ``MultiModalModel`` (``load_model``).
Loading never unpickles: configs are JSON, weights are safetensors. Writes are atomic (a temp
directory renamed into place, ``imagebind_lite.atomic``) so an interrupted save never leaves a
half-written model where a good one was.

A model directory is self-contained: an encoder built from another library's model (a Hugging
Face directory, an open_clip checkpoint) names a files directory in its data config, copied to
``<modality>.files/`` and recorded relative to the model directory; loading reads only the model
directory and never the network. Each encoder's dtype is recorded and restored.

Loading builds each encoder with its parameters on the meta device (``empty_init``) and assigns
the saved tensors to them, so a large model is never first allocated with random weights.

Format versions: 1 (no files directories, no dtypes); 2 adds both, and data configs that name a
library's own preprocessing, which a version-1 reader would silently ignore: it must refuse.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from imagebind_lite.atomic import atomic_directory
from imagebind_lite.config import EncoderConfig
from imagebind_lite.empty_init import meta_tensors, parameters_on_meta
from imagebind_lite.encoder import Encoder
from imagebind_lite.errors import CheckpointError, ImageBindLiteError
from imagebind_lite.factory import create_encoder
from imagebind_lite.towers.files import FILES_KEY, files_of

log = logging.getLogger(__name__)

FORMAT_NAME = "imagebind-lite"
FORMAT_VERSION = 2
CONFIG_FILE = "config.json"


def save_model(model, directory) -> Path:
    """Write ``model`` (a MultiModalModel) to ``directory``, replacing it atomically."""
    directory = Path(directory)
    with atomic_directory(directory) as staging:
        config = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "embed_dim": model.embed_dim,
                  "encoders": {}, "dtypes": {}}
        for modality, encoder in model.encoders.items():
            save_file(_plain_state_dict(encoder), str(staging / f"{modality}.safetensors"))
            config["encoders"][modality] = _config_with_files(encoder, staging)
            config["dtypes"][modality] = dtype_name(encoder)
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    return directory


def _plain_state_dict(encoder: Encoder) -> dict:
    """CPU, contiguous tensors; a tensor sharing storage with an earlier one (tied weights) is
    copied, since safetensors stores each storage once."""
    seen, weights = set(), {}
    for key, value in encoder.state_dict().items():
        value = value.detach().cpu().contiguous()
        pointer = (value.untyped_storage().data_ptr(), value.storage_offset()) if value.numel() else None
        weights[key] = value.clone() if pointer in seen else value
        seen.add(pointer)
    return weights


def _config_with_files(encoder: Encoder, staging: Path) -> dict:
    """The encoder's config, its files directory copied beside the weights and named relatively."""
    values = encoder.config.to_dict()
    files = files_of(encoder.config.data)
    if files is None:
        return values
    if not files.is_dir():
        raise CheckpointError(f"the {encoder.modality!r} encoder's files directory {files} is missing: "
                              "it cannot be saved without them")
    name = f"{encoder.modality}.files"
    shutil.copytree(files, staging / name)
    values["data"][FILES_KEY] = name
    return values


def dtype_name(encoder: Encoder) -> str:
    floating = [p.dtype for p in encoder.parameters() if p.is_floating_point()]
    return str(floating[0] if floating else torch.float32).replace("torch.", "")


def read_config(directory: Path) -> dict:
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory} is not a saved imagebind-lite model: {path.name} is missing")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from exc
    if config.get("format") != FORMAT_NAME or config.get("version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: unsupported format {config.get('format')!r} version {config.get('version')!r}")
    return config


def load_encoders(directory, modalities=None, device: str = "cpu", dtype=None,
                  empty_init: bool = True) -> dict[str, Encoder]:
    """Rebuild the encoders of a saved-model directory, without pickle.

    ``dtype``: cast the encoders (e.g. ``torch.bfloat16``); default: the dtype each was saved in
    (float32 for models saved before dtypes were recorded). ``empty_init=False`` builds each
    encoder with random weights first and copies the saved ones over them (the old way: more
    memory and time, kept for comparison).
    """
    directory = Path(directory)
    config = read_config(directory)
    encoders = {}
    for modality, values in config["encoders"].items():
        if modalities is not None and modality not in modalities:
            continue
        encoder = _build(directory, modality, values, empty_init)
        weights_path = directory / f"{modality}.safetensors"
        load_weights(encoder, _read_weights(weights_path, device), weights_path, assign=empty_init)
        saved = config.get("dtypes", {}).get(modality, "float32")
        encoders[modality] = encoder.to(device=device, dtype=dtype or getattr(torch, saved))
    return encoders


def _build(directory: Path, modality: str, values: dict, empty_init: bool) -> Encoder:
    """The encoder of ``values`` (its files directory resolved against the model directory)."""
    where = f"{directory / CONFIG_FILE} (encoder {modality!r})"
    try:
        config = EncoderConfig.from_dict(_resolve_files(values, directory))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: {exc}") from exc
    try:
        if not empty_init:
            return create_encoder(config)
        try:
            with parameters_on_meta():
                return create_encoder(config)
        except ImageBindLiteError:
            raise
        except Exception as exc:  # a library that computes with its weights while building
            log.warning("building %s on the meta device failed (%s); building it with weights", where, exc)
            return create_encoder(config)
    except ImageBindLiteError as exc:
        raise CheckpointError(f"{where}: {exc}") from exc


def _resolve_files(values: dict, directory: Path) -> dict:
    data = values.get("data") or {}
    files = data.get(FILES_KEY)
    if not files or Path(files).is_absolute():
        return values
    return {**values, "data": {**data, FILES_KEY: str(directory / files)}}


def _read_weights(path: Path, device: str) -> dict:
    try:
        return load_file(str(path), device=device)
    except (SafetensorError, FileNotFoundError, OSError) as exc:
        raise CheckpointError(f"cannot read weights {path}: {exc}") from exc


def load_weights(encoder: Encoder, weights: dict, path: Path, assign: bool = True) -> None:
    """Put ``weights`` into ``encoder``; a file that does not fit its config is a ``CheckpointError``
    naming the file, the tensor and the config field(s) that decide its shape."""
    expected = encoder.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path} does not match its config: missing {missing[:8]}, unexpected "
                              f"{unexpected[:8]}{_depth_hint(encoder.config, missing + unexpected)}")
    for key, tensor in weights.items():
        want = tuple(expected[key].shape)
        if tuple(tensor.shape) != want:
            fields = shape_fields(encoder.config, want, tuple(tensor.shape))
            raise CheckpointError(
                f"{path} does not fit its config: tensor {key!r} has shape {list(tensor.shape)} in the file but "
                f"{list(want)} from config field(s) {', '.join(fields) or '(none found)'} of encoder {encoder.modality!r}")
    encoder.load_state_dict(weights, strict=True, assign=assign)
    _retie(encoder)
    empty = meta_tensors(encoder)
    if empty:
        raise CheckpointError(f"{path} leaves tensors without values: {empty[:8]}")


def _retie(encoder: Encoder) -> None:
    """Assigning tensors by name gives tied weights (one parameter under two names) two copies;
    models that know their ties (Hugging Face's ``tie_weights``) tie them again."""
    for module in encoder.modules():
        if module is not encoder and callable(getattr(module, "tie_weights", None)) and hasattr(module, "config"):
            module.tie_weights()


def shape_fields(config: EncoderConfig, want: tuple, stored: tuple) -> list[str]:
    """Config fields whose value is a dimension in which ``want`` (from the config) differs from
    ``stored`` (in the file): the fields someone edited, or that the file was not made with."""
    differing = set(want) if len(want) != len(stored) else {w for w, s in zip(want, stored) if w != s}
    return [name for name, value in _integer_fields(config) if value in differing]


def _integer_fields(config: EncoderConfig):
    values = config.to_dict()
    for name, value in values.items():
        if isinstance(value, int) and not isinstance(value, bool):
            yield name, value
        elif isinstance(value, dict):
            yield from ((f"{name}.{k}", v) for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool))
    yield "mlp_ratio", int(config.width * config.mlp_ratio)


def _depth_hint(config: EncoderConfig, keys: list[str]) -> str:
    return f"; check field depth ({config.depth})" if any(".blocks." in f".{key}" for key in keys) else ""

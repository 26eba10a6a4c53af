"""The saved-model format: ``config.json`` + one ``<modality>.safetensors`` per encoder.

This module reads and writes the files (``save_model``, ``load_encoders``); ``imagebind_lite.model``
wraps the loaded encoders in the user-facing ``MultiModalModel`` (``load_model``).
Loading never unpickles: configs are JSON, weights are safetensors. Writes are atomic (a temp
directory renamed into place, ``imagebind_lite.atomic``) so an interrupted save never leaves a
half-written model where a good one was.
"""
from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from imagebind_lite.atomic import atomic_directory
from imagebind_lite.config import EncoderConfig
from imagebind_lite.encoder import Encoder
from imagebind_lite.errors import CheckpointError
from imagebind_lite.factory import create_encoder

FORMAT_NAME = "imagebind-lite"
FORMAT_VERSION = 1


def save_model(model, directory) -> Path:
    """Write ``model`` (a MultiModalModel) to ``directory``, replacing it atomically."""
    directory = Path(directory)
    with atomic_directory(directory) as staging:
        config = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "embed_dim": model.embed_dim, "encoders": {}}
        for modality, encoder in model.encoders.items():
            weights = {k: v.detach().contiguous().cpu() for k, v in encoder.state_dict().items()}
            save_file(weights, str(staging / f"{modality}.safetensors"))
            config["encoders"][modality] = encoder.config.to_dict()
        (staging / "config.json").write_text(json.dumps(config, indent=2))
    return directory


def read_config(directory: Path) -> dict:
    path = directory / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{directory} is not a saved imagebind-lite model: {path.name} is missing")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from exc
    if config.get("format") != FORMAT_NAME or config.get("version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: unsupported format {config.get('format')!r} version {config.get('version')!r}")
    return config


def load_encoders(directory, modalities=None, device: str = "cpu", dtype=None) -> dict[str, Encoder]:
    """Rebuild the encoders of a saved-model directory, without pickle.

    ``dtype``: cast the encoders (e.g. ``torch.bfloat16``); default: as built (float32).
    """
    directory = Path(directory)
    config = read_config(directory)
    encoders = {}
    for modality, values in config["encoders"].items():
        if modalities is not None and modality not in modalities:
            continue
        encoder = create_encoder(EncoderConfig.from_dict(values))
        weights_path = directory / f"{modality}.safetensors"
        try:
            weights = load_file(str(weights_path), device=device)
        except (SafetensorError, FileNotFoundError, OSError) as exc:
            raise CheckpointError(f"cannot read weights {weights_path}: {exc}") from exc
        missing, unexpected = encoder.load_state_dict(weights, strict=False)
        if missing or unexpected:
            raise CheckpointError(f"{weights_path} does not match its config: missing {missing}, unexpected {unexpected}")
        encoders[modality] = encoder.to(device=device, dtype=dtype) if dtype is not None else encoder.to(device)
    return encoders

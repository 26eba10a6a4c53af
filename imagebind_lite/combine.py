"""Combine saved models that share a pivot into one saved model.

Each (pivot, X) pair is trained only against the frozen pivot, so pairs trained in separate runs
(audio this week, depth next week, or two runs side by side on two cores) land in the same
space as if they had been trained together. ``combine_models`` puts their encoders in one
saved-model directory: every modality from the first directory that has it, and any modality
found in several directories (the pivot, always) must be the same encoder in each, weights and
config; otherwise the models were not aligned to the same pivot and their embeddings would not
be comparable, which is an error, never a silent pick.

Works on the files: no encoder is built, the weights files (and files directories) are copied,
the configs merged; the output is written atomically like every saved model.
"""
from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path
from typing import Dict, Sequence

import torch
from safetensors.torch import load_file

from imagebind_lite.atomic import atomic_directory
from imagebind_lite.errors import CheckpointError
from imagebind_lite.saved_model import CONFIG_FILE, FORMAT_NAME, FORMAT_VERSION, read_config

TEMPERATURES_FILE = "temperatures.json"


def combine_models(directories: Sequence, out_dir) -> Path:
    """One saved model with the encoders of every directory in ``directories``; returns ``out_dir``."""
    directories = [Path(d) for d in directories]
    if not directories:
        raise CheckpointError("combine_models needs at least one saved-model directory")
    configs = [read_config(d) for d in directories]
    dims = {str(d): c["embed_dim"] for d, c in zip(directories, configs)}
    if len(set(dims.values())) > 1:
        raise CheckpointError(f"these models embed into spaces of different sizes and cannot be combined: {dims}")
    source: Dict[str, int] = {}  # modality -> index of the directory it is taken from
    for index, config in enumerate(configs):
        for modality in config["encoders"]:
            if modality in source:
                _require_same_encoder(modality, directories[source[modality]], directories[index],
                                      configs[source[modality]], config)
            else:
                source[modality] = index
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as staging:
        _write(staging, directories, configs, source)
    return out_dir


def _require_same_encoder(modality: str, first: Path, other: Path, first_config: dict, other_config: dict) -> None:
    same_config = first_config["encoders"][modality] == other_config["encoders"][modality]
    if same_config:
        mine, theirs = first / f"{modality}.safetensors", other / f"{modality}.safetensors"
        # byte-identical files (one pivot saved twice) are compared in chunks, without loading a
        # large pivot twice into memory; only files that differ in bytes are compared as tensors
        if filecmp.cmp(mine, theirs, shallow=False):
            return
        mine, theirs = load_file(str(mine)), load_file(str(theirs))
        if mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine):
            return
    what = "weights" if same_config else "configs"
    raise CheckpointError(f"the {modality!r} encoders of {first} and {other} differ ({what}): models combine "
                          f"only when they share every encoder they both have (the pivot above all); "
                          f"were they aligned to different pivots?")


def _write(staging: Path, directories, configs, source: Dict[str, int]) -> None:
    combined = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "embed_dim": configs[0]["embed_dim"],
                "encoders": {}, "dtypes": {}}
    temperatures = {}
    recorded = [_temperatures(directory) for directory in directories]
    for modality, index in source.items():
        directory, config = directories[index], configs[index]
        shutil.copy2(directory / f"{modality}.safetensors", staging / f"{modality}.safetensors")
        files = directory / f"{modality}.files"
        if files.is_dir():
            shutil.copytree(files, staging / files.name)
        combined["encoders"][modality] = config["encoders"][modality]
        combined["dtypes"][modality] = config.get("dtypes", {}).get(modality, "float32")
        if modality in recorded[index]:  # the pair's logit scale, from the run that trained it
            temperatures[modality] = recorded[index][modality]
    (staging / CONFIG_FILE).write_text(json.dumps(combined, indent=2))
    if temperatures:
        (staging / TEMPERATURES_FILE).write_text(json.dumps(temperatures, indent=2))


def _temperatures(directory: Path) -> dict:
    path = directory / TEMPERATURES_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from exc

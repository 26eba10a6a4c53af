"""Class prompts and the labels they are scored against, read from files and manifests.

Prompt files: the synthetic world's ``world.json`` (class names in label order, prompts per
class, attribute prompts per bin) or a plain ``{class_name: [prompt, ...]}`` JSON in label
order. Labels: a manifest's ``label`` column (integers, or class names mapped through the
prompts' order) and binned attribute columns (bin indices or the bin words themselves).
Every malformed entry is an ``InputError`` naming the file (and row, where there is one).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from imagebind_lite.data.manifest import Manifest
from imagebind_lite.errors import InputError

ClassPrompts = Mapping[str, Sequence[str]]
AttributePrompts = Mapping[str, Tuple[str, ClassPrompts]]  # name -> (manifest column, {bin: prompts})


def read_json(path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read JSON ({exc})", source=str(path)) from exc


def _check_prompts(prompts: Any, source: str) -> Dict[str, List[str]]:
    if not isinstance(prompts, Mapping) or not prompts:
        raise InputError("prompts must be a non-empty JSON object {class_name: [prompt, ...]}", source=source)
    out = {}
    for name, values in prompts.items():
        values = [values] if isinstance(values, str) else values
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise InputError(f"class {name!r}: prompts must be a non-empty list of strings", source=source)
        out[str(name)] = values
    return out


def load_class_prompts(path) -> Dict[str, List[str]]:
    """Class name -> prompts, in label order, from a world.json or a plain ``{class: [prompts]}`` JSON."""
    data = read_json(path)
    if isinstance(data, Mapping) and "class_names" in data and "prompts" in data:
        missing = [c for c in data["class_names"] if c not in data["prompts"]]
        if missing:
            raise InputError(f"world file has no prompts for classes {missing}", source=str(path))
        data = {c: data["prompts"][c] for c in data["class_names"]}  # label order = class_names order
    return _check_prompts(data, str(path))


def load_attribute_prompts(path) -> Dict[str, Tuple[str, Dict[str, List[str]]]]:
    """``{attribute: (manifest column, {bin word: prompts})}`` from a world.json; ``{}`` otherwise."""
    data = read_json(path)
    if not isinstance(data, Mapping) or not isinstance(data.get("attribute_prompts"), Mapping):
        return {}
    return {name: (name, _check_prompts(prompts, f"{path}:{name}"))
            for name, prompts in data["attribute_prompts"].items()}


def class_labels(manifest: Manifest, class_names: Sequence[str]) -> Optional[torch.Tensor]:
    """Manifest labels in the prompts' class order; None when the manifest has no labels."""
    labels = torch.tensor([manifest.label(i) for i in range(len(manifest))], dtype=torch.long)
    if manifest.class_names:  # string labels: map by name, not by first-seen order
        index = {name: i for i, name in enumerate(class_names)}
        unknown = sorted(set(manifest.class_names) - set(index))
        if unknown:
            raise InputError(f"manifest labels {unknown} have no prompts", source=str(manifest.path))
        lookup = torch.tensor([index[n] for n in manifest.class_names], dtype=torch.long)
        labels = torch.where(labels >= 0, lookup[labels.clamp(min=0)], labels)
    if (labels < 0).all():
        return None
    if (labels < 0).any() or int(labels.max()) >= len(class_names):
        raise InputError(f"labels must lie in [0, {len(class_names)}) for every row (one per class prompt)",
                         source=str(manifest.path))
    return labels


def attribute_labels(manifest: Manifest, column: str, classes: Sequence[str]) -> torch.Tensor:
    """A binned attribute column: integer bins, or the bin words themselves."""
    manifest.require([column])
    out = []
    for i, row in enumerate(manifest.rows):
        value = str(row.get(column, "")).strip()
        if value in classes:
            bin_ = classes.index(value)
        else:
            bin_ = int(value) if value.lstrip("-").isdigit() else -1
        if not 0 <= bin_ < len(classes):
            raise InputError(f"row {i}: {column}={value!r} is not one of {len(classes)} bins {list(classes)}",
                             modality=column, source=str(manifest.path))
        out.append(bin_)
    return torch.tensor(out, dtype=torch.long)

"""What the labels of a held-out pair set name: class names, their prompts, a label lookup.

Validation scores zero-shot classification during ``fit`` (zero_shot_val.py); for that the
labels a validation batch carries (a manifest's integers, or its string labels numbered in
first-seen order; the synthetic world's concept indices) must be put in the class order of the
prompts. Prompt files are read by ``data.prompts`` (a world.json or ``{class: [prompts]}`` in
label order), exactly as ``imagebind-lite evaluate`` reads them, so the two numbers agree. The
synthetic world brings its own prompts. Without prompts, labels still name classes (numbered)
for the pivot-centroid fallback.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

import torch

from imagebind_lite.data.prompts import class_labels, load_class_prompts
from imagebind_lite.data.world import captions
from imagebind_lite.data.world.concepts import make_concepts
from imagebind_lite.errors import InputError


@dataclass
class ValClasses:
    """The classes one held-out set's labels name."""

    names: List[str]                                # class names, in class-index order
    prompts: Optional[Dict[str, List[str]]] = None  # class -> prompt texts (None: no prompts)
    lookup: Optional[torch.Tensor] = None           # data set label -> class index (None: the same)

    def to_classes(self, labels: torch.Tensor) -> torch.Tensor:
        """Batch labels (the data set's numbering) -> class indices, on the labels' device."""
        if self.lookup is None:
            return labels
        return self.lookup.to(labels.device)[labels]


def _manifest_classes(manifest, prompts: Optional[Dict[str, List[str]]]) -> Optional[ValClasses]:
    if prompts is None:
        labels = torch.tensor([manifest.label(i) for i in range(len(manifest))], dtype=torch.long)
        if len(labels) == 0 or bool((labels < 0).all()):
            return None
        names = list(manifest.class_names) or [str(i) for i in range(int(labels.max()) + 1)]
        return ValClasses(names)
    names = list(prompts)
    if class_labels(manifest, names) is None:  # checks every row against the prompts (names the file)
        return None
    lookup = None
    if manifest.class_names:  # string labels were numbered in first-seen order: map them by name
        index = {name: i for i, name in enumerate(names)}
        lookup = torch.tensor([index[name] for name in manifest.class_names], dtype=torch.long)
    return ValClasses(names, prompts, lookup)


def _world_classes(config, prompts: Optional[Dict[str, List[str]]]) -> ValClasses:
    concepts = make_concepts(config.num_concepts, config.seed)  # what the world's labels index
    names = [c.name for c in concepts]
    if prompts is None:
        return ValClasses(names, captions.class_prompts(concepts))
    if list(prompts) != names:
        raise InputError(f"class prompts name {list(prompts)[:5]}..., the world's classes are {names[:5]}...; "
                         "give the world's own world.json or leave class_prompts unset")
    return ValClasses(names, prompts)


def classes_of(dataset, prompts_path: Optional[str]) -> Optional[ValClasses]:
    """The classes of a held-out pair data set, or None when its samples carry no labels."""
    prompts = load_class_prompts(prompts_path) if prompts_path else None
    if hasattr(dataset, "manifest"):
        return _manifest_classes(dataset.manifest, prompts)
    if hasattr(dataset, "world"):  # the synthetic world: labels are concept indices
        return _world_classes(dataset.world.config, prompts)
    return None

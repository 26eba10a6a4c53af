"""Export a trained alignment as a saved model (``imagebind_lite.load_model`` reads it).

The directory holds the frozen pivot, the frozen companions (a CLIP text tower) and every trained
encoder (LoRA adapters merged into the weights) in the saved-model format, plus
``temperatures.json`` recording each pair's final logit scale (and bias, for sigmoid-loss
pairs), which retrieval does not need but a report of the run does.
"""
from __future__ import annotations

import json
from pathlib import Path

from imagebind_lite.atomic import atomic_write_text
from imagebind_lite.model import MultiModalModel
from imagebind_lite.saved_model import save_model
from imagebind_lite.training.finetune import merged_copy


def export_alignment(module, directory) -> Path:
    """``module``: an ``AlignmentModule`` (pivot, frozen companions, encoders, temperatures)."""
    encoders = {module.pivot_modality: module.pivot, **dict(module.frozen.items()),
                **{m: merged_copy(e) for m, e in module.encoders.items()}}
    directory = save_model(MultiModalModel(encoders), directory)
    scales = {m: {"scale": t.value, "learnable": t.learnable} for m, t in module.temperatures.items()}
    for modality, bias in getattr(module, "logit_biases", {}).items():  # sigmoid-loss pairs
        scales[modality].update(loss="sigmoid", bias=bias.value)
    atomic_write_text(Path(directory) / "temperatures.json", json.dumps(scales, indent=2))
    return Path(directory)

"""Training-time augmentation: what a modality's ``augmenter`` hook returns, and option checks.

An ``Augmenter`` changes one training sample at random in two places: its *signal* (what
``ModalitySpec.to_signal`` makes: the decoded, resampled waveform of a recording, the decoded
image, a depth map as disparity, before any cropping or features) and its model-ready *tensor*
(e.g. masks on an audio fbank). The input cache keeps signals, so augmentation runs after the
cache and every pass sees new draws without decoding a file again.

Randomness comes only from the ``numpy.random.Generator`` passed in, which the pair data sets
seed per sample from (data seed, epoch, cycle, index): the same seed gives the same augmented
batches whatever the number of DataLoader workers, across DDP ranks, and after a mid-epoch
resume. Validation, evaluation and embedding never build an augmenter.

Options are one flat mapping per modality (``{"gain_db": 6, "time_mask": 20}``); a modality
declares the keys it knows, with a one-line description each, and ``check_options`` rejects
any other key with an error naming the modality and listing the known ones.
Reference: torchvision.transforms and torchaudio.transforms (what each augmentation means).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from imagebind_lite.errors import InputError


class Augmenter:
    """No change; subclasses override ``signal`` and/or ``tensor``. Must be picklable
    (DataLoader workers get a copy), so keep only plain options and lazily built helpers."""

    def __init__(self, modality: str, options: Optional[Mapping[str, Any]] = None):
        self.modality = modality
        self.options = dict(options or {})

    def signal(self, signal: Any, data: dict, rng: np.random.Generator) -> Any:
        """The decoded signal of one sample -> an augmented one of the same kind."""
        return signal

    def tensor(self, tensor: torch.Tensor, data: dict, rng: np.random.Generator) -> torch.Tensor:
        """The model-ready tensor of one sample -> an augmented one of the same shape."""
        return tensor

    def __bool__(self) -> bool:
        return bool(self.options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.modality!r}, {self.options!r})"


def check_options(modality: str, options: Any, known: Mapping[str, str],
                  refused: Optional[Mapping[str, str]] = None) -> dict:
    """``options`` as a dict, or ``InputError`` for a non-mapping, a key the modality does not
    know (listing the known ones) or a key it refuses on purpose (``refused``: key -> why)."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise InputError(f"augment options must be a mapping of option -> value, got {type(options).__name__}",
                         modality=modality)
    for key in options:
        if refused and key in refused:
            raise InputError(f"augmentation {key!r} is not offered: {refused[key]}", modality=modality)
        if key not in known:
            listing = "; ".join(f"{name} ({doc})" for name, doc in known.items())
            raise InputError(f"unknown augmentation {key!r} for {modality}; known: {listing}", modality=modality)
    return dict(options)


def value_range(modality: str, key: str, value: Any, symmetric: bool = False,
                low: float = -np.inf) -> Tuple[float, float]:
    """``[lo, hi]`` from an option: a pair, or (``symmetric``) one number x meaning ``[-x, x]``."""
    if symmetric and isinstance(value, (int, float)) and not isinstance(value, bool):
        pair: Sequence[Any] = (-abs(value), abs(value))
    else:
        pair = value if isinstance(value, (list, tuple)) else ()
    if len(pair) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair):
        form = "a number x (meaning [-x, x]) or [low, high]" if symmetric else "[low, high]"
        raise InputError(f"augmentation {key!r} must be {form}, got {value!r}", modality=modality)
    lo, hi = float(pair[0]), float(pair[1])
    if not lo <= hi or lo < low:
        raise InputError(f"augmentation {key!r} needs {low} <= low <= high, got {value!r}", modality=modality)
    return lo, hi


def probability(modality: str, key: str, value: Any) -> float:
    """A probability option: ``true`` means 0.5, ``false`` 0, a number in [0, 1] itself."""
    if isinstance(value, bool):
        return 0.5 if value else 0.0
    if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise InputError(f"augmentation {key!r} must be a probability in [0, 1] (or true/false), got {value!r}",
                         modality=modality)
    return float(value)


def torch_seed(rng: np.random.Generator) -> int:
    """A torch seed drawn from ``rng``, for library transforms that use torch's global RNG."""
    return int(rng.integers(0, 2**63 - 1))

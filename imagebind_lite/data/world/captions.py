"""Captions and prompts: the text side of the world.

Most captions name the concept (by its name or a synonym) and mention some attributes; the
rest only describe it (colour, shape, heat, sound, motion), which is ambiguous on purpose since
factor levels are shared between concepts. Tempo words appear in captions too, so text carries
the attribute the image cannot. Class prompts follow CLIP's zero-shot prompt ensembles.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np

from imagebind_lite.data.world.attributes import bin_words
from imagebind_lite.data.world.concepts import Concept
from imagebind_lite.data.world.config import WorldConfig

ADVERBS = {"slow": "slowly", "steady": "steadily", "fast": "quickly"}

NAMED = (
    "a photo of a {size} {colour} {name}",
    "a {name} that {sound} {tempo}",
    "a {size} {name}, {colour} and {texture}",
    "the {name} {motion} {tempo}",
    "a {texture} {shape} {name}",
    "a {heat} {name} in the room",
    "{name}",
)
# one factor each: factor levels are shared, so these captions are ambiguous on their own
DESCRIBED = (
    "something {colour}",
    "a {shape} thing",
    "it {sound} {tempo}",
    "a {size} {texture} object",
    "something {heat} that {motion} {tempo}",
)
PROMPTS = (
    "a photo of a {}", "a picture of the {}", "a {}", "the sound of a {}",
    "a depth map of a {}", "a thermal image of a {}", "a {} in motion",
)
ATTRIBUTE_PROMPTS = ("something {}", "a {} rhythm", "moving at a {} pace")


def _words(concept: Concept, attrs: Dict[str, float], cfg: WorldConfig) -> Dict[str, str]:
    tempo_word = bin_words("tempo_bin", cfg.tempo_bins)[attrs["tempo_bin"]]
    return {
        "size": bin_words("size_bin", cfg.size_bins)[attrs["size_bin"]],
        "colour": concept.colour, "texture": concept.texture, "shape": concept.shape,
        "heat": concept.heat_level, "sound": concept.sound_verb, "motion": concept.motion_verb,
        "tempo": ADVERBS.get(tempo_word, f"at {tempo_word}"),
    }


def caption(concept: Concept, attrs: Dict[str, float], cfg: WorldConfig,
            rng: np.random.Generator) -> str:
    """One caption for an instance, drawn from the templates with ``rng``."""
    words = _words(concept, attrs, cfg)
    if rng.uniform() < cfg.name_rate:
        names = concept.names
        words["name"] = names[int(rng.integers(len(names)))]
        template = NAMED[int(rng.integers(len(NAMED)))]
    else:
        template = DESCRIBED[int(rng.integers(len(DESCRIBED)))]
    return template.format(**words)


def class_prompts(concepts: List[Concept]) -> Dict[str, List[str]]:
    """Class name -> prompt texts over its name and first synonym (zero-shot ensembles)."""
    return {c.name: [p.format(n) for n in c.names[:2] for p in PROMPTS] for c in concepts}


def attribute_prompts(kind: str, cfg: WorldConfig) -> Dict[str, List[str]]:
    """Bin word -> prompt texts for a binned attribute (``tempo_bin`` or ``size_bin``)."""
    bins = cfg.tempo_bins if kind == "tempo_bin" else cfg.size_bins
    return {w: [p.format(w) for p in ATTRIBUTE_PROMPTS] for w in bin_words(kind, bins)}

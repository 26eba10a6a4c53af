"""``SyntheticWorld``: deterministic instances of K concepts across six modalities.

Every sample is a pure function of (seed, collection, index): each collection has its own
seed stream, so the (image, audio) pairs never share an instance with the (image, depth) pairs,
as ImageBind's pair data sets come from different sources; the ``eval`` collection is held out
and carries all six modalities of one instance. Randomness is split into independent streams
(attributes, scene, audio, IMU, text) so that rendering fewer modalities changes nothing in the
ones rendered. Raw outputs only (uint8 image, metres, degrees as uint8/uint16, waveform, IMU
array, caption string): turning them into tensors is the modalities' job.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from imagebind_lite.data.world import captions, scene
from imagebind_lite.data.world.attributes import ATTRIBUTE_NAMES, NONVISUAL_ATTRIBUTES, bin_words, sample_attributes
from imagebind_lite.data.world.concepts import Concept, make_concepts
from imagebind_lite.data.world.config import COLLECTIONS, DIRECT_COLLECTIONS, EVAL_COLLECTION, MODALITIES, WorldConfig
from imagebind_lite.data.world.motion import render_imu
from imagebind_lite.data.world.noise import NoiseBank
from imagebind_lite.data.world.sound import concept_tables, flutter, render_audio
from imagebind_lite.errors import InputError

_CODES = {name: i + 1 for i, name in enumerate(COLLECTIONS)}  # seed-stream id of each collection
_ATTRS, _SCENE, _PIXELS, _AUDIO, _IMU, _TEXT = range(6)  # independent random streams per sample


class SyntheticWorld:
    """A world of ``cfg.num_concepts`` concepts; see the module docstring."""

    def __init__(self, cfg: Optional[WorldConfig] = None, **overrides: Any):
        self.config = cfg if cfg is not None else WorldConfig(**overrides)
        if cfg is not None and overrides:
            raise InputError("pass either a WorldConfig or keyword overrides, not both", modality="world")
        self.concepts: List[Concept] = make_concepts(self.config.num_concepts, self.config.seed)
        c = self.config
        # precomputed once: pixel grid, sample indices and times, noise, tables per concept
        self._uv = scene.grid(c.image_size)
        self._steps = np.arange(c.audio_samples, dtype=np.int64)
        self._buzz = flutter(self._steps / c.sample_rate)
        self._t_imu = np.arange(c.imu_samples, dtype=np.float64) / c.imu_rate
        self._noise = NoiseBank(c.seed)
        self._tables = [concept_tables(k.harmonics, k.envelope) for k in self.concepts]

    @property
    def class_names(self) -> List[str]:
        return [c.name for c in self.concepts]

    @staticmethod
    def modalities(collection: str) -> tuple:
        """Modalities a sample of ``collection`` carries: vision plus X, or all six for eval."""
        if collection == EVAL_COLLECTION:
            return MODALITIES
        if collection in DIRECT_COLLECTIONS:
            return DIRECT_COLLECTIONS[collection]
        return ("vision", collection)

    def _rng(self, code: int, index: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, code, index, stream])

    def sample(self, collection: str, index: int) -> Dict[str, Any]:
        """Instance ``index`` of ``collection`` (see module docstring); same inputs, same bytes."""
        if collection not in _CODES:
            raise InputError(f"unknown collection {collection!r}; expected one of {COLLECTIONS}",
                             modality="world", source=collection)
        if int(index) < 0:
            raise InputError(f"index must be >= 0, got {index}", modality="world", source=collection)
        code, index = _CODES[collection], int(index)
        label = index % len(self.concepts)  # balanced classes in every prefix of a collection
        concept = self.concepts[label]
        attrs = sample_attributes(self._rng(code, index, _ATTRS), concept, self.config)
        out: Dict[str, Any] = {"id": f"{collection}-{index:06d}", "label": label,
                               "concept": concept.name, "attributes": attrs}
        want = self.modalities(collection)
        cams = [m for m in ("vision", "depth", "thermal") if m in want]
        geometry = scene.sample_scene(self._rng(code, index, _SCENE), attrs, self.config)
        out.update(scene.render_scene(concept, attrs, geometry, self._uv, self.config,
                                      self._rng(code, index, _PIXELS), self._noise, cams))
        if "audio" in want:
            out["audio"] = render_audio(concept, attrs, self._tables[label], self._steps, self._buzz,
                                        self.config, self._rng(code, index, _AUDIO), self._noise)
        if "imu" in want:
            out["imu"] = render_imu(concept, attrs, self._t_imu, self.config, self._rng(code, index, _IMU))
        if "text" in want:
            out["text"] = captions.caption(concept, attrs, self.config, self._rng(code, index, _TEXT))
        return out

    def dataset(self, collection: str, size: int, transform=None):
        """A torch Dataset of ``size`` samples of ``collection``, generated on the fly."""
        from imagebind_lite.data.world.dataset import WorldDataset

        return WorldDataset(self.config, collection, size, transform=transform)

    def class_prompts(self) -> Dict[str, List[str]]:
        """Class name -> prompt texts for zero-shot classification."""
        return captions.class_prompts(self.concepts)

    @staticmethod
    def attribute_names() -> List[str]:
        """Names of the attributes every sample carries under ``"attributes"``."""
        return list(ATTRIBUTE_NAMES)

    @staticmethod
    def nonvisual_attributes() -> List[str]:
        """Attributes with no visual correlate (heard and felt, never seen)."""
        return list(NONVISUAL_ATTRIBUTES)

    def attribute_classes(self) -> Dict[str, List[str]]:
        """Binned attribute -> its class words, e.g. ``{"tempo_bin": ["slow", "steady", "fast"]}``."""
        return {"tempo_bin": bin_words("tempo_bin", self.config.tempo_bins),
                "size_bin": bin_words("size_bin", self.config.size_bins)}

    def attribute_prompts(self, kind: str = "tempo_bin") -> Dict[str, List[str]]:
        """Bin word -> prompts, for zero-shot evaluation of a binned attribute."""
        if kind not in ("tempo_bin", "size_bin"):
            raise InputError(f"no prompts for attribute {kind!r}", modality="text", source=kind)
        return captions.attribute_prompts(kind, self.config)

    def describe(self) -> Dict[str, Any]:
        """JSON-ready description (written as world.json)."""
        return {"config": self.config.to_dict(), "class_names": self.class_names,
                "concepts": [c.to_dict() for c in self.concepts], "prompts": self.class_prompts(),
                "attributes": self.attribute_names(), "nonvisual_attributes": self.nonvisual_attributes(),
                "attribute_classes": self.attribute_classes(),
                "attribute_prompts": {k: self.attribute_prompts(k) for k in ("tempo_bin", "size_bin")}}

    def __repr__(self) -> str:
        c = self.config
        return f"SyntheticWorld(num_concepts={c.num_concepts}, seed={c.seed}, image_size={c.image_size})"

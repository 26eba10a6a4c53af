"""Configuration of the synthetic multimodal world.

One dataclass, one commented line per field, in the open_clip style. Every number that shapes
the world lives here so that a world is fully described by its config (and written to
``world.json`` next to the files).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, Mapping

from imagebind_lite.errors import InputError

#: the (image, X) pair collections, each with its own instances, as in ImageBind
PAIR_COLLECTIONS = ("text", "audio", "depth", "thermal", "imu")
#: held-out evaluation collection: one instance carries all six modalities
EVAL_COLLECTION = "eval"
#: pairs of two non-image modalities, for direct baselines (e.g. audio trained with text itself:
#: the ceiling that emergent audio-text alignment is reported against); never used for pivot training
DIRECT_COLLECTIONS = {"audio_text": ("audio", "text")}
# New collections go at the end: a collection's position seeds its instances.
COLLECTIONS = PAIR_COLLECTIONS + (EVAL_COLLECTION,) + tuple(DIRECT_COLLECTIONS)
#: every modality a sample can carry, vision being the pivot
MODALITIES = ("vision", "text", "audio", "depth", "thermal", "imu")


@dataclass
class WorldConfig:
    """Everything that determines a synthetic world; same config, same bytes."""

    num_concepts: int = 16  # K named concepts (the class labels); up to the catalogue size (>= 64)
    seed: int = 0  # master seed: concept design and every instance derive from it
    image_size: int = 64  # side of the square vision/depth/thermal renders, in pixels
    sample_rate: int = 16000  # audio sample rate in Hz (ImageBind uses 16 kHz)
    audio_seconds: float = 2.0  # audio clip length in seconds
    imu_rate: int = 100  # IMU sample rate in Hz
    imu_seconds: float = 2.0  # IMU clip length in seconds
    tempo_range: tuple = (1.0, 4.0)  # instance tempo in events/s: heard and felt, never seen
    tempo_bins: int = 3  # tempo is also given as a class label in this many equal bins
    size_bins: int = 3  # object size likewise (small / medium / large)
    clutter_max: int = 3  # at most this many distractor blobs per scene
    pixel_noise: float = 8.0  # std of Gaussian noise on the 0..255 image
    depth_noise: float = 0.02  # std of depth sensor noise in metres
    thermal_noise: float = 1.5  # std of thermal noise in degrees Celsius
    thermal_bits: int = 8  # 8: fixed-gain 0..80 C (LLVIP-like); 16: centi-kelvin (radiometric)
    audio_noise: float = 0.1  # std of additive audio noise (full scale 1.0)
    imu_noise: float = 0.3  # std of IMU noise (m/s^2 and rad/s)
    name_rate: float = 0.55  # share of captions that name the concept; others only describe it

    def __post_init__(self) -> None:
        from imagebind_lite.data.world.catalogue import CATALOGUE

        if not 2 <= self.num_concepts <= len(CATALOGUE):
            raise InputError(f"num_concepts must be in 2..{len(CATALOGUE)}, got {self.num_concepts}",
                             modality="world")
        if self.image_size < 16:
            raise InputError(f"image_size must be >= 16, got {self.image_size}", modality="world")
        if self.thermal_bits not in (8, 16):
            raise InputError(f"thermal_bits must be 8 or 16, got {self.thermal_bits}", modality="world")
        lo, hi = self.tempo_range
        if not 0 < lo < hi:
            raise InputError(f"tempo_range must be increasing and positive, got {self.tempo_range}",
                             modality="world")
        self.tempo_range = (float(lo), float(hi))

    @property
    def audio_samples(self) -> int:
        """Number of audio samples per clip."""
        return int(round(self.sample_rate * self.audio_seconds))

    @property
    def imu_samples(self) -> int:
        """Number of IMU time steps per clip."""
        return int(round(self.imu_rate * self.imu_seconds))

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def for_encoders(cls, data_configs: Mapping[str, Mapping[str, Any]], **overrides: Any) -> "WorldConfig":
        """A config whose raw outputs suit encoders with these data configs (``{modality:
        EncoderConfig.data}``): images as large as the largest camera input, audio at the audio
        encoder's rate and at least one clip long, IMU at the rate and length the IMU encoder
        expects. The modalities' own transforms still do the final resizing, as for real files."""
        base, values = cls(), {}
        sides = [int(d["image_size"]) for m, d in data_configs.items()
                 if m in ("vision", "depth", "thermal") and "image_size" in d]
        if sides:
            values["image_size"] = max(sides)
        audio = data_configs.get("audio", {})
        if "sample_rate" in audio:
            values["sample_rate"] = int(audio["sample_rate"])
            values["audio_seconds"] = max(base.audio_seconds, float(audio.get("clip_duration", 0.0)))
        imu = data_configs.get("imu", {})
        if "sample_rate" in imu:
            rate = int(imu.get("source_rate", imu["sample_rate"]))
            values["imu_rate"] = rate
            seconds = float(imu.get("num_samples", 0)) / float(imu["sample_rate"])
            values["imu_seconds"] = max(base.imu_seconds, seconds)
        values.update(overrides)
        return cls(**values)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "WorldConfig":
        """Inverse of ``to_dict``; unknown keys are ignored so old world.json files still load."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names})

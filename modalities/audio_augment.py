"""Audio augmentation for training: on the waveform (crop, speed, shift, gain, noise), then
SpecAugment masks on the fbank. Options are set per run in the data module's ``augment``:

    augment:
      audio: {random_crop_s: 1.5, speed: [0.9, 1.1], gain_db: 6, noise_snr_db: [10, 30],
              noise_p: 0.5, time_mask: 12, freq_mask: 6}

The waveform steps work on the mono, resampled signal the input cache keeps (``to_signal``),
so a cached run decodes each file once and still sees new draws every pass. Speed
perturbation resamples (tempo and pitch change together, as Kaldi's speed perturbation does);
a pitch shift at constant tempo needs a phase vocoder, too slow per sample on CPU, so it is not
offered. Mixup is refused with its reason (``REFUSED``).

References: Park et al. 2019 (SpecAugment; torchaudio's ``TimeMasking``/``FrequencyMasking``),
Ko et al. 2015 (speed perturbation), the usual add-noise-at-SNR recipe (signal power over
noise power in dB).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import soxr
import torch
import torchaudio

from imagebind_lite import InputError
from imagebind_lite.augment import Augmenter, check_options, probability, torch_seed, value_range
from imagebind_lite.modalities.audio_features import decode_audio, mix_channels, resample

KNOWN = {
    "random_crop_s": "keep a random window of this many seconds of longer recordings",
    "speed": "[low, high] speed factor, by resampling (tempo and pitch together)",
    "shift_s": "shift by up to this many seconds either way, zero-filled",
    "gain_db": "random gain, x for [-x, x] dB or [low, high]",
    "noise_snr_db": "[low, high] signal-to-noise ratio of mixed-in noise (white unless noise_dir)",
    "noise_dir": "a folder of noise recordings to mix in instead of white noise",
    "noise_p": "probability that a sample gets noise (default 1)",
    "time_mask": "SpecAugment: mask up to this many fbank frames",
    "freq_mask": "SpecAugment: mask up to this many mel bins",
    "mask_count": "time and frequency masks per clip (default 1)",
}
REFUSED = {
    "mixup": "the alignment losses take one-hot (or uniform multi-positive) targets, and a clip mixed "
             "from two samples would need targets weighted lambda and 1 - lambda over two images; with "
             "equal weights it would learn to sit midway between unrelated images. Use noise_dir to mix "
             "in other sounds instead",
}
DEFAULT_SNR_DB = (5.0, 30.0)
NOISE_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif")


class AudioAugmenter(Augmenter):
    def __init__(self, modality: str, options: Optional[dict] = None):
        options = check_options(modality, options, KNOWN, REFUSED)
        super().__init__(modality, options)
        self.crop_s = _non_negative(modality, options, "random_crop_s")
        self.speed = value_range(modality, "speed", options["speed"], low=0.1) if "speed" in options else None
        self.shift_s = _non_negative(modality, options, "shift_s")
        self.gain_db = value_range(modality, "gain_db", options["gain_db"], symmetric=True) if "gain_db" in options else None
        self.noise_files = _noise_files(modality, options["noise_dir"]) if options.get("noise_dir") else []
        wants_noise = "noise_snr_db" in options or self.noise_files
        self.snr_db = value_range(modality, "noise_snr_db", options.get("noise_snr_db", DEFAULT_SNR_DB)) if wants_noise else None
        self.noise_p = probability(modality, "noise_p", options.get("noise_p", 1.0))
        self.time_mask = int(_non_negative(modality, options, "time_mask"))
        self.freq_mask = int(_non_negative(modality, options, "freq_mask"))
        self.mask_count = int(_non_negative(modality, options, "mask_count", default=1))
        self._noise_cache: dict = {}  # file -> waveform at the run's rate; per process, filled on use

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_noise_cache"] = {}  # each worker decodes what it uses; do not ship waveforms
        return state

    def signal(self, signal: Any, data: dict, rng: np.random.Generator) -> np.ndarray:
        """Waveform [n] or [channels, n] at ``data["sample_rate"]`` -> a new, changed one."""
        rate = data["sample_rate"]
        wave = np.asarray(signal, dtype=np.float32)
        if self.crop_s and wave.shape[-1] > int(self.crop_s * rate):
            length = int(self.crop_s * rate)
            start = int(rng.integers(0, wave.shape[-1] - length + 1))
            wave = wave[..., start:start + length]
        if self.speed is not None:  # played faster: fewer samples at the same rate
            factor = float(rng.uniform(*self.speed))
            wave = np.ascontiguousarray(soxr.resample(wave.T, rate * factor, rate, quality="HQ").T, dtype=np.float32)
        if self.shift_s:
            wave = _shift(wave, int(rng.integers(-int(self.shift_s * rate), int(self.shift_s * rate) + 1)))
        if self.gain_db is not None:
            wave = wave * np.float32(10.0 ** (rng.uniform(*self.gain_db) / 20.0))
        if self.snr_db is not None and rng.random() < self.noise_p:
            wave = self._add_noise(wave, rate, rng)
        return wave

    def tensor(self, tensor: torch.Tensor, data: dict, rng: np.random.Generator) -> torch.Tensor:
        """SpecAugment on normalised fbanks [clips, 1, mel, frames]: masked cells become 0, the
        normalised mean; each clip gets its own masks."""
        if not (self.time_mask or self.freq_mask):
            return tensor
        masks = [torchaudio.transforms.FrequencyMasking(self.freq_mask, iid_masks=True)] if self.freq_mask else []
        masks += [torchaudio.transforms.TimeMasking(self.time_mask, iid_masks=True)] if self.time_mask else []
        batched = tensor if tensor.dim() == 4 else tensor.reshape(-1, 1, *tensor.shape[-2:])
        with torch.random.fork_rng(devices=[]):  # torchaudio draws from torch's global generator
            torch.manual_seed(torch_seed(rng))
            for _ in range(self.mask_count):
                for mask in masks:
                    batched = mask(batched)
        return batched.reshape(tensor.shape)

    def _add_noise(self, wave: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
        noise = self._noise_like(wave, rate, rng)
        signal_power, noise_power = float(np.mean(wave ** 2)), float(np.mean(noise ** 2))
        if signal_power == 0.0 or noise_power == 0.0:
            return wave  # silence stays silence: no SNR is defined
        snr = rng.uniform(*self.snr_db)
        return wave + noise * np.float32(np.sqrt(signal_power / (noise_power * 10.0 ** (snr / 10.0))))

    def _noise_like(self, wave: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
        if not self.noise_files:
            return rng.standard_normal(wave.shape).astype(np.float32)
        path = self.noise_files[int(rng.integers(len(self.noise_files)))]
        noise = self._noise_wave(path, rate)
        length = wave.shape[-1]
        if noise.shape[0] < length:  # loop a short noise to cover the recording
            noise = np.tile(noise, -(-length // noise.shape[0]))
        start = int(rng.integers(0, noise.shape[0] - length + 1))
        return np.broadcast_to(noise[start:start + length], wave.shape)

    def _noise_wave(self, path: Path, rate: int) -> np.ndarray:
        key = (path, rate)
        if key not in self._noise_cache:
            try:
                samples, file_rate = decode_audio(path)
            except Exception as exc:
                raise InputError(f"cannot decode noise file: {type(exc).__name__}: {exc}", modality=self.modality,
                                 source=str(path)) from exc
            mono = mix_channels(samples, "mean")
            self._noise_cache[key] = np.asarray(resample(mono, file_rate, rate), dtype=np.float32)
        return self._noise_cache[key]


def _non_negative(modality: str, options: dict, key: str, default: float = 0.0) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InputError(f"augmentation {key!r} must be a number >= 0, got {value!r}", modality=modality)
    return float(value)


def _shift(wave: np.ndarray, offset: int) -> np.ndarray:
    """Delay (offset > 0) or advance the recording, zero-filling what is uncovered."""
    shifted = np.zeros_like(wave)
    offset = max(-wave.shape[-1], min(wave.shape[-1], offset))
    if offset >= 0:
        shifted[..., offset:] = wave[..., :wave.shape[-1] - offset]
    else:
        shifted[..., :offset] = wave[..., -offset:]
    return shifted


def _noise_files(modality: str, folder: Any) -> list:
    path = Path(str(folder)).expanduser()
    if not path.is_dir():
        raise InputError("noise_dir is not a directory", modality=modality, source=str(path))
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in NOISE_SUFFIXES and p.is_file())
    if not files:
        raise InputError(f"noise_dir holds no audio file ({', '.join(NOISE_SUFFIXES)})", modality=modality,
                         source=str(path))
    return files

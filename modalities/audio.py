"""Audio: wav/flac/ogg/opus/mp3 at any rate and channel count -> ImageBind's log-mel clips.

Preprocessing (``modalities/audio_features.py``): mono (``data["channels"]``: the mean of the
channels, or ImageBind's channel 0 in the ImageBind-size preset), resampled to
``data["sample_rate"]``, ``clips_per_sample`` clips of ``clip_duration`` s spread over the file,
Kaldi fbank per clip padded/cut to ``target_length`` frames, normalised with ``mean``/``std``.
A sample is [clips, 1, mel, frames]; the encoder averages the clip embeddings.
Very short recordings (shorter than one clip) and silent ones are padded as ImageBind pads them,
with an ``AudioPaddingWarning`` naming the source, never an error.

ImageBind-size preset after ImageBind-huge's audio branch (Girdhar et al. 2023, released model):
Conv2d(1, 768, k16, s10, bias=False) + LayerNorm (eps 1e-5, torch's default, as ImageBind's
``nn.LayerNorm(normalized_shape=...)``), 768 wide, 12 deep, 12 heads, drop path 0.1, extra
key/value token, head LayerNorm + cls + Linear(768, 1024, bias=False), fixed post-scale 20.
Key map for a converter (ImageBind prefix ``modality_preprocessors.audio.``): ``rgbt_stem.proj.weight``
-> ``stem.proj.weight``, ``rgbt_stem.norm_layer.*`` -> ``stem.norm.*``, ``cls_token`` ->
``stem.cls_token``, ``pos_embedding_helper.pos_embed`` -> ``stem.pos_embed``.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
import torch
from torch import nn

from imagebind_lite import EncoderConfig, InputError, ModalitySpec, register_modality
from imagebind_lite.cnn_kind import cnn_kind
from imagebind_lite.layers import PatchStem, Stem
from imagebind_lite.modalities.audio_augment import AudioAugmenter
from imagebind_lite.modalities.audio_features import SILENCE_PEAK, decode_audio, mix_channels, resample, waveform_to_clips
from imagebind_lite.modalities.audio_towers import HF_AUDIO_KIND, HF_PREPROCESS, hf_clips

MAX_CHANNELS = 16  # a 2-D array with a side this small is [channels, n] (or [n, channels])


class AudioPaddingWarning(UserWarning):
    """A recording was shorter than a clip or silent, and was padded as ImageBind pads it."""


class Recording(NamedTuple):
    samples: np.ndarray  # [channels, n] float32
    rate: Optional[int]  # Hz; None means "already at the encoder's sample rate" (raw arrays)


@register_modality("audio")
class AudioModality(ModalitySpec):
    extensions = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif")
    trunk_kinds = {**ModalitySpec.trunk_kinds, "hf_audio": HF_AUDIO_KIND,
                   "cnn": cnn_kind(in_chans=1)}  # cnn: each fbank clip is a 1-channel image

    def presets(self) -> dict[str, EncoderConfig]:
        tiny_data = {
            "sample_rate": 16000,      # Hz, after resampling
            "clip_duration": 1.0,      # seconds per clip
            "clips_per_sample": 2,     # clips spread over each recording, embeddings averaged
            "num_mel_bins": 32,        # fbank mel bands
            "target_length": 96,       # fbank frames per clip after pad/cut (1 s gives 98)
            "mean": -4.268, "std": 9.138,  # ImageBind's (AudioSet) fbank normalisation
            "resampler": "soxr_hq",    # "soxr_hq" (fast, steep filter) or "torchaudio" (ImageBind's)
            "channels": "mean",        # "mean" of the channels, or "first" (ImageBind's: channel 0)
        }
        huge_data = {**tiny_data, "clip_duration": 2.0, "clips_per_sample": 3, "num_mel_bins": 128,
                     "target_length": 204, "resampler": "torchaudio", "channels": "first"}  # ImageBind's recipe
        return {
            "tiny": EncoderConfig("audio", embed_dim=128, width=64, depth=2, num_heads=4,
                                  stem={"kernel_size": 8, "stride": 8, "norm_eps": 1e-5}, data=tiny_data),
            # Start here with little data (hundreds of clips): a small CNN over each clip's log-mel
            # (PANNs-style); trunk={"timm_model": "resnet18"} swaps in any timm model. 32 mel bands
            # generalised to unseen voices as well as 64 at half the cost.
            "cnn": EncoderConfig("audio", embed_dim=128, trunk={"kind": "cnn", "channels": [16, 32, 64, 128]},
                                 data=dict(tiny_data)),
            "imagebind_huge": EncoderConfig(
                "audio", embed_dim=1024, width=768, depth=12, num_heads=12, drop_path=0.1, extra_kv=True,
                output_scale=20.0, stem={"kernel_size": 16, "stride": 10, "norm_eps": 1e-5}, data=huge_data,
            ),
            # Kind "hf_audio": a pretrained Hugging Face audio model (AST, wav2vec2, HuBERT, Whisper's
            # encoder, CLAP's audio tower) from a local directory, its own feature extractor, pooled
            # ("auto": projection > pooler > mean over time), then the shared head; see audio_towers.py.
            # create_encoder("audio/hf", trunk={"hf_audio_path": "/models/ast"}); sample rate and clip
            # length come from the extractor unless data sets clip_duration.
            "hf": EncoderConfig("audio", embed_dim=128, pool="none",
                                trunk={"kind": "hf_audio", "hf_audio_path": None, "hf_pool": "auto"},
                                data={"clips_per_sample": 1, "channels": "mean", "resampler": "soxr_hq"}),
        }

    def read_file(self, path: Path) -> Recording:
        samples, rate = decode_audio(path)
        return Recording(samples, rate)

    def read_bytes(self, data: bytes, suffix: str) -> Recording:
        try:
            samples, rate = decode_audio(io.BytesIO(data))
        except Exception:  # a format libsndfile cannot read from memory: through a file, as read_file
            return super().read_bytes(data, suffix)
        return Recording(samples, rate)

    def validate(self, raw, source: str) -> Recording:
        channels_first = isinstance(raw, Recording)  # decoded files: [channels, n], however many channels
        if isinstance(raw, tuple) and len(raw) == 2 and not channels_first:
            raw = Recording(*raw)  # (waveform, sample_rate) from a caller who knows the rate
        samples, rate = (raw.samples, raw.rate) if isinstance(raw, Recording) else (raw, None)
        samples = _as_channels_first(samples, self.name, source, channels_first)
        if samples.shape[1] == 0:
            raise InputError("audio has no samples", modality=self.name, source=source)
        if not np.isfinite(samples).all():
            raise InputError("audio has NaN or inf samples", modality=self.name, source=source)
        if rate is not None and not (isinstance(rate, (int, float, np.number)) and np.isfinite(rate) and rate > 0
                                     and int(rate) == rate):
            raise InputError(f"invalid sample rate {rate!r}", modality=self.name, source=source)
        return Recording(samples, None if rate is None else int(rate))

    def to_tensor(self, raw: Recording, data: dict, source: str) -> torch.Tensor:
        return self.signal_to_tensor(self.to_signal(raw, data, source), data, source)

    def to_signal(self, raw: Recording, data: dict, source: str) -> np.ndarray:
        """Mono (or channels-first for ``"first"``), resampled waveform: what the input cache
        keeps when audio is augmented (``audio_augment.py``)."""
        target = data["sample_rate"]
        wave = mix_channels(raw.samples, data.get("channels", "mean"))
        wave = resample(wave, raw.rate or target, target, data.get("resampler", "soxr_hq"))
        if data.get("preprocess") == HF_PREPROCESS:  # the extractor pads or cuts each clip itself
            return wave
        seconds = wave.shape[-1] / target
        if seconds < data["clip_duration"]:
            warnings.warn(f"[audio {source}] {seconds:.3f} s is shorter than a {data['clip_duration']} s clip; "
                          "fbank frames zero-padded as ImageBind does", AudioPaddingWarning, stacklevel=2)
        if np.abs(wave if wave.ndim == 1 else wave[0]).max() < SILENCE_PEAK:
            warnings.warn(f"[audio {source}] recording is silent; its fbank is the log floor",
                          AudioPaddingWarning, stacklevel=2)
        return wave

    def signal_to_tensor(self, signal: np.ndarray, data: dict, source: str) -> torch.Tensor:
        if data.get("preprocess") == HF_PREPROCESS:  # the model's own feature extractor (audio_towers.py)
            return hf_clips(signal, data)
        return waveform_to_clips(signal, data)

    def augmenter(self, options: dict) -> AudioAugmenter:
        return AudioAugmenter(self.name, options)

    def example_input(self, data: dict, rng: np.random.Generator) -> Recording:
        samples = int(data["clip_duration"] * data["clips_per_sample"] * data["sample_rate"])
        return Recording(0.1 * rng.standard_normal((1, samples)).astype(np.float32), data["sample_rate"])

    def build_stem(self, config: EncoderConfig) -> Stem:
        kernel, stride = config.stem["kernel_size"], config.stem["stride"]
        data = config.data
        grid_f = (data["num_mel_bins"] - kernel) // stride + 1
        grid_t = (data["target_length"] - kernel) // stride + 1
        proj = nn.Conv2d(1, config.width, kernel_size=kernel, stride=stride, bias=False)
        return PatchStem(proj, grid_f * grid_t, config.width, input_ndim=3, norm_eps=config.stem.get("norm_eps"))


def _as_channels_first(samples, modality: str, source: str, channels_first: bool = False) -> np.ndarray:
    """1-D waveform, [channels, n] or (unless ``channels_first``) [n, channels] -> float32 [channels, n]."""
    if isinstance(samples, torch.Tensor):
        samples = samples.detach().cpu().numpy()
    array = np.asarray(samples)
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise InputError(f"audio must be real numbers, got dtype {array.dtype}", modality=modality, source=source)
    if np.issubdtype(array.dtype, np.integer):  # PCM integers -> [-1, 1]
        array = array / float(np.iinfo(array.dtype).max + 1)
    if array.ndim == 1:
        array = array[None]
    elif array.ndim == 2 and not channels_first and array.shape[0] > MAX_CHANNELS >= array.shape[1]:
        array = array.T  # soundfile's [n, channels] layout
    elif array.ndim != 2 or (array.shape[0] > MAX_CHANNELS and not channels_first):
        raise InputError(f"expected a waveform [n] or [channels, n], got shape {array.shape}",
                         modality=modality, source=source)
    return np.ascontiguousarray(array, dtype=np.float32)

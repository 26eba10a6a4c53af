"""Audio features after ImageBind's recipe: decode, mono, resample, clips, Kaldi fbank.

References (read, not copied): ImageBind ``imagebind/data.py`` (``load_and_transform_audio_data``,
``waveform2melspec``), which follows AST (Gong et al. 2021); pytorchvideo
``ConstantClipsPerVideoSampler`` for where the clips start.

Facts checked against ImageBind's code:
- the waveform is float in [-1, 1] (``torchaudio.load``); it is NOT scaled by 32768;
- each clip's mean is removed, then ``torchaudio.compliance.kaldi.fbank`` with htk_compat, no
  energy, hanning window, no dither, 25 ms frames, 10 ms shift;
- the fbank is transposed to [mel, frames], zero-padded at the end (in the log-mel domain,
  before normalising) or cut to ``target_length``, then normalised as (x - mean) / std;
- clip k of n starts at k * max(duration - clip_duration, 0) / n seconds (note: divided by n,
  not n - 1, so the last clip does not reach the end); clip sample indices are
  ``int(start * rate)`` to ``int(end * rate)``, with exact fractions as pytorchvideo uses.

Exactly as ImageBind, including a quirk: each clip's mean is subtracted IN PLACE from the shared
waveform (ImageBind's ``waveform -= waveform.mean()`` acts on a view), so when clips overlap
(recordings between one and ``clips`` clip lengths long) a later clip sees the earlier clip's
mean already removed from the overlap. Reproduced so converted checkpoints see their features.

Resampling is chosen by ``data["resampler"]``: ``"torchaudio"`` is ImageBind's own
(``torchaudio.functional.resample``, windowed sinc, default arguments; the ImageBind-size preset
uses it, so its features match the official ones); ``"soxr_hq"`` is soxr's high-quality
resampler (librosa's default), faster and with a steeper anti-aliasing filter.

Channels follow ``data["channels"]``: ``"mean"`` (the default) averages them; ``"first"`` is
ImageBind's recipe, which the ImageBind-size preset uses: every channel is resampled and each
clip is made mean-free across all channels, but the fbank reads channel 0 only (Kaldi's
``channel`` argument left at its default), so the other channels are dropped.
"""
from __future__ import annotations

import warnings
from fractions import Fraction
from functools import lru_cache

import librosa
import numpy as np
import soundfile
import soxr
import torch
import torch.nn.functional as F
import torchaudio
from torchaudio.compliance import kaldi

FRAME_LENGTH_MS = 25.0  # Kaldi window length ImageBind uses
FRAME_SHIFT_MS = 10.0  # Kaldi hop ImageBind uses
PREEMPHASIS = 0.97  # Kaldi's default pre-emphasis coefficient
KALDI_LOW_HZ, KALDI_VTLN_LOW_HZ, KALDI_VTLN_HIGH_HZ = 20.0, 100.0, -500.0  # kaldi.fbank's defaults
SILENCE_PEAK = 1e-6  # peak amplitude below which a recording counts as silent (~ -120 dBFS)


def decode_audio(path) -> tuple[np.ndarray, int]:
    """File -> ([channels, n] float32 in [-1, 1], sample rate).

    soundfile (libsndfile) reads wav/flac/ogg/opus and, since libsndfile 1.1, mp3; anything it
    refuses goes through librosa, which falls back to audioread (ffmpeg/gstreamer if present).
    """
    source = path if hasattr(path, "read") else str(path)  # a path, or a file object (shard member bytes)
    try:
        samples, rate = soundfile.read(source, dtype="float32", always_2d=True)
        return np.ascontiguousarray(samples.T), int(rate)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as soundfile_error:
        try:
            with warnings.catch_warnings():  # librosa warns about its own fallback; we report below
                warnings.simplefilter("ignore")
                samples, rate = librosa.load(source, sr=None, mono=False, dtype=np.float32)
        except Exception:
            raise soundfile_error from None  # libsndfile's message says more about a broken file
        return np.atleast_2d(samples), int(rate)


CHANNEL_MODES = ("mean", "first")


def mix_channels(samples: np.ndarray, mode: str = "mean") -> np.ndarray:
    """[channels, n] -> [n] (``"mean"``), or unchanged [channels, n] for ``"first"`` (see docstring)."""
    if mode == "mean":
        return samples.mean(axis=0) if samples.shape[0] > 1 else samples[0]
    if mode == "first":
        return samples
    raise ValueError(f"unknown audio channels mode {mode!r}; use one of {CHANNEL_MODES}")


def resample(wave: np.ndarray, rate: int, target_rate: int, method: str = "soxr_hq") -> np.ndarray:
    """Band-limited resampling of a waveform [n] or [channels, n] (see the module docstring for ``method``)."""
    if rate == target_rate:
        return wave
    if method == "torchaudio":
        return torchaudio.functional.resample(torch.from_numpy(wave), orig_freq=rate, new_freq=target_rate).numpy()
    if method == "soxr_hq":  # soxr directly: librosa's lazy import of its core costs ~2 s per process
        # soxr wants [n, channels]; .T views both ways, then one contiguous copy
        resampled = soxr.resample(wave.T, rate, target_rate, quality="HQ").T
        return np.ascontiguousarray(resampled, dtype=np.float32)
    raise ValueError(f"unknown resampler {method!r}; use 'soxr_hq' or 'torchaudio'")


def clip_spans(num_samples: int, rate: int, clip_duration: float, clips: int) -> list[tuple[int, int]]:
    """Sample index ranges of ``clips`` clips spread evenly over the recording.

    Same start times as pytorchvideo's ConstantClipsPerVideoSampler (exact fractions), so a clip
    of a short recording runs past its end and comes out short; the fbank is padded later.
    """
    duration = Fraction(num_samples, rate)
    length = Fraction(clip_duration)
    step = max(duration - length, Fraction(0)) / clips
    return [(int(k * step * rate), int((k * step + length) * rate)) for k in range(clips)]


@lru_cache(maxsize=8)
def _fbank_constants(rate: int, num_mel_bins: int) -> tuple[int, int, int, torch.Tensor, torch.Tensor]:
    """Kaldi's frame geometry at ``rate`` and the tensors every clip shares: the symmetric Hann
    window and the mel filterbank as a [spectrum bins, mel] matrix (Nyquist bin weighted 0)."""
    window = int(rate * FRAME_LENGTH_MS * 0.001)
    shift = int(rate * FRAME_SHIFT_MS * 0.001)
    fft_size = 1 << (window - 1).bit_length()  # Kaldi rounds the FFT up to a power of two
    banks, _ = kaldi.get_mel_banks(num_mel_bins, fft_size, float(rate), KALDI_LOW_HZ, 0.0,
                                   KALDI_VTLN_LOW_HZ, KALDI_VTLN_HIGH_HZ, 1.0)
    mel = F.pad(banks.float(), (0, 1)).T.contiguous()
    return window, shift, fft_size, torch.hann_window(window, periodic=False), mel


def log_mels(clips: list[torch.Tensor], rate: int, num_mel_bins: int, target_length: int) -> torch.Tensor:
    """Mean-free mono clips [n_i] -> Kaldi log-mel fbanks [clips, num_mel_bins, target_length] (not normalised).

    The values of ``torchaudio.compliance.kaldi.fbank`` with ImageBind's arguments (htk_compat,
    no energy, Hann window, no dither, DC offset removed per frame, pre-emphasis 0.97, power
    spectrum), computed for every frame of every clip in one FFT and one matrix product: the
    per-call setup of ``kaldi.fbank`` (filterbank, window) cost more than the transform itself
    for short clips.
    """
    window, shift, fft_size, hann, mel = _fbank_constants(rate, num_mel_bins)
    # Kaldi needs one full window; ImageBind would crash on a shorter clip
    clips = [clip if clip.numel() >= window else F.pad(clip, (0, window - clip.numel())) for clip in clips]
    frames = torch.cat([clip.unfold(0, window, shift) for clip in clips])
    frames = frames - frames.mean(dim=1, keepdim=True)
    frames = frames - PREEMPHASIS * torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
    power = torch.fft.rfft(frames * hann, n=fft_size).abs().pow(2.0)
    log_energies = torch.clamp_min(power @ mel, torch.finfo(torch.float32).eps).log()
    out = torch.zeros(len(clips), num_mel_bins, target_length)  # zeros in the log-mel domain, as ImageBind pads
    start = 0
    for index, clip in enumerate(clips):
        count = 1 + (clip.numel() - window) // shift
        kept = min(count, target_length)
        out[index, :, :kept] = log_energies[start:start + kept].T
        start += count
    return out


def waveform_to_clips(wave: np.ndarray, data: dict) -> torch.Tensor:
    """Waveform [n] or [channels, n] at ``data["sample_rate"]`` -> normalised fbanks [clips, 1, mel, target_length].

    With several channels, each clip is made mean-free across all of them and channel 0 gives
    the fbank (ImageBind's ``"first"`` recipe).
    """
    rate = data["sample_rate"]
    wave_t = torch.tensor(wave, dtype=torch.float32)  # our own copy: clips are made mean-free in place
    wave_t = wave_t if wave_t.dim() == 2 else wave_t[None]
    spans = clip_spans(wave_t.shape[1], rate, data["clip_duration"], data["clips_per_sample"])
    clips = []
    for start, end in spans:
        clip = wave_t[:, start:end]
        clip -= clip.mean()  # in place on the shared waveform, as ImageBind (see module docstring)
        clips.append(clip[0].clone())  # before a later overlapping clip changes it
    stacked = log_mels(clips, rate, data["num_mel_bins"], data["target_length"])[:, None]
    return (stacked - data["mean"]) / data["std"]

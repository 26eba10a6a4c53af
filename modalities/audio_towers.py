"""Pretrained Hugging Face audio models as audio trunks: the ``"hf_audio"`` kind (preset ``audio/hf``).

``create_encoder("audio/hf", trunk={"hf_audio_path": "/models/ast-finetuned-audioset"})``: AST,
wav2vec2 / HuBERT, a Whisper model (its encoder) or CLAP (its audio tower) from a LOCAL
``save_pretrained`` directory (``"hub": True`` reads the path as a hub id, fetched once), pooled
(``trunk["hf_pool"]``, see ``imagebind_lite.towers.hf_audio``) and projected by the shared head
to ``embed_dim``. With ``hf_pool="projection"`` and ``embed_dim=0`` a CLAP model keeps its own
audio-text space and gets no head. Train it frozen with a head (``unfreeze_last_n_blocks={"audio":
0}``), its last N layers, LoRA adapters (``lora={"audio": {"rank": 8}}``: they go into the Linear
layers of its transformer layers unless ``target_modules`` says otherwise), or fully.

The directory's own feature extractor prepares the input, and runs in ``to_tensor``, not inside
the trunk: it is CPU work (STFTs, mel filterbanks in numpy) that DataLoader workers do in
parallel while the accelerator trains, the input cache keeps its result so each file is analysed
once, and the trunk takes plain tensors like every other trunk (clip averaging, dtypes, batching
unchanged). The data config records what the extractor needs: its ``sample_rate`` (recordings
are resampled to it), ``clip_duration`` (the extractor's own window when it has one: AST's
``max_length`` frames, Whisper's ``chunk_length``, CLAP's ``max_length_s``; else 10 s),
``clips_per_sample`` (clips spread over the recording, embeddings averaged), and the ``layout``
of its outputs. Each clip is zero-padded or cut to exactly ``clip_duration`` so every sample has
one shape. The model's ``config.json`` and the extractor's files are copied into the encoder's
files directory, which a saved model carries: it rebuilds without the source directory.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from imagebind_lite.config import EncoderConfig
from imagebind_lite.errors import CheckpointError, InputError
from imagebind_lite.layers import Head, IdentityHead, PassThroughStem
from imagebind_lite.modalities.audio_features import clip_spans
from imagebind_lite.towers import hf_audio, hf_tower
from imagebind_lite.towers.files import FILES_KEY, files_of, require_files, stage_files
from imagebind_lite.towers.packing import pack, sample_ndim
from imagebind_lite.trunk_kinds import BuiltTrunk, TrunkKind

KIND = "hf_audio"
HF_PREPROCESS = hf_tower.HF_PREPROCESS
DEFAULT_CLIP_SECONDS = 10.0  # for extractors without a window of their own (wav2vec2, HuBERT)
KALDI_SHIFT_S = 0.010  # AST's frames are Kaldi fbank frames 10 ms apart
SOURCES = ("hf_audio_path", "hub")  # trunk entries naming where the weights came from


def extractor_window(extractor) -> Optional[float]:
    """Seconds of audio the extractor pads or cuts every input to, or None (any length)."""
    rate = extractor.sampling_rate
    if hasattr(extractor, "n_samples"):  # Whisper: chunk_length seconds
        return extractor.n_samples / rate
    if hasattr(extractor, "nb_max_samples"):  # CLAP: max_length_s
        return extractor.nb_max_samples / rate
    if hasattr(extractor, "num_mel_bins") and hasattr(extractor, "max_length"):  # AST: frames
        return extractor.max_length * KALDI_SHIFT_S
    return None


def fit_clip(clip: np.ndarray, length: int) -> np.ndarray:
    """Zero-pad or cut to ``length`` samples: every clip of every recording has one shape."""
    if clip.shape[-1] >= length:
        return np.ascontiguousarray(clip[:length], dtype=np.float32)
    return np.pad(clip, (0, length - clip.shape[-1])).astype(np.float32)


def extract(clips: list[np.ndarray], data: dict) -> dict[str, torch.Tensor]:
    """The directory's feature extractor on a list of equal-length clips -> ``{name: [clips, ...]}``."""
    extractor = hf_tower.processor(require_files(data, "the hf_audio audio encoder"), "audio")
    fields = extractor(clips, sampling_rate=data["sample_rate"], return_tensors="pt")
    return {name: value.float() if value.is_floating_point() else value for name, value in fields.items()}


def hf_clips(wave: np.ndarray, data: dict) -> torch.Tensor:
    """A mono waveform at ``data["sample_rate"]`` -> packed extractor outputs ``[clips, ...]``."""
    wave = wave if wave.ndim == 1 else wave[0]
    rate, seconds = data["sample_rate"], data["clip_duration"]
    length = int(round(seconds * rate))
    spans = clip_spans(wave.shape[-1], rate, seconds, data["clips_per_sample"])
    fields = extract([fit_clip(wave[start:end], length) for start, end in spans], data)
    return torch.stack([pack({name: value[i] for name, value in fields.items()})[0] for i in range(len(spans))])


def data_config(files: Path, asked: dict, modality: str) -> dict:
    """The data config to record: what the extractor needs, and the layout of its outputs."""
    extractor = hf_tower.processor(files, "audio")
    window = extractor_window(extractor)
    seconds = float(asked.get("clip_duration") or window or DEFAULT_CLIP_SECONDS)
    if window is not None and seconds > window + 1e-6:
        # The extractor would cut (or, CLAP, randomly crop) a longer clip: say so instead.
        raise InputError(f"clip_duration {seconds} s is longer than this feature extractor's {window} s window; "
                         "use clips_per_sample to cover longer recordings", modality=modality, source=str(files))
    data = {"channels": "mean", "resampler": "soxr_hq", "clips_per_sample": 1, **asked,
            "preprocess": HF_PREPROCESS, "sample_rate": int(extractor.sampling_rate), "clip_duration": seconds,
            "window": window, FILES_KEY: str(files)}
    silence = np.zeros(int(round(seconds * data["sample_rate"])), dtype=np.float32)
    layout = pack({name: value[0] for name, value in extract([silence], data).items()})[1]
    return {**data, "layout": layout}


def model_inputs(module: nn.Module, pool: str, layout: list) -> list[str]:
    """The extractor outputs the model takes (by name in its signature): extractors return some
    that a model has no argument for."""
    projects = pool == "projection" and hasattr(module, "get_audio_features")
    method = module.get_audio_features if projects else module.forward
    accepted = inspect.signature(method).parameters
    return [name for name, _, _ in layout if name in accepted]


def valid_fraction(files: Path, data: dict) -> float:
    """The share of a Whisper encoder's frames that hold the clip: Whisper pads every input to
    its window and its frames are in time order (other models' outputs are pooled whole)."""
    extractor = hf_tower.processor(files, "audio")
    if not (hasattr(extractor, "n_samples") and hasattr(extractor, "nb_max_frames")):
        return 1.0
    return min(1.0, data["clip_duration"] / data["window"])


def _source(config: EncoderConfig) -> Optional[Path]:
    source = config.trunk.get("hf_audio_path")
    if not source:
        return None
    if config.trunk.get("hub"):  # a hub id, asked for: fetched once, then read like a directory
        return hf_tower.from_hub(source)
    path = Path(source).expanduser()
    if not path.is_dir():
        raise InputError("hf_audio_path is not a directory (a Hugging Face save_pretrained directory of an AST, "
                         "wav2vec2, HuBERT, Whisper or CLAP model)", modality=config.modality, source=str(path))
    return path


def _model_and_files(config: EncoderConfig, source: Optional[Path]) -> tuple[nn.Module, Path]:
    if source is not None:
        return hf_audio.load_pretrained(source), stage_files(source, "hf_audio")
    if files_of(config.data) is None:
        raise InputError("the hf_audio audio trunk needs its model: trunk={'hf_audio_path': '/local/model/dir'}",
                         modality=config.modality)
    files = require_files(config.data, f"the hf_audio {config.modality} encoder")
    return hf_audio.from_files(files), files


def build_hf_audio(config: EncoderConfig) -> BuiltTrunk:
    """The model in ``trunk["hf_audio_path"]`` (or the encoder's files), and the config to record."""
    try:
        source = _source(config)
        model, files = _model_and_files(config, source)
        pool = config.trunk.get("hf_pool", "auto")
        module = hf_audio.audio_part(model, pool, source or files)
        if source is not None:  # a directory without a feature extractor fails now, named
            hf_tower.processor(source, "audio")
        data = data_config(files, {k: v for k, v in config.data.items() if k != "layout"}, config.modality)
        if pool == "auto" and hf_audio.has_projection(module):
            pool = "projection"
        inputs = model_inputs(module, pool, data["layout"])
        trunk = hf_audio.HFAudioTrunk(module, data["layout"], inputs, pool, valid_fraction(files, data))
        if source is None:  # a recorded config: what the first build found is in it
            width = int(config.trunk["output_width"])
        else:
            sample = hf_clips(np.zeros(1, dtype=np.float32), data)[0]
            trunk.pool = trunk.resolve_pool(sample)
            width = _output_width(trunk, sample)
    except CheckpointError as exc:
        raise CheckpointError(f"[modality {config.modality!r}] the {KIND} trunk: {exc}") from exc
    return BuiltTrunk(trunk, _recorded(config, data, trunk, width, source))


@torch.no_grad()
def _output_width(trunk: hf_audio.HFAudioTrunk, sample: torch.Tensor) -> int:
    was_training = trunk.training
    out = trunk.eval()(sample[None])
    trunk.train(was_training)
    return int(out.shape[-1])


def _recorded(config: EncoderConfig, data: dict, trunk: hf_audio.HFAudioTrunk, width: int, source) -> EncoderConfig:
    pool = trunk.pool
    recorded_head = config.trunk.get("head")
    head = recorded_head or ("identity" if pool == "projection" and config.embed_dim == 0 else "linear")
    if head == "linear" and config.embed_dim <= 0:
        raise InputError(f"the {KIND} trunk's {pool} features need a head to embed_dim: set embed_dim > 0 "
                         "(embed_dim=0 keeps the model's own space only with hf_pool='projection')",
                         modality=config.modality)
    origin = str(source) if source else config.trunk.get("initialised_from")
    recorded = {**{k: v for k, v in config.trunk.items() if k not in SOURCES}, "kind": KIND, "hf_pool": pool,
                "output_width": width, "head": head, "initialised_from": origin}
    embed_dim = width if head == "identity" else config.embed_dim
    return EncoderConfig.from_dict({**config.to_dict(), "embed_dim": embed_dim, "pool": "none", "trunk": recorded,
                                    "data": data})


def _stem(config: EncoderConfig) -> PassThroughStem:
    """The model reads the extractor's output itself; one clip is one packed sample."""
    return PassThroughStem(input_ndim=sample_ndim(config.data["layout"]))


def _head(config: EncoderConfig) -> nn.Module:
    if config.trunk.get("head") == "identity":
        return IdentityHead()
    return Head(int(config.trunk["output_width"]), config.embed_dim, "none", config.head_dropout, config.head_bias)


HF_AUDIO_KIND = TrunkKind(build_hf_audio, keys=("hf_audio_path",), stem=_stem, head=_head)

"""Audio modality: real files of every format, ImageBind's clip sampling and fbank, bad input."""
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch
from torchaudio.compliance import kaldi

import imagebind_lite as ib
from imagebind_lite.modalities.audio import AudioPaddingWarning
from imagebind_lite.modalities.audio_features import clip_spans

TINY = ib.get_modality("audio").preset("tiny").data


def tone(rate, seconds=2.0, freq=440.0, channels=1):
    t = np.arange(int(rate * seconds)) / rate
    wave = 0.5 * np.sin(2 * np.pi * freq * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    return np.stack([wave * (1 - 0.3 * c) for c in range(channels)], axis=1).astype(np.float32)


def mp3_supported():
    return "MP3" in sf.available_formats()


FORMATS = [  # (suffix, rate, channels, soundfile subtype)
    ("wav", 8000, 1, "PCM_16"),
    ("wav", 44100, 2, "PCM_16"),
    ("flac", 22050, 1, "PCM_16"),
    ("ogg", 16000, 2, "VORBIS"),
    pytest.param("mp3", 44100, 2, "MPEG_LAYER_III",
                 marks=pytest.mark.skipif(not mp3_supported(), reason="libsndfile here has no MP3 encoder")),
]


@pytest.fixture
def model():
    return ib.MultiModalModel.from_presets({"audio": "tiny"})


@pytest.mark.parametrize("suffix,rate,channels,subtype", FORMATS)
def test_files_of_every_format_embed_to_unit_vectors(model, tmp_path, suffix, rate, channels, subtype):
    path = tmp_path / f"clip.{suffix}"
    sf.write(path, tone(rate, channels=channels), rate, subtype=subtype)
    sample = model.transform("audio")(str(path))
    assert sample.shape == (TINY["clips_per_sample"], 1, TINY["num_mel_bins"], TINY["target_length"])
    embeddings = model.embed({"audio": [path, str(path)]})["audio"]
    assert embeddings.shape == (2, 128)
    assert torch.isfinite(embeddings).all()
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(2), atol=1e-5)


def test_any_rate_lands_on_the_same_spectrum(model, tmp_path):
    """A tone written at 8 kHz and at 44.1 kHz stereo gives (almost) the same fbank after resampling."""
    sf.write(tmp_path / "low.wav", tone(8000, freq=1000.0), 8000, subtype="FLOAT")
    sf.write(tmp_path / "high.wav", tone(44100, freq=1000.0, channels=1).repeat(2, axis=1), 44100, subtype="FLOAT")
    transform = model.transform("audio")
    low, high = transform(str(tmp_path / "low.wav")), transform(str(tmp_path / "high.wav"))
    assert low.mean(dim=(0, 1, 3)).argmax() == high.mean(dim=(0, 1, 3)).argmax()  # same peak mel band
    assert (low - high)[..., : TINY["num_mel_bins"] // 2, :].abs().mean() < 0.05  # below 4 kHz they agree


def test_both_resamplers_give_nearly_the_same_features(tmp_path):
    sf.write(tmp_path / "cd.wav", tone(44100, freq=1000.0), 44100, subtype="FLOAT")
    spec = ib.get_modality("audio")
    soxr_hq = spec.transform(TINY)(str(tmp_path / "cd.wav"))
    sinc = spec.transform({**TINY, "resampler": "torchaudio"})(str(tmp_path / "cd.wav"))
    assert (soxr_hq - sinc)[..., : TINY["num_mel_bins"] // 2, :].abs().mean() < 0.02
    with pytest.raises(ib.InputError, match="unknown resampler"):
        spec.transform({**TINY, "resampler": "nearest"})(str(tmp_path / "cd.wav"))


def test_channels_are_averaged(model):
    stereo = tone(16000, channels=2).T
    transform = model.transform("audio")
    assert torch.allclose(transform(stereo), transform(stereo.mean(axis=0)), atol=1e-5)
    assert torch.allclose(transform(stereo.T), transform(stereo), atol=1e-6)  # [n, channels] works too


def test_files_with_many_channels_are_read_channels_last(model, tmp_path):
    sf.write(tmp_path / "array.wav", tone(16000, channels=20) * 0.1, 16000, subtype="FLOAT")
    assert model.transform("audio")(str(tmp_path / "array.wav")).shape == (2, 1, 32, 96)


def test_clip_starts_follow_pytorchvideos_constant_clips_sampler():
    # 10 s at 16 kHz, 3 clips of 2 s: starts k * (10 - 2) / 3 s, truncated to samples.
    assert clip_spans(160000, 16000, 2, 3) == [(0, 32000), (42666, 74666), (85333, 117333)]
    assert clip_spans(8000, 16000, 2, 3) == [(0, 32000)] * 3  # shorter than a clip: all start at 0


def test_fbank_is_kaldi_on_the_unscaled_waveform_normalised_by_mean_and_std(model):
    wave = tone(16000, seconds=1.0)[:, 0]
    sample = model.transform("audio")(wave)
    expected = kaldi.fbank(torch.from_numpy(wave - wave.mean())[None], htk_compat=True, sample_frequency=16000,
                           use_energy=False, window_type="hanning", num_mel_bins=TINY["num_mel_bins"],
                           dither=0.0, frame_length=25, frame_shift=10).T[:, : TINY["target_length"]]
    assert torch.allclose(sample[0, 0] * TINY["std"] + TINY["mean"], expected, atol=1e-4)


def test_rate_can_be_given_with_a_raw_array(model, tmp_path):
    wave = tone(22050)
    sf.write(tmp_path / "a.wav", wave, 22050, subtype="FLOAT")
    transform = model.transform("audio")
    assert torch.allclose(transform((wave[:, 0], 22050)), transform(str(tmp_path / "a.wav")), atol=1e-5)


def test_short_audio_is_padded_with_a_warning(model, tmp_path):
    sf.write(tmp_path / "short.wav", tone(16000, seconds=0.2), 16000)
    with pytest.warns(AudioPaddingWarning, match="short.wav"):
        sample = model.transform("audio")(str(tmp_path / "short.wav"))
    pad_value = (0.0 - TINY["mean"]) / TINY["std"]  # zero log-mel frames, then normalised
    assert torch.allclose(sample[..., 30:], torch.full_like(sample[..., 30:], pad_value))
    assert not torch.allclose(sample[..., :15], torch.full_like(sample[..., :15], pad_value))
    with pytest.warns(AudioPaddingWarning):  # even shorter than one 25 ms Kaldi window
        assert torch.isfinite(model.transform("audio")(np.ones(100, dtype=np.float32) * 0.1)).all()


def test_silent_audio_is_padded_with_a_warning_not_an_error(model, tmp_path):
    sf.write(tmp_path / "silence.flac", np.zeros((32000, 2), dtype=np.float32), 16000)
    with pytest.warns(AudioPaddingWarning, match="silent"):
        embedding = model.embed({"audio": [tmp_path / "silence.flac"]})["audio"]
    assert torch.isfinite(embedding).all()


def test_backward_through_the_encoder(tmp_path):
    encoder = ib.create_encoder("audio/tiny").train()
    spec = ib.get_modality("audio")
    transform = spec.transform(encoder.data_config)
    batch = spec.collate([transform(tone(16000, freq=f)[:, 0]) for f in (220.0, 880.0, 1760.0)])
    embeddings = encoder(batch)
    assert embeddings.shape == (3, 128)
    (embeddings @ embeddings.T).triu(1).sum().backward()
    grads = [p.grad for p in encoder.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert encoder.stem.proj.weight.grad.abs().sum() > 0


def test_imagebind_huge_stem_matches_imagebinds_token_grid():
    config = ib.get_modality("audio").preset("imagebind_huge")
    stem = ib.get_modality("audio").build_stem(config)
    tokens = stem(torch.zeros(1, 1, 128, 204))
    assert tokens.shape == (1, 1 + 12 * 19, 768)  # (128-16)//10+1 = 12 by (204-16)//10+1 = 19, plus cls
    assert stem.proj.bias is None and stem.norm.eps == 1e-5


@pytest.mark.parametrize("content,match", [(b"", "empty"), (b"RIFF\x00\x01garbage" * 20, "cannot decode")])
def test_corrupt_or_empty_files_name_the_file_and_modality(model, tmp_path, content, match):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(ib.ImageBindLiteError, match=match) as info:
        model.embed({"audio": [path]})
    assert "broken.wav" in str(info.value) and "'audio'" in str(info.value)


@pytest.mark.parametrize("bad", [
    np.array([0.1, np.nan, 0.2] * 1000, dtype=np.float32),
    np.array([0.1, np.inf, 0.2] * 1000),
    np.zeros((2, 3, 400), dtype=np.float32),
    np.zeros(0, dtype=np.float32),
    np.array(["a", "b"]),
    (np.zeros(1600, dtype=np.float32), "16k"),
    (np.zeros(1600, dtype=np.float32), 44100.5),
    (np.zeros(1600, dtype=np.float32), float("inf")),
])
def test_bad_arrays_are_input_errors(model, bad):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AudioPaddingWarning)
        with pytest.raises(ib.InputError, match="'audio'"):
            model.embed({"audio": [bad]})


def imagebind_reference(module):
    """The official code from ``imagebind-unofficial`` (test-only; tests/install_reference_impl.sh)."""
    from reference_impl import import_reference

    return import_reference(module)


@pytest.mark.slow
@pytest.mark.parametrize("seconds,rate", [(10.0, 16000), (1.5, 16000), (3.0, 16000), (9.0, 44100)])
def test_preprocessing_matches_imagebind(monkeypatch, seconds, rate):
    """Long, short, overlapping-clip (in-place mean removal) and resampled recordings."""
    reference = imagebind_reference("imagebind.data")
    wave = tone(rate, seconds=seconds)[:, 0] + 0.1  # a DC offset makes the in-place quirk visible
    # ImageBind decodes with torchaudio.load (needs torchcodec): hand it the waveform directly.
    monkeypatch.setattr(reference.torchaudio, "load", lambda path: (torch.from_numpy(wave)[None].clone(), rate))
    theirs = reference.load_and_transform_audio_data(["in-memory"], "cpu")[0]
    data = ib.get_modality("audio").preset("imagebind_huge").data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AudioPaddingWarning)
        ours = ib.get_modality("audio").transform(data)((wave, rate))
    assert ours.shape == theirs.shape == (3, 1, 128, 204)
    assert torch.allclose(ours, theirs, atol=1e-4)


@pytest.mark.slow
def test_stem_matches_imagebinds_audio_preprocessor():
    from functools import partial

    mp = imagebind_reference("imagebind.models.multimodal_preprocessors")
    config = ib.get_modality("audio").preset("imagebind_huge")
    ours = ib.get_modality("audio").build_stem(config)
    stem = mp.PatchEmbedGeneric([torch.nn.Conv2d(1, 768, kernel_size=16, stride=10, bias=False)],
                                norm_layer=torch.nn.LayerNorm(768))
    theirs = mp.AudioPreprocessor(audio_stem=stem, img_size=[1, 128, 204], num_cls_tokens=1,
                                  pos_embed_fn=partial(mp.SpatioTemporalPosEmbeddingHelper, learnable=True))
    ours.load_state_dict({"proj.weight": stem.proj.weight, "norm.weight": stem.norm_layer.weight,
                          "norm.bias": stem.norm_layer.bias, "cls_token": theirs.cls_token,
                          "pos_embed": theirs.pos_embedding_helper.pos_embed})
    x = torch.randn(2, 1, 128, 204)
    assert torch.allclose(ours(x), theirs(audio=x)["trunk"]["tokens"], atol=1e-5)


@pytest.mark.parametrize("rate,bins,frames", [(16000, 128, 204), (44100, 64, 50), (8000, 40, 300)])
def test_batched_fbank_equals_kaldi_clip_by_clip(rate, bins, frames):
    """One FFT over every clip's frames gives each clip's own kaldi.fbank: long, short, shorter
    than one window (padded to one), and an odd window length (44.1 kHz)."""
    from imagebind_lite.modalities.audio_features import log_mels

    generator = torch.Generator().manual_seed(rate)
    clips = [0.1 * torch.randn(n, generator=generator) for n in (2 * rate, rate // 3, 100)]
    clips = [clip - clip.mean() for clip in clips]
    window = int(rate * 0.025)
    for clip, got in zip(clips, log_mels(clips, rate, bins, frames)):
        padded = torch.nn.functional.pad(clip, (0, max(0, window - clip.numel())))
        expected = kaldi.fbank(padded[None], htk_compat=True, sample_frequency=rate, use_energy=False,
                               window_type="hanning", num_mel_bins=bins, dither=0.0, frame_length=25,
                               frame_shift=10).T[:, :frames]
        torch.testing.assert_close(got[:, : expected.shape[1]], expected, atol=1e-5, rtol=1e-5)
        assert not got[:, expected.shape[1]:].any()  # zeros past the recording, as ImageBind pads

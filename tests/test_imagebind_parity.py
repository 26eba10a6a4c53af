"""Parity with the official ImageBind code (``imagebind-unofficial``, CC-BY-NC, test-only).

Install recipe: design.md section 6 (``tests/install_reference_impl.sh``); without the package
these tests are skipped. The official model is built with small dimensions and random weights
(every parameter perturbed so a swapped LayerNorm or bias would show), converted with
``imagebind_lite.compat.from_official`` and compared modality by modality; preprocessing is
compared on the same inputs (BPE ids, vision transform on files, audio clips + fbank).
"""
from __future__ import annotations

import math
import sys
import warnings

import numpy as np
import pytest
import torch

import torchvision.transforms._functional_tensor as _functional_tensor

# pytorchvideo 0.1.5 (imported by imagebind.data) still uses torchvision's pre-0.17 module name.
sys.modules.setdefault("torchvision.transforms.functional_tensor", _functional_tensor)
imagebind_model = pytest.importorskip("imagebind.models.imagebind_model")

from imagebind_lite import get_modality  # noqa: E402
from imagebind_lite.compat import from_official, to_official  # noqa: E402

MODALITIES = ("vision", "text", "audio", "depth", "thermal", "imu")
# Width and heads per branch, all different, so a mix-up between branches cannot go unnoticed.
SMALL = {"vision": (40, 4), "text": (32, 2), "audio": (24, 4), "depth": (16, 8), "thermal": (48, 4), "imu": (32, 2)}
TOLERANCE = 1e-5


def official_kwargs(dims: dict, out_dim: int, blocks: int) -> dict:
    kwargs = {"out_embed_dim": out_dim}
    for modality, (width, heads) in dims.items():
        kwargs.update({f"{modality}_embed_dim": width, f"{modality}_num_blocks": blocks,
                       f"{modality}_num_heads": heads})
    return kwargs


@torch.no_grad()
def perturb(model: torch.nn.Module, seed: int = 0) -> None:
    """Random values for every parameter and post-scale (the official init sets LN to 1/0, biases to 0)."""
    generator = torch.Generator().manual_seed(seed)
    for name, param in model.named_parameters():
        param.add_(torch.randn(param.shape, generator=generator) * 0.05)
    for name, buffer in model.named_buffers():
        if name.endswith("log_logit_scale"):
            buffer.add_(0.3)


def official_inputs(batch: int = 2, seed: int = 1) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    texts = ["a dog barking", "", "a very long caption " * 30]
    tokenizer = get_modality("text").transform(get_modality("text").preset("imagebind_huge").data)
    return {
        "vision": torch.randn(batch, 3, 224, 224, generator=generator),
        "text": torch.stack([tokenizer(t) for t in texts]),  # short, empty, cut at 77 tokens
        "audio": torch.randn(batch, 3, 1, 128, 204, generator=generator),  # 3 clips, averaged
        "depth": torch.randn(batch, 1, 224, 224, generator=generator),
        "thermal": torch.randn(batch, 1, 224, 224, generator=generator),
        "imu": torch.randn(batch, 6, 2000, generator=generator),
    }


def compare(official, ours, inputs) -> dict[str, float]:
    """Max |official - ours| per modality, relative to the modality's post-scale."""
    with torch.no_grad():
        expected = official({m: x.clone() for m, x in inputs.items()})
        got = ours({m: x.clone() for m, x in inputs.items()})
    errors = {}
    for modality in inputs:
        assert got[modality].shape == expected[modality].shape
        scale = expected[modality].norm(dim=-1).mean().item()  # 1 for vision, 20 for audio, ...
        errors[modality] = (got[modality] - expected[modality]).abs().max().item() / scale
    return errors


@pytest.fixture(scope="module")
def official_small():
    torch.manual_seed(0)
    model = imagebind_model.ImageBindModel(**official_kwargs(SMALL, out_dim=24, blocks=2)).eval()
    perturb(model)
    return model


@pytest.fixture(scope="module")
def converted_small(official_small):
    heads = {modality: heads for modality, (_, heads) in SMALL.items()}
    return from_official(official_small.state_dict(), num_heads=heads)


def test_every_modality_matches_the_official_model(official_small, converted_small):
    errors = compare(official_small, converted_small, official_inputs())
    assert set(errors) == set(MODALITIES)
    assert max(errors.values()) < TOLERANCE, errors


def test_short_text_batches_cut_after_the_last_eot_still_match(official_small, converted_small):
    """Ours runs a batch of short prompts on ~5 positions instead of 77; the official runs all 77."""
    tokenizer = get_modality("text").transform(get_modality("text").preset("imagebind_huge").data)
    prompts = torch.stack([tokenizer(t) for t in ("a dog", "a photo of a kettle", "drums", "")])
    assert compare(official_small, converted_small, {"text": prompts})["text"] < TOLERANCE


def test_converted_configs_come_from_the_checkpoint(official_small, converted_small):
    for modality, (width, heads) in SMALL.items():
        config = converted_small.encoder(modality).config
        assert (config.width, config.depth, config.num_heads, config.embed_dim) == (width, 2, heads, 24)
    scales = {m: converted_small.encoder(m).config.output_scale for m in MODALITIES}
    assert scales["vision"] is None
    assert scales["audio"] == pytest.approx(20 * math.exp(0.3), rel=1e-6)  # perturbed buffer, not the preset
    assert converted_small.encoder("text").post.log_scale.requires_grad  # ImageBind learns the text scale


def test_export_loads_strictly_into_the_official_model(official_small, converted_small):
    exported = to_official(converted_small)
    fresh = imagebind_model.ImageBindModel(**official_kwargs(SMALL, out_dim=24, blocks=2)).eval()
    fresh.load_state_dict(exported, strict=True)
    original = official_small.state_dict()
    for key, tensor in exported.items():
        if key != "modality_preprocessors.vision.rgbt_stem.proj.1.weight":  # taps are re-split evenly
            assert torch.equal(tensor, original[key]), key
    errors = compare(official_small, fresh, official_inputs())
    assert max(errors.values()) < TOLERANCE, errors


def test_round_trip_ours_to_official_to_ours_is_identical(converted_small):
    again = from_official(to_official(converted_small), num_heads={m: h for m, (_, h) in SMALL.items()})
    for modality in MODALITIES:
        before, after = converted_small.encoder(modality).state_dict(), again.encoder(modality).state_dict()
        assert before.keys() == after.keys()
        assert all(torch.equal(before[k], after[k]) for k in before), modality
        assert again.encoder(modality).config == converted_small.encoder(modality).config


@pytest.mark.slow
def test_imagebind_huge_matches_at_full_size():
    """~1.2B parameters with random weights; our encoders share the official tensors (assign)."""
    torch.manual_seed(0)
    official = imagebind_model.imagebind_huge(pretrained=False).eval()
    perturb(official)
    ours = from_official(official.state_dict())
    assert all(ours.encoder(m).config.preset == "imagebind_huge" for m in MODALITIES)
    errors = compare(official, ours, official_inputs(batch=1))
    assert max(errors.values()) < TOLERANCE, errors


# ---- preprocessing ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def official_data():
    return pytest.importorskip("imagebind.data")  # needs pytorchvideo + pkg_resources (setuptools<80)


TEXTS = [
    "", "a dog", "A Photo of a DOG!!!", "café naïve 東京 🐶 Ünïcödé — «quotes» …", "&amp; &lt;b&gt; it's we'll I'D",
    "  multiple   spaces\n\tand tabs ", "ﬁ ligature ½ ² ℃ Ⅻ", "mojibake â€™ fixed by ftfy", "12345.678e9 3rd",
    "ʻokina ŉ ǅ", "\u200b zero\u00a0width", "ends with eot-like </w>", " ".join(f"word{i}" for i in range(200)),
    "supercalifragilisticexpialidocious " * 12,
]


def test_text_tokens_match_the_official_tokenizer(official_data):
    from imagebind.models.multimodal_preprocessors import SimpleTokenizer

    official = SimpleTokenizer(bpe_path=official_data.return_bpe_path())
    spec = get_modality("text")
    ours = spec.transform(spec.preset("imagebind_huge").data)
    for text in TEXTS:
        assert torch.equal(ours(text), official(text)), text


def test_vision_transform_matches_official(official_data, tmp_path):
    from PIL import Image

    spec = get_modality("vision")
    ours = spec.transform(spec.preset("imagebind_huge").data)
    rng = np.random.default_rng(0)
    shapes = {"wide.jpg": (240, 320, 3), "tall.png": (300, 200, 3), "small.png": (80, 100, 3),
              "rgba.png": (250, 260, 4), "grey.png": (230, 300), "odd.bmp": (333, 227, 3)}
    paths = []
    for name, shape in shapes.items():
        paths.append(tmp_path / name)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(paths[-1])
    expected = official_data.load_and_transform_vision_data([str(p) for p in paths], "cpu")
    for path, official in zip(paths, expected):
        assert torch.equal(ours(path), official), path.name


def write_wave(path, seconds: float, rate: int = 16000, stereo: str = "") -> None:
    import soundfile

    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.random.default_rng(0).standard_normal(t.size) + 0.1
    if stereo:
        other = wave if stereo == "same" else 0.2 * np.sin(2 * np.pi * 150 * t)
        wave = np.stack([wave, other], axis=1)
    soundfile.write(str(path), wave.astype(np.float32), rate, subtype="FLOAT")


@pytest.fixture
def official_audio(official_data, monkeypatch):
    """The official audio pipeline on a file; its ``torchaudio.load`` (torchcodec) read via soundfile."""
    import soundfile
    import torchaudio

    def load(path):
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        return torch.from_numpy(np.ascontiguousarray(samples.T)), rate

    monkeypatch.setattr(torchaudio, "load", load)
    return lambda path: official_data.load_and_transform_audio_data([str(path)], "cpu")[0]


def our_audio(path, **data) -> torch.Tensor:
    spec = get_modality("audio")
    with warnings.catch_warnings():  # short files warn that they are padded, as ImageBind pads them
        warnings.simplefilter("ignore")
        return spec.transform({**spec.preset("imagebind_huge").data, **data})(path)


# Shorter than a clip, exactly one clip, overlapping clips (ImageBind's in-place mean removal
# leaks between them), separate clips, resampled from 44.1 and 8 kHz, stereo with equal and with
# different channels (ImageBind's fbank reads channel 0 after a mean over both), stereo resampled.
@pytest.mark.parametrize("seconds, rate, stereo", [
    (0.3, 16000, ""), (1.5, 16000, ""), (2.0, 16000, ""), (3.0, 16000, ""), (10.0, 16000, ""),
    (9.0, 44100, ""), (5.0, 8000, ""), (9.0, 16000, "same"), (9.0, 16000, "different"),
    (2.5, 44100, "different"),
])
def test_audio_clips_and_fbank_match_official(official_audio, tmp_path, seconds, rate, stereo):
    path = tmp_path / "clip.wav"
    write_wave(path, seconds, rate, stereo)
    expected, got = official_audio(path), our_audio(path)
    assert got.shape == expected.shape == (3, 1, 128, 204)
    assert torch.equal(got, expected)


def test_channel_mean_mode_is_the_official_pipeline_on_the_channel_mean(official_audio, tmp_path):
    """``channels: mean`` (our default outside the ImageBind preset) uses both channels."""
    import soundfile

    write_wave(tmp_path / "stereo.wav", 9.0, stereo="different")
    samples, rate = soundfile.read(str(tmp_path / "stereo.wav"), dtype="float32")
    soundfile.write(str(tmp_path / "mono.wav"), samples.mean(axis=1), rate, subtype="FLOAT")
    expected, got = official_audio(tmp_path / "mono.wav"), our_audio(tmp_path / "stereo.wav", channels="mean")
    assert (got - expected).abs().max().item() < 1e-4
    assert not torch.equal(got, our_audio(tmp_path / "stereo.wav"))  # the preset's channel 0 differs

"""``audio/hf``: pretrained Hugging Face audio models (AST, wav2vec2, HuBERT, Whisper, CLAP) as the
audio trunk, with tiny random-weight models saved locally (no network).

Embeddings per family; the data config following the feature extractor; saved models that embed
identically once the source directory is gone; frozen / last-N / LoRA / full training train what
they should; a short fit; bad directories named with the modality.
"""
from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import soundfile
import torch
from audio_hf_helpers import FAMILIES, make_tiny_audio_model
from hf_helpers import make_tiny_bert
from training_helpers import trainer, world_data

import imagebind_lite as ib
from imagebind_lite import CheckpointError, EncoderConfig, InputError

# wav2vec2 and HuBERT take any length (10 s by default): half a second keeps the tests fast
SHORT = {"wav2vec2": {"clip_duration": 0.5}, "hubert": {"clip_duration": 0.5}}
POOLS = {"ast": "pooler", "wav2vec2": "mean", "hubert": "mean", "whisper": "mean", "clap": "projection",
         "clap_audio": "projection"}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf_audio")
    return {family: make_tiny_audio_model(root / family, family) for family in FAMILIES}


def encoder_for(directory, family: str, **overrides) -> ib.Encoder:
    overrides.setdefault("data", SHORT.get(family, {}))
    trunk = {"hf_audio_path": str(directory), **overrides.pop("trunk", {})}
    return ib.create_encoder("audio/hf", trunk=trunk, **overrides).eval()


def raw_inputs(tmp_path) -> list:
    """A stereo 44.1 kHz file, a short array at 8 kHz, and a 16 kHz array with no rate given."""
    rng = np.random.default_rng(0)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, 0.1 * rng.standard_normal((44100, 2)), 44100)
    return [path, (0.1 * rng.standard_normal(3000).astype(np.float32), 8000),
            0.1 * rng.standard_normal(24000).astype(np.float32)]


def embed(model: ib.MultiModalModel, items: list) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.embed({"audio": items})["audio"]


@pytest.mark.parametrize("family", FAMILIES)
def test_embeddings_and_data_config_follow_the_model(family, models, tmp_path):
    encoder = encoder_for(models[family], family)
    extractor_rate = 16000  # every tiny extractor's; CLAP's real one is 48 kHz
    data, trunk = encoder.config.data, encoder.config.trunk
    assert data["preprocess"] == "hf" and data["sample_rate"] == extractor_rate and data["layout"]
    assert trunk["kind"] == "hf_audio" and trunk["hf_pool"] == POOLS[family] and "hf_audio_path" not in trunk
    assert data["clip_duration"] == SHORT.get(family, {}).get("clip_duration", 1.0)  # else the extractor's window
    embeddings = embed(ib.MultiModalModel({"audio": encoder}), raw_inputs(tmp_path))
    assert embeddings.shape == (3, encoder.config.embed_dim) and torch.isfinite(embeddings).all()
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(3))
    assert not any(name.startswith("trunk.model.text_") for name, _ in encoder.named_parameters())


def test_clap_keeps_its_own_space_with_embed_dim_zero(models):
    encoder = encoder_for(models["clap"], "clap", embed_dim=0)
    assert encoder.config.embed_dim == 16 and encoder.config.trunk["head"] == "identity"
    assert not list(encoder.head.parameters())
    pooled = encoder_for(models["clap"], "clap", trunk={"hf_pool": "pooler"}, embed_dim=24)
    assert pooled.config.trunk["output_width"] == 32 and pooled.config.embed_dim == 24  # audio tower width
    assert not any("audio_projection" in name for name, _ in pooled.named_parameters())


def test_whisper_averages_only_the_frames_of_the_clip(models):
    encoder = encoder_for(models["whisper"], "whisper", data={"clip_duration": 0.5})
    assert encoder.trunk.valid_fraction == 0.5  # its extractor pads to a 1 s window


def test_explicit_kind_and_several_clips(models):
    config = EncoderConfig("audio", embed_dim=8, trunk={"kind": "hf_audio", "hf_audio_path": str(models["ast"])},
                           data={"clip_duration": 0.5, "clips_per_sample": 3})
    encoder = ib.create_encoder(config).eval()
    sample = ib.get_modality("audio").transform(encoder.data_config)(np.zeros(16000, dtype=np.float32) + 0.01)
    assert sample.shape == (3, 100, 32)  # 3 clips of AST's [frames, mel bins]
    assert encoder(sample[None]).shape == (1, 8)


@pytest.mark.parametrize("family", FAMILIES)
def test_saved_model_embeds_identically_without_the_source(family, models, tmp_path):
    source = shutil.copytree(models[family], tmp_path / "source")
    encoder = encoder_for(source, family)
    items = raw_inputs(tmp_path)
    before = embed(ib.MultiModalModel({"audio": encoder}), items)
    ib.MultiModalModel({"audio": encoder}).save(tmp_path / "saved")
    shutil.rmtree(source)
    files = tmp_path / "saved" / "audio.files"
    assert (files / "config.json").is_file() and (files / "preprocessor_config.json").is_file()
    assert not list(files.glob("*.safetensors"))  # the weights are in audio.safetensors only
    reloaded = ib.load_model(tmp_path / "saved")
    assert torch.equal(embed(reloaded, items), before)


def alignment(models, family: str = "ast", **kwargs):
    from imagebind_lite.training import AlignmentModule

    override = {"trunk": {"hf_audio_path": str(models[family])}, "data": {"clip_duration": 0.5}}
    return AlignmentModule(pivot="vision/tiny", modalities={"audio": "hf"}, encoder_overrides={"audio": override},
                           warmup_steps=1, total_steps=4, **kwargs)


def trainable(module) -> set[str]:
    return {name for name, p in module.encoders["audio"].named_parameters() if p.requires_grad}


def test_training_modes_train_what_they_should(models):
    full = alignment(models)
    assert trainable(full) == {name for name, _ in full.encoders["audio"].named_parameters()}
    frozen = trainable(alignment(models, unfreeze_last_n_blocks={"audio": 0}))
    assert frozen and all(name.startswith("head.") for name in frozen)
    last = trainable(alignment(models, unfreeze_last_n_blocks={"audio": 1}))
    layer = encoder_layer(full)
    assert {n for n in last if n.startswith("trunk.")} == {n for n in trainable(full) if n.startswith(layer)}


def encoder_layer(module) -> str:
    """The prefix of the AST's one transformer layer (transformers renamed it across versions)."""
    return next(n for n, _ in module.encoders["audio"].named_modules() if n.endswith(("layer.0", "layers.0"))) + "."


@pytest.mark.parametrize("family", ["ast", "whisper", "wav2vec2"])
def test_lora_finds_each_libraries_layers(family, models):
    pytest.importorskip("peft")
    names = trainable(alignment(models, family, lora={"audio": {"rank": 2}}))
    adapters = {name for name in names if "lora_" in name}
    assert adapters and names - adapters == {n for n in names if n.startswith("head.")}


def test_a_short_fit_then_export_reloads(models, tmp_path):
    pytest.importorskip("peft")
    module = alignment(models, lora={"audio": {"rank": 2}})
    frozen = {n: p.clone() for n, p in module.encoders["audio"].named_parameters() if not p.requires_grad}
    head = module.encoders["audio"].head.proj.weight.clone()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer(tmp_path, max_steps=2).fit(module, world_data(train_size=16))
    audio = module.encoders["audio"].eval()
    assert not torch.equal(audio.head.proj.weight, head)
    assert all(torch.equal(p, frozen[n]) for n, p in audio.named_parameters() if n in frozen)
    module.export_model(tmp_path / "model")  # adapters merged: a plain encoder reloads
    batch = torch.stack([ib.get_modality("audio").transform(audio.data_config)(np.full(8000, 0.01, np.float32))])
    reloaded = ib.load_model(tmp_path / "model").encoder("audio")
    torch.testing.assert_close(reloaded(batch), audio(batch), atol=1e-5, rtol=1e-5)


def test_bad_directories_name_the_modality_and_path(models, tmp_path):
    with pytest.raises(InputError, match="hf_audio_path") as error:
        ib.create_encoder("audio/hf")
    assert "'audio'" in str(error.value)
    missing = tmp_path / "nowhere"
    with pytest.raises(InputError, match="not a directory") as error:
        ib.create_encoder("audio/hf", trunk={"hf_audio_path": str(missing)})
    assert "'audio'" in str(error.value) and str(missing) in str(error.value)
    bert = make_tiny_bert(tmp_path / "bert")
    with pytest.raises(CheckpointError, match="BertModel is not an audio model") as error:
        ib.create_encoder("audio/hf", trunk={"hf_audio_path": str(bert)})
    assert "'audio'" in str(error.value) and str(bert) in str(error.value)
    no_extractor = shutil.copytree(models["ast"], tmp_path / "no_extractor")
    (no_extractor / "preprocessor_config.json").unlink()
    with pytest.raises(CheckpointError, match="feature extractor") as error:
        ib.create_encoder("audio/hf", trunk={"hf_audio_path": str(no_extractor)})
    assert "'audio'" in str(error.value) and str(no_extractor) in str(error.value)
    with pytest.raises(InputError, match="longer than this feature extractor's 1.0 s window"):
        encoder_for(models["ast"], "ast", data={"clip_duration": 2.0})
    with pytest.raises(InputError, match="hf_audio_path.*belongs to the 'hf_audio' trunk kind"):
        ib.create_encoder("audio/tiny", trunk={"kind": "transformer", "hf_audio_path": str(models["ast"])})


def test_a_pool_the_model_lacks_is_named(models):
    with pytest.raises(CheckpointError, match="Wav2Vec2Model has no pooled output: use hf_pool 'mean'"):
        encoder_for(models["wav2vec2"], "wav2vec2", trunk={"hf_pool": "pooler"})
    with pytest.raises(CheckpointError, match="ASTModel has no projection"):
        encoder_for(models["ast"], "ast", trunk={"hf_pool": "projection"})
    with pytest.raises(CheckpointError, match="unknown hf_pool 'cls'"):
        encoder_for(models["ast"], "ast", trunk={"hf_pool": "cls"})


def test_lora_on_the_built_in_transformer_keeps_its_targets():
    pytest.importorskip("peft")
    from imagebind_lite.training import AlignmentModule

    module = AlignmentModule(pivot="vision/tiny", modalities={"audio": "tiny"}, lora={"audio": {"rank": 2}})
    adapted = {name.split(".lora_")[0].rsplit(".", 1)[-1] for name in trainable(module) if "lora_" in name}
    assert adapted == {"qkv", "proj", "fc1", "fc2"}


def test_waveform_augmentation_runs_before_the_models_own_extractor(models):
    """Augmented training decodes to the waveform (what the input cache keeps), changes it, and only
    then runs the model's feature extractor; the unaugmented transform is unchanged by this."""
    from imagebind_lite.registry import get_modality

    spec = get_modality("audio")
    data = encoder_for(models["ast"], "ast").config.data
    wave = (0.1 * np.random.default_rng(0).standard_normal(16000).astype(np.float32), 16000)
    plain = spec.transform(data)(wave)
    augmented = spec.augmented(data, spec.augmenter({"gain_db": 12}))
    changed = augmented(wave, np.random.default_rng(1))
    assert changed.shape == plain.shape and not torch.allclose(changed, plain)
    torch.testing.assert_close(augmented.features(augmented.signal(wave), "w", np.random.default_rng(1)), changed)

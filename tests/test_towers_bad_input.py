"""Bad towers, bad files and bad configs: one clear error each, naming the file; nothing half-written.

Unknown open_clip / timm / Hugging Face names, weights that do not fit, a directory without an
image processor or tokenizer, a model without a projection; then what users hand the loaded
model: a text path string, a manifest that is not UTF-8, a saved config edited so that it no
longer fits its weights.
"""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from hf_helpers import make_tiny_bert
from tower_helpers import make_tiny_hf, make_tiny_open_clip, save_timm_weights

import imagebind_lite as ib
from imagebind_lite import CheckpointError, InputError, UnknownNameError
from imagebind_lite.data.manifest import read_manifest


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return make_tiny_hf(tmp_path_factory.mktemp("towers") / "clip", "clip")


def test_unknown_names_say_what_works(tmp_path):
    _, weights = make_tiny_open_clip(tmp_path)
    with pytest.raises(UnknownNameError, match="unknown open_clip model 'ViT-Nope'.*list_models"):
        ib.create_encoder("vision/open_clip", trunk={"open_clip_model": "ViT-Nope", "pretrained_path": str(weights)})
    with pytest.raises(UnknownNameError, match="unknown timm model 'no_such_net'"):
        ib.create_encoder("vision/timm", trunk={"timm_model": "no_such_net"})
    config = json.loads((make_tiny_hf(tmp_path / "unknown", "clip") / "config.json").read_text())
    (tmp_path / "unknown" / "config.json").write_text(json.dumps({**config, "model_type": "no_such_architecture"}))
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'unknown'}.*no_such_architecture"):
        ib.create_encoder("vision/hf_clip", trunk={"hf_clip_path": str(tmp_path / "unknown")})
    with pytest.raises(CheckpointError, match="nowhere is not a Hugging Face model directory: config.json"):
        ib.create_encoder("text/hf_clip", trunk={"hf_clip_path": str(tmp_path / "nowhere")})


def test_a_tower_needs_its_model():
    with pytest.raises(InputError, match="hf_clip_path"):
        ib.create_encoder("vision/hf_clip")
    with pytest.raises(InputError, match="open_clip_model"):
        ib.create_encoder("text/open_clip")


def test_weights_that_do_not_fit_name_the_file(tmp_path, clip_dir):
    name, weights = make_tiny_open_clip(tmp_path)
    with pytest.raises(CheckpointError, match="tiny_clip.pt"):  # the tiny model's weights for ViT-B-32
        ib.create_encoder("vision/open_clip", trunk={"open_clip_model": "ViT-B-32", "pretrained_path": str(weights)})
    with pytest.raises(CheckpointError, match="not_weights.bin"):
        (tmp_path / "not_weights.bin").write_bytes(b"these are not weights")
        ib.create_encoder("text/open_clip", trunk={"open_clip_model": name, "pretrained_path": str(tmp_path / "not_weights.bin")})
    with pytest.raises(CheckpointError, match="missing.pt"):
        ib.create_encoder("text/open_clip", trunk={"open_clip_model": name, "pretrained_path": str(tmp_path / "missing.pt")})
    misfit = tmp_path / "misfit"
    shutil.copytree(clip_dir, misfit)
    config = json.loads((misfit / "config.json").read_text())
    (misfit / "config.json").write_text(json.dumps({**config, "projection_dim": 8}))
    with pytest.raises(CheckpointError, match="misfit"):
        ib.create_encoder("vision/hf_clip", trunk={"hf_clip_path": str(misfit)})
    timm_weights = tmp_path / "efficientnet.safetensors"
    save_timm_weights(timm_weights, name="test_efficientnet")
    with pytest.raises(CheckpointError, match="efficientnet.safetensors"):
        ib.create_encoder("vision/timm", trunk={"timm_model": "test_resnet", "pretrained_path": str(timm_weights)})


def test_a_directory_without_its_processor_or_tokenizer(tmp_path, clip_dir):
    no_processor, no_tokenizer = tmp_path / "no_processor", tmp_path / "no_tokenizer"
    shutil.copytree(clip_dir, no_processor)
    (no_processor / "preprocessor_config.json").unlink()
    with pytest.raises(CheckpointError, match="no_processor has no usable image processor"):
        ib.create_encoder("vision/hf_clip", trunk={"hf_clip_path": str(no_processor)})
    shutil.copytree(clip_dir, no_tokenizer)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"):
        (no_tokenizer / name).unlink(missing_ok=True)
    with pytest.raises(CheckpointError, match="no_tokenizer has no usable tokenizer"):
        ib.create_encoder("text/hf_clip", trunk={"hf_clip_path": str(no_tokenizer)})


def test_a_model_without_a_projection_is_no_pivot(tmp_path, clip_dir):
    bert = make_tiny_bert(tmp_path / "bert")
    with pytest.raises(CheckpointError, match="bert/config.json: BertModel has no get_image_features"):
        ib.create_encoder("vision/hf_clip", trunk={"hf_clip_path": str(bert)})
    with pytest.raises(InputError, match="projects to 16 dimensions, not embed_dim=32"):
        ib.create_encoder("vision/hf_clip", embed_dim=32, trunk={"hf_clip_path": str(clip_dir)})


def test_a_save_that_cannot_complete_leaves_nothing(tmp_path, clip_dir):
    encoder = ib.create_encoder("vision/hf_clip", trunk={"hf_clip_path": str(clip_dir)})
    shutil.rmtree(encoder.data_config["files"])  # its files are gone: the model cannot be saved whole
    with pytest.raises(CheckpointError, match="files directory .* is missing"):
        ib.MultiModalModel({"vision": encoder}).save(tmp_path / "model")
    assert not list(tmp_path.iterdir())


# ---- what users hand the loaded model ---------------------------------------------------------
def test_a_text_string_ending_in_txt_is_read_as_a_file(tmp_path):
    model = ib.MultiModalModel.from_presets({"text": "tiny"}).eval()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "caption.txt").write_text("a dog barking")
    got = model.embed({"text": [str(tmp_path / "notes" / "caption.txt"), "a dog barking"]})["text"]
    torch.testing.assert_close(got[0], got[1])  # the file's text, not the path's
    with pytest.raises(InputError, match="file not found") as caught:
        model.embed({"text": ["notes/missing.txt"]})
    assert caught.value.source == "notes/missing.txt" and caught.value.modality == "text"
    # any other string is the text itself, even one naming an existing file of another kind
    assert model.embed({"text": ["see notes.txt\nand more", "notes/caption"]})["text"].shape == (2, 128)


def test_a_manifest_that_is_not_utf8_names_its_line(tmp_path):
    for name, body in (("m.csv", b"id,text\n1,hello\n2,caf\xe9 au lait\n"),
                       ("m.jsonl", b'{"id": 1, "text": "hello"}\n{"id": 2, "text": "caf\xe9"}\n')):
        (tmp_path / name).write_bytes(body)
        with pytest.raises(InputError, match=r"line \d is not UTF-8") as caught:
            read_manifest(tmp_path / name)
        assert caught.value.source == str(tmp_path / name)
        assert ("line 3" if name.endswith(".csv") else "line 2") in str(caught.value)


@pytest.mark.parametrize("field, value, names", [
    ("embed_dim", 17, ["audio.safetensors", "embed_dim"]),
    ("width", 40, ["audio.safetensors", "width"]),
    ("depth", 3, ["audio.safetensors", "depth"]),
])
def test_a_config_that_does_not_fit_its_weights_names_file_and_field(tmp_path, field, value, names):
    ib.MultiModalModel.from_presets({"audio": "tiny"}, embed_dim=16).save(tmp_path / "model")
    path = tmp_path / "model" / "config.json"
    config = json.loads(path.read_text())
    config["encoders"]["audio"][field] = value
    path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as caught:
        ib.load_model(tmp_path / "model")
    for name in names:
        assert name in str(caught.value)


def test_a_config_edited_into_nonsense_names_the_config(tmp_path, clip_dir):
    ib.MultiModalModel({"vision": ib.create_encoder("vision/hf_clip", trunk={"hf_clip_path": str(clip_dir)})}).save(
        tmp_path / "model")
    path = tmp_path / "model" / "config.json"
    config = json.loads(path.read_text())
    config["encoders"]["vision"]["colour"] = "blue"
    path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"config.json \(encoder 'vision'\).*colour"):
        ib.load_model(tmp_path / "model")
    config["encoders"]["vision"].pop("colour")
    config["encoders"]["vision"]["trunk"]["kind"] = "no_such_kind"
    path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"config.json \(encoder 'vision'\).*no_such_kind"):
        ib.load_model(tmp_path / "model")

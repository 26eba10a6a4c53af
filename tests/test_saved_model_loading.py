"""Saved models are self-contained, keep their dtype, and load without first allocating weights.

A model built from other libraries' files loads in a fresh process with its sources deleted and
the network cut; ``text/hf`` no longer depends on the directory it came from (older saved models
that do still load from it); bf16 models come back bf16; encoders are built with parameters on
the meta device and the saved tensors put in their place, buffers computed at construction
intact, giving what the old build-then-copy loading gave.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hf_helpers import make_tiny_bert
from tower_helpers import TEXTS, make_tiny_hf, make_tiny_open_clip, write_images

import imagebind_lite as ib
import imagebind_lite.saved_model as saved_model
from imagebind_lite.empty_init import parameters_on_meta

FIXTURES = Path(__file__).parent / "fixtures"
NO_NETWORK = """
import socket, sys, torch
def refuse(*args, **kwargs):
    raise RuntimeError("network access while loading a saved model")
socket.socket.connect = refuse
socket.create_connection = refuse
import imagebind_lite as ib
model = ib.load_model(sys.argv[1])
got = model.embed({"vision": sys.argv[3:], "text": %r})
torch.save(got, sys.argv[2])
""" % (TEXTS,)


def test_a_saved_tower_model_loads_in_a_fresh_offline_process_without_its_sources(tmp_path):
    """open_clip image tower (its architecture registered only in this process) + HF text tower."""
    name, weights = make_tiny_open_clip(tmp_path / "open_clip")
    clip = make_tiny_hf(tmp_path / "clip", "clip")
    model = ib.MultiModalModel({
        "vision": ib.create_encoder("vision/open_clip", trunk={"open_clip_model": name, "pretrained_path": str(weights)}),
        "text": ib.create_encoder("text/hf_clip", trunk={"hf_clip_path": str(clip)}),
    })
    images = [str(p) for p in write_images(tmp_path / "images")]
    want = model.embed({"vision": images, "text": TEXTS})
    model.save(tmp_path / "model")
    shutil.rmtree(tmp_path / "open_clip")
    shutil.rmtree(clip)
    config = (tmp_path / "model" / "config.json").read_text()
    assert json.loads(config)["encoders"]["text"]["data"]["files"] == "text.files"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", NO_NETWORK, str(tmp_path / "model"), str(tmp_path / "got.pt"),
                             *images], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    got = torch.load(tmp_path / "got.pt", weights_only=True)
    for modality in want:
        torch.testing.assert_close(got[modality], want[modality], atol=1e-5, rtol=1e-5)


def test_text_hf_no_longer_needs_its_directory(tmp_path):
    source = make_tiny_bert(tmp_path / "bert")
    model = ib.MultiModalModel({"text": ib.create_encoder("text/hf", trunk={"hf_path": str(source)})})
    want = model.embed({"text": TEXTS})
    model.save(tmp_path / "model")
    shutil.rmtree(source)
    recorded = json.loads((tmp_path / "model" / "config.json").read_text())["encoders"]["text"]
    assert recorded["trunk"]["hf_path"] is None and "hf_path" not in recorded["data"]
    torch.testing.assert_close(ib.load_model(tmp_path / "model").embed({"text": TEXTS})["text"], want["text"])


def test_a_text_hf_model_saved_before_files_directories_still_loads(tmp_path):
    """Format 1 named the Hugging Face directory itself (hf_path), in the trunk and data configs."""
    source = make_tiny_bert(tmp_path / "bert")
    model = ib.MultiModalModel({"text": ib.create_encoder("text/hf", trunk={"hf_path": str(source)})})
    want = model.embed({"text": TEXTS})["text"]
    model.save(tmp_path / "model")
    path = tmp_path / "model" / "config.json"
    config = json.loads(path.read_text())
    text = config["encoders"]["text"]
    text["trunk"]["hf_path"] = text["data"]["hf_path"] = str(source)
    del text["data"]["files"], config["dtypes"]
    config["version"] = 1
    path.write_text(json.dumps(config))
    shutil.rmtree(tmp_path / "model" / "text.files")
    torch.testing.assert_close(ib.load_model(tmp_path / "model").embed({"text": TEXTS})["text"], want)


def test_the_saved_dtype_comes_back_unless_told_otherwise(tmp_path):
    model = ib.MultiModalModel.from_presets({"vision": "tiny", "audio": "tiny"}).to(torch.bfloat16)
    model.save(tmp_path / "model")
    assert json.loads((tmp_path / "model" / "config.json").read_text())["dtypes"] == {"vision": "bfloat16",
                                                                                     "audio": "bfloat16"}
    loaded = ib.load_model(tmp_path / "model")
    assert {p.dtype for p in loaded.parameters()} == {torch.bfloat16}
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert {p.dtype for p in ib.load_model(tmp_path / "model", dtype=torch.float32).parameters()} == {torch.float32}
    # models saved before dtypes were recorded load as float32, as they always did
    assert {p.dtype for p in ib.load_model(FIXTURES / "saved_model_v1").parameters()} == {torch.float32}


def test_parameters_built_on_meta_take_no_memory():
    with parameters_on_meta():
        encoder = ib.create_encoder("vision/imagebind_huge")  # 630M parameters: 2.5 GB if allocated
    assert all(p.is_meta for p in encoder.parameters())
    assert 6.2e8 < sum(p.numel() for p in encoder.parameters()) < 6.4e8


@pytest.fixture
def tower_model(tmp_path):
    name, weights = make_tiny_open_clip(tmp_path / "open_clip")
    clip = make_tiny_hf(tmp_path / "clip", "clip")
    return ib.MultiModalModel({
        "vision": ib.create_encoder("vision/hf_clip", trunk={"hf_clip_path": str(clip)}),
        "text": ib.create_encoder("text/open_clip", trunk={"open_clip_model": name, "pretrained_path": str(weights)}),
    })


def test_loading_builds_on_meta_and_gives_what_the_old_loading_gave(tower_model, tmp_path, monkeypatch):
    tower_model.save(tmp_path / "model")
    built_on_meta = []
    original = saved_model.create_encoder

    def spy(config):
        encoder = original(config)
        built_on_meta.append(all(p.is_meta for p in encoder.parameters()))
        return encoder

    monkeypatch.setattr(saved_model, "create_encoder", spy)
    new = ib.load_model(tmp_path / "model")
    assert built_on_meta == [True, True]  # no random weights were allocated first
    old = ib.load_model(tmp_path / "model", empty_init=False)
    assert built_on_meta[2:] == [False, False]
    assert not [n for n, t in list(new.named_parameters()) + list(new.named_buffers()) if t.is_meta]
    # buffers computed at construction and never saved (open_clip's causal mask, HF position ids)
    mask = new.encoder("text").trunk.model.attn_mask
    assert torch.equal(mask, old.encoder("text").trunk.model.attn_mask) and torch.isinf(mask).any()
    inputs = {"vision": [torch.rand(3, 40, 48)], "text": TEXTS}
    for key, value in old.state_dict().items():
        assert torch.equal(new.state_dict()[key], value), key
    for modality, embeddings in old.embed(inputs).items():  # kernels on other addresses: last-bit noise
        torch.testing.assert_close(new.embed(inputs)[modality], embeddings, atol=1e-6, rtol=1e-6, msg=modality)


def test_tied_weights_save_and_load(tmp_path):
    """safetensors stores a storage once: weights tied by a model are written as copies."""
    encoder = ib.create_encoder("vision/tiny", embed_dim=16)
    blocks = encoder.trunk.blocks
    blocks[1].attn.qkv.weight = blocks[0].attn.qkv.weight
    model = ib.MultiModalModel({"vision": encoder}).eval()
    model.save(tmp_path / "model")
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ib.load_model(tmp_path / "model").encoder("vision")(images), encoder(images))


def test_tower_transforms_are_picklable_for_dataloader_workers(tower_model, tmp_path):
    import pickle

    images = write_images(tmp_path / "images")
    for modality, item in (("vision", images[0]), ("text", TEXTS[0])):
        transform = tower_model.transform(modality)
        assert torch.equal(pickle.loads(pickle.dumps(transform))(item), transform(item))


def test_other_threads_build_real_parameters_while_one_loads():
    import threading

    built = {}
    with parameters_on_meta():
        worker = threading.Thread(target=lambda: built.setdefault("other", torch.nn.Linear(2, 2)))
        worker.start()
        worker.join()
        built["mine"] = torch.nn.Linear(2, 2)
    assert not built["other"].weight.is_meta and built["mine"].weight.is_meta
    assert not torch.nn.Linear(2, 2).weight.is_meta  # and the patch is gone afterwards

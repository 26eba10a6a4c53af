"""The pivot cache works with every pivot: timm CNNs (BatchNorm), open_clip and Hugging Face towers.

Its key follows every tensor of the pivot, whatever its kind (0-dim counters, buffers,
bf16/fp16, non-contiguous), and the pivot's preprocessing, processor files included; and
``imagebind-lite fit`` trains against a frozen timm ResNet with the cache on.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from tower_helpers import make_tiny_hf, make_tiny_open_clip, save_timm_weights

import imagebind_lite as ib
from imagebind_lite.cli import main
from imagebind_lite.training.pivot_cache import cache_key, state_dict_hash

REPO = Path(__file__).resolve().parents[1]


class OddTensors(nn.Module):
    """Every kind of tensor a pivot's state may hold."""

    def __init__(self):
        super().__init__()
        self.fp16 = nn.Parameter(torch.randn(3, 2).half())
        self.bf16 = nn.Parameter(torch.randn(4).bfloat16())
        self.register_buffer("count", torch.tensor(7))                # 0-dim int64 (BatchNorm's num_batches_tracked)
        self.register_buffer("flags", torch.tensor([True, False]))
        self.register_buffer("transposed", torch.randn(3, 5).t())    # non-contiguous
        self.register_buffer("computed", torch.ones(2), persistent=False)  # left out of the state dict


def test_state_dict_hash_takes_any_tensor_and_sees_each_change():
    module = OddTensors()
    first = state_dict_hash(module)
    assert state_dict_hash(module) == first
    tensors = dict(module.named_parameters()) | dict(module.named_buffers())
    for name, tensor in tensors.items():
        with torch.no_grad():
            saved, first_element = tensor.clone(), (0,) * tensor.dim()
            tensor[first_element] = ~tensor[first_element] if tensor.dtype == torch.bool else tensor[first_element] + 1
            assert state_dict_hash(module) != first, name
            tensor.copy_(saved)
    assert state_dict_hash(module) == first


def build_pivot(kind: str, scratch: Path) -> ib.Encoder:
    if kind == "timm":
        weights = scratch / "resnet.safetensors"
        save_timm_weights(weights)
        return ib.create_encoder("vision/timm", embed_dim=16, trunk={"timm_model": "test_resnet", "pretrained_path": str(weights)})
    if kind == "open_clip":
        name, weights = make_tiny_open_clip(scratch)
        return ib.create_encoder("vision/open_clip", trunk={"open_clip_model": name, "pretrained_path": str(weights)})
    return ib.create_encoder("vision/hf_clip", trunk={"hf_clip_path": str(make_tiny_hf(scratch / "clip"))})


@pytest.mark.parametrize("kind", ["timm", "open_clip", "hf_clip"])
def test_cache_key_follows_every_weight_and_the_preprocessing(kind, tmp_path):
    pivot = build_pivot(kind, tmp_path).eval()
    data = pivot.data_config
    key = cache_key(pivot, data, "data set")
    assert cache_key(pivot, dict(data), "data set") == key
    for name, tensor in list(pivot.state_dict(keep_vars=True).items())[-3:] + list(pivot.named_buffers())[:2]:
        with torch.no_grad():
            saved = tensor.clone()
            tensor.add_(1)
            assert cache_key(pivot, data, "data set") != key, name
            tensor.copy_(saved)
    assert cache_key(pivot, data, "data set") == key
    assert cache_key(pivot, {**data, "interpolation": "nearest"}, "data set") != key
    # moved elsewhere (a saved model's copy of its files), the same pivot keeps its cache
    ib.MultiModalModel({"vision": pivot}).save(tmp_path / "saved")
    loaded = ib.load_model(tmp_path / "saved").encoder("vision")
    assert cache_key(loaded, loaded.data_config, "data set") == key


def test_an_edited_processor_file_invalidates_the_cache(tmp_path):
    pivot = build_pivot("hf_clip", tmp_path)
    key = cache_key(pivot, pivot.data_config, "data set")
    processor = Path(pivot.data_config["files"]) / "preprocessor_config.json"
    settings = json.loads(processor.read_text())
    processor.write_text(json.dumps({**settings, "image_mean": [0.5, 0.5, 0.5]}))
    assert cache_key(pivot, pivot.data_config, "data set") != key


def test_fit_trains_two_pairs_against_a_frozen_timm_resnet_with_the_cache_on(tmp_path, monkeypatch):
    """BatchNorm's 0-dim num_batches_tracked once crashed the cache's hash."""
    monkeypatch.chdir(tmp_path)
    pivot = build_pivot("timm", tmp_path)
    assert any(t.dim() == 0 for t in pivot.state_dict().values())
    ib.MultiModalModel({"vision": pivot}).save(tmp_path / "pivot")
    main(["world", "world", "--sizes", "audio=16,thermal=16", "--num-concepts", "4", "--no-progress"])
    main(["fit", "--config", str(REPO / "configs" / "world" / "align_audio.yaml"), "--model.init_args.pivot=pivot",
          "--model.init_args.modalities={audio: tiny, thermal: tiny}", "--model.init_args.temperatures=null",
          "--data.init_args.world=null", "--data.init_args.train_size=16", "--data.init_args.val_size=0",
          "--data.init_args.manifests={audio: world/pairs/audio/manifest.csv, thermal: world/pairs/thermal/manifest.csv}",
          "--data.init_args.batch_size=8", "--data.init_args.cache_dir=cache", "--trainer.max_steps=2",
          "--trainer.enable_progress_bar=false"])
    assert len(list((tmp_path / "cache").glob("pivot-train-*.safetensors"))) == 2
    model = ib.load_model(tmp_path / "runs" / "world" / "align_audio" / "model")
    assert sorted(model.modalities) == ["audio", "thermal", "vision"]
    for key, value in pivot.state_dict().items():  # frozen: BatchNorm statistics included
        assert torch.equal(model.encoder("vision").state_dict()[key], value), key

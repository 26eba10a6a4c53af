"""Towers from other libraries embed exactly as those libraries do, on real files and strings.

For each library, a tiny random-weight model saved locally the way users keep real ones: our
``embed`` must equal the library's own preprocessing + forward (normalised) to 1e-5, for jpg/png
files and for strings. The saved model then reloads, from its own directory only, to the same.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from tower_helpers import TEXTS, make_tiny_hf, make_tiny_open_clip, save_timm_weights, write_images

import imagebind_lite as ib

TOL = dict(atol=1e-5, rtol=1e-5)


def rgb(path) -> Image.Image:
    return Image.open(path).convert("RGB")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="module")
def open_clip_model(tmp_path_factory):
    return make_tiny_open_clip(tmp_path_factory.mktemp("open_clip"))


def test_open_clip_towers_equal_open_clips_own(open_clip_model, images, tmp_path):
    import open_clip

    name, weights = open_clip_model
    trunk = {"open_clip_model": name, "pretrained_path": str(weights)}
    model = ib.MultiModalModel({"vision": ib.create_encoder("vision/open_clip", trunk=trunk),
                                "text": ib.create_encoder("text/open_clip", trunk=trunk)})
    assert model.embed_dim == 16 and model.encoder("vision").config.trunk["output_width"] == 16
    reference, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=str(weights))
    tokenizer = open_clip.get_tokenizer(name)
    with torch.no_grad():
        want_images = F.normalize(reference.eval().encode_image(torch.stack([preprocess(Image.open(p)) for p in images])), dim=-1)
        want_texts = F.normalize(reference.encode_text(tokenizer(TEXTS)), dim=-1)
    got = model.embed({"vision": images, "text": TEXTS})
    torch.testing.assert_close(got["vision"], want_images, **TOL)
    torch.testing.assert_close(got["text"], want_texts, **TOL)
    assert torch.equal(model.transform("text")(TEXTS[0]), tokenizer([TEXTS[0]])[0])
    _reloads_alone(model, tmp_path, {"vision": images, "text": TEXTS}, got, delete=[weights])


def test_open_clip_text_tower_with_a_hugging_face_tokenizer_from_a_local_copy(tmp_path):
    """open_clip models whose tokenizer is a Hugging Face one (its SigLIPs) take it from a local
    directory: the hub name in their config is never fetched."""
    import open_clip
    from open_clip.tokenizer import HFTokenizer
    from tower_helpers import word_tokenizer

    name, weights = make_tiny_open_clip(tmp_path, hf_tokenizer=True)
    trunk = {"open_clip_model": name, "pretrained_path": str(weights)}
    with pytest.raises(ib.CheckpointError, match="tokenizer_path"):
        ib.create_encoder("text/open_clip", trunk=trunk)
    word_tokenizer(16).save_pretrained(tmp_path / "tokenizer")
    model = ib.MultiModalModel({"text": ib.create_encoder("text/open_clip", trunk={
        **trunk, "tokenizer_path": str(tmp_path / "tokenizer")})})
    reference = open_clip.create_model(name, pretrained=str(weights)).eval()
    tokenizer = HFTokenizer(str(tmp_path / "tokenizer"), context_length=16)
    with torch.no_grad():
        want = F.normalize(reference.encode_text(tokenizer(TEXTS)), dim=-1)
    got = model.embed({"text": TEXTS})
    torch.testing.assert_close(got["text"], want, **TOL)
    _reloads_alone(model, tmp_path, {"text": TEXTS}, got, delete=[tmp_path / "tokenizer", weights])


@pytest.mark.parametrize("family", ["clip", "siglip", "siglip2"])
def test_hf_towers_equal_transformers_own(family, images, tmp_path):
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    directory = make_tiny_hf(tmp_path / family, family)
    model = ib.MultiModalModel({"vision": ib.create_encoder("vision/hf_clip", trunk={"hf_clip_path": str(directory)}),
                                "text": ib.create_encoder("text/hf_clip", trunk={"hf_clip_path": str(directory)})})
    reference = AutoModel.from_pretrained(directory).eval()
    processor, tokenizer = AutoImageProcessor.from_pretrained(directory), AutoTokenizer.from_pretrained(directory)
    context = model.encoder("text").data_config["context_length"]
    assert context == 16  # the model's position table (and the tokenizer's limit)
    with torch.no_grad():
        pixels = processor(images=[rgb(p) for p in images], return_tensors="pt")
        tokens = tokenizer(TEXTS, padding="max_length", max_length=context, truncation=True, return_tensors="pt")
        want_images = F.normalize(reference.get_image_features(**pixels).pooler_output, dim=-1)
        want_texts = F.normalize(reference.get_text_features(**tokens).pooler_output, dim=-1)
    got = model.embed({"vision": images, "text": TEXTS})
    torch.testing.assert_close(got["vision"], want_images, **TOL)
    torch.testing.assert_close(got["text"], want_texts, **TOL)
    assert not [k for k in model.encoder("vision").state_dict() if "text_model" in k]  # one tower per encoder
    _reloads_alone(model, tmp_path, {"vision": images, "text": TEXTS}, got, delete=[directory])


def test_timm_trunk_preprocesses_and_runs_as_timm_does(images, tmp_path):
    import timm
    from timm.data import create_transform, resolve_model_data_config

    weights = tmp_path / "resnet.safetensors"
    save_timm_weights(weights)
    encoder = ib.create_encoder("vision/timm", embed_dim=16,
                                trunk={"timm_model": "test_resnet", "pretrained_path": str(weights)}).eval()
    reference = timm.create_model("test_resnet", pretrained=True, pretrained_cfg_overlay=dict(file=str(weights)),
                                  num_classes=0).eval()
    transform = create_transform(**resolve_model_data_config(reference), is_training=False)
    ours = ib.MultiModalModel({"vision": encoder})
    pixels = torch.stack([transform(rgb(p)) for p in images])
    assert torch.equal(torch.stack([ours.transform("vision")(p) for p in images]), pixels)
    with torch.no_grad():
        features = reference(pixels)
        torch.testing.assert_close(encoder.trunk(pixels), features, **TOL)
        want = F.normalize(encoder.head(features, pixels), dim=-1)  # timm has no projection: ours is the head
    got = ours.embed({"vision": images})
    torch.testing.assert_close(got["vision"], want, **TOL)
    _reloads_alone(ours, tmp_path, {"vision": images}, got, delete=[weights])


def _reloads_alone(model, tmp_path, inputs, want, delete) -> None:
    """Saved, with the sources deleted, the model embeds as before from its own directory."""
    import shutil

    model.save(tmp_path / "saved")
    for path in delete:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    got = ib.load_model(tmp_path / "saved").embed(inputs)
    for modality, value in want.items():
        torch.testing.assert_close(got[modality], value, **TOL)

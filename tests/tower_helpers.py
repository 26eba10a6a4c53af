"""Tiny CLIP-family models made and saved locally, as users keep real ones (tests never reach a hub).

- an open_clip architecture registered from a JSON model config (``add_model_config``), random
  weights saved as a local checkpoint file;
- Hugging Face CLIP, SigLIP and SigLIP2 directories written with ``save_pretrained``: model,
  image processor and tokenizer (CLIP's real BPE vocabulary, taken from the copy open_clip ships;
  a small word-level ``tokenizers`` tokenizer for the SigLIPs);
- a timm model's weights with their classifier, saved as a user's checkpoint.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

OPEN_CLIP_NAME = "imagebind-lite-test-tiny-clip"
OPEN_CLIP_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
WORDS = ["<pad>", "<unk>", "</s>", "a", "photo", "of", "the", "red", "blue", "dog", "kettle", "drum", "barking"]
TINY_LAYERS = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
TEXTS = ["a photo of a dog", "the red kettle", "a blue drum barking loudly", ""]


# The same architecture with a Hugging Face tokenizer named in its config (as open_clip's SigLIPs
# have), which only a local copy can provide here.
OPEN_CLIP_HF_TOKENIZER_NAME = "imagebind-lite-test-tiny-clip-hf-tokenizer"
OPEN_CLIP_HF_TOKENIZER_CONFIG = {**OPEN_CLIP_CONFIG, "text_cfg": {
    **OPEN_CLIP_CONFIG["text_cfg"], "vocab_size": len(WORDS), "hf_tokenizer_name": "nobody/no-such-tokenizer",
    "pool_type": "last", "no_causal_mask": True}}


def register_tiny_open_clip(directory: Path, name: str = OPEN_CLIP_NAME, config: dict = OPEN_CLIP_CONFIG) -> str:
    """Register a tiny architecture with open_clip (once per process) and return its name."""
    import open_clip

    if name not in open_clip.list_models():
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name}.json"
        path.write_text(json.dumps(config))
        open_clip.add_model_config(path)
    return name


def make_tiny_open_clip(directory: Path, seed: int = 0, hf_tokenizer: bool = False) -> tuple[str, Path]:
    """(model name, local checkpoint file) of a random-weight tiny open_clip model."""
    import open_clip

    name = register_tiny_open_clip(directory / "configs", *((OPEN_CLIP_HF_TOKENIZER_NAME, OPEN_CLIP_HF_TOKENIZER_CONFIG)
                                                            if hf_tokenizer else ()))
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = open_clip.create_model(name)
    weights = directory / "tiny_clip.pt"
    torch.save(model.state_dict(), weights)
    return name, weights


def clip_bpe_tokenizer(max_length: int):
    """CLIP's tokenizer in transformers, from the BPE vocabulary open_clip ships (no download)."""
    from open_clip.tokenizer import SimpleTokenizer
    from transformers import CLIPTokenizer

    bpe = SimpleTokenizer()
    renamed = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {renamed.get(token, token): index for token, index in bpe.encoder.items()}
    merges = [pair for pair, _ in sorted(bpe.bpe_ranks.items(), key=lambda item: item[1])]
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)


def word_tokenizer(max_length: int):
    """A small word-level fast tokenizer (SigLIP's own needs sentencepiece and a download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                                   eos_token="</s>", model_max_length=max_length)


def make_tiny_hf(directory: Path, family: str = "clip", seed: int = 0) -> Path:
    """A ``save_pretrained`` directory of a tiny random ``family`` model ("clip", "siglip", "siglip2")."""
    import transformers as tf

    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    text = dict(TINY_LAYERS, max_position_embeddings=16)
    words = dict(vocab_size=len(WORDS), pad_token_id=0, bos_token_id=None, eos_token_id=2)
    vision = dict(TINY_LAYERS, patch_size=8)
    if family == "clip":
        clip_bpe_tokenizer(16).save_pretrained(directory)
        tf.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(directory)
        config = tf.CLIPConfig(text_config=dict(text, vocab_size=49408), vision_config=dict(vision, image_size=32),
                               projection_dim=16)
        model = tf.CLIPModel(config)
    elif family == "siglip":
        word_tokenizer(16).save_pretrained(directory)
        tf.SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(directory)
        config = tf.SiglipConfig(text_config=dict(text, **words), vision_config=dict(vision, image_size=32))
        model = tf.SiglipModel(config)
    elif family == "siglip2":
        word_tokenizer(16).save_pretrained(directory)
        tf.Siglip2ImageProcessor(patch_size=8, max_num_patches=16).save_pretrained(directory)
        config = tf.Siglip2Config(text_config=dict(text, **words), vision_config=dict(vision, num_patches=16))
        model = tf.Siglip2Model(config)
    else:
        raise ValueError(family)
    model.save_pretrained(directory)
    return directory


def save_timm_weights(path: Path, name: str = "test_resnet", seed: int = 1) -> dict:
    """A timm model WITH its classifier, randomised, saved the way users keep weights."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    state = {k: v.contiguous() for k, v in timm.create_model(name, pretrained=False).state_dict().items()}
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    return state


def write_images(directory: Path) -> list[Path]:
    """A jpg and two pngs (RGB of another size, and RGBA) of random pixels."""
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, shape in (("a.jpg", (48, 40, 3)), ("b.png", (37, 53, 3)), ("c.png", (32, 32, 4))):
        path = directory / name
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)
        paths.append(path)
    return paths

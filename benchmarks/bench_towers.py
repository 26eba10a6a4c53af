"""Towers from other libraries: our encoders vs the library's own forward, same weights, same inputs.

For open_clip (image and text towers), Hugging Face CLIP (image and text towers) and timm (a
headless CNN), random weights of a real architecture are saved locally the way users keep real
ones, loaded by us (``vision/open_clip``, ``text/hf_clip``, ``vision/timm``, ...) and by the
library, and fed the same batch. Two rows per tower:

- ``forward``: the same preprocessed tensors through our encoder and through the library's own
  call (``encode_image``, ``get_text_features``, ``model(x)``; L2-normalised where ours is): what
  wrapping costs;
- ``embed``: from image files / strings, our ``model.embed`` against the library's own
  preprocessing (open_clip's transform, the processor, timm's transform) + the same forward.

After one warm-up call each, every repeat times both back to back (order alternating); the
medians give the throughput ratio (ours / library: 1.0 is free wrapping) and the max
|difference| of the outputs. For timm our encoder adds its projection head (timm has none), so
its ``forward`` row compares the trunk.

Usage: python benchmarks/bench_towers.py [--batch 32] [--repeats 7] [--device cpu] [--threads N]
       python benchmarks/bench_towers.py --smoke     # tiny models, one repeat: checks it runs
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import imagebind_lite as ib

TEXTS = ["a photo of a dog", "a kettle whistling on the stove", "the sound of a drum", "an orange cat asleep"]
TINY_OPEN_CLIP = {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16,
                                                  "patch_size": 8},
                  "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


def clip_tokenizer(max_length: int):
    """CLIP's BPE tokenizer for transformers, from the vocabulary open_clip ships (no download)."""
    from open_clip.tokenizer import SimpleTokenizer
    from transformers import CLIPTokenizer

    bpe = SimpleTokenizer()
    renamed = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {renamed.get(t, t): i for t, i in bpe.encoder.items()}
    merges = [pair for pair, _ in sorted(bpe.bpe_ranks.items(), key=lambda item: item[1])]
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)


def make_open_clip(root: Path, smoke: bool) -> tuple[str, Path]:
    import open_clip

    name = "ViT-B-32"
    if smoke:
        name = "bench-tiny-clip"
        (root / f"{name}.json").write_text(json.dumps(TINY_OPEN_CLIP))
        open_clip.add_model_config(root / f"{name}.json")
    torch.save(open_clip.create_model(name).state_dict(), root / "open_clip.pt")
    return name, root / "open_clip.pt"


def make_hf_clip(root: Path, smoke: bool) -> Path:
    import transformers as tf

    size, context = (32, 16) if smoke else (224, 77)
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2) if smoke else {}
    config = tf.CLIPConfig(text_config=dict(small, max_position_embeddings=context),
                           vision_config=dict(small, image_size=size, patch_size=8 if smoke else 32),
                           projection_dim=16 if smoke else 512)
    directory = root / "hf_clip"
    tf.CLIPModel(config).save_pretrained(directory)
    clip_tokenizer(context).save_pretrained(directory)
    tf.CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}).save_pretrained(directory)
    return directory


def make_timm(root: Path, smoke: bool) -> tuple[str, Path]:
    import timm
    from safetensors.torch import save_file

    name = "test_resnet" if smoke else "resnet50"
    state = {k: v.contiguous() for k, v in timm.create_model(name).state_dict().items()}
    save_file(state, str(root / "timm.safetensors"))
    return name, root / "timm.safetensors"


def time_pair(ours, theirs, repeats: int) -> tuple[float, float, float]:
    """Median seconds of each (alternating order) and the max |difference| of their outputs."""
    times = {"ours": [], "theirs": []}
    with torch.no_grad():  # warm-up: first calls pay for lazy initialisation and caches
        outputs = {"ours": ours(), "theirs": theirs()}
    for repeat in range(repeats):
        order = [("ours", ours), ("theirs", theirs)]
        for name, fn in (order if repeat % 2 == 0 else order[::-1]):
            start = time.perf_counter()
            with torch.no_grad():
                outputs[name] = fn()
            times[name].append(time.perf_counter() - start)
    diff = (outputs["ours"].float() - outputs["theirs"].float()).abs().max().item()
    return statistics.median(times["ours"]), statistics.median(times["theirs"]), diff


def write_inputs(root: Path, batch: int) -> tuple[list[Path], list[str]]:
    rng = np.random.default_rng(0)
    images = []
    for i in range(batch):
        images.append(root / f"image_{i}.jpg")
        Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(images[-1])
    return images, [TEXTS[i % len(TEXTS)] for i in range(batch)]


def rgb(images: list[Path]) -> list[Image.Image]:
    return [Image.open(p).convert("RGB") for p in images]


def open_clip_rows(root: Path, smoke: bool, images: list[Path], texts: list[str], device: str) -> list:
    import open_clip

    name, weights = make_open_clip(root, smoke)
    trunk = {"open_clip_model": name, "pretrained_path": str(weights)}
    ours = ib.MultiModalModel({"vision": ib.create_encoder("vision/open_clip", trunk=trunk),
                               "text": ib.create_encoder("text/open_clip", trunk=trunk)}).to(device).eval()
    ref, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=str(weights), device=device)
    ref.eval()
    tokenizer = open_clip.get_tokenizer(name)
    pixels = torch.stack([preprocess(i) for i in rgb(images)]).to(device)
    tokens = tokenizer(texts).to(device)
    n = len(images)
    return [("open_clip image forward", lambda: ours.encoder("vision")(pixels),
             lambda: F.normalize(ref.encode_image(pixels), dim=-1)),
            ("open_clip image embed", lambda: ours.embed({"vision": images}, batch_size=n)["vision"],
             lambda: F.normalize(ref.encode_image(torch.stack([preprocess(i) for i in rgb(images)]).to(device)),
                                 dim=-1).cpu()),
            ("open_clip text forward", lambda: ours.encoder("text")(tokens),
             lambda: F.normalize(ref.encode_text(tokens), dim=-1)),
            ("open_clip text embed", lambda: ours.embed({"text": texts}, batch_size=n)["text"],
             lambda: F.normalize(ref.encode_text(tokenizer(texts).to(device)), dim=-1).cpu())]


def hf_rows(root: Path, smoke: bool, images: list[Path], texts: list[str], device: str) -> list:
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    directory = make_hf_clip(root, smoke)
    trunk = {"hf_clip_path": str(directory)}
    ours = ib.MultiModalModel({"vision": ib.create_encoder("vision/hf_clip", trunk=trunk),
                               "text": ib.create_encoder("text/hf_clip", trunk=trunk)}).to(device).eval()
    ref = AutoModel.from_pretrained(directory).to(device).eval()
    processor, tokenizer = AutoImageProcessor.from_pretrained(directory), AutoTokenizer.from_pretrained(directory)
    context = ours.encoder("text").data_config["context_length"]

    def tokenize():
        return tokenizer(texts, padding="max_length", max_length=context, truncation=True, return_tensors="pt").to(device)

    pixels = processor(images=rgb(images), return_tensors="pt")["pixel_values"].to(device)
    encoded = tokenize()
    packed = torch.cat([encoded["attention_mask"], encoded["input_ids"]], dim=1)  # our packing: fields by name
    n = len(images)
    return [("hf CLIP image forward", lambda: ours.encoder("vision")(pixels),
             lambda: F.normalize(ref.get_image_features(pixel_values=pixels).pooler_output, dim=-1)),
            ("hf CLIP image embed", lambda: ours.embed({"vision": images}, batch_size=n)["vision"],
             lambda: F.normalize(ref.get_image_features(**processor(images=rgb(images), return_tensors="pt").to(device))
                                 .pooler_output, dim=-1).cpu()),
            ("hf CLIP text forward", lambda: ours.encoder("text")(packed),
             lambda: F.normalize(ref.get_text_features(**encoded).pooler_output, dim=-1)),
            ("hf CLIP text embed", lambda: ours.embed({"text": texts}, batch_size=n)["text"],
             lambda: F.normalize(ref.get_text_features(**tokenize()).pooler_output, dim=-1).cpu())]


def timm_rows(root: Path, smoke: bool, images: list[Path], texts: list[str], device: str) -> list:
    import timm
    from timm.data import create_transform, resolve_model_data_config

    name, weights = make_timm(root, smoke)
    encoder = ib.create_encoder("vision/timm", trunk={"timm_model": name, "pretrained_path": str(weights)}).to(device).eval()
    ref = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(weights)), num_classes=0)
    ref = ref.to(device).eval()
    transform = create_transform(**resolve_model_data_config(ref), is_training=False)
    pixels = torch.stack([transform(i) for i in rgb(images)]).to(device)
    ours = ib.MultiModalModel({"vision": encoder})
    return [("timm trunk forward", lambda: encoder.trunk(pixels), lambda: ref(pixels)),
            ("timm embed (ours adds the head)", lambda: ours.embed({"vision": images}, batch_size=len(images))["vision"],
             lambda: F.normalize(encoder.head(ref(torch.stack([transform(i) for i in rgb(images)]).to(device)), None),
                                 dim=-1).cpu())]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--smoke", action="store_true", help="tiny models, batch 2, one repeat")
    args = parser.parse_args(argv)
    if args.smoke:
        args.batch, args.repeats = 2, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        images, texts = write_inputs(root, args.batch)
        rows = [row for make in (open_clip_rows, hf_rows, timm_rows)
                for row in make(root, args.smoke, images, texts, args.device)]
        print(f"batch {args.batch}, {args.repeats} repeats, device {args.device}, {torch.get_num_threads()} threads")
        print(f"{'measurement':<34} {'ours items/s':>13} {'library items/s':>16} {'ratio':>7} {'max |diff|':>11}")
        for name, ours, theirs in rows:
            mine, reference, diff = time_pair(ours, theirs, args.repeats)
            print(f"{name:<34} {args.batch / mine:13.1f} {args.batch / reference:16.1f} {reference / mine:7.3f} {diff:11.2e}")


if __name__ == "__main__":
    main()

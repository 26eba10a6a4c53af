"""Vision and text: preprocessing and embedding throughput (items/s), ours vs references, one run.

Preprocessing, from files written once into a temp dir, per item (what a DataLoader worker does):
- vision: our transform vs open_clip's ``image_transform`` (Resize bicubic, CenterCrop,
  ToTensor, Normalize) on 32x32 png (world size, tiny preset) and 640x480 jpg -> 224;
- text: our transform vs ``open_clip.tokenize`` on the same captions; plus ``.txt`` files.
Embedding (eval, no grad, batch 64), ours vs a reference model of identical dimensions:
- vision tiny vs timm ``VisionTransformer`` (same patch/width/depth/heads/pre-norm);
- text tiny vs open_clip ``TextTransformer`` (same context/width/depth/heads, causal, argmax pool);
- vision tiny training steps (forward + backward + AdamW), the demo's pretraining cost.
Ours and the reference are timed call by call, back to back, order alternating; medians reported.

Usage: python benchmarks/bench_modalities_vision_text.py [--repeats 30] [--items 200] [--threads 1]
"""
from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import imagebind_lite as il

CAPTIONS = ["a photo of a red kettle", "the small blue drum next to a dog on the floor",
            "a striped cat, far away, in warm light", "Ünïcödé café 東京 ☕ a long caption " * 6]


def rate(fn, items: int, repeats: int, other=None):
    """Median items/s of ``fn(i)`` (and ``other(i)``), timed call by call, order alternating.

    Each call handles ``items`` items; ours and the reference run back to back on the same
    input, so load from other jobs hits both alike and the median drops the spikes.
    """
    ours, ref = [], []
    for repeat in range(repeats):
        pair = [(fn, ours), (other, ref)] if repeat % 2 == 0 else [(other, ref), (fn, ours)]
        for call, sink in pair:
            if call is None:
                continue
            start = time.perf_counter()
            call(repeat)
            sink.append(time.perf_counter() - start)
    return items / statistics.median(ours), (items / statistics.median(ref) if ref else None)


def write_inputs(directory: Path, items: int) -> dict:
    rng = np.random.default_rng(0)
    files = {"png32": [], "jpg480": [], "txt": []}
    for i in range(items):
        files["png32"].append(directory / f"small_{i}.png")
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(files["png32"][-1])
        files["jpg480"].append(directory / f"photo_{i}.jpg")
        Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(files["jpg480"][-1], quality=90)
        files["txt"].append(directory / f"caption_{i}.txt")
        files["txt"][-1].write_text(CAPTIONS[i % len(CAPTIONS)])
    return files


def preprocessing_rows(files: dict, items: int) -> list:
    import open_clip
    from open_clip.transform import image_transform

    vision, text = il.get_modality("vision"), il.get_modality("text")
    rows = []
    for label, key, preset in (("vision png 32x32 -> 32 (tiny)", "png32", "tiny"),
                               ("vision jpg 640x480 -> 224 (imagebind_huge)", "jpg480", "imagebind_huge")):
        data = vision.preset(preset).data
        ours = vision.transform(data)
        reference = image_transform(data["image_size"], is_train=False, mean=data["mean"], std=data["std"])
        paths = files[key][:items]
        rows.append((label, *rate(lambda i: ours(paths[i]), 1, len(paths),
                                  lambda i: reference(Image.open(paths[i]))), "open_clip image_transform"))
    ours_text = text.transform(text.preset("imagebind_huge").data)
    captions = [CAPTIONS[i % len(CAPTIONS)] for i in range(items)]
    rows.append(("text strings -> 77 ids", *rate(lambda i: ours_text(captions[i]), 1, items,
                                                  lambda i: open_clip.tokenize(captions[i])), "open_clip.tokenize"))
    rows.append(("text .txt files -> 77 ids", *rate(lambda i: ours_text(files["txt"][i]), 1, items), "-"))
    return rows


def reference_vit(config):
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(img_size=config.data["image_size"], patch_size=config.stem["patch_size"],
                             embed_dim=config.width, depth=config.depth, num_heads=config.num_heads,
                             num_classes=config.embed_dim, pre_norm=True, global_pool="token")


def reference_text(config):
    from open_clip.transformer import TextTransformer

    return TextTransformer(context_length=config.data["context_length"], vocab_size=config.data["vocab_size"],
                           width=config.width, heads=config.num_heads, layers=config.depth,
                           output_dim=config.embed_dim)


def embedding_rows(batch: int, repeats: int) -> list:
    torch.manual_seed(0)
    vision, text = il.create_encoder("vision/tiny").eval(), il.create_encoder("text/tiny").eval()
    images = torch.randn(batch, 3, 32, 32)
    transform = il.get_modality("text").transform(text.data_config)
    ids = torch.stack([transform(CAPTIONS[i % len(CAPTIONS)]) for i in range(batch)])
    ref_vit, ref_text = reference_vit(vision.config).eval(), reference_text(text.config).eval()
    rows = []
    with torch.no_grad():
        for label, ours, ref, x, ref_name in (("vision tiny embed", vision, ref_vit, images, "timm VisionTransformer"),
                                              ("text tiny embed", text, ref_text, ids, "open_clip TextTransformer")):
            ours(x), ref(x)  # warm-up
            rows.append((label, *rate(lambda _: ours(x), batch, repeats, lambda _: ref(x)), ref_name))
    rows.append(("vision tiny train step", *train_rates(vision, ref_vit, images, repeats), "timm VisionTransformer"))
    return rows


def train_rates(ours, ref, images, repeats):
    def stepper(model):
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), 1e-4)

        def step(_=None):
            optimizer.zero_grad()
            model(images).square().mean().backward()
            optimizer.step()
        step()  # warm-up
        return step

    return rate(stepper(ours), images.shape[0], repeats, stepper(ref))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="batches per embedding measurement")
    parser.add_argument("--items", type=int, default=200, help="files per preprocessing measurement")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a DataLoader worker uses 1)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        files = write_inputs(Path(tmp), args.items)
        rows = preprocessing_rows(files, args.items)
    rows += embedding_rows(args.batch, args.repeats)
    print(f"threads={args.threads} repeats={args.repeats} items={args.items} batch={args.batch}")
    print("| measurement | ours (items/s) | reference (items/s) | ours / reference | reference |")
    print("|---|---|---|---|---|")
    for label, ours, ref, ref_name in rows:
        ratio = f"{ours / ref:.2f}x" if ref else "-"
        print(f"| {label} | {ours:,.0f} | {f'{ref:,.0f}' if ref else '-'} | {ratio} | {ref_name} |")


if __name__ == "__main__":
    main()

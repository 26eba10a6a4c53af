"""``imagebind-lite convert CHECKPOINT OUT_DIR``: official ImageBind ``.pth`` -> our saved model.

The checkpoint is read with ``torch.load(weights_only=True)`` (no arbitrary unpickling), mapped
key by key (imagebind_lite/compat/imagebind_checkpoint.py) and written as ``config.json`` +
safetensors, which ``imagebind_lite.load_model`` then serves without pickle.
``--to-official`` goes back: a saved model (e.g. one fine-tuned here) -> an ImageBind ``.pth``
that ``imagebind_model.imagebind_huge().load_state_dict`` accepts.
"""
from __future__ import annotations

import argparse

import torch

from imagebind_lite.errors import InputError

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="official ImageBind checkpoint, e.g. imagebind_huge.pth "
                                           "(with --to-official: a saved-model directory)")
    parser.add_argument("out_dir", help="directory for the converted saved model, replaced atomically "
                                        "(with --to-official: the .pth file to write)")
    parser.add_argument("--to-official", action="store_true",
                        help="convert the other way: our saved model -> ImageBind state dict (.pth)")
    parser.add_argument("--modalities", default=None,
                        help="comma-separated subset to convert, e.g. vision,text (default: all in the checkpoint)")
    parser.add_argument("--num-heads", action="append", default=[], metavar="MODALITY=N",
                        help="attention heads of a branch whose count differs from imagebind_huge's "
                             "(checkpoints do not store it); repeatable")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default=None, help="cast the weights (default: keep)")


def parse_num_heads(items: list[str]) -> dict[str, int]:
    heads = {}
    for item in items:
        name, _, value = item.partition("=")
        if not name or not value.isdigit() or int(value) < 1:
            raise InputError(f"--num-heads expects MODALITY=N with N >= 1, got {item!r}")
        heads[name.strip()] = int(value)
    return heads


def run(args: argparse.Namespace) -> int:
    from imagebind_lite.compat.convert import convert_checkpoint

    modalities = [m.strip() for m in args.modalities.split(",") if m.strip()] if args.modalities else None
    if args.to_official:
        return export_official(args, modalities)
    model = convert_checkpoint(args.checkpoint, args.out_dir, modalities, parse_num_heads(args.num_heads),
                               DTYPES.get(args.dtype))
    for name, encoder in model.encoders.items():
        config = encoder.config
        params = sum(p.numel() for p in encoder.parameters())
        print(f"{name:<8} width={config.width} depth={config.depth} heads={config.num_heads} "
              f"D={config.embed_dim} scale={config.output_scale} params={params / 1e6:.1f}M")
    print(f"wrote {args.out_dir}")
    return 0


def export_official(args: argparse.Namespace, modalities) -> int:
    from imagebind_lite.compat.convert import to_official
    from imagebind_lite.model import load_model

    model = load_model(args.checkpoint, modalities=modalities)
    state = to_official(model)
    if args.dtype:
        state = {k: v.to(DTYPES[args.dtype]) for k, v in state.items()}
    torch.save(state, args.out_dir)
    print(f"wrote {args.out_dir}: {', '.join(model.modalities)} ({len(state)} tensors, ImageBind key names)")
    return 0

"""``imagebind-lite embed``: files or a manifest -> embedding shards for ``index build``.

    imagebind-lite embed --model DIR --modality audio a.wav b.wav --out shards/
    imagebind-lite embed --model DIR --manifest eval/manifest.csv --out shards/   # every modality column

Runs through Lightning's predict loop with a shard-writing callback
(``imagebind_lite.inference.embed_to_shards``), so ``--devices 8`` (and ``--num-nodes``) spreads
the work over GPUs and each rank writes its own shards of about ``--shard-mb`` MiB. A rerun
with the same inputs and model resumes: shards already written are skipped. Row ids are
``<modality>:<sample id>`` (``inference/jobs.py``).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any, List, Tuple

from imagebind_lite.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", type=Path, help="files to embed (needs --modality)")
    parser.add_argument("--model", required=True, type=Path, help="saved-model directory")
    parser.add_argument("--modality", help="modality of the inputs (default with --manifest: every column the "
                                           "model has an encoder for)")
    parser.add_argument("--manifest", type=Path, help="CSV/JSONL manifest instead of files")
    parser.add_argument("--column", help="manifest column holding the inputs (default: the modality's name)")
    parser.add_argument("--out", required=True, type=Path, help="directory for the embedding shards")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers decoding files")
    parser.add_argument("--accelerator", default="auto", help="Lightning accelerator: auto, cpu, gpu...")
    parser.add_argument("--devices", default="1", help="Lightning devices: a count, a list like 0,1, or auto")
    parser.add_argument("--num-nodes", type=int, default=1, help="Lightning nodes (each runs --devices ranks)")
    parser.add_argument("--shard-mb", type=float, default=64.0,
                        help="embeddings per shard file, in MiB (default 64: 32768 rows at D=512)")
    parser.add_argument("--precision", default="32-true",
                        help="Lightning precision: 32-true (default), bf16-true (about 3x faster on CPUs with "
                             "bf16 instructions, embeddings within ~1e-3), bf16-mixed, 16-mixed (GPU)")
    parser.add_argument("--on-bad-sample", choices=("skip", "fail"), default="skip",
                        help="skip unreadable files (and list them) or stop at the first one")
    parser.add_argument("--overwrite", action="store_true",
                        help="delete shards of the embedded modalities already in --out first (a rerun of the "
                             "same inputs and model resumes without it)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def parse_devices(value: str) -> Any:
    """Lightning takes an int count, "auto", or a device list string such as "0,1"."""
    return int(value) if value.isdigit() else value


def plan(args: argparse.Namespace, model) -> List[Tuple[str, list]]:
    """``[(modality, rows)]`` to embed, from the files or the manifest."""
    from imagebind_lite.data.manifest import read_manifest
    from imagebind_lite.inference.jobs import file_rows, manifest_rows

    if bool(args.files) == bool(args.manifest):
        raise InputError("give either files or --manifest (not both)")
    if args.files:
        if not args.modality:
            raise InputError("embedding files needs --modality")
        return [(args.modality, file_rows(args.files, args.modality))]
    manifest = read_manifest(args.manifest)
    if args.column and not args.modality:
        raise InputError("--column needs --modality (the modality of that column)")
    if args.modality:
        column = args.column or args.modality
        manifest.require([column])
        return [(args.modality, manifest_rows(manifest, args.modality, column))]
    modalities = [m for m in model.modalities if m in manifest.columns]
    if not modalities:
        raise InputError(f"no manifest column matches a model modality ({model.modalities}); columns: "
                         f"{manifest.columns}", source=str(args.manifest))
    return [(m, manifest_rows(manifest, m, m)) for m in modalities]


def _quiet_lightning() -> None:
    """Lightning logs hardware and product tips at INFO; a CLI run only wants warnings from it."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _worker_error(exc: InputError) -> InputError:
    """A DataLoader worker re-raises our error with the whole traceback as its message: keep the
    last line, which names the file and the modality."""
    text = str(exc)
    if "DataLoader worker" not in text:
        return exc
    last = [line for line in text.splitlines() if line.strip()][-1]
    return InputError(last.split("InputError: ", 1)[-1])


def run(args: argparse.Namespace) -> int:
    from imagebind_lite.inference import embed_to_shards
    from imagebind_lite.model import load_model
    from imagebind_lite.saved_model import read_config

    _quiet_lightning()

    available = list(read_config(args.model)["encoders"])
    if args.modality and args.modality not in available:
        raise InputError(f"the model has no {args.modality!r} encoder; it has {', '.join(available)}",
                         modality=args.modality, source=str(args.model))
    # only the encoder that will run is loaded when the modality is given
    model = load_model(args.model, modalities=[args.modality] if args.modality else None)
    jobs = plan(args, model)
    skipped_total = 0
    for modality, rows in jobs:
        try:
            summary = embed_to_shards(model, modality, rows, args.out, batch_size=args.batch_size,
                                      num_workers=args.num_workers, on_bad_sample=args.on_bad_sample,
                                      accelerator=args.accelerator, devices=parse_devices(args.devices),
                                      precision=args.precision, progress=not args.no_progress,
                                      num_nodes=args.num_nodes, shard_mb=args.shard_mb, overwrite=args.overwrite)
        except InputError as exc:
            raise _worker_error(exc) from exc
        skipped = summary["skipped"]
        skipped_total += len(skipped)
        resumed = f", {summary['resumed_shards']} already written" if summary["resumed_shards"] else ""
        print(f"{modality}: embedded {summary['embedded']} of {len(rows)}, skipped {len(skipped)} "
              f"({summary['finished_shards']} shard(s){resumed})")
        for source in skipped:
            print(f"  skipped {source}")
    print(f"wrote shards to {args.out}" + (f" ({skipped_total} file(s) skipped)" if skipped_total else ""))
    return 0

"""``imagebind-lite shards MANIFEST OUT_DIR``: pack a manifest's pairs into tar shards + index.json.

    imagebind-lite shards data/world/audio.csv shards/audio --samples-per-shard 1000
    imagebind-lite shards pairs.jsonl shards/depth --modalities vision,depth --max-shard-mb 512

Train from them with ``PairDataModule(shards={"audio": "shards/audio"})`` (``data.shards`` in a
LightningCLI config).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from imagebind_lite.data.bad_samples import BAD_SAMPLE_POLICIES


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("manifest", type=Path, help="CSV or JSONL manifest (paths relative to it)")
    parser.add_argument("out_dir", type=Path, help="directory for <prefix>-NNNNNN.tar and index.json")
    parser.add_argument("--modalities", default=None,
                        help="comma-separated columns to store (default: every modality column)")
    parser.add_argument("--samples-per-shard", type=int, default=1000, help="samples per shard at most")
    parser.add_argument("--max-shard-mb", type=float, default=None,
                        help="start a new shard before one would grow past this size (MiB)")
    parser.add_argument("--prefix", default="shard", help="shard file name prefix")
    parser.add_argument("--on-bad-sample", choices=BAD_SAMPLE_POLICIES, default="fail",
                        help="a row whose file cannot be read: stop naming it, or leave it out and list it")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def run(args: argparse.Namespace) -> int:
    from imagebind_lite.data.shard_writer import write_shards

    modalities = [m.strip() for m in args.modalities.split(",") if m.strip()] if args.modalities else None
    index = write_shards(args.manifest, args.out_dir, modalities=modalities, samples_per_shard=args.samples_per_shard,
                         max_shard_mb=args.max_shard_mb, prefix=args.prefix, on_bad_sample=args.on_bad_sample,
                         progress=not args.no_progress)
    print(f"wrote {index['samples']} sample(s) of {', '.join(index['modalities'])} in {len(index['shards'])} "
          f"shard(s) to {args.out_dir}")
    print(f"index    {Path(args.out_dir) / 'index.json'}")
    if index["skipped"]:
        print(f"skipped  {len(index['skipped'])} unreadable sample(s), listed in the index")
    return 0

"""``imagebind-lite serve --model DIR --index DIR``: the JSON API and web page over HTTP (uvicorn).

    imagebind-lite serve --model demo_output/model --index demo_output/index
    # open http://127.0.0.1:8000/ ; or: curl 'http://127.0.0.1:8000/api/query?text=a+dog&k=5'

The model and the index are loaded once (the index read-only, its ANN lists memory-mapped);
relative file paths in the index resolve against ``--media-root`` (the current directory).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, type=Path, help="saved-model directory")
    parser.add_argument("--index", required=True, type=Path, help="index directory (imagebind-lite index build)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--device", default="cpu", help="torch device for the model")
    parser.add_argument("--media-root", type=Path, help="directory relative paths in the index resolve against "
                                                        "(default: the current directory)")
    parser.add_argument("--max-upload-mb", type=float, default=25.0, help="largest request body (uploads), MiB")
    parser.add_argument("--max-k", type=int, default=200, help="most results one query may ask for")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from imagebind_lite.serving import Limits, QueryEngine, create_app

    limits = Limits(max_k=args.max_k, max_upload_bytes=int(args.max_upload_mb * (1 << 20)))
    engine = QueryEngine(args.model, args.index, device=args.device, media_root=args.media_root, limits=limits)
    counts = ", ".join(f"{m}={c}" for m, c in engine.index.modality_counts().items())
    print(f"serving {args.index} ({len(engine.index)} rows: {counts}; {engine.index.backend_for('auto')} search) "
          f"with {args.model} on http://{args.host}:{args.port}/", flush=True)
    logging.getLogger("imagebind_lite").setLevel(args.log_level.upper())
    uvicorn.run(create_app(engine), host=args.host, port=args.port, log_level=args.log_level)
    return 0

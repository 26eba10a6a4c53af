"""``imagebind-lite serve`` throughput and latency for text queries over a 1M x 512 index.

One run, side by side, on the same index (saved ``IVF1024,Flat``, calibrated) and model (the
tiny text encoder with D=512, random weights: the forward costs what a small text tower costs):

- in-process ``EmbeddingIndex.search`` of precomputed query vectors, 1 and 8 threads;
- in-process text embedding + search (what one request does, without HTTP);
- ``imagebind-lite serve`` as a separate process, ``POST /api/query {"text": ..., "k": 10}``
  from 1 and 8 concurrent keep-alive clients.

Each line gives queries per second and p50 / p99 latency in milliseconds.

    python benchmarks/bench_serve.py                         # 1M x 512 (the index build takes minutes)
    python benchmarks/bench_serve.py --index DIR --model DIR # reuse a saved index and model
    python benchmarks/bench_serve.py --smoke                 # 5k x 32: checks the script runs
"""
from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

if "--omp-default" not in sys.argv:  # see bench_index.py
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import make_collection  # noqa: E402

from imagebind_lite import MultiModalModel, load_model  # noqa: E402
from imagebind_lite.retrieval import EmbeddingIndex  # noqa: E402

log = logging.getLogger("bench_serve")
WORDS = ("dog", "kettle", "drum", "boat", "fan", "bell", "cat", "car", "bird", "train", "clock", "horn")


def texts(count: int):
    return [f"the sound of a {WORDS[i % len(WORDS)]} number {i}" for i in range(count)]


def stats(latencies, wall: float) -> dict:
    ms = np.array(latencies) * 1e3
    return {"qps": len(ms) / wall, "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "n": len(ms)}


def run_clients(clients: int, per_client: int, one_request) -> dict:
    """``clients`` threads, each calling ``one_request(i)`` ``per_client`` times; latency per call."""
    latencies, errors = [], []
    lock = threading.Lock()

    def worker(c):
        try:
            state = {}
            for i in range(per_client):
                start = time.perf_counter()
                one_request(c * per_client + i, state)
                with lock:
                    latencies.append(time.perf_counter() - start)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return stats(latencies, time.perf_counter() - start)


def prepare(work: Path, args) -> tuple:
    if args.index and args.model:
        return args.index, args.model
    data, _ = make_collection(args.n, args.dim, 1, args)
    index = EmbeddingIndex(args.dim)
    index.add(data, [f"row{i}" for i in range(len(data))], "audio", [""] * len(data))
    del data
    start = time.perf_counter()
    index.build_ann(args.ann)
    index.save(work / "index")
    log.info("built %s over %d rows in %.1f s: %s", args.ann, args.n, time.perf_counter() - start,
             index.ann_description())
    torch.manual_seed(0)
    MultiModalModel.from_presets({"text": "tiny"}, embed_dim=args.dim).save(work / "model")
    return work / "index", work / "model"


def in_process(index_dir: Path, model_dir: Path, args) -> dict:
    index = EmbeddingIndex.load(index_dir, read_only=True)
    model = load_model(model_dir)
    queries = texts(args.requests)
    with torch.inference_mode():
        vectors = model.embed({"text": queries})["text"]
    for v in vectors[:5]:
        index.search_rows(v, 10)  # warm-up
    out = {}
    for clients in (1, 8):
        out[f"search, {clients} thread(s)"] = run_clients(clients, args.requests // clients,
                                                          lambda i, _: index.search_rows(vectors[i], 10))
    lock = threading.Lock()

    def embed_and_search(i, _):
        with lock, torch.inference_mode():
            vec = model.embed({"text": [queries[i]]})["text"][0]
        index.search_rows(vec, 10)

    out["embed + search, 1 thread"] = run_clients(1, args.requests, embed_and_search)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def served(index_dir: Path, model_dir: Path, args) -> dict:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "imagebind_lite.cli", "serve", "--model", str(model_dir),
                                "--index", str(index_dir), "--port", str(port), "--log-level", "warning"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("serve did not start")
                time.sleep(0.3)
        queries = texts(args.requests)

        def request(i, state):
            conn = state.setdefault("conn", http.client.HTTPConnection("127.0.0.1", port, timeout=120))
            conn.request("POST", "/api/query", body=json.dumps({"text": queries[i], "k": 10}),
                         headers={"content-type": "application/json"})
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(body)

        run_clients(1, 5, request)  # warm-up (tokenizer, first forward)
        return {f"serve, {clients} client(s)": run_clients(clients, args.requests // clients, request)
                for clients in (1, 8)}
    finally:
        process.terminate()
        process.wait(timeout=30)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--rank", type=int, default=32)
    p.add_argument("--clusters", type=int, default=30)
    p.add_argument("--noise", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ann", default="IVF1024,Flat")
    p.add_argument("--requests", type=int, default=400, help="requests per measurement (split between clients)")
    p.add_argument("--index", type=Path, help="reuse this index directory (with --model)")
    p.add_argument("--model", type=Path, help="reuse this saved model (a text encoder of the index's dimension)")
    p.add_argument("--workdir", type=Path, help="where the index and model go (default: a temporary one)")
    p.add_argument("--omp-default", action="store_true")
    p.add_argument("--json", default=None)
    p.add_argument("--smoke", action="store_true", help="a tiny run that only checks the script works")
    args = p.parse_args(argv)
    if args.smoke:
        args.n, args.dim, args.ann, args.requests = 5_000, 32, "IVF16,Flat", 16
    return args


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_serve-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("IMAGEBIND_LITE_CACHE_DIR", str(work / "verified-cache"))
    try:
        index_dir, model_dir = prepare(work, args)
        res = {**in_process(index_dir, model_dir, args), **served(index_dir, model_dir, args)}
        print(f"\n== text queries, k=10, {args.n} x {args.dim}, {args.ann} ==")
        for name, r in res.items():
            print(f"{name:<28} {r['qps']:8.1f} q/s   p50 {r['p50_ms']:7.2f} ms   p99 {r['p99_ms']:7.2f} ms   (n={r['n']})")
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=2))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Saved ANN indexes at 1M x 512: query-process time, IVF-PQ memory, ANN vs exact latency.

All figures come from one run on one collection (``bench_index.make_collection``: unit vectors
near a rank-32 latent space with 30 concept clusters plus noise), side by side:

1. ``imagebind-lite query`` process wall time for one query (a vector, so no model loads):
   the index with a saved IVF (``index build --ann IVF1024,Flat``) against the same index
   without one, where ``--backend faiss`` rebuilds IVF in the process (the behaviour before
   ANN indexes were saved). The first saved-index run after the build hashes the files in full
   (later ones trust the verified-hash cache); both are reported. A vector query against a
   saved ANN index runs the torch-free search (numpy + faiss only). Goal: >= 50x.
2. IVF-PQ (``IVF1024,PQ64`` + exact re-scoring of candidates, read from disk by positioned
   reads) against flat rows: bytes of the ANN index, and resident memory of a process answering
   200 queries: the torch-free search a ``query --vector`` process runs (numpy + faiss) against
   an exact-search process (torch), each above its own imports-only baseline, at the calibrated
   setting, with recall@10 against exact search. Goal: <= 1/8 at recall@10 >= 0.9.
3. ANN vs exact latency (one query at a time, and a batch of 256) at the first nprobe reaching
   recall@10 >= 0.95. Goal: >= 20x.

    python benchmarks/bench_ann.py                      # 1M x 512 (builds take minutes on 2 cores)
    python benchmarks/bench_ann.py --smoke              # 12k x 32: checks the script runs
    python benchmarks/bench_ann.py --json out.json --workdir /scratch/bench   # keep the indexes
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if "--omp-default" not in sys.argv:  # see bench_index.py: spinning OpenMP threads starve each other
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import make_collection, recall_at  # noqa: E402

from imagebind_lite.retrieval import EmbeddingIndex  # noqa: E402

log = logging.getLogger("bench_ann")
# Resident memory of a query process, two kinds. "light": what ``imagebind-lite query --vector``
# runs against a saved ANN index (numpy + faiss + the torch-free search, rows re-scored with
# positioned reads); "full": an ``EmbeddingIndex`` (torch) searching exactly. Index "-" is the
# kind's own baseline (its imports only), subtracted from its figure.
RSS_PROBES = {
    "light": """
import sys, faiss, numpy as np
from imagebind_lite.retrieval.saved_search import SavedSearch
if sys.argv[1] != "-":
    index = SavedSearch.open(sys.argv[1])
    for q in np.load(sys.argv[2]):
        index.search(q, 10)
assert "torch" not in sys.modules
with open("/proc/self/status") as fh:  # VmHWM, not ru_maxrss: exec keeps the parent's high-water mark there
    status = dict(line.split(":", 1) for line in fh)
print(*(int(status[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM")))
""",
    "full": """
import sys, faiss, numpy as np, torch
from imagebind_lite.retrieval import EmbeddingIndex
if sys.argv[1] != "-":
    index = EmbeddingIndex.load(sys.argv[1], read_only=True)
    for q in torch.from_numpy(np.load(sys.argv[2])):
        index.search_rows(q, 10, backend="exact")
with open("/proc/self/status") as fh:  # VmHWM, not ru_maxrss: exec keeps the parent's high-water mark there
    status = dict(line.split(":", 1) for line in fh)
print(*(int(status[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM")))
""",
}


def build(directory: Path, data: torch.Tensor, spec, **options) -> float:
    """Save ``data`` as an index (with ANN ``spec`` if given); returns the seconds it took."""
    index = EmbeddingIndex(data.shape[1])
    index.add(data, [f"row{i}" for i in range(len(data))], "x", [f"/data/{i}.bin" for i in range(len(data))])
    start = time.perf_counter()
    if spec:
        index.build_ann(spec, **options)
    index.save(directory)
    return time.perf_counter() - start


def query_process(index_dir: Path, vector: Path, *extra: str) -> float:
    command = [sys.executable, "-m", "imagebind_lite.cli", "query", "--index", str(index_dir), "--vector",
               str(vector), "-k", "10", *extra]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(done.stderr)
    return elapsed


def bench_query_process(work: Path, data, queries, args) -> dict:
    np.save(work / "q.npy", queries[0].numpy())
    build(work / "plain", data, None)
    build_s = build(work / "ivf", data, args.ivf)
    if not args.smoke:
        time.sleep(2.5)  # past the "racy" window: from now on a verified hash can be remembered
    saved = [query_process(work / "ivf", work / "q.npy") for _ in range(args.repeats + (0 if args.smoke else 1))]
    rebuild = [query_process(work / "plain", work / "q.npy", "--backend", "faiss") for _ in range(args.repeats)]
    exact = [query_process(work / "plain", work / "q.npy", "--backend", "exact")
             for _ in range(0 if args.smoke else args.repeats)]
    out = {"ivf_build_s": build_s, "saved_first_s": saved[0], "saved_s": min(saved[1:] or saved),
           "rebuild_s": min(rebuild), "exact_process_s": min(exact) if exact else float("nan")}
    out["speedup_vs_rebuild"] = out["rebuild_s"] / out["saved_s"]
    out["speedup_first_vs_rebuild"] = out["rebuild_s"] / out["saved_first_s"]
    log.info("query process: %s", {k: round(v, 3) for k, v in out.items()})
    return out


def _timed(fn, repeats):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def bench_latency(work: Path, queries, args) -> dict:
    index = EmbeddingIndex.load(work / "ivf", read_only=True)
    exact_batch_s, exact_rows = _timed(lambda: index.search_rows(queries, 10, backend="exact")[1].numpy(), args.repeats)
    exact_one_s, _ = _timed(lambda: [index.search_rows(q, 10, backend="exact") for q in queries[:args.singles]],
                            args.repeats)
    sweep, chosen = [], None
    for nprobe in (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256):
        batch_s, rows = _timed(lambda: index.search_rows(queries, 10, backend="faiss", nprobe=nprobe)[1].numpy(),
                               args.repeats)
        one_s, _ = _timed(lambda: [index.search_rows(q, 10, backend="faiss", nprobe=nprobe)
                                   for q in queries[:args.singles]], args.repeats)
        row = {"nprobe": nprobe, "recall@10": recall_at(rows, exact_rows), "batch_s": batch_s,
               "one_ms": 1e3 * one_s / args.singles, "speedup_one": exact_one_s / one_s,
               "speedup_batch": exact_batch_s / batch_s}
        sweep.append(row)
        log.info("nprobe %d: %s", nprobe, {k: round(v, 4) for k, v in row.items()})
        if row["recall@10"] >= 0.95:
            chosen = row
            break
    calibrated = index.ann_description()["modalities"]["x"]
    return {"exact_one_ms": 1e3 * exact_one_s / args.singles, "exact_batch_s": exact_batch_s, "sweep": sweep,
            "chosen": chosen, "calibrated": calibrated}


def resident(kind: str, index_dir, queries) -> tuple:
    """``(rss, peak)`` in bytes of a ``kind`` query process after the queries, and of its baseline."""
    def probe(*argv):
        done = subprocess.run([sys.executable, "-c", RSS_PROBES[kind], *map(str, argv)], capture_output=True,
                              text=True)
        if done.returncode:
            raise RuntimeError(done.stderr)
        return tuple(map(int, done.stdout.split()))

    return probe(index_dir, queries), probe("-", "-")


def bench_memory(work: Path, data, queries, exact_rows, args) -> dict:
    build_s = build(work / "pq", data, args.pq)
    index = EmbeddingIndex.load(work / "pq", read_only=True)
    rows = index.search_rows(queries, 10)[1].numpy()
    ann_bytes = sum(p.stat().st_size for p in (work / "pq").glob("ann-*.faiss"))
    flat_bytes = data.numel() * 4
    np.save(work / "q200.npy", queries[:200].numpy())
    (pq_rss, pq_peak), (pq_base, _) = resident("light", work / "pq", work / "q200.npy")
    (flat_rss, flat_peak), (flat_base, _) = resident("full", work / "plain", work / "q200.npy")
    pq_own, flat_own = pq_rss - pq_base, flat_rss - flat_base  # above each process's own imports
    out = {"build_s": build_s, "recall@10": recall_at(rows, exact_rows), "ann_bytes": ann_bytes,
           "flat_bytes": flat_bytes, "bytes_ratio": ann_bytes / flat_bytes, "pq_rss": pq_rss, "flat_rss": flat_rss,
           "pq_base_rss": pq_base, "flat_base_rss": flat_base, "pq_own": pq_own, "flat_own": flat_own,
           "rss_ratio": pq_own / max(flat_own, 1), "pq_peak": pq_peak, "flat_peak": flat_peak,
           "calibrated": index.ann_description()["modalities"]["x"]}
    log.info("memory: %s", out)
    return out


def print_summary(res: dict, args) -> None:
    q, lat, mem = res["query_process"], res["latency"], res["memory"]
    print(f"\n== {args.n} x {args.dim}, k=10 (torch {torch.get_num_threads()} threads) ==")
    print(f"query process, one vector query: saved {args.ivf} {q['saved_s']:.2f} s (first run after build "
          f"{q['saved_first_s']:.2f} s), in-process IVF rebuild {q['rebuild_s']:.2f} s, exact {q['exact_process_s']:.2f} s"
          f"  -> {q['speedup_vs_rebuild']:.1f}x ({q['speedup_first_vs_rebuild']:.1f}x first run)")
    c = lat["chosen"] or lat["sweep"][-1]
    print(f"latency at recall@10 {c['recall@10']:.3f} (nprobe {c['nprobe']}): one query {c['one_ms']:.2f} ms vs exact "
          f"{lat['exact_one_ms']:.2f} ms -> {c['speedup_one']:.1f}x; batch of {args.queries}: {c['batch_s']:.3f} s vs "
          f"{lat['exact_batch_s']:.3f} s -> {c['speedup_batch']:.1f}x; build calibrated {lat['calibrated']}")
    print(f"{args.pq}: recall@10 {mem['recall@10']:.3f}, index {mem['ann_bytes'] / 2**20:.1f} MiB vs flat "
          f"{mem['flat_bytes'] / 2**20:.1f} MiB ({mem['bytes_ratio']:.3f}); resident after 200 queries, above each "
          f"process's imports: torch-free PQ search {mem['pq_own'] / 2**20:.0f} MiB (imports "
          f"{mem['pq_base_rss'] / 2**20:.0f} MiB) vs exact {mem['flat_own'] / 2**20:.0f} MiB (imports "
          f"{mem['flat_base_rss'] / 2**20:.0f} MiB) -> {mem['rss_ratio']:.3f}; calibrated {mem['calibrated']}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--queries", type=int, default=256)
    p.add_argument("--singles", type=int, default=32, help="queries timed one at a time")
    p.add_argument("--rank", type=int, default=32)
    p.add_argument("--clusters", type=int, default=30)
    p.add_argument("--noise", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ivf", default="IVF1024,Flat", help="saved IVF index of parts 1 and 3")
    p.add_argument("--pq", default="IVF1024,PQ64", help="compressed index of part 2")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--workdir", type=Path, help="where the index directories go (default: a temporary one)")
    p.add_argument("--omp-default", action="store_true", help="keep OpenMP's default (spinning) wait policy")
    p.add_argument("--json", default=None)
    p.add_argument("--smoke", action="store_true", help="a tiny run that only checks the script works")
    args = p.parse_args(argv)
    if args.smoke:  # few processes: each one imports torch
        args.n, args.dim, args.queries, args.singles, args.repeats = 12_000, 32, 32, 4, 1
        args.ivf, args.pq = "IVF32,Flat", "IVF32,PQ4"   # PQ needs >= 39 x 256 training rows
    return args


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_ann-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("IMAGEBIND_LITE_CACHE_DIR", str(work / "verified-cache"))
    try:
        data, queries = make_collection(args.n, args.dim, args.queries, args)
        res = {"args": {k: str(v) for k, v in vars(args).items()}}
        res["query_process"] = bench_query_process(work, data, queries, args)
        res["latency"] = bench_latency(work, queries, args)
        exact_rows = EmbeddingIndex.load(work / "plain", read_only=True).search_rows(queries, 10)[1].numpy()
        res["memory"] = bench_memory(work, data, queries, exact_rows, args)
        print_summary(res, args)
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=2, default=str))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

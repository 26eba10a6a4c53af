"""Embedding index benchmark: exact search (ours) vs faiss IndexFlatIP vs numpy, ANN speed-up.

All figures come from one run on one collection, so the ratios are side by side:
1. exact top-k on the full collection: ours (chunked matmul + torch.topk) vs faiss IndexFlatIP
   vs numpy (full score matrix + argpartition), for a batch of queries and for single queries;
2. approximate search through our index's faiss backend (IVF on the full collection, HNSW on a
   smaller prefix because its build is slow on a few cores): build time, and the fastest setting
   reaching recall@10 >= target against exact, with its speed-up over exact search;
3. query latency as the collection grows (default 10k, 100k, 1M rows).
The collection lives near a low-dimensional latent space (rank 32) with a few coarse concept
clusters, plus isotropic noise, on the unit sphere: real embeddings have a low intrinsic
dimension and cluster by meaning, while uniform random vectors are the worst case for any ANN
index and well-separated clusters flatter IVF. Queries are fresh samples of the same law. Timings are the best of ``--repeats``, methods interleaved so
that load from other processes hits them alike.

    python benchmarks/bench_index.py            # 1M x 512, ~4-5 min on 2 cores
    python benchmarks/bench_index.py --n 200000 --sizes 10000,100000,200000
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

# OpenMP threads of torch and faiss spin-wait by default; on a small, shared machine the
# spinning threads of one library starve the other (faiss single-query search measured 20x
# slower here). Passive waiting is the fair setting for a side-by-side comparison; it must be
# set before torch/faiss start their thread pools. --omp-default keeps the library default.
if "--omp-default" not in sys.argv:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from imagebind_lite.retrieval import AnnConfig, EmbeddingIndex  # noqa: E402

log = logging.getLogger("bench_index")


def make_collection(n, dim, n_queries, args):
    """Unit vectors from a rank-``args.rank`` latent space with ``args.clusters`` coarse concepts."""
    gen = torch.Generator().manual_seed(args.seed)
    lift = torch.randn(args.rank, dim, generator=gen) / args.rank ** 0.5
    centers = 2.0 * torch.randn(args.clusters, args.rank, generator=gen)

    def sample(m):
        z = torch.randn(m, args.rank, generator=gen) + centers[torch.randint(0, args.clusters, (m,), generator=gen)]
        return F.normalize(z @ lift + args.noise * torch.randn(m, dim, generator=gen), dim=-1)

    data = torch.empty(n, dim)
    for start in range(0, n, 100_000):  # chunked: no second full-size temporary
        data[start:start + 100_000] = sample(min(100_000, n - start))
    return data, sample(n_queries)


def best_of(repeats, fns):
    """Interleave the methods ``repeats`` times; best time and last result of each."""
    times = {name: float("inf") for name in fns}
    results = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            results[name] = fn()
            times[name] = min(times[name], time.perf_counter() - t0)
    return times, results


def numpy_topk(x, q, k, chunk=32):
    """Plain numpy: score matrix + argpartition, 32 queries at a time (bounded memory)."""
    out = []
    for start in range(0, len(q), chunk):
        scores = q[start:start + chunk] @ x.T
        part = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
        out.append(np.take_along_axis(part, order, axis=1))
    return np.concatenate(out)


def recall_at(approx, exact):
    approx, exact = np.asarray(approx), np.asarray(exact)
    return float(np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approx, exact)]))


def bench_exact(index, data, queries, args):
    flat = faiss.IndexFlatIP(data.shape[1])
    t0 = time.perf_counter()
    flat.add(data.numpy())
    flat_add = time.perf_counter() - t0
    x, q, k = data.numpy(), queries.numpy(), args.k
    out = {"faiss_flat_add_s": flat_add}
    for label, qq, qn in (("batch", queries, q), ("single", queries[:1], q[:1])):
        fns = {"ours": lambda: index.search_rows(qq, k, backend="exact")[1].numpy(),
               "faiss_flat": lambda: flat.search(qn, k)[1]}
        if args.numpy:
            fns["numpy"] = lambda: numpy_topk(x, qn, k)
        times, res = best_of(args.repeats, fns)
        out[label] = {"seconds": times, "agreement_vs_ours": {m: recall_at(r, res["ours"]) for m, r in res.items()}}
        log.info("exact %s: %s", label, {m: f"{t:.3f}s" for m, t in times.items()})
    del flat
    return out


def sweep_ann(index, queries, exact_rows, exact_s, params, set_param, args):
    """Search with each ANN setting; the first reaching the recall target gives the speed-up."""
    rows, chosen = [], None
    for value in params:
        set_param(value)
        times, res = best_of(args.repeats, {"ann": lambda: index.search_rows(queries, args.k, backend="faiss")[1]})
        rec = recall_at(res["ann"].numpy(), exact_rows)
        rows.append({"param": value, "recall@10": rec, "seconds": times["ann"], "speedup": exact_s / times["ann"]})
        log.info("  param %s: recall %.3f, %.4fs (x%.1f vs exact)", value, rec, times["ann"], exact_s / times["ann"])
        if rec >= args.target_recall:
            chosen = rows[-1]
            break
    return {"sweep": rows, "chosen": chosen}


def bench_ann(kind, data, queries, args):
    cfg = AnnConfig(kind=kind)
    index = EmbeddingIndex(data.shape[1], ann=cfg)
    index.add(data, [str(i) for i in range(len(data))], "x")
    t0 = time.perf_counter()
    index.build_ann()
    build = time.perf_counter() - t0
    log.info("%s build over %d rows: %.1fs", kind, len(data), build)
    times, res = best_of(args.repeats, {"exact": lambda: index.search_rows(queries, args.k, backend="exact")[1]})
    if kind == "ivf":
        params, setter = (1, 2, 4, 8, 12, 16, 20, 24, 32, 48, 64, 128, 256), lambda v: setattr(cfg, "nprobe", v)
    else:
        params, setter = (8, 16, 24, 32, 48, 64, 128, 256, 512), lambda v: setattr(cfg, "ef_search", v)
    out = sweep_ann(index, queries, res["exact"].numpy(), times["exact"], params, setter, args)
    out.update({"rows": len(data), "build_s": build, "exact_s": times["exact"]})
    return out, index


def latency_curve(data, queries, ivf_param, args, big_ivf=None):
    """Per-query latency (single query, and amortised in a batch) as the collection grows."""
    curve = []
    for size in args.sizes:
        sub = data[:size]
        index = big_ivf if big_ivf is not None and size == len(big_ivf) else None
        if index is None:
            index = EmbeddingIndex(sub.shape[1], ann=AnnConfig(kind="ivf"))
            index.add(sub, [str(i) for i in range(size)], "x")
            index.build_ann()
        index.ann_config.nprobe = ivf_param
        flat = faiss.IndexFlatIP(sub.shape[1])
        flat.add(sub.numpy())
        q1, qn = queries[:1], queries.numpy()
        fns = {"ours_exact_1": lambda: index.search_rows(q1, args.k, backend="exact"),
               "ours_exact_batch": lambda: index.search_rows(queries, args.k, backend="exact"),
               "faiss_flat_1": lambda: flat.search(qn[:1], args.k),
               "faiss_flat_batch": lambda: flat.search(qn, args.k),
               "ours_ivf_1": lambda: index.search_rows(q1, args.k, backend="faiss"),
               "ours_ivf_batch": lambda: index.search_rows(queries, args.k, backend="faiss")}
        times, _ = best_of(args.repeats, fns)
        per_query = {m: (t if m.endswith("_1") else t / len(queries)) * 1e3 for m, t in times.items()}
        curve.append({"rows": size, "ms_per_query": per_query})
        log.info("latency %d rows: %s", size, {m: f"{v:.3f}ms" for m, v in per_query.items()})
    return curve


def print_summary(res, args):
    n, d = args.n, args.dim
    print(f"\n== exact top-{args.k}, {n} x {d}, {args.queries} queries (torch {torch.get_num_threads()} threads, "
          f"faiss {faiss.omp_get_max_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}) ==")
    for label in ("batch", "single"):
        t = res["exact"][label]["seconds"]
        ratios = ", ".join(f"{m} / ours = {t[m] / t['ours']:.2f}x" for m in t if m != "ours")
        print(f"{label:>6}: " + ", ".join(f"{m} {s:.3f}s" for m, s in t.items()) + f"  [{ratios}]")
    for kind, r in res["ann"].items():
        c = r["chosen"]
        head = f"{kind} on {r['rows']} rows: build {r['build_s']:.1f}s, exact {r['exact_s']:.3f}s"
        if c is None:
            print(head + f"; recall target {args.target_recall} not reached (best {r['sweep'][-1]['recall@10']:.3f})")
        else:
            print(head + f"; param {c['param']}: recall@10 {c['recall@10']:.3f}, {c['seconds']:.4f}s, "
                         f"speed-up x{c['speedup']:.1f}")
    print("latency (ms per query; _1 = one query, _batch = amortised over the batch):")
    for row in res["latency"]:
        print(f"  {row['rows']:>8}: " + ", ".join(f"{m} {v:.3f}" for m, v in row["ms_per_query"].items()))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1_000_000, help="collection rows")
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--queries", type=int, default=256, help="queries per batch")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--rank", type=int, default=32, help="intrinsic (latent) dimension of the collection")
    p.add_argument("--clusters", type=int, default=30, help="coarse concept clusters in the latent space")
    p.add_argument("--noise", type=float, default=0.3, help="isotropic noise added in the full space")
    p.add_argument("--omp-default", action="store_true", help="keep OpenMP's default (spinning) wait policy")
    p.add_argument("--repeats", type=int, default=2, help="timings are the best of this many")
    p.add_argument("--sizes", default="10000,100000,1000000", help="collection sizes for the latency curve")
    p.add_argument("--hnsw-n", type=int, default=20_000, help="rows for the HNSW run (0 = skip)")
    p.add_argument("--target-recall", type=float, default=0.95)
    p.add_argument("--no-numpy", dest="numpy", action="store_false", help="skip the (slow) numpy baseline")
    p.add_argument("--json", default=None, help="also write all figures to this JSON file")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.sizes = [s for s in (int(x) for x in args.sizes.split(",")) if s <= args.n]
    return args


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    t_start = time.perf_counter()
    data, queries = make_collection(args.n, args.dim, args.queries, args)
    res = {"args": {k: v for k, v in vars(args).items()}}
    ivf_res, ivf_index = bench_ann("ivf", data, queries, args)
    del data  # from here on the index's own normalised copy is the collection (saves 2 GB at 1M)
    data = ivf_index.embeddings
    res["exact"] = bench_exact(ivf_index, data, queries, args)
    res["ann"] = {"ivf": ivf_res}
    if args.hnsw_n:
        res["ann"]["hnsw"] = bench_ann("hnsw", data[: args.hnsw_n], queries, args)[0]
    nprobe = (ivf_res["chosen"] or ivf_res["sweep"][-1])["param"]
    res["latency"] = latency_curve(data, queries, nprobe, args, big_ivf=ivf_index)
    res["total_s"] = time.perf_counter() - t_start
    print_summary(res, args)
    print(f"total {res['total_s']:.0f}s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()

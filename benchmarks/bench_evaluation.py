"""Evaluation benchmark: our retrieval metrics vs torchmetrics on the same scores, and the cost
of a full emergent evaluation (matrix + gap + centring + report) on fixed embeddings.

1. R@1/5/10, MRR and mAP for Q queries x G gallery items with one positive each: ours
   (``retrieval_metrics``, batched rank computation) vs torchmetrics' RetrievalHitRate /
   RetrievalMRR / RetrievalMAP (per-query grouping), same input, values and time ratio;
2. ``emergent_matrix`` + ``modality_gap`` + ``gap_correction`` + ``write_report`` for M
   modalities x N held-out rows (what ``imagebind-lite evaluate`` runs after embedding).

    python benchmarks/bench_evaluation.py           # Q = G = 2000, 6 modalities x 2000 rows
"""
from __future__ import annotations

import argparse
import tempfile
import time

import torch
import torch.nn.functional as F
from torchmetrics.retrieval import RetrievalHitRate, RetrievalMAP, RetrievalMRR

from imagebind_lite.evaluation import (EvaluationResult, emergent_matrix, gap_correction, modality_gap,
                                       retrieval_metrics, write_report)

MODALITIES = ["vision", "text", "audio", "depth", "thermal", "imu"]


def torchmetrics_retrieval(scores, rel):
    q, g = scores.shape
    indexes = torch.arange(q).unsqueeze(1).expand(q, g).flatten()
    preds, target = scores.flatten() + 2, rel.flatten()  # +2: torchmetrics ignores scores <= 0
    out = {f"R@{k}": RetrievalHitRate(top_k=k)(preds, target, indexes=indexes).item() for k in (1, 5, 10)}
    out["MRR"] = RetrievalMRR()(preds, target, indexes=indexes).item()
    out["mAP"] = RetrievalMAP()(preds, target, indexes=indexes).item()
    return out


def bench_metrics(n, dim):
    a = F.normalize(torch.randn(n, dim), dim=-1)
    b = F.normalize(a + 6.0 * torch.randn(n, dim) / dim ** 0.5, dim=-1)  # cos(a, b) ~ 0.16: mid-range R@k
    rel = torch.eye(n, dtype=torch.bool)
    t0 = time.perf_counter()
    ours = retrieval_metrics(a, b, rel).to_dict()
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = torchmetrics_retrieval(a @ b.T, rel)  # given the score matrix for free
    t_ref = time.perf_counter() - t0
    diff = max(abs(ours[k] - ref[k]) for k in ref)
    print(f"retrieval metrics {n} x {n}: ours {t_ours:.3f}s, torchmetrics {t_ref:.3f}s "
          f"(x{t_ref / t_ours:.1f}); max |diff| {diff:.2e}; ours R@1 {ours['R@1']:.3f}, mAP {ours['mAP']:.3f}")


def bench_emergent(n, dim, classes):
    labels = torch.arange(n) % classes
    concept = torch.randn(classes, dim)[labels] + 0.8 * torch.randn(n, dim)
    emb = {m: F.normalize(concept + (0.5 + 0.2 * i) * torch.randn(n, dim) + 0.5 * torch.randn(dim), dim=-1)
           for i, m in enumerate(MODALITIES)}
    texts = F.normalize(torch.randn(classes, dim).unsqueeze(1) + 0.1 * torch.randn(classes, 4, dim), dim=-1)
    steps = {}
    t0 = time.perf_counter()
    matrix = emergent_matrix(emb, labels, class_text_emb=texts, ks=(1, 5, 10))
    steps["emergent_matrix"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    gap = modality_gap(emb)
    steps["modality_gap"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    corr = gap_correction(emb, labels, texts)
    steps["gap_correction"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        write_report(out, EvaluationResult(MODALITIES, n, matrix=matrix, gap=gap, gap_correction=corr, embeddings=emb))
    steps["write_report"] = time.perf_counter() - t0
    print(f"emergent evaluation, {len(MODALITIES)} modalities x {n} rows, D={dim}, {len(matrix.cells)} cells: "
          + ", ".join(f"{k} {v:.2f}s" for k, v in steps.items()) + f"; total {sum(steps.values()):.2f}s")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=2000, help="queries = gallery = held-out rows")
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--classes", type=int, default=50)
    args = p.parse_args()
    torch.manual_seed(0)
    bench_metrics(args.n, args.dim)
    bench_emergent(args.n, args.dim, args.classes)


if __name__ == "__main__":
    main()

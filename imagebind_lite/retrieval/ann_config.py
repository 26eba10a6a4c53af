"""Settings of the approximate (faiss) backend: what to build and how to search it by default.

Plain data with no torch or faiss import, so a process that only reads a saved index's
settings (the torch-free search of ``saved_search.py``) can use it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

# Lossy codes re-score this many times k candidates exactly by default. Measured on 100k x 512
# rows of benchmarks/bench_index.py's collection with IVF256,PQ64 at nprobe 16: recall@10 0.53
# from the PQ scores alone, 0.89 re-scoring 4 x k, 0.99 at 10 x k, 0.997 at 20 x k.
DEFAULT_RERANK = 10


@dataclass
class AnnConfig:
    factory: Optional[str] = None  # faiss index-factory string ("IVF1024,Flat", "HNSW32"...): a saved, trained index
    kind: str = "ivf"              # without factory: "ivf" (k-means lists; builds ~10x faster on CPU) or "hnsw"
    hnsw_m: int = 32               # HNSW neighbours per node: memory/recall trade-off
    ef_construction: int = 80      # HNSW build beam width: build time vs graph quality
    ef_search: Optional[int] = None  # HNSW search beam width; None: calibrated (saved) or 128
    nlist: Optional[int] = None    # IVF lists without factory; None = sqrt(rows) (cheap k-means on a CPU)
    nprobe: Optional[int] = None   # IVF lists visited per query; None: calibrated (saved) or 32
    rerank: Optional[int] = None   # re-score k x rerank candidates exactly; None: 10 for lossy codes, else 0
    train_per_list: int = 64       # k-means sample = this x centroids rows (faiss warns below 39)
    train_size: Optional[int] = None  # explicit training-sample size (overrides train_per_list)
    flat_below: int = 2048         # sub-indexes this small stay exact (ANN buys nothing there)
    target_recall: float = 0.95    # calibration target for the saved defaults (recall@10 vs exact)
    calibration_queries: int = 256  # queries sampled from the index to calibrate (0: no calibration)
    seed: int = 0                  # sampling seed, for reproducible builds

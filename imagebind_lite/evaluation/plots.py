"""Plots of an evaluation, drawn on bare matplotlib ``Figure`` objects.

No pyplot: it would pick (or need) a display backend and keep every figure in global state;
a ``Figure`` renders straight to png and is freed with its last reference, so plotting is safe
in workers and never changes the backend of the program that imports us.

- the emergent-matrix heatmap: query modality x gallery modality, value in each cell, emergent
  cells marked with "E" so trained and emergent alignment read apart at a glance;
- a 2-D PCA projection of every modality's embedding cloud, with its centroid, which makes the
  modality gap visible (Liang et al. 2022, Fig. 1).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from imagebind_lite.atomic import atomic_path

from .emergent import EmergentMatrix


def _save(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path


def plot_emergent_heatmap(matrix: EmergentMatrix, path, metric: str = "R@1") -> Path:
    rows, cols, grid = matrix.grid(metric)
    fig = Figure(figsize=(1.2 * len(cols) + 2, 1.0 * len(rows) + 1.5))
    ax = fig.subplots()
    image = ax.imshow(grid.numpy(), vmin=0.0, vmax=1.0, cmap="viridis")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("gallery modality")
    ax.set_ylabel("query modality")
    for i, q in enumerate(rows):
        for j, g in enumerate(cols):
            cell = matrix.get(q, g, metric)
            if cell is not None:
                mark = " E" if cell.status == "emergent" else ""
                colour = "black" if cell.score > 0.6 else "white"
                ax.text(j, i, f"{cell.score:.2f}{mark}", ha="center", va="center", color=colour, fontsize=8)
    ax.set_title(f"{metric} (E = emergent: never trained together)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _save(fig, Path(path))


def plot_modality_pca(emb_by_modality: Mapping[str, torch.Tensor], path, max_points: int = 1000,
                      seed: int = 0) -> Path:
    gen = torch.Generator().manual_seed(seed)
    clouds = {m: F.normalize(e.float(), dim=-1)[torch.randperm(len(e), generator=gen)[:max_points]]
              for m, e in emb_by_modality.items()}
    stacked = torch.cat(list(clouds.values()))
    mean = stacked.mean(dim=0)
    # principal axes of the pooled cloud: the gap between modalities dominates them when present
    _, _, v = torch.linalg.svd(stacked - mean, full_matrices=False)
    axes = v[:2].T
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    for m, cloud in clouds.items():
        xy = ((cloud - mean) @ axes).numpy()
        points = ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.5, label=m)
        c = ((cloud.mean(dim=0) - mean) @ axes).numpy()
        ax.scatter([c[0]], [c[1]], s=120, marker="X", color=points.get_facecolor()[0], edgecolors="black")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title("embedding clouds per modality (X = centroid)")
    ax.legend(markerscale=3, ncol=max(1, math.ceil(len(clouds) / 6)), fontsize=8)
    return _save(fig, Path(path))

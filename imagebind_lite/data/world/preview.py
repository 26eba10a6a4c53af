"""Contact sheet of a world: a few eval instances, one row each, across all six modalities,
so a person can see what the concepts look, sound and feel like (matplotlib, Agg backend)."""
from __future__ import annotations

import logging
import os
import textwrap
from pathlib import Path
from typing import Union

import numpy as np

from imagebind_lite.atomic import atomic_path

log = logging.getLogger(__name__)

COLUMNS = ("vision", "depth", "thermal", "audio", "imu", "text")


def _draw_row(axes, sample, world) -> None:
    attrs = sample["attributes"]
    axes[0].imshow(sample["vision"])
    axes[0].set_ylabel(f"{sample['concept']}\nsize {attrs['size']:.2f}", fontsize=8)
    im = axes[1].imshow(sample["depth"], cmap="viridis_r")
    axes[1].figure.colorbar(im, ax=axes[1], fraction=0.046, label="m")
    axes[2].imshow(sample["thermal"], cmap="inferno")
    rate = world.config.sample_rate
    axes[3].specgram(sample["audio"], NFFT=512, Fs=rate, noverlap=384, cmap="magma")
    axes[3].set_ylim(0, min(rate / 2, 6000))
    axes[3].set_xlabel(f"tempo {attrs['tempo']:.1f}/s  pitch {attrs['pitch']:.0f} Hz", fontsize=7)
    t = np.arange(len(sample["imu"])) / world.config.imu_rate
    axes[4].plot(t, sample["imu"], linewidth=0.7)
    axes[4].set_xlabel("s", fontsize=7)
    axes[5].text(0.02, 0.5, "\n".join(textwrap.wrap(sample["text"], 22)), fontsize=8, va="center")
    for i in (0, 1, 2, 5):
        axes[i].set_xticks([])
        axes[i].set_yticks([])
    axes[5].set_axis_off()


def render_preview(world, path: Union[str, os.PathLike], n: int = 6, start: int = 0) -> Path:
    """Write a png contact sheet of eval instances ``start .. start+n-1`` to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, axes = plt.subplots(n, len(COLUMNS), figsize=(2.6 * len(COLUMNS), 2.2 * n), squeeze=False)
    for row in range(n):
        _draw_row(axes[row], world.sample("eval", start + row), world)
    for col, name in enumerate(COLUMNS):
        axes[0, col].set_title(name)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    log.info("wrote preview of %d instances to %s", n, path)
    return path

"""The demo's first stage, the synthetic world written to files, and its contact sheet.

Kept apart from the training stages because it needs no Lightning: the demo writes the world in
a second process while this one imports Lightning (runner.py), seconds that would otherwise
come one after the other.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict

from imagebind_lite.demo.config import ALIGNED, DemoConfig


def _world(config: DemoConfig):
    from imagebind_lite.data.world import SyntheticWorld, WorldConfig

    return SyntheticWorld(WorldConfig(num_concepts=config.num_concepts, seed=config.seed,
                                      image_size=config.image_size))


def write_world_stage(config: DemoConfig) -> Dict[str, Path]:
    from imagebind_lite.data.world import write_world

    sizes = {m: config.pairs(m) for m in ALIGNED}
    sizes.update(eval=config.eval_size, audio_text=config.direct_pairs)
    return write_world(_world(config), config.out_dir / "world", sizes=sizes, progress=config.progress,
                       workers=config.world_workers)


def preview_stage(config: DemoConfig) -> Path:
    """The world's contact sheet (matplotlib: ~2 s, so it is drawn while the second process of
    the alignment finishes when there is one)."""
    from imagebind_lite.data.world import render_preview

    return render_preview(_world(config), config.out_dir / "world_preview.png", n=6)

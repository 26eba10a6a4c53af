"""The synthetic multimodal world: K named concepts shown
consistently in vision, text, audio, depth, thermal and IMU, generated on the fly or written
to files + manifests so the real file loaders are exercised end to end.

    from imagebind_lite.data.world import WorldConfig, SyntheticWorld, write_world, render_preview
"""
from imagebind_lite.data.world.concepts import Concept
from imagebind_lite.data.world.config import COLLECTIONS, EVAL_COLLECTION, MODALITIES, PAIR_COLLECTIONS, WorldConfig
from imagebind_lite.data.world.dataset import WorldDataset
from imagebind_lite.data.world.world import SyntheticWorld


def write_world(*args, **kwargs):
    """Write a world to files and manifests; see ``writer.write_world``."""
    from imagebind_lite.data.world.writer import write_world as _write

    return _write(*args, **kwargs)


def render_preview(*args, **kwargs):
    """Contact sheet of eval instances; see ``preview.render_preview`` (imports matplotlib)."""
    from imagebind_lite.data.world.preview import render_preview as _render

    return _render(*args, **kwargs)


__all__ = ["Concept", "WorldConfig", "SyntheticWorld", "WorldDataset", "write_world", "render_preview",
           "COLLECTIONS", "PAIR_COLLECTIONS", "EVAL_COLLECTION", "MODALITIES"]

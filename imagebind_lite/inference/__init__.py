"""Applying a model to data: embed a manifest in memory, evaluate a model on a held-out
manifest or on benchmarks written by ``imagebind-lite manifest``, or embed files at scale
through Lightning's predict loop into shards.

Names are imported on first use: the predict loop needs Lightning, whose import takes seconds
that in-memory embedding and evaluation (``imagebind-lite evaluate``) should not pay.
"""
from importlib import import_module

_HOMES = {
    "EmbedModule": "predict", "ShardWriter": "predict", "embed_to_shards": "predict",
    "embed_class_prompts": "manifest", "embed_manifest": "manifest", "evaluate_model": "evaluate",
    "embed_files": "benchmark", "run_benchmark": "benchmark", "run_benchmarks": "benchmark",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)

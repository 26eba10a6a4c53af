"""Benchmark adapters: a data set's release on disk -> ``manifest.csv`` + ``prompts.json`` +
``benchmark.json`` that ``imagebind-lite evaluate`` reads as they are.

One module per data-set family (images, audio, audio_text, depth, thermal, imu); ``catalogue``
says what each benchmark measures and what ImageBind-huge reported; ``output`` writes and reads
the files; ``common`` holds the metadata-reading helpers they share. ``ADAPTERS`` maps the names
of ``imagebind-lite manifest NAME`` to the functions.
"""
from .audio import audioset_manifest, esc50_manifest, vggsound_manifest
from .audio_text import audiocaps_manifest, clotho_manifest
from .catalogue import BenchmarkSpec, Variant, get_benchmark, list_benchmarks
from .depth import nyud_manifest, sunrgbd_manifest
from .images import folder_manifest, imagenet_manifest
from .imu import ego4d_manifest
from .output import Written, load_benchmark
from .thermal import llvip_manifest

ADAPTERS = {
    "folders": folder_manifest, "imagenet": imagenet_manifest,
    "esc50": esc50_manifest, "audioset": audioset_manifest, "vggsound": vggsound_manifest,
    "clotho": clotho_manifest, "audiocaps": audiocaps_manifest,
    "sunrgbd": sunrgbd_manifest, "nyud": nyud_manifest,
    "llvip": llvip_manifest, "ego4d": ego4d_manifest,
}

__all__ = ["ADAPTERS", "BenchmarkSpec", "Variant", "Written", "get_benchmark", "list_benchmarks", "load_benchmark",
           *(f.__name__ for f in ADAPTERS.values())]

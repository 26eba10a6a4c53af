"""What each benchmark measures, and what ImageBind-huge reported on it.

One ``BenchmarkSpec`` per ``imagebind-lite manifest NAME``. An adapter writes the spec, with
the facts of the run (counts, options, skipped rows), to ``benchmark.json`` beside the
manifest, so an evaluation step can pick the metric and print the paper's figure next to the
measured one without knowing anything about the data set's release format.

Paper figures: ImageBind (Girdhar et al., CVPR 2023), ImageBind-huge, in percent. Table 2 is the
emergent zero-shot classification table (IN1K 77.7, NYU-D 54.0, SUN-D 35.1, AS-A 17.6 mAP,
VGGS 27.8, ESC 66.9, LLVIP 63.4, Ego4D 25.0); Table 3 the emergent text-to-audio retrieval
(Clotho R@1 6.0 / R@10 28.4, AudioCaps R@1 9.3 / R@10 42.3). The paper reports no R@5 and no
audio-to-text direction: those are measured and shown without a paper figure.

Preprocessing variants: named overrides of the evaluated encoder's data config (the keys its
modality documents). The first is what the benchmark uses unless told otherwise; the others are
published findings to measure against it on the real data (they cannot be measured without it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Tuple

from imagebind_lite.errors import UnknownNameError

from . import templates as T

CLASSIFICATION, MULTILABEL, RETRIEVAL = "classification", "multilabel", "retrieval"
TABLE_2 = "ImageBind (Girdhar et al., CVPR 2023), Table 2: emergent zero-shot classification, ImageBind-huge"
TABLE_3 = "ImageBind (Girdhar et al., CVPR 2023), Table 3: emergent zero-shot text-to-audio retrieval"
RETRIEVAL_METRICS = tuple(f"{q}->{g} R@{k}" for q, g in (("text", "audio"), ("audio", "text")) for k in (1, 5, 10))

# SUN RGB-D / Omnivore disparity: depth decoded as the SUN RGB-D toolbox does (read3dPoints.m:
# the png holds millimetres rotated left by 3 bits), capped at 8 m, disparity = sensor baseline x
# focal length (intrinsics.txt) / depth (ImageBind GitHub issue #134, following the conversion Omnivore's
# authors posted in Omnivore GitHub issue #12), then Omnivore's DepthNorm from its released SUN RGB-D
# config: disparity clamped at 75 and divided by 75, no further mean/std.
OMNIVORE_DEPTH_NORM = {"min_depth": 0.01, "max_disparity": 75.0, "mean": 0.0, "std": 75.0}
SUNRGBD_DISPARITY = {"depth_encoding": "sunrgbd", "max_depth": 8.0, "disparity_scale": "camera",
                     **OMNIVORE_DEPTH_NORM}
# NYU-Depth v2 was shot with one Kinect v1: baseline 0.075 m (the value in Omnivore GitHub issue #12)
# times the focal length of the NYU toolbox's camera_params (fx_rgb 518.857901 px; the depth maps
# of the labelled set are registered to the RGB camera).
NYU_DISPARITY_SCALE = 0.075 * 518.857901
NYU_DISPARITY = {"disparity_scale": NYU_DISPARITY_SCALE, **OMNIVORE_DEPTH_NORM}


@dataclass(frozen=True)
class Variant:
    """A named data-config override of the evaluated encoder, and where it comes from."""

    name: str
    data: Mapping[str, object]
    source: str

    def to_json(self) -> dict:
        return {"name": self.name, "data": dict(self.data), "source": self.source}


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str                          # the adapter's CLI name
    title: str                         # what is measured, in words
    modality: str                      # the non-text modality under test
    task: str                          # CLASSIFICATION (top-1), MULTILABEL (mAP) or RETRIEVAL (R@k)
    metrics: Tuple[str, ...]           # metric keys the evaluation reports, e.g. ("top1",)
    homepage: str                      # where a user gets the data
    paper: Mapping[str, float] = field(default_factory=dict)  # metric key -> ImageBind-huge, percent
    paper_source: str = ""             # table of the paper the figures come from
    templates: Tuple[str, ...] = ()    # default prompts (classification tasks)
    templates_source: str = ""
    variants: Tuple[Variant, ...] = (Variant("preset", {}, "the encoder's own data config"),)

    def to_json(self) -> dict:
        return {
            "benchmark": self.name, "title": self.title, "modality": self.modality, "task": self.task,
            "metrics": list(self.metrics), "homepage": self.homepage,
            "paper": {"model": "imagebind_huge", "unit": "percent", "figures": dict(self.paper),
                      "source": self.paper_source},
            "preprocessing": [v.to_json() for v in self.variants],
        }


def _spec(name, title, modality, task, homepage, paper=None, source=TABLE_2, templates=(), templates_source="",
          variants=None) -> BenchmarkSpec:
    metrics = {CLASSIFICATION: ("top1",), MULTILABEL: ("mAP",), RETRIEVAL: RETRIEVAL_METRICS}[task]
    extra = {} if variants is None else {"variants": tuple(variants)}
    return BenchmarkSpec(name, title, modality, task, metrics, homepage, paper or {}, source if paper else "",
                         tuple(templates), templates_source, **extra)


def _catalogue() -> Dict[str, BenchmarkSpec]:
    clip = T.clip_imagenet_templates()
    preset = Variant("preset", {}, "the encoder's own data config")
    specs = [
        _spec("folders", "zero-shot classification of class folders", "any", CLASSIFICATION,
              "your own data: ROOT/<class>/<files>", templates=T.DEFAULT_TEMPLATES,
              templates_source="a neutral default; pass --template"),
        _spec("imagenet", "ImageNet-1k validation, 1000 classes", "vision", CLASSIFICATION,
              "https://image-net.org/download.php (ILSVRC2012 val + devkit)", {"top1": 77.7},
              templates=clip, templates_source=T.CLIP_SOURCE),
        _spec("esc50", "ESC-50 environmental sounds, 50 classes (5 folds)", "audio", CLASSIFICATION,
              "https://github.com/karolpiczak/ESC-50", {"top1": 66.9}, templates=T.AUDIO_TEMPLATES,
              templates_source=T.AUDIO_SOURCE),
        _spec("audioset", "AudioSet eval segments, 527 classes, multi-label", "audio", MULTILABEL,
              "https://research.google.com/audioset/download.html (clips fetched by the user)", {"mAP": 17.6},
              templates=T.AUDIO_TEMPLATES, templates_source=T.AUDIO_SOURCE),
        _spec("vggsound", "VGGSound test split, 309 classes", "audio", CLASSIFICATION,
              "https://www.robots.ox.ac.uk/~vgg/data/vggsound/ (clips fetched by the user)", {"top1": 27.8},
              templates=T.AUDIO_TEMPLATES, templates_source=T.AUDIO_SOURCE),
        _spec("clotho", "Clotho evaluation split, text<->audio retrieval (5 captions per clip)", "audio",
              RETRIEVAL, "https://zenodo.org/records/4783391 (Clotho v2.1)",
              {"text->audio R@1": 6.0, "text->audio R@10": 28.4}, source=TABLE_3),
        _spec("audiocaps", "AudioCaps test split, text<->audio retrieval", "audio", RETRIEVAL,
              "https://github.com/cdjkim/audiocaps (clips fetched by the user)",
              {"text->audio R@1": 9.3, "text->audio R@10": 42.3}, source=TABLE_3),
        _spec("sunrgbd", "SUN RGB-D depth, 19 scene classes, test split", "depth", CLASSIFICATION,
              "https://rgbd.cs.princeton.edu/ (SUNRGBD.zip + SUNRGBDtoolbox.zip)", {"top1": 35.1},
              templates=clip, templates_source=T.SENSOR_SOURCE, variants=[
                  Variant("sunrgbd_millimetres", {"depth_encoding": "sunrgbd"},
                          "the encoder's data config, with the release's bit-rotated millimetres decoded"),
                  Variant("omnivore_disparity", SUNRGBD_DISPARITY,
                          "ImageBind GitHub issue #134 (toolbox decode, 8 m cap, baseline x focal / depth) + "
                          "Omnivore's DepthNorm(max 75)")]),
        _spec("nyud", "NYU-Depth v2 depth, 10 scene classes (9 + others), test split", "depth", CLASSIFICATION,
              "https://cs.nyu.edu/~fergus/datasets/nyu_depth_v2.html (labeled .mat + splits.mat)",
              {"top1": 54.0}, templates=clip, templates_source=T.SENSOR_SOURCE, variants=[
                  preset, Variant("omnivore_disparity", NYU_DISPARITY,
                                  "Kinect v1 baseline 0.075 m x fx 518.857901 px / depth, Omnivore's "
                                  "DepthNorm(max 75); the setting ImageBind GitHub issue #107 reports trying")]),
        _spec("llvip", "LLVIP thermal crops, person vs background, test split", "thermal", CLASSIFICATION,
              "https://bupt-ai-cz.github.io/LLVIP/", {"top1": 63.4}, templates=clip,
              templates_source=T.SENSOR_SOURCE, variants=[
                  preset, Variant("no_normalize", {"mean": 0.0, "std": 1.0},
                                  "a comment on ImageBind GitHub PR #73: without Normalize, LLVIP 55.2 -> 62.4")]),
        _spec("ego4d", "Ego4D IMU clips, scenario classification", "imu", CLASSIFICATION,
              "https://ego4d-data.org/ (ego4d CLI: --datasets imu + metadata)", {"top1": 25.0},
              templates=T.IMU_TEMPLATES, templates_source=T.IMU_SOURCE),
    ]
    return {spec.name: spec for spec in specs}


_CATALOGUE: Dict[str, BenchmarkSpec] = {}


def get_benchmark(name: str) -> BenchmarkSpec:
    """The spec of a benchmark by its adapter name (``list_benchmarks()`` lists them)."""
    if not _CATALOGUE:
        _CATALOGUE.update(_catalogue())
    if name not in _CATALOGUE:
        raise UnknownNameError(f"unknown benchmark {name!r}; available: {', '.join(_CATALOGUE)}")
    return _CATALOGUE[name]


def list_benchmarks() -> Tuple[str, ...]:
    get_benchmark("folders")  # fills the catalogue
    return tuple(_CATALOGUE)

"""``imagebind-lite manifest NAME ROOT OUT``: a benchmark's release on disk -> manifest.csv,
prompts.json (classification) and benchmark.json (metric, the paper's figure, preprocessing).

    imagebind-lite manifest folders ROOT OUT --modality vision    # ROOT/<class>/<files>
    imagebind-lite manifest esc50 ESC-50-master OUT [--folds 1,2]  # the ESC-50 release
    imagebind-lite manifest sunrgbd SUNRGBD OUT                    # ... see `manifest -h`
    imagebind-lite benchmark --model M OUT [OUT2 ...]                # its metric, beside the paper

Each adapter's options come from its function's keyword arguments
(``imagebind_lite.data.benchmarks``), so the command line and the Python API stay one thing.
"""
from __future__ import annotations

import argparse
import inspect
from pathlib import Path

# keyword argument of an adapter -> (flag, argparse settings)
OPTIONS = {
    "modality": ("--modality", dict(help="modality of the files (e.g. vision, audio, depth)")),
    "folds": ("--folds", dict(help="comma-separated folds to keep, e.g. 1,2 (default: all five)")),
    "split_file": ("--split-file", dict(type=Path, help="the release's split file, when not at its usual place")),
    "split": ("--split", dict(help="which split of the metadata (default: test)")),
    "depth_folder": ("--depth-folder", dict(help="depth_bfx (refined maps, default) or depth (raw)")),
    "labeled_mat": ("--labeled-mat", dict(help="labelled .mat, relative to ROOT (default nyu_depth_v2_labeled.mat)")),
    "segments": ("--segments", dict(help="segment list, relative to ROOT (default eval_segments.csv)")),
    "captions": ("--captions", dict(help="captions csv, relative to ROOT")),
    "metadata": ("--metadata", dict(help="metadata json, relative to ROOT (default ego4d.json)")),
    "audio_dir": ("--audio-dir", dict(type=Path, help="folder of the clips (default: ROOT, searched recursively)")),
    "imu_dir": ("--imu-dir", dict(type=Path, help="folder of <video_uid>.csv IMU streams (default ROOT/v2/imu)")),
    "devkit": ("--devkit", dict(type=Path, help="ILSVRC2012_devkit_t12 folder (flat validation images)")),
    "mapping": ("--mapping", dict(type=Path, help="LOC_synset_mapping.txt or imagenet_class_index.json")),
    "class_names": ("--class-names", dict(choices=("auto", "clip", "wordnet"),
                                          help="CLIP's cleaned names (all 1000 classes) or WordNet's first lemma")),
    "seed": ("--seed", dict(type=int, help="seed of the background crop positions (default 0)")),
    "min_size": ("--min-size", dict(type=int, help="smallest person box side kept, pixels (default 8)")),
    "clip_seconds": ("--clip-seconds", dict(type=float, help="length of each IMU clip (default 10)")),
    "clips_per_video": ("--clips-per-video", dict(type=int, help="clips per video, spread evenly (default 1)")),
}
POSITIONAL = ("root", "out_dir")


def _adapter_parameters(function):
    return [p for p in inspect.signature(function).parameters if p not in POSITIONAL]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from imagebind_lite.data.benchmarks import ADAPTERS, get_benchmark

    names = parser.add_subparsers(dest="layout", metavar="NAME", required=True)
    for name, function in ADAPTERS.items():
        spec = get_benchmark(name)
        figures = ", ".join(f"{k} {v}" for k, v in spec.paper.items())
        sub = names.add_parser(name, help=spec.title + (f" (ImageBind-huge: {figures})" if figures else ""),
                               description=(function.__doc__ or "").strip().splitlines()[0])
        sub.add_argument("root", type=Path, help="the data set's release directory")
        sub.add_argument("out", type=Path, help="directory for manifest.csv, prompts.json and benchmark.json")
        for parameter in _adapter_parameters(function):
            if parameter == "templates":
                sub.add_argument("--template", action="append", metavar="TEXT",
                                 help="prompt template with one {} for the class name, repeatable (an ensemble); "
                                      f"default: {spec.templates_source or 'none'}")
            elif parameter == "allow_missing":
                sub.add_argument("--allow-missing", action="store_true",
                                 help="leave out rows whose file is absent (logged) instead of stopping")
            else:
                flag, settings = OPTIONS[parameter]
                sub.add_argument(flag, dest=parameter, **settings)


def run(args: argparse.Namespace) -> int:
    from imagebind_lite.data.benchmarks import ADAPTERS, get_benchmark
    from imagebind_lite.errors import InputError

    function = ADAPTERS[args.layout]
    kwargs = {}
    for parameter in _adapter_parameters(function):
        value = getattr(args, "template" if parameter == "templates" else parameter, None)
        if value not in (None, False):
            kwargs[parameter] = value
    if args.layout == "folders" and not kwargs.get("modality"):
        raise InputError("the folders layout needs --modality (e.g. --modality vision)")
    if "folds" in kwargs:
        try:
            kwargs["folds"] = [int(f) for f in kwargs["folds"].split(",")]
        except ValueError:
            raise InputError(f"--folds expects comma-separated integers, got {kwargs['folds']!r}") from None
    written = function(args.root, args.out, **kwargs)
    print(f"wrote {written.n_samples} samples" + (f" of {len(written.classes)} classes" if written.classes else "")
          + f" to {written.out_dir} (manifest.csv, {'prompts.json, ' if written.prompts else ''}benchmark.json)")
    spec = get_benchmark(args.layout)
    print(f"next: imagebind-lite benchmark --model MODEL {written.out_dir}  ({', '.join(spec.metrics)}"
          + (", beside the paper's figures)" if spec.paper else ")"))
    return 0

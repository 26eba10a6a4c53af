"""Depth scene classification: SUN RGB-D (19 classes) and NYU-Depth v2 (10 classes).

``sunrgbd``: the unpacked ``SUNRGBD/`` release (sensor folders kv1/, kv2/, realsense/, xtion/;
one folder per sample with ``scene.txt``, ``intrinsics.txt``, ``image/``, ``depth/``,
``depth_bfx/``) and the toolbox's split file ``SUNRGBDtoolbox/traintestSUNRGBD/allsplit.mat``
(MATLAB v5: cell arrays ``alltrain`` / ``alltest`` of sample paths as they were on the authors'
machine, ".../SUNRGBD/kv1/NYUdata/NYU0001"), found in the release folder or its parent (or
``split_file``). The test split's samples whose scene is one of the 19 classes are kept; the
others are left out by the protocol and counted in benchmark.json. The manifest points at the
release's own 16-bit pngs (``depth_bfx``, the refined maps, by default): their values are
millimetres rotated left by 3 bits, which the depth modality decodes with
``depth_encoding: "sunrgbd"`` (benchmark.json's preprocessing variants carry it).

``nyud``: ``nyu_depth_v2_labeled.mat`` (MATLAB v7.3, i.e. HDF5: ``depths`` [N, W, H] metres,
``sceneTypes`` a cell of N strings) and ``splits.mat`` (MATLAB v5: 1-based ``trainNdxs`` /
``testNdxs``, 795 / 654 images), both in the release folder (or given). The labelled set holds
its depth maps inside the .mat, so the test maps are written as float32 npy files (metres,
[H, W]) under OUT/depth/.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from imagebind_lite.errors import InputError

from .catalogue import get_benchmark
from .common import Listed, check_listed, class_prompts, first_existing, readable, require_dir, require_file, \
    unknown_class
from .output import Collected, Written, write_benchmark

# The 19 SUN RGB-D scene classes of the scene-classification protocol: the categories with
# enough samples that Song et al. (CVPR 2015) kept; Omnivore's released SUN RGB-D config trains a
# 19-way head, and ImageBind GitHub issue #134 lists these names as the ones ImageBind's 35.1 uses.
SUNRGBD_SCENES = ("bathroom", "bedroom", "classroom", "computer_room", "conference_room", "corridor",
                  "dining_area", "dining_room", "discussion_area", "furniture_store", "home_office", "kitchen",
                  "lab", "lecture_theatre", "library", "living_room", "office", "rest_space", "study_space")
SPLIT_MAT = Path("SUNRGBDtoolbox") / "traintestSUNRGBD" / "allsplit.mat"

# NYU-Depth v2's 27 scene types (the values of sceneTypes in the labelled .mat).
NYU_SCENE_TYPES = ("basement", "bathroom", "bedroom", "bookstore", "cafe", "classroom", "computer_lab",
                   "conference_room", "dance_studio", "dining_room", "exercise_room", "foyer", "furniture_store",
                   "home_office", "home_storage", "indoor_balcony", "kitchen", "laundry_room", "living_room",
                   "office", "office_kitchen", "playroom", "printer_room", "reception_room", "student_lounge",
                   "study", "study_room")
# The 10-class protocol of Gupta et al. (CVPR 2013): the 9 most frequent types, the other 18 merged
# into "others". Omnivore's NYU-D scene task and ImageBind's NYU-D (54.0) use these 10 classes;
# the paper's appendix names the 18 merged types (ImageBind GitHub issue #107 discusses scoring "others"
# as the best of those names), so benchmark.json records them as a class group.
NYU_CLASSES = ("bathroom", "bedroom", "bookstore", "classroom", "dining_room", "home_office", "kitchen",
               "living_room", "office")
NYU_OTHERS = tuple(t for t in NYU_SCENE_TYPES if t not in NYU_CLASSES)


def sunrgbd_manifest(root, out_dir, split_file=None, split: str = "test", depth_folder: str = "depth_bfx",
                     templates: Optional[Sequence[str]] = None, allow_missing: bool = False) -> Written:
    """SUN RGB-D release + allsplit.mat -> benchmark files for the 19-class scene protocol."""
    root = require_dir(Path(root), "SUN RGB-D directory", "pass the unpacked SUNRGBD/ folder", "depth")
    split_path = Path(split_file) if split_file else first_existing([root / SPLIT_MAT, root.parent / SPLIT_MAT])
    if split_path is None or not split_path.is_file():
        looked = split_file or f"{root / SPLIT_MAT} and {root.parent / SPLIT_MAT}"
        raise InputError(f"SUN RGB-D split file allsplit.mat not found ({looked}): unpack SUNRGBDtoolbox.zip "
                         "next to SUNRGBD/ or pass --split-file", modality="depth")
    samples = _read_sunrgbd_split(split_path, split)
    scenes = [Listed(root / rel / "scene.txt", f"{split_path.name} {_split_key(split)}[{i}]")
              for i, rel in enumerate(samples)]
    absent = set(check_listed(scenes, "depth", allow_missing))
    labels = {i: _read_scene(item.path) for i, item in enumerate(scenes) if i not in absent}
    kept = [i for i, scene in labels.items() if scene in SUNRGBD_SCENES]
    listed = [Listed(_depth_map(scenes[i].path.parent / depth_folder), scenes[i].where) for i in kept]
    gone = set(check_listed(listed, "depth", allow_missing))
    rows = [{"id": samples[i], "label": labels[i], "depth": item.path}
            for j, (i, item) in enumerate(zip(kept, listed)) if j not in gone]
    outside = Counter(scene for scene in labels.values() if scene not in SUNRGBD_SCENES)
    spec = get_benchmark("sunrgbd")
    facts = {"split": split, "depth_folder": depth_folder, "split_file": split_path, "split_size": len(samples),
             "outside_protocol_left_out": dict(sorted(outside.items())), "missing_left_out": len(absent) + len(gone)}
    collected = Collected(rows, list(SUNRGBD_SCENES), templates or spec.templates, facts)
    return write_benchmark(out_dir, spec, "depth", collected, root, {"split": split, "depth_folder": depth_folder})


def _split_key(split: str) -> str:
    if split not in ("test", "train"):
        raise InputError(f"SUN RGB-D split must be test or train, got {split!r}", modality="depth")
    return "all" + split


def _read_sunrgbd_split(path: Path, split: str) -> List[str]:
    """allsplit.mat -> sample folders relative to SUNRGBD/ ("kv1/NYUdata/NYU0001")."""
    from scipy.io import loadmat

    key = _split_key(split)
    try:
        entries = loadmat(str(path), squeeze_me=True)[key]
    except KeyError:
        raise InputError(f"split file has no {key!r} list", modality="depth", source=str(path)) from None
    except Exception as exc:  # scipy raises several types for files that are not MATLAB v5
        raise InputError(f"cannot read the split file ({type(exc).__name__}: {exc})", modality="depth",
                         source=str(path)) from exc
    relative = []
    for entry in np.atleast_1d(entries):
        text = str(entry).replace("\\", "/").rstrip("/")
        relative.append(text.split("SUNRGBD/", 1)[1] if "SUNRGBD/" in text else text.lstrip("/"))
    return relative


def _read_scene(path: Path) -> str:
    scene = path.read_text(encoding="utf-8", errors="replace").strip()
    if not scene:
        raise InputError("empty scene label", modality="depth", source=str(path))
    return scene


def _depth_map(folder: Path) -> Path:
    """The one png of a sample's depth folder (named after the frame), or a nominal absent path."""
    maps = sorted(folder.glob("*.png")) if folder.is_dir() else []
    return maps[0] if len(maps) == 1 else folder / ("*.png" if not maps else "(several pngs)")


def nyud_manifest(root, out_dir, labeled_mat: str = "nyu_depth_v2_labeled.mat", split_file: str = "splits.mat",
                  templates: Optional[Sequence[str]] = None) -> Written:
    """NYU-Depth v2 labelled set + splits.mat -> benchmark files for the 10-class scene protocol."""
    root = Path(root)
    hint = "pass the folder holding the NYU-Depth v2 downloads (or --labeled-mat / --split-file)"
    labeled = require_file(root / labeled_mat, "NYU-Depth v2 labelled dataset", hint, "depth")
    split_path = require_file(root / split_file, "NYU-Depth v2 split file splits.mat", hint, "depth")
    test = _read_nyu_split(split_path)
    depth_dir = Path(out_dir) / "depth"
    depth_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, scene, depth in _read_nyu_test(labeled, test, split_path):
        path = depth_dir / f"nyu_{index:04d}.npy"
        np.save(path, depth)
        rows.append({"id": f"nyu_{index:04d}", "label": scene if scene in NYU_CLASSES else "others",
                     "depth": path, "scene_type": scene})
    spec = get_benchmark("nyud")
    templates = templates or spec.templates
    classes = list(NYU_CLASSES) + ["others"]
    others = [p for name in NYU_OTHERS for p in class_prompts([name], templates)[name]]
    groups = {"others": {"names": [readable(n) for n in NYU_OTHERS], "reduce": "max"}}
    facts = {"split_file": split_path, "labeled_mat": labeled, "split_size": len(test)}
    collected = Collected(rows, classes, templates, facts, class_groups=groups, prompts={"others": others})
    return write_benchmark(out_dir, spec, "depth", collected, root, {})


def _read_nyu_split(path: Path) -> List[int]:
    from scipy.io import loadmat

    try:
        test = loadmat(str(path))["testNdxs"]
    except KeyError:
        raise InputError("split file has no 'testNdxs'", modality="depth", source=str(path)) from None
    except Exception as exc:
        raise InputError(f"cannot read the split file ({type(exc).__name__}: {exc})", modality="depth",
                         source=str(path)) from exc
    return [int(i) for i in np.asarray(test).ravel()]


def _read_nyu_test(labeled: Path, test: List[int], split_path: Path):
    """Yield (1-based index, scene type, depth [H, W] float32 metres) for the test images."""
    import h5py

    try:
        handle = h5py.File(labeled, "r")
    except OSError as exc:
        raise InputError(f"not a MATLAB v7.3 (HDF5) file ({exc})", modality="depth", source=str(labeled)) from exc
    with handle:
        for key in ("depths", "sceneTypes"):
            if key not in handle:
                raise InputError(f"labelled dataset has no {key!r}", modality="depth", source=str(labeled))
        depths, scenes = handle["depths"], np.asarray(handle["sceneTypes"]).ravel()
        for index in test:
            if not 1 <= index <= len(scenes):
                raise InputError(f"testNdxs holds {index}, outside 1..{len(scenes)}", modality="depth",
                                 source=str(split_path))
            scene = _matlab_string(handle[scenes[index - 1]])
            if scene not in NYU_SCENE_TYPES:
                raise unknown_class(scene, NYU_SCENE_TYPES, f"{labeled.name} sceneTypes[{index}]", "depth")
            yield index, scene, np.ascontiguousarray(np.asarray(depths[index - 1], dtype=np.float32).T)


def _matlab_string(dataset) -> str:
    """A MATLAB char array as h5py sees it in a v7.3 file: uint16 codes, column-major."""
    return "".join(chr(int(c)) for c in np.asarray(dataset).ravel(order="F"))

"""``imagebind-lite manifest imagenet`` on both ImageNet validation layouts: synset folders with
Kaggle's LOC_synset_mapping.txt (or the class-index json), and the flat files with the
ILSVRC-2012 devkit (ground-truth ids + meta.mat, a MATLAB v5 struct array)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
from PIL import Image

from benchmark_fixtures import benchmark_json, cli, evaluate, label_names, save_tiny_model
from imagebind_lite.data.manifest import read_manifest

SYNSETS = [(1, "n02119789", "kit fox, Vulpes macrotis"), (2, "n02100735", "English setter"),
           (3, "n02110185", "Siberian husky")]  # devkit ids are not in sorted-wnid order


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model"))


def jpeg(path, shade):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (20, 16), (shade, 60, 90)).save(path, "JPEG")


def write_devkit(devkit, truth):
    """data/meta.mat (synsets: leaves first, then a non-leaf, as the devkit has) + ground truth."""
    fields = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("gloss", "O"), ("num_children", "O"),
              ("children", "O"), ("wordnet_height", "O"), ("num_train_images", "O")]
    entries = [(i, w, words, "a dog or fox", 0, np.zeros((1, 0)), 0, 1300) for i, w, words in SYNSETS]
    entries.append((1001, "n02075296", "carnivore", "a meat eater", 3, np.array([[1, 2, 3]]), 5, 0))
    synsets = np.array(entries, dtype=fields).reshape(-1, 1)
    (devkit / "data").mkdir(parents=True)
    scipy.io.savemat(devkit / "data" / "meta.mat", {"synsets": synsets})
    (devkit / "data" / "ILSVRC2012_validation_ground_truth.txt").write_text("".join(f"{t}\n" for t in truth))


def test_devkit_layout_maps_ids_to_sorted_wordnet_classes(tmp_path, model_dir):
    images = tmp_path / "ILSVRC2012_img_val"
    for i in range(1, 5):
        jpeg(images / f"ILSVRC2012_val_{i:08d}.JPEG", 50 * i)
    write_devkit(tmp_path / "ILSVRC2012_devkit_t12", [3, 1, 1, 2])
    rc, out, err = cli("manifest", "imagenet", images, tmp_path / "in", "--template", "a photo of a {}.")
    assert rc == 0, err
    manifest = read_manifest(tmp_path / "in" / "manifest.csv", ["vision"])
    assert label_names(manifest) == ["Siberian husky", "kit fox", "kit fox", "English setter"]
    prompts = json.loads((tmp_path / "in" / "prompts.json").read_text())
    assert list(prompts) == ["English setter", "Siberian husky", "kit fox"]  # n02100735 < n02110185 < n02119789
    description = benchmark_json(tmp_path / "in")
    assert description["data"]["layout"] == "flat files + devkit" and description["paper"]["figures"] == {"top1": 77.7}
    metrics = evaluate(model_dir, tmp_path / "in", tmp_path / "eval")
    assert 0.0 <= metrics["zero_shot"]["vision"]["top1"] <= 1.0


def test_devkit_unknown_id_and_missing_image_name_the_ground_truth_line(tmp_path):
    images = tmp_path / "val"
    for i in range(1, 3):
        jpeg(images / f"ILSVRC2012_val_{i:08d}.JPEG", i)
    write_devkit(tmp_path / "ILSVRC2012_devkit_t12", [1, 1001])  # 1001 is not a leaf class
    rc, out, err = cli("manifest", "imagenet", images, tmp_path / "in")
    assert rc == 2 and "unknown class '1001'" in err and "ground_truth.txt line 2" in err
    (tmp_path / "ILSVRC2012_devkit_t12" / "data" / "ILSVRC2012_validation_ground_truth.txt").write_text("1\n2\n3\n")
    rc, out, err = cli("manifest", "imagenet", images, tmp_path / "in")
    assert rc == 2 and "ILSVRC2012_val_00000003.JPEG" in err and "line 3" in err
    rc, out, err = cli("manifest", "imagenet", tmp_path / "empty_dir_does_not_exist", tmp_path / "in")
    assert rc == 2 and "does not exist" in err


def test_synset_folders_with_the_full_mapping_get_clips_class_names(tmp_path):
    root = tmp_path / "imagenet" / "val"
    wnids = [f"n{i:08d}" for i in range(1000)]
    root.mkdir(parents=True)
    (tmp_path / "imagenet" / "LOC_synset_mapping.txt").write_text("".join(f"{w} thing {i}, stuff\n" for i, w in enumerate(wnids)))
    for i in (0, 1, 999):
        jpeg(root / wnids[i] / f"ILSVRC2012_val_{i:08d}.JPEG", i % 255)
    rc, out, err = cli("manifest", "imagenet", root, tmp_path / "in")
    assert rc == 0, err
    manifest = read_manifest(tmp_path / "in" / "manifest.csv", ["vision"])
    assert label_names(manifest) == ["tench", "goldfish", "toilet paper"]  # CLIP's names by sorted-wnid index
    prompts = json.loads((tmp_path / "in" / "prompts.json").read_text())
    assert len(prompts) == 1000 and len(prompts["tench"]) == 80 and prompts["tench"][0] == "a bad photo of a tench."
    shared = [name for name in prompts if name.startswith("missile")]  # CLIP names two classes "missile"
    assert len(shared) == 2 and all("(n" in name for name in shared)  # keyed apart by WordNet id...
    assert all("missile" in p and "(n" not in p for name in shared for p in prompts[name])  # ...prompted alike
    rc, out, err = cli("manifest", "imagenet", root, tmp_path / "wn", "--class-names", "wordnet")
    assert rc == 0 and label_names(read_manifest(tmp_path / "wn" / "manifest.csv")) == ["thing 0", "thing 1", "thing 999"]


def test_synset_folders_need_the_class_list_and_known_folders(tmp_path):
    root = tmp_path / "val"
    jpeg(root / "n01440764" / "a.JPEG", 1)
    rc, out, err = cli("manifest", "imagenet", root, tmp_path / "in")
    assert rc == 2 and "LOC_synset_mapping.txt" in err
    (tmp_path / "imagenet_class_index.json").write_text(json.dumps({"0": ["n01443537", "goldfish"]}))
    rc, out, err = cli("manifest", "imagenet", root, tmp_path / "in")
    assert rc == 2 and "unknown class 'n01440764'" in err

"""metrics.json stays readable: files written by earlier releases feed ``evaluate --direct``, and
a new evaluation writes the same keys with values of the same types.

``fixtures/metrics_v1.json`` was written by ``imagebind-lite evaluate`` before evaluation results
became typed: a tiny random-weight vision/text/audio model (seed 0) over an 8-sample eval
collection of ``WorldConfig(image_size=32, num_concepts=4)``, with the world's class and
attribute prompts. The test below rebuilds the same setting, so both files must have one shape.
"""
import json
from pathlib import Path

import pytest
import torch

from imagebind_lite import MultiModalModel
from imagebind_lite.cli import main
from imagebind_lite.data.world import SyntheticWorld, WorldConfig, write_world

FIXTURE = Path(__file__).parent / "fixtures" / "metrics_v1.json"
MODALITIES = ["vision", "text", "audio"]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """The fixture's setting evaluated by today's code through the CLI, with the fixture as --direct."""
    root = tmp_path_factory.mktemp("compat")
    paths = write_world(SyntheticWorld(WorldConfig(image_size=32, num_concepts=4)), root / "world",
                        sizes={"eval": 8}, progress=False)
    torch.manual_seed(0)
    MultiModalModel.from_presets({m: "tiny" for m in MODALITIES}).save(root / "model")
    out = root / "eval"
    rc = main(["evaluate", "--model", str(root / "model"), "--manifest", str(paths["eval"]), "--prompts",
               str(paths["world"]), "--direct", str(FIXTURE), "--out", str(out), "--no-progress"])
    assert rc == 0
    return json.loads((out / "metrics.json").read_text())


def _shape(value):
    """Keys and leaf types of a JSON value (lists by their first element: the cells share one shape)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def _shape_without_direct(metrics):
    shape = _shape(metrics)
    for cell in ("direct", "ratio"):  # None in the fixture (no baseline), numbers once one is given
        shape["emergent_matrix"]["cells"][0].pop(cell)
    return shape


def test_old_metrics_json_feeds_direct_baseline(evaluated):
    old = json.loads(FIXTURE.read_text())
    old_scores = {(c["query"], c["gallery"], c["metric"]): c["score"] for c in old["emergent_matrix"]["cells"]}
    cells = evaluated["emergent_matrix"]["cells"]
    assert len(cells) == len(old_scores)
    for cell in cells:
        direct = old_scores[(cell["query"], cell["gallery"], cell["metric"])]
        assert cell["direct"] == pytest.approx(direct)
        if direct:
            assert cell["ratio"] == pytest.approx(cell["score"] / direct)


def test_new_metrics_json_keeps_the_old_keys_and_types(evaluated):
    old = json.loads(FIXTURE.read_text())
    assert list(evaluated) == list(old)
    assert _shape_without_direct(evaluated) == _shape_without_direct(old)
    for key in ("n_samples", "modalities", "classes"):
        assert evaluated[key] == old[key]
    for name, attribute in old["attributes"].items():
        for key in ("column", "classes", "chance"):
            assert evaluated["attributes"][name][key] == attribute[key]
    assert evaluated["gap_correction"]["transductive_centroids"] is True

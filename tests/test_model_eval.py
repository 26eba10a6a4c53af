"""evaluate_model / embed_manifest / prompt files on a tiny untrained model over a small written synthetic world."""
import csv
import json

import pytest
import torch

from imagebind_lite import MultiModalModel
from imagebind_lite.data.world import SyntheticWorld, WorldConfig, write_world
from imagebind_lite.errors import InputError
from imagebind_lite.commands.evaluate import summary_lines
from imagebind_lite.data.prompts import load_attribute_prompts, load_class_prompts
from imagebind_lite.evaluation import load_direct_scores, zero_shot_classify
from imagebind_lite.inference import embed_class_prompts, embed_manifest, evaluate_model

MODALITIES = ["vision", "text", "audio", "depth"]
N = 8


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    paths = write_world(SyntheticWorld(WorldConfig(image_size=32)), root, sizes={"eval": N}, progress=False)
    return paths


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MultiModalModel.from_presets({m: "tiny" for m in MODALITIES})


@pytest.fixture(scope="module")
def evaluated(world, model, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    results = evaluate_model(model, world["eval"], load_class_prompts(world["world"]), out_dir=out,
                             attribute_prompts=load_attribute_prompts(world["world"]), progress=False)
    return results, out


def test_embed_manifest_rows_align_with_samples(world, model):
    emb, labels, ids = embed_manifest(model, world["eval"], progress=False)
    assert list(emb) == MODALITIES  # the manifest also has thermal/imu: the model has no encoder for them
    assert all(e.shape == (N, model.embed_dim) for e in emb.values())
    assert labels.shape == (N,) and ids[0] == "eval-000000"
    # row i is sample i: embedding one file alone gives the same row
    rows = list(csv.DictReader(world["eval"].read_text().splitlines()))
    alone = model.embed({"audio": [world["eval"].parent / rows[3]["audio"]]})["audio"][0]
    assert torch.allclose(alone, emb["audio"][3], atol=1e-5)


def test_embed_manifest_subset_and_missing(world, model):
    emb, _, _ = embed_manifest(model, world["eval"], modalities=["depth"], progress=False)
    assert list(emb) == ["depth"]
    with pytest.raises(InputError, match="thermal"):
        embed_manifest(model, world["eval"], modalities=["thermal"], progress=False)


def test_load_class_prompts_world_and_plain(world, tmp_path):
    prompts = load_class_prompts(world["world"])
    assert list(prompts) == SyntheticWorld(WorldConfig(image_size=32)).class_names
    assert all(isinstance(p, str) for ps in prompts.values() for p in ps)
    plain = tmp_path / "p.json"
    plain.write_text(json.dumps({"b": ["a b"], "a": "an a"}))
    assert load_class_prompts(plain) == {"b": ["a b"], "a": ["an a"]}
    assert load_attribute_prompts(plain) == {}
    plain.write_text(json.dumps({"b": []}))
    with pytest.raises(InputError, match="non-empty"):
        load_class_prompts(plain)
    plain.write_text("{not json")
    with pytest.raises(InputError, match="p.json"):
        load_class_prompts(plain)
    assert load_attribute_prompts(world["world"])["tempo_bin"][0] == "tempo_bin"


def test_evaluate_model_writes_report_and_metrics_in_range(evaluated):
    results, out = evaluated
    for name in ("metrics.json", "report.md", "emergent_matrix.png", "modality_gap_pca.png"):
        assert (out / name).stat().st_size > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"emergent_matrix", "modality_gap", "gap_correction", "zero_shot", "attributes"} <= set(metrics)
    cells = results.matrix.cells
    assert {c.metric for c in cells} == {"R@1", "R@5", "R@10", "zero_shot_top1"}
    # every ordered pair, 3 ks each, plus zero-shot for the 3 non-text modalities
    assert len(cells) == 4 * 3 * 3 + 3
    assert all(0.0 <= c.score <= 1.0 for c in cells)
    assert results.matrix.get("audio", "text", "R@1").status == "emergent"
    assert results.matrix.get("audio", "vision", "R@1").status == "trained"
    zs = results.zero_shot
    assert set(zs) == {"vision", "audio", "depth"}
    assert all(0.0 <= x <= 1.0 for v in zs.values() for x in (v.top1, v.top5, v.mean_per_class_recall))
    tempo = results.attributes["tempo_bin"]
    assert tempo.classes == ["slow", "steady", "fast"] and tempo.zero_shot["audio"].top5 is None
    assert "top5" not in metrics["attributes"]["tempo_bin"]["zero_shot"]["audio"]
    assert "Attribute zero-shot: tempo_bin" in (out / "report.md").read_text()
    assert any(line.startswith("zero-shot audio") for line in summary_lines(results))


def test_zero_shot_equals_direct_computation(world, model, evaluated):
    results, _ = evaluated
    prompts = load_class_prompts(world["world"])
    texts = embed_class_prompts(model, prompts)
    assert isinstance(texts, list) or texts.shape[:2] == (len(prompts), len(next(iter(prompts.values()))))
    emb, labels, _ = embed_manifest(model, world["eval"], progress=False)
    direct = zero_shot_classify(emb["depth"], texts, labels)
    assert results.zero_shot["depth"].top1 == pytest.approx(direct.top1)
    assert results.matrix.get("depth", "text", "zero_shot_top1").score == pytest.approx(direct.top1)


def test_string_labels_follow_prompt_order(world, model, evaluated, tmp_path):
    """Class-name labels map through the prompts' order, not the manifest's first-seen order."""
    rows = list(csv.DictReader(world["eval"].read_text().splitlines()))
    manifest = tmp_path / "named.csv"
    with open(manifest, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "label", "depth"])
        for r in rows:
            writer.writerow([r["id"], r["concept"], str(world["eval"].parent / r["depth"])])
    prompts = load_class_prompts(world["world"])
    reference, _ = evaluated
    named = evaluate_model(model, manifest, prompts, progress=False)
    assert named.zero_shot["depth"] == reference.zero_shot["depth"]
    with pytest.raises(InputError, match="no prompts"):
        evaluate_model(model, manifest, {"dog": ["a dog"]}, progress=False)


def test_direct_baseline_of_itself_gives_ratio_one(world, model, evaluated):
    results, out = evaluated
    direct = load_direct_scores(out / "metrics.json")
    again = evaluate_model(model, world["eval"], load_class_prompts(world["world"]), direct_scores=direct,
                           progress=False)
    ratios = [c.ratio for c in again.matrix.cells if c.direct]
    assert ratios and all(r == pytest.approx(1.0, abs=1e-4) for r in ratios)


def test_bad_attribute_value_names_the_row(world, model, tmp_path):
    with pytest.raises(InputError, match="tempo_bin"):
        evaluate_model(model, world["eval"], None, attribute_prompts={"t": ("tempo_bin", {"a": ["x"], "b": ["y"]})},
                       progress=False)

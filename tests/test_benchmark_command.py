"""``imagebind-lite benchmark`` (and ``evaluate --benchmark``) on the adapters' own output for
fixtures in the releases' layouts: NYU-D (classification with the "others" group rule and a
preprocessing variant), AudioSet (multi-label mAP) and Clotho (R@k both ways), run together into
one table. Every measured figure is checked against an independent computation here: numpy for
top-1 and R@k, torchmetrics for mAP, from embeddings the model's public ``embed`` gives."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from torchmetrics.classification import MultilabelAveragePrecision

import imagebind_lite as ib
from benchmark_fixtures import (
    AUDIOSET_CLASSES, cli, write_audioset_release, write_clotho_release, write_nyud_release,
)
from imagebind_lite.data.benchmarks.depth import NYU_CLASSES, NYU_OTHERS
from imagebind_lite.data.benchmarks.tasks import plan_variants, read_task
from imagebind_lite.data.manifest import read_manifest

NYU_TEMPLATES = ("a photo of a {}.", "a depth map of the {}.")
CLOTHO_CLIPS = ["Santa Motor.wav", "Flipping Coin.wav", "Rain On Roof.wav", "Dog Bark.wav"]
AUDIOSET_TARGETS = [[1, 2, 3], [0], [3]]  # eval_segments.csv rows, as class indices


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """Three adapter outputs, a small saved model, and one `benchmark` run over all three."""
    root = tmp_path_factory.mktemp("bench")
    torch.manual_seed(0)
    ib.MultiModalModel.from_presets({m: "tiny" for m in ("text", "audio", "depth")}, embed_dim=16).save(root / "model")
    template_flags = [a for t in NYU_TEMPLATES for a in ("--template", t)]
    for args in (("nyud", write_nyud_release(root / "nyu_release"), root / "nyu", *template_flags),
                 ("audioset", write_audioset_release(root / "as_release"), root / "as"),
                 ("clotho", write_clotho_release(root / "clotho_release", CLOTHO_CLIPS), root / "clotho")):
        rc, out, err = cli("manifest", *args)
        assert rc == 0, err
    rc, out, err = cli("benchmark", "--model", root / "model", root / "nyu", root / "as", root / "clotho",
                       "--variant", "all", "--out", root / "summary", "--no-progress", "--batch-size", "3")
    assert rc == 0, err
    summary = json.loads((root / "summary" / "summary.json").read_text())
    return {"root": root, "model": ib.load_model(root / "model"), "stdout": out, "summary": summary,
            "markdown": (root / "summary" / "summary.md").read_text()}


def unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def rows_of(summary, benchmark, variant=None):
    return {(r["pair"], r["metric"]): r for r in summary["rows"]
            if r["benchmark"] == benchmark and (variant is None or r["variant"] == variant)}


def nyu_depth(bench, data_overrides):
    """Depth embeddings of the NYU manifest's rows through the encoder, the data config updated."""
    encoder = bench["model"].encoder("depth")
    manifest = read_manifest(bench["root"] / "nyu" / "manifest.csv")
    transform = ib.get_modality("depth").transform({**encoder.data_config, **data_overrides})
    batch = torch.stack([transform(manifest.item(i, "depth")) for i in range(len(manifest))])
    with torch.no_grad():
        return encoder(batch).numpy(), [row["scene_type"] for row in manifest.rows]


def nyu_top1(bench, depth, scene_types):
    """Ten classes; "others" scores as the best of its 18 member names, each a template ensemble."""
    classes = list(NYU_CLASSES) + ["others"]
    members = {c: [c] for c in NYU_CLASSES} | {"others": list(NYU_OTHERS)}
    scores = np.full((len(depth), len(classes)), -np.inf)
    for c, name in enumerate(classes):
        for member in members[name]:
            prompts = [t.format(member.replace("_", " ")) for t in NYU_TEMPLATES]
            prototype = unit(unit(bench["model"].embed({"text": prompts})["text"].numpy()).mean(0))
            scores[:, c] = np.maximum(scores[:, c], unit(depth) @ prototype)
    truth = [classes.index(s) if s in NYU_CLASSES else classes.index("others") for s in scene_types]
    return 100.0 * float(np.mean(scores.argmax(1) == np.asarray(truth)))


def test_classification_top1_with_the_others_group_and_each_variant(bench):
    variants = {v["name"]: v["data"] for v in read_task(bench["root"] / "nyu").variants}
    assert list(variants) == ["preset", "omnivore_disparity"]
    for name, overrides in variants.items():
        row = rows_of(bench["summary"], "nyud", name)[("depth->text", "top1")]
        assert row["measured"] == pytest.approx(nyu_top1(bench, *nyu_depth(bench, overrides)), abs=1e-6)
        assert row["paper"] == 54.0 and row["n"] == 4
    # the variant reached the transform: the disparity recipe changes the embeddings
    assert not np.allclose(nyu_depth(bench, {})[0], nyu_depth(bench, variants["omnivore_disparity"])[0])
    detail = next(r for r in bench["summary"]["results"] if r["variant"] == "omnivore_disparity")
    assert detail["data_overrides"]["max_disparity"] == 75.0 and "top5" in detail["scores"]


def test_a_variant_changes_only_that_runs_transform(bench):
    from imagebind_lite.inference import embed_files

    overrides = read_task(bench["root"] / "nyu").variants[1]["data"]
    items = [read_manifest(bench["root"] / "nyu" / "manifest.csv").item(i, "depth") for i in range(4)]
    varied = embed_files(bench["model"], "depth", items, overrides, batch_size=3, progress=False)
    assert torch.allclose(varied, torch.from_numpy(nyu_depth(bench, overrides)[0]), atol=1e-5)
    plain = embed_files(bench["model"], "depth", items, progress=False)
    assert torch.allclose(plain, bench["model"].embed({"depth": items})["depth"], atol=1e-5)
    assert not torch.allclose(plain, varied, atol=1e-3)
    assert "max_disparity" not in bench["model"].encoder("depth").data_config  # the model is left as it was


def test_multilabel_map_equals_torchmetrics(bench):
    manifest = read_manifest(bench["root"] / "as" / "manifest.csv")
    audio = bench["model"].embed({"audio": [manifest.item(i, "audio") for i in range(len(manifest))]})["audio"]
    prompts = [f"this is a sound of {name.lower()}." for _, name in AUDIOSET_CLASSES]
    text = bench["model"].embed({"text": prompts})["text"]
    scores = torch.from_numpy(unit(audio.numpy()) @ unit(text.numpy()).T).float()
    targets = torch.zeros(3, len(AUDIOSET_CLASSES), dtype=torch.long)
    for row, labels in enumerate(AUDIOSET_TARGETS):
        targets[row, labels] = 1
    expected = MultilabelAveragePrecision(num_labels=len(AUDIOSET_CLASSES), average="macro")(scores, targets)
    row = rows_of(bench["summary"], "audioset")[("audio->text", "mAP")]
    assert row["measured"] == pytest.approx(100.0 * expected.item(), abs=1e-4)
    assert row["paper"] == 17.6 and row["n"] == 3


def recall(scores, relevant, k):
    """R@k, the rank of a query being that of its best relevant item, ties against the query."""
    best = np.where(relevant, scores, -np.inf).max(1, keepdims=True)
    ranks = 1 + ((scores >= best) & ~relevant).sum(1)
    return 100.0 * float(np.mean(ranks <= k))


def test_retrieval_recall_in_both_directions(bench):
    captions = [f"{name[:-4].lower()} sound number {i}, heard" for name in CLOTHO_CLIPS for i in range(1, 6)]
    clips = [bench["root"] / "clotho_release" / "evaluation" / name for name in CLOTHO_CLIPS]
    text = unit(bench["model"].embed({"text": captions})["text"].numpy())
    audio = unit(bench["model"].embed({"audio": clips})["audio"].numpy())
    caption_clip = np.repeat(np.arange(len(clips)), 5)
    relevant = caption_clip[:, None] == np.arange(len(clips))[None, :]  # [captions, clips]
    rows = rows_of(bench["summary"], "clotho")
    for k in (1, 5, 10):
        assert rows[("text->audio", f"R@{k}")]["measured"] == pytest.approx(recall(text @ audio.T, relevant, k))
        assert rows[("audio->text", f"R@{k}")]["measured"] == pytest.approx(recall(audio @ text.T, relevant.T, k))
    assert rows[("text->audio", "R@1")]["n"] == 20 and rows[("audio->text", "R@1")]["n"] == 4


def test_one_table_for_all_benchmarks_with_the_paper_and_the_difference(bench):
    summary = bench["summary"]
    assert [r["benchmark"] for r in summary["results"]] == ["nyud", "nyud", "audioset", "clotho"]
    clotho = rows_of(summary, "clotho")
    r1, r5 = clotho[("text->audio", "R@1")], clotho[("text->audio", "R@5")]
    assert r1["paper"] == 6.0 and r1["difference"] == pytest.approx(r1["measured"] - 6.0)
    assert clotho[("text->audio", "R@10")]["paper"] == 28.4
    assert r5["paper"] is None and r5["difference"] is None
    assert summary["unit"] == "percent" and len(summary["paper_sources"]) == 2
    line = f"| clotho | preset | text->audio | R@1 | 6.0 | {r1['measured']:.1f} | {r1['measured'] - 6.0:+.1f} | 20 |"
    assert line in bench["markdown"] and line in bench["stdout"]
    nyu = rows_of(summary, "nyud", "preset")[("depth->text", "top1")]
    nyu_line = f"| nyud | preset | depth->text | top1 | 54.0 | {nyu['measured']:.1f} | {nyu['measured'] - 54.0:+.1f} | 4 |"
    assert nyu_line in bench["markdown"]
    assert "| audioset | preset | audio->text | mAP | 17.6 |" in bench["markdown"]
    assert "Variant omnivore_disparity of nyud: depth data config with" in bench["markdown"]


def test_evaluate_benchmark_flag_prints_the_same_rows(bench):
    root = bench["root"]
    rc, out, err = cli("evaluate", "--model", root / "model", "--benchmark", root / "as", "--no-progress",
                       "--num-workers", "2")  # files decoded in DataLoader worker processes
    assert rc == 0, err
    measured = rows_of(bench["summary"], "audioset")[("audio->text", "mAP")]["measured"]
    assert f"| audioset | preset | audio->text | mAP | 17.6 | {measured:.1f} |" in out
    rc, out, err = cli("evaluate", "--model", root / "model", "--benchmark", root / "as", "--prompts", "p.json")
    assert rc == 2 and "--prompts go with --manifest" in err


def test_variants_are_chosen_per_benchmark():
    class Task:
        def __init__(self, name, variants):
            self.name, self.variants = name, [{"name": v, "data": {}} for v in variants]

    nyu, clotho = Task("nyud", ["preset", "omnivore_disparity"]), Task("clotho", ["preset"])
    names = lambda plans: [[v["name"] for v in plan] for plan in plans]  # noqa: E731
    assert names(plan_variants([nyu, clotho], None)) == [["preset"], ["preset"]]
    assert names(plan_variants([nyu, clotho], ["omnivore_disparity"])) == [["omnivore_disparity"], ["preset"]]
    assert names(plan_variants([nyu, clotho], ["all"])) == [["preset", "omnivore_disparity"], ["preset"]]
    with pytest.raises(ib.ImageBindLiteError, match="no_normalize.*nyud: preset, omnivore_disparity"):
        plan_variants([nyu, clotho], ["no_normalize"])


def test_clear_errors_before_anything_is_embedded(bench, tmp_path):
    root = bench["root"]
    rc, out, err = cli("benchmark", "--model", root / "model", tmp_path)
    assert rc == 2 and "no benchmark.json here" in err and "imagebind-lite manifest" in err
    rc, out, err = cli("benchmark", "--model", root / "model", root / "nyu", "--variant", "no_normalize")
    assert rc == 2 and "unknown preprocessing variant" in err and "omnivore_disparity" in err
    clotho = shutil.copytree(root / "clotho", root / "clotho_one_clip_gone")  # beside it: paths are relative
    (clotho / "manifest.csv").write_text((clotho / "manifest.csv").read_text().replace("Dog Bark.wav", "Cat.wav"))
    rc, out, err = cli("benchmark", "--model", root / "model", root / "as", clotho)
    assert rc == 2 and "1 of 4 files the manifest lists are missing" in err and "Cat.wav" in err
    ib.MultiModalModel.from_presets({"text": "tiny", "audio": "tiny"}, embed_dim=16).save(tmp_path / "audio_model")
    rc, out, err = cli("benchmark", "--model", tmp_path / "audio_model", root / "as", root / "nyu")
    assert rc == 2 and "benchmark nyud" in err and "needs a depth encoder" in err and out == ""


def test_classes_that_do_not_match_the_prompts(bench, tmp_path):
    nyu = shutil.copytree(bench["root"] / "nyu", tmp_path / "nyu")
    prompts = json.loads((nyu / "prompts.json").read_text())
    del prompts["kitchen"]
    (nyu / "prompts.json").write_text(json.dumps(prompts))
    rc, out, err = cli("benchmark", "--model", bench["root"] / "model", nyu)
    assert rc == 2 and "records 10 classes but prompts.json has 9" in err
    shutil.copy(bench["root"] / "nyu" / "prompts.json", nyu / "prompts.json")
    manifest = (nyu / "manifest.csv").read_text()
    (nyu / "manifest.csv").write_text(manifest.replace(",kitchen,", ",spaceship,", 1))
    rc, out, err = cli("benchmark", "--model", bench["root"] / "model", nyu)
    assert rc == 2 and "spaceship" in err and "no prompts" in err
    (nyu / "manifest.csv").write_text(manifest)
    prompts = json.loads((nyu / "prompts.json").read_text())
    prompts["others"] = prompts["others"][:-1]
    (nyu / "prompts.json").write_text(json.dumps(prompts))
    rc, out, err = cli("benchmark", "--model", bench["root"] / "model", nyu)
    assert rc == 2 and "class group 'others'" in err and "18 member names" in err

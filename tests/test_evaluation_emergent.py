"""Emergent matrix, modality gap, gap correction and the report writer on fixed embeddings."""
import json

import pytest
import torch
import torch.nn.functional as F

from imagebind_lite.errors import InputError
from imagebind_lite.evaluation import (
    AttributeTargets, EvaluationResult, bidirectional_retrieval, center_embeddings, emergent_matrix,
    evaluate_embeddings, gap_correction, modality_gap, report_markdown, write_report, zero_shot_classify,
)

MODS = ["vision", "text", "audio", "depth"]


def _world(n=40, c=4, d=16, noise=0.3, offset=0.0):
    """Shared instances seen through each modality, each modality shifted by its own offset."""
    labels = torch.arange(n) % c
    protos = F.normalize(torch.randn(c, d), dim=-1)
    inst = protos[labels] + 0.5 * torch.randn(n, d)
    emb = {m: F.normalize(inst + noise * torch.randn(n, d) + offset * torch.randn(d), dim=-1) for m in MODS}
    texts = F.normalize(protos.unsqueeze(1) + 0.1 * torch.randn(c, 3, d), dim=-1)
    return emb, labels, texts


def test_every_pair_with_status_direct_and_ratio():
    emb, labels, texts = _world()
    direct = {frozenset(("audio", "depth")): 0.8, ("audio", "text"): {"zero_shot_top1": 0.5}}
    mx = emergent_matrix(emb, labels, class_text_emb=texts, direct_scores=direct)
    assert len([c for c in mx.cells if c.metric == "R@1"]) == 4 * 3
    assert {c.query for c in mx.cells if c.metric == "zero_shot_top1"} == {"vision", "audio", "depth"}
    assert mx.get("vision", "audio", "R@1").status == "trained"
    assert mx.get("text", "vision", "R@1").status == "trained"
    assert mx.get("audio", "text", "R@1").status == "emergent"
    assert mx.get("depth", "audio", "R@1").status == "emergent"
    cell = mx.get("audio", "depth", "R@1")
    assert cell.direct == 0.8 and cell.ratio == pytest.approx(cell.score / 0.8)
    zs = mx.get("audio", "text", "zero_shot_top1")
    assert zs.score == pytest.approx(zero_shot_classify(emb["audio"], texts, labels).top1)
    assert zs.ratio == pytest.approx(zs.score / 0.5)
    r1 = bidirectional_retrieval(emb["depth"], emb["text"], names=("depth", "text"))["depth->text"].recall[1]
    assert mx.get("depth", "text", "R@1").score == pytest.approx(r1)


def test_custom_trained_pairs_and_direct_from_other_matrix():
    emb, labels, _ = _world()
    direct_model = emergent_matrix(emb, trained_pairs={frozenset(("audio", "text"))})
    assert direct_model.get("audio", "text", "R@1").status == "trained"
    assert direct_model.get("vision", "audio", "R@1").status == "emergent"
    mx = emergent_matrix(emb, direct_scores=direct_model.scores())
    assert mx.get("audio", "text", "R@1").ratio == pytest.approx(1.0)


def test_rows_must_align():
    with pytest.raises(InputError):
        emergent_matrix({"vision": torch.randn(4, 3), "audio": torch.randn(5, 3)})


def test_gap_measures_offset_and_probe_separates():
    emb, _, _ = _world(n=120, offset=0.0)
    shifted, _, _ = _world(n=120, offset=1.5)
    small, large = modality_gap(emb), modality_gap(shifted)
    pair = ("text", "audio")
    assert large.centroid_distance[pair] > 2 * small.centroid_distance[pair]
    assert large.probe_accuracy[pair] > 0.95
    assert small.probe_accuracy[pair] < 0.8  # same cloud: hard to tell apart
    assert 0.0 <= large.probe_accuracy_all <= 1.0
    assert large.to_dict()["centroid_distance"]["text|audio"] == large.centroid_distance[pair]  # the JSON key


def test_centering_removes_offset_and_helps_retrieval():
    emb, labels, texts = _world(n=60, noise=0.2, offset=1.5)
    cent = emb["audio"].mean(0)
    centred = center_embeddings(emb["audio"], cent)
    assert centred.norm(dim=1) == pytest.approx(torch.ones(60))
    assert centred.mean(0).norm() < emb["audio"].mean(0).norm()
    corr = gap_correction(emb, labels, texts)
    before = sum(c.before for c in corr.changes if c.metric == "R@1")
    after = sum(c.after for c in corr.changes if c.metric == "R@1")
    assert after > before and corr.transductive_centroids
    assert [c.score for c in corr.before.cells] == [c.before for c in corr.changes]


def test_write_report(tmp_path):
    emb, labels, texts = _world()
    mx = emergent_matrix(emb, labels, class_text_emb=texts)
    results = EvaluationResult(MODS, 40, matrix=mx, gap=modality_gap(emb), gap_correction=gap_correction(emb, labels, texts),
                               embeddings=emb)
    paths = write_report(tmp_path / "out", results)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert len(metrics["emergent_matrix"]["cells"]) == len(mx.cells) and metrics["modalities"] == MODS
    assert "manifest" not in metrics and "zero_shot" not in metrics  # not measured: left out
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| audio | text | R@1 | emergent |" in report and "Modality gap" in report
    for key in ("heatmap", "projection"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in (tmp_path / "out").iterdir() if ".tmp-" in p.name]  # no leftovers


def test_evaluate_embeddings_gives_typed_results_and_one_render(tmp_path):
    emb, labels, texts = _world()
    bins = (torch.arange(40) // 20).long()  # a two-bin attribute
    attribute = AttributeTargets("half", ["first", "second"], bins, F.normalize(torch.randn(2, 2, 16), dim=-1))
    result = evaluate_embeddings(emb, labels, texts, class_names=["a", "b", "c", "d"], attributes={"half": attribute},
                                 trained_pairs=[("vision", "audio")])
    assert (result.modalities, result.n_samples, result.classes) == (MODS, 40, ["a", "b", "c", "d"])
    assert set(result.zero_shot) == {"vision", "audio", "depth"} and result.zero_shot["audio"].top5 is None
    assert result.zero_shot["audio"] == zero_shot_classify(emb["audio"], texts, labels, topk=(1,))
    half = result.attributes["half"]
    assert half.chance == 0.5 and set(half.zero_shot) == {"vision", "audio", "depth"}
    assert result.matrix.get("vision", "text", "R@1").status == "emergent"  # only vision-audio was trained
    assert result.gap.probe_accuracy_all is not None and result.gap_correction.before is result.matrix
    paths = write_report(tmp_path, result)
    assert json.loads(paths["metrics"].read_text()) == json.loads(json.dumps(result.to_dict()))
    report = paths["report"].read_text()
    assert report == report_markdown(result, images=paths)  # written once, from the result alone
    assert "## Zero-shot classification" in report and "Attribute zero-shot: half (first, second; chance 0.500)" in report
    assert "emergent_matrix.png" in report and "emergent_matrix.png" not in report_markdown(result)


def test_importing_the_metrics_costs_no_plotting_or_training_stack():
    import subprocess
    import sys

    code = ("import sys, imagebind_lite.evaluation, imagebind_lite.inference.evaluate; "
            "print(sorted(m for m in ('matplotlib', 'lightning') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

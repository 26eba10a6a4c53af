"""The main job: ``imagebind-lite demo --quick`` end to end through the CLI."""
import json

import pytest
import torch

import imagebind_lite as ib
from imagebind_lite.cli import main
from imagebind_lite.demo.config import ALIGNED
from imagebind_lite.retrieval import EmbeddingIndex


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
    return out


# Top-1 over 160 held-out instances of 16 concepts (chance 0.0625) measured with
# `imagebind-lite demo --quick --seed S` for S = 0..4:
#   emergent audio->text  0.431 0.387 0.369 0.319 0.519  (5.1x to 8.3x chance; mean 0.405, sd 0.075)
#   direct audio-text     0.613 0.594 0.525 0.575 0.606  (8.4x to 9.8x chance; mean 0.583, sd 0.035)
# Each floor is the lowest seed minus one chance level (0.0625), rounded down: about two
# binomial standard errors at n=160, so a change to the demo that only reshuffles its random
# draws passes, while one that loses much of the alignment fails.
EMERGENT_FLOOR_X_CHANCE = 4.0
DIRECT_FLOOR_X_CHANCE = 7.0


def test_emergent_alignment_is_well_above_chance(demo_dir):
    headline = json.loads((demo_dir / "demo_metrics.json").read_text())["headline"]
    chance = headline["chance_top1"]
    assert chance == pytest.approx(1 / 16)  # the floors above were measured at this chance level
    emergent, direct = headline["audio_to_text_zero_shot_top1"], headline["direct_audio_to_text_zero_shot_top1"]
    assert emergent >= EMERGENT_FLOOR_X_CHANCE * chance, f"emergent {emergent:.3f}, direct {direct:.3f}"
    assert direct >= DIRECT_FLOOR_X_CHANCE * chance, f"emergent {emergent:.3f}, direct {direct:.3f}"
    # the pivot-trained pair (image-text) and the emergent ones are all reported
    assert set(headline["zero_shot_top1"]) == {"vision", "audio", "depth", "thermal", "imu"}


def test_report_files_are_written(demo_dir):
    for name in ["README.md", "zero_shot.png", "world_preview.png", "demo_metrics.json",
                 "evaluation/metrics.json", "evaluation/report.md", "evaluation/emergent_matrix.png",
                 "evaluation/modality_gap_pca.png", "model/config.json", "index/meta.json"]:
        assert (demo_dir / name).is_file(), name


def test_saved_model_reloads_and_reproduces_the_index(demo_dir):
    model = ib.load_model(demo_dir / "model")
    assert set(model.modalities) == {"vision", "text", "audio", "depth", "thermal", "imu"}
    index = EmbeddingIndex.load(demo_dir / "index")
    rows = [i for i, m in enumerate(index.modalities) if m == "audio"][:4]
    again = model.embed({"audio": [index.sources[i] for i in rows]})["audio"]
    assert torch.allclose(again, index.embeddings[rows], atol=1e-5)


def test_index_answers_a_text_query(demo_dir):
    model = ib.load_model(demo_dir / "model", modalities=["text"])
    index = EmbeddingIndex.load(demo_dir / "index")
    query = model.embed({"text": ["the sound of a dog"]})["text"]
    results = index.search(query, k=5, modality="audio")[0]
    assert len(results) == 5 and all(r.modality == "audio" for r in results)
    assert results[0].score >= results[-1].score


def test_headline_reports_the_evaluation_it_ran(demo_dir):
    headline = json.loads((demo_dir / "demo_metrics.json").read_text())["headline"]
    evaluation = json.loads((demo_dir / "evaluation" / "metrics.json").read_text())
    direct = json.loads((demo_dir / "direct_baseline_evaluation" / "metrics.json").read_text())
    assert headline["audio_to_text_zero_shot_top1"] == evaluation["zero_shot"]["audio"]["top1"]
    assert headline["direct_audio_to_text_zero_shot_top1"] == direct["zero_shot"]["audio"]["top1"]
    assert headline["chance_top1"] == 1.0 / len(evaluation["classes"])
    assert headline["attributes"]["tempo_bin"]["audio (direct)"] == \
        direct["attributes"]["tempo_bin"]["zero_shot"]["audio"]["top1"]
    # every run trained through the one trainer factory: a resumable last.ckpt each; the five
    # pairs in one alignment run, or in two side by side (Linux CPU), "align-<its pairs>"
    runs = sorted(p.name for p in (demo_dir / "checkpoints").iterdir())
    aligned = [name.split("-")[1:] or list(ALIGNED) for name in runs if name.startswith("align")]
    assert "pivot" in runs and "direct" in runs and sorted(sum(aligned, [])) == sorted(ALIGNED)
    for run in runs:
        assert [p.name for p in (demo_dir / "checkpoints" / run).iterdir()] == ["last.ckpt"]
    assert not (demo_dir / "model_parts").exists()  # combined into model/, then removed


def test_the_demo_index_is_served_out_of_the_box(demo_dir, tmp_path, monkeypatch):
    from starlette.testclient import TestClient

    from imagebind_lite.serving import QueryEngine, create_app

    assert "imagebind-lite serve --model" in (demo_dir / "README.md").read_text()
    monkeypatch.chdir(tmp_path)  # the index lists absolute paths: any working directory serves its files
    client = TestClient(create_app(QueryEngine(demo_dir / "model", demo_dir / "index")))
    hits = client.post("/api/query", json={"text": "the sound of a dog", "k": 3, "modality": "audio"}).json()["results"]
    assert len(hits) == 3 and all(client.get(h["media"]).headers["content-type"] == "audio/wav" for h in hits)
    for modality in ("vision", "depth", "thermal", "imu"):
        hit = client.post("/api/query", json={"text": "a dog", "k": 1, "modality": modality}).json()["results"][0]
        assert client.get(hit["preview"]).status_code == 200

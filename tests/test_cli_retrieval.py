"""End to end through ``imagebind_lite.cli.main``: world -> model -> embed -> index -> query / evaluate."""
import contextlib
import csv
import io
import json
import shutil

import pytest
import torch

from imagebind_lite import MultiModalModel, load_model
from imagebind_lite.cli import main
from imagebind_lite.data.world import SyntheticWorld, WorldConfig, write_world
from imagebind_lite.retrieval import EmbeddingIndex, query_vector

MODALITIES = ["vision", "text", "audio", "depth"]
N = 8


def cli(*args):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    paths = write_world(SyntheticWorld(WorldConfig(image_size=32)), root / "world", sizes={"eval": N},
                        progress=False)
    torch.manual_seed(0)
    MultiModalModel.from_presets({m: "tiny" for m in MODALITIES}).save(root / "model")
    rc, out, err = cli("embed", "--model", root / "model", "--manifest", paths["eval"], "--out", root / "shards",
                       "--no-progress", "--batch-size", 4)
    assert rc == 0, err
    rc, build_out, err = cli("index", "build", "--shards", root / "shards", "--out", root / "index")
    assert rc == 0, err
    rows = list(csv.DictReader(paths["eval"].read_text().splitlines()))
    return {"root": root, "manifest": paths["eval"], "world": paths["world"], "model": root / "model",
            "index": root / "index", "rows": rows, "embed_out": out, "build_out": build_out}


def file_of(setup, modality, i):
    return setup["manifest"].parent / setup["rows"][i][modality]


def query_json(setup, *args):
    rc, out, err = cli("query", "--index", setup["index"], "--model", setup["model"], "--json", *args)
    assert rc == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_embed_manifest_embeds_every_model_modality(setup):
    for m in MODALITIES:
        assert f"{m}: embedded {N} of {N}, skipped 0" in setup["embed_out"]
    assert "thermal" not in setup["embed_out"]  # in the manifest, but the model has no thermal encoder
    rc, out, _ = cli("index", "info", setup["index"])
    info = json.loads(out)
    assert rc == 0 and info["rows"] == N * len(MODALITIES) and info["modalities"] == {m: N for m in MODALITIES}


def test_query_text_returns_k_results_with_paths(setup):
    results = query_json(setup, "--text", "a dog", "-k", 5, "--modality", "vision")
    assert len(results) == 5 and [r["rank"] for r in results] == [1, 2, 3, 4, 5]
    assert all(r["modality"] == "vision" and r["id"].startswith("vision:eval-") for r in results)
    assert all(r["source"].endswith(".png") and (setup["manifest"].parent / r["source"]).is_file() for r in results)
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    rc, plain, _ = cli("query", "--index", setup["index"], "--model", setup["model"], "--text", "a dog", "-k", 3)
    assert rc == 0 and len(plain.splitlines()) == 3 and "eval-" in plain


def test_query_by_file_finds_itself(setup):
    wav = file_of(setup, "audio", 3)
    for term in (f"audio:{wav}", str(wav)):  # .wav is unambiguous: the prefix is optional
        top = query_json(setup, "--file", term, "-k", 1, "--modality", "audio")[0]
        assert top["id"] == "audio:eval-000003" and top["score"] == pytest.approx(1.0, abs=1e-4)


def test_weighted_sum_query_matches_embedding_arithmetic(setup):
    wav, png = file_of(setup, "audio", 1), file_of(setup, "vision", 2)
    results = query_json(setup, "--file", f"audio:{wav}", "--file", f"vision:{png}", "--weight", 0.5, "-k", 4)
    model = load_model(setup["model"])
    a = model.embed({"audio": [wav]})["audio"][0]
    v = model.embed({"vision": [png]})["vision"][0]
    expected = EmbeddingIndex.load(setup["index"]).search(query_vector([(a, 1.0), (v, 0.5)]), k=4)[0]
    assert [r["id"] for r in results] == [e.id for e in expected]
    assert [r["score"] for r in results] == pytest.approx([e.score for e in expected], abs=1e-5)


def test_ambiguous_extension_asks_for_the_modality(setup):
    png = file_of(setup, "depth", 0)
    rc, _, err = cli("query", "--index", setup["index"], "--model", setup["model"], "--file", png)
    assert rc == 2 and "ambiguous" in err and "vision, depth" in err and "MODALITY:PATH" in err
    rc, _, err = cli("query", "--index", setup["index"], "--text", "a dog")
    assert rc == 2 and "--model" in err


def test_evaluate_writes_metrics_report_and_plots(setup):
    out = setup["root"] / "eval"
    rc, stdout, err = cli("evaluate", "--model", setup["model"], "--manifest", setup["manifest"],
                          "--prompts", setup["world"], "--out", out, "--no-progress")
    assert rc == 0, err
    for name in ("metrics.json", "report.md", "emergent_matrix.png", "modality_gap_pca.png"):
        assert (out / name).stat().st_size > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["zero_shot"]) == {"vision", "audio", "depth"}
    assert "tempo_bin" in metrics["attributes"]
    assert "report:" in stdout and "zero-shot audio" in stdout


@pytest.fixture()
def corrupt_manifest(setup, tmp_path):
    """Four rows of images, the third one a corrupt png."""
    (tmp_path / "vision").mkdir()
    lines = ["id,vision"]
    for i in range(4):
        target = tmp_path / "vision" / f"{i}.png"
        shutil.copy(file_of(setup, "vision", i), target)
        lines.append(f"s{i},vision/{i}.png")
    (tmp_path / "vision" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    manifest = tmp_path / "m.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def test_corrupt_file_is_skipped_and_reported(setup, corrupt_manifest, tmp_path):
    rc, out, err = cli("embed", "--model", setup["model"], "--manifest", corrupt_manifest, "--out", tmp_path / "s",
                       "--no-progress")
    assert rc == 0, err
    assert "vision: embedded 3 of 4, skipped 1" in out and "2.png" in out
    rc, _, err = cli("index", "build", "--shards", tmp_path / "s", "--out", tmp_path / "i")
    assert rc == 0 and EmbeddingIndex.load(tmp_path / "i").ids == ["vision:s0", "vision:s1", "vision:s3"]


def test_corrupt_file_stops_the_run_under_fail(setup, corrupt_manifest, tmp_path):
    rc, _, err = cli("embed", "--model", setup["model"], "--manifest", corrupt_manifest, "--out", tmp_path / "s",
                     "--no-progress", "--on-bad-sample", "fail")
    assert rc == 2 and "2.png" in err and "'vision'" in err and "Traceback" not in err


def test_embed_files_and_append_to_index(setup, tmp_path):
    wavs = [file_of(setup, "audio", i) for i in range(2)]
    rc, _, err = cli("embed", "--model", setup["model"], *wavs, "--out", tmp_path / "s", "--no-progress")
    assert rc == 2 and "--modality" in err
    rc, out, err = cli("embed", "--model", setup["model"], "--modality", "audio", *wavs, "--out", tmp_path / "s",
                       "--no-progress")
    assert rc == 0 and "audio: embedded 2 of 2" in out, err
    again = ("embed", "--model", setup["model"], "--modality", "audio", wavs[0], "--out", tmp_path / "s",
             "--no-progress")
    rc, _, err = cli(*again)  # stale shards would be merged into the next index: refused
    assert rc == 2 and "--overwrite" in err
    rc, out, err = cli(*again, "--overwrite")
    assert rc == 0 and "audio: embedded 1 of 1" in out, err
    assert len(list((tmp_path / "s").glob("*.safetensors"))) == 1
    rc, _, _ = cli("embed", "--model", setup["model"], "--modality", "audio", *wavs, "--out", tmp_path / "s",
                   "--no-progress", "--overwrite")
    index = tmp_path / "index"
    shutil.copytree(setup["index"], index)
    rc, out, err = cli("index", "build", "--shards", tmp_path / "s", "--out", index, "--append")
    assert rc == 0, err
    loaded = EmbeddingIndex.load(index)
    assert len(loaded) == N * len(MODALITIES) + 2 and f"audio:{wavs[0]}" in loaded.ids


def test_embed_in_bf16_through_lightning_precision(setup, tmp_path):
    from safetensors.torch import load_file

    wavs = [file_of(setup, "audio", i) for i in range(3)]
    shards = {}
    for precision in ("32-true", "bf16-true"):
        rc, out, err = cli("embed", "--model", setup["model"], "--modality", "audio", *wavs,
                           "--out", tmp_path / precision, "--no-progress", "--precision", precision)
        assert rc == 0 and "audio: embedded 3 of 3" in out, err
        [path] = (tmp_path / precision).glob("*.safetensors")
        shards[precision] = load_file(path)["embeddings"]
    full, half = shards["32-true"], shards["bf16-true"]
    assert half.dtype == torch.float32 and not torch.equal(full, half)  # computed in bf16, stored as float32
    assert torch.nn.functional.cosine_similarity(full, half).min() > 0.999

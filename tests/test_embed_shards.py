"""``embed`` shards: sized shards, resuming a rerun, refusing a changed one, and two DDP ranks on CPU."""
import contextlib
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from imagebind_lite import MultiModalModel
from imagebind_lite.model import load_model
from imagebind_lite.cli import main
from imagebind_lite.retrieval import EmbeddingIndex, read_shard

N = 10


def cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    torch.manual_seed(0)
    model = MultiModalModel.from_presets({"text": "tiny"})
    model.save(root / "model")
    with open(root / "captions.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text"])
        writer.writerows([f"c{i}", f"caption number {i}"] for i in range(N))
    rows_mb = 4 * model.embed_dim * 4 / 2 ** 20  # four rows per shard
    return root, rows_mb


def embed(setup, out, *extra, csv_name="captions.csv"):
    root, rows_mb = setup
    return cli("embed", "--model", root / "model", "--manifest", root / csv_name, "--out", out, "--no-progress",
               "--batch-size", 3, "--shard-mb", rows_mb, *extra)


def test_rows_are_grouped_into_sized_shards(setup, tmp_path):
    rc, out, err = embed(setup, tmp_path / "s")
    assert rc == 0, err
    assert "text: embedded 10 of 10, skipped 0 (3 shard(s))" in out
    names = sorted(p.name for p in (tmp_path / "s").glob("*.safetensors"))
    assert names == ["text-s000000.safetensors", "text-s000001.safetensors", "text-s000002.safetensors"]
    shards = [read_shard(tmp_path / "s" / name) for name in names]
    assert [len(s.ids) for s in shards] == [4, 4, 2]
    assert [i for s in shards for i in s.ids] == [f"text:c{i}" for i in range(N)]  # input order, across batches
    sidecar = json.loads((tmp_path / "s" / "text-s000001.json").read_text())
    assert sidecar["shard"] == 1 and sidecar["rows"] == [4, 8] and sidecar["rank"] == 0
    assert json.loads((tmp_path / "s" / "text-plan.json").read_text())["shard_rows"] == 4


def test_a_rerun_resumes_and_skips_finished_shards(setup, tmp_path):
    rc, _, err = embed(setup, tmp_path / "s")
    assert rc == 0, err
    rc, _, err = cli("index", "build", "--shards", tmp_path / "s", "--out", tmp_path / "full")
    assert rc == 0, err
    # an interrupted run: shard 1 never written, shard 2 only half (its sidecar, no tensor file)
    (tmp_path / "s" / "text-s000001.safetensors").unlink()
    (tmp_path / "s" / "text-s000001.json").unlink()
    (tmp_path / "s" / "text-s000002.safetensors").unlink()
    untouched = (tmp_path / "s" / "text-s000000.safetensors").stat().st_mtime_ns
    rc, out, err = embed(setup, tmp_path / "s")
    assert rc == 0, err
    assert "embedded 10 of 10, skipped 0 (3 shard(s), 1 already written)" in out
    assert (tmp_path / "s" / "text-s000000.safetensors").stat().st_mtime_ns == untouched
    rc, _, err = cli("index", "build", "--shards", tmp_path / "s", "--out", tmp_path / "resumed")
    assert rc == 0, err
    full, resumed = EmbeddingIndex.load(tmp_path / "full"), EmbeddingIndex.load(tmp_path / "resumed")
    # equal up to batch composition (the resumed run batches shard 1's rows differently)
    assert full.ids == resumed.ids and torch.allclose(full.embeddings, resumed.embeddings, atol=1e-5)


def test_a_changed_run_is_refused_unless_overwritten(setup, tmp_path):
    root, _ = setup
    rc, _, err = embed(setup, tmp_path / "s")
    assert rc == 0, err
    (root / "fewer.csv").write_text("\n".join((root / "captions.csv").read_text().splitlines()[:-1]) + "\n")
    rc, _, err = embed(setup, tmp_path / "s", csv_name="fewer.csv")
    assert rc == 2 and "different the number of inputs, the input list" in err and "--overwrite" in err
    rc, _, err = embed(setup, tmp_path / "s", "--shard-mb", 1)
    assert rc == 2 and "the shard size" in err
    rc, _, err = embed(setup, tmp_path / "s", "--precision", "bf16-true")
    assert rc == 2 and "the precision" in err
    rc, out, err = embed(setup, tmp_path / "s", "--overwrite", csv_name="fewer.csv")
    assert rc == 0 and "embedded 9 of 9" in out, err
    assert len(list((tmp_path / "s").glob("*.safetensors"))) == 3


def test_a_changed_model_is_refused(setup, tmp_path):
    root, _ = setup
    rc, _, err = embed(setup, tmp_path / "s")
    assert rc == 0, err
    torch.manual_seed(1)
    MultiModalModel.from_presets({"text": "tiny"}).save(tmp_path / "other_model")
    rc, _, err = cli("embed", "--model", tmp_path / "other_model", "--manifest", root / "captions.csv", "--out",
                     tmp_path / "s", "--no-progress", "--shard-mb", setup[1])
    assert rc == 2 and "the model's weights or config" in err


def test_two_ddp_ranks_each_write_their_own_shards(setup, tmp_path):
    """A real two-process run (Lightning DDP on CPU, gloo): shards split between ranks, nothing twice."""
    root, rows_mb = setup
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "imagebind_lite.cli", "embed", "--model", str(root / "model"), "--manifest",
               str(root / "captions.csv"), "--out", str(tmp_path / "ddp"), "--no-progress", "--batch-size", "3",
               "--shard-mb", str(rows_mb), "--accelerator", "cpu", "--devices", "2"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "text: embedded 10 of 10, skipped 0 (3 shard(s))" in done.stdout
    ranks = {json.loads(p.read_text())["rank"] for p in (tmp_path / "ddp").glob("text-s*.json")}
    assert ranks == {0, 1}
    rc, _, err = cli("index", "build", "--shards", tmp_path / "ddp", "--out", tmp_path / "ddp_index")
    assert rc == 0, err
    rc, _, err = embed(setup, tmp_path / "one")
    rc, _, err = cli("index", "build", "--shards", tmp_path / "one", "--out", tmp_path / "one_index")
    ddp, one = EmbeddingIndex.load(tmp_path / "ddp_index"), EmbeddingIndex.load(tmp_path / "one_index")
    assert ddp.ids == one.ids and torch.allclose(ddp.embeddings, one.embeddings, atol=1e-6)
    assert Path(tmp_path / "ddp" / "text-plan.json").is_file()


def test_shard_rows_hold_the_models_embeddings_in_input_order(setup, tmp_path):
    """Batches of 3 across shards of 4: each shard assembled from parts of batches on the writer thread."""
    root, _ = setup
    rc, _, err = embed(setup, tmp_path / "s")
    assert rc == 0, err
    model = load_model(root / "model")
    with torch.no_grad():
        expected = model.embed({"text": [f"caption number {i}" for i in range(N)]})["text"]
    got = torch.cat([read_shard(p).embeddings for p in sorted((tmp_path / "s").glob("*.safetensors"))])
    assert torch.allclose(got, expected, atol=1e-5)


def test_a_shard_buffer_puts_rows_in_place_and_closes_holes():
    import numpy as np

    from imagebind_lite.inference.shard_buffer import ShardBuffer

    buf = ShardBuffer(10, 16)
    buf.add(np.array([13, 14]), torch.tensor([[3.0], [4.0]]), ["c13", "c14"], ["s13", "s14"])
    buf.add(np.array([15, 10]), np.array([[5.0], [0.0]], dtype=np.float32), ["c15", "c10"], ["s15", "s10"])
    buf.skip({"id": "c11", "source": "s11", "message": "unreadable"})
    assert not buf.complete
    buf.add(np.array([12]), torch.tensor([[2.0]]), ["c12"], ["s12"])
    assert buf.complete
    emb, ids, sources = buf.finish(np.full((6, 1), -1.0, dtype=np.float32))
    assert emb[:, 0].tolist() == [0.0, 2.0, 3.0, 4.0, 5.0] and ids == ["c10", "c12", "c13", "c14", "c15"]
    assert sources == ["s10", "s12", "s13", "s14", "s15"] and buf.skipped[0]["id"] == "c11"


def test_embeddings_that_view_a_larger_tensor_are_copied_before_they_are_kept():
    from imagebind_lite.inference.predict import _own_memory

    tokens = torch.randn(4, 7, 8)  # an encoder's [B, T, D] output; the embedding is its first token
    first = tokens[:, 0]
    kept = _own_memory(first)
    assert torch.equal(kept, first) and kept.untyped_storage().nbytes() == 4 * 8 * 4
    whole = torch.randn(4, 8)
    assert _own_memory(whole) is whole  # a tensor of its own is kept as it is, without a copy

"""Writing embedding shards off the predict thread: same bytes as before, errors surface, an
interrupted run leaves only complete shards and a rerun resumes from them."""
import hashlib
import os
import signal
import sys
import threading
import time

import pytest
import torch
from safetensors.torch import save

from imagebind_lite import MultiModalModel
from imagebind_lite.data.bad_samples import BadSample
from imagebind_lite.inference import predict
from imagebind_lite.inference.background import BackgroundWriter
from imagebind_lite.inference.predict import (
    EmbedItemsDataset,
    ShardWriter,
    embed_to_shards,
)
from imagebind_lite.inference.shard_plan import ShardPlan, inputs_digest
from imagebind_lite.retrieval import read_shard, write_shard
from imagebind_lite.retrieval.shards import read_sidecar


class _Strategy:
    def barrier(self, name=None):
        pass


class _Trainer:
    global_rank = 0
    strategy = _Strategy()


def _batch(rows, emb, bad=()):
    """A prediction as ``EmbedModule.predict_step`` returns it (``bad``: unreadable rows)."""
    good = [r for r in rows if r not in bad]
    return {"rows": good, "ids": [f"id{r}" for r in good], "sources": [f"src{r}" for r in good],
            "embeddings": emb[good] if good else None, "inputs": None,
            "skipped": [BadSample(f"id{r}", "audio", f"src{r}", "cannot decode") for r in bad],
            "skipped_rows": list(bad)}


@pytest.mark.parametrize("shape", [(0, 8), (1, 1), (3, 7), (5, 16)])
def test_tensor_file_is_byte_identical_to_safetensors_and_hashed_as_written(tmp_path, shape):
    emb = torch.randn(*shape)
    path = write_shard(tmp_path / "s", emb, [f"r{i}" for i in range(shape[0])], "audio")
    data = path.read_bytes()
    assert data == save({"embeddings": emb})
    assert read_sidecar(path)["sha256"] == hashlib.sha256(data).hexdigest()
    assert torch.equal(read_shard(path).embeddings, emb)


def test_writer_puts_rows_in_input_order_with_holes_closed(tmp_path):
    """Batches straddling shards, out of order, with unreadable rows: each shard holds its rows
    in input order, and its tensor file is exactly safetensors' file of those rows."""
    emb = torch.randn(10, 6)
    plan = ShardPlan("audio", rows=10, shard_rows=4, inputs="i", model="m", precision="32-true")
    writer = ShardWriter(tmp_path, plan, dim=6)
    for i, (rows, bad) in enumerate([([4, 5, 6], {5}), ([0, 1, 2], ()), ([3, 7, 8], {8}), ([9], {9})]):
        writer.write_on_batch_end(_Trainer, None, _batch(rows, emb, bad), None, None, i, 0)
    writer.on_predict_end(_Trainer, None)
    assert writer.shards_written == 3 and writer.written == 7
    for shard, rows in enumerate([[0, 1, 2, 3], [4, 6, 7], []]):  # the last: all unreadable:
        path = tmp_path / f"audio-s{shard:06d}.safetensors"
        assert path.read_bytes() == save({"embeddings": emb[rows]})
        meta = read_sidecar(path)
        assert meta["ids"] == [f"id{r}" for r in rows] and meta["sources"] == [f"src{r}" for r in rows]
        assert meta["rows"] == [4 * shard, min(10, 4 * shard + 4)] and meta["plan"] == plan.digest
    assert [b["id"] for b in read_sidecar(tmp_path / "audio-s000001.safetensors")["skipped"]] == ["id5"]
    assert [b["id"] for b in read_sidecar(tmp_path / "audio-s000002.safetensors")["skipped"]] == ["id8", "id9"]


def test_the_input_fingerprint_is_unchanged():
    """Resuming a run started by an earlier version needs the same digest of the same inputs."""
    rows = [(f"text:c{i}", None, f"caption {i} \udcff") for i in range(50)]
    old = hashlib.sha256()
    for sample_id, _, source in rows:
        old.update(f"{sample_id}\t{source}\n".encode("utf-8", "surrogateescape"))
    assert inputs_digest(rows) == old.hexdigest()


def test_a_failed_job_is_raised_on_the_calling_thread_and_later_jobs_dropped():
    ran, release = [], threading.Event()
    writer = BackgroundWriter(depth=2)

    def fail():
        raise OSError("No space left on device")

    writer.submit(lambda: (release.wait(5), ran.append(1)))
    writer.submit(fail)
    writer.submit(lambda: ran.append(3))  # queued behind the failing job: never run
    release.set()
    with pytest.raises(OSError, match="No space left"):
        writer.close()
    assert ran == [1]
    with pytest.raises(OSError, match="No space left"):
        writer.submit(lambda: None)


def test_submit_waits_while_the_queue_is_full():
    release, started = threading.Event(), threading.Event()
    writer = BackgroundWriter(depth=1)
    writer.submit(lambda: (started.set(), release.wait(5)))
    started.wait(5)
    writer.submit(lambda: None)  # queued
    third = threading.Thread(target=writer.submit, args=(lambda: None,))
    third.start()
    third.join(0.2)
    assert third.is_alive()  # blocked: at most one shard waits besides the one being written
    release.set()
    third.join(5)
    writer.close()
    assert not third.is_alive()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MultiModalModel.from_presets({"text": "tiny"}, embed_dim=16).eval()


def _captions(n):
    return [(f"text:c{i}", f"caption number {i}", f"c{i}") for i in range(n)]


def _embed(model, out, rows, **kw):
    two_rows = 2 * 16 * 4 / 2 ** 20
    return embed_to_shards(model, "text", rows, out, batch_size=2, accelerator="cpu", progress=False,
                           shard_mb=two_rows, **kw)


def test_a_failed_shard_write_stops_the_run_and_keeps_the_shards_before(model, tmp_path, monkeypatch):
    real = predict.write_shard

    def write_or_fail(path, *args, **kw):
        if path.name == "text-s000001":
            raise OSError("No space left on device")
        return real(path, *args, **kw)

    monkeypatch.setattr(predict, "write_shard", write_or_fail)
    with pytest.raises(OSError, match="No space left"):
        _embed(model, tmp_path / "s", _captions(8))
    names = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert names == ["text-plan.json", "text-s000000.json", "text-s000000.safetensors"]


def test_an_interrupted_run_leaves_complete_shards_only_and_a_rerun_resumes(model, tmp_path, monkeypatch):
    rows = _captions(8)
    real_write, real_item = predict.write_shard, EmbedItemsDataset.__getitem__

    def slow_write(*args, **kw):  # the interrupt arrives while shards are still being written
        time.sleep(0.3)
        return real_write(*args, **kw)

    def item_or_interrupt(self, index):
        if index == 6:
            raise KeyboardInterrupt
        return real_item(self, index)

    monkeypatch.setattr(predict, "write_shard", slow_write)
    monkeypatch.setattr(EmbedItemsDataset, "__getitem__", item_or_interrupt)
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit):  # Lightning's graceful shutdown on Ctrl-C
            _embed(model, tmp_path / "s", rows)
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores further Ctrl-C from then on
    files = {p.name for p in (tmp_path / "s").iterdir()} - {"text-plan.json"}
    tensors = {n[: -len(".safetensors")] for n in files if n.endswith(".safetensors")}
    assert files == {f"{t}{ext}" for t in tensors for ext in (".safetensors", ".json")}  # pairs, no temporaries
    assert {"text-s000000", "text-s000001"} <= tensors and "text-s000003" not in tensors  # complete ones written
    for name in tensors:
        read_shard(tmp_path / "s" / f"{name}.safetensors")  # hash and contents check out
    first = (tmp_path / "s" / "text-s000000.safetensors").stat().st_mtime_ns
    monkeypatch.setattr(EmbedItemsDataset, "__getitem__", real_item)
    summary = _embed(model, tmp_path / "s", rows)
    assert summary["resumed_shards"] == len(tensors) and summary["embedded"] == 8 and summary["finished_shards"] == 4
    assert (tmp_path / "s" / "text-s000000.safetensors").stat().st_mtime_ns == first
    assert [i for s in range(4) for i in read_shard(tmp_path / "s" / f"text-s{s:06d}.safetensors").ids] == \
        [r[0] for r in rows]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is a Linux feature")
def test_the_writer_thread_alone_runs_at_a_lower_priority():
    seen, main = [], os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    writer = BackgroundWriter(nice=10)
    writer.submit(lambda: seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
    writer.close()
    assert seen[0] >= 10 and os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main

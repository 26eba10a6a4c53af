"""The demo's second processes: the direct baseline trains beside the pivot, some pairs align beside the others."""
from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from imagebind_lite import load_model
from imagebind_lite.demo import DemoConfig, stages, world_stage
from imagebind_lite.demo.config import ALIGNED
from imagebind_lite.demo.background import BesideJob, can_run_beside
from imagebind_lite.demo.background import threads_back_when_done
from imagebind_lite.demo.runner import StageClock, _align_and_direct, _pivot
from imagebind_lite.errors import InputError

needs_fork = pytest.mark.skipif(not can_run_beside(), reason="runs beside the alignment only on Linux CPU runs")


def _where(tag):
    return {"tag": tag, "pid": os.getpid(), "threads": torch.get_num_threads()}


def _fails():
    raise InputError("cannot decode", modality="audio", source="clip-007.wav")


def _dies():
    os.kill(os.getpid(), signal.SIGKILL)


@needs_fork
def test_a_job_returns_its_value_from_another_process_on_one_thread():
    job = BesideJob("probe", _where, "x")
    assert not job.done()  # nothing runs before start(); result() starts it if need be
    value = job.result()
    assert value["tag"] == "x" and value["pid"] != os.getpid() and value["threads"] == 1
    assert job.done() and job.seconds >= 0


@needs_fork
def test_a_job_failing_on_bad_input_raises_the_same_error_naming_the_file_and_modality():
    with pytest.raises(InputError) as caught:  # the CLI prints it as an "error: ..." line
        BesideJob("probe", _fails).result()
    assert caught.value.source == "clip-007.wav" and caught.value.modality == "audio"


def _breaks():
    raise ZeroDivisionError("a bug, not the user's input")


@needs_fork
def test_a_job_failing_otherwise_raises_with_the_traceback_of_its_process():
    with pytest.raises(RuntimeError, match="probe failed") as caught:
        BesideJob("probe", _breaks).result()
    assert "ZeroDivisionError" in str(caught.value) and "_breaks" in str(caught.value)


@needs_fork
def test_a_killed_job_is_an_error_not_a_hang():
    with pytest.raises(RuntimeError, match="stopped without a result"):
        BesideJob("probe", _dies).result()


def _probe_model(config, modalities, tag):
    """A small real saved model (one shared pivot, fresh encoders for ``modalities``), plus a
    note of where (process, intra-op threads) it was made."""
    from imagebind_lite import MultiModalModel, create_encoder, save_model

    torch.manual_seed(0)  # the same pivot in every process, as a frozen pivot is
    encoders = {"vision": create_encoder("vision/tiny"), **{m: create_encoder(f"{m}/tiny") for m in modalities}}
    target = config.out_dir / {"direct": "direct_baseline", "pivot": "pivot"}.get(tag, f"model_parts/{tag}")
    save_model(MultiModalModel(encoders), target)
    (config.out_dir / f"where-{tag}.json").write_text(json.dumps(_where(tag)))
    return target


@pytest.fixture
def stub_stages(monkeypatch):
    """The training stages replaced by probes that save small real models and say where they ran."""
    def align(config, pivot, paths, callbacks=(), modalities=ALIGNED):
        for callback in callbacks:  # as the Trainer would at each batch
            callback.on_train_batch_start(None, None, None, 0)
        return _probe_model(config, modalities, "align-" + "-".join(modalities))

    def pivot(config, paths, callbacks=()):
        for callback in callbacks:
            callback.on_train_batch_start(None, None, None, 0)
        return _probe_model(config, [], "pivot")

    monkeypatch.setattr(stages, "align_stage", align)
    monkeypatch.setattr(stages, "pretrain_pivot_stage", pivot)
    monkeypatch.setattr(stages, "direct_baseline_stage", lambda config, paths: _probe_model(config, ["audio"], "direct"))
    monkeypatch.setattr(world_stage, "preview_stage",
                        lambda config: (config.out_dir / "where-preview.json").write_text(json.dumps(_where("preview"))))
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _where_made(out_dir, tag):
    return json.loads((out_dir / f"where-{tag}.json").read_text())


@needs_fork
def test_the_baseline_trains_beside_the_pivot_and_some_pairs_beside_the_others_and_the_parts_combine(
        stub_stages, tmp_path):
    torch.set_num_threads(2)
    clock = StageClock()
    config = DemoConfig(out_dir=tmp_path, beside_pairs=("thermal", "imu"))
    pivot_dir, direct_job = _pivot(config, clock, {}, beside=True)
    pivot_made = _where_made(tmp_path, "pivot")
    assert pivot_dir == tmp_path / "pivot" and pivot_made["pid"] == os.getpid() and pivot_made["threads"] == 1
    assert torch.get_num_threads() == 2  # restored after the stage
    model_dir, direct_dir, seconds = _align_and_direct(config, clock, pivot_dir, {}, direct_job)
    here, there = _where_made(tmp_path, "align-text-audio-depth"), _where_made(tmp_path, "align-thermal-imu")
    direct = _where_made(tmp_path, "direct")
    assert here["pid"] == os.getpid() and here["threads"] == 1
    assert there["pid"] != os.getpid() and there["threads"] == 1
    assert direct["pid"] not in (os.getpid(), there["pid"]) and direct["threads"] == 1
    assert _where_made(tmp_path, "preview")["pid"] == there["pid"]  # the smaller share draws it
    assert set(seconds) == {"direct baseline", "thermal, imu alignment and world preview"}
    assert torch.get_num_threads() == 2
    assert list(clock.seconds) == ["pretrain the pivot image encoder and freeze it",
                                   "align text, audio, depth, thermal, imu with images only",
                                   "train the direct audio-text baseline"]
    assert model_dir == tmp_path / "model" and not (tmp_path / "model_parts" / "align-thermal-imu").exists()
    assert sorted(load_model(model_dir).modalities) == sorted(("vision",) + ALIGNED)
    assert load_model(direct_dir).modalities == ["vision", "audio"]


@needs_fork
def test_with_no_pairs_beside_all_five_align_here(stub_stages, tmp_path):
    config = DemoConfig(out_dir=tmp_path, beside_pairs=())
    pivot_dir, direct_job = _pivot(config, StageClock(), {}, beside=True)
    model_dir, _, seconds = _align_and_direct(config, StageClock(), pivot_dir, {}, direct_job)
    assert model_dir == tmp_path / "model_parts" / ("align-" + "-".join(ALIGNED))
    direct = _where_made(tmp_path, "direct")
    assert direct["pid"] != os.getpid() and list(seconds) == ["direct baseline"]
    assert _where_made(tmp_path, "preview")["pid"] == direct["pid"]


@needs_fork
def test_a_failing_alignment_stops_the_baseline_still_training_beside_it(stub_stages, tmp_path, monkeypatch):
    monkeypatch.setattr(stages, "direct_baseline_stage", lambda config, paths: _sleeps(30.0))

    def fails(*args, **kwargs):
        raise InputError("cannot decode", modality="depth", source="d-001.png")

    monkeypatch.setattr(stages, "align_stage", fails)
    config = DemoConfig(out_dir=tmp_path, beside_pairs=())
    pivot_dir, direct_job = _pivot(config, StageClock(), {}, beside=True)
    with pytest.raises(InputError, match="d-001.png"):
        _align_and_direct(config, StageClock(), pivot_dir, {}, direct_job)
    assert not direct_job._process.is_alive()


def test_beside_pairs_must_leave_the_first_process_some_pairs():
    with pytest.raises(InputError, match="not all of them"):
        DemoConfig(beside_pairs=ALIGNED)
    with pytest.raises(InputError, match="sonar"):
        DemoConfig(beside_pairs=("imu", "sonar"))


def test_pair_sizes_override_the_pair_count_of_the_modalities_they_name():
    config = DemoConfig.quick(pair_sizes={"imu": 100})
    assert config.pairs("imu") == 100 and config.pairs("audio") == config.pairs_per_modality
    with pytest.raises(InputError, match="sonar"):
        DemoConfig(pair_sizes={"sonar": 10})


def test_without_a_second_process_the_stages_run_in_line_with_every_thread(stub_stages, tmp_path):
    torch.set_num_threads(2)
    clock = StageClock()
    config = DemoConfig(out_dir=tmp_path)
    pivot_dir, direct_job = _pivot(config, clock, {}, beside=False)
    assert direct_job is None
    _align_and_direct(config, clock, pivot_dir, {}, direct_job)
    made = [_where_made(tmp_path, tag) for tag in ("pivot", "align-" + "-".join(ALIGNED), "direct")]
    assert all(m["pid"] == os.getpid() and m["threads"] == 2 for m in made)
    assert len(clock.seconds) == 3


def _sleeps(seconds):
    import time

    time.sleep(seconds)
    return seconds


@needs_fork
def test_the_alignment_gets_its_threads_back_once_the_job_is_done():
    threads = torch.get_num_threads()
    try:
        job, other = BesideJob("probe", _sleeps, 30.0), BesideJob("other", _sleeps, 30.0)
        callback = threads_back_when_done(2, job, None, other)  # None: no job there
        torch.set_num_threads(1)
        job.start()
        other.start()
        callback.on_train_batch_start(None, None, None, 0)
        assert torch.get_num_threads() == 1 and not job.done()  # still running: keep one thread
        job.stop()
        callback.on_train_batch_start(None, None, None, 1)
        assert torch.get_num_threads() == 1  # the other one still runs
        other.stop()
        callback.on_train_batch_start(None, None, None, 2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)

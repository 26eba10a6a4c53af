"""The demo's second process: the direct baseline and the preview run beside the alignment."""
from __future__ import annotations

import os
import signal

import pytest
import torch

from imagebind_lite.demo import DemoConfig, stages
from imagebind_lite.demo.background import BesideJob, can_run_beside
from imagebind_lite.demo.runner import StageClock, _align_and_direct
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
def test_a_failing_job_raises_its_error_with_the_file_and_modality():
    with pytest.raises(RuntimeError, match="probe failed") as caught:
        BesideJob("probe", _fails).result()
    assert "clip-007.wav" in str(caught.value) and "audio" in str(caught.value)


@needs_fork
def test_a_killed_job_is_an_error_not_a_hang():
    with pytest.raises(RuntimeError, match="stopped without a result"):
        BesideJob("probe", _dies).result()


@pytest.fixture
def stub_stages(monkeypatch):
    """The stages replaced by probes that say where (process, intra-op threads) they ran."""
    def align(config, pivot, paths, callbacks=()):
        for callback in callbacks:  # as the Trainer would once training starts
            callback.on_train_start(None, None)
        return _where("align")

    monkeypatch.setattr(stages, "align_stage", align)
    monkeypatch.setattr(stages, "direct_baseline_stage", lambda config, paths: _where("direct"))
    monkeypatch.setattr(stages, "preview_stage", lambda config: _where("preview"))
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@needs_fork
def test_the_direct_baseline_trains_in_a_second_process_while_the_alignment_keeps_one_thread(stub_stages, tmp_path):
    torch.set_num_threads(2)
    clock = StageClock()
    align, direct, seconds = _align_and_direct(DemoConfig(out_dir=tmp_path), clock, tmp_path, {}, beside=True)
    assert align["pid"] == os.getpid() and align["threads"] == 1
    assert direct["pid"] != os.getpid() and direct["threads"] == 1
    assert seconds is not None and torch.get_num_threads() == 2  # restored after the stage
    assert list(clock.seconds) == ["align text, audio, depth, thermal, imu with images only",
                                   "train the direct audio-text baseline"]


def test_without_a_second_process_the_stages_run_in_line_with_every_thread(stub_stages, tmp_path):
    torch.set_num_threads(2)
    clock = StageClock()
    align, direct, seconds = _align_and_direct(DemoConfig(out_dir=tmp_path), clock, tmp_path, {}, beside=False)
    assert align["pid"] == direct["pid"] == os.getpid() and align["threads"] == direct["threads"] == 2
    assert seconds is None and len(clock.seconds) == 2


def _sleeps(seconds):
    import time

    time.sleep(seconds)
    return seconds


@needs_fork
def test_the_job_starts_with_training_and_the_alignment_gets_its_threads_back_once_it_is_done():
    threads = torch.get_num_threads()
    try:
        job = BesideJob("probe", _sleeps, 30.0)
        callback = job.alongside_training(2)
        torch.set_num_threads(1)
        callback.on_train_start(None, None)
        callback.on_train_batch_start(None, None, None, 0)
        assert torch.get_num_threads() == 1 and not job.done()  # still running: keep one thread
        job.stop()
        callback.on_train_batch_start(None, None, None, 1)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)

"""Work that runs beside the demo's main process, in a forked process on one intra-op thread.

The demo's small encoders gain little or nothing from a second intra-op thread on a 2-core CPU
(the quick demo's five-pair alignment took 19.5 s on one thread and on two, the pivot 46 against
57 ms a step: their steps are many small matrix products, each too small to split), while two
processes each get a whole core. So the demo forks copies of itself: one writes the world while
the first process imports Lightning; one trains the direct baseline (it needs only the written
world) while the first pretrains the pivot; one aligns some of the pairs while the first aligns
the rest.
Where forking is unsafe or pointless (not Linux, or an accelerator: CUDA cannot be used again in
a forked child), one process does it all, one run after the other.
"""
from __future__ import annotations

import multiprocessing
import pickle
import sys
import time
import traceback
from typing import Any, Callable, Optional

import torch

from imagebind_lite.errors import ImageBindLiteError


def can_run_beside() -> bool:
    """Fork only on Linux CPU-only runs (macOS's system libraries and CUDA are not fork-safe)."""
    if not sys.platform.startswith("linux") or "fork" not in multiprocessing.get_all_start_methods():
        return False
    mps = getattr(torch.backends, "mps", None)
    return not torch.cuda.is_available() and not (mps is not None and mps.is_available())


def _child(send, fn: Callable[..., Any], args: tuple) -> None:
    # one intra-op thread, as DataLoader workers do: the forked copy must not wake an OpenMP pool
    # that exists only in the parent, and two processes with two threads each would thrash
    torch.set_num_threads(1)
    began = time.perf_counter()
    try:
        send.send(("ok", fn(*args), time.perf_counter() - began))
    except ImageBindLiteError as exc:  # bad input: the parent raises the same error, naming the file
        send.send(("raise", _picklable(exc), time.perf_counter() - began))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        send.send(("error", traceback.format_exc(), time.perf_counter() - began))
    finally:
        send.close()


def _picklable(exc: BaseException):
    """``exc`` itself when it survives pickling, else its traceback as text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any pickling failure: fall back to the text
        return "".join(traceback.format_exception(exc))


class BesideJob:
    """``fn(*args)`` in a forked process, from ``start()`` on; ``result()`` waits for it and
    returns its value or raises its error. ``seconds``: how long it ran there."""

    def __init__(self, name: str, fn: Callable[..., Any], *args: Any):
        self.name = name
        self.seconds: Optional[float] = None
        self._fn, self._args = fn, args
        self._process = self._receive = None

    def start(self) -> None:
        if self._process is not None:
            return
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        # not a daemon: the job's own data loading may start worker processes
        self._process = context.Process(target=_child, args=(send, self._fn, self._args), name=f"beside: {self.name}")
        self._process.start()
        send.close()

    def done(self) -> bool:
        return self._process is not None and (self._receive.poll() or not self._process.is_alive())

    def result(self) -> Any:
        self.start()
        try:
            status, payload, self.seconds = self._receive.recv()
        except EOFError:  # killed (out of memory, a signal) before it could report
            self._process.join()
            raise RuntimeError(f"{self.name} stopped without a result (exit code {self._process.exitcode})") from None
        self._process.join()
        if status == "raise" and isinstance(payload, BaseException):
            raise payload
        if status in ("error", "raise"):
            raise RuntimeError(f"{self.name} failed in its second process:\n{payload}")
        return payload

    def stop(self) -> None:
        """End the job if it is still running (the demo is failing or interrupted)."""
        if self._process is None:
            return
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()


def threads_back_when_done(threads: int, *jobs: Optional[BesideJob]):
    """A Lightning callback for the first process's run: once every job given has finished (None:
    no job), it goes back to ``threads`` intra-op threads (the full demo's alignment is ~9 % faster
    on two)."""
    import lightning.pytorch as pl

    running = [job for job in jobs if job is not None]

    class ThreadsBackWhenDone(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if torch.get_num_threads() != threads and all(job.done() for job in running):
                torch.set_num_threads(threads)

    return ThreadsBackWhenDone()

"""One background thread that runs jobs (writing finished shards) in order, off the predict loop.

Writing a shard (hashing and writing tens of MiB, its sidecar) would otherwise stall the
predict loop at every shard boundary; on its own thread it overlaps the next shard's
embedding, and hashing and file writes release the GIL. The queue holds at most ``depth``
jobs: when writing falls behind, ``submit`` waits, so memory stays bounded (a job holds a
whole shard). The first error a job raises is raised again on the calling thread, by the next
``submit``, ``check`` or ``close``; jobs after a failed one are dropped, never run. The thread
starts with the first job, after the data loader has forked its workers.

On Linux the thread runs at a lower scheduling priority (``nice``): when every core is busy
embedding, a hash running on one of them would hold up the whole parallel matmul that waits for
that core; at a lower priority the writing mostly fills the time a core would sit idle (tokenizing
and collating run on one thread), and when it falls behind, ``submit`` blocks and frees a core.
"""
from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Callable

_STOP = object()


class BackgroundWriter:
    def __init__(self, name: str = "shard-writer", depth: int = 1, nice: int = 10):
        self.name, self.nice = name, nice
        self._jobs: queue.Queue = queue.Queue(maxsize=depth)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._closed = False

    def _lower_priority(self) -> None:
        # Linux applies a niceness to one thread (its native id); elsewhere it would renice the process
        if self.nice and sys.platform.startswith("linux"):
            try:
                tid = threading.get_native_id()
                os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), self.nice))
            except OSError:
                pass  # a sandbox may forbid it: the writer then simply runs at the normal priority

    def _run(self) -> None:
        self._lower_priority()
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            if self._error is None:  # after a failure the rest are drained, not run
                try:
                    job()
                except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                    self._error = exc

    def check(self) -> None:
        """Raise the error a job raised, if any (again at every call: the writer is then unusable)."""
        if self._error is not None:
            raise self._error

    def submit(self, job: Callable[[], None]) -> None:
        self.check()
        if self._closed:
            raise RuntimeError(f"{self.name} is closed")
        if self._thread is None:
            # daemon: a killed run must not hang at exit; every normal or failed run joins it in close()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        self._jobs.put(job)  # blocks while ``depth`` jobs wait: bounded memory
        self.check()

    def close(self, raise_errors: bool = True) -> None:
        """Finish the jobs already submitted and stop the thread; then raise a job's error unless
        ``raise_errors`` is false (the caller is already handling another error)."""
        self._closed = True
        thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(_STOP)  # never blocks for long: the thread drains the queue even after a failure
            thread.join()
        if raise_errors:
            self.check()

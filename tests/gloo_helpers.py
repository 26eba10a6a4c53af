"""Run a function on N CPU processes joined by a gloo process group, and leave cleanly.

Tearing a gloo group down can deadlock: destroying it (for example when the last DDP reducer
is freed at function exit) joins gloo's worker threads while holding the GIL, and a worker
still releasing a Python-owned tensor then waits for the GIL forever. That hung loaded test
machines. So each rank meets the others at a barrier once its results are written and leaves
with ``os._exit(0)``, without destroying the group; on an error it tears down and re-raises
so ``mp.spawn`` reports it.
"""
from __future__ import annotations

import datetime
import os
import socket
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_entry(rank: int, fn: Callable[..., Any], port: int, world: int, timeout_s: float, args: tuple) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=timeout_s))
    try:
        torch.set_num_threads(1)
        fn(rank, *args)
        dist.barrier()  # every rank has written its results
    except BaseException:
        dist.destroy_process_group()
        raise
    os._exit(0)


def spawn_gloo(fn: Callable[..., Any], *args: Any, world: int = 2, timeout_s: float = 120) -> None:
    """``fn(rank, *args)`` on ``world`` processes; ``fn`` must be a module-level function."""
    mp.spawn(_rank_entry, args=(fn, free_port(), world, timeout_s, args), nprocs=world, join=True)

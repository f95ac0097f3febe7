"""Shared helpers of the multi-process tests: a free loopback port and gloo ranks spawned with a deadline."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
import torch.multiprocessing as mp

#: Seconds between checks of the spawned ranks.
_POLL_S = 5


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for MASTER_PORT)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn_ranks(worker: Callable[..., Any], args: tuple, nprocs: int, timeout_s: float) -> None:
    """Run ``worker(rank, *args)`` in ``nprocs`` spawned processes; kill them and fail after ``timeout_s``."""
    context = mp.start_processes(worker, args=args, nprocs=nprocs, join=False, start_method="spawn")
    deadline = time.monotonic() + timeout_s
    while not context.join(timeout=_POLL_S):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"the {nprocs} DDP ranks did not finish within {timeout_s} s")

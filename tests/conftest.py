"""Shared test fixtures."""
from __future__ import annotations

import socket

import pytest
import torch


def free_port() -> str:
    """A TCP port nobody listens on now, for a launcher's rendezvous (two launches must not share 29500)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for modules of tiny networks: on shared cores OpenMP threads mostly wait on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# The CLI entry point, reporting the world size it was started in (rank 0, on stderr).
LAUNCHED = """
import sys
from genlab.cli.main import main
from genlab.sharding import process_rank
rank, world = process_rank()
if rank == 0:
    print("WORLD", world, file=sys.stderr)
"""


def world_of(stderr: str) -> int:
    """The world size a LAUNCHED script reported on stderr (0 when it did not)."""
    lines = [line for line in stderr.splitlines() if line.startswith("WORLD ")]
    return int(lines[0].split()[1]) if lines else 0

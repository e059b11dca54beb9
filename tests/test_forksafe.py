"""intel's parallel loops must not kill processes forked afterwards (multiprocessing's default on Linux)."""

from __future__ import annotations

import multiprocessing as mp
import sys

import numpy as np
import pytest

import intel


def _child(queue):
    # the child runs a parallel loop too: that is where GNU OpenMP aborts a forked process
    inc = intel.make_synthetic(n_background=300, hotspots=1, random_state=0)
    scores = intel.score_gistar(inc, cell_size_m=500, permutations=99, random_state=0)
    queue.put(float(scores["n"].sum()))


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method is Linux's default")
def test_fork_after_parallel_gistar_permutations():
    inc = intel.make_synthetic(n_background=300, hotspots=1, random_state=0)
    intel.score_gistar(inc, cell_size_m=500, permutations=99, random_state=0)  # runs numba parallel loops
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    assert queue.get(timeout=5) == 600.0

"""The thread policy (utils/threads.py): threads per product from its size, idle cores from the machine's load,
and the pools set at run time."""
import os

import numpy as np
import pytest

from numnet.utils import threads as T


def test_small_products_get_one_thread_and_large_ones_more():
    assert T.product_threads(64, 784, 30, 16) == 1          # Nielsen's [784,30,10] at batch 64: 3 MFLOP
    assert T.product_threads(10, 784, 100, 16) == 1
    assert T.product_threads(128, 784, 800, 4) == 4          # C's first product: 160 MFLOP
    assert T.product_threads(256, 2048, 2048, 16) == 16      # D's hidden product: 2.1 GFLOP, all threads
    assert T.product_threads(256, 2048, 2048, 3) == 3        # never more than asked
    assert T.network_threads([784, 30, 10], 10, 16) == 1
    assert T.network_threads([784, 2048, 2048, 10], 256, 8) == 8


def test_busy_cores_reads_the_machines_load(monkeypatch):
    ticks = iter([(100, 1000), (100 + 150, 1000 + 200)])  # 150 of 200 jiffies busy: 0.75 of the machine
    monkeypatch.setattr(T, "_cpu_times", lambda: next(ticks))
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert T.busy_cores(0.0) == pytest.approx(3.0)
    monkeypatch.setattr(T, "_cpu_times", lambda: None)  # not Linux: the load average
    monkeypatch.setattr(os, "getloadavg", lambda: (1.5, 1.0, 1.0))
    assert T.busy_cores(0.0) == 1.5


@pytest.mark.parametrize("busy, cores, expected", [(0.0, 2, 2), (0.9, 2, 1), (1.0, 2, 1), (1.7, 2, 1), (5.0, 2, 1),
                                                   (0.2, 16, 16), (3.1, 16, 13)])
def test_default_threads_leaves_the_busy_cores_alone(monkeypatch, busy, cores, expected):
    monkeypatch.setattr(T, "busy_cores", lambda sample_s=0: busy)
    monkeypatch.setattr(T, "usable_cores", lambda: cores)
    assert T.default_threads() == expected


def test_resolve_honours_a_request_and_skips_sampling_for_small_networks(monkeypatch):
    def never(sample_s=0):
        raise AssertionError("sampled the machine for a network that cannot use threads")

    monkeypatch.setattr(T, "busy_cores", never)
    assert T.resolve(3) == 3
    assert T.resolve(None, [784, 30, 10], 10) == 1
    monkeypatch.setattr(T, "busy_cores", lambda sample_s=0: 1.0)
    monkeypatch.setattr(T, "usable_cores", lambda: 4)
    assert T.resolve(None, [784, 2048, 2048, 10], 256) == 3


def test_limited_sets_the_blas_pool_and_restores_it():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    np.ones((4, 4)) @ np.ones((4, 4))  # NumPy's BLAS loaded

    def blas():
        return {p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"}

    before = blas()
    with T.limited(1):
        assert blas() == {1}
    assert blas() == before
    bt = T.BlasThreads()
    bt.set(1)
    assert blas() == {1} and bt.current == 1
    bt.set(max(before))
    assert blas() == before

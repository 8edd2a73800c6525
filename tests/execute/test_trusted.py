"""run_bounded: the trusted side's own work under a wall-clock limit and a memory cap, in a fork
of the harness; the run goes on whatever the work does."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from cadbench.execute.trusted import (OK, TRUSTED_ERROR, TRUSTED_MEMORY, TRUSTED_TIMEOUT,
                                      BoundedResult, run_bounded)


def add(a, b):
    return {"sum": a + b, "pid": os.getpid()}


def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "done"


def allocate(mb):
    return float(np.ones(mb * 1024 * 1024 // 8).sum())


def fail():
    raise KeyError("no such metric")


def not_json():
    return object()


def test_ok_returns_the_value_from_another_process():
    r = run_bounded(add, (2, 3))
    assert isinstance(r, BoundedResult) and r.status == OK and r.error is None
    assert r.value["sum"] == 5 and r.value["pid"] != os.getpid()


def test_arguments_need_no_serialisation():
    mesh = np.arange(30.0).reshape(10, 3)  # inherited through the fork, not pickled
    r = run_bounded(lambda m: float(m.sum()), (mesh,))
    assert r.status == OK and r.value == pytest.approx(435.0)


def test_over_the_time_bound_is_killed():
    t0 = time.perf_counter()
    r = run_bounded(spin, (60,), timeout_s=0.5)
    assert r.status == TRUSTED_TIMEOUT and "0.5 s" in r.error
    assert time.perf_counter() - t0 < 10  # killed, not waited for


def test_within_the_time_bound_finishes():
    r = run_bounded(spin, (0.1,), timeout_s=20)
    assert r.status == OK and r.value == "done"


def test_over_the_memory_bound_is_reported():
    r = run_bounded(allocate, (2048,), memory_mb=256)
    assert r.status == TRUSTED_MEMORY and "256 MiB" in r.error, r


def test_within_the_memory_bound_allocates():
    r = run_bounded(allocate, (64,), memory_mb=512)
    assert r.status == OK and r.value == pytest.approx(64 * 1024 * 1024 // 8)


def test_an_exception_is_a_trusted_error():
    r = run_bounded(fail)
    assert r.status == TRUSTED_ERROR and "KeyError" in r.error and "no such metric" in r.error


def test_a_value_that_is_not_json_is_a_trusted_error():
    r = run_bounded(not_json)
    assert r.status == TRUSTED_ERROR and "JSON" in r.error


def test_a_crash_is_a_trusted_error():
    r = run_bounded(os.abort)
    assert r.status == TRUSTED_ERROR and "SIGABRT" in r.error


def test_the_harness_memory_is_untouched():
    """The fork's allocations never show in this process."""
    before = open("/proc/self/statm").read().split()[1]
    r = run_bounded(allocate, (200,), memory_mb=512)
    assert r.status == OK
    after = open("/proc/self/statm").read().split()[1]
    assert int(after) - int(before) < 50 * 1024 * 1024 // os.sysconf("SC_PAGE_SIZE")

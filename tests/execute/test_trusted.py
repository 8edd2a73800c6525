"""run_bounded and BoundedWorker: the trusted side's own work under a wall-clock limit and a
memory cap, in a fork of the harness (one per call, or one serving many); the run goes on
whatever the work does."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from cadbench.execute.trusted import (OK, TRUSTED_ERROR, TRUSTED_MEMORY, TRUSTED_TIMEOUT,
                                      BoundedResult, BoundedWorker, run_bounded)


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


# ---------------------------------------------------------------- BoundedWorker: one fork, many calls

@pytest.fixture
def worker():
    w = BoundedWorker(memory_mb=256)
    yield w
    w.close()


def test_worker_serves_calls_from_one_fork(worker):
    first, second = worker.run(add, (2, 3)), worker.run(add, (4, 5))
    assert first.status == second.status == OK
    assert first.value["sum"] == 5 and second.value["sum"] == 9
    assert first.value["pid"] == second.value["pid"] != os.getpid()


def test_worker_over_the_time_bound_is_killed_and_replaced(worker):
    before = worker.run(add, (1, 1)).value["pid"]
    t0 = time.perf_counter()
    r = worker.run(spin, (60,), timeout_s=0.5)
    assert r.status == TRUSTED_TIMEOUT and "0.5 s" in r.error
    assert time.perf_counter() - t0 < 10
    after = worker.run(add, (1, 1))
    assert after.status == OK and after.value["pid"] != before


def test_worker_over_the_memory_bound_is_reported(worker):
    r = worker.run(allocate, (2048,))
    assert r.status == TRUSTED_MEMORY and "256 MiB" in r.error, r
    assert worker.run(add, (1, 2)).status == OK


def test_worker_errors_and_crashes_are_trusted_errors(worker):
    pid = worker.run(add, (0, 0)).value["pid"]
    r = worker.run(fail)
    assert r.status == TRUSTED_ERROR and "no such metric" in r.error
    assert worker.run(add, (0, 0)).value["pid"] == pid  # an exception keeps the fork
    assert worker.run(not_json).status == TRUSTED_ERROR
    crash = worker.run(os.abort)
    assert crash.status == TRUSTED_ERROR and "SIGABRT" in crash.error
    assert worker.run(add, (0, 0)).status == OK  # a fresh fork after the crash


def test_worker_status_does_not_depend_on_what_ran_before(worker):
    """A fork that grew is replaced, and an out-of-memory call in a used fork is retried in
    a fresh one: what fits a fresh fork fits whatever ran before."""
    fresh = worker.run(allocate, (180,))
    assert fresh.status == OK
    for _ in range(3):
        worker.run(allocate, (50,))
        assert worker.run(allocate, (180,)).status == OK


def test_worker_keeps_the_harness_memory_untouched(worker):
    before = open("/proc/self/statm").read().split()[1]
    assert worker.run(allocate, (200,)).status == OK
    after = open("/proc/self/statm").read().split()[1]
    assert int(after) - int(before) < 50 * 1024 * 1024 // os.sysconf("SC_PAGE_SIZE")


def test_worker_dies_with_the_harness():
    """The serving fork leaves when the process that made it is gone."""
    import subprocess
    import sys
    script = ("import os, sys; sys.path.insert(0, %r)\n"
              "from cadbench.execute.trusted import BoundedWorker\n"
              "from test_trusted import add\n"
              "w = BoundedWorker(); print(w.run(add, (1, 2)).value['pid'], flush=True)\n"
              "os._exit(0)\n") % os.path.dirname(__file__)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=True)
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail(f"serving fork {pid} outlived its parent")


def test_worker_holds_none_of_the_harness_pipes(worker):
    """The serving fork closes what it inherited: a pipe the harness closes (e.g. a sandbox's
    stdin) reaches EOF although the fork was made while it was open."""
    r, w = os.pipe()
    try:
        assert worker.run(add, (1, 1)).status == OK  # the fork exists now, made with w open
        os.close(w)
        w = None
        import select
        ready, _, _ = select.select([r], [], [], 5.0)
        assert ready and os.read(r, 1) == b""
    finally:
        os.close(r)
        if w is not None:
            os.close(w)

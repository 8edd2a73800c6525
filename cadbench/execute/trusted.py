"""A bound on the trusted side's own work: run a function in a forked copy of this process under
a wall-clock limit and an address-space cap, and get its JSON result back over a pipe.

Checking a prediction's arrays, fusing its components, the validity rule and the metrics all
run on arrays a candidate chose, so a pathological mesh (10,000 overlapping boxes, millions of
stray vertices) could otherwise cost the harness unbounded time or memory. The fork shares the
harness's memory copy-on-write (its arguments need no serialisation); only the small result
crosses back. Nothing untrusted runs in the child: it is the harness's own code on checked
arrays, bounded because its cost depends on them."""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

OK = "ok"
TRUSTED_TIMEOUT = "trusted_timeout"
TRUSTED_MEMORY = "trusted_memory"
TRUSTED_ERROR = "trusted_error"
BOUNDED_STATUSES = (OK, TRUSTED_TIMEOUT, TRUSTED_MEMORY, TRUSTED_ERROR)
MAX_RESULT_BYTES = 64 << 20
_MEMORY_EXIT = 71   # the child ran out of its address space (MemoryError, bad_alloc)
_ERROR_EXIT = 72    # fn raised something else


@dataclass(frozen=True)
class BoundedResult:
    status: str               # one of BOUNDED_STATUSES
    value: Any = None         # fn's return value (after a JSON round trip) when status == "ok"
    error: str | None = None  # what went wrong otherwise
    duration_s: float = 0.0


def _vsz_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "bad_alloc" in str(exc) or "OutOfMemory" in type(exc).__name__


def _child(fn: Callable, args: tuple, memory_mb: int, w: int) -> None:
    """In the fork: cap the address space relative to what we already map, run, send, exit."""
    code = 0
    try:
        import faulthandler
        faulthandler.disable()  # a crash is reported by its signal, not a dump on our stderr
        cap = _vsz_bytes() + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        data = json.dumps({"value": fn(*args)}, allow_nan=True).encode()
        if len(data) > MAX_RESULT_BYTES:
            raise ValueError(f"result of {len(data)} bytes exceeds {MAX_RESULT_BYTES}")
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the parent
        code = _MEMORY_EXIT if _is_out_of_memory(exc) else _ERROR_EXIT
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        data = json.dumps({"error": tb[:500]}).encode()
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(w, view):]
    except BaseException:  # noqa: BLE001 - the parent is gone or gave up: nothing to tell
        pass
    os._exit(code)


def run_bounded(fn: Callable, args: tuple = (), timeout_s: float = 30.0,
                memory_mb: int = 1024) -> BoundedResult:
    """Run fn(*args) in a fork of this process, at most `timeout_s` seconds of wall clock and
    `memory_mb` MiB of address space beyond what this process maps; fn's result must be JSON
    serialisable. Never raises for what fn does: the status says how it ended."""
    t0 = time.perf_counter()
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError as exc:
        os.close(r)
        os.close(w)
        return BoundedResult(TRUSTED_ERROR, error=f"fork failed: {exc}")
    if pid == 0:  # pragma: no cover - runs in the fork (coverage is not collected there)
        os.close(r)
        _child(fn, args, memory_mb, w)
    os.close(w)
    chunks, size, timed_out = [], 0, False
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([r], [], [], max(left, 0.0))
            if not ready:
                timed_out = True
                break
            chunk = os.read(r, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_RESULT_BYTES + 4096:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
        if timed_out or size > MAX_RESULT_BYTES + 4096:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, wstatus = os.waitpid(pid, 0)
    duration = time.perf_counter() - t0
    if timed_out:
        return BoundedResult(TRUSTED_TIMEOUT, error=f"trusted-side work over its {timeout_s:g} s "
                             "bound", duration_s=duration)
    if os.WIFSIGNALED(wstatus):
        sig = os.WTERMSIG(wstatus)
        # SIGKILL we did not send is the OOM killer; SIGSEGV/SIGABRT after an allocation
        # failure in C++ code (abort on bad_alloc) are counted as errors: say which signal.
        status = TRUSTED_MEMORY if sig == signal.SIGKILL else TRUSTED_ERROR
        return BoundedResult(status, error=f"trusted-side worker killed by {signal.Signals(sig).name}",
                             duration_s=duration)
    try:
        msg = json.loads(b"".join(chunks))
    except ValueError:
        return BoundedResult(TRUSTED_ERROR, error="trusted-side worker sent no result "
                             f"(exit code {os.WEXITSTATUS(wstatus)})", duration_s=duration)
    code = os.WEXITSTATUS(wstatus)
    if code == _MEMORY_EXIT:
        return BoundedResult(TRUSTED_MEMORY, error=f"trusted-side work over its {memory_mb} MiB "
                             f"bound ({msg.get('error')})", duration_s=duration)
    if code != 0 or "error" in msg:
        return BoundedResult(TRUSTED_ERROR, error=str(msg.get("error")), duration_s=duration)
    return BoundedResult(OK, value=msg.get("value"), duration_s=duration)

"""A bound on the trusted side's own work: run a function in a forked copy of this process under
a wall-clock limit and an address-space cap, and get its JSON result back over a pipe.

Checking a prediction's arrays, fusing its components, the validity rule and the metrics all
run on arrays a candidate chose, so a pathological mesh (10,000 overlapping boxes, millions of
stray vertices) could otherwise cost the harness unbounded time or memory. Nothing untrusted
runs in the fork: it is the harness's own code on checked arrays, bounded because its cost
depends on them.

Two forms, with the same bounds and statuses:
- `run_bounded`: a fresh fork per call; its arguments are inherited copy-on-write (no
  serialisation), only the small result crosses back.
- `BoundedWorker`: one long-lived fork that serves call after call (arguments pickled over a
  pipe), so a scoring worker does not pay a fork, an exit and a cold heap per prediction (about
  a fifth of the trusted side's cost on GenCAD-sized parts). A call over its time bound is
  killed with the fork, which is started again for the next call; a call out of memory in a
  fork that had served earlier calls is run again in a fresh one, so the status never depends
  on what ran before."""

from __future__ import annotations

import ctypes
import gc
import json
import os
import pickle
import resource
import select
import signal
import struct
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


def _limit_self(memory_mb: int) -> None:
    """In a fresh fork: cap the address space relative to what we already map, no core dumps."""
    import faulthandler
    faulthandler.disable()  # a crash is reported by its signal, not a dump on our stderr
    cap = _vsz_bytes() + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _call(fn: Callable, args: tuple) -> tuple[int, bytes]:
    """fn(*args) as (exit code, JSON message): {"value": ...} or {"error": "..."}."""
    try:
        data = json.dumps({"value": fn(*args)}, allow_nan=True).encode()
        if len(data) > MAX_RESULT_BYTES:
            raise ValueError(f"result of {len(data)} bytes exceeds {MAX_RESULT_BYTES}")
        return 0, data
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the parent
        code = _MEMORY_EXIT if _is_out_of_memory(exc) else _ERROR_EXIT
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return code, json.dumps({"error": tb[:500]}).encode()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _child(fn: Callable, args: tuple, memory_mb: int, w: int) -> None:
    """In the fork: limit, run, send, exit."""
    try:
        _limit_self(memory_mb)
        code, data = _call(fn, args)
    except BaseException as exc:  # noqa: BLE001 - the limits could not be set
        code, data = _ERROR_EXIT, json.dumps({"error": repr(exc)[:500]}).encode()
    try:
        _write_all(w, data)
    except BaseException:  # noqa: BLE001 - the parent is gone or gave up: nothing to tell
        pass
    os._exit(code)


def _signal_result(sig: int, duration: float) -> BoundedResult:
    # SIGKILL we did not send is the OOM killer; SIGSEGV/SIGABRT after an allocation failure in
    # C++ code (abort on bad_alloc) are counted as errors: say which signal.
    status = TRUSTED_MEMORY if sig == signal.SIGKILL else TRUSTED_ERROR
    return BoundedResult(status, error=f"trusted-side worker killed by {signal.Signals(sig).name}",
                         duration_s=duration)


def _message_result(code: int, data: bytes, memory_mb: int, duration: float) -> BoundedResult:
    try:
        msg = json.loads(data)
    except ValueError:
        return BoundedResult(TRUSTED_ERROR, error="trusted-side worker sent no result "
                             f"(exit code {code})", duration_s=duration)
    if code == _MEMORY_EXIT:
        return BoundedResult(TRUSTED_MEMORY, error=f"trusted-side work over its {memory_mb} MiB "
                             f"bound ({msg.get('error')})", duration_s=duration)
    if code != 0 or "error" in msg:
        return BoundedResult(TRUSTED_ERROR, error=str(msg.get("error")), duration_s=duration)
    return BoundedResult(OK, value=msg.get("value"), duration_s=duration)


def _timeout_result(timeout_s: float, duration: float) -> BoundedResult:
    return BoundedResult(TRUSTED_TIMEOUT, error=f"trusted-side work over its {timeout_s:g} s bound",
                         duration_s=duration)


def _read(fd: int, size: int | None, deadline: float) -> tuple[bytes, bool]:
    """Up to `size` bytes (None: until EOF, at most MAX_RESULT_BYTES + 4096) before the
    deadline; (data, timed_out). Fewer bytes than asked: the writer is gone."""
    limit = MAX_RESULT_BYTES + 4096 if size is None else size
    chunks: list[bytes] = []
    got = 0
    while got < limit:
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0.0))
        if not ready:
            return b"".join(chunks), True
        chunk = os.read(fd, min(1 << 20, limit - got) if size is not None else 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks), False


def _kill_and_reap(pid: int) -> int:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return os.waitpid(pid, 0)[1]


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
    try:
        data, timed_out = _read(r, None, time.monotonic() + timeout_s)
    finally:
        os.close(r)
    overflow = len(data) > MAX_RESULT_BYTES + 4096 - 1
    wstatus = _kill_and_reap(pid) if timed_out or overflow else os.waitpid(pid, 0)[1]
    duration = time.perf_counter() - t0
    if timed_out:
        return _timeout_result(timeout_s, duration)
    if os.WIFSIGNALED(wstatus):
        return _signal_result(os.WTERMSIG(wstatus), duration)
    return _message_result(os.WEXITSTATUS(wstatus), data, memory_mb, duration)


# ---------------------------------------------------------------- one fork for many calls

_FRAME = struct.Struct("<iiQ")   # (exit code or 0, 1 if the fork leaves after it, length)
# A serving fork whose address space grew by more than this share of its bound since it
# started is replaced before the next call (retained heap must not eat the next call's room).
REPLACE_AFTER_GROWTH = 0.25
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def _keep_heap() -> None:
    """glibc: serve large allocations from the heap and keep freed memory there. The metrics
    allocate and free many arrays of a few MB; by default each one is a fresh mmap whose pages
    fault in again, which cost as much CPU as the arithmetic. (The address-space cap still
    bounds the heap.)"""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(M_MMAP_THRESHOLD, 1 << 30)
        libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
    except (OSError, AttributeError):
        pass


def _serve(req_r: int, res_w: int, memory_mb: int) -> None:  # pragma: no cover - in the fork
    """The serving fork: read (fn, args), answer, until EOF; leave after an out-of-memory call
    (its heap is spent) and once grown past REPLACE_AFTER_GROWTH of the bound."""
    code = 0
    try:
        gc.collect()  # finalisers of garbage inherited from the parent run now, not later
        for fd in map(int, os.listdir("/proc/self/fd")):
            if fd > 2 and fd not in (req_r, res_w):
                try:  # the parent's pipes to its sandboxes: their EOF must not wait for us
                    os.close(fd)
                except OSError:
                    pass
        _die_with_parent()
        _limit_self(memory_mb)
        _keep_heap()
        base = _vsz_bytes()
        while True:
            head = os.read(req_r, 8)
            if len(head) < 8:
                break
            (size,) = struct.unpack("<Q", head)
            data = _read(req_r, size, time.monotonic() + 60.0)[0]
            fn, args = pickle.loads(data)
            del data
            code, reply = _call(fn, args)
            del fn, args
            grown = _vsz_bytes() - base > REPLACE_AFTER_GROWTH * memory_mb * 1024 * 1024
            leave = code == _MEMORY_EXIT or grown
            _write_all(res_w, _FRAME.pack(code, int(leave), len(reply)) + reply)
            if leave:
                break
    except BaseException:  # noqa: BLE001 - the parent sees EOF and reports what it can
        code = _ERROR_EXIT
    os._exit(code)


def _die_with_parent() -> None:
    from .isolation import die_with_parent
    die_with_parent()
    if os.getppid() == 1:  # the parent died before the signal was armed
        os._exit(0)


class BoundedWorker:
    """run_bounded's bounds and statuses, kept by one long-lived fork of this process that
    serves call after call (fn must be picklable by reference, args picklable).

    The fork is made at the first call (fork it after warming up, so it inherits the imports),
    replaced after a timeout, a crash, an out-of-memory call, or once its address space grew by
    REPLACE_AFTER_GROWTH of `memory_mb`; it dies with this process. A call that runs out of
    memory in a fork that had served others is run again in a fresh one before it counts."""

    def __init__(self, memory_mb: int = 1024):
        self.memory_mb = int(memory_mb)
        self.pid: int | None = None
        self._to: int | None = None
        self._from: int | None = None
        self.calls = 0

    def _start(self) -> None:
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the fork
            os.close(req_w)
            os.close(res_r)
            _serve(req_r, res_w, self.memory_mb)
        os.close(req_r)
        os.close(res_w)
        self.pid, self._to, self._from, self.calls = pid, req_w, res_r, 0

    def close(self) -> None:
        """Stop the fork (it also stops by itself when this process dies)."""
        if self.pid is not None:
            self._gone()

    def _gone(self) -> int:
        """The fork ended (or must): close its pipes, reap it, return its wait status."""
        assert self.pid is not None
        for fd in (self._to, self._from):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        wstatus = _kill_and_reap(self.pid)
        self.pid = self._to = self._from = None
        return wstatus

    def run(self, fn: Callable, args: tuple = (), timeout_s: float = 30.0) -> BoundedResult:
        """fn(*args) in the serving fork under `timeout_s` seconds of wall clock and the
        fork's memory bound. Never raises for what fn does."""
        result = self._run_once(fn, args, timeout_s)
        if result.status == TRUSTED_MEMORY and not result.fresh:
            result = self._run_once(fn, args, timeout_s)  # a fresh fork decides
        return result.result

    def _run_once(self, fn: Callable, args: tuple, timeout_s: float) -> "_Attempt":
        try:
            payload = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - a harness bug, reported as such
            return _Attempt(BoundedResult(TRUSTED_ERROR, error=f"cannot send the call: {exc!r}"),
                            True)
        t0 = time.perf_counter()
        if self.pid is None:
            try:
                self._start()
            except OSError as exc:
                return _Attempt(BoundedResult(TRUSTED_ERROR, error=f"fork failed: {exc}"), True)
        fresh = self.calls == 0
        self.calls += 1
        deadline = time.monotonic() + timeout_s
        assert self._to is not None and self._from is not None
        try:
            _write_all(self._to, struct.pack("<Q", len(payload)) + payload)
        except OSError:  # the fork left after its last call (grown, or died): a fresh one
            self._gone()
            return self._run_once(fn, args, timeout_s) if not fresh else _Attempt(
                BoundedResult(TRUSTED_ERROR, error="trusted-side worker did not start"), True)
        head, timed_out = _read(self._from, _FRAME.size, deadline)
        body = b""
        if not timed_out and len(head) == _FRAME.size:
            code, leaving, size = _FRAME.unpack(head)
            body, timed_out = _read(self._from, size, deadline)
        duration = time.perf_counter() - t0
        if timed_out:
            self._gone()
            return _Attempt(_timeout_result(timeout_s, duration), fresh)
        if len(head) < _FRAME.size or len(body) < size:  # it died mid-call
            wstatus = self._gone()
            if os.WIFSIGNALED(wstatus):
                return _Attempt(_signal_result(os.WTERMSIG(wstatus), duration), fresh)
            return _Attempt(_message_result(os.WEXITSTATUS(wstatus), b"", self.memory_mb,
                                            duration), fresh)
        if leaving:  # out of memory, or grown: it exits after this answer
            self._gone()
        return _Attempt(_message_result(code, body, self.memory_mb, duration), fresh)


@dataclass(frozen=True)
class _Attempt:
    result: BoundedResult
    fresh: bool

    @property
    def status(self) -> str:
        return self.result.status

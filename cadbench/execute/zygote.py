"""The warm worker ("zygote"): imports cadquery once, then forks one limited child per candidate.

Started by sandbox.Sandbox as `python -m cadbench.execute.zygote BASE_DIR` with a minimal
environment. Protocol over its stdin/stdout, one JSON object per line:
  -> {"code": str, "config": ExecConfig fields}
  <- {"status", "error", "picked_by", "volume", "n_solids", "workdir", "isolation", ...}
It never runs candidate code itself; it is a subreaper so that no descendant of a candidate
(even one that called setsid) outlives the candidate."""

from __future__ import annotations

import json
import os
import select
import signal
import stat
import sys
import tempfile
import time
import traceback

# The warm worker must not have OCC worker threads when it forks (a child forked after OCC ran
# a parallel boolean hung): one thread in OCC's pool, booleans and meshing sequential.
from OCP.BOPAlgo import BOPAlgo_Options
from OCP.OSD import OSD_Parallel, OSD_ThreadPool

OSD_Parallel.SetUseOcctThreads_s(True)
OSD_ThreadPool.DefaultPool_s(1)
BOPAlgo_Options.SetParallelMode_s(False)

import cadquery as cq  # noqa: E402  (the expensive import every child inherits)

# Modules a candidate may import. After the uid drop the candidate may not be able to read the
# Python installation (e.g. under a 0700 /root), so import the usual ones here, once, where
# every child inherits them.
PREIMPORTED = ("math", "cmath", "random", "itertools", "functools", "collections", "copy",
               "decimal", "fractions", "statistics", "glob", "hashlib", "json", "re", "string",
               "operator", "typing", "dataclasses", "enum", "numbers", "struct", "textwrap",
               "time", "datetime", "bisect", "heapq", "array", "io", "warnings",
               "encodings.idna", "numpy", "numpy.linalg")
for _name in PREIMPORTED:
    try:
        __import__(_name)
    except ImportError:  # pragma: no cover - an optional module missing is fine
        pass

from ..config import ExecConfig  # noqa: E402
from . import isolation as iso  # noqa: E402
from . import status as S  # noqa: E402
from .child import OUTPUT_FILE, RESULT_FILE, run_in_child  # noqa: E402

MAX_RESULT_JSON = 1 << 20
SETUP_FAILED_EXIT = 70


def warm_up() -> None:
    """Run a boolean and a tessellation once so children inherit initialised OCC state."""
    from ..geometry.tessellate import shape_to_mesh
    part = cq.Workplane("XY").box(1, 1, 1).cut(cq.Workplane("XY").circle(0.2).extrude(2))
    shape = part.val()
    shape.isValid()
    shape.Volume()
    shape_to_mesh(shape)


def candidate_env(workdir: str) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
            "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1"}


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


class Zygote:
    def __init__(self, base_dir: str):
        self.base_dir = base_dir
        self.is_root = os.geteuid() == 0
        self.uid = iso.sandbox_uid(os.getpid())

    # ---- the forked candidate side -------------------------------------------------------
    def _child(self, code: str, cfg: ExecConfig, workdir: str, report_fd: int, drop: bool,
               hide: tuple[str, ...]) -> None:
        """In the forked child: isolate, limit, report what is in force, run the candidate."""
        try:
            os.setsid()
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            out = os.open(os.path.join(workdir, OUTPUT_FILE), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(out, 1)
            os.dup2(out, 2)
            os.closerange(3, report_fd)
            os.closerange(report_fd + 1, 1 << 16)
            os.chdir(workdir)
            os.umask(0o077)
            os.environ.clear()
            os.environ.update(candidate_env(workdir))
            network = "off"
            if cfg.isolate_network:
                network = iso.isolate_network()
                if network == "none":
                    iso.refuse_sockets()
                    network = "python-socket-refusal"
            readonly = False
            if cfg.readonly_filesystem:
                readonly = iso.readonly_filesystem(workdir, hide)
            if drop:
                iso.drop_privileges(self.uid)
            iso.no_new_privs()
            iso.die_with_parent()
            iso.apply_limits(cfg.memory_mb, cfg.cpu_limit_s, limit_processes=os.getuid() != 0)
            info = {"uid": os.getuid(), "network": network, "privileges_dropped": drop,
                    "readonly_filesystem": readonly}
            os.write(report_fd, json.dumps(info).encode() + b"\n")
            os.close(report_fd)
        except BaseException:
            traceback.print_exc()
            os._exit(SETUP_FAILED_EXIT)
        try:
            run_in_child(code, cfg, workdir)
        finally:
            os._exit(0)  # no atexit handlers, no lingering candidate threads

    # ---- the supervising side ------------------------------------------------------------
    def run(self, code: str, cfg: ExecConfig, hide: tuple[str, ...] = ()) -> dict:
        t0 = time.perf_counter()
        workdir = tempfile.mkdtemp(prefix="c-", dir=self.base_dir)
        drop = cfg.drop_privileges and self.is_root
        if drop:
            os.chown(workdir, self.uid, self.uid)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            self._child(code, cfg, workdir, w, drop, hide)
        os.close(w)
        reply = self._supervise(pid, cfg, t0)
        reply["isolation"] = self._read_report(r)
        os.close(r)
        reply["workdir"] = workdir
        reply["duration_s"] = time.perf_counter() - t0
        if reply["isolation"] is None and reply["status"] not in (S.TIMEOUT, S.MEMORY_LIMIT):
            reply.update(status=S.HARNESS_ERROR, error="sandbox setup failed in the child")
        return reply

    def _supervise(self, pid: int, cfg: ExecConfig, t0: float) -> dict:
        pidfd = os.pidfd_open(pid)
        try:
            remaining = cfg.timeout_s - (time.perf_counter() - t0)
            ready, _, _ = select.select([pidfd], [], [], max(remaining, 0.0))
        finally:
            os.close(pidfd)
        timed_out = not ready
        # Kill the candidate's process group while its pid is still held (zombie or alive), so
        # the group id cannot have been reused.
        for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            try:
                target()
            except ProcessLookupError:
                pass
        _, wstatus, usage = os.wait4(pid, 0)
        self._sweep()
        if timed_out:
            return {"status": S.TIMEOUT, "error": f"wall-clock limit {cfg.timeout_s:g} s"}
        cpu_used = usage.ru_utime + usage.ru_stime
        # ru_maxrss (KiB) includes what the child inherited from us at fork
        grew_mb = (usage.ru_maxrss - self._rss_kib()) / 1024
        return self._interpret(wstatus, cpu_used >= int(cfg.cpu_limit_s + 0.999) - 0.05,
                               grew_mb >= 0.5 * cfg.memory_mb)

    @staticmethod
    def _rss_kib() -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    @staticmethod
    def _interpret(wstatus: int, cpu_exhausted: bool, memory_grew: bool) -> dict:
        if os.WIFSIGNALED(wstatus):
            sig = os.WTERMSIG(wstatus)
            if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_exhausted):
                return {"status": S.TIMEOUT, "error": "CPU time limit"}
            if sig == signal.SIGKILL and memory_grew:  # not sent by us: the kernel's OOM killer
                return {"status": S.MEMORY_LIMIT, "error": "killed (SIGKILL) after using most of its memory"}
            return {"status": S.CRASHED, "error": _signal_name(sig)}
        code = os.WEXITSTATUS(wstatus)
        return {"status": None, "exit_code": code}  # filled from result.json by _finish

    def _read_report(self, fd: int):
        try:
            data = os.read(fd, 4096)
            return json.loads(data.decode()) if data.strip() else None
        except (OSError, ValueError):
            return None

    def _sweep(self) -> None:
        """Kill every remaining descendant. As a subreaper we inherit all orphans, so when we
        have no child left no descendant is alive."""
        for _ in range(1000):
            try:
                while True:
                    pid, _ = os.waitpid(-1, os.WNOHANG)
                    if pid == 0:
                        break
            except ChildProcessError:
                return  # no children at all
            me = os.getpid()
            for child in _children_of(me):
                try:
                    os.killpg(child, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    os.kill(child, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.001)

    def serve(self, inp, out) -> None:
        out.write(json.dumps({"ready": True, "pid": os.getpid(), "root": self.is_root}) + "\n")
        out.flush()
        for line in inp:
            if not line.strip():
                continue
            try:
                req = json.loads(line)
                cfg = ExecConfig(**req["config"])
                hide = tuple(str(p) for p in req.get("hide", ()))
                reply = self.run(req["code"], cfg, hide)
                if reply["status"] is None:
                    reply.update(self._finish(reply))
            except Exception as exc:  # a harness fault: report it, keep serving
                reply = {"status": S.HARNESS_ERROR, "error": f"zygote: {type(exc).__name__}: {exc}"[:300]}
            out.write(json.dumps(reply) + "\n")
            out.flush()

    def _finish(self, reply: dict) -> dict:
        """Turn a normal exit into a status using the child's (untrusted) result.json."""
        code = reply.pop("exit_code", 0)
        path = os.path.join(reply["workdir"], RESULT_FILE)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            fd = None
        if fd is None:
            if code == SETUP_FAILED_EXIT and reply.get("isolation") is None:
                return {"status": S.HARNESS_ERROR, "error": "sandbox setup failed in the child"}
            return {"status": S.RUNTIME_ERROR,
                    "error": f"process exited with code {code} before returning a result (os._exit?)"}
        try:
            with os.fdopen(fd, "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    raise ValueError("result.json is not a regular file")
                data = f.read(MAX_RESULT_JSON + 1)
            if len(data) > MAX_RESULT_JSON:
                raise ValueError("result.json too large")
            res = json.loads(data)
            if not isinstance(res, dict) or res.get("status") not in S.ALL_STATUSES:
                raise ValueError("bad status")
        except (OSError, ValueError) as exc:
            # only candidate code can have written a bad result file (child.py writes valid JSON)
            return {"status": S.RUNTIME_ERROR, "error": f"invalid result file (tampered?): {exc}"[:300]}
        keep = {}
        keep["status"] = res["status"]
        keep["error"] = str(res["error"])[:300] if res.get("error") is not None else None
        keep["picked_by"] = str(res["picked_by"])[:100] if res.get("picked_by") is not None else None
        for key, typ in (("volume", float), ("n_solids", int), ("child_s", float), ("brep_valid", bool)):
            try:
                keep[key] = typ(res[key]) if res.get(key) is not None else None
            except (TypeError, ValueError):
                keep[key] = None
        return keep


def _children_of(ppid: int) -> list[int]:
    """Pids whose parent is ppid (scan /proc: this kernel has no /proc/PID/task/TID/children)."""
    kids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == ppid:
            kids.append(int(name))
    return kids


def main() -> None:
    base_dir = sys.argv[1]
    iso.set_child_subreaper()
    warm_up()
    # Our stdout is the protocol pipe: keep Python's sys.stdout on it, print nothing else.
    try:
        Zygote(base_dir).serve(sys.stdin, sys.stdout)
    except BrokenPipeError:  # the harness went away mid-candidate
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # so the final flush at exit is quiet
    finally:
        # stdin closed or the harness gone: leave nothing behind.
        iso.remove_tree(base_dir)


if __name__ == "__main__":
    main()

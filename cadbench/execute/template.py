"""The template: a clean copy of the warm worker that forks every candidate.

The zygote forks the template right after its warm-up, before it has read any request, so the
template's memory never holds a reference or a candidate program: a candidate forked from it
inherits cadquery's initialised state and nothing else (freed heap of earlier programs
included). The template is told only where and how to run the next candidate (config, folder,
uid) over a Unix socket, with two pipe ends passed alongside (SCM_RIGHTS): the one the candidate
reads its code from, which the zygote fills only after the fork, and the one it reports its
isolation on. It supervises the candidate (wall clock, wait status, rusage) and answers with
numbers only; it never reads anything the candidate wrote.

Protocol on the socket (one JSON datagram each):
  -> {"config", "workdir", "hide", "drop", "geometry"} + fds [code_r, report_w]
     ("geometry": [file name in workdir, format] when the candidate parses a geometry file
     the zygote copied into its folder instead of running code; else null)
  <- {"event": "forked", "pid"}
  <- {"event": "done", "timed_out", "wstatus", "cpu_s", "maxrss_kib", "base_rss_kib",
      "pid_namespace"}
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import time
import traceback

from ..config import ExecConfig
from . import isolation as iso
from . import rootfs
from .child import OUTPUT_FILE, run_in_child

SETUP_FAILED_EXIT = 70
MAX_CODE_BYTES = 16 << 20  # a candidate program longer than this is refused (it is cut off)
INIT_SLACK_S = 60.0        # the namespace's init outlives the candidate's timeout by this much


def candidate_env(workdir: str) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
            "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1"}


def read_code(fd: int) -> str:
    chunks, size = [], 0
    while size <= MAX_CODE_BYTES:
        data = os.read(fd, 1 << 16)
        if not data:
            break
        chunks.append(data)
        size += len(data)
    return b"".join(chunks)[:MAX_CODE_BYTES].decode("utf-8", "surrogatepass")


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Template:
    def __init__(self, sock: socket.socket, uid: int, root_plan: rootfs.RootPlan | None):
        self.sock = sock
        self.uid = uid
        self.root_plan = root_plan
        self.pidns = iso.PidNamespaces()

    def serve(self) -> None:
        while True:
            try:
                msg, fds, _, _ = socket.recv_fds(self.sock, 1 << 20, 2)
            except (ConnectionError, OSError):
                return
            if not msg:
                return  # the zygote went away
            try:
                req = json.loads(msg)
                cfg = ExecConfig(**req["config"])
                self.sock.send(json.dumps(self.run(req, cfg, fds)).encode())
            except Exception as exc:  # a fault of ours: say so; the zygote makes it harness_error
                for fd in fds:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                self.sock.send(json.dumps({"event": "done", "error": f"template: {exc!r}"[:300]})
                               .encode())

    def run(self, req: dict, cfg: ExecConfig, fds: list[int]) -> dict:
        code_r, report_w = fds
        t0 = time.perf_counter()
        init = self.pidns.new(cfg.timeout_s + INIT_SLACK_S) if self.pidns.available else None
        try:
            pid = self.pidns.fork_into(init) if init is not None else os.fork()
        except BaseException:
            if init is not None:
                self.pidns.kill(init)
            raise
        if pid == 0:
            self.sock.close()
            geometry = req.get("geometry")
            candidate_main(cfg, req["workdir"], tuple(req["hide"]), bool(req["drop"]), self.uid,
                           self.root_plan, code_r, report_w, init is not None,
                           (str(geometry[0]), str(geometry[1])) if geometry else None)
        os.close(code_r)
        os.close(report_w)
        base_rss = rss_kib()
        self.sock.send(json.dumps({"event": "forked", "pid": pid}).encode())
        timed_out, wstatus, usage = self._supervise(pid, cfg.timeout_s - (time.perf_counter() - t0))
        if init is not None:
            self.pidns.kill(init)  # every process left in the namespace dies with it
        else:
            sweep()
        return {"event": "done", "timed_out": timed_out, "wstatus": wstatus,
                "cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kib": usage.ru_maxrss,
                "base_rss_kib": base_rss, "pid_namespace": init is not None}

    @staticmethod
    def _supervise(pid: int, remaining: float):
        pidfd = os.pidfd_open(pid)
        try:
            ready, _, _ = select.select([pidfd], [], [], max(remaining, 0.0))
        finally:
            os.close(pidfd)
        # Kill the candidate's process group while its pid is still held (zombie or alive), so
        # the group id cannot have been reused.
        for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            try:
                target()
            except ProcessLookupError:
                pass
        _, wstatus, usage = os.wait4(pid, 0)
        return not ready, wstatus, usage


def sweep() -> None:
    """Fallback without pid namespaces: kill every remaining descendant. As a subreaper we
    inherit all orphans, so when we have no child left no descendant is alive."""
    for _ in range(1000):
        try:
            while True:
                pid, _ = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
        except ChildProcessError:
            return  # no children at all
        for child in _children_of(os.getpid()):
            try:
                os.killpg(child, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.001)


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


def candidate_main(cfg: ExecConfig, workdir: str, hide: tuple[str, ...], drop: bool, uid: int,
                   root_plan: rootfs.RootPlan | None, code_r: int, report_w: int,
                   pid_namespace: bool, geometry: tuple[str, str] | None = None) -> None:
    """In the forked candidate: isolate, limit, report what is in force, read the code from the
    pipe (sent only now), run it. Never returns."""
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        out = os.open(os.path.join(workdir, OUTPUT_FILE), os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                      0o600)
        os.dup2(out, 1)
        os.dup2(out, 2)
        keep = sorted((code_r, report_w))
        os.closerange(3, keep[0])
        os.closerange(keep[0] + 1, keep[1])
        os.closerange(keep[1] + 1, 1 << 16)
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
        root_view, readonly = "host", False
        if cfg.readonly_filesystem and root_plan is not None:
            rootfs.enter(root_plan.hiding(hide), workdir)
            root_view, readonly = "minimal", True
        elif cfg.readonly_filesystem:
            readonly = iso.readonly_filesystem(workdir, hide)
        if drop:
            iso.drop_privileges(uid)
        iso.no_new_privs()
        iso.die_with_parent()
        iso.apply_limits(cfg.memory_mb, cfg.cpu_limit_s, limit_processes=os.getuid() != 0)
        info = {"uid": os.getuid(), "network": network, "privileges_dropped": drop,
                "readonly_filesystem": readonly, "root_view": root_view,
                "pid_namespace": pid_namespace}
        os.write(report_w, json.dumps(info).encode() + b"\n")
        os.close(report_w)
        code = read_code(code_r)
        os.close(code_r)
    except BaseException:
        traceback.print_exc()
        os._exit(SETUP_FAILED_EXIT)
    try:
        run_in_child(code, cfg, workdir, geometry)
    finally:
        os._exit(0)  # no atexit handlers, no lingering candidate threads


def start(uid: int, root_plan: rootfs.RootPlan | None) -> tuple[socket.socket, int]:
    """Fork the template (call right after warm-up, before any request). Returns the zygote's end
    of the socket and the template's pid."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        try:
            ours.close()
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, 0)  # not the harness's protocol pipe: only the zygote talks to it
            os.dup2(devnull, 1)
            iso.die_with_parent()
            iso.set_child_subreaper()
            Template(theirs, uid, root_plan).serve()
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(0)
    theirs.close()
    return ours, pid

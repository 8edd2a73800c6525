"""The hatchery: one clean process that imports cadquery once and forks a warm worker
(zygote.py) for each Sandbox that asks, so that a run's sandboxes do not each start an
interpreter that imports cadquery again (2-2.5 s of CPU apiece; a cold run with 2 workers
starts four: a reference and a candidate sandbox per worker).

    hatchery.ensure_started()                   # the harness, before its workers start
    proc = hatchery.hatch(base, mesh_readers, env)   # Sandbox: None where none answers

What it holds, and who may ask:
- The hatchery never receives a program, a reference or a geometry file: a request is a
  sandbox's folder, whether it reads mesh files, its environment, and the two pipe ends the
  zygote will talk on (passed as file descriptors). A hatched zygote is the hatchery's fork:
  the imports and the fixed address layout a zygote started on its own has, nothing more.
- It answers only its own user, and never a process that descends from it: every zygote,
  template and candidate does (checked with SO_PEERCRED and /proc). Its socket lies in a 0700
  folder, which no candidate's root view shows, and candidates cannot make sockets anyway
  (isolation.refuse_sockets).
- It dies with the harness process that started it (PR_SET_PDEATHSIG); zygotes it hatched end
  as before, when their Sandbox closes or dies (EOF on their stdin).
Where no hatchery answers (not started, another machine's Dask worker, dead), a Sandbox
starts its zygote as a fresh interpreter, as before: the same zygote, only slower to start.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ENV_VAR = "CADBENCH_HATCHERY"      # the socket's path, for the harness's worker processes
SOCKET_NAME = "socket"
ACCEPT_TIMEOUT_S = 180.0           # a request waits for the hatchery's own start-up at most
MAX_REQUEST_BYTES = 1 << 16
HATCH_FAILED_EXIT = 70

_process: subprocess.Popen | None = None
_folder: str | None = None


# ---- the harness's side ----------------------------------------------------------------
def ensure_started() -> str | None:
    """Start this process's hatchery unless one runs; returns its socket path (also put in
    os.environ[ENV_VAR], so worker processes started after this call find it), or None where
    it cannot run (not Linux). Returns at once: the hatchery imports cadquery in the
    background, and a request made meanwhile waits in the socket's backlog."""
    global _process, _folder
    if _process is not None and _process.poll() is None and _folder is not None:
        return os.path.join(_folder, SOCKET_NAME)
    if not sys.platform.startswith("linux") or not hasattr(os, "pidfd_open"):
        return None
    from .sandbox import BASE_PREFIX, OWNER_FILE, _start_time, remove_stale_base_dirs
    remove_stale_base_dirs()
    folder = tempfile.mkdtemp(prefix=BASE_PREFIX + "hatchery-")   # 0700
    with open(os.path.join(folder, OWNER_FILE), "w") as f:       # swept once we are gone
        f.write(f"{os.getpid()} {_start_time(os.getpid())}\n")
    path = os.path.join(folder, SOCKET_NAME)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        listener.listen(64)
        pkg_root = str(Path(__file__).resolve().parents[2])
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
               "PYTHONPATH": pkg_root, "HOME": folder, "OMP_NUM_THREADS": "1",
               "PYTHONDONTWRITEBYTECODE": "1"}
        _process = subprocess.Popen(
            # fixed-width arguments: the process's first allocations, and with them the heap
            # every hatched zygote inherits (and OCC's meshes), do not vary with their length
            [sys.executable, "-m", "cadbench.execute.hatchery", f"{listener.fileno():06d}",
             f"{os.getpid():012d}"], pass_fds=[listener.fileno()], env=env, cwd=folder,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)
    finally:
        listener.close()
    _folder = folder
    os.environ[ENV_VAR] = path
    atexit.register(stop)
    return path


def stop() -> None:
    """Stop this process's hatchery (zygotes it hatched live on until their Sandbox closes)."""
    global _process, _folder
    proc, folder, _process, _folder = _process, _folder, None, None
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()
    if folder is not None:
        from .isolation import remove_tree
        remove_tree(folder)
        if os.environ.get(ENV_VAR, "").startswith(folder):
            del os.environ[ENV_VAR]


class HatchedProcess:
    """A hatched zygote, with the part of subprocess.Popen's interface a Sandbox uses. It is
    the hatchery's child, not ours: its liveness comes from a pidfd (no pid reuse), and its
    exit status is not ours to read (`returncode` is -1 once it has exited)."""

    def __init__(self, pid: int, pidfd: int, stdin_fd: int, stdout_fd: int):
        self.pid = pid
        self._pidfd = pidfd
        self.stdin = os.fdopen(stdin_fd, "wb")
        self.stdout = os.fdopen(stdout_fd, "rb", buffering=0)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and self._pidfd >= 0:
            ready, _, _ = select.select([self._pidfd], [], [], 0)
            if ready:
                self._exited()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            ready, _, _ = select.select([self._pidfd], [], [], timeout)
            if not ready:
                raise subprocess.TimeoutExpired(f"zygote {self.pid}", timeout or 0)
            self._exited()
        return -1

    def kill(self) -> None:
        if self.returncode is None:
            try:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _exited(self) -> None:
        self.returncode = -1
        os.close(self._pidfd)
        self._pidfd = -1

    def __del__(self) -> None:
        # A Sandbox kept open until the interpreter exits (scoring's per-thread cache): its
        # pipes close here, quietly, as a Popen's do; the zygote then sees EOF and ends.
        for f in (getattr(self, "stdin", None), getattr(self, "stdout", None)):
            try:
                if f is not None:
                    f.close()
            except (OSError, ValueError):
                pass
        if getattr(self, "_pidfd", -1) >= 0:
            try:
                os.close(self._pidfd)
            except OSError:
                pass


def hatch(base: str, mesh_readers: bool, env: dict[str, str]) -> HatchedProcess | None:
    """A zygote for the Sandbox whose folder is `base`, forked by this harness's hatchery;
    None where no hatchery answers (the caller then starts one as its own interpreter)."""
    path = os.environ.get(ENV_VAR)
    if not path or not hasattr(socket, "send_fds"):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    zygote_in, to_zygote = os.pipe()
    from_zygote, zygote_out = os.pipe()
    try:
        sock.settimeout(ACCEPT_TIMEOUT_S)
        sock.connect(path)
        request = json.dumps({"base": base, "mesh_readers": bool(mesh_readers),
                              "env": env}).encode()
        socket.send_fds(sock, [request], [zygote_in, zygote_out])
        msg, fds, _, _ = socket.recv_fds(sock, MAX_REQUEST_BYTES, 1)
    except OSError:
        for fd in (to_zygote, from_zygote):
            os.close(fd)
        return None
    finally:
        os.close(zygote_in)
        os.close(zygote_out)
        sock.close()
    try:
        pid = int(json.loads(msg)["pid"])
        if len(fds) != 1:
            raise ValueError("no pidfd")
    except (ValueError, KeyError, TypeError):
        for fd in (*fds, to_zygote, from_zygote):
            os.close(fd)
        return None
    return HatchedProcess(pid, fds[0], to_zygote, from_zygote)


# ---- the hatchery's side -----------------------------------------------------------------
def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("PPid:"):
                return int(line.split()[1])
    raise ValueError(f"no PPid for {pid}")


def descends_from(pid: int, ancestor: int) -> bool:
    """Whether process `pid` is `ancestor` or below it; True when it cannot be told (a
    process that is gone, an unreadable /proc): refusing is the safe answer."""
    try:
        seen = 0
        while pid > 1 and seen < 4096:
            if pid == ancestor:
                return True
            pid, seen = _parent_of(pid), seen + 1
        return False
    except (OSError, ValueError):
        return True


def _peer_allowed(conn: socket.socket) -> bool:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _ = struct.unpack("3i", creds)
    return uid == os.getuid() and not descends_from(pid, os.getpid())


def _hatch_one(conn: socket.socket, listener: socket.socket, zygote) -> None:
    if not _peer_allowed(conn):
        conn.sendall(b'{"error": "refused"}\n')
        return
    msg, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST_BYTES, 2)
    try:
        req = json.loads(msg)
        base, mesh_readers = str(req["base"]), bool(req["mesh_readers"])
        env = {str(k): str(v) for k, v in dict(req["env"]).items()}
        if len(fds) != 2 or not os.path.isdir(base):
            raise ValueError("a request needs two pipe ends and an existing folder")
    except (ValueError, KeyError, TypeError) as exc:
        for fd in fds:
            os.close(fd)
        conn.sendall(json.dumps({"error": str(exc)[:200]}).encode())
        return
    pid = os.fork()
    if pid == 0:  # the zygote: the harness's pipes as stdin/stdout, its folder, its env
        try:
            listener.close()
            conn.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # it waits for its own children
            os.setsid()
            os.dup2(fds[0], 0)
            os.dup2(fds[1], 1)
            for fd in fds:
                os.close(fd)
            os.chdir(base)
            os.environ.clear()
            os.environ.update(env)
            sys.argv = [zygote.__file__, base,
                        *([zygote.MESH_READERS_FLAG] if mesh_readers else [])]
            if mesh_readers:
                for name in zygote.MESH_READERS:
                    __import__(name)
            zygote.main(warmed=True)  # ends in os._exit
        finally:
            os._exit(HATCH_FAILED_EXIT)
    for fd in fds:
        os.close(fd)
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:  # it died at once (and was reaped): the caller falls back
        conn.sendall(b'{"error": "the zygote exited at once"}\n')
        return
    try:
        socket.send_fds(conn, [json.dumps({"pid": pid}).encode()], [pidfd])
    finally:
        os.close(pidfd)


def main() -> None:
    listener_fd, parent = int(sys.argv[1]), int(sys.argv[2])
    from .isolation import die_with_parent, fixed_layout
    fixed_layout("cadbench.execute.hatchery")  # re-execs once; the socket survives
    die_with_parent()
    if os.getppid() != parent:  # the harness died before the signal was armed
        os._exit(0)
    from . import zygote  # cadquery, OCC's one-thread pool, the modules candidates inherit
    # Warmed once here and not again in a hatched zygote: its heap is then the heap of a
    # zygote started on its own, and OCC's meshes match those to the last bit.
    zygote.warm_up()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # hatched zygotes are reaped by the kernel
    listener = socket.socket(fileno=listener_fd)
    while True:
        conn, _ = listener.accept()
        with conn:
            try:
                _hatch_one(conn, listener, zygote)
            except OSError:
                pass  # that caller gets EOF and starts its zygote itself


if __name__ == "__main__":
    main()

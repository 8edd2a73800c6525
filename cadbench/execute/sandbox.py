"""The harness side of the executor: start the warm worker (zygote.py), send it one candidate at
a time, and turn its reply plus the candidate's plain arrays into an ExecResult.

Trust boundary: nothing the candidate process produced is unpickled. Its mesh arrives as two
.npy files whose headers are checked before reading (allow_pickle=False; dtype, shape, and the
vertex and face caps, so an oversized mesh costs no memory), then validated by
Mesh.from_arrays; every file is opened without following symlinks.

Each Sandbox has its own warm worker: scoring runs references and predictions in different
instances (`role`), so a candidate's worker has never been sent a reference program (and within
one worker, candidates fork from a template that never held any program, see zygote.py)."""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..config import ExecConfig
from ..errors import CadbenchError
from ..geometry.mesh import Mesh, MeshError
from ..inputs import GeometryFile
from . import status as S
from .child import FACES_FILE, VERTICES_FILE
from .isolation import remove_tree

if TYPE_CHECKING:
    from .hatchery import HatchedProcess

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 180.0      # importing cadquery on a loaded 2-core machine
REPLY_SLACK_S = 60.0           # zygote overhead beyond the candidate's own timeout
MAX_ARRAY_BYTES = 512 * 1024 * 1024
BASE_PREFIX = "cadbench-sandbox-"
OWNER_FILE = "owner"           # "pid starttime" of the harness process that made the folder
ROLES = ("candidate", "reference")


@dataclass
class ExecResult:
    status: str                 # one of execute/status.py
    error: str | None           # "ExceptionType: short message" / signal name / reason
    picked_by: str | None       # e.g. "var:solid", "var:result", "show_object"
    mesh: Mesh | None           # only when status == "ok"
    volume: float | None        # OCC's volume of the picked solid(s)
    n_solids: int
    duration_s: float
    output_tail: str            # capped stdout+stderr of the candidate
    # Which protections were in force for this candidate: {"uid", "network",
    # "privileges_dropped", "readonly_filesystem", "root_view", "pid_namespace", "workdir",
    # "role"} (docs/security.md)
    isolation: dict = field(default_factory=dict)
    # False when OCC's BRepCheck flagged the solid but its mesh agreed with its volume (accepted)
    brep_valid: bool | None = None


class ZygoteDied(CadbenchError):
    """The warm worker could not be started or stopped answering (a harness fault)."""


class Sandbox:
    """Runs candidate programs in isolated processes forked from one warm worker.

    A context manager; one instance serves one thread. `run(code)` never raises for anything
    the candidate does; a fault of the harness itself gives status `harness_error`."""

    def __init__(self, config: ExecConfig | None = None, hide_paths=(), role: str = "candidate",
                 mesh_readers: bool = False):
        """hide_paths: files or folders the candidate must not see at all (the references, the
        ground-truth cache): with the minimal root view (root) they are absent anyway unless
        they lie inside the Python installation or a system folder, where they are covered by
        an empty tmpfs or /dev/null; without it they are hidden where the read-only view is in
        force. role: "reference" or "candidate": use one instance per role, so that reference
        programs and predictions never share a warm worker (recorded in `isolation`).
        mesh_readers: pre-import the mesh-file reader (trimesh) in the warm worker, for runs
        that parse STL/OBJ/PLY/glTF files (without it a mesh file still parses, importing it
        in its candidate: ~0.6 s more per file)."""
        if role not in ROLES:
            raise ValueError(f"Sandbox role must be one of {ROLES}, got {role!r}")
        self.config = config or ExecConfig()
        self.role = role
        self.mesh_readers = mesh_readers
        self.hide_paths = tuple(os.path.abspath(str(p)) for p in hide_paths)
        self.restarts = 0            # times the warm worker died and was restarted
        self._proc: subprocess.Popen | HatchedProcess | None = None
        self._base: str | None = None
        self._buf = b""
        self.worker_info: dict = {}

    # ---- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> "Sandbox":
        try:
            self.start()
        except BaseException:
            self.close()  # __exit__ will not run: do not leave a worker or a folder behind
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def launch(self) -> None:
        """Start the warm worker without waiting for it (it imports cadquery for seconds):
        a caller with other work in hand lets that overlap; `start` or `run` then waits."""
        if self._proc is None or self._proc.poll() is not None:
            self._spawn_worker()

    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            if not self.worker_info:
                self._wait_ready()  # launched, not yet waited for
            return
        self._spawn_worker()
        self._wait_ready()

    def _spawn_worker(self) -> None:
        if self._proc is not None:
            self.restarts += 1  # the warm worker died: start a fresh one transparently
            log.warning("sandbox warm worker exited (code %s); restarting", self._proc.returncode)
            self._kill(self._proc)  # closes its pipes
        if self._base is None or not os.path.isdir(self._base):  # a dying worker removes it
            self._base = self._make_base_dir()
        pkg_root = str(Path(__file__).resolve().parents[2])
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONPATH": pkg_root,
               "HOME": self._base, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        # Forked by the harness's hatchery where one answers (cadquery imported once per run),
        # else a fresh interpreter: the same zygote either way. (Imported here: the package
        # must not hold hatchery.py when `python -m cadbench.execute.hatchery` runs it.)
        from . import hatchery
        self._proc = hatchery.hatch(self._base, self.mesh_readers, env) or subprocess.Popen(
            [sys.executable, "-m", "cadbench.execute.zygote", self._base,
             *(["--mesh-readers"] if self.mesh_readers else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
            start_new_session=True, cwd=self._base)
        self._buf = b""
        self.worker_info = {}

    def _wait_ready(self) -> None:
        line = self._read_line(time.monotonic() + STARTUP_TIMEOUT_S)
        self.worker_info = json.loads(line)
        if not self.worker_info.get("ready"):
            raise ZygoteDied(f"warm worker did not start: {line[:200]!r}")
        if self.config.drop_privileges and not self.worker_info.get("root"):
            log.warning("cadbench sandbox not running as root: candidates keep this user's "
                        "privileges (see docs/security.md)")

    def _make_base_dir(self) -> str:
        """The folder holding each candidate's folder. A candidate running as another uid must
        be able to reach its own folder, so every ancestor needs o+x; a private TMPDIR (0700)
        falls back to /tmp or /var/tmp. Folders left by a killed run are removed first."""
        remove_stale_base_dirs()
        base = tempfile.mkdtemp(prefix=BASE_PREFIX)
        if os.geteuid() == 0 and self.config.drop_privileges and not _traversable(os.path.dirname(base)):
            os.rmdir(base)
            roots = [r for r in ("/tmp", "/var/tmp") if _traversable(r)]
            if not roots:
                raise CadbenchError(f"TMPDIR {tempfile.gettempdir()} is not reachable by other users "
                                    "and neither is /tmp: set TMPDIR to a folder with o+x on its path")
            base = tempfile.mkdtemp(prefix=BASE_PREFIX, dir=roots[0])
        os.chmod(base, 0o711)  # candidates may enter their own folder, not list others
        with open(os.path.join(base, OWNER_FILE), "w") as f:
            f.write(f"{os.getpid()} {_start_time(os.getpid())}\n")
        os.chmod(os.path.join(base, OWNER_FILE), 0o600)
        return base

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._kill(proc)
            try:
                proc.stdout.close()  # no descriptor left open per sandbox
            except OSError:
                pass
        if self._base is not None:
            remove_tree(self._base)
            self._base = None

    @staticmethod
    def _kill(proc: subprocess.Popen | HatchedProcess) -> None:
        if not isinstance(proc, subprocess.Popen):  # hatched
            proc.poll()  # not our child: once gone, its pid may be reused at any time
        if proc.returncode is None:  # not reaped yet, so its pid (= group id) cannot be reused
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.kill()
            except ProcessLookupError:
                pass
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):  # no fd leak per restart
            try:
                pipe.close()
            except OSError:
                pass

    # ---- one candidate -------------------------------------------------------------------
    def run(self, code: str | GeometryFile) -> ExecResult:
        """Run a program, or parse a geometry file (a reference or a prediction given as STEP
        or a mesh): the file is copied into the candidate's own folder and parsed there, so a
        file that crashes its parser crashes only the candidate."""
        t0 = time.perf_counter()
        if not isinstance(code, (str, GeometryFile)):
            return self._fail(S.HARNESS_ERROR, f"code must be str, got {type(code).__name__}", t0)
        for attempt in (0, 1):
            try:
                self.start()
                reply = self._request(code)
                return self._to_result(reply, t0)
            except (ZygoteDied, OSError, ValueError) as exc:
                # The warm worker died or misbehaved (not the candidate: it runs in a grandchild).
                log.warning("sandbox warm worker failed (%s)", exc)
                if self._proc is not None:
                    self._kill(self._proc)  # start() then counts and replaces it
                if attempt == 1:
                    return self._fail(S.HARNESS_ERROR, f"warm worker failed twice: {exc}"[:300], t0)
            except Exception as exc:  # never raise for a candidate; say what broke
                return self._fail(S.HARNESS_ERROR, f"{type(exc).__name__}: {exc}"[:300], t0)
        raise AssertionError("unreachable")

    def _request(self, code: str | GeometryFile) -> dict:
        geometry = None
        if isinstance(code, GeometryFile):
            geometry = {"path": code.path, "format": code.format, "sha256": code.sha256}
            code = ""
        msg = json.dumps({"code": code, "config": self.config.to_dict(),
                          "hide": list(self.hide_paths), "geometry": geometry}).encode() + b"\n"
        try:
            self._proc.stdin.write(msg)
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise ZygoteDied(f"cannot write to warm worker: {exc}") from exc
        deadline = time.monotonic() + self.config.timeout_s + REPLY_SLACK_S
        reply = json.loads(self._read_line(deadline))
        if not isinstance(reply, dict) or reply.get("status") not in S.ALL_STATUSES:
            raise ValueError(f"malformed reply from warm worker: {str(reply)[:200]}")
        return reply

    def _read_line(self, deadline: float) -> bytes:
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ZygoteDied("warm worker did not answer in time")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise ZygoteDied(f"warm worker exited (code {self._proc.poll()})")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def _to_result(self, reply: dict, t0: float) -> ExecResult:
        result_dir = reply.get("result_dir")
        try:
            status, error = reply["status"], reply.get("error")
            mesh = None
            if result_dir and status == S.OK:
                try:
                    mesh = load_mesh(result_dir, self.config)
                except MeshTooLarge as exc:
                    status, error = S.TOO_COSTLY, str(exc)[:300]
                except (OSError, ValueError, MeshError) as exc:
                    status, error = S.INVALID_GEOMETRY, f"mesh rejected: {exc}"[:300]
            return ExecResult(
                status=status, error=error, picked_by=reply.get("picked_by"), mesh=mesh,
                volume=reply.get("volume"), n_solids=int(reply.get("n_solids") or 0),
                duration_s=time.perf_counter() - t0, output_tail=str(reply.get("output_tail") or ""),
                isolation={**(reply.get("isolation") or {}), "role": self.role},
                brep_valid=reply.get("brep_valid"))
        finally:
            if result_dir and self._base and os.path.dirname(result_dir) == self._base:
                remove_tree(result_dir)

    @staticmethod
    def _fail(status: str, error: str, t0: float) -> ExecResult:
        return ExecResult(status=status, error=error, picked_by=None, mesh=None, volume=None,
                          n_solids=0, duration_s=time.perf_counter() - t0, output_tail="")


def _traversable(path: str) -> bool:
    """Whether any user can traverse path and every folder above it."""
    p = Path(path).resolve()
    return all(os.stat(d).st_mode & stat.S_IXOTH for d in (p, *p.parents))


def _open_regular(path: str, max_bytes: int):
    """Open a file the candidate wrote: no symlinks, a regular file, a single link, bounded."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_size > max_bytes:
        os.close(fd)
        raise ValueError(f"{os.path.basename(path)}: not a plain file within limits")
    return os.fdopen(fd, "rb"), st.st_size


class MeshTooLarge(ValueError):
    """The candidate's mesh has more vertices or faces than ExecConfig allows (from the header)."""


def npy_shape(f, dtype, name: str) -> tuple[int, int]:
    """Read and check a .npy header (dtype, (n, 3), C order); the file is left at the data."""
    version = np.lib.format.read_magic(f)
    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if read_header is None:
        raise ValueError(f"{name}: unsupported .npy version {version}")
    shape, fortran, dt = read_header(f)
    if dt != np.dtype(dtype) or len(shape) != 2 or shape[1] != 3 or fortran:
        raise ValueError(f"{name}: unexpected array {dt} {shape}")
    return int(shape[0]), int(shape[1])


def load_npy(path: str, dtype, max_rows: int | None = None) -> np.ndarray:
    """Read a (n, 3) .npy written by the candidate: header checked (dtype, shape, size, at most
    max_rows rows) before any allocation, never unpickled."""
    f, size = _open_regular(path, MAX_ARRAY_BYTES)
    with f:
        shape = npy_shape(f, dtype, os.path.basename(path))
        nbytes = shape[0] * shape[1] * np.dtype(dtype).itemsize
        if nbytes != size - f.tell():  # a lying header is tampering, whatever it claims
            raise ValueError(f"{os.path.basename(path)}: size does not match header")
        if max_rows is not None and shape[0] > max_rows:
            raise MeshTooLarge(f"{os.path.basename(path)}: {shape[0]} rows exceed the limit of "
                               f"{max_rows}")
        return np.frombuffer(f.read(nbytes), dtype=dtype).reshape(shape)


def load_mesh(result_dir: str, config: ExecConfig) -> Mesh:
    """The candidate's mesh, vertex and face counts capped before either array is read."""
    try:
        vertices = load_npy(os.path.join(result_dir, VERTICES_FILE), np.float64,
                            config.max_mesh_vertices)
        faces = load_npy(os.path.join(result_dir, FACES_FILE), np.int64, config.max_mesh_faces)
    except MeshTooLarge as exc:
        kind = "vertices" if VERTICES_FILE in str(exc) else "triangles"
        raise MeshTooLarge(f"mesh over the trusted side's bound: too many {kind} ({exc})") from None
    return Mesh.from_arrays(vertices, faces)


def _start_time(pid: int) -> str:
    """The process's start time (clock ticks since boot): with the pid it names one process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


def remove_stale_base_dirs() -> list[str]:
    """Remove the sandbox folders of runs that were killed (owner process gone) and that belong
    to us; returns what was removed. A folder without an owner file is left alone unless it is
    older than a day (made by a version that did not write one)."""
    removed = []
    roots = {tempfile.gettempdir(), "/tmp", "/var/tmp"}
    for root in sorted(roots):
        try:
            entries = [e for e in os.scandir(root) if e.name.startswith(BASE_PREFIX)]
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
                    continue
                try:
                    with open(os.path.join(entry.path, OWNER_FILE)) as f:
                        pid_s, _, started = f.read().strip().partition(" ")
                    alive = _start_time(int(pid_s)) == started
                except (OSError, ValueError):
                    alive = time.time() - st.st_mtime < 86400
            except OSError:
                continue
            if not alive:
                remove_tree(entry.path)
                removed.append(entry.path)
    return removed


def read_tail(path: str, max_bytes: int) -> str:
    try:
        f, size = _open_regular(path, 1 << 40)
    except (OSError, ValueError):
        return ""
    with f:
        f.seek(max(0, size - max_bytes))
        return f.read(max_bytes).decode("utf-8", errors="replace")

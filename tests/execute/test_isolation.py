"""Isolation beyond rlimits: unprivileged uid, network namespace, the minimal root view, a pid
namespace and a size-limited folder per candidate, a trust boundary that never unpickles and
accepts only the statuses the child writes, and a warm worker that is restarted when it dies.
Each protection is tested against a control sandbox with the protection switched off, so the
tests show the switch is what works."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
import socket
import threading

import numpy as np
import pytest

from cadbench.config import ExecConfig
from cadbench.execute import Sandbox
from cadbench.execute import status as S
from cadbench.execute.sandbox import BASE_PREFIX, OWNER_FILE, load_npy, remove_stale_base_dirs

IS_ROOT = os.geteuid() == 0
BOX = "import cadquery as cq\n{var} = cq.Workplane('XY').box(1, 2, 3)\n"


@pytest.fixture(scope="module")
def guarded():
    with Sandbox(ExecConfig(timeout_s=3.0)) as sb:
        yield sb


@pytest.fixture(scope="module")
def open_sandbox():
    """The control: no uid drop, no network namespace, the host's file system, and a custom
    result variable."""
    cfg = ExecConfig(timeout_s=3.0, drop_privileges=False, isolate_network=False,
                     readonly_filesystem=False, result_var="final")
    with Sandbox(cfg) as sb:
        yield sb


@pytest.fixture(scope="module")
def uid_only():
    """The uid drop alone (host file system view): what the drop guarantees by itself."""
    with Sandbox(ExecConfig(timeout_s=3.0, readonly_filesystem=False)) as sb:
        yield sb


def visible_root() -> Path:
    """A root-owned 0755 folder outside the scratch folders the sandbox hides (/tmp, /run...),
    so the tests below exercise the uid drop and the read-only view, not the hiding."""
    for d in ("/var/lib", "/opt", "/srv"):
        st = os.stat(d) if os.path.isdir(d) else None
        if st and st.st_uid == 0 and st.st_mode & 0o777 == 0o755 and os.access(d, os.W_OK):
            return Path(d)
    pytest.skip("no writable root-owned 0755 folder outside /tmp")


@pytest.fixture
def scratch():
    d = Path(tempfile.mkdtemp(prefix="cadbench-test-", dir=visible_root()))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def secret_dir(scratch):
    d = scratch / "refs"
    d.mkdir(mode=0o700)
    os.chmod(d, 0o700)
    (d / "ground_truth.txt").write_text("the answer")
    return d / "ground_truth.txt"


def read_code(path) -> str:
    return f"print(open({str(path)!r}).read())\n" + BOX.format(var="solid")


@pytest.mark.skipif(not IS_ROOT, reason="dropping privileges needs root")
def test_candidate_cannot_read_root_only_folder(uid_only, secret_dir):
    r = uid_only.run(read_code(secret_dir))
    assert r.status == S.RUNTIME_ERROR and r.error.startswith("PermissionError")
    assert r.isolation["privileges_dropped"] is True and r.isolation["uid"] != 0
    assert "the answer" not in r.output_tail


@pytest.mark.skipif(not IS_ROOT, reason="the minimal root view needs root")
def test_world_readable_file_outside_the_view_is_absent(guarded, secret_dir):
    os.chmod(secret_dir.parent, 0o755)  # world-readable now: only the view can keep it out
    r = guarded.run(read_code(secret_dir))
    assert r.status == S.RUNTIME_ERROR and r.error.startswith("FileNotFoundError"), r.error
    assert r.isolation["root_view"] == "minimal"
    assert "the answer" not in r.output_tail


@pytest.mark.skipif(not IS_ROOT, reason="dropping privileges needs root")
def test_control_without_privilege_drop_can_read_it(open_sandbox, secret_dir):
    r = open_sandbox.run(read_code(secret_dir).replace("solid =", "final ="))
    assert r.status == S.OK and "the answer" in r.output_tail


@pytest.mark.skipif(not IS_ROOT, reason="a private read-only mount view needs root")
def test_candidate_cannot_write_outside_its_folder(guarded, scratch):
    target = scratch / "open"
    target.mkdir()
    os.chmod(target, 0o777)  # even a world-writable folder is read-only from inside
    r = guarded.run(f"open({str(target / 'planted.txt')!r}, 'w').write('x')\n")
    assert r.status == S.RUNTIME_ERROR and "No such file" in r.error  # not even in its view
    assert r.isolation["readonly_filesystem"] is True
    assert list(target.iterdir()) == []
    # what it can see is read-only: the view's own /tmp, the Python installation
    for where in ("/tmp", sys.prefix):
        r = guarded.run(f"open({where + '/planted.txt'!r}, 'w').write('x')\n")
        assert r.status == S.RUNTIME_ERROR and "Read-only file system" in r.error, (where, r.error)


@pytest.mark.skipif(not IS_ROOT, reason="a private mount view needs root")
def test_shared_scratch_folders_are_hidden(guarded):
    # a world-writable Unix socket in /tmp (like an X11 or agent socket) is out of reach
    path = tempfile.mktemp(prefix="cadbench-test-sock-", dir="/tmp")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    os.chmod(path, 0o777)
    srv.listen(1)
    try:
        r = guarded.run(f"import socket\nsocket.socket(socket.AF_UNIX).connect({path!r})\n")
        assert r.status == S.RUNTIME_ERROR and r.error.startswith("FileNotFoundError")
    finally:
        srv.close()
        os.unlink(path)
    r = guarded.run("open('mine.txt', 'w').write('x')\n" + BOX.format(var="solid"))
    assert r.status == S.OK  # its own folder stays writable


class Listener:
    """A loopback TCP listener that records every connection it accepts."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.contacts = 0
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.contacts += 1
            conn.close()

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def connect_code(port: int, var: str) -> str:
    return (f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1).close()\n"
            + BOX.format(var=var))


def test_candidate_cannot_reach_loopback_listener(guarded):
    listener = Listener()
    try:
        r = guarded.run(connect_code(listener.port, "solid"))
    finally:
        listener.close()
    assert r.status == S.RUNTIME_ERROR, r
    assert listener.contacts == 0
    assert r.isolation["network"] in ("netns", "userns+netns", "python-socket-refusal")


def test_control_without_network_isolation_reaches_it(open_sandbox):
    listener = Listener()
    try:
        r = open_sandbox.run(connect_code(listener.port, "final"))
    finally:
        listener.close()
    assert r.status == S.OK and r.picked_by == "var:final"
    assert listener.contacts == 1
    assert r.isolation["network"] == "off"


def test_custom_result_var_takes_precedence(open_sandbox):
    code = "import cadquery as cq\nsolid = cq.Workplane().box(1,1,1)\nfinal = cq.Workplane().box(2,2,2)\n"
    r = open_sandbox.run(code)
    assert r.status == S.OK and r.picked_by == "var:final" and r.volume == pytest.approx(8.0)


def test_environment_has_no_parent_secrets(guarded, monkeypatch):
    # the warm worker was started with a minimal environment, whatever the harness holds
    r = guarded.run("import os\nprint(sorted(os.environ))\n" + BOX.format(var="solid"))
    assert r.status == S.OK
    assert "PATH" in r.output_tail and "PYTHONPATH" not in r.output_tail
    for key in os.environ:
        if key not in ("PATH", "HOME", "LANG", "TMPDIR", "OMP_NUM_THREADS"):
            assert repr(key) not in r.output_tail, key


def test_stdin_is_closed_and_cwd_is_private(guarded):
    r = guarded.run("import os, sys\nprint(repr(sys.stdin.read()), os.getcwd())\n" + BOX.format(var="solid"))
    assert r.status == S.OK
    assert r.output_tail.startswith("'' ") and "/c-" in r.output_tail


def test_warm_worker_restarts_after_dying(open_sandbox):
    before = open_sandbox.restarts
    os.kill(open_sandbox._proc.pid, 9)
    open_sandbox._proc.wait()
    r = open_sandbox.run(BOX.format(var="final"))
    assert r.status == S.OK
    assert open_sandbox.restarts == before + 1


# ---- the trust boundary: arrays only -------------------------------------------------------
def test_load_npy_reads_plain_arrays(tmp_path):
    p = tmp_path / "v.npy"
    np.save(p, np.arange(12, dtype=np.float64).reshape(4, 3))
    assert load_npy(str(p), np.float64).shape == (4, 3)


def test_load_npy_refuses_pickles_symlinks_and_lying_headers(tmp_path):
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([[{"a": 1}, 2, 3]], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):
        load_npy(str(obj), np.float64)
    real = tmp_path / "real.npy"
    np.save(real, np.zeros((2, 3)))
    link = tmp_path / "link.npy"
    link.symlink_to(real)
    with pytest.raises(OSError):
        load_npy(str(link), np.float64)
    lying = tmp_path / "lying.npy"
    data = real.read_bytes()
    lying.write_bytes(data.replace(b"(2, 3)", b"(9999999999, 3)"))
    with pytest.raises(ValueError):
        load_npy(str(lying), np.float64)


def test_tampered_result_files_are_the_candidates_fault(guarded):
    # a FIFO instead of result.json must not hang or fault the harness
    r = guarded.run("import os\nos.mkfifo('result.json')\nos._exit(0)\n")
    assert r.status == S.RUNTIME_ERROR and "tampered" in r.error
    # a symlinked output file is not followed by the (root) harness
    r = guarded.run("import os\nos.unlink('output.log'); os.symlink('/etc/passwd', 'output.log')\n"
                    + BOX.format(var="solid"))
    assert r.status == S.OK and "root:" not in r.output_tail


@pytest.mark.skipif(not IS_ROOT, reason="a private mount view needs root")
def test_hide_paths_inside_the_view_are_covered():
    """Paths outside the view are absent anyway; a hidden path that lies inside a folder the view
    shows (here the Python installation) is covered by an empty tmpfs or /dev/null."""
    token = secrets.token_hex(4)
    refs = Path(sys.prefix) / f"cadbench-test-refs-{token}.jsonl"
    cache = Path(sys.prefix) / f"cadbench-test-cache-{token}"
    try:
        refs.write_text('{"id": "a", "code": "the answer"}\n')
        cache.mkdir()
        (cache / "a.npz").write_text("mesh")
        for p in (refs, cache / "a.npz"):
            os.chmod(p, 0o644)
        os.chmod(cache, 0o755)
        code = (f"import os\nprint('REFS', repr(open({str(refs)!r}).read()))\n"
                f"print('CACHE', os.path.exists({str(cache / 'a.npz')!r}))\n" + BOX.format(var="solid"))
        with Sandbox(ExecConfig(timeout_s=3.0), hide_paths=[refs, cache]) as sb:
            r = sb.run(code)
        assert r.status == S.OK, r.error
        assert "REFS ''" in r.output_tail and "CACHE False" in r.output_tail
        assert "the answer" not in r.output_tail
        with Sandbox(ExecConfig(timeout_s=3.0)) as sb:  # the control: not hidden, visible
            r = sb.run(code)
        assert r.status == S.OK and "the answer" in r.output_tail and "CACHE True" in r.output_tail
    finally:
        refs.unlink(missing_ok=True)
        shutil.rmtree(cache, ignore_errors=True)


# ---- the minimal root view -----------------------------------------------------------------
ROOT_LISTING = "import os\nprint('ROOT', sorted(os.listdir('/')))\n"
REBUILD = ("import importlib\ntry:\n    importlib.import_module('cadbench.datasets.synth')\n"
           "    print('SYNTH imported')\nexcept ImportError as e:\n    print('SYNTH', type(e).__name__)\n")


@pytest.mark.skipif(not IS_ROOT, reason="the minimal root view needs root")
def test_root_view_holds_only_the_interpreter_libraries_and_its_folder(guarded):
    repo = Path(__file__).resolve().parents[2]
    # The repository and home folders exist only as the path down to a bound Python prefix (a
    # venv inside the repository, an interpreter under ~/.pyenv), holding nothing else.
    code = (ROOT_LISTING + REBUILD
            + f"print('REPO', os.listdir({str(repo)!r}) if os.path.isdir({str(repo)!r}) else [])\n"
            + f"print('SOURCE', os.path.exists({str(repo / 'cadbench' / 'config.py')!r}))\n"
            + f"print('VENV', os.path.isdir({sys.prefix!r}))\n" + BOX.format(var="solid"))
    r = guarded.run(code)
    assert r.status == S.OK, r.error
    top = eval(r.output_tail.split("ROOT ", 1)[1].splitlines()[0])
    assert set(top) <= {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev",
                        "proc", "tmp", *(p.split("/")[1] for p in (sys.prefix, sys.base_prefix,
                                                                   tempfile.gettempdir()))}, top
    assert "SYNTH ModuleNotFoundError" in r.output_tail  # cannot rebuild the benchmark
    assert "SOURCE False" in r.output_tail and "VENV True" in r.output_tail
    seen = eval(r.output_tail.split("REPO ", 1)[1].splitlines()[0])
    prefixes = {Path(p).relative_to(repo).parts[0] for p in (sys.prefix, sys.base_prefix)
                if Path(p).is_relative_to(repo)}
    assert set(seen) <= prefixes, seen  # no cadbench/, tests/, runs/, README...


@pytest.mark.skipif(not IS_ROOT, reason="the minimal root view needs root")
def test_control_with_the_host_view_can_rebuild_the_benchmark(open_sandbox):
    r = open_sandbox.run(REBUILD + BOX.format(var="final"))
    assert r.status == S.OK and "SYNTH imported" in r.output_tail


@pytest.mark.skipif(not IS_ROOT, reason="the minimal root view needs root")
def test_candidate_sees_only_its_own_processes(guarded):
    r = guarded.run("import os\nprint('PIDS', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
                    + BOX.format(var="solid"))
    assert r.status == S.OK, r.error
    pids = eval(r.output_tail.split("PIDS ", 1)[1].splitlines()[0])
    assert len(pids) <= 2 and os.getpid() not in pids or pids == [2], pids  # init and itself


# ---- pid namespace: the whole tree dies with the candidate ------------------------------------
def _comm_alive(name: str) -> list[int]:
    found = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if Path(f"/proc/{p}/comm").read_text().strip() == name:
                    found.append(int(p))
            except OSError:
                pass
    return found


DETACH = ("import ctypes, os, time\n"
          "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
          "        ctypes.CDLL(None).prctl(15, b'{name}', 0, 0, 0)\n        time.sleep(60)\n"
          "    os._exit(0)\n")


@pytest.mark.skipif(not IS_ROOT, reason="pid namespaces need root")
def test_detached_grandchild_dies_with_its_pid_namespace(guarded):
    name = "cbpid" + secrets.token_hex(4)
    r = guarded.run(DETACH.format(name=name) + "time.sleep(0.3)\n" + BOX.format(var="solid"))
    assert r.status == S.OK, r.error
    assert r.isolation["pid_namespace"] is True
    assert _comm_alive(name) == []


# ---- the size-limited folder ----------------------------------------------------------------------
FALLOCATE = ("import os\nn = 0\ntry:\n    for i in range(8):\n"
             "        fd = os.open(f'junk{{i}}', os.O_CREAT | os.O_WRONLY)\n"
             "        os.posix_fallocate(fd, 0, {mb} << 20)\n        n += 1\n"
             "except OSError as e:\n    print('STOPPED', e.errno)\nprint('FILES', n)\n")


@pytest.mark.skipif(not IS_ROOT, reason="the folder's tmpfs needs root")
def test_fallocate_stops_at_the_folder_size():
    with Sandbox(ExecConfig(timeout_s=5.0, workdir_mb=32)) as sb:
        r = sb.run(FALLOCATE.format(mb=10) + BOX.format(var="solid"))
        assert r.status == S.OK, r.error
        assert "STOPPED 28" in r.output_tail and "FILES 3" in r.output_tail  # ENOSPC at 32 MiB
        assert r.isolation["workdir"] == "tmpfs 32 MiB"
    with Sandbox(ExecConfig(timeout_s=5.0, workdir_mb=128)) as sb:  # control: room for all 8
        r = sb.run(FALLOCATE.format(mb=10) + BOX.format(var="solid"))
        assert r.status == S.OK and "FILES 8" in r.output_tail, r.output_tail


MANY_FILES = ("import os\nn = 0\ntry:\n    for i in range({n}):\n"
              "        open(f'f{{i}}', 'w').close()\n        n += 1\n"
              "except OSError as e:\n    print('STOPPED', e.errno)\n"
              "for i in range(n):\n    os.unlink(f'f{{i}}')\nprint('FILES', n)\n")


@pytest.mark.skipif(not IS_ROOT, reason="the folder's tmpfs needs root")
def test_file_count_stops_at_the_folder_inode_cap():
    with Sandbox(ExecConfig(timeout_s=10.0, workdir_max_files=500)) as sb:
        r = sb.run(MANY_FILES.format(n=2000) + BOX.format(var="solid"))
    assert r.status == S.OK, r.error
    assert "STOPPED 28" in r.output_tail
    n = int(r.output_tail.split("FILES ", 1)[1].split()[0])
    assert 400 < n < 500


def test_folder_full_of_junk_still_reports_a_status(guarded):
    """A candidate that uses every inode of its folder leaves no room for result.json: a
    runtime_error of its own, never a harness fault, and the next candidate is unaffected."""
    r = guarded.run("import os\ntry:\n    for i in range(100000):\n        open(f'f{i}', 'w').close()\n"
                    "except OSError:\n    pass\n" + BOX.format(var="solid"))
    assert r.status == S.RUNTIME_ERROR and "folder is full" in r.error, (r.status, r.error)
    assert guarded.run(BOX.format(var="solid")).status == S.OK


# ---- only the statuses the child writes ----------------------------------------------------------
FORGE = ("import json, os\njson.dump({{'status': {status!r}, 'error': 'forged'}}, "
         "open('result.json', 'w'))\nos._exit(0)\n")


@pytest.mark.parametrize("status", sorted(set(S.ALL_STATUSES) - set(S.CHILD_STATUSES)))
def test_forged_status_is_refused(guarded, status):
    r = guarded.run(FORGE.format(status=status))
    assert r.status == S.RUNTIME_ERROR and "tampered" in r.error, (status, r.status, r.error)


def test_child_statuses_are_accepted_from_result_json(guarded):
    r = guarded.run(FORGE.format(status=S.NOT_A_SOLID))  # the control: a status the child writes
    assert r.status == S.NOT_A_SOLID and r.error == "forged"


# ---- mesh caps before loading -----------------------------------------------------------------------
@pytest.mark.parametrize("cap", ["max_mesh_vertices", "max_mesh_faces"])
def test_mesh_over_a_cap_is_too_costly(cap):
    with Sandbox(ExecConfig(timeout_s=3.0, **{cap: 7})) as sb:  # a box: 8 vertices, 12 faces
        r = sb.run(BOX.format(var="solid"))
    assert r.status == S.TOO_COSTLY and r.mesh is None, (r.status, r.error)
    assert ("vertices" if cap == "max_mesh_vertices" else "triangles") in r.error


def test_mesh_within_the_caps_loads():
    with Sandbox(ExecConfig(timeout_s=3.0, max_mesh_vertices=8, max_mesh_faces=12)) as sb:
        r = sb.run(BOX.format(var="solid"))
    assert r.status == S.OK and len(r.mesh.faces) == 12


def test_isolation_record_names_the_role():
    with Sandbox(ExecConfig(timeout_s=3.0), role="reference") as sb:
        r = sb.run(BOX.format(var="solid"))
    assert r.status == S.OK and r.isolation["role"] == "reference"
    with pytest.raises(ValueError):
        Sandbox(role="judge")


# ---- sandbox folders: removed on exit, stale ones at start-up ---------------------------------------
def _fake_base(owner: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix=BASE_PREFIX))
    (d / OWNER_FILE).write_text(owner)
    (d / "c-junk").mkdir()
    (d / "c-junk" / "x").write_text("left by a killed run")
    return d


def test_stale_sandbox_folders_are_removed_at_start_up():
    dead = _fake_base("999999999 1\n")  # no such process
    alive = _fake_base(f"{os.getpid()} {Path(f'/proc/{os.getpid()}/stat').read_bytes().rsplit(b')', 1)[1].split()[19].decode()}\n")
    reused = _fake_base(f"{os.getpid()} 1\n")  # our pid, another start time: a reused pid
    try:
        removed = remove_stale_base_dirs()
        assert str(dead) in removed and not dead.exists()
        assert str(reused) in removed and not reused.exists()
        assert alive.exists() and str(alive) not in removed
    finally:
        for d in (dead, alive, reused):
            shutil.rmtree(d, ignore_errors=True)


def test_sandbox_folder_is_gone_after_close():
    with Sandbox(ExecConfig(timeout_s=3.0)) as sb:
        sb.run(BOX.format(var="solid"))
        base = sb._base
        # no candidate folder (c-*) or result folder (r-*) is left once a run has returned
        assert [n for n in os.listdir(base) if n[:2] in ("c-", "r-")] == []
    assert not os.path.exists(base)

"""Isolation beyond rlimits: unprivileged uid, network namespace, a trust boundary that never
unpickles, and a warm worker that is restarted when it dies. Each protection is tested against
a control sandbox with the protection switched off, so the tests show the switch is what works."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
import socket
import threading

import numpy as np
import pytest

from cadbench.config import ExecConfig
from cadbench.execute import Sandbox
from cadbench.execute import status as S
from cadbench.execute.sandbox import load_npy

IS_ROOT = os.geteuid() == 0
BOX = "import cadquery as cq\n{var} = cq.Workplane('XY').box(1, 2, 3)\n"


@pytest.fixture(scope="module")
def guarded():
    with Sandbox(ExecConfig(timeout_s=3.0)) as sb:
        yield sb


@pytest.fixture(scope="module")
def open_sandbox():
    """The control: no uid drop, no network namespace, and a custom result variable."""
    cfg = ExecConfig(timeout_s=3.0, drop_privileges=False, isolate_network=False, result_var="final")
    with Sandbox(cfg) as sb:
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
def test_candidate_cannot_read_root_only_folder(guarded, secret_dir):
    r = guarded.run(read_code(secret_dir))
    assert r.status == S.RUNTIME_ERROR and r.error.startswith("PermissionError")
    assert r.isolation["privileges_dropped"] is True and r.isolation["uid"] != 0
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
    assert r.status == S.RUNTIME_ERROR and "Read-only file system" in r.error
    assert r.isolation["readonly_filesystem"] is True
    assert list(target.iterdir()) == []


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
def test_hide_paths_makes_world_readable_data_invisible(scratch):
    refs = scratch / "refs.jsonl"
    refs.write_text('{"id": "a", "code": "the answer"}\n')
    cache = scratch / "gt-cache"
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

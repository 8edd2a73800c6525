"""The hatchery (execute/hatchery.py): sandboxes of a run get zygotes forked from one process
that imported cadquery once. A hatched zygote must be the zygote a Sandbox starts on its own:
the same isolation, the same meshes, the same restart and clean-up; the hatchery must answer
no process below it, die with its harness, and a Sandbox must work on without it."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from cadbench.config import ExecConfig
from cadbench.execute import Sandbox, hatchery
from cadbench.execute.hatchery import HatchedProcess, descends_from

BOX = "import cadquery as cq\nsolid = cq.Workplane('XY').box(1, 2, 3).faces('>Z').hole(0.5)\n"


@pytest.fixture()
def fresh_hatchery():
    hatchery.stop()
    assert hatchery.ensure_started() is not None
    yield
    hatchery.stop()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except OSError:
        return False


def test_a_hatched_zygote_runs_with_every_isolation_of_one_started_alone(fresh_hatchery):
    with Sandbox(ExecConfig()) as hatched:
        assert isinstance(hatched._proc, HatchedProcess)
        a = hatched.run(BOX)
    del os.environ[hatchery.ENV_VAR]   # no hatchery reachable: a fresh interpreter, as before
    with Sandbox(ExecConfig()) as alone:
        assert isinstance(alone._proc, subprocess.Popen)
        b = alone.run(BOX)
    assert a.status == b.status == "ok"
    assert a.isolation.keys() == b.isolation.keys()
    assert {k: v for k, v in a.isolation.items() if k != "uid"} == {
        k: v for k, v in b.isolation.items() if k != "uid"}
    assert abs(a.mesh.volume() - b.mesh.volume()) < 1e-12


def test_two_hatcheries_mesh_a_program_to_the_same_bits(fresh_hatchery):
    with Sandbox(ExecConfig()) as sb:
        first = sb.run(BOX).mesh
    hatchery.stop()
    hatchery.ensure_started()
    with Sandbox(ExecConfig()) as sb:
        second = sb.run(BOX).mesh
    assert first.vertices.tobytes() == second.vertices.tobytes()
    assert first.faces.tobytes() == second.faces.tobytes()


def test_a_killed_hatched_zygote_is_replaced_and_a_closed_one_is_gone(fresh_hatchery):
    sb = Sandbox(ExecConfig())
    with sb:
        assert sb.run(BOX).status == "ok"
        first = sb._proc.pid
        os.kill(first, 9)
        assert sb.run(BOX).status == "ok"
        assert sb.restarts == 1 and sb._proc.pid != first
        second = sb._proc.pid
    deadline = time.monotonic() + 10
    while _alive(second) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(second)


def test_without_a_live_hatchery_a_sandbox_starts_its_own_zygote(fresh_hatchery):
    hatchery._process.kill()
    hatchery._process.wait()
    with Sandbox(ExecConfig()) as sb:
        assert isinstance(sb._proc, subprocess.Popen)
        assert sb.run(BOX).status == "ok"


def test_the_hatchery_answers_no_process_below_it():
    me, parent = os.getpid(), os.getppid()
    assert descends_from(me, me) and descends_from(me, parent)
    assert not descends_from(parent, me)
    assert descends_from(2 ** 22 + 12345, me)   # a pid that cannot be read: refused


def test_a_candidate_cannot_reach_the_hatchery(fresh_hatchery):
    path = os.environ[hatchery.ENV_VAR]
    probe = textwrap.dedent(f"""
        import os, socket
        print("env", os.environ.get("{hatchery.ENV_VAR}"))
        print("visible", os.path.exists({os.path.dirname(path)!r}))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect({path!r})
        print("connected")
    """)
    with Sandbox(ExecConfig()) as sb:
        r = sb.run(probe)
    assert r.status == "runtime_error"
    assert "env None" in r.output_tail and "connected" not in r.output_tail
    if os.geteuid() == 0:   # the minimal root view (root only) does not show the folder
        assert "visible False" in r.output_tail


def test_the_hatchery_dies_with_the_process_that_started_it(tmp_path):
    script = tmp_path / "start.py"
    script.write_text(textwrap.dedent("""
        import os, sys
        from cadbench.execute import hatchery
        hatchery.ensure_started()
        print(hatchery._process.pid, flush=True)
        os._exit(0)   # no atexit: only the death signal can stop the hatchery
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         check=True, timeout=60)
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)

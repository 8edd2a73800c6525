"""One hostile (or honest) snippet per status, all through one shared Sandbox."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pytest
from shared_data import GENCAD_SUBSET50

from cadbench.config import ExecConfig
from cadbench.execute import ExecResult, Sandbox
from cadbench.execute import status as S

GENCAD = GENCAD_SUBSET50
BOX = "import cadquery as cq\n{var} = cq.Workplane('XY').box(1, 2, 3)\n"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(ExecConfig(timeout_s=3.0, max_output_bytes=4096)) as sb:
        yield sb


def run(sb: Sandbox, code: str) -> ExecResult:
    r = sb.run(code)
    assert r.status in S.ALL_STATUSES
    return r


def assert_gone(marker: str) -> None:
    """No process whose command line holds `marker` is alive (candidates may run in a pid
    namespace of their own, so the pid they see is not ours: find them by name)."""
    alive = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{p}/cmdline").read_bytes():
                    alive.append(int(p))
            except OSError:
                pass
    assert alive == [], f"processes {alive} ({marker}) survived the candidate"


# ---- ok and the result-variable rule ---------------------------------------------------------
def test_ok_box_volume_and_mesh(sandbox):
    r = run(sandbox, BOX.format(var="solid"))
    assert r.status == S.OK, r.error
    assert r.picked_by == "var:solid" and r.n_solids == 1
    assert r.volume == pytest.approx(6.0)
    assert r.mesh is not None and r.mesh.volume() == pytest.approx(6.0, rel=1e-6)
    assert r.isolation.get("uid") is not None


@pytest.mark.skipif(not GENCAD.exists(), reason="shared GenCAD subset not available")
def test_ok_real_gencad_programs(sandbox):
    rows = [json.loads(line) for line in GENCAD.read_text().splitlines()[:6]]
    for row in rows:
        r = run(sandbox, row["ground_truth"])
        assert r.status == S.OK, (row["question_id"], r.error)
        assert r.picked_by == "var:solid"
        assert r.volume > 0
        # the tessellated mesh encloses (almost) the same volume as OCC's solid
        assert r.mesh.volume() == pytest.approx(r.volume, rel=2e-2)


@pytest.mark.skipif(not GENCAD.exists(), reason="shared GenCAD subset not available")
def test_real_ground_truths_that_fail_brepcheck_are_accepted(sandbox):
    # BRepCheck flags these real programs, yet their meshes enclose OCC's volume: not broken
    rows = {r["question_id"]: r for r in map(json.loads, GENCAD.read_text().splitlines())}
    for qid in (61429, 158063, 162916, 150422):
        r = run(sandbox, rows[qid]["ground_truth"])
        assert r.status == S.OK, (qid, r.error)
        assert r.brep_valid is False
        assert r.mesh.volume() == pytest.approx(r.volume, rel=2e-2)


def test_result_fallback_variable(sandbox):
    r = run(sandbox, BOX.format(var="result"))
    assert r.status == S.OK and r.picked_by == "var:result"


def test_fallback_skips_non_cad_values(sandbox):
    # `r` is a number (a radius), so the rule moves on to show_object
    code = "import cadquery as cq\nr = 0.5\nshow_object(cq.Workplane().sphere(r))\n"
    res = run(sandbox, code)
    assert res.status == S.OK and res.picked_by == "show_object"


def test_show_object(sandbox):
    code = "import cadquery as cq\nshow_object(cq.Workplane().box(1,1,1), name='a', options={})\n"
    r = run(sandbox, code)
    assert r.status == S.OK and r.picked_by == "show_object" and r.volume == pytest.approx(1.0)


def test_workplane_contributes_every_solid_on_its_stack(sandbox):
    code = ("import cadquery as cq\nw = cq.Workplane().box(1, 1, 1)\n"
            "solid = w.add(cq.Solid.makeBox(1, 1, 1, pnt=cq.Vector(5, 0, 0)))\n")
    r = run(sandbox, code)
    assert r.status == S.OK and r.n_solids == 2
    assert r.volume == pytest.approx(2.0)
    assert r.mesh.volume() == pytest.approx(2.0, rel=1e-6)


# ---- failures ---------------------------------------------------------------------------------
def test_syntax_error(sandbox):
    r = run(sandbox, "import cadquery as cq\nsolid = cq.Workplane(.box(1,1,1)\n")
    assert r.status == S.SYNTAX_ERROR and "line" in r.error


def test_runtime_error_has_type_and_message(sandbox):
    r = run(sandbox, "import cadquery as cq\nsolid = cq.Workplane().box(1, 1)\n")
    assert r.status == S.RUNTIME_ERROR and r.error.startswith("TypeError:")


def test_no_result(sandbox):
    r = run(sandbox, "import cadquery as cq\nx = cq.Workplane().box(1, 1, 1)\n")
    assert r.status == S.NO_RESULT and r.picked_by is None


@pytest.mark.parametrize("code", [
    "solid = 42\n",
    "import cadquery as cq\nsolid = cq.Workplane().rect(1, 1)\n",           # only a 2D wire
    "import cadquery as cq\nsolid = cq.Workplane().rect(1, 1).extrude(1).faces('>Z')\n",
])
def test_not_a_solid(sandbox, code):
    r = run(sandbox, code)
    assert r.status == S.NOT_A_SOLID and r.picked_by == "var:solid"


def test_empty_solid(sandbox):
    code = ("import cadquery as cq\nfrom OCP.BRep import BRep_Builder\nfrom OCP.TopoDS import TopoDS_Solid\n"
            "s = TopoDS_Solid(); BRep_Builder().MakeSolid(s)\nsolid = cq.Solid(s)\n")
    r = run(sandbox, code)
    assert r.status == S.EMPTY


def test_invalid_geometry_oversized_fillet(sandbox):
    # OCC returns an invalid solid here without raising
    r = run(sandbox, "import cadquery as cq\nsolid = cq.Workplane().box(1, 1, 1).edges('>Z').fillet(0.55)\n")
    assert r.status == S.INVALID_GEOMETRY and "not valid (BRepCheck)" in r.error
    assert r.brep_valid is False and r.mesh is None


def test_invalid_geometry_negative_volume(sandbox):
    code = ("import cadquery as cq\n"
            "solid = cq.Solid(cq.Solid.makeBox(1, 1, 1).wrapped.Reversed())\n")
    r = run(sandbox, code)
    assert r.status == S.INVALID_GEOMETRY and "negative volume" in r.error


def test_timeout_infinite_loop(sandbox):
    r = run(sandbox, "while True:\n    pass\n")
    assert r.status == S.TIMEOUT and r.duration_s < 6


def test_memory_limit_50gb(sandbox):
    r = run(sandbox, "x = bytearray(50 * 2**30)\n")
    assert r.status == S.MEMORY_LIMIT
    r = run(sandbox, "import numpy as np\nx = np.ones(50 * 2**30 // 8)\n")
    assert r.status == S.MEMORY_LIMIT


def test_crash_segfault(sandbox):
    r = run(sandbox, "import ctypes\nctypes.string_at(0)\n")
    assert r.status == S.CRASHED and r.error == "SIGSEGV"


def test_sys_exit_and_keyboard_interrupt(sandbox):
    r = run(sandbox, "import sys\nsys.exit(0)\n")
    assert r.status == S.RUNTIME_ERROR and r.error.startswith("SystemExit")
    r = run(sandbox, "raise KeyboardInterrupt\n")
    assert r.status == S.RUNTIME_ERROR and r.error.startswith("KeyboardInterrupt")


def test_os_exit(sandbox):
    r = run(sandbox, "import os\nos._exit(0)\n")
    assert r.status == S.RUNTIME_ERROR and "exited with code 0" in r.error


def test_stdout_flood_is_capped(sandbox):
    code = ("import os\nfor _ in range(2000):\n    print('y' * 10000)\n"
            "os.write(1, b'z' * (20 * 2**20))\n" + BOX.format(var="solid"))
    r = run(sandbox, code)
    assert r.status == S.OK
    assert 0 < len(r.output_tail) <= 4096


# ---- no process survives ---------------------------------------------------------------------
def test_grandchild_sleeping_forever_is_killed(sandbox):
    marker = f"1000.{secrets.randbelow(10**9)}"  # sleep accepts a fractional duration
    code = (f"import subprocess, time\np = subprocess.Popen(['sleep', '{marker}'])\n"
            "time.sleep(0.2)\n" + BOX.format(var="solid"))
    r = run(sandbox, code)
    assert r.status == S.OK
    assert_gone(marker)


def test_setsid_detached_grandchild_is_killed(sandbox):
    marker = f"1000.{secrets.randbelow(10**9)}"
    code = (
        "import os, signal, time\nr, w = os.pipe()\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "        os.write(w, b'x'); os.close(w)\n"
        f"        os.execv('/bin/sleep', ['sleep', '{marker}'])\n"
        "    os._exit(0)\n"
        "os.close(w)\nos.read(r, 1)\n"
        "while True:\n    pass\n")   # and then time out
    r = run(sandbox, code)
    assert r.status == S.TIMEOUT
    assert_gone(marker)


def test_sandbox_survives_and_cleans_up(sandbox):
    # after all the hostile snippets above the same warm worker still answers correctly
    r = run(sandbox, BOX.format(var="solid"))
    assert r.status == S.OK
    leftovers = [n for n in os.listdir(sandbox._base) if n.startswith("c-")]
    assert leftovers == []  # every candidate's folder was removed

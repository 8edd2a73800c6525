"""The probes can fail: run outside the sandbox (plain Python, same values), each program that
looks for a leak must find it. Without this, a probe that silently never worked would make its
sandboxed test pass for the wrong reason."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from .corpus import load_corpus, marker_for
from .watch import Listeners, host_ip

STUBS = Path(__file__).parent / "probe_stubs"
PROBES = ["50_write_tmp", "70_read_references", "71_read_gt_cache", "73_secret_environ",
          "74_secret_proc_environ", "75_secret_memory_scan", "77_read_root_only_files",
          "80_net_tcp", "81_net_udp", "82_net_raw_syscalls", "83_net_abstract_unix",
          "84_net_unix_path_socket", "78_rebuild_benchmark", "86_read_repository_runs",
          "87_other_processes_cmdline"]
if os.geteuid() == 0:
    PROBES.append("76_read_parent_memory")


@pytest.fixture(scope="module")
def probe_env(tmp_path_factory):
    session = secrets.token_hex(4)
    work = tmp_path_factory.mktemp("probes")
    (work / "gt").mkdir()
    (work / "gt" / "abc.npz").write_bytes(b"PK\x03\x04")
    (work / "references.jsonl").write_text(json.dumps({"id": "x", "code": "solid = 1"}) + "\n")
    root_only = work / "root_only.json"
    root_only.write_text("{}")
    os.chmod(root_only, 0o600)
    listeners = Listeners(unix_path=f"/tmp/cbadv-probe-sock-{session}",
                          abstract_name=f"cbadv-probe-abstract-{session}")
    values = {"__TIMEOUT__": 1, "__PORT__": listeners.tcp_port,
              "__UDP_PORT__": listeners.udp_port, "__HOST_IP__": host_ip(),
              "__UNIX_SOCK__": listeners.unix_path, "__ABSTRACT_SOCK__": listeners.abstract_name,
              "__SECRET_NAME__": "CBADV_API_KEY", "__GT_DIR__": str(work / "gt"),
              "__REFS_PATH__": str(work / "references.jsonl"),
              "__ROOT_SECRET_JSON__": str(root_only),
              "__REPO__": str(Path(__file__).resolve().parents[2])}
    env = {**os.environ, "PYTHONPATH": str(STUBS), "CBADV_API_KEY": "sk-" + secrets.token_hex(8)}
    yield session, work, values, env
    listeners.close()


@pytest.mark.parametrize("name", PROBES)
def test_probe_finds_the_leak_outside_the_sandbox(probe_env, name):
    session, work, values, env = probe_env
    program = {p.name: p for p in load_corpus()}[name]
    marker = marker_for(session, name)
    code = program.render(values, marker)
    # SIGUSR1 and friends are not sent by these probes; a plain child of the test runner.
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(work),
                          capture_output=True, text=True, timeout=60)
    for leftover in Path("/tmp").glob(f"cbadv-{marker}-*"):
        leftover.unlink()
    Path(f"/var/tmp/cbadv-{marker}-{name}").unlink(missing_ok=True)
    assert proc.returncode != 0 and "LEAK" in proc.stderr, (proc.returncode, proc.stderr[-500:])


# ---- no inherited program text (issue 14.1) ------------------------------------------------------
SCAN = Path(__file__).parent / "slow_programs" / "79_scan_address_space_for_programs.py"
REPO = Path(__file__).resolve().parents[2]


def _gencad_rows(n: int) -> list[dict]:
    from .corpus import DATA_PATH
    if not DATA_PATH.exists():
        pytest.skip(f"{DATA_PATH} not available")
    return [json.loads(line) for line in DATA_PATH.read_text().splitlines()[:n]]


def _scan_code(marker: str) -> str:
    from .corpus import parse_program
    return parse_program(SCAN).render({}, marker)


def test_scan_finds_programs_held_in_memory():
    """The control: in a process that holds a GenCAD program and another program's marker, the
    scan reports both."""
    held = (f"held = {_gencad_rows(1)[0]['ground_truth']!r}.encode()\n"
            "other = (b'cb' + b'adv0badf00d' + b\"'\") * 1\n")
    proc = subprocess.run([sys.executable, "-c", held + _scan_code("deadbeef")],
                          capture_output=True, text=True, timeout=120, cwd=str(REPO))
    assert proc.returncode != 0 and "LEAK" in proc.stderr, proc.stderr[-500:]
    assert "program" in proc.stderr and "marker" in proc.stderr, proc.stderr[-500:]


@pytest.mark.parametrize("workers", [1, 2])
def test_candidate_memory_holds_no_reference_or_earlier_candidate(tmp_path, workers):
    """Through `cadbench score` with a cold ground-truth cache: the references run first, then
    candidates (GenCAD programs with scaled extrusions, and other programs with a marker of
    their own); the last candidate of every worker scans its whole address space for any of
    them and finds none."""
    from .corpus import PROLOGUE, perturb
    rows = _gencad_rows(6)
    refs, preds = [], []
    for i, row in enumerate(rows):
        rid = f"r{i}"
        refs.append({"id": rid, "code": row["ground_truth"]})
        preds.append({"id": rid, "code": perturb(row["ground_truth"], 1.3)})
        other = PROLOGUE.replace("__MARKER__", f"{i:08x}") + "import cadquery as cq\nsolid = cq.Workplane().box(1, 1, 1)\n"
        preds.append({"id": rid, "code": other})
    for k in range(2 * workers):  # scans last, at least one per worker
        preds.append({"id": f"r{k % len(rows)}", "code": _scan_code(f"{0xabc000 + k:08x}")})
    (tmp_path / "refs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in refs))
    (tmp_path / "preds.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    env = {**os.environ, "CADBENCH_HOME": str(tmp_path / "home")}  # cold cache
    proc = subprocess.run(
        [sys.executable, "-m", "cadbench", "score", "--references", str(tmp_path / "refs.jsonl"),
         "--predictions", str(tmp_path / "preds.jsonl"), "--out", str(tmp_path / "run"),
         "--workers", str(workers), "--timeout", "60", "--no-best", "--quiet"],
        env=env, capture_output=True, text=True, timeout=900, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    scans = [r for r in results if r["code_sha"] in {
        __import__("cadbench.scoring", fromlist=["code_sha"]).code_sha(p["code"])
        for p in preds[-2 * workers:]}]
    assert len(scans) == 2 * workers
    for r in scans:
        assert r["status"] == "ok", (r["status"], r.get("error"))

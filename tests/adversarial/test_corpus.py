"""The adversarial corpus through the real `cadbench score` CLI, mixed with normal programs.

One scoring run (2 workers, short timeout) holds every hostile program of `programs/` and a few
GenCAD-Code programs; a second run scores the normal programs alone. Then, per program: the
right status, nothing leaked through the result, its twin's metrics where it tried to patch its
way to a better score; and for the run as a whole: the harness finished, the normal programs
scored exactly as they do alone, no process left behind, no file written outside the
candidates' folders, no secret seen, no connection made, no signal received.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .corpus import DATA_PATH, Program, load_corpus, marker_for, normal_cases
from .watch import Listeners, host_ip, marked_files, marked_processes

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 3
SECRET_NAME = "CBADV_API_KEY"
IS_ROOT = os.geteuid() == 0

pytestmark = pytest.mark.skipif(not DATA_PATH.exists(), reason=f"{DATA_PATH} not available")

CORPUS = [p for p in load_corpus() if IS_ROOT or not p.requires_root]
# Known holes are each a strict xfail of their own program; the run-wide checks below hold for
# everything else (and fail on anything not attributable to a program).
KNOWN_HOLES = {p.name for p in CORPUS if p.xfail}


def _not_known_hole(names) -> list:
    return [n for n in names if n not in KNOWN_HOLES]


@dataclass
class CorpusRun:
    results: dict[str, dict]
    baseline: dict[str, dict]
    rc: int
    stdout: str
    stderr: str
    secret: str
    out_dir: Path
    leftover_processes: dict[int, str]
    outside_files: dict[str, str]
    harness_tmp_left: list[str]
    contacts: list[str]
    signals: list[int]
    victims_missing: list[str]
    n_predictions: int
    wall_s: float
    notes: list[str] = field(default_factory=list)


def _cli(args: list[str], env: dict, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cadbench", "score", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=str(REPO))


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _rounded(metrics: dict) -> dict:
    """Metrics to 1e-9: OCC's tessellation of one program can differ between runs in the last
    bit of a vertex, which shows in the last digits of a metric (see tests/test_crash_safety.py)."""
    return {k: round(v, 9) if isinstance(v, float) else v for k, v in metrics.items()}


def _read_results(out_dir: Path) -> dict[str, dict]:
    path = out_dir / "results.jsonl"
    if not path.exists():
        return {}
    return {r["id"]: r for r in map(json.loads, path.read_text().splitlines()) if r}


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory) -> CorpusRun:
    session = secrets.token_hex(4)
    work = tmp_path_factory.mktemp("adversarial")
    home = work / "home"
    harness_tmp = tempfile.mkdtemp(prefix="cbadv-harness-")  # the harness's TMPDIR
    os.chmod(harness_tmp, 0o755)
    victim = Path(f"/tmp/cbadv-victim-{session}")
    victim.write_text("must survive\n")
    secret = "sk-" + secrets.token_hex(16)
    root_secret = Path(f"/tmp/cbadv-rootsecret-{session}.json")
    root_secret.write_text(json.dumps({"status": "ok", "error": secret}))
    os.chmod(root_secret, 0o600)
    listeners = Listeners(unix_path=f"/tmp/cbadv-sock-{session}",
                          abstract_name=f"cbadv-abstract-{session}")
    received: list[int] = []
    old_usr1 = signal.signal(signal.SIGUSR1, lambda s, f: received.append(s))

    normals = normal_cases(6)
    markers = {marker_for(session, p.name): p.name for p in CORPUS}
    by_name = {p.name: marker_for(session, p.name) for p in CORPUS}
    out_dir = work / "run"
    values = {
        "__TIMEOUT__": TIMEOUT_S, "__PORT__": listeners.tcp_port,
        "__UDP_PORT__": listeners.udp_port, "__HOST_IP__": host_ip(),
        "__UNIX_SOCK__": listeners.unix_path, "__ABSTRACT_SOCK__": listeners.abstract_name,
        "__SECRET_NAME__": SECRET_NAME, "__GT_DIR__": str(home / "gt"),
        "__REFS_PATH__": str(work / "references.jsonl"), "__DATA_PATH__": str(DATA_PATH),
        "__OUT_DIR__": str(out_dir), "__VICTIM__": str(victim),
        "__ROOT_SECRET_JSON__": str(root_secret), "__REPO__": str(REPO),
        "__HARNESS_TMP__": harness_tmp, "__HARNESS_IS_ROOT__": str(IS_ROOT),
        "__QID__": normals[0].question_id,
    }
    refs = [{"id": n.id, "code": n.reference} for n in normals]
    preds = [{"id": n.id, "code": n.prediction} for n in normals]
    for i, p in enumerate(CORPUS):
        # The dataset-stealing program must be paired with the sample it looks up, and the
        # patching programs with the same reference as their twin.
        twinned = p.twin or any(q.twin == p.name for q in CORPUS)
        ref = normals[0] if ("__QID__" in p.template or twinned) else normals[i % len(normals)]
        refs.append({"id": p.id, "code": ref.reference})
        preds.append({"id": p.id, "code": p.render(values, by_name[p.name])})
    # Interleave hostile and normal predictions so normal ones share workers with hostile ones.
    preds = preds[len(normals):len(normals) + 10] + preds[:len(normals)] + preds[len(normals) + 10:]
    _write_jsonl(work / "references.jsonl", refs)
    _write_jsonl(work / "predictions.jsonl", preds)
    _write_jsonl(work / "normal_predictions.jsonl", [{"id": n.id, "code": n.prediction}
                                                     for n in normals])
    env = {**os.environ, "CADBENCH_HOME": str(home), "TMPDIR": harness_tmp,
           SECRET_NAME: secret}
    common = ["--references", str(work / "references.jsonl"), "--workers", "2",
              "--timeout", str(TIMEOUT_S), "--memory-mb", "256", "--no-best", "--quiet"]
    watched_dirs = ["/tmp", "/var/tmp", "/dev/shm", str(REPO), str(REPO / "cadbench"),
                    str(work), str(Path(sys.prefix) / "lib")]
    try:
        t0 = time.perf_counter()
        proc = _cli(common + ["--predictions", str(work / "predictions.jsonl"),
                              "--out", str(out_dir)], env)
        wall = time.perf_counter() - t0
        time.sleep(0.5)  # let the kernel finish reaping before looking for leftovers
        leftovers = marked_processes(markers)
        outside = marked_files(watched_dirs, markers)
        results = _read_results(out_dir)
        base = _cli(common + ["--predictions", str(work / "normal_predictions.jsonl"),
                              "--out", str(work / "baseline")], env)
        assert base.returncode == 0, base.stderr[-2000:]
        baseline = _read_results(work / "baseline")
        # What stays in the harness's TMPDIR; a leftover that holds a known hole's marker is
        # that hole's (its own test fails for it), anything else is a leak of the harness.
        tmp_left = []
        for entry in sorted(os.listdir(harness_tmp)):
            owners = set(marked_files([os.path.join(harness_tmp, entry)], markers, depth=6).values())
            if not owners or not owners <= KNOWN_HOLES:
                tmp_left.append(entry)
        missing = [str(p) for p in (victim, work / "references.jsonl",
                                    out_dir / "results.jsonl") if not p.exists()]
        missing += [] if list((home / "gt").glob("*.npz")) else [str(home / "gt") + "/*.npz"]
        yield CorpusRun(results, baseline, proc.returncode, proc.stdout, proc.stderr, secret,
                        out_dir, leftovers, outside, tmp_left, list(listeners.contacts),
                        list(received), missing, len(preds), wall)
    finally:
        signal.signal(signal.SIGUSR1, old_usr1)
        listeners.close()
        for pid in marked_processes(markers):  # leftovers of this run only: stop them
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for path in marked_files(watched_dirs, markers):
            Path(path).unlink(missing_ok=True)
        victim.unlink(missing_ok=True)
        root_secret.unlink(missing_ok=True)
        # rm -rf, not shutil.rmtree: a candidate folder may be thousands of levels deep
        subprocess.run(["rm", "-rf", "--one-file-system", harness_tmp], check=False)


def test_harness_completes_every_sample(corpus_run: CorpusRun):
    assert corpus_run.rc == 0, corpus_run.stderr[-3000:]
    assert len(corpus_run.results) == corpus_run.n_predictions
    assert (corpus_run.out_dir / "summary.json").exists()
    print(f"corpus run: {corpus_run.n_predictions} programs in {corpus_run.wall_s:.1f} s")


def _params():
    out = []
    for p in CORPUS:
        marks = [pytest.mark.xfail(strict=True, reason=p.xfail)] if p.xfail else []
        out.append(pytest.param(p, id=p.name, marks=marks))
    return out


@pytest.mark.parametrize("program", _params())
def test_program(corpus_run: CorpusRun, program: Program):
    r = corpus_run.results.get(program.id)
    assert r is not None, f"{program.id}: no result line"
    error = r.get("error") or ""
    assert "LEAK" not in error, f"{program.name}: {error}"
    assert r["status"] in program.expect, (
        f"{program.name}: expected {'|'.join(program.expect)}, got {r['status']} ({error})")
    if program.twin:
        twin = corpus_run.results[f"adv-{program.twin}"]
        assert _rounded(r["metrics"]) == _rounded(twin["metrics"]), f"{program.name} != twin"
    if program.max_iou is not None and r["status"] == "ok":
        assert r["metrics"]["iou"] < program.max_iou, f"{program.name}: iou {r['metrics']}"
    assert program.name not in corpus_run.leftover_processes.values(), "left a process behind"
    assert program.name not in corpus_run.outside_files.values(), (
        f"wrote {[f for f, n in corpus_run.outside_files.items() if n == program.name]}")
    assert not [c for c in corpus_run.contacts if program.name in c], corpus_run.contacts


def test_normal_programs_unchanged_by_hostile_neighbours(corpus_run: CorpusRun):
    assert corpus_run.baseline, "baseline run produced no results"
    normal = {rid: r for rid, r in corpus_run.baseline.items() if rid.startswith("normal-")}
    assert len(normal) == 6
    for rid, base in normal.items():
        mixed = corpus_run.results[rid]
        assert base["status"] == "ok", (rid, base)
        assert mixed["status"] == base["status"], rid
        assert _rounded(mixed["metrics"]) == _rounded(base["metrics"]), rid


def test_no_process_left_behind(corpus_run: CorpusRun):
    assert _not_known_hole(corpus_run.leftover_processes.values()) == []


def test_no_file_written_outside_candidate_folders(corpus_run: CorpusRun):
    assert _not_known_hole(corpus_run.outside_files.values()) == []
    assert corpus_run.victims_missing == []
    # The sandbox's folders (and anything a candidate put in them) are gone after the run.
    assert corpus_run.harness_tmp_left == []


def test_no_secret_reaches_any_output(corpus_run: CorpusRun):
    for where, text in (("results.jsonl", (corpus_run.out_dir / "results.jsonl").read_text()),
                        ("summary.json", (corpus_run.out_dir / "summary.json").read_text()),
                        ("stdout", corpus_run.stdout), ("stderr", corpus_run.stderr)):
        assert corpus_run.secret not in text, f"the secret appears in {where}"


def test_no_connection_made(corpus_run: CorpusRun):
    unexplained = [c for c in corpus_run.contacts if not any(h in c for h in KNOWN_HOLES)]
    assert unexplained == []


def test_no_signal_reaches_the_test_runner(corpus_run: CorpusRun):
    assert corpus_run.signals == []


def test_results_stay_small(corpus_run: CorpusRun):
    """Gigabytes of candidate output never reach the results file."""
    assert (corpus_run.out_dir / "results.jsonl").stat().st_size < 200_000

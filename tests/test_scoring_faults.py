"""Faults are not failures, references are never dropped silently, resume checks the
references, and copies of the reference are counted (issue 14, items 4, 9, 10)."""

import json

import pytest

from cadbench.config import ExecConfig, ScoreConfig
from cadbench.errors import InputError
from cadbench.records import SampleResult
from cadbench.scoring import RESULTS_FILE, score

BOX = "import cadquery as cq\nsolid = cq.Workplane('XY').box(1, 1, 1)\n"
HALF = "import cadquery as cq\nsolid = cq.Workplane('XY').box(1, 1, 0.5)\n"
SLOW_REF = "import time\ntime.sleep(60)\n"
CONFIG = ScoreConfig(exec=ExecConfig(timeout_s=3.0), workers=1, bootstrap_samples=0)


def test_reference_that_cannot_run_is_reported_not_dropped(tmp_path):
    out = score([("a", BOX), ("b", SLOW_REF)], [("a", BOX), ("b", BOX)], tmp_path / "run",
                CONFIG, progress=False)
    rec = out.record
    assert rec.n_references_given == 2 and rec.n_references == 1
    assert list(rec.reference_faults) == ["b"] and "timeout" in rec.reference_faults["b"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["reference_faults"] == rec.reference_faults
    from cadbench.scoring import format_summary_table
    assert "1 of 2 references" in format_summary_table(out.summary, out.status_counts, rec)


def test_harness_faults_are_rerun_on_resume_and_never_count_as_failures(tmp_path):
    run = tmp_path / "run"
    first = score([("a", BOX), ("b", BOX)], [("a", BOX), ("b", HALF)], run, CONFIG,
                  progress=False)
    assert first.summary["vsr"] == 1.0
    # Forge a harness fault into the stored results, as a crash of the harness would leave.
    rows = [json.loads(line) for line in (run / RESULTS_FILE).read_text().splitlines()]
    for r in rows:
        if r["id"] == "b":
            r.update(status="harness_error", error="simulated fault", metrics={})
    (run / RESULTS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    from cadbench.aggregate import summarize
    faulty = summarize([SampleResult.from_dict(r) for r in rows], ["a", "b"], n_boot=0)
    assert faulty["n"] == 1 and faulty["n_faults"] == 1 and faulty["vsr"] == 1.0
    again = score([("a", BOX), ("b", BOX)], [("a", BOX), ("b", HALF)], run, CONFIG,
                  progress=False)
    b = next(r for r in again.results if r.id == "b")
    assert b.status == "ok" and b.metrics["iou"] == pytest.approx(0.5, abs=0.02)
    assert again.summary["n_faults"] == 0 and again.summary["n"] == 2


def test_resume_refuses_a_folder_scored_against_other_references(tmp_path):
    run = tmp_path / "run"
    score([("a", BOX)], [("a", BOX)], run, CONFIG, progress=False)
    with pytest.raises(InputError, match="other references.*--no-resume.*--rescore"):
        score([("a", HALF)], [("a", BOX)], run, CONFIG, progress=False)
    redone = score([("a", HALF)], [("a", BOX)], run, CONFIG, progress=False, resume=False)
    assert redone.results[0].metrics["iou"] == pytest.approx(0.5, abs=0.02)


def test_copies_of_the_reference_are_counted(tmp_path):
    respelled = BOX.replace("box(1, 1, 1)", "box(1.0, 1.00, 1)  # same program")
    out = score([("a", BOX), ("b", BOX), ("c", BOX)], [("a", BOX), ("b", respelled),
                                                       ("c", HALF)],
                tmp_path / "run", CONFIG, progress=False)
    kinds = {r.id: r.copies_reference for r in out.results}
    assert kinds == {"a": "exact", "b": "normalized", "c": None}
    assert out.summary["n_copies_exact"] == 1 and out.summary["n_copies_normalized"] == 2


def test_resume_refuses_a_folder_scored_by_other_scoring_code(tmp_path, monkeypatch):
    import cadbench.scoring as scoring
    run = tmp_path / "run"
    score([("a", BOX)], [("a", BOX)], run, CONFIG, progress=False)
    assert len(scoring.scoring_code_hash()) == 16
    monkeypatch.setattr(scoring, "scoring_code_hash", lambda: "0" * 16)
    with pytest.raises(InputError, match="scoring code"):
        score([("a", BOX)], [("a", BOX)], run, CONFIG, progress=False)

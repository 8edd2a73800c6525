"""The main job leaves the tree as it was (issue 15.5): a run that reproduces a record leaves
its file alone, a record is only replaced by a run over the whole split, --no-record writes
nothing outside the run folder."""

from dataclasses import replace

import pytest

from baselines.constant import box_program
from cadbench.cli import main
from cadbench.records import RunRecord
from cadbench.run import METRIC_TOLERANCE, same_result

PROGRAMS = {"a": box_program(1.0, 0.5, 0.25), "b": box_program(0.5, 0.5, 0.5),
            "c": box_program(0.2, 1.0, 0.4)}


@pytest.fixture()
def data(program_folder):
    return program_folder(PROGRAMS)


def run(data, out, *extra):
    return main(["run", "--model", "constant", "--dataset", str(data), "--workers", "1",
                 "--no-progress", "--out", str(out), *extra])


def test_reproducing_a_record_leaves_its_file_alone(data, tmp_path, capsys):
    rec = tmp_path / "leaderboards" / "constant.json"
    assert run(data, tmp_path / "r1", "--record", str(rec)) == 0
    before = rec.read_bytes()
    # A fresh folder: generated and scored again, other timestamps and timings.
    assert run(data, tmp_path / "r2", "--record", str(rec)) == 0
    assert rec.read_bytes() == before
    assert f"run record {rec} unchanged: this run reproduces it" in capsys.readouterr().err

    # Another result replaces it.
    assert run(data, tmp_path / "r3", "--record", str(rec), "--opt", "width=0.5") == 0
    assert rec.read_bytes() != before
    assert RunRecord.load(rec).submission["options"]["width"] == 0.5


def test_a_partial_run_never_replaces_a_record(data, tmp_path, capsys):
    rec = tmp_path / "rec.json"
    assert run(data, tmp_path / "full", "--record", str(rec)) == 0
    before = rec.read_bytes()
    assert run(data, tmp_path / "part", "--record", str(rec), "--limit", "2",
               "--opt", "width=0.5") == 0
    assert rec.read_bytes() == before
    assert "a run over 2 of the split's samples never replaces it" in capsys.readouterr().err
    assert RunRecord.load(tmp_path / "part" / "record.json").n_references == 2


def test_a_limit_run_and_no_record_stay_in_the_run_folder(data, tmp_path, monkeypatch, capsys):
    import cadbench.run as run_mod
    target = tmp_path / "lb" / "constant.json"
    monkeypatch.setattr(run_mod, "default_record_path", lambda *a: target)
    assert run(data, tmp_path / "lim", "--limit", "2") == 0
    assert run(data, tmp_path / "nr", "--no-record") == 0
    assert not target.exists()
    assert (tmp_path / "lim" / "record.json").exists() and (tmp_path / "nr" / "record.json"
                                                            ).exists()
    assert run(data, tmp_path / "whole") == 0       # the default: a whole-split run files it
    assert target.exists()
    with pytest.raises(SystemExit):      # --record and --no-record exclude each other
        main(["run", "--model", "constant", "--record", "x", "--no-record"])
    assert "not allowed with argument" in capsys.readouterr().err


def make_record(**kw) -> RunRecord:
    base = RunRecord(kind="run", model="m", dataset="d", split="test", n_references=3,
                     n_predictions=3, metrics={"iou_all_mean": 0.5, "iou_all_mean_ci95":
                                               [0.4, 0.6], "n": 3},
                     status_counts={"ok": 3}, config={"workers": 2, "exec": {"timeout_s": 10}},
                     provenance={"predictions_hash": "p1", "references_hash": "r1",
                                 "git": {"commit": "abc"}},
                     submission={"name": "m", "options": {"w": 1}, "inference_time_s": 1.0},
                     created="2026-01-01T00:00:00+00:00")
    return replace(base, **kw)


def test_same_result_ignores_volatile_fields_only():
    old = make_record()
    assert same_result(old, make_record(created="2027-01-01", provenance={
        **old.provenance, "git": {"commit": "def"}, "timing": {"score_wall_s": 9}}))
    assert same_result(old, make_record(submission={**old.submission, "inference_time_s": 5}))
    assert same_result(old, make_record(config={**old.config, "workers": 1}))
    near = {**old.metrics, "iou_all_mean": 0.5 + METRIC_TOLERANCE / 2}
    assert same_result(old, make_record(metrics=near))
    far = {**old.metrics, "iou_all_mean": 0.5 + 10 * METRIC_TOLERANCE}
    assert not same_result(old, make_record(metrics=far))
    assert not same_result(old, make_record(provenance={**old.provenance,
                                                        "predictions_hash": "p2"}))
    assert not same_result(old, make_record(config={**old.config, "exec": {"timeout_s": 5}}))
    assert not same_result(old, make_record(submission={**old.submission, "options": {"w": 2}}))
    assert not same_result(old, make_record(status_counts={"ok": 2, "syntax_error": 1}))
    # the submission's own code or weights changed: the record says which made it
    sub = {"source_hash": "s1", "checkpoint_hash": "c1", "dirty": False}
    with_sub = make_record(provenance={**old.provenance, "submission": sub})
    assert same_result(with_sub, make_record(provenance={
        **old.provenance, "submission": {**sub, "dirty": True}}))
    assert not same_result(with_sub, make_record(provenance={
        **old.provenance, "submission": {**sub, "source_hash": "s2"}}))

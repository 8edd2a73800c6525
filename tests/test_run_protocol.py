"""`cadbench run --protocol P` scores a run folder's predictions under a peer's convention in
a folder of its own (`protocol-P/`), next to cadbench's own scoring, without generating
again, and keeps its record out of the leaderboard; `--rescore` scores a folder again."""

import json

from baselines.constant import box_program
from cadbench.cli import main
from cadbench.run import default_record_path

PROGRAMS = {"a": box_program(1.0, 0.5, 0.25), "b": box_program(0.5, 0.5, 0.5)}


def run(*args):
    return main(["run", "--workers", "1", "--no-progress", "--model", "constant", *args])




def test_a_protocol_run_scores_the_same_predictions_in_its_own_folder(program_folder, tmp_path,
                                                                     capsys):
    data, out = program_folder(PROGRAMS, "tinyproto"), tmp_path / "r"
    assert run("--dataset", str(data), "--out", str(out), "--no-record", "--no-best") == 0
    own = (out / "results.jsonl").read_text()
    generated = (out / "predictions.jsonl").read_text()
    capsys.readouterr()
    filed = tmp_path / "filed.json"
    assert run("--dataset", str(data), "--out", str(out), "--protocol", "cadrille",
               "--record", str(filed)) == 0
    peer = out / "protocol-cadrille"
    printed = capsys.readouterr()
    assert f"run record written to {filed}" in printed.err
    assert "note: protocol cadrille: mean iou = " in printed.out   # the peer's headline
    assert (out / "results.jsonl").read_text() == own            # cadbench's own untouched
    assert (out / "predictions.jsonl").read_text() == generated  # nothing generated again
    record = json.loads((peer / "record.json").read_text())
    assert record["config"]["metrics"]["protocol"] == "cadrille"
    assert record["metrics"]["protocol"]["headline"]["label"] == "mean iou"
    assert json.loads(filed.read_text())["metrics"] == record["metrics"]


def test_a_protocol_record_is_filed_in_that_protocols_own_table():
    own = default_record_path("synth", "test", "simple")
    peer = default_record_path("synth", "test", "simple", "cadrille")
    assert own.parent.name == "test" and own.name == "simple.json"
    assert peer.parent == own.parent / "protocol-cadrille" and peer.name == "simple.json"


def test_rescore_scores_a_folder_again_that_resume_refuses(program_folder, tmp_path, capsys):
    data, out = program_folder(PROGRAMS, "tinyproto"), tmp_path / "r"
    assert run("--dataset", str(data), "--out", str(out), "--no-record", "--no-best") == 0
    capsys.readouterr()
    assert run("--dataset", str(data), "--out", str(out), "--no-record",
               "--voxel-resolution", "32", "--no-best") == 2
    assert "cadbench run --rescore" in capsys.readouterr().err
    assert run("--dataset", str(data), "--out", str(out), "--no-record",
               "--voxel-resolution", "32", "--no-best", "--rescore") == 0
    record = json.loads((out / "record.json").read_text())
    assert record["config"]["metrics"]["voxel_resolution"] == 32

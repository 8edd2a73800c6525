"""`cadbench run` end to end through the CLI, with a submission module written to a temporary
folder and a folder dataset of three `<id>.py` programs: generate, score, record, resume."""

import json
import textwrap

import pytest

from baselines.constant import box_program
from cadbench.cli import main

PROGRAMS = {"p1": box_program(1.0, 0.5, 0.25), "p2": box_program(0.5, 0.5, 0.5),
            "p3": box_program(0.2, 1.0, 0.4), "p4": box_program(0.6, 0.6, 0.1)}

SUBMISSION = textwrap.dedent('''
    from cadbench.submissions import Submission

    CALLS = []

    class Boxes(Submission):
        name = "tmp_boxes"
        description = "a box per image, sized by an option"
        default_options = {"side": 0.5, "batch_size": 2}

        def generate(self, samples):
            CALLS.append([s.id for s in samples])
            s = self.options["side"]
            return [f"import cadquery as cq\\nsolid = cq.Workplane().box({s}, {s}, {s})\\n"
                    for _ in samples]


    class Peeker(Submission):
        """Tries to read the answer: `cadbench run` hands it no `code` at all."""
        name = "tmp_peeker"

        def generate(self, samples):
            return [getattr(s, "code", "") for s in samples]
''')


@pytest.fixture()
def setup(tmp_path):
    data = tmp_path / "tiny"
    data.mkdir()
    for pid, code in PROGRAMS.items():
        (data / f"{pid}.py").write_text(code)
    module = tmp_path / "mods" / "boxes.py"
    module.parent.mkdir()
    module.write_text(SUBMISSION)
    return tmp_path, data, module


def run_cli(*args):
    return main(["run", "--workers", "1", "--no-progress", *args])


def test_run_end_to_end_and_resume(setup, capsys):
    tmp, data, module = setup
    out, record = tmp / "run", tmp / "record.json"
    args = ["--model", f"{module}:Boxes", "--dataset", str(data), "--limit", "3",
            "--opt", "side=0.6", "--out", str(out), "--record", str(record)]
    assert run_cli(*args) == 0
    printed = capsys.readouterr()
    assert "VSR" in printed.out and "1.000" in printed.out

    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and {r["candidate"] for r in rows} == {0}
    assert all("box(0.6, 0.6, 0.6)" in r["code"] for r in rows)
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(results) == 3 and all(r["status"] == "ok" for r in results)

    rec = json.loads(record.read_text())
    assert rec["kind"] == "run" and rec["model"] == "tmp_boxes" and rec["split"] == "test"
    assert rec["n_references"] == 3 and rec["metrics"]["vsr"] == 1.0
    assert 0 < rec["metrics"]["iou_all_mean"] < 1
    assert rec["submission"]["options"] == {"side": 0.6, "batch_size": 2}
    assert rec["submission"]["inference_time_s"] >= 0
    assert rec["provenance"]["dataset_hash"] and "git" in rec["provenance"]
    assert rec["schema_version"] == 2

    # Interrupted after one batch: drop the last prediction and its result, run again.
    pred_lines = (out / "predictions.jsonl").read_text().splitlines()
    (out / "predictions.jsonl").write_text("\n".join(pred_lines[:2]) + "\n")
    kept = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    kept = [r for r in kept if r["id"] != rows[2]["id"]]
    # Mark a kept result: were it re-scored, the mark would vanish.
    kept[0]["metrics"]["iou"] = kept[0]["metrics"]["iou"] + 0.3
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    assert run_cli(*args) == 0
    err = capsys.readouterr().err
    assert "resuming: 2 of 3 samples already generated" in err
    again = json.loads(record.read_text())
    assert again["metrics"]["iou_all_mean"] == pytest.approx(
        rec["metrics"]["iou_all_mean"] + 0.1, abs=2e-6)
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 3

    # Other settings on the same folder are refused, with a clear message.
    assert run_cli(*[a if a != "side=0.6" else "side=0.7" for a in args]) == 2
    assert ("made by a run with other settings: option side: 0.6 in the folder, 0.7 now"
            in capsys.readouterr().err)


def test_run_hides_the_ground_truth_from_submissions(setup, capsys):
    tmp, data, module = setup
    assert run_cli("--model", f"{module}:Peeker", "--dataset", str(data), "--limit", "2",
                   "--out", str(tmp / "peek"), "--no-record") == 0
    rows = [json.loads(line) for line in (tmp / "peek" / "predictions.jsonl").read_text()
            .splitlines()]
    assert [r["code"] for r in rows] == ["", ""]
    results = [json.loads(line) for line in (tmp / "peek" / "results.jsonl").read_text()
               .splitlines()]
    assert all(r["status"] != "ok" for r in results)


def test_bad_model_and_option_give_one_line_errors(setup, capsys):
    tmp, data, module = setup
    assert run_cli("--model", "no_such_model", "--dataset", str(data)) == 2
    assert "unknown submission 'no_such_model'" in capsys.readouterr().err
    assert run_cli("--model", f"{module}:Boxes", "--dataset", str(data), "--opt", "colour=red",
                   "--out", str(tmp / "bad")) == 2
    assert "has no option colour" in capsys.readouterr().err


def test_a_deterministic_submission_asked_for_k_gives_one_candidate(setup, capsys):
    tmp, data, module = setup
    assert run_cli("--model", f"{module}:Boxes", "--dataset", str(data), "--limit", "2",
                   "--samples", "2", "--out", str(tmp / "k2"), "--record",
                   str(tmp / "k2.json")) == 0
    rows = [json.loads(line) for line in (tmp / "k2" / "predictions.jsonl").read_text()
            .splitlines()]
    assert sorted((r["id"], r["candidate"]) for r in rows) == [("p1", 0), ("p2", 0)]
    err = capsys.readouterr().err
    assert err.count("is deterministic (it does not sample): --samples 2 gives 1 candidate") == 1
    rec = json.loads((tmp / "k2.json").read_text())
    assert rec["metrics"].get("candidates_per_id", 1) == 1
    assert rec["config"]["run"]["candidates"] == 1
    assert rec["config"]["run"]["sampling"] == {"k": 2, "temperature": None, "top_p": None,
                                               "seed": 0}

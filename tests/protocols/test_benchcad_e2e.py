"""BenchCAD end to end from a local copy of its layout: the STEP file is the reference
(parsed in the sandbox), `cadbench run --model gold` and `cadbench score` with a program
prediction both reach the peer's headline under `--protocol benchcad`."""

import json

import pytest

from cadbench.cli import main

BOX = "import cadquery as cq\nresult = cq.Workplane('XY').box(2, 1, 0.5)\n"


@pytest.fixture()
def benchcad_root(tmp_path):
    import cadquery as cq
    root = tmp_path / "benchcad"
    (root / "codes").mkdir(parents=True)
    (root / "steps").mkdir()
    cq.exporters.export(cq.Workplane("XY").box(2, 1, 0.5), str(root / "steps" / "box_1.step"))
    (root / "codes" / "box_1.py").write_text(BOX)
    (root / "records.jsonl").write_text(json.dumps(
        {"record_id": "box_1", "family": "box", "code_path": "codes/box_1.py",
         "step_path": "steps/box_1.step"}) + "\n")
    return root


def test_gold_on_a_benchcad_copy_reaches_its_headline(benchcad_root, tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--no-progress", "--workers", "1", "--model", "gold", "--dataset",
                 "benchcad", "--dataset-opt", f"root={benchcad_root}", "--out", str(out),
                 "--protocol", "benchcad", "--no-record"]) == 0
    record = json.loads((out / "protocol-benchcad" / "record.json").read_text())
    assert record["metrics"]["vsr"] == 1.0
    assert record["metrics"]["iou_all_mean"] == pytest.approx(1.0)
    assert record["metrics"]["protocol"]["headline"]["value"] == pytest.approx(1.0, abs=1e-9)
    results = [json.loads(line) for line in
               (out / "protocol-benchcad" / "results.jsonl").read_text().splitlines()]
    assert [r["picked_by"] for r in results] == ["file:step"]


def test_a_program_scores_against_the_benchcad_step_reference(benchcad_root, tmp_path):
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"id": "box_1", "code": BOX.replace("box(2,", "box(2.2,")})
                     + "\n")
    out = tmp_path / "scored"
    assert main(["score", "--references", "benchcad", "--dataset-opt",
                 f"root={benchcad_root}", "--predictions", str(preds), "--out", str(out),
                 "--workers", "1", "--quiet", "--protocol", "benchcad"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["vsr"] == 1.0
    assert summary["metrics"]["iou_all_mean"] == pytest.approx(2 / 2.2, abs=0.02)
    # BenchCAD scales each shape on its own by its longest side into [0, 1]^3: the box 10%
    # longer is as long there, and thinner across: (1/2.2 x 0.5/2.2) / (0.5 x 0.25) = 0.826
    assert summary["metrics"]["protocol"]["headline"]["value"] == pytest.approx(0.826, abs=0.02)

"""Geometry references and geometry outputs through `cadbench run` and `cadbench score` from
the command line (issue 16, items 1, 2 and 6), on the peers' fixture layouts and the real
sandbox: dataset options (`--dataset-opt root=DIR`), gold's geometry form, a submission that
returns a geometry file (copied into the run folder, resumed, scored as a mesh prediction),
and the errors a bad option gives."""

import json
import textwrap

import pytest

from cadbench.cli import main
from cadbench.run import geometry_file_name, read_predictions
from tests.datasets.test_peers import _stl

FAST = ["--workers", "1", "--no-best", "--no-exact"]


def run_cli(*args):
    return main(["run", "--no-progress", *FAST, *args])


@pytest.fixture()
def cadrille_root(tmp_path):
    """A CAD-Recode/cadrille test layout: <root>/deepcad_test_mesh/<id>.stl, unit boxes."""
    root = tmp_path / "cadrille"
    for i in ("1", "2"):
        _stl(root / "deepcad_test_mesh" / f"{i}.stl")
    return root


def _record(path):
    return json.loads(path.read_text())


def test_gold_on_a_geometry_dataset_scores_one_and_resumes(cadrille_root, tmp_path, capsys):
    out, rec = tmp_path / "run", tmp_path / "rec.json"
    args = ["--model", "gold", "--dataset", "cadrille_test", "--dataset-opt",
            f"root={cadrille_root}", "--out", str(out), "--record", str(rec)]
    assert run_cli(*args) == 0
    record = _record(rec)
    assert record["metrics"]["vsr"] == 1.0 and record["metrics"]["iou_all_mean"] == pytest.approx(1.0)
    assert record["n_references"] == 2
    assert record["config"]["run"]["dataset_options"] == {"root": str(cadrille_root)}
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [(r["id"], r["path"]) for r in rows] == [("1", "geometry/1.0.stl"),
                                                    ("2", "geometry/2.0.stl")]
    assert (out / "geometry" / "1.0.stl").read_bytes() == (
        cadrille_root / "deepcad_test_mesh" / "1.stl").read_bytes()
    assert json.loads((out / "run.json").read_text())["dataset_options"] == {
        "root": str(cadrille_root)}
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {r["picked_by"] for r in results} == {"file:stl"}
    # the same again: nothing generated or scored anew
    capsys.readouterr()
    assert run_cli(*args) == 0
    assert "2 of 2 samples already generated" in capsys.readouterr().err
    # another root on the same folder is refused, naming the dataset option
    other = tmp_path / "other"
    _stl(other / "deepcad_test_mesh" / "1.stl")
    assert run_cli("--model", "gold", "--dataset", "cadrille_test", "--dataset-opt",
                   f"root={other}", "--out", str(out), "--no-record") == 2
    err = capsys.readouterr().err
    assert "dataset option root:" in err and "in the folder" in err and str(other) in err


def test_the_default_run_folder_names_the_dataset_options(cadrille_root, tmp_path,
                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli("--model", "gold", "--dataset", "cadrille_test", "--dataset-opt",
                   f"root={cadrille_root}", "--limit", "1", "--no-record") == 0
    (name,) = [p.name for p in (tmp_path / "runs").iterdir()]
    assert name.startswith("gold-cadrille_test-test-n1-data-") and len(name.split("-")[-1]) == 8
    # the same root spelt relative to the working folder: the same folder, resumed
    assert run_cli("--model", "gold", "--dataset", "cadrille_test", "--dataset-opt",
                   f"root={cadrille_root.relative_to(tmp_path)}", "--limit", "1",
                   "--no-record") == 0
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [name]


def test_score_takes_dataset_options_for_a_dataset_spec(cadrille_root, tmp_path):
    preds = tmp_path / "preds.jsonl"
    _stl(tmp_path / "p" / "a.stl")
    _stl(tmp_path / "p" / "b.stl", size=0.5)
    preds.write_text(json.dumps({"id": "1", "path": "p/a.stl"}) + "\n"
                     + json.dumps({"id": "2", "path": "p/b.stl"}) + "\n")
    out = tmp_path / "scored"
    assert main(["score", "--references", "cadrille_test", "--dataset-opt",
                 f"root={cadrille_root}", "--predictions", str(preds), "--out", str(out),
                 "--quiet", *FAST]) == 0
    rows = {r["id"]: r for r in map(json.loads,
                                    (out / "results.jsonl").read_text().splitlines())}
    assert rows["1"]["status"] == "ok" and rows["1"]["metrics"]["iou"] == pytest.approx(1.0)
    assert rows["2"]["metrics"]["iou"] == pytest.approx(0.125, abs=0.02)


def test_bad_dataset_options_are_named_and_leave_no_folder(cadrille_root, tmp_path, capsys):
    out = tmp_path / "runs" / "x"
    base = ["--model", "gold", "--dataset", "cadrille_test", "--out", str(out)]
    assert run_cli(*base, "--dataset-opt", "colour=red") == 2
    err = capsys.readouterr().err
    assert "cadbench: error: dataset 'cadrille_test' has no option 'colour' (its options: root)" \
        in err
    assert run_cli(*base, "--dataset-opt", "root") == 2
    assert "--dataset-opt 'root': expected KEY=VALUE" in capsys.readouterr().err
    assert run_cli(*base, "--dataset-opt", "limit=1") == 2
    assert "use `cadbench run --limit N`" in capsys.readouterr().err
    assert run_cli(*base) == 2   # no root: the loader's message on how to get the data
    err = capsys.readouterr().err
    assert err.startswith("cadbench: error: no root folder given.") and "git lfs" in err
    assert "Traceback" not in err
    assert run_cli(*base, "--dataset-opt", f"root={tmp_path / 'nowhere'}") == 2
    assert "does not exist or is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    # score: the same checks; options on a references file are refused
    refs = tmp_path / "refs.jsonl"
    refs.write_text(json.dumps({"id": "1", "code": "x = 1"}) + "\n")
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"id": "1", "code": "x = 1"}) + "\n")
    for spec, opt, message in [
            ("cadrille_test", "size=3", "has no option 'size' (its options: root)"),
            ("synth", "size=three", "dataset option size='three' of dataset 'synth': "
                                    "expected int"),
            (str(refs), f"root={cadrille_root}", "is a references file or folder, not a "
                                                 "dataset")]:
        assert main(["score", "--references", spec, "--dataset-opt", opt, "--predictions",
                     str(preds), "--out", str(tmp_path / "s"), "--quiet"]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


SUBMISSION = textwrap.dedent('''
    import tempfile
    from pathlib import Path

    import trimesh

    from cadbench.submissions import Submission

    class MeshBoxes(Submission):
        """Writes a box of side `side` per sample as a mesh file named <n>.<fmt> and returns
        its path; "" (a failed candidate) for the sample `empty_for`."""
        name = "tmp_mesh_boxes"
        default_options = {"side": 1.0, "fmt": "stl", "empty_for": ""}

        def generate(self, samples):
            folder = Path(tempfile.mkdtemp())
            fmt, side = self.options["fmt"], self.options["side"]
            out = []
            for s in samples:
                if s.id == self.options["empty_for"]:
                    out.append("")
                    continue
                path = folder / f"{len(out)}.{fmt}"
                trimesh.creation.box((side, side, side)).export(
                    path, file_type=fmt if fmt in ("stl", "ply", "obj") else "stl")
                out.append(path)
            return out
''')


@pytest.fixture()
def mesh_module(tmp_path):
    module = tmp_path / "mods" / "meshes.py"
    module.parent.mkdir()
    module.write_text(SUBMISSION)
    return module


def test_a_submission_returning_geometry_files_scores_them_and_resumes(
        cadrille_root, mesh_module, tmp_path, capsys):
    out, rec = tmp_path / "run", tmp_path / "rec.json"
    args = ["--model", f"{mesh_module}:MeshBoxes", "--dataset", "cadrille_test",
            "--dataset-opt", f"root={cadrille_root}", "--out", str(out), "--record", str(rec)]
    assert run_cli(*args, "--opt", "side=0.5") == 0
    record = _record(rec)
    assert record["metrics"]["vsr"] == 1.0
    assert record["metrics"]["iou_all_mean"] == pytest.approx(0.125, abs=0.02)
    preds = read_predictions(out / "predictions.jsonl")
    assert preds[("1", 0)] == out / "geometry" / "1.0.stl"
    # the submission's temporary files may go: the run folder holds its own copies
    capsys.readouterr()
    assert run_cli(*args, "--opt", "side=0.5") == 0
    assert "2 of 2 samples already generated" in capsys.readouterr().err
    assert _record(rec)["metrics"] == record["metrics"]
    # a copy removed from the run folder is named, not scored as a failure
    (out / "geometry" / "2.0.stl").unlink()
    assert run_cli(*args, "--opt", "side=0.5") == 2
    err = capsys.readouterr().err
    assert "id 2, candidate 0" in err and "no such file" in err


def test_geometry_and_program_candidates_mix_and_a_bad_path_is_named(
        cadrille_root, mesh_module, tmp_path, capsys):
    base = ["--model", f"{mesh_module}:MeshBoxes", "--dataset", "cadrille_test",
            "--dataset-opt", f"root={cadrille_root}", "--no-record"]
    assert run_cli(*base, "--opt", "fmt=txt", "--out", str(tmp_path / "a")) == 2
    err = capsys.readouterr().err
    assert "sample 1:" in err and "0.txt: not a geometry file" in err
    assert run_cli(*base, "--opt", "fmt=ply", "--opt", "empty_for=2",
                   "--out", str(tmp_path / "b")) == 0
    rows = [json.loads(line) for line in
            (tmp_path / "b" / "predictions.jsonl").read_text().splitlines()]
    assert rows == [{"id": "1", "candidate": 0, "path": "geometry/1.0.ply"},
                    {"id": "2", "candidate": 0, "code": ""}]
    results = {r["id"]: r for r in map(json.loads, (tmp_path / "b" / "results.jsonl")
                                       .read_text().splitlines())}
    assert results["1"]["picked_by"] == "file:ply" and results["1"]["metrics"]["iou"] == (
        pytest.approx(1.0))
    assert results["2"]["status"] != "ok"


def test_geometry_file_names_are_safe_and_distinct():
    assert geometry_file_name("00001", 0, ".STL") == "00001.0.stl"
    nested = geometry_file_name("0067/00675497", 2, ".step")
    assert "/" not in nested and nested.startswith("0067_00675497-") and nested.endswith(".2.step")
    assert nested != geometry_file_name("0067_00675497", 2, ".step")
    assert not geometry_file_name("../x", 0, ".stl").startswith(".")


def test_gencad_geometry_root_from_the_command_line(tmp_path):
    """The evaluation format with `--dataset-opt geometry_root=DIR`: the STEP/STL files are
    the references, and gold (which returns them) scores 1."""
    from tests.test_geometry_references import BOX, HALF, export, jsonl
    rows = [{"question_id": 1, "image": "0067/00675497_0.png", "ground_truth": BOX},
            {"question_id": 2, "image": "0012/00120001_0.png", "ground_truth": HALF}]
    evalf = jsonl(tmp_path / "eval.jsonl", rows)
    export(BOX, tmp_path / "geo" / "0067" / "00675497.step")
    export(HALF, tmp_path / "geo" / "00120001.stl")
    rec = tmp_path / "rec.json"
    assert run_cli("--model", "gold", "--dataset", str(evalf), "--dataset-opt",
                   f"geometry_root={tmp_path / 'geo'}", "--dataset-opt", "render_missing=no",
                   "--out", str(tmp_path / "run"), "--record", str(rec)) == 0
    record = _record(rec)
    assert record["metrics"]["vsr"] == 1.0 and record["metrics"]["iou_all_mean"] == pytest.approx(1.0)
    # render_missing picks no samples but is not a path: the run is not the whole split
    assert record["config"]["run"]["whole_split"] is False
    results = {r["id"]: r for r in map(json.loads, (tmp_path / "run" / "results.jsonl")
                                       .read_text().splitlines())}
    assert results["1"]["picked_by"] == "file:step" and results["2"]["picked_by"] == "file:stl"


def test_the_report_renders_geometry_references_and_predictions(cadrille_root, tmp_path):
    out = tmp_path / "run"
    assert run_cli("--model", "gold", "--dataset", "cadrille_test", "--dataset-opt",
                   f"root={cadrille_root}", "--out", str(out), "--no-record") == 0
    assert main(["report", str(out), "--out", str(tmp_path / "rep"), "--no-progress"]) == 0
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "# geometry file 1.0.stl (stl" in page          # what the prediction was
    assert "reference not available" not in page and "ground truth:" not in page
    # both files rendered, the reference's and the prediction's (not placeholders)
    from cadbench.records import load_results
    from cadbench.report import prepare_cases, read_run_inputs
    samples, sources = read_run_inputs(out, None, None)
    cases = prepare_cases(load_results(out / "results.jsonl"), samples, sources, "solid",
                          progress=False)
    assert len(cases) == 2 and all(c.gt_image is not None and c.pred_image is not None
                                   for c in cases)

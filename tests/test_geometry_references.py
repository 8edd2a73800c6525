"""Geometry references and mesh predictions (issue 16, items 1 and 2), end to end through the
real sandbox: STEP/STL/OBJ/PLY files built here from small CadQuery parts are parsed in the
sandbox (reference and candidate roles), cached like code references, and scored like code."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cadbench.config import ExecConfig, MetricConfig, ScoreConfig
from cadbench.errors import InputError
from cadbench.inputs import (GeometryFile, Prediction, Reference, load_predictions,
                             load_references, references_from_samples)
from cadbench.scoring import gt_cache_dir, gt_key, score

BOX = "import cadquery as cq\nsolid = cq.Workplane('XY').box(1, 1, 1)\n"
HALF = "import cadquery as cq\nsolid = cq.Workplane('XY').box(1, 1, 0.5)\n"
TUBE = ("import cadquery as cq\n"
        "solid = cq.Workplane('XY').circle(0.5).circle(0.2).extrude(1.0)\n")
CONFIG = ScoreConfig(exec=ExecConfig(timeout_s=20.0), workers=1, bootstrap_samples=0,
                     metrics=MetricConfig(compute_best=False))


def _shape(code):
    ns: dict = {}
    exec(code, ns)  # the tests' own small programs, not candidates
    return ns["solid"]


def export(code, path):
    """Write the part of `code` as path's format (cadquery for STEP/STL, trimesh for others)."""
    import cadquery as cq
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix in (".step", ".stl"):
        cq.exporters.export(_shape(code), str(path), tolerance=1e-3, angularTolerance=0.1)
    else:
        import trimesh
        stl = path.with_suffix(".tmp.stl")
        cq.exporters.export(_shape(code), str(stl), tolerance=1e-3, angularTolerance=0.1)
        trimesh.load(str(stl)).export(str(path))
        stl.unlink()
    return path


def jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ----------------------------------------------------------------------------- inputs

def test_manifest_mixes_code_and_geometry_rows_with_paths_relative_to_it(tmp_path):
    export(BOX, tmp_path / "parts" / "a.step")
    manifest = jsonl(tmp_path / "refs.jsonl", [
        {"id": "a", "path": "parts/a.step"}, {"id": "b", "code": BOX}])
    a, b = load_references(manifest)
    assert a.geometry is not None and a.code == "" and a.geometry.format == "step"
    assert a.geometry.path == str(tmp_path / "parts" / "a.step") and a.source is a.geometry
    assert a.geometry.sha256 == __import__("hashlib").sha256(
        (tmp_path / "parts" / "a.step").read_bytes()).hexdigest()
    assert b.geometry is None and b.source == BOX


@pytest.mark.parametrize("row, message", [
    ({"id": "a", "path": "nowhere.step"}, r"refs\.jsonl:2: .*nowhere\.step: no such file"),
    ({"id": "a", "path": "a.txt"}, r"refs\.jsonl:2: .*not a geometry file"),
    ({"id": "a", "path": "a.step", "code": BOX}, r"refs\.jsonl:2: a row has 'path' or 'code'"),
    ({"id": "a", "path": 3}, r"refs\.jsonl:2: field 'path' must be a non-empty string"),
])
def test_bad_geometry_rows_name_file_and_line(tmp_path, row, message):
    (tmp_path / "a.txt").write_text("x")
    export(BOX, tmp_path / "a.step")
    manifest = jsonl(tmp_path / "refs.jsonl", [{"id": "z", "code": BOX}, row])
    with pytest.raises(InputError, match=message):
        load_references(manifest)


def test_a_missing_prediction_file_names_the_predictions_file_and_line(tmp_path):
    export(BOX, tmp_path / "ok.stl")
    preds = jsonl(tmp_path / "preds.jsonl", [{"id": "a", "path": "ok.stl"},
                                             {"id": "b", "code": BOX},
                                             {"id": "c", "path": "gone.stl"}])
    with pytest.raises(InputError, match=r"preds\.jsonl:3: .*gone\.stl: no such file"):
        load_predictions(preds)
    preds = jsonl(tmp_path / "preds.jsonl", [{"id": "a", "path": "ok.stl"},
                                             {"id": "a", "code": BOX}])
    first, second = load_predictions(preds)
    assert first.geometry is not None and first.geometry.format == "stl"
    assert (first.candidate, second.candidate) == (0, 1) and second.code == BOX


def test_a_reference_or_prediction_has_code_or_geometry_not_both(tmp_path):
    g = GeometryFile.read(export(BOX, tmp_path / "a.stl"))
    with pytest.raises(ValueError, match="not both"):
        Reference("a", BOX, g)
    with pytest.raises(ValueError, match="not both"):
        Prediction("a", BOX, 0, g)


def test_a_folder_of_files_named_by_id(tmp_path):
    export(BOX, tmp_path / "refs" / "a.step")
    export(HALF, tmp_path / "refs" / "b.stl")
    export(BOX, tmp_path / "refs" / "0067" / "00675497.ply")   # DeepCAD's nested layout
    (tmp_path / "refs" / "b.py").write_text(HALF)              # beside b.stl: not the reference
    (tmp_path / "refs" / "c.py").write_text(BOX)               # no geometry: a code reference
    refs = {r.id: r for r in load_references(tmp_path / "refs")}
    assert sorted(refs) == ["0067/00675497", "a", "b", "c"]
    assert refs["a"].geometry.format == "step" and refs["b"].geometry.format == "stl"
    assert refs["0067/00675497"].geometry.format == "ply" and refs["c"].code == BOX
    export(BOX, tmp_path / "refs" / "a.obj")
    with pytest.raises(InputError, match="'a' has two geometry files"):
        load_references(tmp_path / "refs")


def test_gencad_layout_names_each_samples_step_or_stl_file(tmp_path):
    """The authors' evaluation format with the parts' geometry named by DeepCAD id, nested as
    DeepCAD lays it out or flat."""
    from cadbench.datasets.gencad import load_eval_file
    rows = [{"question_id": 1, "image": "0067/00675497_0.png", "ground_truth": BOX},
            {"question_id": 2, "image": "0012/00120001_0.png", "ground_truth": HALF}]
    evalf = jsonl(tmp_path / "eval.jsonl", rows)
    export(BOX, tmp_path / "geo" / "0067" / "00675497.step")
    export(HALF, tmp_path / "geo" / "00120001.stl")
    samples = load_eval_file(evalf, with_images=False, geometry_root=tmp_path / "geo")
    refs = references_from_samples(samples)
    assert [(r.id, r.geometry.format) for r in refs] == [("1", "step"), ("2", "stl")]
    (tmp_path / "geo" / "00120001.stl").unlink()
    with pytest.raises(InputError, match=r"no geometry file for 1 of 2 .*2 \(0012/00120001\)"):
        load_eval_file(evalf, with_images=False, geometry_root=tmp_path / "geo")


# ----------------------------------------------------------------------------- the sandbox

def test_every_format_parses_in_the_sandbox_and_a_changed_file_is_refused(tmp_path):
    from cadbench.execute import Sandbox
    with Sandbox(CONFIG.exec) as sb:
        for suffix in (".step", ".stl", ".obj", ".ply", ".glb"):
            res = sb.run(GeometryFile.read(export(HALF, tmp_path / f"half{suffix}")))
            assert res.status == "ok", (suffix, res.error, res.output_tail)
            assert res.picked_by == f"file:{suffix[1:]}"
            assert res.mesh.volume() == pytest.approx(0.5, rel=1e-6)
            assert res.isolation["role"] == "candidate"
        g = GeometryFile.read(tmp_path / "half.stl")
        (tmp_path / "half.stl").write_bytes((tmp_path / "half.stl").read_bytes() + b"\0")
        res = sb.run(g)
        assert res.status == "harness_error" and "changed since it was read" in res.error


# ----------------------------------------------------------------------------- scoring

def test_a_step_reference_of_a_box_scores_its_own_code_at_iou_one(tmp_path):
    refs = [Reference("a", geometry=GeometryFile.read(export(BOX, tmp_path / "a.step"))),
            Reference("b", geometry=GeometryFile.read(export(BOX, tmp_path / "b.stl"))),
            Reference("c", HALF)]
    out = score(refs, [("a", BOX), ("b", BOX), ("c", BOX)], tmp_path / "run", CONFIG,
                progress=False)
    by = {r.id: r for r in out.results}
    for rid in ("a", "b"):
        assert by[rid].status == "ok"
        assert by[rid].metrics["iou"] == pytest.approx(1.0, abs=1e-6)
        assert by[rid].metrics["iou_exact"] == pytest.approx(1.0, abs=1e-6)
    assert by["c"].metrics["iou"] == pytest.approx(0.5, abs=0.02)
    assert not out.record.reference_faults


def test_mesh_predictions_score_like_the_code_they_came_from(tmp_path):
    """A tube (curved walls) as code, as STEP and as STL/OBJ/PLY gives the same metrics, to
    the tessellation's tolerance; picked_by says what was parsed."""
    files = {s: export(TUBE, tmp_path / f"tube{s}") for s in (".step", ".stl", ".obj", ".ply")}
    preds = [Prediction("t", TUBE, 0)] + [
        Prediction("t", candidate=i, geometry=GeometryFile.read(p))
        for i, p in enumerate(files.values(), 1)]
    out = score([("t", BOX)], preds, tmp_path / "run", CONFIG, progress=False)
    rows = sorted(out.results, key=lambda r: r.candidate)
    assert [r.status for r in rows] == ["ok"] * 5
    assert [r.picked_by for r in rows[1:]] == ["file:step", "file:stl", "file:obj", "file:ply"]
    code = rows[0].metrics
    for r in rows[1:]:
        for name in ("iou", "iou_exact", "chamfer"):
            assert r.metrics[name] == pytest.approx(code[name], rel=0.02, abs=1e-3), (
                r.picked_by, name)
    assert rows[1].metrics["iou"] == pytest.approx(code["iou"], abs=1e-9)  # STEP: same path


def test_corrupt_and_open_files_are_failures_and_a_corrupt_reference_is_a_fault(tmp_path):
    bad = tmp_path / "bad.step"
    bad.write_text("ISO-10303-21;\nHEADER;\nnot a step file\n")
    open_box = tmp_path / "open.stl"
    import trimesh
    mesh = trimesh.load(str(export(BOX, tmp_path / "box.stl")))
    trimesh.Trimesh(mesh.vertices, mesh.faces[:-2]).export(str(open_box))  # one side missing
    refs = [Reference("a", BOX), Reference("r", geometry=GeometryFile.read(bad))]
    preds = [Prediction("a", geometry=GeometryFile.read(bad)),
             Prediction("a", candidate=1, geometry=GeometryFile.read(open_box)),
             Prediction("r", BOX)]
    out = score(refs, preds, tmp_path / "run", CONFIG, progress=False)
    by = {(r.id, r.candidate): r for r in out.results}
    assert by[("a", 0)].status == "invalid_geometry"
    assert "cannot read the STEP file" in by[("a", 0)].error
    assert by[("a", 1)].status == "invalid_geometry", by[("a", 1)].error
    assert list(out.record.reference_faults) == ["r"]
    assert "invalid_geometry" in out.record.reference_faults["r"]
    assert "cannot read the STEP file" in out.record.reference_faults["r"]


def test_changing_a_reference_file_invalidates_resume_and_the_cache_is_reused(tmp_path):
    path = export(BOX, tmp_path / "a.stl")
    ref = Reference("a", geometry=GeometryFile.read(path))
    key = gt_key(ref.source, CONFIG.exec)
    assert key != gt_key(BOX, CONFIG.exec)
    first = score([ref], [("a", HALF)], tmp_path / "run", CONFIG, progress=False)
    assert first.results[0].metrics["iou"] == pytest.approx(0.5, abs=0.02)
    cached = gt_cache_dir() / f"{key}.npz"
    before = os.stat(cached)
    # the same bytes elsewhere: the same key, the cached mesh is used, not parsed again
    moved = tmp_path / "elsewhere" / "copy.stl"
    moved.parent.mkdir()
    moved.write_bytes(path.read_bytes())
    again = score([Reference("a", geometry=GeometryFile.read(moved))], [("a", HALF)],
                  tmp_path / "run2", CONFIG, progress=False)
    after = os.stat(cached)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert again.results[0].metrics == first.results[0].metrics
    assert again.record.provenance["references_hash"] == first.record.provenance["references_hash"]
    # other bytes: resume refuses the folder
    export(HALF, path)
    with pytest.raises(InputError, match="other references"):
        score([Reference("a", geometry=GeometryFile.read(path))], [("a", HALF)],
              tmp_path / "run", CONFIG, progress=False)


def test_a_changed_prediction_file_is_scored_again_on_resume(tmp_path):
    path = export(HALF, tmp_path / "p.stl")
    run = tmp_path / "run"
    first = score([("a", BOX)], [Prediction("a", geometry=GeometryFile.read(path))], run,
                  CONFIG, progress=False)
    assert first.results[0].metrics["iou"] == pytest.approx(0.5, abs=0.02)
    export(BOX, path)
    again = score([("a", BOX)], [Prediction("a", geometry=GeometryFile.read(path))], run,
                  CONFIG, progress=False)
    assert again.results[0].metrics["iou"] == pytest.approx(1.0, abs=1e-6)
    assert again.results[0].code_sha != first.results[0].code_sha
    assert again.record.provenance["predictions_hash"] != first.record.provenance["predictions_hash"]
    # the same bytes as the reference's geometry are an exact copy of it
    ref = Reference("a", geometry=GeometryFile.read(path))
    copy = score([ref], [Prediction("a", geometry=ref.geometry)], tmp_path / "run3", CONFIG,
                 progress=False)
    assert copy.results[0].copies_reference == "exact"


def test_cli_scores_a_folder_of_references_against_mesh_predictions(tmp_path):
    export(BOX, tmp_path / "refs" / "a.step")
    export(BOX, tmp_path / "refs" / "b.stl")
    export(HALF, tmp_path / "preds" / "b.ply")
    preds = jsonl(tmp_path / "preds.jsonl", [{"id": "a", "code": BOX},
                                             {"id": "b", "path": "preds/b.ply"}])
    cmd = [sys.executable, "-m", "cadbench", "score", "--references", str(tmp_path / "refs"),
           "--predictions", str(preds), "--out", str(tmp_path / "run"), "--workers", "1",
           "--quiet", "--no-best"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {r["id"]: r for r in map(json.loads,
                                    (tmp_path / "run" / "results.jsonl").read_text().splitlines())}
    assert rows["a"]["status"] == "ok" and rows["a"]["metrics"]["iou"] == pytest.approx(1.0)
    assert rows["b"]["picked_by"] == "file:ply"
    assert rows["b"]["metrics"]["iou"] == pytest.approx(0.5, abs=0.02)
    jsonl(preds, [{"id": "a", "code": BOX}, {"id": "b", "path": "preds/missing.ply"}])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "preds.jsonl:2" in proc.stderr and "missing.ply: no such file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cached_geometry_reference_arrays_are_plain(tmp_path):
    """What the cache holds for a geometry reference is what it holds for code: plain arrays
    and the manifold flag (read back without pickle)."""
    ref = Reference("a", geometry=GeometryFile.read(export(TUBE, tmp_path / "t.step")))
    score([ref], [("a", TUBE)], tmp_path / "run", CONFIG, progress=False)
    with np.load(gt_cache_dir() / f"{gt_key(ref.source, CONFIG.exec)}.npz",
                 allow_pickle=False) as z:
        assert set(z.files) == {"vertices", "faces", "manifold"} and bool(z["manifold"])


@pytest.mark.parametrize("mesh_readers", [False, True])
def test_only_a_mesh_sandbox_preloads_the_mesh_reader(mesh_readers):
    """Program candidates fork from a worker without trimesh (start-up and fork cost); the
    sandbox for mesh files has it imported already."""
    from cadbench.execute import Sandbox
    code = ("import sys\nimport cadquery as cq\n"
            f"assert ('trimesh' in sys.modules) is {mesh_readers}, sorted(sys.modules)[:3]\n"
            "solid = cq.Workplane().box(1, 1, 1)\n")
    with Sandbox(ExecConfig(), mesh_readers=mesh_readers) as sb:
        res = sb.run(code)
    assert res.status == "ok", res.error

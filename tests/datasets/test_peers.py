"""The peers' folder layouts (CADBench, BenchCAD, CAD-Recode/cadrille) on small folders built
here: ids, labels, images, reference paths, and the messages when a folder is absent."""

import json

import numpy as np
import pytest
import trimesh

from cadbench.datasets.peers import (
    load_benchcad,
    load_cadbench2026,
    load_cadrille_testset,
)
from cadbench.errors import DatasetNotFound, InputError


def _stl(path, size=1.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.creation.box((size, size, size)).export(path)


def _png(path, color):
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (6, 4), color).save(path)


def test_cadbench2026_labels_images_and_formats(tmp_path):
    _stl(tmp_path / "bench0" / "easy" / "00001.stl")
    _stl(tmp_path / "bench0" / "hard" / "00002.stl")
    (tmp_path / "bench0" / "hard" / "00002.step").write_text("ISO-10303-21;\n")
    _png(tmp_path / "benchmark_data" / "singleview" / "bench0" / "easy" / "00001.png", (9, 8, 7))
    samples = load_cadbench2026("bench0", root=tmp_path)
    by_id = {s.id: s for s in samples}
    assert sorted(by_id) == ["00001", "00002"]
    assert by_id["00001"].meta["label"] == "easy" and by_id["00002"].meta["label"] == "hard"
    assert by_id["00001"].image.shape == (4, 6, 3) and by_id["00001"].image[0, 0, 0] == 9
    assert by_id["00002"].image is None and by_id["00002"].meta["image_source"] == "missing"
    # STEP is preferred over STL for the same id: the B-rep is the ground truth
    assert by_id["00002"].meta["reference_path"].endswith("00002.step")
    assert by_id["00001"].meta["family"] == "bench0" and by_id["00001"].code == ""


def test_cadbench2026_without_labels(tmp_path):
    _stl(tmp_path / "benchM" / "a.stl")
    (s,) = load_cadbench2026("benchM", root=tmp_path, with_images=False)
    assert s.id == "a" and s.meta["label"] == "none"


def test_cadbench2026_missing_says_how_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFound, match="download_from_hf.py --split bench2"):
        load_cadbench2026("bench2", root=tmp_path)
    with pytest.raises(DatasetNotFound, match="does not exist"):
        load_cadbench2026("bench0", root=tmp_path / "nowhere")
    (tmp_path / "bench0").mkdir()
    with pytest.raises(DatasetNotFound, match="no <file_id>"):
        load_cadbench2026("bench0", root=tmp_path)


def test_benchcad_records(tmp_path):
    (tmp_path / "codes").mkdir()
    (tmp_path / "steps").mkdir()
    recs = [{"record_id": "bolt_1", "family": "bolt", "code_path": "codes/bolt_1.py",
             "step_path": "steps/bolt_1.step"},
            {"record_id": "gear_2", "family": "gear", "code_path": "codes/gear_2.py",
             "step_path": "steps/gear_2.step"}]
    for r in recs:
        (tmp_path / r["code_path"]).write_text(f"# {r['record_id']}\nresult = None\n")
        (tmp_path / r["step_path"]).write_text("ISO-10303-21;\n")
    _png(tmp_path / "steps" / "gear_2.png", (1, 2, 3))
    (tmp_path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    samples = load_benchcad(root=tmp_path)
    assert [s.id for s in samples] == ["bolt_1", "gear_2"]
    assert samples[0].code.startswith("# bolt_1") and samples[0].image is None
    assert samples[1].image is not None and samples[1].meta["family"] == "gear"
    assert samples[1].meta["reference_path"].endswith("gear_2.step")
    assert len(load_benchcad(root=tmp_path, limit=1)) == 1


def test_benchcad_errors_name_the_line(tmp_path):
    with pytest.raises(DatasetNotFound, match="download_codegen_bench.py"):
        load_benchcad(root=tmp_path)
    (tmp_path / "records.jsonl").write_text('{"record_id": "x", "step_path": "steps/x.step"}\n'
                                            "not json\n")
    with pytest.raises(InputError, match=r"records.jsonl:1: record x: .*x.step is missing"):
        load_benchcad(root=tmp_path)
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "x.step").write_text("ISO-10303-21;\n")
    with pytest.raises(InputError, match=r"records.jsonl:2: not a BenchCAD record"):
        load_benchcad(root=tmp_path)


def test_cadrille_testset_numeric_order_and_programs(tmp_path):
    for i in (10, 2, 1):
        _stl(tmp_path / "deepcad_test_mesh" / f"{i}.stl")
    (tmp_path / "deepcad_test_mesh" / "2.py").write_text("r = None\n")
    samples = load_cadrille_testset("deepcad_test_mesh", root=tmp_path)
    assert [s.id for s in samples] == ["1", "2", "10"]
    assert samples[1].code == "r = None\n" and samples[0].code == ""
    assert samples[0].meta["reference_frame"] == "unit_cube"
    loaded = trimesh.load_mesh(samples[2].meta["reference_path"])
    assert np.isclose(loaded.volume, 1.0)


def test_cadrille_testset_missing(tmp_path):
    with pytest.raises(DatasetNotFound, match="maksimko123/fusion360_test_mesh"):
        load_cadrille_testset("fusion360_test_mesh", root=tmp_path)
    with pytest.raises(DatasetNotFound, match="no root folder given"):
        load_cadrille_testset("deepcad_test_mesh")


def test_registered_names_load_through_load_dataset(tmp_path):
    from cadbench.datasets import list_datasets, load_dataset
    assert {"cadbench2026", "benchcad", "cadrille_test"} <= {d.name for d in list_datasets()}
    _stl(tmp_path / "deepcad_test_mesh" / "7.stl")
    (s,) = load_dataset("cadrille_test", root=tmp_path)
    assert s.id == "7"


def test_cadrecode_val_layout_with_programs(tmp_path):
    _stl(tmp_path / "cad-recode-v1.5" / "val" / "3.stl")
    (tmp_path / "cad-recode-v1.5" / "val" / "3.py").write_text("r = 1\n")
    (s,) = load_cadrille_testset("cad-recode-v1.5/val", root=tmp_path)
    assert s.id == "3" and s.code == "r = 1\n"


def test_cadbench2026_outputs_runs_and_benches(tmp_path):
    from cadbench.datasets.peers import read_cadbench2026_outputs
    for run in ("r1", "r2"):
        d = tmp_path / "m" / "singleview" / run
        d.mkdir(parents=True)
        (d / "bench0.jsonl").write_text(
            json.dumps({"file_id": "00708740", "generated": f"# {run}"}) + ",\n\n")
        (d / "benchM.jsonl").write_text(json.dumps({"file_id": 7, "generated": "x"}) + "\n")
    out = read_cadbench2026_outputs(tmp_path / "m", "singleview")
    assert [(p.run, p.family, p.id) for p in out] == [
        ("r1", "bench0", "00708740"), ("r1", "benchM", "7"),
        ("r2", "bench0", "00708740"), ("r2", "benchM", "7")]
    assert out[2].code == "# r2"
    (tmp_path / "m" / "singleview" / "r2" / "bench0.jsonl").write_text('{"file_id": 1}\n')
    with pytest.raises(InputError, match=r"r2/bench0.jsonl:1: not a CADBench output"):
        read_cadbench2026_outputs(tmp_path / "m", "singleview")
    with pytest.raises(InputError, match="no such folder"):
        read_cadbench2026_outputs(tmp_path / "m", "pbr")


def test_cadrille_outputs_candidates(tmp_path):
    from cadbench.datasets.peers import read_cadrille_outputs
    (tmp_path / "00001+0.py").write_text("a")
    (tmp_path / "00001+1.py").write_text("b")
    (tmp_path / "a+b+2.py").write_text("c")
    out = read_cadrille_outputs(tmp_path)
    assert [(p.id, p.candidate, p.code) for p in out] == [
        ("00001", 0, "a"), ("00001", 1, "b"), ("a+b", 2, "c")]
    (tmp_path / "bad.py").write_text("")
    with pytest.raises(InputError, match="bad.py: not named <id>"):
        read_cadrille_outputs(tmp_path)

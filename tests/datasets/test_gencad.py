"""GenCAD-Code loaders on tiny fixtures built here from the shared evaluation file:
save_to_disk (arrow) layout, hub parquet layout, evaluation JSONL with/without images."""

import io
import json
from pathlib import Path

import numpy as np
import pytest

from cadbench.datasets import load_dataset, load_references
from cadbench.datasets.gencad import load_eval_file, load_gencad, load_shared_subset50
from cadbench.errors import DatasetNotFound, InputError

from shared_data import GENCAD_SUBSET50 as SHARED  # noqa: E402  (the one place that knows)


@pytest.fixture
def rows():
    if not SHARED.exists():
        pytest.skip(f"{SHARED} not available")
    return [json.loads(x) for x in SHARED.read_text().splitlines()][:6]


def _png(color) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="PNG")
    return buf.getvalue()


def _table(rows):
    pa = pytest.importorskip("pyarrow")
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    return pa.table({
        "image": pa.array([{"bytes": _png((i * 40, 0, 0)), "path": None}
                           for i in range(len(rows))], type=image_type),
        "deepcad_id": [r["image"].rsplit("_", 1)[0] for r in rows],
        "cadquery": [r["ground_truth"] for r in rows],
        "token_count": [len(r["ground_truth"]) // 4 for r in rows],
        "prompt": [r["text"] for r in rows],
        "hundred_subset": [i % 2 == 0 for i in range(len(rows))],
    })


def make_save_to_disk(root: Path, rows) -> Path:
    """The layout of datasets.DatasetDict.save_to_disk: arrow IPC stream files per split."""
    pa = pytest.importorskip("pyarrow")
    (root / "test").mkdir(parents=True)
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["test"]}))
    t = _table(rows)
    with pa.OSFile(str(root / "test" / "data-00000-of-00001.arrow"), "wb") as sink:
        with pa.ipc.new_stream(sink, t.schema) as w:
            w.write_table(t)
    (root / "test" / "state.json").write_text(json.dumps(
        {"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    return root


def make_hub_parquet(root: Path, rows) -> Path:
    pq = pytest.importorskip("pyarrow.parquet")
    (root / "data").mkdir(parents=True)
    t = _table(rows)
    pq.write_table(t.slice(0, 3), root / "data" / "test-00000-of-00002.parquet")
    pq.write_table(t.slice(3), root / "data" / "test-00001-of-00002.parquet")
    return root


@pytest.mark.parametrize("make", [make_save_to_disk, make_hub_parquet])
def test_gencad_local_copy_both_layouts(tmp_path, rows, make):
    root = make(tmp_path / "gencad", rows)
    samples = load_gencad("test", root=root)
    assert [s.code for s in samples] == [r["ground_truth"] for r in rows]
    assert samples[0].id == rows[0]["image"].rsplit("_", 1)[0]
    assert samples[1].image.shape == (8, 8, 3) and tuple(samples[1].image[0, 0]) == (40, 0, 0)
    assert samples[0].meta["image_source"] == "dataset" and samples[0].meta["source"] == "gencad"
    hundred = load_gencad("test", root=root, subset="hundred")
    assert [s.id for s in hundred] == [samples[i].id for i in (0, 2, 4)]
    no_img = load_gencad("test", root=root, with_images=False)
    assert no_img[0].image is None and no_img[0].code == samples[0].code


def test_gencad_registry_env_and_missing_message(tmp_path, rows, monkeypatch):
    root = make_hub_parquet(tmp_path / "g", rows)
    monkeypatch.setenv("CADBENCH_GENCAD_DIR", str(root))
    assert len(load_dataset("gencad", "test", subset="hundred")) == 3
    assert [i for i, _ in load_references("gencad:test")] == [s.id for s in load_gencad("test")]
    with pytest.raises(DatasetNotFound, match="no GenCAD-Code 'validation' split") as e:
        load_dataset("gencad", "val")  # alias of validation, absent in the fixture
    assert "save_to_disk" in str(e.value) and "CADBENCH_GENCAD_DIR" in str(e.value)
    monkeypatch.setenv("CADBENCH_GENCAD_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetNotFound, match="does not exist"):
        load_gencad("test")
    with pytest.raises(InputError, match="splits"):
        load_gencad("bogus")


def test_eval_file_renders_missing_images_and_marks_them(tmp_path, rows, monkeypatch):
    pytest.importorskip("cadquery")
    monkeypatch.setenv("CADBENCH_HOME", str(tmp_path / "home"))
    f = tmp_path / "eval.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows[:3]))
    images = tmp_path / "images"
    (images / Path(rows[0]["image"]).parent).mkdir(parents=True)
    (images / rows[0]["image"]).write_bytes(_png((0, 200, 0)))
    samples = load_eval_file(f, image_root=images, image_size=64)
    assert [s.id for s in samples] == [str(r["question_id"]) for r in rows[:3]]
    assert samples[0].meta["image_source"] == "dataset" and samples[0].image.shape == (8, 8, 3)
    for s in samples[1:]:
        assert s.meta["image_source"] == "rendered" and s.image.shape == (64, 64, 3)
        assert (s.image != 255).any()
    # Rendered images are cached by program text: the second load is identical.
    again = load_eval_file(f, image_size=64)
    assert np.array_equal(again[1].image, samples[1].image)
    # The same file through the generic API and as scoring references.
    assert [s.id for s in load_dataset(str(f), with_images=False)] == [s.id for s in samples]
    assert load_references(str(f))[0] == (samples[0].id, rows[0]["ground_truth"])


def test_eval_file_errors_name_file_and_line(tmp_path, rows):
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps(rows[0]) + "\n" + json.dumps({"question_id": 1}) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl:2: missing field 'ground_truth'"):
        load_eval_file(f, with_images=False)
    f.write_text(json.dumps(rows[0]) + "\n" + json.dumps(rows[0]) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl:2: duplicate question_id"):
        load_eval_file(f, with_images=False)
    with pytest.raises(InputError, match="no such evaluation file"):
        load_eval_file(tmp_path / "absent.jsonl")


def test_shared_subset50_loads(rows):
    samples = load_shared_subset50(with_images=False)
    assert len(samples) == 50 and samples[0].meta["source"] == "gencad50"
    assert len({s.id for s in samples}) == 50

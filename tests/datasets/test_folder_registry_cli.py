"""Folder datasets, the registry, load_references and the `cadbench data` subcommand."""

import json

import numpy as np
import pytest

from cadbench.cli import main
from cadbench.datasets import (get_dataset_info, list_datasets, load_dataset, load_references,
                               register_dataset)
from cadbench.datasets.base import Sample
from cadbench.datasets.folder import load_folder
from cadbench.datasets.stats import count_tokens, dataset_stats, format_stats
from cadbench.errors import InputError

CODE = "import cadquery as cq\nsolid = cq.Workplane('XY').box(0.5, 0.4, 0.3)\n"


@pytest.fixture
def folder(tmp_path):
    from PIL import Image
    d = tmp_path / "mine"
    d.mkdir()
    (d / "b_part.py").write_text(CODE)
    (d / "a_part.py").write_text(CODE.replace("0.5", "0.25"))
    Image.new("RGB", (16, 16), (1, 2, 3)).save(d / "a_part.png")
    (d / "notes.txt").write_text("ignored")
    return d


def test_folder_dataset(folder):
    samples = load_folder(folder)
    assert [s.id for s in samples] == ["a_part", "b_part"]
    assert samples[0].image.shape == (16, 16, 3) and samples[0].meta["image_source"] == "dataset"
    assert samples[1].image is None and samples[1].meta["image_source"] == "missing"
    assert [s.id for s in load_dataset(str(folder))] == ["a_part", "b_part"]
    assert load_references(str(folder)) == [("a_part", samples[0].code), ("b_part", CODE)]


def test_folder_render_missing_uses_sandbox_or_nothing_for_non_ir_code(folder, tmp_path,
                                                                       monkeypatch):
    """A program outside the GenCAD idiom is never exec'd in-process for a preview."""
    monkeypatch.setenv("CADBENCH_HOME", str(tmp_path / "home"))
    import cadbench.datasets.gencad as g
    calls = []
    monkeypatch.setattr(g, "_mesh_via_sandbox", lambda code: calls.append(code))
    s = load_folder(folder, render_missing=True)[1]
    assert calls == [CODE] and s.image is None and s.meta["image_source"] == "missing"


def test_folder_errors(tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        load_folder(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no <id>\.py files"):
        load_folder(tmp_path / "empty")
    with pytest.raises(InputError, match="unknown dataset 'nope'"):
        load_dataset("nope")


def test_registry():
    names = {d.name for d in list_datasets()}
    assert {"synth", "gencad", "gencad50"} <= names

    def tiny(split, **kw):
        return [Sample(f"{split}-0", CODE, None, {"family": "box"})]

    register_dataset("tiny_test_ds", tiny, "a test dataset", splits=("test",))
    try:
        assert load_dataset("tiny_test_ds", "test")[0].id == "test-0"
        assert load_references("tiny_test_ds:val") == [("val-0", CODE)]
        with pytest.raises(InputError, match="already registered"):
            register_dataset("tiny_test_ds", tiny)
        assert get_dataset_info("tiny_test_ds").description == "a test dataset"
    finally:
        from cadbench.datasets import _REGISTRY
        _REGISTRY.pop("tiny_test_ds", None)


def test_stats_and_tokenizer():
    assert count_tokens("loop0=wp.moveTo(0.5, -1e-3)") == 11  # - and 1e-3 apart
    samples = [Sample("a", CODE, None, {"family": "box"}),
               Sample("b", CODE * 2, np.zeros((4, 4, 3), np.uint8), {"family": "box"}),
               Sample("c", CODE, None, {"family": "cyl"})]
    st = dataset_stats(samples)
    assert st["families"] == {"box": 2, "cyl": 1} and st["with_image"] == 1
    assert st["code_chars"]["max"] == 2 * len(CODE)
    text = format_stats(st, "x")
    assert "x: 3 samples" in text and "regex tokens" in text


def test_cli_data_build_show_list(tmp_path, monkeypatch, capsys, folder):
    monkeypatch.setenv("CADBENCH_HOME", str(tmp_path / "home"))
    assert main(["data", "build", "--split", "test", "--size", "3", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "synth test: 3 samples" in out
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "gencad50" in out and "test-3" in out
    sheet = tmp_path / "sheet.png"
    assert main(["data", "show", "synth", "--split", "test", "--size", "3",
                 "--sheet", str(sheet)]) == 0
    out = capsys.readouterr().out
    assert "synth [test]: 3 samples" in out and "contact sheet of 3 samples" in out
    from PIL import Image
    assert Image.open(sheet).size[0] == 8 * 160
    assert main(["data", "show", str(folder), "--sheet", str(tmp_path / "f.png")]) == 0
    assert "2 samples (1 with an image" in capsys.readouterr().out
    assert main(["data", "build", "--size", "3"]) == 2  # --size needs --split
    assert main(["data", "show", "nope"]) == 2
    assert "unknown dataset" in capsys.readouterr().err
    manifest = next((tmp_path / "home").glob("datasets/synth/*/test-3/manifest.json"))
    assert json.loads(manifest.read_text())["n_samples"] == 3

import json

import pytest

from cadbench.errors import InputError
from cadbench.inputs import load_predictions, load_references


def write(path, lines):
    path.write_text("".join(l + "\n" for l in lines))
    return path


def test_references_in_both_formats(tmp_path):
    a = write(tmp_path / "a.jsonl", [json.dumps({"id": "x", "code": "c1"})])
    b = write(tmp_path / "b.jsonl", [json.dumps({"question_id": 7, "ground_truth": "c2"})])
    assert [(r.id, r.code) for r in load_references(a)] == [("x", "c1")]
    assert [(r.id, r.code) for r in load_references(b)] == [("7", "c2")]


def test_malformed_line_names_file_and_line(tmp_path):
    p = write(tmp_path / "r.jsonl", [json.dumps({"id": "x", "code": "c"}), "{not json"])
    with pytest.raises(InputError, match=r"r\.jsonl:2"):
        load_references(p)


def test_missing_code_field_is_named(tmp_path):
    p = write(tmp_path / "r.jsonl", [json.dumps({"id": "x"})])
    with pytest.raises(InputError, match=r"r\.jsonl:1: no code field"):
        load_references(p)


def test_duplicate_reference_id(tmp_path):
    p = write(tmp_path / "r.jsonl", [json.dumps({"id": "x", "code": "a"}),
                                     json.dumps({"id": "x", "code": "b"})])
    with pytest.raises(InputError, match="duplicate reference id 'x'"):
        load_references(p)


def test_predictions_number_candidates_and_keep_empty_code(tmp_path):
    p = write(tmp_path / "p.jsonl", [json.dumps({"id": "x", "code": "a"}),
                                     json.dumps({"id": "x", "code": "b"}),
                                     json.dumps({"id": "y", "code": None})])
    preds = load_predictions(p)
    assert [(q.id, q.candidate, q.code) for q in preds] == [("x", 0, "a"), ("x", 1, "b"),
                                                            ("y", 0, "")]


def test_an_empty_predictions_file_is_an_error(tmp_path):
    p = write(tmp_path / "p.jsonl", ["", "   "])
    with pytest.raises(InputError, match=r"p\.jsonl: no predictions in file"):
        load_predictions(p)
    assert load_predictions(p, allow_empty=True) == []


def test_malformed_predictions_name_file_and_line(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_bytes(json.dumps({"id": "x", "code": "a"}).encode() + b"\n\x80\n")
    with pytest.raises(InputError, match=r"p\.jsonl:2: not valid UTF-8"):
        load_predictions(p)
    p.write_text(json.dumps({"id": "x", "code": "a"}) + "\n" + "[" * 100_000 + "\n")
    with pytest.raises(InputError, match=r"p\.jsonl:2: JSON nested too deeply"):
        load_predictions(p)

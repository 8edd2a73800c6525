import json

import pytest

from cadbench.records import (JsonlAppender, RecordError, RunRecord, SampleResult, load_results,
                              read_jsonl)


def test_sample_result_round_trip_and_nan_as_null():
    r = SampleResult(id="a", status="ok", metrics={"iou": float("nan"), "x": 0.5})
    d = json.loads(r.to_json())
    assert d["metrics"]["iou"] is None and d["schema_version"] == 2
    assert SampleResult.from_dict(d).metrics["x"] == 0.5


def test_torn_tail_is_dropped_on_append_and_resume(tmp_path):
    path = tmp_path / "results.jsonl"
    with JsonlAppender(path) as sink:
        sink.write(SampleResult(id="a", status="ok").to_json())
    with open(path, "a") as fh:              # a write cut short by kill -9
        fh.write('{"id": "b", "sta')
    assert [r.id for r in load_results(path)] == ["a"]
    with JsonlAppender(path) as sink:
        sink.write(SampleResult(id="c", status="ok").to_json())
    assert [r.id for r in load_results(path)] == ["a", "c"]


def test_malformed_middle_line_is_an_error(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": 1}\nnope\n{"id": 2}\n')
    with pytest.raises(RecordError, match=r"x\.jsonl:2"):
        list(read_jsonl(path))


def test_unknown_schema_version_is_rejected(tmp_path):
    path = tmp_path / "rec.json"
    path.write_text(json.dumps({"kind": "run", "metrics": {}, "status_counts": {},
                                "schema_version": 99}))
    with pytest.raises(RecordError, match="schema_version 99"):
        RunRecord.load(path)


# -- malformed input: an InputError naming file and line, never a raw traceback ------------

def test_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"id": "a"}\n{"id": "\xff\xfe"}\n')
    with pytest.raises(RecordError, match=r"bad\.jsonl:2: not valid UTF-8"):
        list(read_jsonl(path))


def test_deep_nesting_names_file_and_line(tmp_path):
    path = tmp_path / "deep.jsonl"
    depth = 200_000   # far past the interpreter's recursion limit
    path.write_text('{"id": 1}\n{"id": 2}\n{"x": ' + "[" * depth + "]" * depth + "}\n")
    with pytest.raises(RecordError, match=r"deep\.jsonl:3: JSON nested too deeply"):
        list(read_jsonl(path))


def test_a_line_over_the_size_cap_names_file_and_line(tmp_path, monkeypatch):
    import cadbench.records as records
    monkeypatch.setattr(records, "MAX_LINE_BYTES", 1024)
    path = tmp_path / "long.jsonl"
    path.write_text('{"id": 1}\n' + json.dumps({"code": "x" * 5000}) + "\n")
    with pytest.raises(RecordError, match=r"long\.jsonl:2: line longer than"):
        list(read_jsonl(path))
    # at the cap exactly it is read
    ok = tmp_path / "ok.jsonl"
    line = json.dumps({"code": "y" * (1024 - 13)})
    ok.write_text(line + "\n")
    ok.write_text(line + "\n" + '{"id": 2}\n')
    assert len(line) + 1 == 1024 and [n for n, _ in read_jsonl(ok)] == [1, 2]
    # one byte more, with its newline: still read, and so is the line after it
    ok.write_text(json.dumps({"code": "y" * (1024 - 12)}) + "\n" + '{"id": 2}\n')
    assert [n for n, _ in read_jsonl(ok)] == [1, 2]
    # an over-long last line is an error even where a torn tail is tolerated
    path.write_text('{"id": 1}\n' + "z" * 5000)
    with pytest.raises(RecordError, match=r"long\.jsonl:2: line longer than"):
        list(read_jsonl(path, tolerate_torn_tail=True))


def test_huge_integers_and_non_objects_name_the_line(tmp_path):
    path = tmp_path / "num.jsonl"
    path.write_text('{"id": ' + "9" * 5000 + "}\n")
    with pytest.raises(RecordError, match=r"num\.jsonl:1: not valid JSON"):
        list(read_jsonl(path))
    path.write_text('[1, 2]\n')
    with pytest.raises(RecordError, match=r"num\.jsonl:1: expected a JSON object, got list"):
        list(read_jsonl(path))


def test_a_torn_multibyte_tail_is_tolerated_only_where_asked(tmp_path):
    path = tmp_path / "torn.jsonl"
    path.write_bytes(b'{"id": "a"}\n{"id": "\xc3')    # a kill cut a UTF-8 character
    assert [o["id"] for _, o in read_jsonl(path, tolerate_torn_tail=True)] == ["a"]
    with pytest.raises(RecordError, match=r"torn\.jsonl:2"):
        list(read_jsonl(path))


def test_line_endings_other_than_newline_do_not_split_a_line(tmp_path):
    path = tmp_path / "sep.jsonl"
    path.write_text(json.dumps({"id": "a", "code": "x\u2028y\x0cz"}, ensure_ascii=False) + "\n")
    assert [o["code"] for _, o in read_jsonl(path)] == ["x\u2028y\x0cz"]


def test_results_of_an_older_schema_are_refused_with_what_to_do(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps({"id": "a", "status": "ok", "schema_version": 1}) + "\n")
    with pytest.raises(RecordError, match="older cadbench.*score again"):
        load_results(path)

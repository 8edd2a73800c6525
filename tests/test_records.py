import json

import pytest

from cadbench.records import (JsonlAppender, RecordError, RunRecord, SampleResult, load_results,
                              read_jsonl)


def test_sample_result_round_trip_and_nan_as_null():
    r = SampleResult(id="a", status="ok", metrics={"iou": float("nan"), "x": 0.5})
    d = json.loads(r.to_json())
    assert d["metrics"]["iou"] is None and d["schema_version"] == 1
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

"""`cadbench score --protocol NAME` reports the peer's own headline statistic next to
cadbench's metrics, from the same sandboxed, validated solids."""

import json

from cadbench.cli import main

BOX = "import cadquery as cq\nsolid = cq.Workplane('XY').box(1, 1, 1)\n"
MOVED = ("import cadquery as cq\n"
         "solid = cq.Workplane('XY').box(1, 1, 1).translate((3, 0, 0))\n")


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_score_with_the_cadrille_protocol_reports_its_headline(tmp_path, capsys):
    refs, preds = tmp_path / "refs.jsonl", tmp_path / "preds.jsonl"
    write(refs, [{"id": "a", "code": BOX}, {"id": "b", "code": BOX}])
    write(preds, [{"id": "a", "code": BOX}, {"id": "b", "code": MOVED}])
    out = tmp_path / "run"
    assert main(["score", "--references", str(refs), "--predictions", str(preds), "--out",
                 str(out), "--workers", "1", "--quiet", "--protocol", "cadrille"]) == 0
    printed = capsys.readouterr().out
    assert "protocol cadrille: mean iou" in printed
    summary = json.loads((out / "summary.json").read_text())
    peer = summary["metrics"]["protocol"]
    # cadrille normalises both shapes into the unit cube: a translated copy scores 1 there
    assert peer["headline"]["label"] == "mean iou" and peer["headline"]["value"] > 0.99
    assert summary["config"]["metrics"]["protocol"] == "cadrille"
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert all("protocol" in r["metrics"] for r in rows)
    # cadbench's own iou stays in the dataset frame: the moved copy scores 0 there
    assert summary["metrics"]["iou_all_mean"] == 0.5


def test_an_unknown_protocol_is_refused_with_the_known_names(tmp_path, capsys):
    refs = tmp_path / "refs.jsonl"
    write(refs, [{"id": "a", "code": BOX}])
    try:
        main(["score", "--references", str(refs), "--predictions", str(refs), "--out",
              str(tmp_path / "run"), "--protocol", "nope"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "cadrille" in capsys.readouterr().err


def _score(tmp_path, name, *extra):
    refs, preds = tmp_path / "refs.jsonl", tmp_path / "preds.jsonl"
    write(refs, [{"id": "a", "code": BOX}])
    write(preds, [{"id": "a", "code": MOVED}])
    out = tmp_path / name
    assert main(["score", "--references", str(refs), "--predictions", str(preds), "--out",
                 str(out), "--workers", "1", "--quiet", *extra]) == 0
    summary = json.loads((out / "summary.json").read_text())
    row = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    return summary, row["metrics"]


def test_a_protocol_run_computes_the_peers_metrics_and_cadbench_iou_only(tmp_path):
    summary, metrics = _score(tmp_path, "peer", "--protocol", "cadrille")
    cfg = summary["config"]["metrics"]
    assert (cfg["compute_best"], cfg["compute_exact"], cfg["compute_chamfer"]) == (
        False, False, False)
    assert metrics["iou"] == 0.0 and metrics["protocol"]["iou"] > 0.99
    assert metrics["iou_best"] is None and metrics["iou_exact"] is None
    assert metrics["chamfer"] is None


def test_all_metrics_adds_cadbench_own_metrics_to_a_protocol_run(tmp_path):
    summary, metrics = _score(tmp_path, "all", "--protocol", "cadrille", "--all-metrics")
    cfg = summary["config"]["metrics"]
    assert cfg["compute_best"] and cfg["compute_exact"] and cfg["compute_chamfer"]
    # the pose search finds the translated copy; the dataset frame does not
    assert metrics["iou_best"] > 0.98 and metrics["iou_exact"] == 0.0
    assert metrics["chamfer"] > 1.0


def test_cadbench_own_protocol_keeps_every_metric_switch_as_given(tmp_path):
    summary, metrics = _score(tmp_path, "own", "--no-best")
    cfg = summary["config"]["metrics"]
    assert not cfg["compute_best"] and cfg["compute_exact"] and cfg["compute_chamfer"]
    assert metrics["chamfer"] > 1.0 and "protocol" not in metrics

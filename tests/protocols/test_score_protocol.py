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

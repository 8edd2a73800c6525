"""Leaderboard tables: rendering from records, splicing between markers, and staleness of the
committed docs relative to the committed records."""

from pathlib import Path

import pytest

from cadbench.cli import main
from cadbench.leaderboard import (END_MARKER, START_MARKER, between_markers, render_tables,
                                  stale_files, target_files, write_tables)
from cadbench.records import RunRecord

REPO = Path(__file__).resolve().parents[1]


def test_committed_tables_are_up_to_date():
    """Fails when leaderboards/ changed without `cadbench leaderboard --write`."""
    docs = REPO / "docs" / "leaderboard.md"
    assert between_markers(docs.read_text()) is not None, f"{docs} lacks the markers"
    expected = render_tables(REPO / "leaderboards").strip("\n")
    for path in target_files(REPO):
        if not path.exists() or between_markers(path.read_text()) is None:
            continue  # README without markers is skipped by --write too
        assert between_markers(path.read_text()) == expected, (
            f"{path} is stale: run `cadbench leaderboard --write`")


def make_record(root, model, iou_all, vsr=1.0, dataset="synth", split="test", oracle=False,
                params=0, train=None, deps=()):
    rec = RunRecord(kind="run", model=model, dataset=dataset, split=split, n_references=10,
                    n_predictions=10,
                    metrics={"n": 10, "vsr": vsr, "iou_valid_mean": iou_all / vsr,
                             "iou_all_mean": iou_all, "iou_all_mean_ci95": [iou_all - 0.01,
                                                                            iou_all + 0.01],
                             "iou_best_all_mean": iou_all + 0.1,
                             "iou_exact_all_mean": iou_all - 0.001},
                    status_counts={"ok": int(vsr * 10)}, config={}, provenance={},
                    submission={"num_parameters": params, "train_time_s": train,
                                "dependencies": list(deps), "uses_ground_truth": oracle})
    rec.save(Path(root) / dataset / split / f"{model}.json")


def test_tables_sorted_by_iou_all_with_formatted_columns(tmp_path):
    make_record(tmp_path, "constant", 0.025)
    make_record(tmp_path, "gold", 1.0, oracle=True)
    make_record(tmp_path, "neural", 0.4, vsr=0.8, params=1_234_567, train=9000,
                deps=("torch", "transformers"))
    make_record(tmp_path, "neural", 0.3, dataset="gencad")
    text = render_tables(tmp_path)
    assert "### gencad / test (10 samples)" in text and "### synth / test (10 samples)" in text
    synth = text.split("### synth / test")[1]
    rows = [line for line in synth.splitlines() if line.startswith("| ") and "Model" not in line]
    assert [r.split("|")[1].strip() for r in rows] == ["gold (oracle)", "neural", "constant"]
    neural = rows[1]
    assert "0.800" in neural and "0.500" in neural and "0.400 [0.390, 0.410]" in neural
    assert "1.2M" in neural and "2.5 h" in neural and "torch, transformers" in neural
    assert "| none" in rows[2] or "none |" in rows[2]


def test_write_splices_between_markers_and_detects_staleness(tmp_path):
    make_record(tmp_path / "lb", "constant", 0.025)
    doc = tmp_path / "doc.md"
    doc.write_text(f"# Title\n\nintro\n\n{START_MARKER}\nold table\n{END_MARKER}\n\nafter\n")
    no_markers = tmp_path / "plain.md"
    no_markers.write_text("nothing to splice\n")
    assert stale_files(tmp_path / "lb", [doc]) == [doc]
    with pytest.warns(UserWarning, match="no .*markers; skipped"):
        written = write_tables(tmp_path / "lb", [doc, no_markers])
    assert written == [doc]
    text = doc.read_text()
    assert text.startswith("# Title\n\nintro\n\n") and text.endswith(f"{END_MARKER}\n\nafter\n")
    assert "old table" not in text and "| constant" in text
    assert no_markers.read_text() == "nothing to splice\n"
    assert stale_files(tmp_path / "lb", [doc]) == []
    make_record(tmp_path / "lb", "gold", 1.0, oracle=True)     # a new record: now stale
    assert stale_files(tmp_path / "lb", [doc]) == [doc]


def test_leaderboard_cli_prints_tables(tmp_path, capsys):
    make_record(tmp_path, "constant", 0.025)
    assert main(["leaderboard", "--root", str(tmp_path)]) == 0
    assert "| constant" in capsys.readouterr().out


def test_bad_record_names_the_file(tmp_path, capsys):
    bad = tmp_path / "synth" / "test" / "broken.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    assert main(["leaderboard", "--root", str(tmp_path)]) == 2
    assert "broken.json: not valid JSON" in capsys.readouterr().err


def test_partial_runs_are_kept_apart_and_notes_qualify_the_numbers(tmp_path):
    make_record(tmp_path, "full", 0.5)
    rec_path = tmp_path / "synth" / "test" / "full.json"
    rec = RunRecord.load(rec_path)
    rec.metrics.update({"n_faults": 2, "n_copies_normalized": 3,
                        "iou_exact_n_references": 9})
    rec.n_references_given = 13                 # 10 scored + 2 faults + 1 not run
    rec.submission["card"] = {"architecture": "a tiny CNN", "pretrained": "from scratch"}
    rec.submission["compute"] = {"generation_s": 0.5, "candidates_executed": 9.0}
    rec.save(rec_path)
    small = RunRecord.load(rec_path)
    small.model, small.metrics = "small", {"n": 3, "vsr": 1.0, "iou_all_mean": 0.9}
    small.config = {"run": {"limit": 3}}
    small.save(tmp_path / "synth" / "test" / "small.json")
    text = render_tables(tmp_path)
    ranked, partial = text.split("Partial runs")
    assert "| full" in ranked and "small" not in ranked          # 0.9 on 3 samples: not ranked
    assert "small (n=3)" in partial
    assert "(9 of 10)" in ranked                                  # exact IoU over 9 references
    assert "2 harness fault(s)" in ranked and "3 prediction(s) reproduce" in ranked
    assert "10 of 13 references" in ranked and "a tiny CNN" in ranked
    assert "candidates executed 9" in ranked


def test_breakdown_tables_by_meta_field(tmp_path):
    make_record(tmp_path, "a", 0.5)
    make_record(tmp_path, "b", 0.3)
    for name, plate, tube in (("a", 0.9, 0.1), ("b", 0.2, 0.4)):
        path = tmp_path / "synth" / "test" / f"{name}.json"
        rec = RunRecord.load(path)
        rec.metrics["by"] = {"family": {"plate": {"n": 4, "iou_all_mean": plate},
                                        "tube": {"n": 6, "iou_all_mean": tube}}}
        rec.save(path)
    text = render_tables(tmp_path)
    assert "IoU (all) by family:" in text
    line = next(l for l in text.splitlines() if l.startswith("| plate"))
    assert [c.strip() for c in line.split("|")[1:-1]] == ["plate", "4", "0.900", "0.200"]


def make_protocol_record(root, model, mean_iou, protocol="cadrille", flagged=None):
    stats = {"mean iou": mean_iou, "median cd x1000": 0.2, "mean cd x1000": 0.3,
             "valid cd rate": 1.0}
    rec = RunRecord(kind="run", model=model, dataset="synth", split="test", n_references=10,
                    n_predictions=10,
                    metrics={"n": 10, "vsr": 1.0, "iou_all_mean": 0.1,
                             "protocol": {"protocol": protocol, "n": 10, "stats": stats,
                                          "headline": {"label": "mean iou", "value": mean_iou},
                                          "flagged_samples": flagged or {}}},
                    status_counts={"ok": 10}, config={"metrics": {"protocol": protocol}},
                    provenance={}, submission={})
    rec.save(Path(root) / "synth" / "test" / f"protocol-{protocol}" / f"{model}.json")


def test_protocol_records_get_their_own_table_in_the_peers_units(tmp_path):
    make_record(tmp_path, "neural", 0.4)
    make_protocol_record(tmp_path, "neural", 0.91, flagged={"reference_not_a_valid_solid": 2})
    make_protocol_record(tmp_path, "constant", 0.35)
    text = render_tables(tmp_path)
    own, peers = text.split("### In the peers' conventions")
    assert "0.910" not in own and own.count("| neural") == 1   # not a row of cadbench's table
    table = peers.split("under `cadrille`")[1]
    header = next(line for line in table.splitlines() if line.startswith("| Model"))
    assert [c.strip() for c in header.split("|")[1:-1]] == [
        "Model", "VSR", "mean iou", "median cd x1000", "mean cd x1000", "valid cd rate", "n",
        "flags"]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "Model" not in line]
    assert [r.split("|")[1].strip() for r in rows] == ["neural", "constant"]  # headline first
    assert "0.9100" in rows[0] and rows[0].rstrip(" |").endswith("2")

"""The rough edges a new user hit (issue 15.8), each with its test: report reads every
references format `score` reads and says what is missing; --opt errors name the option and
run folder names reflect the options; failed commands leave no empty folder; the interrupt
message has its own line; `run` has score's execution and metric flags; an empty predictions
file is an error."""

import json
import sys

import pytest

from baselines.constant import box_program
from cadbench.cli import main

PROGRAMS = {"a": box_program(1.0, 0.5, 0.25), "b": box_program(0.5, 0.5, 0.5)}


@pytest.fixture()
def data(program_folder):
    return program_folder(PROGRAMS)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run(*args):
    return main(["run", "--workers", "1", "--no-progress", *args])


# -- report ---------------------------------------------------------------------------------

@pytest.fixture()
def scored(tmp_path):
    refs = write_jsonl(tmp_path / "refs.jsonl", [{"id": i, "code": c}
                                                 for i, c in PROGRAMS.items()])
    preds = write_jsonl(tmp_path / "preds.jsonl", [{"id": "a", "code": PROGRAMS["a"]},
                                                   {"id": "b", "code": "solid = ("}])
    out = tmp_path / "scored"
    assert main(["score", "--references", str(refs), "--predictions", str(preds),
                 "--out", str(out), "--workers", "1", "--quiet"]) == 0
    return refs, preds, out


def test_report_reads_id_code_references_like_score(scored, tmp_path, capsys):
    refs, preds, out = scored
    capsys.readouterr()
    assert main(["report", str(out), "--references", str(refs), "--predictions", str(preds),
                 "--out", str(tmp_path / "rep"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "holds programs only" in err
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "reference not available" not in html


def test_report_without_references_says_what_is_missing(scored, tmp_path, capsys):
    refs, preds, out = scored
    capsys.readouterr()
    assert main(["report", str(out), "--predictions", str(preds), "--out",
                 str(tmp_path / "rep2"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "no --references was given" in err and "no input images and no ground truth" in err
    assert str(refs) in err     # the file its summary names


def test_report_references_errors_name_file_and_line(scored, tmp_path, capsys):
    _, _, out = scored
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"}\n')
    assert main(["report", str(out), "--references", str(bad), "--no-progress"]) == 2
    assert f"{bad}:1: no code field" in capsys.readouterr().err


# -- options ----------------------------------------------------------------------------------

def test_opt_errors_name_the_option_and_leave_no_folder(data, tmp_path, capsys):
    out = tmp_path / "runs" / "x"
    assert run("--model", "constant", "--dataset", str(data), "--out", str(out),
               "--opt", "colour=red") == 2
    assert "submission 'constant' has no option colour" in capsys.readouterr().err
    assert run("--model", "constant", "--dataset", str(data), "--out", str(out),
               "--opt", "width=wide") == 2
    assert "option width='wide' of submission 'constant': expected float" in (
        capsys.readouterr().err)
    assert not (tmp_path / "runs").exists()


def test_a_changed_option_on_a_folder_is_named(data, tmp_path, capsys):
    out = tmp_path / "r"
    assert run("--model", "constant", "--dataset", str(data), "--out", str(out),
               "--opt", "width=0.5", "--no-record") == 0
    assert run("--model", "constant", "--dataset", str(data), "--out", str(out),
               "--opt", "width=.5", "--no-record") == 0     # the same value, spelt otherwise
    assert run("--model", "constant", "--dataset", str(data), "--out", str(out),
               "--opt", "width=0.6", "--no-record") == 2
    assert "option width: 0.5 in the folder, 0.6 now" in capsys.readouterr().err


def test_run_folder_names_reflect_the_options(data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("--model", "constant", "--dataset", str(data), "--opt", "width=0.5",
               "--no-record") == 0
    assert run("--model", "constant", "--dataset", str(data), "--opt", "width=0.123456789",
               "--opt", "depth=0.25", "--opt", "height=0.125", "--limit", "1",
               "--no-record") == 0
    names = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert names[0] == "constant-tiny-test-n1-opt-" + names[0].rsplit("-", 1)[1]
    assert len(names[0].rsplit("-", 1)[1]) == 8          # a short hash of long options
    assert names[1] == "constant-tiny-test-width=0.5"


# -- failed commands ------------------------------------------------------------------------

def test_failed_commands_leave_no_empty_folders(data, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert run("--model", "constant", "--dataset", str(tmp_path / "nowhere"), "--out",
               str(runs / "a")) == 2
    assert run("--model", "retrieval", "--dataset", str(data), "--out", str(runs / "b"),
               "--checkpoint", str(tmp_path / "no_ckpt")) == 2
    assert "no such checkpoint folder" in capsys.readouterr().err
    refs = write_jsonl(tmp_path / "refs.jsonl", [{"id": "a", "code": PROGRAMS["a"]}])
    assert main(["score", "--references", str(refs), "--predictions",
                 str(tmp_path / "missing.jsonl"), "--out", str(runs / "c")]) == 2
    assert not runs.exists()


def test_an_empty_predictions_file_is_an_error_naming_it(tmp_path, capsys):
    refs = write_jsonl(tmp_path / "refs.jsonl", [{"id": "a", "code": PROGRAMS["a"]}])
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert main(["score", "--references", str(refs), "--predictions", str(empty),
                 "--out", str(tmp_path / "out")]) == 2
    assert f"{empty}: no predictions in file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# -- interrupt ------------------------------------------------------------------------------

def test_the_interrupt_message_has_its_own_line(monkeypatch, capsys):
    import cadbench.cli.run as run_cli

    def interrupted(args):
        from tqdm import tqdm
        bar = tqdm(total=10, desc="generate", file=sys.stderr)
        bar.update(3)
        raise KeyboardInterrupt

    monkeypatch.setattr(run_cli, "handle", interrupted)
    assert main(["run", "--model", "constant"]) == 130
    err = capsys.readouterr().err
    msg = "cadbench: interrupted; results written so far are kept"
    lines = err.replace("\r", "\n").splitlines()
    assert lines[-1] == msg and "3/10" in err      # its own line, after the bar's last state


# -- execution and metric flags ---------------------------------------------------------------

def test_run_takes_scores_execution_and_metric_flags(data, tmp_path):
    rec = tmp_path / "rec.json"
    assert run("--model", "constant", "--dataset", str(data), "--out", str(tmp_path / "r"),
               "--record", str(rec), "--timeout", "5", "--memory-mb", "1024",
               "--voxel-resolution", "32", "--no-exact", "--no-best") == 0
    config = json.loads(rec.read_text())["config"]
    assert config["exec"]["timeout_s"] == 5 and config["exec"]["memory_mb"] == 1024
    assert config["metrics"]["voxel_resolution"] == 32
    assert config["metrics"]["compute_exact"] is False
    assert config["metrics"]["compute_best"] is False
    assert json.loads(rec.read_text())["metrics"]["vsr"] == 1.0

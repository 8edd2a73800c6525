"""One writer per run folder (issue 15.7) and private run folders (issue 14.2): a second
command on a folder in use stops at once, the lock is released on every exit path, folders
are 0700 and files 0600."""

import json
import os
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from baselines.constant import box_program
from cadbench.cli import main
from cadbench.runlock import FolderBusy, RunLock, make_private_dir, remove_if_empty

REFS = [{"id": "a", "code": box_program(1.0, 0.5, 0.25)},
        {"id": "b", "code": box_program(0.5, 0.5, 0.5)}]


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_second_lock_fails_at_once_naming_the_holder(tmp_path):
    with RunLock(tmp_path, "cadbench run --model x"):
        t0 = time.monotonic()
        with pytest.raises(FolderBusy, match=rf"in use by another cadbench command "
                                             rf"\(pid {os.getpid()}: cadbench run --model x\)"):
            RunLock(tmp_path).acquire()
        assert time.monotonic() - t0 < 1.0
    RunLock(tmp_path).acquire().release()   # released on exit


def test_lock_released_when_the_body_raises(tmp_path):
    with pytest.raises(RuntimeError):
        with RunLock(tmp_path):
            raise RuntimeError("boom")
    with RunLock(tmp_path):
        pass


def test_lock_released_when_the_holder_is_killed(tmp_path):
    code = textwrap.dedent(f"""
        import sys, time
        from cadbench.runlock import RunLock
        RunLock({str(tmp_path)!r}, "holder").acquire()
        print("locked", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(FolderBusy, match=f"pid {proc.pid}: holder"):
            RunLock(tmp_path).acquire()
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    RunLock(tmp_path).acquire().release()   # the kernel dropped the dead holder's lock


def test_private_dirs_and_removal_of_what_a_failure_made(tmp_path):
    target = tmp_path / "runs" / "x"
    old = os.umask(0o022)
    try:
        created = make_private_dir(target)
    finally:
        os.umask(old)
    assert created == [tmp_path / "runs", target]
    assert mode(target) == mode(tmp_path / "runs") == 0o700
    with RunLock(target):
        pass
    remove_if_empty(created)   # only the lock file inside: both folders go
    assert not (tmp_path / "runs").exists()


def test_score_on_a_folder_in_use_stops_at_once(tmp_path, capsys):
    refs = write_jsonl(tmp_path / "refs.jsonl", REFS)
    preds = write_jsonl(tmp_path / "preds.jsonl", REFS)
    out = tmp_path / "out"
    out.mkdir()
    with RunLock(out, "cadbench score"):
        assert main(["score", "--references", str(refs), "--predictions", str(preds),
                     "--out", str(out), "--workers", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{out}: in use by another cadbench command (pid {os.getpid()}: cadbench score)" in err
    assert not (out / "results.jsonl").exists()   # it did no work


def test_score_writes_a_private_folder(tmp_path, capsys):
    refs = write_jsonl(tmp_path / "refs.jsonl", REFS)
    preds = write_jsonl(tmp_path / "preds.jsonl", REFS)
    out = tmp_path / "private" / "out"
    assert main(["score", "--references", str(refs), "--predictions", str(preds),
                 "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert mode(out) == mode(out.parent) == 0o700
    files = [p for p in out.iterdir() if p.is_file()]
    assert {"results.jsonl", "summary.json"} <= {p.name for p in files}
    assert all(mode(p) == 0o600 for p in files), {p.name: oct(mode(p)) for p in files}
    # the lock is free again: a second score resumes
    assert main(["score", "--references", str(refs), "--predictions", str(preds),
                 "--out", str(out), "--workers", "1", "--quiet"]) == 0


def test_run_on_a_folder_in_use_stops_and_run_folders_are_private(tmp_path, capsys):
    data = tmp_path / "tiny"
    data.mkdir()
    for r in REFS:
        (data / f"{r['id']}.py").write_text(r["code"])
    out = tmp_path / "run"
    args = ["run", "--model", "constant", "--dataset", str(data), "--workers", "1",
            "--no-progress", "--out", str(out), "--no-record"]
    out.mkdir()
    with RunLock(out, "cadbench run --model constant"):
        assert main(args) == 2
    assert "in use by another cadbench command" in capsys.readouterr().err
    assert not (out / "predictions.jsonl").exists()
    assert main(args) == 0
    assert mode(out) == 0o700
    files = [p for p in out.iterdir() if p.is_file()]
    assert {"predictions.jsonl", "results.jsonl", "record.json", "run.json"} <= {
        p.name for p in files}
    assert all(mode(p) == 0o600 for p in files), {p.name: oct(mode(p)) for p in files}

"""The tests' own plumbing: the shared data is found relative to the project root (or through
$CADBENCH_SHARED), a missing file skips locally and fails under CI naming it, and the slow list
names tests that exist."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import conftest
import shared_data

TESTS = Path(__file__).resolve().parent

INNER_TESTS = """
import pytest

def test_needs_the_shared_file(gencad_subset_path):
    assert gencad_subset_path.exists()

def test_machine_dependent():
    pytest.skip("chromium not installed")
"""


def run_inner(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """A pytest session over a copy of this folder's conftest and helper plus two tests, in a
    project whose ../shared does not exist."""
    tests = tmp_path / "project" / "tests"
    tests.mkdir(parents=True)
    for name in ("conftest.py", "shared_data.py"):
        shutil.copy(TESTS / name, tests / name)
    (tests / "test_inner.py").write_text(INNER_TESTS)
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CI", "CADBENCH_SHARED", "CADBENCH_GENCAD50")
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)],
        cwd=tests.parent,
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=120,
    )


def test_the_shared_folder_is_beside_the_project_root(monkeypatch, tmp_path):
    monkeypatch.delenv("CADBENCH_SHARED", raising=False)
    assert shared_data.shared_root() == TESTS.parent.parent / "shared"
    monkeypatch.setenv("CADBENCH_SHARED", str(tmp_path / "elsewhere"))
    assert shared_data.shared_file("data", "x.jsonl") == tmp_path / "elsewhere" / "data" / "x.jsonl"


def test_missing_data_skips_locally_with_the_place_looked_in(tmp_path):
    proc = run_inner(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" not in proc.stdout and "2 skipped" in proc.stdout
    missing = tmp_path / "shared" / "data" / "gencad_subset50.jsonl"
    assert re.search(
        rf"UNEXPECTED .*test_needs_the_shared_file: shared data file "
        rf"{re.escape(str(missing))} not found",
        proc.stdout,
    ), proc.stdout
    assert "expected   tests/test_inner.py::test_machine_dependent" in proc.stdout


def test_under_ci_missing_data_fails_the_run_naming_it(tmp_path):
    proc = run_inner(tmp_path, CI="true")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 unexpected skip(s) fail this run" in proc.stdout
    assert "test_needs_the_shared_file: shared data file" in proc.stdout


def test_under_ci_expected_skips_alone_pass(tmp_path):
    shared = tmp_path / "elsewhere"
    (shared / "data").mkdir(parents=True)
    (shared / "data" / "gencad_subset50.jsonl").write_text("{}\n")
    proc = run_inner(tmp_path, CI="true", CADBENCH_SHARED=str(shared))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 1 skipped" in proc.stdout and "of which 0 unexpected" in proc.stdout


def test_every_slow_entry_names_an_existing_test():
    root = TESTS.parent
    for path in conftest.SLOW_FILES:
        assert (root / path).is_file(), path
    for nodeid in conftest.SLOW_TESTS:
        path, _, name = nodeid.partition("::")
        assert re.search(rf"^def {re.escape(name)}\(", (root / path).read_text(), re.M), nodeid


def test_only_machine_dependent_skips_are_expected():
    for reason in (
        "chromium not installed",
        "pid namespaces need root",
        "the folder's tmpfs needs root",
        "the uid drop only happens as root",
        "unshare -n is not available here",
    ):
        assert conftest._expected(reason), reason
    for reason in (
        shared_data.missing_message(Path("x.jsonl")),
        "no committed retrieval checkpoint",
        "could not import 'torch': No module named 'torch'",
    ):
        assert not conftest._expected(reason), reason

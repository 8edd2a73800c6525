"""The Makefile's set-up runs once: `make -n` (print, do not run) shows what a call would do in
a copy of the project with no .venv, a hand-made .venv, a set-up one, and a changed
pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")

pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def dry_run(project: Path, target: str = "setup") -> str:
    proc = subprocess.run(
        [str(MAKE), "-n", target], cwd=project, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def fake_venv(project: Path) -> None:
    python = project / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")


def test_a_fresh_clone_creates_the_venv_and_installs(project: Path):
    out = dry_run(project)
    assert "-m venv .venv" in out
    assert 'pip install -e ".[learned,dask,test,dev]"' in out


def test_an_existing_venv_is_kept_and_completed(project: Path):
    fake_venv(project)
    out = dry_run(project)
    assert "-m venv" not in out
    assert "pip install -e" in out and "torch" in out


def test_a_second_call_installs_nothing_until_pyproject_changes(project: Path):
    fake_venv(project)
    cksum = subprocess.run(
        ["cksum", "pyproject.toml"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.split()[0]
    (project / ".venv" / f".cadbench-setup-{cksum}").touch()
    for target in ("setup", "test", "run"):
        assert "pip" not in dry_run(project, target), target
    assert "pytest -q" in dry_run(project, "test")
    assert "cadbench run --model simple" in dry_run(project, "run")

    with open(project / "pyproject.toml", "a") as f:
        f.write("\n# a changed dependency\n")
    assert "pip install -e" in dry_run(project)


def test_the_fast_lane_leaves_slow_tests_out(project: Path):
    fake_venv(project)
    assert 'pytest -q -m "not slow"' in dry_run(project, "test-fast")

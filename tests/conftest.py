"""Session-wide test set-up: an isolated cache, the shared data, the slow marks, and the skip
policy (under CI an unexpected skip fails the run; locally every skip is listed with its reason).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from shared_data import GENCAD_SUBSET50, require, shared_root

# cadbench's own GenCAD loader reads this variable: point it at the file the tests use, so a
# CADBENCH_SHARED set for the tests reaches the library too.
os.environ.setdefault("CADBENCH_GENCAD50", str(GENCAD_SUBSET50))

# ---------------------------------------------------------------------------- slow marks
# Marked here rather than in each file so one list says what the fast lane leaves out
# (`make test-fast`, `pytest -m "not slow"`). Chosen from `pytest --durations=0` on the 2-core
# development machine: a file whose tests together take over ~5 s, or a single test over ~3 s.
SLOW_FILES = frozenset(
    {
        "tests/adversarial/test_corpus.py",  # the whole hostile corpus through the CLI
        "tests/test_crash_safety.py",  # kill -9 and rerun (also marked in the file)
        "tests/test_dask_backend.py",  # starts a local Dask cluster
        "tests/test_run_sampling.py",  # interrupted, resumed and rebatched sampling runs
        "tests/test_score_e2e.py",  # the score CLI on the 50 GenCAD programs
        "tests/submissions/test_cli_run.py",  # cadbench run end to end
        "tests/submissions/test_vit_gpt2_model.py",  # trains and generates with a small ViT+GPT-2
    }
)
# Node ids without parameters: "tests/x.py::test_y".
SLOW_TESTS = frozenset(
    {
        "tests/adversarial/test_probes.py::test_candidate_memory_holds_no_reference_or_earlier_candidate",
        "tests/test_run_taskview.py::test_a_probe_using_everything_scores_no_better_than_constant",
        "tests/geometry/test_pose.py::test_rotated_copies_of_degenerate_parts_score_high",
        "tests/test_scoring_faults.py::test_reference_that_cannot_run_is_reported_not_dropped",
        "tests/protocols/test_peer_fixtures.py::test_every_difference_from_the_peer_is_explained",
        "tests/datasets/test_synth.py::"
        "test_every_kept_part_is_at_the_canonical_depth_and_builds_are_reproducible",
        "tests/test_run_record.py::test_a_limit_run_and_no_record_stay_in_the_run_folder",
        "tests/execute/test_statuses.py::test_setsid_detached_grandchild_is_killed",
        "tests/execute/test_statuses.py::test_timeout_infinite_loop",
        "tests/submissions/test_vit_gpt2_box.py::"
        "test_the_box_regressor_trains_saves_loads_and_fits_outputs",
        "tests/submissions/test_vit_gpt2_geometry.py::"
        "test_training_with_the_head_runs_and_saves_only_the_model",
        "tests/submissions/test_vit_gpt2_rerank.py::"
        "test_refining_the_box_moves_a_misplaced_part_towards_the_image",
    }
)


def _is_slow(nodeid: str) -> bool:
    path, _, rest = nodeid.partition("::")
    return path in SLOW_FILES or f"{path}::{rest.split('[')[0]}" in SLOW_TESTS


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _is_slow(item.nodeid):
            item.add_marker(pytest.mark.slow)


# ---------------------------------------------------------------------------- skip policy
# Skips that depend on the machine rather than on the set-up: allowed under CI too. Anything
# else (missing shared data, a missing dependency, a missing checkpoint) fails a CI run.
EXPECTED_SKIPS: tuple[tuple[str, str], ...] = (
    (r"chromium not installed", "the report's browser check needs a chromium binary"),
    (r"\bneeds? root\b|only happens as root", "privilege drop and mount views need root"),
    (r"no writable root-owned 0755 folder", "the read-only view check needs such a folder"),
    (r"unshare -n is not available", "the no-network child needs network namespaces"),
    (r"\b(CUDA|GPU)\b", "GPU-only checks"),
)


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _expected(reason: str) -> bool:
    return any(re.search(pattern, reason) for pattern, _ in EXPECTED_SKIPS)


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")


_skips: list[tuple[str, str]] = []  # (node id, reason) of every skip, collection included


def pytest_collectreport(report):
    if report.skipped:
        _skips.append((report.nodeid, _skip_reason(report)))


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _skips.append((report.nodeid, _skip_reason(report)))


def _unexpected() -> list[tuple[str, str]]:
    return [(n, r) for n, r in _skips if not _expected(r)]


def pytest_sessionfinish(session, exitstatus):
    if _ci() and _unexpected() and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _skips:
        return
    tr = terminalreporter
    unexpected = _unexpected()
    tr.section(f"skips: {len(_skips)}, of which {len(unexpected)} unexpected")
    for nodeid, reason in _skips:
        tag = "UNEXPECTED" if (nodeid, reason) in unexpected else "expected"
        tr.write_line(f"{tag:10} {nodeid}: {reason}")
    if unexpected:
        tr.write_line(
            f"(shared data is looked for in {shared_root()}: <project root>/../shared, "
            f"or $CADBENCH_SHARED)"
        )
    if unexpected and _ci():
        tr.write_line(
            f"CI=true: {len(unexpected)} unexpected skip(s) fail this run; provide "
            f"what they name, or add a pattern to EXPECTED_SKIPS in {Path(__file__).name}"
            f" if the skip is legitimately machine-dependent",
            red=True,
            bold=True,
        )


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(autouse=True, scope="session")
def _isolated_cadbench_home(tmp_path_factory):
    """Tests never touch the user's cache: CADBENCH_HOME points into a temporary folder."""
    if "CADBENCH_TEST_HOME" in os.environ:  # reuse a warm cache across runs when asked
        os.environ["CADBENCH_HOME"] = os.environ["CADBENCH_TEST_HOME"]
    else:
        os.environ["CADBENCH_HOME"] = str(tmp_path_factory.mktemp("cadbench_home"))
    yield


@pytest.fixture(scope="session")
def gencad_subset_path() -> Path:
    """The shared 50 GenCAD-Code programs; skips (fails under CI) with the place looked in."""
    return require(GENCAD_SUBSET50)


@pytest.fixture()
def program_folder(tmp_path):
    """A maker of dataset folders of `<id>.py` programs (datasets/folder.py):
    `program_folder({"a": code, ...}, name="tiny")` -> the folder."""

    def make(programs: dict[str, str], name: str = "tiny") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        for pid, code in programs.items():
            (folder / f"{pid}.py").write_text(code)
        return folder

    return make

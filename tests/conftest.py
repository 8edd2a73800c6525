import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
GENCAD_SUBSET = SHARED_DATA / "gencad_subset50.jsonl"


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
    if not GENCAD_SUBSET.exists():
        pytest.skip(f"{GENCAD_SUBSET} not present")
    return GENCAD_SUBSET

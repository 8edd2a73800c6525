"""A record's provenance says which code and weights made it: the submission's own source files
and checkpoint are hashed, and an uncommitted submission is dirty even when git ignores or does
not track its files."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from cadbench.provenance import checkpoint_hash, submission_provenance, submission_source

SUBMISSION = """from cadbench.submissions import Submission


class {name}(Submission):
    name = "{name}"

    def generate(self, samples):
        return ["solid = None" for _ in samples]
"""


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git checkout with one committed file, standing for a user's project."""
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q")
    (root / "README").write_text("a project\n")
    git(root, "add", "README")
    git(root, "commit", "-q", "-m", "start")
    return root


def import_file(path: Path) -> type:
    """The submission class of a loose file, imported the way `--model FILE:Class` does."""
    name = f"h9_sub_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return next(v for k, v in vars(module).items() if k.startswith("Mine"))


def test_a_new_uncommitted_submission_is_dirty_until_committed(repo: Path):
    file = repo / "submissions" / "mine.py"
    file.parent.mkdir()
    file.write_text(SUBMISSION.format(name="Mine"))
    cls = import_file(file)

    new = submission_provenance(cls)
    assert new["dirty"] is True
    assert new["dirty_files"] == ["submissions/mine.py"]
    assert new["source_files"] == ["mine.py"]  # outside this project: no machine path

    git(repo, "add", "submissions/mine.py")
    git(repo, "commit", "-q", "-m", "add mine")
    committed = submission_provenance(cls)
    assert committed["dirty"] is False and committed["dirty_files"] == []
    assert committed["source_hash"] == new["source_hash"]

    file.write_text(file.read_text() + "# changed\n")
    edited = submission_provenance(cls)
    assert edited["dirty"] is True
    assert edited["source_hash"] != committed["source_hash"]


def test_an_ignored_source_file_is_dirty(repo: Path):
    (repo / ".gitignore").write_text("private/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore")
    file = repo / "private" / "mine.py"
    file.parent.mkdir()
    file.write_text(SUBMISSION.format(name="MineIgnored"))
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""  # git sees nothing
    record = submission_provenance(import_file(file))
    assert record["dirty"] is True
    assert record["dirty_files"] == ["private/mine.py"]


def test_a_package_submission_covers_every_module_and_its_checkpoint(repo: Path, monkeypatch):
    pkg_name = f"h9pkg_{uuid.uuid4().hex[:8]}"
    pkg = repo / pkg_name
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "submission.py").write_text(SUBMISSION.format(name="MinePkg"))
    (pkg / "__pycache__" / "junk.py").write_text("")  # never source
    ckpt = pkg / "checkpoint"
    ckpt.mkdir()
    (ckpt / "weights.bin").write_bytes(b"\x00\x01")
    (ckpt / "train_info.json").write_text("{}")
    git(repo, "add", pkg_name)
    git(repo, "commit", "-q", "-m", "package")
    monkeypatch.syspath_prepend(str(repo))
    cls = importlib.import_module(f"{pkg_name}.submission").MinePkg

    root, files = submission_source(cls)
    assert root == pkg.resolve()
    assert [f.name for f in files] == ["__init__.py", "submission.py"]
    clean = submission_provenance(cls, ckpt)
    assert clean["dirty"] is False
    assert clean["checkpoint_hash"] == checkpoint_hash(ckpt) is not None

    # A helper module added next to it, not committed: in the hash and in the dirty flag.
    (pkg / "helper.py").write_text("X = 1\n")
    with_helper = submission_provenance(cls, ckpt)
    assert with_helper["dirty"] is True
    assert f"{pkg_name}/helper.py" in with_helper["dirty_files"]
    assert with_helper["source_hash"] != clean["source_hash"]
    (pkg / "helper.py").unlink()

    # Retrained weights change the checkpoint hash and make the record dirty; the training
    # notes alone change neither hash.
    (ckpt / "train_info.json").write_text('{"epochs": 3}')
    assert checkpoint_hash(ckpt) == clean["checkpoint_hash"]
    (ckpt / "weights.bin").write_bytes(b"\x00\x02")
    retrained = submission_provenance(cls, ckpt)
    assert retrained["checkpoint_hash"] != clean["checkpoint_hash"]
    assert retrained["dirty"] is True and retrained["source_hash"] == clean["source_hash"]


def test_a_checkpoint_git_ignores_is_dirty(repo: Path):
    (repo / ".gitignore").write_text("runs/\n")
    file = repo / "mine.py"
    file.write_text(SUBMISSION.format(name="MineCkpt"))
    git(repo, "add", ".gitignore", "mine.py")
    git(repo, "commit", "-q", "-m", "mine")
    ckpt = repo / "runs" / "ckpt"
    ckpt.mkdir(parents=True)
    (ckpt / "weights.bin").write_bytes(b"\x01")
    cls = import_file(file)
    assert submission_provenance(cls)["dirty"] is False
    record = submission_provenance(cls, ckpt)
    assert record["dirty"] is True and record["dirty_files"] == ["runs/ckpt/weights.bin"]


def test_outside_a_git_checkout_dirty_is_unknown(tmp_path: Path):
    file = tmp_path / "mine.py"
    file.write_text(SUBMISSION.format(name="MineLoose"))
    record = submission_provenance(import_file(file))
    assert record["dirty"] is None
    assert record["source_files"] == ["mine.py"] and len(record["source_hash"]) == 16


def test_builtin_submissions_hash_only_their_own_files():
    from baselines.retrieval import RetrievalSubmission
    from cadbench.run import checkpoint_fingerprint
    from submissions.simple.submission import SimpleSubmission

    root, files = submission_source(RetrievalSubmission)
    assert root.name == "retrieval.py" and files == [root]
    simple = submission_provenance(SimpleSubmission, SimpleSubmission.default_checkpoint())
    assert simple["source_root"] == "submissions/simple"
    assert "submissions/simple/submission.py" in simple["source_files"]
    assert all(f.startswith("submissions/simple/") for f in simple["source_files"])
    # One hash for one checkpoint: the record's and the run folder's agree.
    assert simple["checkpoint_hash"] == checkpoint_fingerprint(
        str(SimpleSubmission.default_checkpoint())
    )

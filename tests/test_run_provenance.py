"""A run record says which code made it: a submission that is not committed is recorded as
dirty, with a hash of its own source (issue 15, item 4), end to end through `cadbench run`."""

import json
import subprocess
import textwrap

from baselines.constant import box_program
from cadbench.cli import main

MODULE = textwrap.dedent('''
    from cadbench.submissions import Submission

    class Cube(Submission):
        name = "tmp_cube"
        def generate(self, samples):
            return ["import cadquery as cq\\nsolid = cq.Workplane().box(1, 1, 1)\\n"
                    for _ in samples]
''')


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def record_of(tmp_path, spec, data, name):
    out = tmp_path / name
    assert main(["run", "--model", spec, "--dataset", str(data), "--out", str(out),
                 "--no-record", "--no-progress", "--workers", "1"]) == 0
    return json.loads((out / "record.json").read_text())["provenance"]["submission"]


def test_uncommitted_submission_is_recorded_dirty_and_its_source_hashed(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "p1.py").write_text(box_program(1.0, 0.5, 0.25))
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@t")
    git(repo, "config", "user.name", "t")
    (repo / "README").write_text("x\n")
    git(repo, "add", "README")
    git(repo, "commit", "-qm", "init")
    module = repo / "cube.py"
    module.write_text(MODULE)                     # untracked: in no commit
    spec = f"{module}:Cube"
    untracked = record_of(tmp_path, spec, data, "run1")
    assert untracked["dirty"] is True and "cube.py" in untracked["dirty_files"]
    git(repo, "add", "cube.py")
    git(repo, "commit", "-qm", "add cube")
    clean = record_of(tmp_path, spec, data, "run2")
    assert clean["dirty"] is False and clean["source_hash"] == untracked["source_hash"]
    module.write_text(MODULE.replace("box(1, 1, 1)", "box(1, 1, 2)"))
    edited = record_of(tmp_path, spec, data, "run3")
    assert edited["dirty"] is True and edited["source_hash"] != clean["source_hash"]

"""The harness's own TMPDIR may be private (0700, e.g. /run/user/ID or a CI runner's folder).
Candidates run as an unprivileged uid when the harness is root; they must still be able to hand
back their result, or the harness must say clearly what is wrong (not report every program,
references included, as a runtime error)."""

from __future__ import annotations

import os
import tempfile

import pytest

from cadbench.config import ExecConfig
from cadbench.execute import status as st

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the uid drop only happens as root")

BOX = "import cadquery as cq\nsolid = cq.Workplane().box(1, 2, 3)\n"


def test_private_harness_tmpdir(tmp_path, monkeypatch):
    private = tmp_path / "private-tmp"
    private.mkdir(mode=0o700)
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    from cadbench.execute import Sandbox
    with Sandbox(ExecConfig(timeout_s=30)) as sandbox:
        res = sandbox.run(BOX)
    assert res.status == st.OK or (res.status == st.HARNESS_ERROR and "TMPDIR" in res.error), (
        res.status, res.error)

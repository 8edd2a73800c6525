"""The probes can fail: run outside the sandbox (plain Python, same values), each program that
looks for a leak must find it. Without this, a probe that silently never worked would make its
sandboxed test pass for the wrong reason."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from .corpus import load_corpus, marker_for
from .watch import Listeners, host_ip

STUBS = Path(__file__).parent / "probe_stubs"
PROBES = ["50_write_tmp", "70_read_references", "71_read_gt_cache", "73_secret_environ",
          "74_secret_proc_environ", "75_secret_memory_scan", "77_read_root_only_files",
          "80_net_tcp", "81_net_udp", "82_net_raw_syscalls", "83_net_abstract_unix",
          "84_net_unix_path_socket"]
if os.geteuid() == 0:
    PROBES.append("76_read_parent_memory")


@pytest.fixture(scope="module")
def probe_env(tmp_path_factory):
    session = secrets.token_hex(4)
    work = tmp_path_factory.mktemp("probes")
    (work / "gt").mkdir()
    (work / "gt" / "abc.npz").write_bytes(b"PK\x03\x04")
    (work / "references.jsonl").write_text(json.dumps({"id": "x", "code": "solid = 1"}) + "\n")
    root_only = work / "root_only.json"
    root_only.write_text("{}")
    os.chmod(root_only, 0o600)
    listeners = Listeners(unix_path=f"/tmp/cbadv-probe-sock-{session}",
                          abstract_name=f"cbadv-probe-abstract-{session}")
    values = {"__TIMEOUT__": 1, "__PORT__": listeners.tcp_port,
              "__UDP_PORT__": listeners.udp_port, "__HOST_IP__": host_ip(),
              "__UNIX_SOCK__": listeners.unix_path, "__ABSTRACT_SOCK__": listeners.abstract_name,
              "__SECRET_NAME__": "CBADV_API_KEY", "__GT_DIR__": str(work / "gt"),
              "__REFS_PATH__": str(work / "references.jsonl"),
              "__ROOT_SECRET_JSON__": str(root_only)}
    env = {**os.environ, "PYTHONPATH": str(STUBS), "CBADV_API_KEY": "sk-" + secrets.token_hex(8)}
    yield session, work, values, env
    listeners.close()


@pytest.mark.parametrize("name", PROBES)
def test_probe_finds_the_leak_outside_the_sandbox(probe_env, name):
    session, work, values, env = probe_env
    program = {p.name: p for p in load_corpus()}[name]
    marker = marker_for(session, name)
    code = program.render(values, marker)
    # SIGUSR1 and friends are not sent by these probes; a plain child of the test runner.
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(work),
                          capture_output=True, text=True, timeout=60)
    for leftover in Path("/tmp").glob(f"cbadv-{marker}-*"):
        leftover.unlink()
    Path(f"/var/tmp/cbadv-{marker}-{name}").unlink(missing_ok=True)
    assert proc.returncode != 0 and "LEAK" in proc.stderr, (proc.returncode, proc.stderr[-500:])

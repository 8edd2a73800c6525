"""Soak test of `cadbench score`: many samples, a share of them hostile, in one run.

Builds predictions for the 50 GenCAD-Code programs of the shared subset (N candidates per id:
exact, perturbed and hostile ones drawn from tests/adversarial/programs), runs the real CLI
once, and samples the harness while it runs: resident memory of the main process and of its
worker processes over time, open file descriptors, and temporary folders before and after.

    nice -n 10 python benchmarks/soak.py --samples 2000 --hostile 0.1 --workers 2

Prints a report (markdown) and writes it with the raw samples to --out/soak.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from adversarial.corpus import DATA_PATH, load_corpus, perturb  # noqa: E402

# Hostile programs that make sense without the test's listeners and victims (their paths and
# ports are filled with harmless values below).
SKIP = {"28_signal_ancestors", "27_kill_parent"}


def build_inputs(work: Path, n: int, hostile: float, seed: int, timeout: float) -> dict:
    rows = [json.loads(line) for line in DATA_PATH.read_text().splitlines() if line.strip()]
    refs = [{"id": str(r["question_id"]), "code": r["ground_truth"]} for r in rows]
    corpus = [p for p in load_corpus() if p.name not in SKIP and not p.xfail]
    values = {"__TIMEOUT__": timeout, "__PORT__": 9, "__UDP_PORT__": 9, "__HOST_IP__": "127.0.0.1",
              "__UNIX_SOCK__": "/nonexistent/sock", "__ABSTRACT_SOCK__": "cbsoak-none",
              "__SECRET_NAME__": "CBSOAK_SECRET", "__GT_DIR__": "/nonexistent/gt",
              "__REFS_PATH__": str(work / "refs.jsonl"), "__DATA_PATH__": "/nonexistent",
              "__OUT_DIR__": str(work / "run"), "__VICTIM__": "/nonexistent/victim",
              "__ROOT_SECRET_JSON__": "/nonexistent/secret.json", "__REPO__": str(REPO),
              "__HARNESS_TMP__": "/nonexistent", "__HARNESS_IS_ROOT__": str(os.geteuid() == 0),
              "__QID__": "0"}
    rng = random.Random(seed)
    preds, kinds = [], {"exact": 0, "perturbed": 0, "hostile": 0}
    for i in range(n):
        ref = refs[i % len(refs)]
        if rng.random() < hostile:
            prog = rng.choice(corpus)
            code, kind = prog.render(values, f"{i:08x}"), "hostile"
        elif rng.random() < 0.5:
            code, kind = ref["code"], "exact"
        else:
            code, kind = perturb(ref["code"], rng.uniform(0.5, 1.5)), "perturbed"
        kinds[kind] += 1
        preds.append({"id": ref["id"], "code": code, "candidate": i // len(refs)})
    (work / "refs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in refs))
    (work / "preds.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    return kinds


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def process_tree(root: int) -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, name) for root and all its descendants."""
    parent, name = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _read(f"/proc/{entry}/stat")
            if st:
                parent[int(entry)] = int(st.rsplit(")", 1)[1].split()[1])
                name[int(entry)] = _read(f"/proc/{entry}/cmdline").replace("\0", " ")[:80]
    tree, frontier = {}, [root]
    while frontier:
        pid = frontier.pop()
        if pid in parent:
            tree[pid] = (parent[pid], name[pid])
            frontier += [c for c, p in parent.items() if p == pid]
    return tree


def rss_mb(pid: int) -> float:
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def classify(tree: dict[int, tuple[int, str]], root: int) -> dict[str, list[int]]:
    """The main process, its scoring workers, and the sandboxes (warm zygotes + candidates)."""
    groups = {"main": [root], "workers": [], "sandboxes": []}
    for pid, (_, cmd) in tree.items():
        if pid == root:
            continue
        if "cadbench.execute.zygote" in cmd or tree.get(tree[pid][0], (0, ""))[1].find(
                "cadbench.execute.zygote") >= 0:
            groups["sandboxes"].append(pid)
        elif "loky" in cmd or "dask" in cmd or "multiprocessing" in cmd:
            groups["workers"].append(pid)
    return groups


def snapshot_tmp(dirs: list[str]) -> set[str]:
    out = set()
    for d in dirs:
        try:
            out |= {os.path.join(d, e) for e in os.listdir(d)}
        except OSError:
            pass
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--hostile", type=float, default=0.1, help="share of hostile programs")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="folder for soak.json (default: a temp folder)")
    args = ap.parse_args()

    work = Path(args.out or tempfile.mkdtemp(prefix="cadbench-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    kinds = build_inputs(work, args.samples, args.hostile, args.seed, args.timeout)
    harness_tmp = tempfile.mkdtemp(prefix="cadbench-soak-tmp-")
    os.chmod(harness_tmp, 0o755)  # the sandbox's unprivileged uid must be able to enter it
    # The harness's own TMPDIR (its sandboxes' folders live there) and shared memory (joblib);
    # /tmp itself is shared with other users of the machine, so it is not attributed to us.
    watched = [harness_tmp, "/dev/shm"]
    tmp_before = snapshot_tmp(watched)
    env = {**os.environ, "CADBENCH_HOME": str(work / "home"), "TMPDIR": harness_tmp}
    cmd = [sys.executable, "-m", "cadbench", "score", "--references", str(work / "refs.jsonl"),
           "--predictions", str(work / "preds.jsonl"), "--out", str(work / "run"),
           "--workers", str(args.workers), "--timeout", str(args.timeout), "--no-best",
           "--quiet", "--no-resume"]
    print("command:", " ".join(cmd), file=sys.stderr)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=str(REPO), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    samples = []
    results = work / "run" / "results.jsonl"
    while proc.poll() is None:
        tree = process_tree(proc.pid)
        groups = classify(tree, proc.pid)
        try:
            done = results.read_bytes().count(b"\n")
        except OSError:
            done = 0
        samples.append({
            "t_s": round(time.monotonic() - t0, 1), "done": done,
            "main_rss_mb": round(rss_mb(proc.pid), 1),
            "workers_rss_mb": round(sum(rss_mb(p) for p in groups["workers"]), 1),
            "sandboxes_rss_mb": round(sum(rss_mb(p) for p in groups["sandboxes"]), 1),
            "n_processes": len(tree), "main_fds": fd_count(proc.pid),
            "workers_fds": sum(fd_count(p) for p in groups["workers"]),
            "sandboxes_fds": sum(fd_count(p) for p in groups["sandboxes"]),
        })
        print(json.dumps(samples[-1]), file=sys.stderr)
        time.sleep(args.interval)
    out, err = proc.communicate()
    wall = time.monotonic() - t0
    time.sleep(2)
    leaked = sorted(snapshot_tmp(watched) - tmp_before)
    summary = json.loads((work / "run" / "summary.json").read_text()) if proc.returncode == 0 else {}
    scoring = [s for s in samples if s["done"] > 0]
    report = {
        "command": " ".join(cmd), "samples": args.samples, "kinds": kinds, "rc": proc.returncode,
        "wall_s": round(wall, 1), "status_counts_all": _all_status_counts(results),
        "tmp_entries_left": leaked, "series": samples,
        "vsr": summary.get("metrics", {}).get("vsr"),
    }
    (work / "soak.json").write_text(json.dumps(report, indent=1))
    shutil.rmtree(harness_tmp, ignore_errors=True)
    print(render(report, scoring), end="")
    if proc.returncode != 0:
        print(err[-3000:], file=sys.stderr)
    return 0 if proc.returncode == 0 else 1


def _all_status_counts(results: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    if results.exists():
        for line in results.read_text().splitlines():
            s = json.loads(line)["status"]
            counts[s] = counts.get(s, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def render(report: dict, scoring: list[dict]) -> str:
    lines = [f"soak: {report['samples']} samples {report['kinds']}, rc {report['rc']}, "
             f"{report['wall_s']} s wall", f"statuses: {report['status_counts_all']}", "",
             "| progress | t (s) | main RSS (MB) | workers RSS (MB) | sandboxes RSS (MB) | "
             "processes | main fds | workers fds | sandboxes fds |", "|---|---|---|---|---|---|---|---|---|"]
    if scoring:
        n = report["samples"]
        picks = []
        for frac in (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0):
            best = min(scoring, key=lambda s: abs(s["done"] - frac * n))
            if best not in picks:
                picks.append(best)
        for s in picks:
            lines.append(f"| {s['done']}/{n} | {s['t_s']} | {s['main_rss_mb']} | "
                         f"{s['workers_rss_mb']} | {s['sandboxes_rss_mb']} | {s['n_processes']} | "
                         f"{s['main_fds']} | {s['workers_fds']} | {s['sandboxes_fds']} |")
    lines += ["", f"temporary entries left after the run: {report['tmp_entries_left'] or 'none'}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())

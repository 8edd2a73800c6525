"""End-to-end `cadbench score` throughput and harness memory.

References: the 50 real GenCAD-Code programs plus copies with every extrusion scaled (>= 100).
Predictions: each reference with its extrusions scaled by 1.05 (a near miss, so every metric
does real work). Runs the real CLI in a subprocess with a cold ground-truth cache, samples the
RSS of the harness process (and of its whole process tree) every 0.25 s, and prints samples/s
and the RSS over time.

    python benchmarks/bench_score.py [--n 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the shared-data helper
from shared_data import GENCAD_SUBSET50 as SHARED  # noqa: E402


def scaled(code: str, factor: float) -> str:
    return re.sub(r"extrude\(([-0-9.e]+)",
                  lambda m: f"extrude({float(m.group(1)) * factor!r}", code)


def programs(n: int) -> list[tuple[str, str]]:
    base = [(str(json.loads(l)["question_id"]), json.loads(l)["ground_truth"])
            for l in SHARED.read_text().splitlines() if l.strip()]
    out = []
    for k in range(n):
        rid, code = base[k % len(base)]
        copy = k // len(base)
        out.append((f"{rid}-{copy}", scaled(code, 1.0 + 0.1 * copy) if copy else code))
    return out


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree(pid: int) -> list[int]:
    """pid and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        refs = programs(args.n)
        (tmp / "refs.jsonl").write_text("".join(json.dumps({"id": i, "code": c}) + "\n"
                                                for i, c in refs))
        (tmp / "preds.jsonl").write_text("".join(json.dumps({"id": i, "code": scaled(c, 1.05)})
                                                 + "\n" for i, c in refs))
        env = dict(os.environ, CADBENCH_HOME=str(tmp / "home"))
        runs = {}
        # "cold": ground truth computed in the run; "warm": the same references again, their
        # meshes cached (the usual case when several models are scored on one benchmark).
        for phase in ("cold", "warm"):
            cmd = [sys.executable, "-m", "cadbench", "score", "--references",
                   str(tmp / "refs.jsonl"), "--predictions", str(tmp / "preds.jsonl"),
                   "--out", str(tmp / f"run-{phase}"), "--workers", str(args.workers), "--quiet"]
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            samples = []
            while proc.poll() is None:
                pids = tree(proc.pid)
                samples.append((time.perf_counter() - t0, rss_kib(proc.pid),
                                sum(rss_kib(p) for p in pids)))
                time.sleep(0.25)
            out, err = proc.communicate()
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                print(err[-2000:], file=sys.stderr)
                return 1
            summary = json.loads((tmp / f"run-{phase}" / "summary.json").read_text())
            runs[phase] = (wall, samples, summary)
    print(f"programs: {args.n} references + {args.n} predictions, workers {args.workers}, "
          f"load average now {os.getloadavg()[0]:.1f}")
    for phase, (wall, samples, summary) in runs.items():
        timing = summary["provenance"]["timing"]
        print(f"[{phase} ground-truth cache] status counts {summary['status_counts']}; IoU (all) "
              f"{summary['metrics']['iou_all_mean']:.3f}; wall (process start to exit) "
              f"{wall:.1f} s -> {args.n / wall:.2f} predictions/s end to end "
              f"(score() {timing['score_wall_s']} s)")
    wall, samples, _ = runs["cold"]
    # RSS over time: the harness process alone (must stay flat) and the whole tree.
    step = max(1, len(samples) // 10)
    print("cold run: t (s) | harness RSS (MiB) | tree RSS (MiB)")
    for t, own, tot in samples[::step]:
        print(f"{t:6.1f} | {own / 1024:8.1f} | {tot / 1024:8.1f}")
    third = max(1, len(samples) // 3)
    early = max(s[1] for s in samples[:third]) / 1024
    late = max(s[1] for s in samples[-third:]) / 1024
    print(f"harness RSS max, first third vs last third: {early:.1f} vs {late:.1f} MiB "
          f"(ratio {late / max(early, 1e-9):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

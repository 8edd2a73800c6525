"""Scaling of `cadbench score` from 1 to 2 local workers, on the loky and the Dask backends.

Scores the same predictions (the 50 GenCAD-Code programs of the shared subset, each submitted
exactly and perturbed: 100 samples) once per (backend, workers), after a warm-up run that fills
the ground-truth cache, and prints wall time, throughput and the speed-up over 1 worker.

    nice -n 10 python benchmarks/bench_scaling.py

The figures are one run each on whatever machine runs this; on a shared 2-core machine other
load shows in them (say so next to them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from adversarial.corpus import DATA_PATH, perturb  # noqa: E402


def build(work: Path, copies: int) -> int:
    rows = [json.loads(line) for line in DATA_PATH.read_text().splitlines() if line.strip()]
    refs = [{"id": str(r["question_id"]), "code": r["ground_truth"]} for r in rows]
    preds = []
    for c in range(copies):
        for r in refs:
            code = r["code"] if c % 2 == 0 else perturb(r["code"], 1.0 + 0.1 * c)
            preds.append({"id": r["id"], "code": code, "candidate": c})
    (work / "refs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in refs))
    (work / "preds.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    return len(preds)


def run(work: Path, backend: str, workers: int, env: dict, name: str = "") -> tuple:
    out = work / (name or f"out-{backend}-{workers}")
    cmd = [sys.executable, "-m", "cadbench", "score", "--references", str(work / "refs.jsonl"),
           "--predictions", str(work / "preds.jsonl"), "--out", str(out), "--workers",
           str(workers), "--backend", backend, "--no-best", "--quiet", "--no-resume"]
    results = out / "results.jsonl"
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=str(REPO), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    first = last = None
    lines = 0
    while proc.poll() is None:  # when results arrive: separates start-up from throughput
        try:
            now_lines = results.read_bytes().count(b"\n")
        except OSError:
            now_lines = 0
        if now_lines > lines:
            first = first or time.perf_counter() - t0
            last, lines = time.perf_counter() - t0, now_lines
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    err = proc.stderr.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    steady = (lines - 1) / (last - first) if lines > 1 and last > first else float("nan")
    return wall, summary, first or float("nan"), steady


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=2, help="candidates per reference")
    ap.add_argument("--backends", default="loky,dask")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cadbench-scaling-"))
    n = build(work, args.copies)
    env = {**os.environ, "CADBENCH_HOME": str(work / "home")}
    load_before = os.getloadavg()[0]
    run(work, "loky", 2, env, name="warm-up")  # ground-truth cache, page cache
    rows, base = [], {}
    for backend in args.backends.split(","):
        for workers in (1, 2):
            wall, summary, first, steady = run(work, backend, workers, env)
            base.setdefault(backend, (wall, steady))
            rows.append((backend, workers, wall, first, steady, base[backend][0] / wall,
                         steady / base[backend][1], json.dumps(summary["metrics"], sort_keys=True)))
            print(f"{backend} x{workers}: {wall:.1f} s", file=sys.stderr)
    print(f"{n} samples (GenCAD-Code subset, ground truth cached), {os.cpu_count()} CPUs, "
          f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after\n")
    print("| backend | workers | wall (s) | first result at (s) | steady samples/s | "
          "wall speed-up | steady speed-up |")
    print("|---|---|---|---|---|---|---|")
    for backend, workers, wall, first, steady, speedup, steady_up, _ in rows:
        print(f"| {backend} | {workers} | {wall:.1f} | {first:.1f} | {steady:.2f} | "
              f"{speedup:.2f}x | {steady_up:.2f}x |")
    same = len({r[-1] for r in rows}) == 1
    print(f"\nsummary metrics identical across all runs: {same}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

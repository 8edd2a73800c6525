"""Executor throughput, measured side by side in one run on the same GenCAD-style programs:

  sandbox      cadbench.execute.Sandbox (warm worker, one isolated fork per program)
  naive        a fresh `python -c` subprocess per program (imports cadquery every time)
  in-process   exec in this process (no isolation at all: the upper limit)

Every mode does the same work per program: exec, pick the solid, check validity and volume,
tessellate (cadbench.execute.child.evaluate). Targets: sandbox >= 25x naive, >= 0.5x in-process.

    nice -n 10 python benchmarks/bench_executor.py [--n 100] [--naive-n 100]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from tqdm import tqdm

from cadbench.config import ExecConfig
from cadbench.execute import Sandbox
from cadbench.execute.child import evaluate

DATA = Path("/work/shared/data/gencad_subset50.jsonl")

NAIVE_DRIVER = (
    "import sys\n"
    "from cadbench.config import ExecConfig\n"
    "from cadbench.execute.child import evaluate\n"
    "r = evaluate(sys.stdin.read(), ExecConfig())\n"
    "print(r['status'])\n"
)


def load_programs(path: Path, n: int) -> list[str]:
    """The real programs, then perturbed copies (extrusion depths scaled) until there are n."""
    base = [json.loads(line)["ground_truth"] for line in path.read_text().splitlines() if line.strip()]
    programs, k = [], 0
    while len(programs) < n:
        scale = 1.0 + 0.1 * (k // len(base))
        code = base[k % len(base)]
        if scale != 1.0:
            code = re.sub(r"extrude\(([-0-9.e]+)", lambda m: f"extrude({float(m.group(1)) * scale!r}", code)
        programs.append(code)
        k += 1
    return programs


def bench_in_process(programs: list[str], cfg: ExecConfig) -> tuple[float, dict]:
    statuses: dict = {}
    t0 = time.perf_counter()
    for code in tqdm(programs, desc="in-process", file=sys.stderr):
        s = evaluate(code, cfg)["status"]
        statuses[s] = statuses.get(s, 0) + 1
    return time.perf_counter() - t0, statuses


def bench_sandbox(programs: list[str], cfg: ExecConfig, desc: str) -> tuple[float, float, dict]:
    statuses: dict = {}
    t_start = time.perf_counter()
    with Sandbox(cfg) as sb:
        startup = time.perf_counter() - t_start
        t0 = time.perf_counter()
        for code in tqdm(programs, desc=desc, file=sys.stderr):
            s = sb.run(code).status
            statuses[s] = statuses.get(s, 0) + 1
        elapsed = time.perf_counter() - t0
    return elapsed, startup, statuses


def bench_naive(programs: list[str]) -> tuple[float, dict]:
    statuses: dict = {}
    t0 = time.perf_counter()
    for code in tqdm(programs, desc="naive subprocess", file=sys.stderr):
        p = subprocess.run([sys.executable, "-c", NAIVE_DRIVER], input=code, capture_output=True,
                           text=True, timeout=120)
        s = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else f"exit {p.returncode}"
        statuses[s] = statuses.get(s, 0) + 1
    return time.perf_counter() - t0, statuses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--n", type=int, default=100, help="programs (real ones, then perturbed copies)")
    ap.add_argument("--naive-n", type=int, default=None,
                    help="programs for the naive mode (default: all n; it is slow)")
    args = ap.parse_args()
    programs = load_programs(args.data, args.n)
    naive_programs = programs[: args.naive_n] if args.naive_n else programs
    cfg = ExecConfig()
    import cadquery  # noqa: F401  (in-process mode pays the import once, outside the timing)

    rows = []
    t, st = bench_in_process(programs, cfg)
    rows.append(("in-process exec", len(programs), t, None, st))
    t, startup, st = bench_sandbox(programs, cfg, "sandbox")
    rows.append(("sandbox (all isolation on)", len(programs), t, startup, st))
    open_cfg = ExecConfig(drop_privileges=False, isolate_network=False)
    t, startup2, st = bench_sandbox(programs, open_cfg, "sandbox, rlimits only")
    rows.append(("sandbox (rlimits only)", len(programs), t, startup2, st))
    t, st = bench_naive(naive_programs)
    rows.append(("naive python subprocess", len(naive_programs), t, None, st))

    print(f"\nexecutor throughput on {len(programs)} GenCAD-style programs ({args.data.name})")
    print(f"{'mode':30s} {'n':>4s} {'seconds':>9s} {'programs/s':>11s}  startup  statuses")
    tput = {}
    for name, n, t, start, st in rows:
        tput[name] = n / t
        s = f"{start:6.2f}s" if start is not None else "      -"
        print(f"{name:30s} {n:4d} {t:9.2f} {n / t:11.2f}  {s}  {st}")
    sb, naive, inproc = tput["sandbox (all isolation on)"], tput["naive python subprocess"], tput["in-process exec"]
    print(f"\nsandbox / naive subprocess = {sb / naive:.1f}x   (target >= 25x)")
    print(f"sandbox / in-process exec  = {sb / inproc:.2f}x  (target >= 0.5x)")
    per = 1 / sb - 1 / inproc
    print(f"sandbox overhead per program = {per * 1000:.1f} ms "
          f"(rlimits-only sandbox: {(1 / tput['sandbox (rlimits only)'] - 1 / inproc) * 1000:.1f} ms)")


if __name__ == "__main__":
    main()

"""Executor throughput, measured side by side in one run on the same GenCAD-style programs:

  sandbox      cadbench.execute.Sandbox (warm worker, one isolated fork per program)
  naive        a fresh `python -c` subprocess per program (imports cadquery every time)
  in-process   exec in this process (no isolation at all: the upper limit)

Every mode does the same work per program: exec, pick the solid, check validity and volume,
tessellate (cadbench.execute.child.evaluate). Targets: sandbox >= 25x naive, >= 0.5x in-process.

    nice -n 10 python benchmarks/bench_executor.py [--n 100] [--naive-n 100]

The modes are interleaved program by program so that load changes on a shared machine hit
all of them alike.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the shared-data helper
from shared_data import GENCAD_SUBSET50  # noqa: E402

DATA = GENCAD_SUBSET50

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


def naive_run(code: str) -> str:
    p = subprocess.run([sys.executable, "-c", NAIVE_DRIVER], input=code, capture_output=True,
                       text=True, timeout=300)
    return p.stdout.strip().splitlines()[-1] if p.stdout.strip() else f"exit {p.returncode}"


def timed(fn, code: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    status = fn(code)
    return time.perf_counter() - t0, status


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--n", type=int, default=100, help="programs (real ones, then perturbed copies)")
    ap.add_argument("--naive-n", type=int, default=None,
                    help="programs that also run in the naive mode (default: all n; it is slow); "
                         "its ratio is then computed on those programs only")
    args = ap.parse_args()
    programs = load_programs(args.data, args.n)
    naive_n = min(args.naive_n or len(programs), len(programs))
    cfg = ExecConfig()
    import cadquery  # noqa: F401  (in-process mode pays the import once, outside the timing)

    # Modes are interleaved program by program, so a change of machine load during the run
    # (the machine is shared) affects every mode alike.
    modes = ["in-process exec", "sandbox (all isolation on)", "sandbox (rlimits only)",
             "naive python subprocess"]
    times = {m: [] for m in modes}
    statuses = {m: {} for m in modes}
    t0 = time.perf_counter()
    full = Sandbox(cfg).__enter__()
    startup_full = time.perf_counter() - t0
    t0 = time.perf_counter()
    bare = Sandbox(ExecConfig(drop_privileges=False, isolate_network=False)).__enter__()
    startup_bare = time.perf_counter() - t0
    runners = {
        "in-process exec": lambda c: evaluate(c, cfg)["status"],
        "sandbox (all isolation on)": lambda c: full.run(c).status,
        "sandbox (rlimits only)": lambda c: bare.run(c).status,
        "naive python subprocess": naive_run,
    }
    try:
        for i, code in enumerate(tqdm(programs, desc="programs (all modes)", file=sys.stderr)):
            for m in modes:
                if m == "naive python subprocess" and i >= naive_n:
                    continue
                t, st = timed(runners[m], code)
                times[m].append(t)
                statuses[m][st] = statuses[m].get(st, 0) + 1
    finally:
        full.close()
        bare.close()

    print(f"\nexecutor throughput on {len(programs)} GenCAD-style programs ({args.data.name}), "
          f"modes interleaved per program")
    print(f"{'mode':30s} {'n':>4s} {'seconds':>9s} {'programs/s':>11s}  startup  statuses")
    startups = {"sandbox (all isolation on)": startup_full, "sandbox (rlimits only)": startup_bare}
    for m in modes:
        n, t = len(times[m]), sum(times[m])
        s = f"{startups[m]:6.2f}s" if m in startups else "      -"
        print(f"{m:30s} {n:4d} {t:9.2f} {n / t:11.2f}  {s}  {statuses[m]}")
    sb = times["sandbox (all isolation on)"]
    naive = times["naive python subprocess"]
    inproc = times["in-process exec"]
    print(f"\nsandbox / naive subprocess = {sum(naive) / sum(sb[:naive_n]):.1f}x   "
          f"(target >= 25x; on the {naive_n} programs both ran)")
    print(f"sandbox / in-process exec  = {sum(inproc) / sum(sb):.2f}x  (target >= 0.5x)")
    per = (sum(sb) - sum(inproc)) / len(sb)
    per_bare = (sum(times["sandbox (rlimits only)"]) - sum(inproc)) / len(sb)
    print(f"sandbox overhead per program = {per * 1000:.1f} ms (rlimits-only sandbox: {per_bare * 1000:.1f} ms)")


if __name__ == "__main__":
    main()

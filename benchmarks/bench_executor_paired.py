"""Sandbox cost relative to in-process exec, alternating program by program, so that the ratio
holds on a loaded, shared machine. Run it once per tree to compare two versions under the same
load (e.g. the previous commit in a git worktree: `PYTHONPATH=../old python THIS_FILE`).

    python benchmarks/bench_executor_paired.py [--n 20] [--label new]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the shared-data helper
from shared_data import GENCAD_SUBSET50  # noqa: E402

from cadbench.config import ExecConfig  # noqa: E402
from cadbench.execute import Sandbox  # noqa: E402
from cadbench.execute.child import evaluate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--label", default="this tree")
    args = ap.parse_args()
    rows = [json.loads(line)["ground_truth"] for line in GENCAD_SUBSET50.read_text().splitlines()]
    rows = rows[:args.n]
    import cadquery  # noqa: F401  (in-process pays the import once, outside the timing)
    cfg = ExecConfig()
    with Sandbox(cfg) as sb:
        sb.run(rows[0])  # warm
        t_sb = t_in = 0.0
        for code in rows:
            t0 = time.perf_counter()
            sb.run(code)
            t_sb += time.perf_counter() - t0
            t0 = time.perf_counter()
            evaluate(code, cfg)
            t_in += time.perf_counter() - t0
    n = len(rows)
    print(f"{args.label}: sandbox {n / t_sb:.2f}/s, in-process {n / t_in:.2f}/s, "
          f"sandbox/in-process {t_in / t_sb:.2f}x, overhead {(t_sb - t_in) / n * 1000:.1f} ms/program")


if __name__ == "__main__":
    main()

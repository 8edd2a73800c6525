"""Cost of the trusted side's bound (cadbench.execute.trusted.run_bounded): the fork, the pipe and
the wait, per call, next to the work it bounds (computing the metrics of one real prediction).

    python benchmarks/bench_trusted.py [--n 30]

Runs in a process that has imported what a scoring worker imports (cadquery for the meshes,
manifold3d, trimesh, the metrics), so the fork copies a realistic page table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the shared-data helper
from shared_data import GENCAD_SUBSET50  # noqa: E402

from cadbench.config import ExecConfig, MetricConfig  # noqa: E402
from cadbench.execute import Sandbox  # noqa: E402
from cadbench.execute.trusted import run_bounded  # noqa: E402


def noop():
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=30)
    args = ap.parse_args()
    from cadbench.geometry.metrics import compute_metrics
    code = json.loads(GENCAD_SUBSET50.read_text().splitlines()[0])["ground_truth"]
    with Sandbox(ExecConfig()) as sb:
        mesh = sb.run(code).mesh
    other = mesh.__class__.from_arrays(mesh.vertices * 1.05, mesh.faces)
    cfg = MetricConfig(compute_best=False)

    def metrics():
        try:
            from cadbench.geometry.solid import make_reference_solid, make_solid
            return compute_metrics(make_reference_solid(mesh), make_solid(other, "prediction"), cfg)
        except ImportError:  # an older tree: metrics on meshes
            return compute_metrics(mesh, other, cfg)

    metrics()  # warm: imports, caches
    with open("/proc/self/status") as f:
        rss = next(line for line in f if line.startswith("VmRSS")).split()[1]
    timings = {}
    for name, fn in (("run_bounded(noop)", lambda: run_bounded(noop)),
                     ("metrics in-process", metrics),
                     ("run_bounded(metrics)", lambda: run_bounded(metrics))):
        t0 = time.perf_counter()
        for _ in range(args.n):
            fn()
        timings[name] = (time.perf_counter() - t0) / args.n
    print(f"process RSS {int(rss) / 1024:.0f} MiB, {args.n} calls each")
    for name, t in timings.items():
        print(f"{name:24s} {t * 1000:8.1f} ms/call")
    print(f"fork overhead per bounded call = {timings['run_bounded(noop)'] * 1000:.1f} ms; "
          f"bounded/in-process metrics = {timings['run_bounded(metrics)'] / timings['metrics in-process']:.2f}x")


if __name__ == "__main__":
    main()

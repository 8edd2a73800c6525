"""Cost of the trusted side's bound, per call, next to the work it bounds (the metrics of one
real prediction): `run_bounded` (a fork, a pipe and a wait per call) and `BoundedWorker` (one
serving fork: the arguments pickled over a pipe, a warm heap), the form scoring uses.

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
from cadbench.execute.trusted import BoundedWorker, run_bounded  # noqa: E402


def noop():
    return 0


def judge(mesh, other, cfg):
    from cadbench.geometry.metrics import compute_metrics
    from cadbench.geometry.solid import make_reference_solid, make_solid
    return compute_metrics(make_reference_solid(mesh), make_solid(other, "prediction"), cfg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=30)
    args = ap.parse_args()
    from cadbench.geometry.metrics import compute_metrics
    code = json.loads(GENCAD_SUBSET50.read_text().splitlines()[0])["ground_truth"]
    with Sandbox(ExecConfig()) as sb:
        mesh = sb.run(code).mesh
    other = mesh.__class__.from_arrays(mesh.vertices * 1.05, mesh.faces)
    cfg = MetricConfig()  # every default metric

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
    worker = BoundedWorker()
    worker.run(noop)  # its fork made outside the timing
    for name, fn in (("run_bounded(noop)", lambda: run_bounded(noop)),
                     ("BoundedWorker(noop)", lambda: worker.run(noop)),
                     ("metrics in-process", metrics),
                     ("run_bounded(metrics)", lambda: run_bounded(metrics)),
                     ("BoundedWorker(metrics)", lambda: worker.run(judge, (mesh, other, cfg)))):
        t0 = time.perf_counter()
        for _ in range(args.n):
            fn()
        timings[name] = (time.perf_counter() - t0) / args.n
    print(f"process RSS {int(rss) / 1024:.0f} MiB, {args.n} calls each")
    for name, t in timings.items():
        print(f"{name:24s} {t * 1000:8.1f} ms/call")
    worker.close()
    inproc = timings["metrics in-process"]
    print(f"fork overhead per bounded call = {timings['run_bounded(noop)'] * 1000:.1f} ms "
          f"(serving fork: {timings['BoundedWorker(noop)'] * 1000:.2f} ms); bounded/in-process "
          f"metrics = {timings['run_bounded(metrics)'] / inproc:.2f}x (run_bounded), "
          f"{timings['BoundedWorker(metrics)'] / inproc:.2f}x (BoundedWorker)")


if __name__ == "__main__":
    main()

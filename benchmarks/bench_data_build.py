"""Time to build the synth splits from scratch (into a temporary cache), per split.

Default: the default sizes (train 5000, val 500, test 500) with 2 worker processes, the
configuration of `cadbench data build`; target <= 600 s. `--scale 0.1` builds a tenth of each
split for a quick estimate (the time printed is then extrapolated linearly, and says so).
The machine may be shared: the script prints the load average before and after.

    nice -n 10 python benchmarks/bench_data_build.py [--scale 1.0] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

TARGET_S = 600.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the default sizes")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", default=None, help="cache folder to build into (default: temp)")
    args = ap.parse_args()
    home = args.keep or tempfile.mkdtemp(prefix="cadbench_bench_")
    os.environ["CADBENCH_HOME"] = home
    from cadbench.datasets.synth import DEFAULT_SIZES, SPLITS, build_split, make_spec
    sizes = {k: max(1, round(v * args.scale)) for k, v in DEFAULT_SIZES.items()}
    spec = make_spec("train", sizes=sizes)
    print(f"cache: {home}; sizes {sizes}; jobs {args.jobs}; "
          f"load average before {os.getloadavg()[0]:.1f}")
    total, t_all = 0, time.perf_counter()
    for split in SPLITS:
        t = time.perf_counter()
        d = build_split(split, spec, n_jobs=args.jobs, progress=True)
        dt = time.perf_counter() - t
        n = sum(1 for x in (d / "samples.jsonl").read_text().splitlines() if x)
        total += n
        print(f"{split:6s} {n:6d} samples  {dt:7.1f} s  {n / dt:6.1f} samples/s")
    wall = time.perf_counter() - t_all
    # CPU seconds of this process and its (reaped) workers: on a shared machine this, not
    # the wall time, says what the build costs; /2 estimates the wall time on 2 idle cores.
    from joblib.externals.loky import get_reusable_executor
    get_reusable_executor().shutdown(wait=True)
    cpu = sum(getattr(resource.getrusage(who), f) for who in
              (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN) for f in ("ru_utime", "ru_stime"))
    print(f"CPU time (main + workers): {cpu:.1f} s -> {cpu / args.jobs:.0f} s wall on "
          f"{args.jobs} idle cores at this scale")
    mb = sum(f.stat().st_size for f in __import__("pathlib").Path(home).rglob("*")
             if f.is_file()) / 1e6
    est = wall / args.scale
    note = "" if args.scale == 1.0 else f" (extrapolated from scale {args.scale})"
    print(f"all    {total:6d} samples  {wall:7.1f} s  {total / wall:6.1f} samples/s; "
          f"{mb:.1f} MB on disk; load average after {os.getloadavg()[0]:.1f}")
    print(f"default build: {est:.0f} s{note}; target <= {TARGET_S:.0f} s: ratio "
          f"{TARGET_S / est:.2f} ({'PASS' if est <= TARGET_S else 'FAIL'})")


if __name__ == "__main__":
    main()

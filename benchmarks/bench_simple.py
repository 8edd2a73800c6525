"""Speed of the `simple` submission: inference images/s and training time.

Inference (target >= 100 images/s): `generate()` on the synth test split with the committed
checkpoint, everything a run pays for per image (downsampling, the network, the detokenizer).
Training (target <= 600 s): with `--train`, a full fit on the default train split (val VSR/IoU
per epoch included), as `cadbench train --model simple` runs it, into a temporary folder.
The machine may be shared: the script prints the load average and the CPU time, and CPU
seconds / threads estimates the wall time on idle cores.

    nice -n 10 python benchmarks/bench_simple.py [--n 500] [--train] [--epochs N]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

INFER_TARGET = 100.0   # images/s
TRAIN_TARGET = 600.0   # s


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="test images to generate for")
    ap.add_argument("--train", action="store_true", help="also time a full training run")
    ap.add_argument("--epochs", type=int, default=None)
    args = ap.parse_args()

    from cadbench.datasets import load_dataset
    from submissions.simple import SimpleSubmission

    print(f"load average before: {os.getloadavg()[0]:.1f}")
    samples = load_dataset("synth", "test")[:args.n]
    sub = SimpleSubmission.load(SimpleSubmission.default_checkpoint())
    threads = int(sub.options["threads"])
    sub.generate(samples[:8])  # warm-up (first-call allocations)
    sub.programs_generated = sub.programs_repaired = 0
    sub.repair_counts = {}
    t, c = time.perf_counter(), _cpu()
    codes = sub.generate(samples)
    wall, cpu = time.perf_counter() - t, _cpu() - c
    rate = len(codes) / wall
    print(f"inference: {len(codes)} images in {wall:.2f} s = {rate:.0f} images/s "
          f"(CPU {cpu:.2f} s, {threads} threads); target >= {INFER_TARGET:.0f}: "
          f"ratio {rate / INFER_TARGET:.2f}")
    repaired = sub.programs_repaired
    print(f"detokenizer repairs: {repaired} of {sub.programs_generated} programs "
          f"({sub.repair_counts})")

    if args.train:
        from cadbench.run import load_training_data
        train, val = load_training_data("synth")
        fresh = SimpleSubmission()
        t, c = time.perf_counter(), _cpu()
        fresh.fit(train, val, epochs=args.epochs, seed=0)
        wall, cpu = time.perf_counter() - t, _cpu() - c
        with tempfile.TemporaryDirectory() as d:
            fresh.save(d)
        last = fresh.history[-1] if fresh.history else {}
        print(f"training: {len(train)} samples, {len(fresh.history)} epochs in {wall:.0f} s "
              f"wall (CPU {cpu:.0f} s -> ~{cpu / threads:.0f} s on {threads} idle cores); "
              f"target <= {TRAIN_TARGET:.0f} s: ratio {wall / TRAIN_TARGET:.2f} "
              f"(idle estimate {cpu / threads / TRAIN_TARGET:.2f}); last epoch {last}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

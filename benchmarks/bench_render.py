"""Renderer throughput at 224x224 on one core, on typical parts.

Parts: the 50 real GenCAD-Code programs of shared/data (when present) and the first 100
synth candidates; each is executed and tessellated once (not timed), then rendered.
Prints images/s for render_mesh alone and the ratio to the target (>= 20 images/s).

    nice -n 10 python benchmarks/bench_render.py [--size 224] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")   # one core: no BLAS threads
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

TARGET = 20.0


def _meshes(n_synth: int):
    import cadquery as cq

    from cadbench.datasets.gencad import shared_subset50_path
    from cadbench.datasets.synth_families import generate_candidate
    from cadbench.geometry.tessellate import shape_to_mesh
    codes = []
    p = shared_subset50_path()
    if p.exists():
        import json
        codes += [json.loads(x)["ground_truth"] for x in p.read_text().splitlines() if x]
    codes += [generate_candidate(0, i)[1].to_code() for i in range(n_synth)]
    meshes = []
    for c in codes:
        ns: dict = {}
        try:
            exec(c, ns)
            vals = ns["solid"].vals()
            shape = vals[0] if len(vals) == 1 else cq.Compound.makeCompound(vals)
            meshes.append(shape_to_mesh(shape))
        except Exception:
            continue
    return meshes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--synth", type=int, default=100, help="synth parts to add")
    args = ap.parse_args()
    from cadbench.render import render_mesh
    meshes = _meshes(args.synth)
    faces = sorted(len(m.faces) for m in meshes)
    render_mesh(meshes[0], size=args.size)  # warm-up
    best, best_cpu = float("inf"), float("inf")
    for _ in range(args.repeat):
        t, c = time.perf_counter(), time.process_time()
        for m in meshes:
            render_mesh(m, size=args.size)
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    rate = len(meshes) / best
    cpu_rate = len(meshes) / best_cpu
    # On a shared machine wall time includes waiting for a core; CPU time does not.
    print(f"load average {os.getloadavg()[0]:.1f}; CPU-time rate {cpu_rate:.1f} images/s")
    print(f"parts: {len(meshes)} (triangles median {faces[len(faces) // 2]}, "
          f"max {faces[-1]}), size {args.size}x{args.size}")
    print(f"render_mesh: {rate:.1f} images/s on one core (best of {args.repeat}); "
          f"{1000 / rate:.2f} ms/image")
    print(f"target >= {TARGET:.0f} images/s: ratio {rate / TARGET:.1f}x "
          f"({'PASS' if rate >= TARGET else 'FAIL'})")


if __name__ == "__main__":
    main()

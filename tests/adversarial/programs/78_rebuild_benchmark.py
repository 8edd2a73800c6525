# expect: ok
# what: imports cadbench's own synthetic-benchmark generator to rebuild the test split (public
# code plus a seed: the id names the index). cadbench's source is not in the candidate's view.
import importlib
import cadquery as cq
for name in ("cadbench.datasets.synth", "cadbench.datasets", "cadbench.scoring"):
    try:
        importlib.import_module(name)
    except ImportError:
        continue
    raise RuntimeError(f"LEAK: imported {name}")
solid = cq.Workplane().box(1, 1, 1)

# expect: ok
# what: looks for the records cadbench writes inside the repository (runs/*/predictions.jsonl of
# a `gold` run is the ground truth), the leaderboard records and any file of the repository.
import glob
import cadquery as cq
seen = []
for pattern in ("__REPO__/runs/*/*.jsonl", "__REPO__/leaderboards/*.json", "__REPO__/*.md",
                "__REPO__/cadbench/*.py", "__REPO__/tests/*.py"):
    for path in glob.glob(pattern):
        try:
            with open(path, "rb") as f:
                f.read(1)
            seen.append(path)
        except OSError:
            pass
if seen:
    raise RuntimeError(f"LEAK: read {len(seen)} repository files, e.g. {seen[:2]}")
solid = cq.Workplane().box(1, 1, 1)

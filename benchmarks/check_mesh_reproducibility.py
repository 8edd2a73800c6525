"""Are candidate meshes reproducible across warm workers? Runs the GenCAD-Code programs through
two Sandboxes (two zygotes), the second in reverse order, and counts the programs whose mesh
arrays differ in any bit.

    python benchmarks/check_mesh_reproducibility.py [--n 50]

Same order in both answers "across workers"; reverse order adds the template's heap drift.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the shared-data helper
from shared_data import GENCAD_SUBSET50  # noqa: E402

from cadbench.config import ExecConfig  # noqa: E402
from cadbench.execute import Sandbox  # noqa: E402


def digest(res) -> str | None:
    if res.mesh is None:
        return None
    return hashlib.sha256(res.mesh.vertices.tobytes() + res.mesh.faces.tobytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50)
    args = ap.parse_args()
    rows = [json.loads(line)["ground_truth"] for line in GENCAD_SUBSET50.read_text().splitlines()]
    rows = rows[:args.n]
    with Sandbox(ExecConfig()) as a, Sandbox(ExecConfig()) as b, Sandbox(ExecConfig()) as c:
        first = [digest(a.run(code)) for code in rows]
        same = [digest(b.run(code)) for code in rows]
        reverse = [digest(c.run(code)) for code in reversed(rows)][::-1]
    print(f"{len(rows)} programs; meshes differing from the first worker's:")
    print(f"  second worker, same order:    {sum(x != y for x, y in zip(first, same))}")
    print(f"  third worker, reverse order:  {sum(x != y for x, y in zip(first, reverse))}")


if __name__ == "__main__":
    main()

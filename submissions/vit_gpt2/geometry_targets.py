"""Targets of the encoder's auxiliary geometry head (`train.GeometryHead`, `--opt box_weight`).

The decoder must read a part's position and size off the image tokens through
cross-attention; the code loss alone teaches the encoder to carry them only slowly. The head
regresses, from the image tokens, a few facts of the training program that an image shows:

    part box     (xmin, ymin, zmin, xmax, ymax, zmax) of the whole part
    body 0 box   the same for the first extrusion (the base of the part)
    body 0 axis  the first sketch plane's normal (its extrusion direction)
    body 1 box   the second extrusion's box (masked when there is none)

All come from the program text (cadbench.program.from_code and its sketch-point bounds; no
CAD kernel), so they are free for any GenCAD-style training set. A program the parser does not
read gets a zero mask and adds nothing. The head is for training only: it is not saved.
"""

from __future__ import annotations

import numpy as np

from cadbench.program import Program, from_code

N_TARGETS = 21


def _box(program: Program) -> list[float]:
    lo, hi = program.bounds_hint()
    return [*lo, *hi]


def program_targets(code: str) -> tuple[np.ndarray, np.ndarray]:
    """(values, mask) of shape (N_TARGETS,), float32; mask 0 where a target does not exist."""
    values = np.zeros(N_TARGETS, dtype=np.float32)
    mask = np.zeros(N_TARGETS, dtype=np.float32)
    try:
        program = from_code(code)
    except Exception:  # noqa: BLE001 - any program the IR cannot hold simply has no targets
        return values, mask
    bodies = program.bodies
    values[0:6], mask[0:6] = _box(program), 1.0
    values[6:12], mask[6:12] = _box(Program.of(bodies[0])), 1.0
    values[12:15], mask[12:15] = bodies[0].plane.normal, 1.0
    if len(bodies) > 1:
        values[15:21], mask[15:21] = _box(Program.of(bodies[1])), 1.0
    return values, mask


def targets_for(programs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(n, N_TARGETS) values and masks for a training set."""
    pairs = [program_targets(p) for p in programs]
    return np.stack([v for v, _ in pairs]), np.stack([m for _, m in pairs])

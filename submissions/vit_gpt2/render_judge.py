"""Analysis by synthesis (`--opt rerank_by=render`): run each candidate program in cadbench's
sandbox, render the solid the way the input images were rendered, and score how far the
render is from the input image. `rerank.py` then keeps the closest candidate.

It assumes the inputs are renders by `cadbench.render` with its defaults (the synth dataset's
images: orthographic `iso` view, the fixed +-0.75 frame, the part colour and light). On other
images (photos, another renderer) the distances mean less; use `--opt rerank_by=box` there.
Candidates run under the same isolation as scoring (timeout, memory cap, no network,
read-only file system, the cadbench cache hidden); one warm sandbox serves a submission for
its lifetime. Nothing of the ground truth is used: only the candidate and the input image.
"""

from __future__ import annotations

import math
import weakref

import numpy as np

FAILED = math.inf   # the distance of a candidate that does not run or yields no solid
REFINE_RENDERS = 80          # renders per refined box (about 1 ms each at 96 px)
REFINE_LOG_STEP = 0.08       # first steps: scales by e^0.08 (8%), shifts by 0.03 units
REFINE_SHIFT_STEP = 0.03
REFINE_MIN_STEP = 0.004


class RenderJudge:
    """distances(codes, image): mean absolute RGB difference (0-255) at `size` px."""

    def __init__(self, size: int = 96, timeout_s: float = 5.0):
        self.size = size
        self.timeout_s = timeout_s
        self._sandbox = None
        self.runs = 0          # candidates executed
        self.failed = 0        # of which did not give a solid

    def _box(self):
        if self._sandbox is None:
            from cadbench.config import ExecConfig, cadbench_home
            from cadbench.execute import Sandbox
            sandbox = Sandbox(ExecConfig(timeout_s=self.timeout_s),
                              hide_paths=(str(cadbench_home()),))
            sandbox.start()
            self._sandbox = sandbox
            weakref.finalize(self, sandbox.close)  # the warm worker goes when the judge does
        return self._sandbox

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def target(self, image: np.ndarray) -> np.ndarray:
        """The input image as float RGB at the judge's size (area-averaged)."""
        from PIL import Image
        img = Image.fromarray(np.asarray(image)[..., :3].astype(np.uint8))
        if img.size != (self.size, self.size):
            img = img.resize((self.size, self.size), Image.Resampling.BOX)
        return np.asarray(img, dtype=np.float32)

    def distance(self, mesh, target: np.ndarray) -> float:
        from cadbench.render import render_mesh
        return float(np.abs(render_mesh(mesh, size=self.size).astype(np.float32) - target).mean())

    def judge(self, codes: list[str], image: np.ndarray) -> list[tuple[float, object]]:
        """(distance, mesh) per program; (FAILED, None) for one that gives no solid."""
        target = self.target(image)
        out = []
        for code in codes:
            result = self._box().run(code)
            self.runs += 1
            if result.status != "ok" or result.mesh is None:
                self.failed += 1
                out.append((FAILED, None))
            else:
                out.append((self.distance(result.mesh, target), result.mesh))
        return out

    def distances(self, codes: list[str], image: np.ndarray) -> list[float]:
        return [d for d, _ in self.judge(codes, image)]

    def refine(self, mesh, lo, hi, image: np.ndarray, basis: np.ndarray,
               max_renders: int = REFINE_RENDERS) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Adjust the five observables of the box (lo, hi) that `mesh` was fitted to, so that
        the render of the mesh, stretched and moved the same way, matches the image better.

        Coordinate search over log-scales of x, y, z and shifts along the screen's right and
        up (`basis` rows 0, 1); the depth does not change a render, so it is left to the
        caller's rule. Returns (sizes, centre, distance before, distance after)."""
        from cadbench.geometry.mesh import Mesh
        target = self.target(image)
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        centre, sizes = (lo + hi) / 2, hi - lo
        verts = mesh.vertices - centre

        def at(p) -> float:
            v = verts * np.exp(p[:3]) + centre + p[3] * basis[0] + p[4] * basis[1]
            return self.distance(Mesh(v, mesh.faces), target)

        p = np.zeros(5)
        best = start = at(p)
        steps = np.array([REFINE_LOG_STEP] * 3 + [REFINE_SHIFT_STEP] * 2)
        renders = 1
        while renders < max_renders and steps.max() > REFINE_MIN_STEP:
            improved = False
            for i in range(5):
                for sign in (1.0, -1.0):
                    q = p.copy()
                    q[i] += sign * steps[i]
                    d = at(q)
                    renders += 1
                    if d < best - 1e-6:
                        p, best, improved = q, d, True
                        break
            if not improved:
                steps /= 2
        return sizes * np.exp(p[:3]), centre + p[3] * basis[0] + p[4] * basis[1], start, best

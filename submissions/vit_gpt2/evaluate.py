"""A small validation after each epoch: run the predicted programs in cadbench's sandbox and
compare them with the ground truth by voxel IoU (the same core `cadbench run` scores with,
cheaper settings: plain `iou` only). Ground-truth meshes are computed once and reused."""

from __future__ import annotations

import hashlib
import sys

import numpy as np


class QuickValidator:
    """VSR and mean IoU (all samples, invalid = 0) of predictions against reference programs."""

    def __init__(self, timeout_s: float = 10.0):
        self.timeout_s = timeout_s
        self._ref_meshes: dict[str, object] = {}
        self._sandbox = None

    def _box(self):
        if self._sandbox is None:
            from cadbench.config import ExecConfig
            from cadbench.execute import Sandbox
            self._sandbox = Sandbox(ExecConfig(timeout_s=self.timeout_s)).__enter__()
        return self._sandbox

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def _ref(self, code: str):
        key = hashlib.sha1(code.encode()).hexdigest()
        if key not in self._ref_meshes:
            r = self._box().run(code)
            self._ref_meshes[key] = r.mesh if r.status == "ok" else None
        return self._ref_meshes[key]

    def score(self, predictions: list[str], references: list[str]) -> dict:
        from cadbench.config import MetricConfig
        from cadbench.geometry import compute_metrics
        cfg = MetricConfig(compute_best=False, compute_exact=False, compute_chamfer=False)
        valid, ious, statuses = 0, [], {}
        for pred, ref_code in zip(predictions, references):
            ref = self._ref(ref_code)
            if ref is None:  # a reference that does not run: not the model's fault, skip it
                continue
            r = self._box().run(pred)
            statuses[r.status] = statuses.get(r.status, 0) + 1
            iou = 0.0
            if r.status == "ok" and r.mesh is not None:
                valid += 1
                iou = compute_metrics(ref, r.mesh, cfg)["iou"] or 0.0
            ious.append(iou)
        n = len(ious)
        return {"n": n, "vsr": round(valid / n, 3) if n else None,
                "iou_all": round(float(np.mean(ious)), 3) if n else None,
                "statuses": statuses}


def safe_score(validator: QuickValidator, predictions: list[str], references: list[str]) -> dict:
    """Validation must never kill a training run: a failure is reported, not raised."""
    try:
        return validator.score(predictions, references)
    except Exception as e:  # noqa: BLE001
        print(f"vit_gpt2: validation skipped ({type(e).__name__}: {e})", file=sys.stderr)
        return {"error": f"{type(e).__name__}: {e}"[:200]}

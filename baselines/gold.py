"""`gold`: returns each sample's ground truth, the reference it is scored against.

A sanity check of the harness, not a model: it must score VSR 1.0 and IoU 1.0. It is the only
built-in allowed to see `Sample.code` (`uses_ground_truth`). Where a dataset's reference is a
geometry file (`meta["reference_path"]`: the peers' layouts, GenCAD-Code with geometry_root)
it returns that file (a Path: a geometry prediction), else the program.
"""

from __future__ import annotations

from pathlib import Path

from cadbench.submissions import ModelCard, Output, Submission, register_submission


@register_submission
class GoldSubmission(Submission):
    name = "gold"
    description = "Oracle: returns the ground-truth program (harness sanity check, IoU 1.0)."
    uses_ground_truth = True
    card = ModelCard("oracle: the reference program itself", pretrained="no learned weights",
                     training_data="the test references (a harness check, not a model)")

    def generate(self, samples) -> list[Output]:
        # the same choice as inputs.references_from_samples: the geometry file when named
        return [Path(p) if (p := (s.meta or {}).get("reference_path")) else s.code
                for s in samples]

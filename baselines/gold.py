"""`gold`: returns each sample's ground-truth program.

A sanity check of the harness, not a model: it must score VSR 1.0 and IoU 1.0. It is the only
built-in allowed to see `Sample.code` (`uses_ground_truth`).
"""

from __future__ import annotations

from cadbench.submissions import ModelCard, Submission, register_submission


@register_submission
class GoldSubmission(Submission):
    name = "gold"
    description = "Oracle: returns the ground-truth program (harness sanity check, IoU 1.0)."
    uses_ground_truth = True
    card = ModelCard("oracle: the reference program itself", pretrained="no learned weights",
                     training_data="the test references (a harness check, not a model)")

    def generate(self, samples):
        return [s.code for s in samples]

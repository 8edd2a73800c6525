"""`constant`: zero parameters, always the same valid program (a centred box, GenCAD idiom).

The floor every submission must clear: it always executes (VSR 1.0) and its IoU is what a
shape-blind guess earns. The box's size is an option, defaulting to the mean bounding-box size
of the synth training split (5000 parts, v1 seed 0), rounded to 2 decimals: 0.890 x 0.748 x
0.628, measured from the bounding boxes in each sample's `meta["geom_key"]`; the mean centre
is the origin within 0.002, so the box is centred there.
"""

from __future__ import annotations

from cadbench.submissions import ModelCard, Submission, register_submission


def box_program(width: float, depth: float, height: float) -> str:
    """A GenCAD-Code style program for a box centred on the origin."""
    x0, y0, z0 = -width / 2, -depth / 2, -height / 2
    return (
        "import cadquery as cq\n"
        "# Generating a workplane for sketch 0\n"
        f"wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector({x0!r}, {y0!r}, {z0!r}), "
        "cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))\n"
        f"loop0=wp_sketch0.moveTo({width!r}, 0.0).lineTo({width!r}, {depth!r})"
        f".lineTo(0.0, {depth!r}).lineTo(0.0, 0.0).close()\n"
        f"solid0=wp_sketch0.add(loop0).extrude({height!r})\n"
        "solid=solid0\n"
    )


@register_submission
class ConstantSubmission(Submission):
    name = "constant"
    description = "Zero parameters: the same centred box for every image (the floor)."
    default_options = {"width": 0.89, "depth": 0.75, "height": 0.63}
    card = ModelCard("one fixed box program", pretrained="no learned weights",
                     training_data="none (box sides: mean training part, by hand)")

    def generate(self, samples):
        program = box_program(float(self.options["width"]), float(self.options["depth"]),
                              float(self.options["height"]))
        return [program for _ in samples]

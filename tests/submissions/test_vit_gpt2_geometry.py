"""vit_gpt2's auxiliary geometry head: its targets come from the program text, it is trained
with the model when `box_weight` > 0, and it leaves no trace in the saved checkpoint."""

import numpy as np
import pytest

from cadbench.datasets.base import Sample
from submissions.vit_gpt2.geometry_targets import N_TARGETS, program_targets, targets_for

PLATE_AND_BOSS = """import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(-0.5, -0.25, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop0=wp_sketch0.moveTo(1.0, 0.0).lineTo(1.0, 0.5).lineTo(0.0, 0.5).lineTo(0.0, 0.0).close()
solid0=wp_sketch0.add(loop0).extrude(0.125)
solid=solid0
wp_sketch1 = cq.Workplane(cq.Plane(cq.Vector(-0.125, -0.125, 0.125), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.0, 1.0)))
loop1=wp_sketch1.moveTo(0.125, 0.125).circle(0.125)
solid1=wp_sketch1.add(loop1).extrude(0.25)
solid=solid.union(solid1)
"""


def test_targets_are_the_part_and_body_boxes_and_the_first_axis():
    values, mask = program_targets(PLATE_AND_BOSS)
    assert values.shape == mask.shape == (N_TARGETS,)
    assert mask.tolist() == [1.0] * N_TARGETS
    part, body0, axis0, body1 = values[0:6], values[6:12], values[12:15], values[15:21]
    assert part.tolist() == pytest.approx([-0.5, -0.25, 0.0, 0.5, 0.25, 0.375])
    assert body0.tolist() == pytest.approx([-0.5, -0.25, 0.0, 0.5, 0.25, 0.125])
    assert axis0.tolist() == pytest.approx([0.0, 0.0, 1.0])
    assert body1.tolist() == pytest.approx([-0.125, -0.125, 0.125, 0.125, 0.125, 0.375])


def test_a_missing_second_body_and_an_unreadable_program_are_masked_out():
    one_body = PLATE_AND_BOSS.split("wp_sketch1")[0]
    _, mask = program_targets(one_body)
    assert mask[:15].tolist() == [1.0] * 15 and mask[15:].tolist() == [0.0] * 6
    values, mask = targets_for(["import cadquery as cq\nsolid = cq.Workplane().box(1, 1, 1)\n",
                                "this is not python ("])
    assert values.shape == mask.shape == (2, N_TARGETS)
    assert not mask.any() and not values.any()


def test_training_with_the_head_runs_and_saves_only_the_model(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from submissions.vit_gpt2 import VitGpt2Submission
    rng = np.random.default_rng(0)
    samples = [Sample(id=f"s{i}", code=PLATE_AND_BOSS,
                      image=rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
               for i in range(4)]
    sub = VitGpt2Submission(size="micro", box_weight=1.0, progress=False, val_samples=0,
                            checkpoint_dir=str(tmp_path / "state"), resume=False,
                            save_dtype="float32")
    sub.fit(samples, epochs=2)
    assert sub.meta["training"]["epochs_done"] == 2
    # the head and its optimiser state are in the training state: a resume loads them
    again = VitGpt2Submission(size="micro", box_weight=1.0, progress=False, val_samples=0,
                              checkpoint_dir=str(tmp_path / "state"), resume=True)
    again.fit(samples, epochs=2)
    assert again.meta["training"]["resumed_from_step"] > 0
    sub.save(tmp_path / "ckpt")
    back = VitGpt2Submission.load(tmp_path / "ckpt")
    # the checkpoint holds the model alone (the head is not part of it) and loads strictly
    assert set(back.model.state_dict()) == set(sub.model.state_dict())
    assert back.generate(samples[:1]) == sub.generate(samples[:1])

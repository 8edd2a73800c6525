"""vit_gpt2's box stage: fitting a program onto a box (box_fit.py), the five observables of a
box in one orthographic view and the depth rule, synth v2's convention
(box_regressor.ViewFrame), and the box regressor trained after the decoder, saved with the
checkpoint and used at generation."""

import math

import numpy as np
import pytest

from cadbench.datasets.base import Sample
from cadbench.errors import InputError
from cadbench.program import from_code
from submissions.vit_gpt2.box_fit import fit_code, fit_to_box
from tests.submissions.test_vit_gpt2_geometry import PLATE_AND_BOSS

ISO = (1 / math.sqrt(3), -1 / math.sqrt(3), 1 / math.sqrt(3))

TILTED = """import cadquery as cq
wp_sketch0 = cq.Workplane(cq.Plane(cq.Vector(0.0, 0.0, 0.0), cq.Vector(1.0, 0.0, 0.0), cq.Vector(0.0, 0.6, 0.8)))
loop0=wp_sketch0.moveTo(0.5, 0.0).lineTo(0.5, 0.25).lineTo(0.0, 0.25).lineTo(0.0, 0.0).close()
solid0=wp_sketch0.add(loop0).extrude(0.125)
solid=solid0
"""


def test_a_fitted_program_has_exactly_the_target_box():
    target_lo, target_hi = (0.0, -0.5, 0.25), (0.5, 0.5, 1.0)
    fitted = fit_to_box(from_code(PLATE_AND_BOSS), target_lo, target_hi)
    lo, hi = fitted.bounds_hint()
    assert lo == pytest.approx(target_lo) and hi == pytest.approx(target_hi)
    # scales: x 0.5, y 2, z 2 (the part is 1 x 0.5 x 0.375 -> 0.5 x 1 x 0.75)
    base, boss = fitted.bodies
    assert base.distance == pytest.approx(0.25)
    assert boss.loops[0].radius == pytest.approx(0.125 * math.sqrt(0.5 * 2.0))
    # still a program the executor's idiom reads, with the same structure
    again = from_code(fit_code(PLATE_AND_BOSS, target_lo, target_hi))
    assert [b.op for b in again.bodies] == ["new", "union"]
    assert again.bounds_hint()[1] == pytest.approx(target_hi)


def test_a_body_on_a_tilted_plane_is_scaled_uniformly():
    program = from_code(TILTED)
    lo, hi = program.bounds_hint()
    wanted_hi = tuple(lo[i] + 2.0 * (hi[i] - lo[i]) for i in range(3))  # twice as big
    body = fit_to_box(program, lo, wanted_hi).bodies[0]
    assert body.distance == pytest.approx(0.25)
    assert body.loops[0].start == pytest.approx((1.0, 0.0))
    assert body.plane.normal == program.bodies[0].plane.normal


def test_scales_are_clamped_and_an_unreadable_program_is_not_fitted():
    fitted = fit_to_box(from_code(PLATE_AND_BOSS), (0, 0, 0), (100.0, 0.5, 0.375))
    lo, hi = fitted.bounds_hint()
    assert hi[0] - lo[0] == pytest.approx(4.0)  # x scale clamped at 4
    assert fit_code("this is not python (", (0, 0, 0), (1, 1, 1)) is None
    assert fit_code("import cadquery as cq\nsolid = cq.Workplane().box(1, 1, 1)\n",
                    (0, 0, 0), (1, 1, 1)) is None


def test_a_box_comes_back_from_its_observables_at_the_canonical_depth():
    """synth v2 places every part's box centre c on D . c = 0: a box there comes back
    exactly from its five observables; any other box comes back moved along the view only,
    onto that plane."""
    pytest.importorskip("torch")
    from submissions.vit_gpt2.box_regressor import ViewFrame, frame_for
    frame = ViewFrame(view=ISO, extent=0.75)
    d = np.array(ISO)
    lo, hi = np.array([[-0.7, 0.1, -0.2]]), np.array([[-0.3, 0.5, 0.4]])
    obs = frame.observables(lo, hi)[0]
    assert obs[:3] == pytest.approx([0.4, 0.4, 0.6])
    lo2, hi2 = frame.box(obs)
    assert (hi2 - lo2) == pytest.approx(hi[0] - lo[0])
    shift = (lo2 + hi2) / 2 - (lo[0] + hi[0]) / 2
    assert np.cross(shift, d) == pytest.approx([0, 0, 0], abs=1e-6)  # moved along the view only
    assert ((lo2 + hi2) / 2) @ d == pytest.approx(0, abs=1e-6)  # onto the plane D . c = 0
    # a box already on the plane (as every synth v2 ground truth is) comes back unchanged
    on_lo, on_hi = lo[0] + shift, hi[0] + shift
    back_lo, back_hi = frame.box(frame.observables(on_lo[None], on_hi[None])[0])
    assert back_lo == pytest.approx(on_lo, abs=1e-6) and back_hi == pytest.approx(on_hi, abs=1e-6)
    # the rule is not v1's middle of the feasible depths: this box had more room towards
    # the camera than away from it, and the convention does not balance the two
    room_towards = min(((0.75 - hi2) / np.maximum(d, 1e-12))[d > 0].min(),
                       ((lo2 + 0.75) / np.maximum(-d, 1e-12))[d < 0].min())
    room_away = min(((lo2 + 0.75) / np.maximum(d, 1e-12))[d > 0].min(),
                    ((0.75 - hi2) / np.maximum(-d, 1e-12))[d < 0].min())
    assert abs(room_towards - room_away) > 0.05
    # the frame of a training set: the iso view and the smallest 1/128 cube holding its boxes
    f = frame_for(np.array([[-0.745, 0, 0]]), np.array([[0.2, 0.7, 0.1]]))
    assert f.extent == 0.75 and f.view == pytest.approx(ISO)


def _samples(n: int = 4):
    rng = np.random.default_rng(0)
    return [Sample(id=f"s{i}", code=PLATE_AND_BOSS,
                   image=rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)) for i in range(n)]


def test_the_box_regressor_trains_saves_loads_and_fits_outputs(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from submissions.vit_gpt2 import VitGpt2Submission
    samples = _samples()
    sub = VitGpt2Submission(size="micro", progress=False, val_samples=0, box_epochs=2,
                            checkpoint_dir=str(tmp_path / "state"), resume=False,
                            save_dtype="float32")
    sub.fit(samples, val=samples[:2], epochs=1)
    assert sub.box is not None
    info = sub.meta["box_regressor"]
    assert info["epochs_done"] == 2 and info["n_boxes"] == 4 and len(info["val_mae"]) == 5
    sub.save(tmp_path / "ckpt")
    back = VitGpt2Submission.load(tmp_path / "ckpt")
    assert back.box is not None

    from submissions.vit_gpt2.box_regressor import predict
    from submissions.vit_gpt2.preprocess import resize_images
    images = resize_images(samples[:1], back.image_spec.size)
    regressor, frame = back.box
    want_lo, want_hi = frame.box(predict(regressor, images, back.image_spec, "cpu")[0])
    [box] = back._boxes(images)
    assert box[0] == pytest.approx(want_lo) and box[1] == pytest.approx(want_hi)
    fitted, ok = back._fit(PLATE_AND_BOSS, box)
    assert ok and fitted == fit_code(PLATE_AND_BOSS, want_lo, want_hi) != PLATE_AND_BOSS
    assert back._fit("not a program (", box) == ("not a program (", False)
    back.generate(samples[:2])  # the micro decoder's outputs: whatever they are, they count
    counts = back.metadata()["generation"]
    assert counts["box_fitted"] + counts["box_unreadable"] == 2
    # box_fit=false: no box, outputs stay as decoded
    raw = VitGpt2Submission.load(tmp_path / "ckpt", box_fit=False)
    assert raw._boxes(images) is None and raw._fit(PLATE_AND_BOSS, None) == (PLATE_AND_BOSS, False)


def test_the_box_stage_must_leave_the_decoder_some_budget(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from submissions.vit_gpt2 import VitGpt2Submission
    sub = VitGpt2Submission(size="micro", progress=False, val_samples=0, max_minutes=2.0,
                            box_minutes=2.0, checkpoint_dir=str(tmp_path / "state"))
    with pytest.raises(InputError, match="box_minutes"):
        sub.fit(_samples(), epochs=1)


def test_train_info_counts_the_training_a_resume_does_not_see(tmp_path):
    """write_train_info records the larger of the fit call's time and the submission's own
    count (a resumed run only times its last part)."""
    import json

    from cadbench.run import TRAIN_INFO_FILE, write_train_info
    from cadbench.submissions import Submission

    class Resumed(Submission):
        name = "resumed"

        def training_seconds(self):
            return 1500.0

    write_train_info(tmp_path, Resumed(), "synth", 120.0, None, 0, 10)
    info = json.loads((tmp_path / TRAIN_INFO_FILE).read_text())
    assert (info["train_time_s"], info["fit_call_s"]) == (1500.0, 120.0)
    write_train_info(tmp_path, Submission(), "synth", 120.0, None, 0, 10)
    assert json.loads((tmp_path / TRAIN_INFO_FILE).read_text())["train_time_s"] == 120.0

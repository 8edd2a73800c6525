"""The simple submission: model shapes, decoding, deterministic training, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cadbench.datasets.base import Sample  # noqa: E402
from cadbench.datasets.synth_families import generate_candidate  # noqa: E402
from cadbench.program import from_code  # noqa: E402
from cadbench.submissions import get_submission  # noqa: E402
from submissions.simple import SimpleSubmission  # noqa: E402
from submissions.simple import tokens as T  # noqa: E402
from submissions.simple.model import SimpleCadNet, count_parameters, images_to_tensor  # noqa: E402
from submissions.simple.train import (Loss, layout, logits_to_ids, n_logits,  # noqa: E402
                                      targets_from_codes)


def _samples(n: int, seed: int = 0) -> list[Sample]:
    """Synth programs with cheap stand-in images (a rendered image is not needed here)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        fam, program, _ = generate_candidate(seed, i)
        img = rng.integers(0, 256, size=(96, 96, 3), dtype=np.uint8)
        out.append(Sample(f"s{i}", program.to_code(), img, {"family": fam}))
    return out


def test_layout_covers_every_position_once():
    blocks = layout()
    pos = np.sort(np.concatenate([b.positions for b in blocks]))
    assert pos.tolist() == list(range(T.SEQ_LEN))
    assert n_logits() == sum(len(b.positions) * b.size for b in blocks)
    # the grammar mask's allowed entries, bar slot 0's op: the head computes exactly those
    assert n_logits() == int(T.allowed_mask().sum()) + len(T.OPS) - 1


def test_model_shapes_and_parameter_count():
    model = SimpleCadNet(n_logits())
    x = images_to_tensor([np.zeros((224, 224, 3), np.uint8), np.full((64, 64, 3), 255, np.uint8)])
    assert tuple(x.shape) == (2, 3, 64, 64) and float(x.max()) == 1.0
    assert tuple(model(x).shape) == (2, n_logits())
    assert SimpleSubmission().num_parameters() == count_parameters(model)
    assert count_parameters(model) < 3_000_000


def test_any_logits_decode_to_well_typed_tokens():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, n_logits(), generator=g) * 5
    ids = logits_to_ids(logits)
    assert ids.shape == (6, T.SEQ_LEN)
    for row in ids:
        specs = T.tokens_to_specs(row)     # raises on a token of the wrong type
        assert specs and specs[0].op == "union"
        code, _ = T.decode_tokens(row)
        from_code(code)


def test_targets_weight_only_meaningful_positions():
    codes = [s.code for s in _samples(5)] + ["not a program"]
    ids, weight, stats = targets_from_codes(codes)
    assert stats["unparsable"] == 1 and weight[-1].sum() == 0
    nf = len(T.FIELDS)
    for i in range(5):
        n_bodies = len(T.tokens_to_specs(ids[i]))
        assert weight[i].sum() == n_bodies * nf + (T.N_BODIES - n_bodies)


def test_loss_is_lower_for_the_right_answer():
    codes = [s.code for s in _samples(4)]
    ids, weight, _ = targets_from_codes(codes)
    y, w = torch.from_numpy(ids), torch.from_numpy(weight)

    def peaked(shift: int):
        """Logits peaked (moderately: targets of numbers are soft) on the answer + shift."""
        out = torch.zeros(4, n_logits())
        for b in layout():
            for j, pos in enumerate(b.positions):
                tgt = (y[:, pos] - T.TYPE_RANGE[b.type][0] + shift) % b.size
                out[torch.arange(4), b.offset + j * b.size + tgt] = 4.0
        return out

    good, wrong = peaked(0), peaked(5)
    loss = Loss()
    assert float(loss(good, y, w)) < float(loss(torch.zeros(4, n_logits()), y, w))
    assert float(loss(good, y, w)) < float(loss(wrong, y, w))
    assert (logits_to_ids(good) == ids).all()


def _fit(seed: int, samples) -> SimpleSubmission:
    sub = SimpleSubmission(threads=1)
    sub.fit(samples, None, epochs=1, seed=seed)
    return sub


def test_fit_is_deterministic_given_a_seed():
    samples = _samples(24)
    a, b, c = _fit(0, samples), _fit(0, samples), _fit(1, samples)
    sa, sb, sc = (m.model.state_dict() for m in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert a.history and a.history[0]["epoch"] == 1


def test_save_load_generate(tmp_path):
    samples = _samples(8)
    sub = _fit(0, samples)
    sub.save(tmp_path / "ckpt")
    loaded = SimpleSubmission.load(tmp_path / "ckpt")
    assert loaded.num_parameters() == sub.num_parameters()
    codes = loaded.generate(samples)
    assert len(codes) == 8
    for code in codes:
        from_code(code)
    # weights are stored as float16: the tokens barely move
    same = (sub.predict_tokens(samples) == loaded.predict_tokens(samples)).mean()
    assert same > 0.9
    assert loaded.metadata()["programs_generated"] == 8


def test_load_rejects_a_foreign_folder(tmp_path):
    from cadbench.errors import InputError
    with pytest.raises(InputError, match="not a simple checkpoint"):
        SimpleSubmission.load(tmp_path)


def test_generate_without_a_model_says_what_to_do():
    from cadbench.errors import InputError
    with pytest.raises(InputError, match="cadbench train --model simple"):
        SimpleSubmission().generate(_samples(1))


def test_registered_and_committed_checkpoint_loads():
    cls = get_submission("simple")
    assert cls is SimpleSubmission
    ckpt = cls.default_checkpoint()
    assert ckpt is not None and (ckpt / "model.pt").is_file(), \
        "the committed checkpoint is missing: run `cadbench train --model simple`"
    sub = cls.load(ckpt)
    codes = sub.generate(_samples(3))
    assert all(from_code(c) for c in codes)

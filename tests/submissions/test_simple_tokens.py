"""The simple model's token representation: vocabulary, round trip, always-valid decoding."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cadbench.datasets.synth_families import FAMILIES, generate_candidate
from cadbench.program import Body, Plane, PathLoop, Line, Program, from_code
from submissions.simple import tokens as T

cq = pytest.importorskip("cadquery")


def _solid(code: str):
    """Run our own (trusted) generated code in-process; the picked result as one shape."""
    ns: dict = {}
    exec(compile(code, "<test>", "exec"), ns)
    vals = ns["solid"].vals()
    return vals[0] if len(vals) == 1 else cq.Compound.makeCompound(vals)


def _mesh(shape):
    from cadbench.geometry.tessellate import shape_to_mesh
    return shape_to_mesh(shape, 1e-3, 0.2)


def _iou(code_a: str, code_b: str) -> float:
    from cadbench.geometry.metrics import voxel_iou
    return voxel_iou(_mesh(_solid(code_a)), _mesh(_solid(code_b)), n=48)


# ----------------------------------------------------------------------------- vocabulary

def test_vocabulary_types_are_contiguous_and_complete():
    assert len(T.VOCAB) == T.VOCAB_SIZE == len(set(T.VOCAB))
    covered = []
    for t, (lo, hi) in T.TYPE_RANGE.items():
        assert hi - lo == len(T.TYPE_VALUES[t])
        assert all(v.startswith(t + ":") for v in T.VOCAB[lo:hi])
        covered += list(range(lo, hi))
    assert covered == list(range(T.VOCAB_SIZE))
    assert T.SEQ_LEN == T.N_BODIES * len(T.FIELDS)


def test_allowed_mask_keeps_each_position_on_its_type():
    mask = T.allowed_mask()
    assert mask.shape == (T.SEQ_LEN, T.VOCAB_SIZE)
    for pos, t in enumerate(T.position_types()):
        lo, hi = T.TYPE_RANGE[t]
        assert not mask[pos, :lo].any() and not mask[pos, hi:].any()
    assert mask[0].sum() == 1  # the first body's op is always "union" (written as new)
    assert T.VOCAB[int(np.argmax(mask[0]))] == "op:union"


def test_coordinate_grid_is_the_ir_grid():
    from cadbench.program import GRID
    assert T.COORD_STEP == GRID
    for x in (-0.75, -0.0078125, 0.0, 0.3359375, 0.75):
        assert T.coord_value(T.quant_coord(x)) == x


def test_tokens_to_specs_rejects_ill_typed_sequences():
    ids = T.specs_to_tokens([T.BodySpec("union", "xy", "rect", (0, 1, 0, 1, 0, 1))])
    with pytest.raises(ValueError, match="expected 56 tokens"):
        T.tokens_to_specs(ids[:-1])
    bad = list(ids)
    bad[1] = T.TYPE_RANGE["coord"][0]  # a coordinate where a plane belongs
    with pytest.raises(ValueError, match="position 1 is not of type plane"):
        T.tokens_to_specs(bad)


def test_specs_tokens_round_trip_is_identity_on_the_grid():
    spec = T.BodySpec("union", "xz", "L", (-0.5, 0.25, -0.125, 0.125, 0.0, 0.5),
                      p1=0.25, p2=0.5, holes="none")
    cut = T.BodySpec("cut", "xy", "circle", (-0.25, 0.0, -0.125, 0.125, 0.0, 0.25))
    ids = T.specs_to_tokens([spec, cut])
    assert len(ids) == T.SEQ_LEN
    assert T.tokens_to_specs(ids) == [spec, cut]


# ----------------------------------------------------------------------------- program round trip

def _family_programs(per_family: int = 2):
    """The first `per_family` candidates of every synth family (stream seed 7)."""
    got: dict[str, list] = {f: [] for f in FAMILIES}
    i = 0
    while any(len(v) < per_family for v in got.values()) and i < 2000:
        fam, program, _ = generate_candidate(7, i)
        if len(got[fam]) < per_family:
            got[fam].append(program)
        i += 1
    return [(f, p) for f, ps in got.items() for p in ps]


@pytest.fixture(scope="module")
def family_programs():
    return _family_programs()


def test_every_synth_family_encodes_exactly(family_programs):
    for fam, program in family_programs:
        enc = T.encode_program(program)
        assert enc.exact, f"{fam}: {enc.notes}"
        assert 1 <= len(enc.specs) <= T.N_BODIES


def test_program_tokens_program_gives_the_same_solid(family_programs):
    """program -> tokens -> program: the same solid up to the grids (voxel IoU)."""
    ious = {}
    for fam, program in family_programs:
        enc = T.encode_program(program)
        code, repairs = T.decode_tokens(T.specs_to_tokens(enc.specs))
        iou = _iou(program.to_code(), code)
        ious.setdefault(fam, []).append(iou)
        # quantising fractions to 1/64 can move a thin wall or a bore by a grid step
        assert iou > 0.85, f"{fam}: IoU {iou:.3f} after the round trip ({repairs.counts})"
    assert np.mean([v for vs in ious.values() for v in vs]) > 0.96, ious


def test_decoded_program_is_in_the_gencad_idiom_and_reencodes_to_itself(family_programs):
    for fam, program in family_programs:
        ids = T.specs_to_tokens(T.encode_program(program).specs)
        code, _ = T.decode_tokens(ids)
        back = from_code(code)                    # parses in the IR: GenCAD-Code idiom
        assert back.to_code() == code
        assert T.specs_to_tokens(T.encode_program(back).specs) == ids, fam


def test_outside_the_representation_is_approximated_not_lost():
    # an irregular pentagon: no shape token matches, the outer loop becomes its bounding box
    loop = PathLoop((0.5, 0.0), (Line((0.6, 0.3)), Line((0.2, 0.5)), Line((0.0, 0.2)),
                                 Line((0.1, 0.0))))
    p = Program.of(Body(Plane.xy((-0.25, -0.25, 0.0)), (loop,), 0.25))
    enc = T.encode_program(p)
    assert not enc.exact and "body0:outer_loop_approximated" in enc.notes
    s = enc.specs[0]
    assert s.shape == "rect"
    assert s.box == pytest.approx((-0.25, 0.35, -0.25, 0.25, 0.0, 0.25))


def test_gencad_real_programs_encode(gencad_subset_path):
    """Real GenCAD-Code programs (test data, never trained on) all encode and decode."""
    n = 0
    for line in gencad_subset_path.read_text().splitlines()[:20]:
        code = json.loads(line)["ground_truth"]
        enc = T.encode_code(code)
        ids = T.specs_to_tokens(enc.specs)
        out, _ = T.decode_tokens(ids)
        from_code(out)
        n += 1
    assert n == 20


# ----------------------------------------------------------------------------- always valid

def _random_ids(rng: np.random.Generator) -> list[int]:
    ids = []
    for t in T.position_types():
        lo, hi = T.TYPE_RANGE[t]
        ids.append(int(rng.integers(lo, hi)))
    ids[0] = T.TYPE_RANGE["op"][0] + T.OPS.index("union")
    return ids


def _check_valid(code: str) -> None:
    from_code(code)
    shape = _solid(code)
    solids = shape.Solids()
    assert solids, "no solid"
    assert all(s.isValid() for s in solids)
    assert shape.Volume() > 1e-9


@pytest.mark.parametrize("seed", range(3))
def test_random_token_sequences_decode_to_valid_solids(seed):
    rng = np.random.default_rng(seed)
    for _ in range(12):
        code, _ = T.decode_tokens(_random_ids(rng))
        _check_valid(code)


def test_adversarial_sequences_are_repaired():
    # every box collapsed to a point, a cut covering everything, extreme fractions
    lo = T.TYPE_RANGE["coord"][0] + T.quant_coord(0.0)
    specs = [T.BodySpec("union", "xy", "circle", (0.0, 0.0, 0.0, 0.0, 0.0, 0.0), p1=1.0,
                        holes="bolt8", h1=1.0, h2=1.0),
             T.BodySpec("cut", "yz", "rect", (-0.875, 0.875, -0.875, 0.875, -0.875, 0.875)),
             T.BodySpec("union", "xz", "U", (0.0, 0.1, 0.0, 0.1, 0.0, 0.1), p1=1.0, p2=1.0,
                        holes="grid3x2", h1=1.0),
             T.BodySpec("cut", "xy", "ngon5r", (0.3, 0.1, 0.0, 0.0, 0.2, 0.2), p1=1.0,
                        holes="vslot2", h1=1.0)]
    ids = T.specs_to_tokens(specs)
    assert ids[T.FIELDS.index("x0")] == lo
    program, repairs = T.specs_to_program(T.tokens_to_specs(ids))
    assert repairs.counts.get("box_widened", 0) >= 3
    assert repairs.counts.get("cut_dropped_covers_all") == 1
    _check_valid(program.to_code())

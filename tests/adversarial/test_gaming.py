"""The metric-gaming corpus: each gamed prediction scores no more than the honest prediction it
starts from, on every metric (iou, iou_best, iou_exact: + 0.02 at most; chamfer: no lower
than the honest value less its sampling noise).

Programs live in `gaming/` (headers: class, what, reference, honest, expect) and run in the
real sandbox; forged arrays (`gaming/forged.py`) replace the child's output arrays and go
through the trusted side only. A prediction the sandbox or the trusted side refuses, or an
`empty` one, scores the failure value (IoU 0, chamfer infinite), as in scoring.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from cadbench.config import ExecConfig, MetricConfig
from cadbench.execute import Sandbox
from cadbench.geometry.mesh import Mesh
from cadbench.geometry.metrics import compute_metrics
from cadbench.geometry.solid import InvalidSolid, is_empty, make_reference_solid, make_solid

from .gaming.forged import FORGED

GAMING_DIR = Path(__file__).parent / "gaming"
CFG = MetricConfig(compute_mecagent=False)
METRICS = ("iou", "iou_best", "iou_exact", "chamfer")
IOU_TOL = 0.02
CHAMFER_REL_TOL = 0.05     # a fresh set of surface samples (sampling noise)
FORGED_REFERENCE, FORGED_HONEST = "ref_plate", "honest_plate_off"
_HEADER = re.compile(r"^#\s*(class|what|reference|honest|expect):\s*(.*)$")

# Holes still open, each a strict xfail of its own (case, metric): the fix that closes it
# makes the test pass and the xfail fail, so the marker has to go.
KNOWN_HOLES: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Case:
    name: str
    klass: str
    reference: str
    honest: str
    expect: str


def load_cases() -> list[Case]:
    cases = []
    for path in sorted(GAMING_DIR.glob("game_*.py")):
        head: dict[str, str] = {}
        for line in path.read_text().splitlines():
            m = _HEADER.match(line)
            if m:
                head[m.group(1)] = head.get(m.group(1), "") + m.group(2)
        missing = {"class", "reference", "honest", "expect"} - set(head)
        if missing:
            raise ValueError(f"{path}: header lacks {sorted(missing)}")
        cases.append(Case(path.stem, head["class"], head["reference"], head["honest"],
                          head["expect"].strip()))
    return cases


CASES = load_cases()


def _program(name: str) -> str:
    return (GAMING_DIR / f"{name}.py").read_text()


@pytest.fixture(scope="module")
def executed() -> dict:
    """Every program of the corpus (references, honest and gamed) run once in the sandbox."""
    names = sorted({n for c in CASES for n in (c.name, c.reference, c.honest)}
                   | {FORGED_REFERENCE, FORGED_HONEST})
    with Sandbox(ExecConfig(timeout_s=30.0)) as sandbox:
        return {name: sandbox.run(_program(name)) for name in names}


@pytest.fixture(scope="module")
def references(executed) -> dict:
    out = {}
    for name in {c.reference for c in CASES} | {FORGED_REFERENCE}:
        r = executed[name]
        assert r.status == "ok", (name, r.error)
        out[name] = make_reference_solid(r.mesh)
    return out


def score(ref, status: str, mesh: Mesh | None) -> tuple[str, dict]:
    """(outcome, metric values) the way scoring treats a prediction."""
    failed = {m: (math.inf if m == "chamfer" else 0.0) for m in METRICS}
    if status != "ok":
        return status, failed
    try:
        pred = make_solid(mesh)
    except InvalidSolid as exc:
        return f"refused: {exc}", failed
    if is_empty(pred, ref):
        return "empty", failed
    out = compute_metrics(ref, pred, CFG)
    return "ok", {m: (failed[m] if out[m] is None else out[m]) for m in METRICS}


@pytest.fixture(scope="module")
def scores(executed, references) -> dict:
    cache: dict = {}

    def get(ref_name: str, pred_name: str):
        key = (ref_name, pred_name)
        if key not in cache:
            r = executed[pred_name]
            cache[key] = score(references[ref_name], r.status, r.mesh)
        return cache[key]
    return get


def _check(metric: str, gamed: float, honest: float) -> None:
    if metric == "chamfer":
        assert gamed >= honest * (1 - CHAMFER_REL_TOL), (gamed, honest)
    else:
        assert gamed <= honest + IOU_TOL, (gamed, honest)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_gamed_program_gets_the_expected_outcome(case, scores, executed):
    outcome, _ = scores(case.reference, case.name)
    assert outcome == case.expect, (case.name, outcome, executed[case.name].error)
    honest_outcome, _ = scores(case.reference, case.honest)
    assert honest_outcome == "ok", (case.honest, honest_outcome)


def _case_metric_params():
    for case in CASES:
        for metric in METRICS:
            hole = KNOWN_HOLES.get((case.name, metric))
            marks = [pytest.mark.xfail(strict=True, reason=hole)] if hole else []
            yield pytest.param(case, metric, marks=marks, id=f"{case.name}-{metric}")


@pytest.mark.parametrize("case, metric", list(_case_metric_params()))
def test_gamed_program_scores_no_more_than_honest(case, metric, scores):
    _, gamed = scores(case.reference, case.name)
    _, honest = scores(case.reference, case.honest)
    _check(metric, gamed[metric], honest[metric])


@pytest.mark.parametrize("name", sorted(FORGED))
def test_forged_arrays_are_refused_or_score_no_more_than_honest(name, executed, references):
    forge, expect = FORGED[name]
    ref = references[FORGED_REFERENCE]
    honest_mesh = executed[FORGED_HONEST].mesh
    v, f = forge(honest_mesh.vertices.copy(), honest_mesh.faces.copy())
    outcome, gamed = score(ref, "ok", Mesh.from_arrays(v, f))
    assert outcome.split(":")[0] == expect, (name, outcome)
    _, honest = score(ref, "ok", honest_mesh)
    for metric in METRICS:
        _check(metric, gamed[metric], honest[metric])


def test_every_reference_scores_about_one_against_itself(executed, references):
    for name, ref in references.items():
        outcome, values = score(ref, "ok", executed[name].mesh)
        assert outcome == "ok"
        assert values["iou"] > 0.99 and values["iou_exact"] > 0.999, (name, values)
        assert values["iou_best"] > 0.98 and values["chamfer"] < 1e-3, (name, values)


def test_reference_with_a_far_speck_is_scored_not_dropped(executed):
    """The old empty rule marked a part plus a far speck `empty`; as a reference it was
    dropped silently. Here it is a reference like any other."""
    r = executed["game_10_empty_rule_speck"]
    ref = make_reference_solid(r.mesh)
    assert ref.defect is None and ref.n_components == 2
    pred = make_solid(executed["honest_bracket_off"].mesh)
    assert not is_empty(pred, ref)
    out = compute_metrics(ref, pred, CFG)
    assert out["metric_errors"] == {}
    # the prediction is the reference's part without its speck
    assert out["iou"] > 0.99 and out["iou_exact"] > 0.999


def test_every_class_of_the_issue_is_in_the_corpus():
    classes = {c.klass.split(" (")[0] for c in CASES}
    assert {"grid hijack", "stacked copies", "unfused overlaps", "open shell", "abstention",
            "empty rule"} <= classes
    assert {"single_open_triangle", "open_shell"} <= set(FORGED)

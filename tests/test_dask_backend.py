"""Scoring on a Dask cluster gives exactly the results of the local (loky) backend.

Starts a small `dask.distributed.LocalCluster`, scores a few GenCAD-Code predictions with
`backend="dask", scheduler=<its address>` (what `--backend dask --scheduler ADDRESS` does), and
compares with the same inputs scored by loky workers."""

from __future__ import annotations

import json

import pytest
from shared_data import GENCAD_SUBSET50

DATA = GENCAD_SUBSET50

pytestmark = pytest.mark.skipif(not DATA.exists(), reason=f"{DATA} not available")
distributed = pytest.importorskip("dask.distributed")


def _inputs():
    rows = [json.loads(line) for line in DATA.read_text().splitlines()[10:14]]
    refs = [(str(r["question_id"]), r["ground_truth"]) for r in rows]
    preds = [(rid, code) for rid, code in refs[:3]]
    preds.append((refs[3][0], refs[3][1].replace(".extrude(", ".extrude(0.5*")))
    preds.append((refs[0][0], "raise RuntimeError('nope')", 1))
    preds.append((refs[1][0], "import cadquery as cq\nsolid = cq.Workplane().box(1, 1, 1)", 1))
    return refs, preds


def _config():
    from cadbench.config import ExecConfig, MetricConfig, ScoreConfig
    return ScoreConfig(exec=ExecConfig(timeout_s=20), metrics=MetricConfig(compute_best=False),
                       workers=2, bootstrap_samples=200)


def _comparable(outcome):
    """Statuses and the (rounded) summary exactly; per-sample metrics rounded to 1e-9, because
    OCC's tessellation of one program differs between runs in the last bit of some vertices
    (measured: 1.1e-16), which moves e.g. an exact IoU of 1.0 to 0.9999999999999994."""
    rows = sorted((r.id, r.candidate, r.status,
                   json.dumps({k: round(v, 9) if isinstance(v, float) else v
                               for k, v in r.metrics.items()}, sort_keys=True))
                  for r in outcome.results)
    return rows, json.dumps(outcome.summary, sort_keys=True), outcome.status_counts


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    import os
    path = tmp_path_factory.mktemp("dask")
    old = os.environ.get("CADBENCH_HOME")
    os.environ["CADBENCH_HOME"] = str(path / "home")  # inherited by the cluster's workers
    yield path
    if old is None:
        del os.environ["CADBENCH_HOME"]
    else:
        os.environ["CADBENCH_HOME"] = old


@pytest.fixture(scope="module")
def on_loky(home):
    from cadbench.scoring import score
    refs, preds = _inputs()
    outcome = score(refs, preds, home / "loky", _config(), progress=False, backend="loky")
    assert [r.status for r in outcome.results].count("ok") == 5
    return outcome


def _score_on_cluster(home, name, n_workers, threads):
    from cadbench.scoring import score
    refs, preds = _inputs()
    with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=threads,
                                  processes=True, dashboard_address=None) as cluster:
        outcome = score(refs, preds, home / name, _config(), progress=False, backend="dask",
                        scheduler=cluster.scheduler_address)
        assert len(cluster.scheduler_info["workers"]) == n_workers
    return outcome


def test_dask_local_cluster_matches_loky(home, on_loky):
    assert _comparable(_score_on_cluster(home, "dask", 2, 1)) == _comparable(on_loky)


def test_dask_worker_with_two_threads_scores_each_sample_against_its_own_mesh(home):
    """Exact copies of 10 different references, each made slow (0.3 s) so that the two threads'
    candidates always overlap: every one must score IoU 1."""
    from cadbench.scoring import score
    rows = [json.loads(line) for line in DATA.read_text().splitlines()[20:30]]
    refs = [(str(r["question_id"]), r["ground_truth"]) for r in rows]
    preds = [(rid, "import time\ntime.sleep(0.3)\n" + code) for rid, code in refs]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                  dashboard_address=None) as cluster:
        outcome = score(refs, preds, home / "dask-threads", _config(), progress=False,
                        backend="dask", scheduler=cluster.scheduler_address)
    wrong = [(r.id, r.status, r.metrics.get("iou")) for r in outcome.results
             if r.status != "ok" or r.metrics.get("iou", 0) < 0.99]
    assert wrong == []

"""References + predictions -> SampleResults.

Two phases, both fanned out over workers (joblib: in-process for 1 worker, loky processes or a
Dask cluster for more). Each worker process keeps one warm Sandbox.
1. Ground truth: every reference program runs in the sandbox once; its mesh is cached under
   `cadbench_home()/gt` keyed by code hash and execution settings (the folder is 0700, so a
   candidate running as an unprivileged user cannot read it).
2. Predictions: each candidate runs in the sandbox; its mesh is compared with the reference's
   by `compute_metrics` in the worker (trusted: no candidate code ever ran there).
Results are appended to results.jsonl as they arrive (a crash loses nothing already scored) and
a re-run resumes from them.
"""

from __future__ import annotations

import hashlib
from collections import Counter
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .aggregate import status_counts, status_counts_all, summarize
from .protocols import DEFAULT_PROTOCOL
from .config import ExecConfig, MetricConfig, ScoreConfig, cadbench_home
from .errors import InputError
from .execute import status as st
from .geometry.mesh import Mesh, MeshError
from .inputs import GeometryFile, Prediction, Reference, Source
from .provenance import collect_provenance, content_hash
from .records import (JsonlAppender, RunRecord, SampleResult, atomic_write_text, load_results,
                      round_floats)

GT_CACHE_VERSION = 2  # 2: each solid tessellated apart; manifold flag stored
RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "score_config.json"


@dataclass
class ScoreOutcome:
    results: list[SampleResult]
    summary: dict
    status_counts: dict[str, int]
    record: RunRecord
    out_dir: Path
    unknown_ids: list[str] = field(default_factory=list)
    missing_ids: list[str] = field(default_factory=list)
    invalid_references: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- worker side
# State of one worker: a warm sandbox per thread (a Dask worker may run several task threads,
# and one sandbox serves one thread) and the reference meshes this process has loaded.
_LOCAL = threading.local()
_REF_MESHES: dict[str, Mesh] = {}
_WATCHING_PARENT = False


def _sandbox(config: ExecConfig, hide_paths: tuple[str, ...] = (), role: str = "candidate",
             source: "Source | None" = None):
    """This thread's warm sandbox for `role`. References and candidates never share one: a
    candidate's warm worker has never held a reference program. Candidates never see the
    cadbench cache (ground truth, datasets) or the references file. Mesh files (STL, OBJ, ...)
    go to a sandbox of their own that has the mesh reader imported."""
    boxes = getattr(_LOCAL, "sandboxes", None)
    if boxes is None:
        boxes = _LOCAL.sandboxes = {}
    mesh = isinstance(source, GeometryFile) and source.format != "step"
    slot = (role, mesh)
    key = (config, hide_paths)
    box = boxes.get(slot)
    if box is None or box[0] != key:
        from .execute import Sandbox
        if box is not None:
            box[1].close()
        boxes[slot] = (key, Sandbox(config, hide_paths=(str(cadbench_home()), *hide_paths),
                                    role=role, mesh_readers=mesh))
    return boxes[slot][1]


def _trusted_worker(memory_mb: int):
    """This thread's serving fork for the trusted side (execute.trusted.BoundedWorker), made
    after the warm-up so that it inherits the imports."""
    from .execute.trusted import BoundedWorker
    worker = getattr(_LOCAL, "trusted", None)
    if worker is None or worker.memory_mb != memory_mb:
        if worker is not None:
            worker.close()
        worker = _LOCAL.trusted = BoundedWorker(memory_mb)
    return worker


def close_sandbox(role: str) -> None:
    """Stop this thread's warm sandbox for `role` (e.g. references, once the truth is cached)."""
    boxes = getattr(_LOCAL, "sandboxes", None) or {}
    for slot in [s for s in boxes if s[0] == role]:
        boxes.pop(slot)[1].close()


def _exit_with_harness(harness_pid: int | None) -> None:
    """A loky worker outlives a harness killed with -9 (until loky's idle timeout), and its
    sandbox with it: watch the harness and leave when it is gone."""
    global _WATCHING_PARENT
    if harness_pid is None or _WATCHING_PARENT or os.getpid() == harness_pid:
        return
    _WATCHING_PARENT = True

    def watch():
        while True:
            try:
                os.kill(harness_pid, 0)
            except ProcessLookupError:
                os._exit(1)  # the warm workers die with us (PR_SET_PDEATHSIG)
            except PermissionError:
                pass
            time.sleep(1.0)
    threading.Thread(target=watch, name="cadbench-harness-watch", daemon=True).start()


def code_sha(code: Source) -> str:
    """What resume compares: the program's text, or a geometry file's format and bytes."""
    if isinstance(code, GeometryFile):
        return hashlib.sha256("\0".join(code.identity()).encode()).hexdigest()[:16]
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _copies_reference(pred: Prediction, ref: Reference) -> str | None:
    """Programs: contamination.copies_reference; geometry: the same bytes are an exact copy."""
    from .contamination import copies_reference
    if pred.geometry is None and ref.geometry is None:
        return copies_reference(pred.code, ref.code)
    if pred.geometry is not None and ref.geometry is not None:
        return "exact" if pred.geometry.sha256 == ref.geometry.sha256 else None
    return None


def gt_cache_dir() -> Path:
    d = cadbench_home() / "gt"
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    return d


def gt_key(code: Source, config: ExecConfig) -> str:
    """The ground-truth cache key: execution settings + the program's text, or + a geometry
    file's format and content hash (not its path: a moved file stays cached, an edited one
    does not). A program cannot hold the NUL that starts a geometry's part."""
    settings = json.dumps([GT_CACHE_VERSION, config.linear_tolerance, config.angular_tolerance,
                           config.result_var], sort_keys=True)
    body = "\0".join(["", *code.identity()]) if isinstance(code, GeometryFile) else code
    return hashlib.sha256((settings + "\n" + body).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class ReferenceOutcome:
    id: str
    error: str | None = None          # the reference could not be run (a reference fault)
    manifold: bool = True             # False: a closed mesh but not a 2-manifold solid


def reference_task(ref_id: str, code: Source, config: ExecConfig, cache_dir: str,
                   hide_paths: tuple[str, ...] = (), harness_pid: int | None = None
                   ) -> ReferenceOutcome:
    """Run one reference program, or parse one geometry reference, in the reference sandbox
    and cache its mesh."""
    _exit_with_harness(harness_pid)
    Path(cache_dir).mkdir(parents=True, exist_ok=True, mode=0o700)  # e.g. on a Dask worker
    path = Path(cache_dir) / f"{gt_key(code, config)}.npz"
    if path.exists():
        # the candidates come next: their warm worker imports cadquery meanwhile
        _sandbox(config, hide_paths).launch()
        with np.load(path, allow_pickle=False) as z:
            return ReferenceOutcome(ref_id, manifold=bool(z["manifold"]))
    res = _sandbox(config, hide_paths, role="reference", source=code).run(code)
    if res.status != st.OK or res.mesh is None:
        return ReferenceOutcome(ref_id, f"{res.status}: {res.error or ''}".strip())
    from .geometry.solid import make_reference_solid
    try:
        manifold = make_reference_solid(res.mesh).manifold is not None
    except MeshError as exc:  # encloses nothing: not a usable reference
        return ReferenceOutcome(ref_id, f"{st.INVALID_GEOMETRY}: {exc}"[:300])
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, vertices=res.mesh.vertices, faces=res.mesh.faces, manifold=manifold)
    os.replace(tmp, path)
    return ReferenceOutcome(ref_id, manifold=manifold)


def _load_reference_mesh(path: str) -> Mesh:
    mesh = _REF_MESHES.get(path)
    if mesh is None:
        with np.load(path, allow_pickle=False) as z:
            mesh = Mesh.from_arrays(z["vertices"], z["faces"])
        if len(_REF_MESHES) > 256:  # bounded: harness memory stays flat on long runs
            _REF_MESHES.clear()
        _REF_MESHES[path] = mesh
    return mesh


def judge_prediction(ref_mesh: Mesh, pred_mesh: Mesh, metric_config: MetricConfig) -> dict:
    """The trusted side's work on one candidate: validity, union, emptiness, metrics.
    Returns {"status", "error", "metrics"}; runs bounded in time and memory (execute.trusted)."""
    from .geometry.metrics import compute_metrics
    from .geometry.solid import InvalidSolid, is_empty, make_reference_solid, make_solid
    ref = make_reference_solid(ref_mesh)
    try:
        pred = make_solid(pred_mesh, "prediction")
    except InvalidSolid as exc:
        return {"status": st.INVALID_GEOMETRY, "error": str(exc)[:300], "metrics": {}}
    if is_empty(pred, ref):
        return {"status": st.EMPTY, "error": f"volume {pred.volume:.3g} is negligible next to "
                f"the reference's {ref.volume:.3g}", "metrics": {}}
    # 9 decimals: OCC tessellates a program with last-bit differences between runs
    metrics = round_floats(compute_metrics(ref, pred, metric_config), 9)
    if metric_config.protocol != DEFAULT_PROTOCOL:
        from .protocols import evaluate_pair, get_protocol
        row = evaluate_pair(get_protocol(metric_config.protocol), ref, pred,
                            seed=metric_config.seed)
        metrics["protocol"] = round_floats(row, 9)  # the peer's values, flags, errors
    return {"status": st.OK, "error": None, "metrics": metrics}


@lru_cache(maxsize=8)
def warm_trusted_side(metric_config: MetricConfig) -> None:
    """Judge one small trusted pair (two boxes) in this process, once per metric settings.

    The trusted side runs in a fork (execute.trusted.BoundedWorker), started again after a
    timeout or an out-of-memory call: whatever it imports lazily (scipy.ndimage, scipy.spatial,
    the pose search, a protocol's modules) would be imported again in every new fork, which
    cost more than the metrics themselves. Imported here, before the first fork, every fork
    inherits them."""
    from .geometry.solid import _mesh_of, box_manifold
    ref = _mesh_of(box_manifold((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)))
    pred = _mesh_of(box_manifold((0.1, 0.0, 0.0), (1.1, 1.2, 0.9)))
    judge_prediction(ref, pred, metric_config)


def protocol_summary(protocol: str, results: list[SampleResult],
                     labels: dict[str, dict] | None = None) -> dict | None:
    """The peer protocol's own headline table over the scored candidates (None for the
    default): rows carry the status, the peer's per-sample values and any meta labels."""
    if protocol == DEFAULT_PROTOCOL:
        return None
    from .protocols import aggregate, get_protocol
    rows = []
    for r in results:
        row = {"id": r.id, "candidate": r.candidate, "status": r.status,
               **(labels or {}).get(r.id, {})}
        row.update({k: v for k, v in (r.metrics.get("protocol") or {}).items()
                    if k not in ("flags", "metric_errors")})
        rows.append(row)
    out = aggregate(get_protocol(protocol), rows)
    flagged = Counter(f for r in results for f in (r.metrics.get("protocol") or {})
                      .get("flags", []))
    if flagged:
        out["flagged_samples"] = dict(flagged)
    return out


def prediction_task(pred: Prediction, ref: Reference, ref_mesh_path: str,
                    exec_config: ExecConfig, metric_config: MetricConfig,
                    hide_paths: tuple[str, ...] = (), harness_pid: int | None = None) -> dict:
    """Run one candidate and score it. Never raises: harness faults become harness_error."""
    _exit_with_harness(harness_pid)
    result = SampleResult(id=pred.id, candidate=pred.candidate, code_sha=code_sha(pred.source),
                          copies_reference=_copies_reference(pred, ref))
    try:
        if pred.geometry is None and not pred.code.strip():
            result.status, result.error = st.NO_RESULT, "empty program"
            return result.__dict__
        res = _sandbox(exec_config, hide_paths, source=pred.source).run(pred.source)
        result.status, result.error, result.picked_by = res.status, res.error, res.picked_by
        result.exec_time_s = round(res.duration_s, 4)
        if res.status == st.OK and res.mesh is not None:
            if not os.path.exists(ref_mesh_path):  # a Dask worker without the shared cache
                outcome = reference_task(ref.id, ref.source, exec_config,
                                         os.path.dirname(ref_mesh_path), hide_paths)
                if outcome.error:
                    raise RuntimeError(f"reference {ref.id} failed on this worker: "
                                       f"{outcome.error}")
            warm_trusted_side(metric_config)
            t0 = time.perf_counter()
            judged = _trusted_worker(exec_config.trusted_memory_mb).run(
                judge_prediction, (_load_reference_mesh(ref_mesh_path), res.mesh, metric_config),
                timeout_s=exec_config.trusted_timeout_s)
            result.score_time_s = round(time.perf_counter() - t0, 4)
            if judged.status == "ok":
                result.status = judged.value["status"]
                result.error = judged.value["error"]
                result.metrics = judged.value["metrics"]
            elif judged.status == "trusted_error":
                raise RuntimeError(f"trusted side failed: {judged.error}")
            else:  # over a time or memory bound: the prediction's doing
                result.status, result.error = st.TOO_COSTLY, judged.error
    except Exception as e:  # a fault of the harness, not of the candidate
        result.status, result.error = st.HARNESS_ERROR, f"{type(e).__name__}: {e}"[:500]
    return result.__dict__


# --------------------------------------------------------------------------- parent side
def _as_references(refs: Iterable) -> list[Reference]:
    """Reference objects, or (id, code) / (id, GeometryFile) pairs."""
    out = [r if isinstance(r, Reference)
           else Reference(str(r[0]), geometry=r[1]) if isinstance(r[1], GeometryFile)
           else Reference(str(r[0]), r[1]) for r in refs]
    ids = [r.id for r in out]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InputError(f"duplicate reference id '{dup}'")
    return out


def _as_predictions(preds: Iterable) -> list[Prediction]:
    out: list[Prediction] = []
    counters: dict[str, int] = {}
    for p in preds:
        if isinstance(p, Prediction):
            out.append(p)
            continue
        pid, code = str(p[0]), p[1]   # (id, code or GeometryFile[, candidate])
        cand = p[2] if len(p) > 2 else counters.get(pid, 0)
        counters[pid] = cand + 1
        out.append(Prediction(pid, geometry=code, candidate=cand) if isinstance(code, GeometryFile)
                   else Prediction(pid, code or "", cand))
    return out


def _parallel_map(fn, arg_tuples: Sequence[tuple], workers: int, backend: str,
                  scheduler: str | None):
    """Yield fn(*args) as results complete, on the chosen backend."""
    if workers <= 1 and backend == "loky":
        for args in arg_tuples:
            yield fn(*args)
        return
    from joblib import Parallel, delayed, parallel_config
    if backend == "dask":
        from .distributed import dask_client  # noqa: F401  (sets up the joblib dask backend)
        with dask_client(scheduler, workers):
            with parallel_config(backend="dask"):
                yield from Parallel(return_as="generator_unordered")(
                    delayed(fn)(*a) for a in arg_tuples)
        return
    yield from Parallel(n_jobs=workers, backend=backend, return_as="generator_unordered")(
        delayed(fn)(*a) for a in arg_tuples)


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="prog", disable=not enabled or total == 0,
                file=sys.stderr, dynamic_ncols=True, leave=False)


# The code that decides a stored result: what runs a candidate and turns it into a solid, and
# every metric. A resumed folder scored by other code of these is refused (its numbers would
# mix two definitions).
SCORING_CODE = ("execute/child.py", "geometry", "metrics.py", "protocols", "aggregate.py")


@lru_cache(maxsize=1)
def scoring_code_hash() -> str:
    root = Path(__file__).resolve().parent
    files = sorted(f for part in SCORING_CODE
                   for f in ([root / part] if (root / part).is_file()
                             else (root / part).rglob("*.py")))
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def _check_resume_config(out_dir: Path, config: ScoreConfig, resume: bool,
                         references_hash: str) -> None:
    """A resumed run must use the settings and the references the stored results were scored
    with; say which differ and what to do."""
    path = out_dir / CONFIG_FILE
    wanted = {"exec": config.exec.to_dict(), "metrics": config.metrics.to_dict(),
              "references_hash": references_hash, "scoring_code": scoring_code_hash()}
    if resume and path.exists() and (out_dir / RESULTS_FILE).exists():
        stored = json.loads(path.read_text())
        differ = sorted(k for k in wanted if stored.get(k) != wanted[k])
        if differ:
            what = {"exec": "execution settings", "metrics": "metric settings",
                    "references_hash": "references",
                    "scoring_code": "scoring code (another cadbench version)"}
            raise InputError(f"{out_dir}: holds results scored against other "
                             f"{' and '.join(what[k] for k in differ)}; use another --out "
                             f"folder, or score again from scratch (`cadbench score "
                             f"--no-resume`, `cadbench run --rescore`)")
    if not resume:
        for name in (RESULTS_FILE, SUMMARY_FILE):
            (out_dir / name).unlink(missing_ok=True)
    atomic_write_text(path, json.dumps(wanted, indent=2, sort_keys=True) + "\n")


def score(references: Iterable, predictions: Iterable, out_dir: str | Path,
          config: ScoreConfig = ScoreConfig(), progress: bool = True, resume: bool = True,
          backend: str = "loky", scheduler: str | None = None,
          label: dict | None = None, hide_paths: Iterable[str | Path] = (),
          labels: dict[str, dict] | None = None) -> ScoreOutcome:
    """Score predictions against references into out_dir (results.jsonl, summary.json).

    hide_paths: files the candidates must not see (e.g. the references file); the cadbench
    cache is always hidden. labels: per reference id, meta fields a protocol breaks its
    statistics down by (e.g. {"label": "easy", "family": "plate"})."""
    hidden = tuple(sorted(os.path.abspath(str(p)) for p in hide_paths))
    harness = os.getpid() if backend == "loky" else None  # a Dask worker may be elsewhere
    if backend == "loky":  # one cadquery import for every sandbox of the run (hatchery.py)
        from .execute import hatchery
        hatchery.ensure_started()
    refs = _as_references(references)
    preds = _as_predictions(predictions)
    out_dir = Path(out_dir)
    references_hash = content_hash(r.identity() for r in refs)  # geometry: format + sha256
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_resume_config(out_dir, config, resume, references_hash)
    started = time.perf_counter()

    ref_by_id = {r.id: r for r in refs}
    unknown = sorted({p.id for p in preds if p.id not in ref_by_id})
    if unknown:
        print(f"cadbench: warning: {len(unknown)} prediction id(s) are not in the references "
              f"and are not scored: {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}",
              file=sys.stderr)
    preds = [p for p in preds if p.id in ref_by_id]
    predicted_ids = {p.id for p in preds}
    missing = [r.id for r in refs if r.id not in predicted_ids]

    # Phase 1: ground truth, only for references that have predictions, in the reference
    # sandbox (cached ones are only checked).
    cache_dir = gt_cache_dir()
    needed = [r for r in refs if r.id in predicted_ids]
    invalid_refs: dict[str, str] = {}
    non_manifold: list[str] = []
    n_cold = sum(not (cache_dir / f"{gt_key(r.source, config.exec)}.npz").exists() for r in needed)
    bar = _progress(n_cold, "ground truth", progress)
    for outcome in _parallel_map(reference_task, [(r.id, r.source, config.exec, str(cache_dir),
                                                   hidden, harness) for r in needed],
                                 config.workers, backend, scheduler):
        if outcome.error:
            invalid_refs[outcome.id] = outcome.error
        elif not outcome.manifold:
            non_manifold.append(outcome.id)
        bar.update(1)
    bar.close()
    if invalid_refs:
        print(f"cadbench: warning: {len(invalid_refs)} reference(s) could not be run and are "
              f"left out (reported in the summary as reference faults): "
              + "; ".join(f"{k}: {v}" for k, v in list(invalid_refs.items())[:3]),
              file=sys.stderr)

    # Phase 2: predictions, resuming from what results.jsonl already holds; harness faults
    # are run again (they are not model results).
    results_path = out_dir / RESULTS_FILE
    done = {r.key: r for r in load_results(results_path)} if resume else {}
    results: dict[tuple[str, int], SampleResult] = {}
    tasks = []
    for p in preds:
        if p.id in invalid_refs:
            continue
        prev = done.get((p.id, p.candidate))
        if (prev is not None and prev.code_sha == code_sha(p.source)
                and prev.status not in (st.MISSING, st.HARNESS_ERROR)):
            results[prev.key] = prev
            continue
        ref = ref_by_id[p.id]
        mesh_path = str(cache_dir / f"{gt_key(ref.source, config.exec)}.npz")
        tasks.append((p, ref, mesh_path, config.exec, config.metrics, hidden, harness))
    if done and progress:
        print(f"cadbench: resuming: {len(results)} result(s) already scored, "
              f"{len(tasks)} to go", file=sys.stderr)

    bar = _progress(len(tasks), "scoring", progress)
    with JsonlAppender(results_path) as sink:
        for row in _parallel_map(prediction_task, tasks, config.workers, backend, scheduler):
            r = SampleResult.from_dict(row)
            results[r.key] = r
            sink.write(r.to_json())
            bar.update(1)
    bar.close()

    final = sorted(results.values(), key=lambda r: (r.id, r.candidate))
    final += [SampleResult(id=i, status=st.MISSING, error="no prediction") for i in missing]
    atomic_write_text(results_path, "".join(r.to_json() + "\n" for r in final))

    valid_ref_ids = [r.id for r in refs if r.id not in invalid_refs]
    scored = [r for r in final if r.status != st.MISSING]
    summary = summarize(scored, valid_ref_ids, config.bootstrap_samples, config.seed,
                        exclusions={"iou_exact": non_manifold}, metric_config=config.metrics,
                        groups=labels)
    peer = protocol_summary(config.metrics.protocol,
                            [r for r in scored if r.id in set(valid_ref_ids)], labels)
    if peer is not None:
        summary["protocol"] = peer
    counts = status_counts(scored, valid_ref_ids)
    label = label or {}
    elapsed = max(time.perf_counter() - started, 1e-9)
    record = RunRecord(
        kind="score", model=label.get("model"), dataset=label.get("dataset"),
        split=label.get("split"), n_references=len(valid_ref_ids), n_predictions=len(preds),
        metrics=summary, status_counts=counts, config=config.to_dict(),
        provenance={**collect_provenance(),
                    "references_hash": references_hash,
                    "predictions_hash": content_hash(
                        (p.id, p.candidate, p.code if p.geometry is None else p.geometry.identity())
                        for p in preds),
                    "unknown_prediction_ids": unknown[:50],
                    "missing_ids": missing[:50],
                    "non_manifold_references": non_manifold[:50],
                    "timing": {"score_wall_s": round(elapsed, 2),
                               "samples_per_s": round(len(tasks) / elapsed, 2)}},
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        n_references_given=len(refs), reference_faults=dict(invalid_refs),
        status_counts_all=status_counts_all(scored),
    )
    record.save(out_dir / SUMMARY_FILE)
    return ScoreOutcome(final, summary, counts, record, out_dir, unknown, missing, invalid_refs)


def _peer_value(v) -> str:
    if isinstance(v, dict) and "mean" in v:
        return f"{v['mean']:.4g} +/- {v.get('std') or 0:.2g} over {v.get('n_runs')} runs"
    return f"{v:.4g}" if isinstance(v, (int, float)) else str(v)


def format_summary_table(summary: dict, counts: dict[str, int],
                         record: RunRecord | None = None) -> str:
    """A short human table of the headline metrics (read off the metric specs), the status
    counts, and what qualifies the numbers (faults, references not run)."""
    from tabulate import tabulate

    from .metrics import headline_rows

    def fmt(key, ci_key=None):
        v = summary.get(key)
        if v is None:
            return "-"
        ci = summary.get(ci_key) if ci_key else None
        return f"{v:.3f}" + (f"  [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
    rows = [("samples", summary.get("n")), ("VSR", fmt("vsr", "vsr_ci95"))]
    rows += [(label, fmt(key, ci)) for label, key, ci in headline_rows(summary)]
    for k in ("best_of_n_iou_all_mean", "pass@1", "pass@5", "pass@10"):
        if k in summary:
            rows.append((k, fmt(k)))
    table = tabulate(rows, headers=["metric", "value  [95% CI]"], tablefmt="github")
    status = tabulate(sorted(counts.items(), key=lambda kv: -kv[1]),
                      headers=["status", "count"], tablefmt="github")
    peer = summary.get("protocol")
    if peer:
        head = peer.get("headline") or {}
        table += (f"\n\nprotocol {peer.get('protocol')}: {head.get('label')} = "
                  f"{_peer_value(head.get('value'))}")
        for label, value in (peer.get("stats") or {}).items():
            if label != head.get("label"):
                table += f"\n  {label} = {_peer_value(value)}"
    notes = []
    if summary.get("n_faults"):
        notes.append(f"{summary['n_faults']} harness fault(s) (harness_error) are left out of "
                     f"every metric; re-running the command retries them")
    if record is not None and record.reference_faults:
        notes.append(f"scored against {record.n_references} of {record.n_references_given} "
                     f"references: {len(record.reference_faults)} could not be run ("
                     + "; ".join(f"{k}: {v}" for k, v in list(record.reference_faults.items())[:3])
                     + ")")
    if summary.get("n_copies_normalized"):
        notes.append(f"{summary['n_copies_normalized']} prediction(s) reproduce their reference "
                     f"program ({summary.get('n_copies_exact', 0)} verbatim)")
    return table + "\n\n" + status + "".join(f"\n\nnote: {n}" for n in notes)

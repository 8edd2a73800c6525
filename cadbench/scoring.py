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
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from . import __version__
from .aggregate import status_counts, summarize
from .config import ExecConfig, MetricConfig, ScoreConfig, cadbench_home
from .errors import InputError
from .execute import status as st
from .geometry.mesh import Mesh
from .inputs import Prediction, Reference
from .provenance import collect_provenance, content_hash
from .records import (JsonlAppender, RunRecord, SampleResult, atomic_write_text, load_results,
                      round_floats)

GT_CACHE_VERSION = 1
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


def _sandbox(config: ExecConfig, hide_paths: tuple[str, ...] = ()):
    """This thread's warm sandbox; candidates never see the cadbench cache (ground truth,
    datasets) or the references file."""
    key = (config, hide_paths)
    if getattr(_LOCAL, "sandbox", None) is None or _LOCAL.key != key:
        from .execute import Sandbox
        if getattr(_LOCAL, "sandbox", None) is not None:
            _LOCAL.sandbox.close()
        _LOCAL.sandbox = Sandbox(config, hide_paths=(str(cadbench_home()), *hide_paths))
        _LOCAL.key = key
    return _LOCAL.sandbox


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


def code_sha(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def gt_cache_dir() -> Path:
    d = cadbench_home() / "gt"
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    return d


def gt_key(code: str, config: ExecConfig) -> str:
    settings = json.dumps([GT_CACHE_VERSION, config.linear_tolerance, config.angular_tolerance,
                           config.result_var], sort_keys=True)
    return hashlib.sha256((settings + "\n" + code).encode("utf-8", "surrogatepass")).hexdigest()


def reference_task(ref_id: str, code: str, config: ExecConfig, cache_dir: str,
                   hide_paths: tuple[str, ...] = (), harness_pid: int | None = None
                   ) -> tuple[str, str | None]:
    """Run one reference program and cache its mesh. Returns (id, error or None)."""
    _exit_with_harness(harness_pid)
    Path(cache_dir).mkdir(parents=True, exist_ok=True, mode=0o700)  # e.g. on a Dask worker
    path = Path(cache_dir) / f"{gt_key(code, config)}.npz"
    if path.exists():
        return ref_id, None
    res = _sandbox(config, hide_paths).run(code)
    if res.status != st.OK or res.mesh is None:
        return ref_id, f"{res.status}: {res.error or ''}".strip()
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, vertices=res.mesh.vertices, faces=res.mesh.faces)
    os.replace(tmp, path)
    return ref_id, None


def _load_reference_mesh(path: str) -> Mesh:
    mesh = _REF_MESHES.get(path)
    if mesh is None:
        with np.load(path, allow_pickle=False) as z:
            mesh = Mesh.from_arrays(z["vertices"], z["faces"])
        if len(_REF_MESHES) > 256:  # bounded: harness memory stays flat on long runs
            _REF_MESHES.clear()
        _REF_MESHES[path] = mesh
    return mesh


def prediction_task(pred: Prediction, ref: Reference, ref_mesh_path: str,
                    exec_config: ExecConfig, metric_config: MetricConfig,
                    hide_paths: tuple[str, ...] = (), harness_pid: int | None = None) -> dict:
    """Run one candidate and score it. Never raises: harness faults become harness_error."""
    _exit_with_harness(harness_pid)
    result = SampleResult(id=pred.id, candidate=pred.candidate, code_sha=code_sha(pred.code))
    try:
        if not pred.code.strip():
            result.status, result.error = st.NO_RESULT, "empty program"
            return result.__dict__
        res = _sandbox(exec_config, hide_paths).run(pred.code)
        result.status, result.error, result.picked_by = res.status, res.error, res.picked_by
        result.exec_time_s = round(res.duration_s, 4)
        if res.status == st.OK and res.mesh is not None \
                and len(res.mesh.faces) > exec_config.max_mesh_faces:
            result.status = st.INVALID_GEOMETRY
            result.error = (f"mesh of {len(res.mesh.faces)} triangles exceeds the limit of "
                            f"{exec_config.max_mesh_faces}")
        elif res.status == st.OK and res.mesh is not None:
            from .geometry.metrics import compute_metrics
            if not os.path.exists(ref_mesh_path):  # a Dask worker without the shared cache
                _, err = reference_task(ref.id, ref.code, exec_config,
                                        os.path.dirname(ref_mesh_path), hide_paths)
                if err:
                    raise RuntimeError(f"reference {ref.id} failed on this worker: {err}")
            t0 = time.perf_counter()
            # 9 decimals: OCC tessellates a program with last-bit differences between runs
            result.metrics = round_floats(compute_metrics(
                _load_reference_mesh(ref_mesh_path), res.mesh, metric_config), 9)
            result.score_time_s = round(time.perf_counter() - t0, 4)
    except Exception as e:  # a fault of the harness, not of the candidate
        result.status, result.error = st.HARNESS_ERROR, f"{type(e).__name__}: {e}"[:500]
    return result.__dict__


# --------------------------------------------------------------------------- parent side
def _as_references(refs: Iterable) -> list[Reference]:
    out = [r if isinstance(r, Reference) else Reference(str(r[0]), r[1]) for r in refs]
    ids = [r.id for r in out]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InputError(f"duplicate reference id '{dup}'")
    return out


def _as_predictions(preds: Iterable) -> list[Prediction]:
    out, counters = [], {}
    for p in preds:
        if isinstance(p, Prediction):
            out.append(p)
            continue
        pid, code = str(p[0]), p[1]
        cand = p[2] if len(p) > 2 else counters.get(pid, 0)
        counters[pid] = cand + 1
        out.append(Prediction(pid, code or "", cand))
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


def _check_resume_config(out_dir: Path, config: ScoreConfig, resume: bool) -> None:
    """A resumed run must use the settings the stored results were scored with."""
    path = out_dir / CONFIG_FILE
    wanted = {"exec": config.exec.to_dict(), "metrics": config.metrics.to_dict()}
    if resume and path.exists() and (out_dir / RESULTS_FILE).exists():
        stored = json.loads(path.read_text())
        if stored != wanted:
            raise InputError(f"{out_dir}: holds results scored with other settings; use another "
                             f"--out folder or --no-resume to score again from scratch")
    if not resume:
        for name in (RESULTS_FILE, SUMMARY_FILE):
            (out_dir / name).unlink(missing_ok=True)
    atomic_write_text(path, json.dumps(wanted, indent=2, sort_keys=True) + "\n")


def score(references: Iterable, predictions: Iterable, out_dir: str | Path,
          config: ScoreConfig = ScoreConfig(), progress: bool = True, resume: bool = True,
          backend: str = "loky", scheduler: str | None = None,
          label: dict | None = None, hide_paths: Iterable[str | Path] = ()) -> ScoreOutcome:
    """Score predictions against references into out_dir (results.jsonl, summary.json).

    hide_paths: files the candidates must not see (e.g. the references file); the cadbench
    cache is always hidden."""
    hidden = tuple(sorted(os.path.abspath(str(p)) for p in hide_paths))
    harness = os.getpid() if backend == "loky" else None  # a Dask worker may be elsewhere
    refs = _as_references(references)
    preds = _as_predictions(predictions)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_resume_config(out_dir, config, resume)
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

    # Phase 1: ground truth, only for references that have predictions.
    cache_dir = gt_cache_dir()
    needed = [r for r in refs if r.id in predicted_ids]
    todo = [r for r in needed if not (cache_dir / f"{gt_key(r.code, config.exec)}.npz").exists()]
    invalid_refs: dict[str, str] = {}
    bar = _progress(len(todo), "ground truth", progress)
    for rid, err in _parallel_map(reference_task, [(r.id, r.code, config.exec, str(cache_dir),
                                                    hidden, harness) for r in todo],
                                  config.workers, backend, scheduler):
        if err:
            invalid_refs[rid] = err
        bar.update(1)
    bar.close()
    if invalid_refs:
        print(f"cadbench: warning: {len(invalid_refs)} reference(s) did not yield a valid solid "
              f"and are left out of the metrics: "
              + "; ".join(f"{k}: {v}" for k, v in list(invalid_refs.items())[:3]),
              file=sys.stderr)

    # Phase 2: predictions, resuming from what results.jsonl already holds.
    results_path = out_dir / RESULTS_FILE
    done = {r.key: r for r in load_results(results_path)} if resume else {}
    results: dict[tuple[str, int], SampleResult] = {}
    tasks = []
    for p in preds:
        if p.id in invalid_refs:
            continue
        prev = done.get((p.id, p.candidate))
        if prev is not None and prev.code_sha == code_sha(p.code) and prev.status != st.MISSING:
            results[prev.key] = prev
            continue
        ref = ref_by_id[p.id]
        mesh_path = str(cache_dir / f"{gt_key(ref.code, config.exec)}.npz")
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
    summary = summarize(scored, valid_ref_ids, config.bootstrap_samples, config.seed)
    counts = status_counts(scored, valid_ref_ids)
    label = label or {}
    record = RunRecord(
        kind="score", model=label.get("model"), dataset=label.get("dataset"),
        split=label.get("split"), n_references=len(valid_ref_ids), n_predictions=len(preds),
        metrics=summary, status_counts=counts, config=config.to_dict(),
        provenance={**collect_provenance(),
                    "references_hash": content_hash((r.id, r.code) for r in refs),
                    "predictions_hash": content_hash((p.id, p.candidate, p.code) for p in preds),
                    "unknown_prediction_ids": unknown[:50],
                    "missing_ids": missing[:50],
                    "invalid_references": dict(list(invalid_refs.items())[:50]),
                    "timing": {"score_wall_s": round(time.perf_counter() - started, 2),
                               "samples_per_s": round(len(tasks) / max(time.perf_counter()
                                                                       - started, 1e-9), 2)}},
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    record.save(out_dir / SUMMARY_FILE)
    return ScoreOutcome(final, summary, counts, record, out_dir, unknown, missing, invalid_refs)


def format_summary_table(summary: dict, counts: dict[str, int]) -> str:
    """A short human table of the headline metrics and the status counts."""
    from tabulate import tabulate

    def fmt(key):
        v = summary.get(key)
        if v is None:
            return "-"
        ci = summary.get(f"{key}_ci95")
        return f"{v:.3f}" + (f"  [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
    rows = [("samples", summary.get("n")), ("VSR", fmt("vsr")),
            ("IoU (valid)", fmt("iou_valid_mean")), ("IoU (all)", fmt("iou_all_mean")),
            ("IoU median (valid)", fmt("iou_valid_median")),
            ("IoU best (all)", fmt("iou_best_all_mean")),
            ("exact IoU (all)", fmt("iou_exact_all_mean")),
            ("chamfer (valid)", fmt("chamfer_valid_mean"))]
    for k in ("best_of_n_iou_all_mean", "pass@1", "pass@5", "pass@10"):
        if k in summary:
            rows.append((k, fmt(k)))
    table = tabulate(rows, headers=["metric", "value  [95% CI]"], tablefmt="github")
    status = tabulate(sorted(counts.items(), key=lambda kv: -kv[1]),
                      headers=["status", "count"], tablefmt="github")
    return table + "\n\n" + status

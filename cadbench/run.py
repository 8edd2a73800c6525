"""`cadbench run`: load a submission -> generate predictions -> score them -> write the record.

The run folder holds everything a run made, so an interrupted run resumes where it stopped:

    .lock               held while a command writes here (one writer per folder)
    run.json            the settings the folder was made with (a resume must match them)
    checkpoint/         a submission fitted on the fly (no committed checkpoint existed)
    predictions.jsonl   {id, candidate, code} rows, appended batch by batch, or
                        {id, candidate, path} for a geometry file a submission returned
    geometry/           those files, copied in (path: relative to the run folder)
    timing.json         generation time accumulated over resumed invocations
    results.jsonl       scored candidates (scoring resumes from it)
    summary.json        the scoring record; record.json: the run record
    protocol-<name>/    results, summary and record of a run scored under a peer's
                        --protocol (the predictions above are shared: no re-generation)

Submissions get `TaskInput`s (id, image, allow-listed meta), never a `Sample`, unless they
are oracles. Each sample's candidates are seeded from the run seed and the sample id alone
(`Sampling.seed_for`), so an interrupted and resumed run, another batch size or worker
count give the same predictions. The folder is private (0700, files 0600).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from .config import DEFAULT_PROTOCOL
from .errors import CadbenchError, InputError
from .records import JsonlAppender, RecordError, RunRecord, atomic_write_text, read_jsonl
from .runlock import FILE_MODE, RunLock, make_private, make_private_dir, remove_if_empty
from .submissions import (Sampling, Submission, SubmissionError, checkpoint_exists,
                          get_submission, parse_options)

TRAIN_INFO_FILE = "train_info.json"   # written next to a checkpoint by `cadbench train`
DEFAULT_BATCH_SIZE = 16
GEOMETRY_DIR = "geometry"             # in a run folder: the geometry files a submission made


@dataclass
class RunSettings:
    """Everything that decides what a run generates (a resumed run must match it)."""

    model: str
    dataset: str = "synth"
    split: str = "test"
    limit: int | None = None
    samples: int = 1                   # candidates per id (best-of-N / pass@k when > 1)
    seed: int = 0                      # the run seed: sampling (per sample id) and bootstrap
    options: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None      # None: the submission's default checkpoint
    temperature: float | None = None   # None: the submission's own default
    top_p: float | None = None
    # the dataset loader's options (`--dataset-opt root=DIR`; datasets/options.py)
    dataset_options: dict[str, Any] = field(default_factory=dict)

    def sampling(self) -> Sampling:
        return Sampling(k=self.samples, temperature=self.temperature, top_p=self.top_p,
                        seed=self.seed)


@dataclass
class LoadedSubmission:
    submission: Submission
    origin: str                        # "checkpoint <path>", "fitted now", "no training"
    train_time_s: float | None
    checkpoint: str | None
    train_info: dict = field(default_factory=dict)   # train_info.json next to the checkpoint


def say(msg: str) -> None:
    print(f"cadbench: {msg}", file=sys.stderr, flush=True)


def repo_root() -> Path | None:
    """The source checkout cadbench runs from (where `leaderboards/` lives), if any."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "leaderboards").is_dir() else None


def dataset_label(dataset: str) -> str:
    """A short name for a dataset spec: a folder or file path gives its base name."""
    p = Path(dataset)
    return p.stem if (p.suffix or "/" in dataset) else dataset


def default_run_dir(s: RunSettings, model_name: str,
                    options: dict[str, Any] | None = None) -> Path:
    """runs/<model>-<dataset>-<split>[-nN][-kK][-tT][-pP][-seedS][-<options>][-data-<dataset
    options>]: settings that change the predictions change the folder, so a run with other
    settings never lands in (and is never refused by) a folder made by another. `options`:
    the options given."""
    parts = [model_name, dataset_label(s.dataset), s.split]
    if s.limit:
        parts.append(f"n{s.limit}")
    if s.samples > 1:
        parts.append(f"k{s.samples}")
    if s.temperature is not None:
        parts.append(f"t{s.temperature:g}")
    if s.top_p is not None:
        parts.append(f"p{s.top_p:g}")
    if s.seed:
        parts.append(f"seed{s.seed}")
    if options:
        parts.append(options_label(options))
    if s.dataset_options:   # `data-subset=hundred`, `data-<8 hex>` for a root=DIR
        from .datasets.options import check_dataset_options   # as run.json has them
        converted = check_dataset_options(s.dataset, s.dataset_options)
        parts.append("data-" + options_label(converted, hashed=""))
    return Path("runs") / "-".join(parts)


def options_label(options: dict[str, Any], hashed: str = "opt-") -> str:
    """`side=0.6_batch_size=2` when short and plain, else `<hashed><8 hex>` of all of them."""
    plain = "_".join(f"{k}={v}" for k, v in sorted(options.items()))
    if len(plain) <= 40 and all(c.isalnum() or c in "._=-" for c in plain):
        return plain
    blob = json.dumps(options, sort_keys=True, default=str).encode()
    return hashed + hashlib.sha256(blob).hexdigest()[:8]


def default_record_path(dataset: str, split: str, model_name: str,
                        protocol: str = DEFAULT_PROTOCOL) -> Path:
    """leaderboards/<dataset>/<split>/<model>.json; a run scored under a peer's protocol:
    leaderboards/<dataset>/<split>/protocol-<name>/<model>.json (its own table)."""
    base = repo_root() or Path.cwd()
    folder = base / "leaderboards" / dataset_label(dataset) / split
    if protocol != DEFAULT_PROTOCOL:
        folder = folder / f"protocol-{protocol}"
    return folder / f"{model_name}.json"


# -- loading a submission ------------------------------------------------------------------

def read_train_info(ckpt: Path) -> dict:
    path = Path(ckpt) / TRAIN_INFO_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None


def load_training_data(dataset: str, limit: int | None = None,
                       dataset_options: dict[str, Any] | None = None):
    """(train, val) samples of a dataset; val is None when the dataset has no val split."""
    from .datasets import load_dataset
    from .datasets.options import check_dataset_options
    opts = check_dataset_options(dataset, dataset_options)
    train = load_dataset(dataset, "train", **opts)
    if limit:
        train = train[:limit]
    try:
        val = load_dataset(dataset, "val", **opts)
    except CadbenchError:
        val = None
    return train, val


def fit_submission(sub: Submission, dataset: str, epochs: int | None, seed: int,
                   limit: int | None = None, dataset_options: dict[str, Any] | None = None
                   ) -> tuple[float, int]:
    """Fit on the dataset's train split (val when there is one): (seconds, training samples)."""
    train, val = load_training_data(dataset, limit, dataset_options)
    say(f"fitting {sub.name} on {len(train)} {dataset_label(dataset)} training samples"
        f"{f' (val {len(val)})' if val else ''}; a non-learned baseline takes seconds, "
        f"a neural model minutes to hours on CPU")
    t0 = time.perf_counter()
    sub.fit(train, val, epochs=epochs, seed=seed)
    return time.perf_counter() - t0, len(train)


def write_train_info(ckpt: Path, sub: Submission, dataset: str, train_time_s: float,
                     epochs: int | None, seed: int, n_train: int | None = None) -> None:
    # A resumed training took longer than this fit call: the submission's own total counts.
    total = max(train_time_s, sub.training_seconds() or 0.0)
    info = {"model": sub.name, "dataset": dataset_label(dataset), "train_time_s":
            round(total, 3), "fit_call_s": round(train_time_s, 3), "epochs": epochs,
            "seed": seed, "n_train": n_train, "options": sub.options,
            "num_parameters": int(sub.num_parameters())}
    atomic_write_text(Path(ckpt) / TRAIN_INFO_FILE, json.dumps(info, indent=2) + "\n")


def load_submission(cls: type[Submission], s: RunSettings, run_dir: Path) -> LoadedSubmission:
    """A checkpoint if one exists (given, fitted earlier in this run folder, or the default),
    else a fit on the train split when the submission needs training, else a fresh instance."""
    candidates = [Path(s.checkpoint)] if s.checkpoint else [run_dir / "checkpoint",
                                                             cls.default_checkpoint()]
    if s.checkpoint and not checkpoint_exists(Path(s.checkpoint)):
        raise InputError(f"--checkpoint {s.checkpoint}: no such checkpoint folder (or empty)")
    for ckpt in candidates:
        if ckpt is not None and checkpoint_exists(ckpt):
            sub = cls.load(Path(ckpt), **s.options)
            info = read_train_info(ckpt)
            train_time = info.get("train_time_s", sub.metadata().get("train_time_s"))
            return LoadedSubmission(sub, f"checkpoint {_shown_path(str(ckpt))}", train_time,
                                    str(ckpt), info)
    sub = cls(**s.options)
    if not cls.needs_training:
        return LoadedSubmission(sub, "no training", None, None)
    took, n_train = fit_submission(sub, s.dataset, None, s.seed,
                                   dataset_options=s.dataset_options)
    ckpt = run_dir / "checkpoint"
    sub.save(ckpt)  # so a resumed run reuses this fit
    write_train_info(ckpt, sub, s.dataset, took, None, s.seed, n_train)
    say(f"fitted {sub.name} in {took:.1f} s (saved to {ckpt})")
    return LoadedSubmission(sub, "fitted now", took, str(ckpt), read_train_info(ckpt))


# -- generation ----------------------------------------------------------------------------

def read_predictions(path: Path) -> dict[tuple[str, int], str | Path]:
    """(id, candidate) -> the program, or the geometry file's Path (a {id, candidate, path}
    row, its path relative to the run folder) of a run's predictions.jsonl."""
    if not path.exists():
        return {}
    out: dict[tuple[str, int], str | Path] = {}
    for lineno, obj in read_jsonl(path, tolerate_torn_tail=True):
        try:
            key = (str(obj["id"]), int(obj["candidate"]))
            out[key] = (path.parent / str(obj["path"]) if "path" in obj
                        else str(obj["code"]))
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{path}:{lineno}: expected {{id, candidate, code}} or "
                             f"{{id, candidate, path}}") from None
    return out


def task_view(sub: Submission, samples) -> list:
    """What the submission is handed: `TaskInput`s (id, image, allow-listed meta; see
    datasets/base.py), or the full samples for an oracle (`uses_ground_truth`)."""
    if sub.uses_ground_truth:
        return list(samples)
    from .datasets.base import TaskInput
    return [TaskInput.of(smp) for smp in samples]


def check_generate_many(cls: type[Submission]) -> None:
    """A submission written for the old `generate_many(samples, k, seed)` would get a
    Sampling as `k`: say so, instead of an error from deep inside it."""
    import inspect
    params = list(inspect.signature(cls.generate_many).parameters)
    if "k" in params or "seed" in params:
        raise SubmissionError(
            f"{cls.__module__}:{cls.__qualname__}.generate_many{tuple(params)} has the old "
            f"signature (samples, k, seed); it is now generate_many(self, samples, sampling) "
            f"with sampling.k candidates per sample, each seeded by "
            f"sampling.seed_for(sample.id, candidate), and `stochastic = True` on the class")


def candidates_per_sample(sub: Submission, sampling: Sampling, warn: bool = True) -> int:
    """K for a stochastic submission, 1 for a deterministic one (said once: K copies of one
    program would fake best-of-K and pass@k)."""
    if sub.stochastic:
        return sampling.k
    if warn and sampling.k > 1:
        say(f"warning: {sub.name} is deterministic (it does not sample): --samples "
            f"{sampling.k} gives 1 candidate per sample, not {sampling.k}")
    if warn and (sampling.temperature is not None or sampling.top_p is not None):
        say(f"warning: {sub.name} is deterministic: --temperature/--top-p have no effect")
    return 1


def _check_outputs(sub: Submission, batch, outputs, k: int) -> list[list[str | Path]]:
    """Each sample's k candidates: program strings, or Paths of geometry files (a known
    suffix, an existing file)."""
    from .inputs import GEOMETRY_FORMATS
    if not isinstance(outputs, list) or len(outputs) != len(batch):
        n = len(outputs) if isinstance(outputs, list) else type(outputs).__name__
        raise CadbenchError(f"submission {sub.name!r} returned {n} outputs for a batch of "
                            f"{len(batch)} samples (first id {batch[0].id})")
    for smp, cands in zip(batch, outputs):
        if (not isinstance(cands, list) or len(cands) != k
                or not all(isinstance(c, (str, Path)) for c in cands)):
            raise CadbenchError(f"submission {sub.name!r}: sample {smp.id}: expected {k} "
                                f"candidate(s), each a program string or a pathlib.Path of a "
                                f"geometry file, got {cands!r:.120}")
        for c in cands:
            if isinstance(c, Path) and (c.suffix.lower() not in GEOMETRY_FORMATS
                                        or not c.is_file()):
                why = ("no such file" if c.suffix.lower() in GEOMETRY_FORMATS else
                       f"not a geometry file (known: {', '.join(GEOMETRY_FORMATS)})")
                raise CadbenchError(f"submission {sub.name!r}: sample {smp.id}: {c}: {why} "
                                    f"(a candidate that failed is the empty program \"\")")
    return outputs


def geometry_file_name(sample_id: str, candidate: int, suffix: str) -> str:
    """`<id>.<candidate><suffix>` with every character but letters, digits, `_` and `-`
    replaced (ids may hold `/`: GenCAD's nested ids), plus a short hash of the id when it
    had to change, so two ids never share a file."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", sample_id)[:80]
    if safe != sample_id:
        safe += "-" + hashlib.sha256(sample_id.encode()).hexdigest()[:8]
    return f"{safe}.{candidate}{suffix.lower()}"


def _keep_geometry(run_dir: Path, sample_id: str, candidate: int, src: Path) -> str:
    """Copy a submission's geometry file into the run folder (so it is self-contained and a
    resume finds it); returns its path relative to the run folder."""
    folder = run_dir / GEOMETRY_DIR
    make_private_dir(folder)
    name = geometry_file_name(sample_id, candidate, src.suffix)
    tmp = folder / f".{name}.tmp"
    shutil.copyfile(src, tmp)
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, folder / name)
    return f"{GEOMETRY_DIR}/{name}"


def generate_predictions(sub: Submission, samples, sampling: Sampling, out_path: Path,
                         progress: bool = True) -> tuple[int, float]:
    """Generate what `out_path` lacks, appending batch by batch; returns (n_new, seconds).

    Every batch goes through `generate_many(task inputs, sampling)` with the run's own
    Sampling: a submission seeds each sample from `sampling.seed_for(id, candidate)`, so
    which samples share a batch (the batch size, what a resume left to do) changes nothing.
    """
    from tqdm import tqdm
    k = candidates_per_sample(sub, sampling, warn=False)
    done = read_predictions(out_path)
    todo = [smp for smp in samples if any((smp.id, c) not in done for c in range(k))]
    if len(todo) < len(samples):
        say(f"resuming: {len(samples) - len(todo)} of {len(samples)} samples already generated")
    if not todo:
        return 0, 0.0
    batch_size = int(sub.options.get("batch_size") or DEFAULT_BATCH_SIZE)
    elapsed = 0.0
    bar = tqdm(total=len(todo), desc=f"generate {sub.name}", unit="img", file=sys.stderr,
               disable=not progress)
    try:
        with JsonlAppender(out_path) as out:
            for start in range(0, len(todo), batch_size):
                batch = todo[start:start + batch_size]
                t0 = time.perf_counter()
                raw = sub.generate_many(task_view(sub, batch), sampling)
                elapsed += time.perf_counter() - t0
                for smp, cands in zip(batch, _check_outputs(sub, batch, raw, k)):
                    for c, cand in enumerate(cands):
                        if (smp.id, c) in done:
                            continue
                        row: dict[str, Any] = {"id": smp.id, "candidate": c}
                        if isinstance(cand, Path):  # the file first: a row names a copy
                            row["path"] = _keep_geometry(out_path.parent, smp.id, c, cand)
                        else:
                            row["code"] = cand
                        out.write(json.dumps(row))
                bar.update(len(batch))
    finally:
        bar.close()   # the bar's line ends before any message that follows
    return len(todo), elapsed


def _prediction(pred_path: Path, sample_id: str, candidate: int, value: str | Path):
    """What scoring gets for one row of the run's predictions: (id, code, candidate), or a
    geometry Prediction (the file hashed now; a copy removed since is named)."""
    if isinstance(value, str):
        return (sample_id, value, candidate)
    from .inputs import GeometryFile, Prediction
    where = f"{pred_path} (id {sample_id}, candidate {candidate})"
    return Prediction(sample_id, candidate=candidate, geometry=GeometryFile.read(value, where))


def _shown_path(path: str | None) -> str | None:
    """A path for records: relative to the checkout when inside it (no machine paths)."""
    if path is None:
        return None
    p = Path(path).resolve()
    root = Path(__file__).resolve().parent.parent
    return str(p.relative_to(root)) if p.is_relative_to(root) else str(p)


# -- the whole run -------------------------------------------------------------------------

def checkpoint_fingerprint(ckpt: str | None) -> str | None:
    """Content hash of a checkpoint folder: a resumed run must not mix predictions of two
    different checkpoints (a model retrained between the two runs)."""
    if not ckpt or not Path(ckpt).is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(p for p in Path(ckpt).rglob("*") if p.is_file()):
        if f.name == TRAIN_INFO_FILE:
            continue
        h.update(f.relative_to(ckpt).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def _check_run_folder(run_dir: Path, mine: dict, write: bool) -> None:
    """A resumed run must have the settings (and checkpoint) the folder was made with, kept in
    run.json, written once the submission has loaded. A difference names each setting, with
    the folder's value and this run's."""
    path = run_dir / "run.json"
    if path.exists():
        try:
            theirs = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(f"{path}: not valid JSON ({e}); delete the folder") from None
        if "candidates" not in theirs:
            raise InputError(f"{run_dir}: made by an older cadbench (its run.json predates "
                             f"per-sample seeding); pass another --out or delete the folder")
        diff = _differences(theirs, mine)
        if diff:
            raise InputError(f"{run_dir}: made by a run with other settings: "
                             f"{'; '.join(diff)}; pass another --out or delete the folder")
    elif write:
        atomic_write_text(path, json.dumps(mine, indent=2, sort_keys=True) + "\n")


def _differences(theirs: dict, mine: dict) -> list[str]:
    """'option side: 0.6 in the folder, 0.7 now' for each setting (or option) that differs."""
    out = []
    for key in sorted(mine):
        if theirs.get(key) == mine[key]:
            continue
        if key in ("options", "dataset_options") and isinstance(theirs.get(key, {}), dict):
            a, b = theirs.get(key, {}), mine[key]
            what = "option" if key == "options" else "dataset option"
            for opt in sorted(set(a) | set(b)):
                if a.get(opt) != b.get(opt):
                    out.append(f"{what} {opt}: {a.get(opt)!r} in the folder, "
                               f"{b.get(opt)!r} now")
        elif key in theirs or key == "checkpoint_sha":
            out.append(f"{key}: {theirs.get(key)!r} in the folder, {mine[key]!r} now")
    return out


# Meta fields a summary breaks every metric down by, when a dataset provides them. They stay on
# the trusted side: submissions never get them (TaskInput's allow-list).
BREAKDOWN_FIELDS = ("family", "difficulty", "label", "category", "n_operations")


def breakdown_labels(samples) -> dict[str, dict[str, str]]:
    """Per sample id, the BREAKDOWN_FIELDS its dataset gives (as strings)."""
    out = {}
    for smp in samples:
        meta = getattr(smp, "meta", None) or {}
        found = {k: str(meta[k]) for k in BREAKDOWN_FIELDS if meta.get(k) is not None}
        if found:
            out[smp.id] = found
    return out


def _update_timing(run_dir: Path, n_new: int, seconds: float,
                   compute: dict[str, float] | None = None) -> dict:
    """Generation time and test-time compute, accumulated over resumed invocations."""
    path = run_dir / "timing.json"
    t: dict[str, Any] = (json.loads(path.read_text()) if path.exists()
                         else {"inference_time_s": 0.0, "n_generated": 0})
    t["inference_time_s"] = round(t["inference_time_s"] + seconds, 6)
    t["n_generated"] += n_new
    totals: dict[str, float] = t.setdefault("compute", {})
    for key, value in (compute or {}).items():
        totals[key] = totals.get(key, 0) + value
    atomic_write_text(path, json.dumps(t, indent=2) + "\n")
    return t


def per_sample_compute(timing: dict) -> dict[str, float]:
    """The record's test-time compute per generated sample (generation seconds included)."""
    n = timing.get("n_generated") or 0
    if not n:
        return {}
    out = {"generation_s": round(timing["inference_time_s"] / n, 4)}
    out.update({k: round(v / n, 3) for k, v in (timing.get("compute") or {}).items()})
    return out


def _folder_settings(s: RunSettings, options: dict, k: int, stochastic: bool) -> dict:
    """What decides the folder's predictions: the settings, with the options as parsed (so
    `side=.6` and `side=0.6` agree) and the candidates actually generated."""
    return {"model": s.model, "dataset": s.dataset, "split": s.split, "limit": s.limit,
            "candidates": k, "seed": s.seed, "options": options, "checkpoint": s.checkpoint,
            "temperature": s.temperature if stochastic else None,
            "top_p": s.top_p if stochastic else None,
            "dataset_options": s.dataset_options}


def run_model(s: RunSettings, run_dir: Path | None = None, record_path: Path | None = None,
              workers: int = 2, progress: bool = True, write_record: bool | None = None,
              load_samples: Callable | None = None, exec_config=None, metric_config=None,
              backend: str = "loky", scheduler: str | None = None,
              rescore: bool = False) -> RunRecord:
    """Run a submission on a dataset split end to end and return its RunRecord.

    `write_record`: True writes the record to `record_path` (default: the leaderboard's file)
    even for a --limit run; False keeps it in the run folder; None (the default) writes it
    only when the run covers the whole split. An existing record is never replaced by a run
    over part of the split, nor rewritten by a run that reproduces it (see `same_result`).
    `exec_config`/`metric_config`: the sandbox limits and metric settings (ExecConfig,
    MetricConfig); the result variable always comes from the submission. Under a peer's
    protocol the scoring files go to `scoring_dir(run_dir, protocol)` and the record stays
    there unless `record_path` is given (the leaderboard holds cadbench's own protocol).
    `rescore`: score the kept predictions again from scratch instead of resuming.
    """
    cls = get_submission(s.model)
    name = cls.name or cls.__name__
    # Options are checked before any folder exists: an unknown one or a bad value is named.
    given = {k: v for k, v in parse_options(cls, s.options).items() if k in s.options}
    # and the dataset's options (types converted, paths absolute; an unknown one is named)
    from .datasets.options import check_dataset_options
    s = replace(s, dataset_options=check_dataset_options(s.dataset, s.dataset_options))
    sampling = s.sampling()
    run_dir = Path(run_dir) if run_dir else default_run_dir(s, name, given)
    created = make_private_dir(run_dir)
    try:
        with RunLock(run_dir, f"cadbench run --model {s.model}"):
            try:
                return _run_locked(s, cls, name, sampling, run_dir, record_path, workers,
                                   progress, write_record, load_samples, exec_config,
                                   metric_config, backend, scheduler, rescore)
            finally:
                make_private(run_dir)
    except BaseException:
        remove_if_empty(created)   # a failed command leaves no empty run folder
        raise


def scoring_dir(run_dir: Path, protocol: str) -> Path:
    """Where a run folder's scoring files go: the folder itself for cadbench's own protocol,
    `protocol-<name>/` inside it for a peer's (so one folder's predictions can be scored
    under several protocols, each resuming on its own)."""
    return run_dir if protocol == DEFAULT_PROTOCOL else run_dir / f"protocol-{protocol}"


def _run_locked(s, cls, name, sampling, run_dir, record_path, workers, progress, write_record,
                load_samples, exec_config, metric_config, backend, scheduler,
                rescore) -> RunRecord:
    from .config import ExecConfig, MetricConfig, ScoreConfig
    from .provenance import content_hash, submission_provenance
    from .scoring import score

    if backend == "loky":  # its cadquery import overlaps loading the data and the model
        from .execute import hatchery
        hatchery.ensure_started()
    options = parse_options(cls, s.options)
    check_generate_many(cls)
    k = sampling.k if cls.stochastic else 1
    _check_run_folder(run_dir, _folder_settings(s, options, k, cls.stochastic), write=False)

    if load_samples is None:
        from .datasets import load_dataset as load_samples
    all_samples = load_samples(s.dataset, s.split, **s.dataset_options)
    samples = all_samples[:s.limit] if s.limit else all_samples
    if not samples:
        raise InputError(f"dataset {s.dataset} split {s.split}: no samples")
    # a subset, size... option makes the samples other than the split the leaderboard knows
    from .datasets.options import changes_samples
    whole_split = (len(samples) == len(all_samples)
                   and not changes_samples(s.dataset, s.dataset_options))
    # geometry files where the dataset names them (meta["reference_path"]), else programs
    from .inputs import references_from_samples
    references = references_from_samples(samples)

    loaded = load_submission(cls, s, run_dir)
    sub = loaded.submission
    name = sub.run_name()  # e.g. openai-<model>: one row per served model, not one for all
    _check_run_folder(run_dir, {**_folder_settings(s, options, k, cls.stochastic),
                                "checkpoint_sha": checkpoint_fingerprint(loaded.checkpoint)},
                      write=True)
    candidates_per_sample(sub, sampling)   # says once when K or temperature are not used
    say(f"{name}: {loaded.origin}; {len(samples)} samples x {k} candidate(s); "
        f"run folder {run_dir}")

    pred_path = run_dir / "predictions.jsonl"
    n_new, took = generate_predictions(sub, samples, sampling, pred_path, progress)
    timing = _update_timing(run_dir, n_new, took, sub.compute_used() if n_new else None)

    ids = {smp.id for smp in samples}
    preds = read_predictions(pred_path)
    order = {smp.id: i for i, smp in enumerate(samples)}
    keys = sorted((key for key in preds if key[0] in ids and key[1] < k),
                  key=lambda key: (order[key[0]], key[1]))
    predictions = [_prediction(pred_path, i, c, preds[(i, c)]) for i, c in keys]
    exec_config = replace(exec_config or ExecConfig(), result_var=sub.result_var)
    config = ScoreConfig(exec=exec_config, metrics=metric_config or MetricConfig(),
                         workers=workers, seed=s.seed)
    # Candidates must not see the data the references come from (the cache is always hidden).
    hide = [s.dataset] if Path(s.dataset).exists() else []
    hide += sorted({os.path.dirname(r.geometry.path) for r in references
                    if r.geometry is not None})
    hide += [v for v in s.dataset_options.values() if isinstance(v, str) and os.path.isabs(v)
             and os.path.exists(v)]
    score_dir = scoring_dir(run_dir, config.metrics.protocol)
    outcome = score(references, predictions, score_dir, config, progress=progress,
                    resume=not rescore,
                    backend=backend, scheduler=scheduler, hide_paths=hide,
                    labels=breakdown_labels(samples))

    infer = timing["inference_time_s"]
    n_gen = timing["n_generated"]
    meta = sub.metadata()
    meta.update({
        "spec": s.model,
        "loaded_from": loaded.origin,
        "checkpoint": _shown_path(loaded.checkpoint),
        "train_time_s": None if loaded.train_time_s is None else round(loaded.train_time_s, 3),
        "train_info": {key: v for key, v in loaded.train_info.items()
                       if key in ("dataset", "n_train", "epochs", "seed")},
        "inference_time_s": round(infer, 3),
        "images_per_s": round(n_gen / infer, 2) if infer > 0 else None,
        "n_generated": n_gen,
        "compute": per_sample_compute(timing),
    })
    base = outcome.record
    provenance = dict(base.provenance)
    provenance["dataset_hash"] = content_hash(r.identity() for r in references)
    # the submission's own code and weights: a run of uncommitted code says so
    provenance["submission"] = submission_provenance(cls, loaded.checkpoint)
    run_config = {"limit": s.limit, "samples": s.samples, "seed": s.seed,
                  "options": sub.options, "dataset_spec": s.dataset,
                  "whole_split": whole_split, "split_size": len(all_samples),
                  # what generate_many got, and the candidates it was asked for per sample
                  "sampling": sampling.to_dict(), "candidates": k,
                  "stochastic": bool(sub.stochastic)}
    if s.dataset_options:   # (absent without: older records stay comparable)
        run_config["dataset_options"] = {
            key: _shown_path(v) if isinstance(v, str) and os.path.isabs(v) else v
            for key, v in s.dataset_options.items()}
    record = replace(
        base, kind="run", model=name, dataset=dataset_label(s.dataset), split=s.split,
        provenance=provenance, submission=meta, config={**base.config, "run": run_config})
    record.save(score_dir / "record.json")
    file_record(record, s, name, score_dir, record_path, write_record, whole_split)
    return record


def file_record(record: RunRecord, s: RunSettings, name: str, run_dir: Path,
                record_path: Path | None, write_record: bool | None, whole_split: bool) -> None:
    """Write the record where the leaderboard reads it, by the rules of `run_model` (a record
    scored under a peer's protocol goes to that protocol's table, default_record_path)."""
    kept = f"record kept in {run_dir / 'record.json'} only"
    if write_record is False or (write_record is None and not whole_split
                                 and record_path is None):
        say(f"{kept} (a --limit or --no-record run; pass --record to file it)")
        return
    protocol = (record.config.get("metrics") or {}).get("protocol", DEFAULT_PROTOCOL)
    target = (Path(record_path) if record_path else
              default_record_path(s.dataset, s.split, name, protocol))
    old = _read_record(target)
    if old is not None and not whole_split and (
            old is _UNREADABLE or _whole_split(old) or old.n_references > record.n_references):
        say(f"{kept}: {target} exists and a run over {record.n_references} of the split's "
            f"samples never replaces it (run the whole split, or pass another --record PATH)")
        return
    if old is not None and same_result(old, record):
        say(f"run record {target} unchanged: this run reproduces it")
        return
    record.save(target)
    os.chmod(target, FILE_MODE)
    say(f"run record written to {target}")


_UNREADABLE: Any = object()   # stands for an existing record this cadbench cannot read


def _read_record(path: Path) -> RunRecord | None:
    """The record at `path`, or None when there is none; an unreadable one (another schema
    version, torn) is replaced like any other."""
    if not path.exists():
        return None
    try:
        return RunRecord.load(path)
    except (RecordError, TypeError, UnicodeDecodeError):
        return _UNREADABLE


def _whole_split(rec: RunRecord) -> bool:
    """Whether a record covers its whole split (records from before `whole_split` was kept:
    when no --limit was given)."""
    run = rec.config.get("run") or {}
    return bool(run["whole_split"]) if "whole_split" in run else run.get("limit") is None


# Keys of `submission` that define the model (the rest is timing and counters).
_SUBMISSION_KEYS = ("name", "class", "options", "num_parameters", "checkpoint", "stochastic")
# Metric values differ a little between two runs of the same predictions: OCC's tessellation
# of a program varies in its last bits with the warm worker's history, which moves chamfer's
# surface samples and, rarely, iou_best's pose. Measured on `cadbench run --model simple`, a
# fresh clone against a record of the same predictions: at most 3e-5 on a headline mean, 2e-4
# on a per-family mean (one iou_best of ~30 moved by 0.009), iou itself identical. Below the
# tables' third decimal; a change of the model or of the code moves far more.
METRIC_TOLERANCE = 1e-3


def same_result(old: RunRecord, new: RunRecord) -> bool:
    """Whether `new` reproduces `old`: same model, data, settings, predictions (by hash),
    statuses and metrics (within METRIC_TOLERANCE). Timestamps, timings, machine and commit
    are not compared: a record is not rewritten because the clock or the host changed."""
    if old is _UNREADABLE:
        return False
    def settings(r: RunRecord) -> dict:   # the worker count changes no number
        return {key: v for key, v in r.config.items() if key != "workers"}

    same = (old.kind, old.model, old.dataset, old.split, old.n_references, old.n_predictions,
            old.status_counts, settings(old)) == (
            new.kind, new.model, new.dataset, new.split, new.n_references, new.n_predictions,
            new.status_counts, settings(new))
    same = same and _hashes(old.provenance) == _hashes(new.provenance)
    same = same and all(old.submission.get(key) == new.submission.get(key)
                        for key in _SUBMISSION_KEYS)
    return same and _close(old.metrics, new.metrics)


def _hashes(d: dict, prefix: str = "") -> dict[str, Any]:
    """Every `*_hash` / `*_sha` value in a nested dict (data, predictions, the submission's
    source and checkpoint), by its dotted path."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_hashes(value, f"{prefix}{key}."))
        elif key.endswith(("_hash", "_sha")):
            out[prefix + key] = value
    return out


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[key], b[key]) for key in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= METRIC_TOLERANCE
    return a == b

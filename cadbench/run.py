"""`cadbench run`: load a submission -> generate predictions -> score them -> write the record.

The run folder holds everything a run made, so an interrupted run resumes where it stopped:

    run.json            the settings the folder was made with (a resume must match them)
    checkpoint/         a submission fitted on the fly (no committed checkpoint existed)
    predictions.jsonl   {id, candidate, code} rows, appended batch by batch
    timing.json         generation time accumulated over resumed invocations
    results.jsonl       scored candidates (scoring resumes from it)
    summary.json        the scoring record; record.json: the run record
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from .errors import CadbenchError, InputError
from .records import JsonlAppender, RunRecord, atomic_write_text, read_jsonl
from .submissions import Submission, checkpoint_exists, get_submission

TRAIN_INFO_FILE = "train_info.json"   # written next to a checkpoint by `cadbench train`
DEFAULT_BATCH_SIZE = 16


@dataclass
class RunSettings:
    """Everything that decides what a run generates (a resumed run must match it)."""

    model: str
    dataset: str = "synth"
    split: str = "test"
    limit: int | None = None
    samples: int = 1                   # candidates per id (best-of-N / pass@k when > 1)
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None      # None: the submission's default checkpoint


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


def default_run_dir(s: RunSettings, model_name: str) -> Path:
    parts = [model_name, dataset_label(s.dataset), s.split]
    if s.limit:
        parts.append(f"n{s.limit}")
    if s.samples > 1:
        parts.append(f"k{s.samples}")
    return Path("runs") / "-".join(parts)


def default_record_path(dataset: str, split: str, model_name: str) -> Path:
    base = repo_root() or Path.cwd()
    return base / "leaderboards" / dataset_label(dataset) / split / f"{model_name}.json"


# -- loading a submission ------------------------------------------------------------------

def read_train_info(ckpt: Path) -> dict:
    path = Path(ckpt) / TRAIN_INFO_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None


def load_training_data(dataset: str, limit: int | None = None):
    """(train, val) samples of a dataset; val is None when the dataset has no val split."""
    from .datasets import load_dataset
    train = load_dataset(dataset, "train")
    if limit:
        train = train[:limit]
    try:
        val = load_dataset(dataset, "val")
    except CadbenchError:
        val = None
    return train, val


def fit_submission(sub: Submission, dataset: str, epochs: int | None, seed: int,
                   limit: int | None = None) -> tuple[float, int]:
    """Fit on the dataset's train split (val when there is one): (seconds, training samples)."""
    train, val = load_training_data(dataset, limit)
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
        if checkpoint_exists(ckpt):
            sub = cls.load(Path(ckpt), **s.options)
            info = read_train_info(ckpt)
            train_time = info.get("train_time_s", sub.metadata().get("train_time_s"))
            return LoadedSubmission(sub, f"checkpoint {_shown_path(ckpt)}", train_time,
                                    str(ckpt), info)
    sub = cls(**s.options)
    if not cls.needs_training:
        return LoadedSubmission(sub, "no training", None, None)
    took, n_train = fit_submission(sub, s.dataset, None, s.seed)
    ckpt = run_dir / "checkpoint"
    sub.save(ckpt)  # so a resumed run reuses this fit
    write_train_info(ckpt, sub, s.dataset, took, None, s.seed, n_train)
    say(f"fitted {sub.name} in {took:.1f} s (saved to {ckpt})")
    return LoadedSubmission(sub, "fitted now", took, str(ckpt), read_train_info(ckpt))


# -- generation ----------------------------------------------------------------------------

def read_predictions(path: Path) -> dict[tuple[str, int], str]:
    if not path.exists():
        return {}
    out = {}
    for lineno, obj in read_jsonl(path, tolerate_torn_tail=True):
        try:
            out[(str(obj["id"]), int(obj["candidate"]))] = str(obj["code"])
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{path}:{lineno}: expected {{id, candidate, code}}") from None
    return out


def _blind(samples):
    """Copies without the ground-truth program, so a submission cannot read the answer."""
    return [replace(smp, code="") for smp in samples]


def _check_outputs(sub: Submission, batch, outputs, k: int) -> list[list[str]]:
    if k == 1 and isinstance(outputs, list) and all(isinstance(o, str) for o in outputs):
        outputs = [[o] for o in outputs]
    if not isinstance(outputs, list) or len(outputs) != len(batch):
        n = len(outputs) if isinstance(outputs, list) else type(outputs).__name__
        raise CadbenchError(f"submission {sub.name!r} returned {n} outputs for a batch of "
                            f"{len(batch)} samples (first id {batch[0].id})")
    for smp, cands in zip(batch, outputs):
        if (not isinstance(cands, list) or len(cands) != k
                or not all(isinstance(c, str) for c in cands)):
            raise CadbenchError(f"submission {sub.name!r}: sample {smp.id}: expected {k} "
                                f"program string(s), got {cands!r:.120}")
    return outputs


def generate_predictions(sub: Submission, samples, k: int, seed: int, out_path: Path,
                         progress: bool = True) -> tuple[int, float]:
    """Generate what `out_path` lacks, appending batch by batch; returns (n_new, seconds)."""
    from tqdm import tqdm
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
    with JsonlAppender(out_path) as out:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            given = batch if sub.uses_ground_truth else _blind(batch)
            t0 = time.perf_counter()
            if k == 1:
                raw = sub.generate(given)
            else:
                raw = sub.generate_many(given, k, seed + start)
            elapsed += time.perf_counter() - t0
            for smp, cands in zip(batch, _check_outputs(sub, batch, raw, k)):
                for c, code in enumerate(cands):
                    if (smp.id, c) not in done:
                        out.write(json.dumps({"id": smp.id, "candidate": c, "code": code}))
            bar.update(len(batch))
    bar.close()
    return len(todo), elapsed


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
    run.json, written once the submission has loaded, so a typo in an option does not lock the
    folder."""
    path = run_dir / "run.json"
    if path.exists():
        theirs = json.loads(path.read_text())
        diff = sorted(k for k in mine if theirs.get(k) != mine[k])
        if diff:
            raise InputError(f"{run_dir}: made by a run with other settings ({', '.join(diff)} "
                             f"differ); pass another --out or delete the folder")
    elif write:
        atomic_write_text(path, json.dumps(mine, indent=2, sort_keys=True) + "\n")


def _update_timing(run_dir: Path, n_new: int, seconds: float) -> dict:
    path = run_dir / "timing.json"
    t = json.loads(path.read_text()) if path.exists() else {"inference_time_s": 0.0,
                                                            "n_generated": 0}
    t["inference_time_s"] = round(t["inference_time_s"] + seconds, 6)
    t["n_generated"] += n_new
    atomic_write_text(path, json.dumps(t, indent=2) + "\n")
    return t


def run_model(s: RunSettings, run_dir: Path | None = None, record_path: Path | None = None,
              workers: int = 2, progress: bool = True, write_record: bool | None = None,
              load_samples: Callable | None = None) -> RunRecord:
    """Run a submission on a dataset split end to end and return its RunRecord.

    `write_record`: write the record to `record_path` (default: the leaderboard's file);
    None means "when the run covers the whole split" (a --limit run stays in its folder).
    """
    from .config import ExecConfig, ScoreConfig
    from .provenance import content_hash
    from .scoring import score

    cls = get_submission(s.model)
    name = cls.name or cls.__name__
    run_dir = Path(run_dir) if run_dir else default_run_dir(s, name)
    run_dir.mkdir(parents=True, exist_ok=True)
    _check_run_folder(run_dir, asdict(s), write=False)

    if load_samples is None:
        from .datasets import load_dataset as load_samples
    samples = load_samples(s.dataset, s.split)
    if s.limit:
        samples = samples[:s.limit]
    if not samples:
        raise InputError(f"dataset {s.dataset} split {s.split}: no samples")

    loaded = load_submission(cls, s, run_dir)
    sub = loaded.submission
    _check_run_folder(run_dir, {**asdict(s),
                                "checkpoint_sha": checkpoint_fingerprint(loaded.checkpoint)},
                      write=True)
    say(f"{name}: {loaded.origin}; {len(samples)} samples x {s.samples} candidate(s); "
        f"run folder {run_dir}")

    pred_path = run_dir / "predictions.jsonl"
    n_new, took = generate_predictions(sub, samples, s.samples, s.seed, pred_path, progress)
    timing = _update_timing(run_dir, n_new, took)

    ids = {smp.id for smp in samples}
    preds = read_predictions(pred_path)
    order = {smp.id: i for i, smp in enumerate(samples)}
    keys = sorted((k for k in preds if k[0] in ids and k[1] < s.samples),
                  key=lambda k: (order[k[0]], k[1]))
    references = [(smp.id, smp.code) for smp in samples]
    predictions = [(i, preds[(i, c)]) for i, c in keys]
    config = ScoreConfig(exec=ExecConfig(result_var=sub.result_var), workers=workers,
                         seed=s.seed)
    # Candidates must not see the data the references come from (the cache is always hidden).
    hide = [s.dataset] if Path(s.dataset).exists() else []
    outcome = score(references, predictions, run_dir, config, progress=progress, resume=True,
                    hide_paths=hide)

    infer = timing["inference_time_s"]
    n_gen = timing["n_generated"]
    meta = sub.metadata()
    meta.update({
        "spec": s.model,
        "loaded_from": loaded.origin,
        "checkpoint": _shown_path(loaded.checkpoint),
        "train_time_s": None if loaded.train_time_s is None else round(loaded.train_time_s, 3),
        "train_info": {k: v for k, v in loaded.train_info.items()
                       if k in ("dataset", "n_train", "epochs", "seed")},
        "inference_time_s": round(infer, 3),
        "images_per_s": round(n_gen / infer, 2) if infer > 0 else None,
    })
    base = outcome.record
    provenance = dict(base.provenance)
    provenance["dataset_hash"] = content_hash(references)
    record = replace(
        base, kind="run", model=name, dataset=dataset_label(s.dataset), split=s.split,
        provenance=provenance, submission=meta,
        config={**base.config, "run": {"limit": s.limit, "samples": s.samples,
                                       "seed": s.seed, "options": sub.options,
                                       "dataset_spec": s.dataset}})
    record.save(run_dir / "record.json")
    if write_record is None:
        write_record = record_path is not None or not s.limit
    if write_record:
        target = Path(record_path) if record_path else default_record_path(s.dataset, s.split,
                                                                            name)
        record.save(target)
        say(f"run record written to {target}")
    else:
        say(f"record kept in {run_dir / 'record.json'} only (a --limit or --no-record run; "
            f"pass --record PATH to file it)")
    return record

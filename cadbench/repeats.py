"""Repeated runs: one stochastic submission run R times (seeds S, S+1, ..., S+R-1), combined
into one record whose numbers are the mean over the runs, with their standard deviation.

    cadbench run --model vit_gpt2 --repeats 3

runs `run_model` once per seed, each in its own run folder (resumable like any run; the
default folders are the single-seed ones, `runs/<model>-...[-seedS]`, so a seed-0 run done
before is reused, not redone), then writes the combined record. Its `metrics` hold, per summary
key, the mean over the runs (bootstrap CIs are left out: a CI of one run says nothing about a
mean over several), `status_counts` and `n_predictions` are totals over the runs, and
`repeats` is a `RepeatSummary`: per key the mean, the sample standard deviation (ddof=1, as
`statistics.stdev` and CADBench's r1-r3 tables) and each run's value, the same per breakdown
group, and each run's seed, folder and predictions hash. A key a run lacks, or a value that is
not finite (an infinite Chamfer median), has no mean or std: it is never averaged over part of
the runs.

A deterministic submission is refused for R > 1: its runs would be identical, and a std of 0
would claim a stability that was never measured.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError

if TYPE_CHECKING:
    from .records import RunRecord
    from .run import RunSettings

DDOF = 1                   # sample standard deviation


@dataclass
class MetricStats:
    """One summary key over the runs: mean, sample std, and each run's value (None where a run
    has no finite value; then mean and std are None too)."""

    mean: float | None
    std: float | None
    values: list[float | None]

    @classmethod
    def of(cls, values: list[Any]) -> "MetricStats":
        vals = [_finite(v) for v in values]
        if any(v is None for v in vals) or not vals:
            return cls(None, None, vals)
        nums = [float(v) for v in vals if v is not None]
        std = statistics.stdev(nums) if len(nums) > 1 else None
        return cls(round(statistics.fmean(nums), 6), None if std is None else round(std, 6),
                   vals)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "values": list(self.values)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MetricStats":
        return cls(d.get("mean"), d.get("std"), list(d.get("values") or []))


@dataclass
class RepeatRun:
    """One of the runs: its seed, its run folder and the hash of its predictions."""

    seed: int
    run_dir: str
    predictions_hash: str | None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RepeatRun":
        return cls(int(d["seed"]), str(d["run_dir"]), d.get("predictions_hash"))


@dataclass
class RepeatSummary:
    """What a record combined from repeated runs adds: per summary key the mean, std and
    values over the runs (`metrics`), the same per breakdown group (`by` -> field -> value ->
    key), and the runs themselves."""

    n_runs: int
    runs: list[RepeatRun]
    metrics: dict[str, MetricStats]
    by: dict[str, dict[str, dict[str, MetricStats]]] = field(default_factory=dict)
    ddof: int = DDOF

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.runs]

    def stats(self, key: str, group: tuple[str, str] | None = None) -> MetricStats | None:
        """The stats of one summary key, overall or in one breakdown group (field, value)."""
        if group is None:
            return self.metrics.get(key)
        return self.by.get(group[0], {}).get(group[1], {}).get(key)

    def describe(self) -> str:
        """'3 runs (seeds 0, 1, 2), mean ± sample std'."""
        return (f"{self.n_runs} runs (seeds {', '.join(map(str, self.seeds))}), "
                f"mean ± sample std (ddof={self.ddof})")

    def to_dict(self) -> dict[str, Any]:
        return {"n_runs": self.n_runs, "ddof": self.ddof,
                "runs": [{"seed": r.seed, "run_dir": r.run_dir,
                          "predictions_hash": r.predictions_hash} for r in self.runs],
                "metrics": {k: s.to_dict() for k, s in self.metrics.items()},
                "by": {f: {v: {k: s.to_dict() for k, s in g.items()} for v, g in vals.items()}
                       for f, vals in self.by.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RepeatSummary":
        return cls(n_runs=int(d["n_runs"]), ddof=int(d.get("ddof", DDOF)),
                   runs=[RepeatRun.from_dict(r) for r in d.get("runs") or []],
                   metrics={k: MetricStats.from_dict(s) for k, s in
                            (d.get("metrics") or {}).items()},
                   by={f: {v: {k: MetricStats.from_dict(s) for k, s in g.items()}
                           for v, g in vals.items()} for f, vals in (d.get("by") or {}).items()})


def format_stats(stats: MetricStats, fmt) -> str:
    """'0.451 ± 0.004', each half written by `fmt` (a value -> text function)."""
    if stats.mean is None:
        return "–"
    return f"{fmt(stats.mean)} ± {fmt(stats.std) if stats.std is not None else '–'}"


# -- combining records ---------------------------------------------------------------------

def _finite(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _combine_summaries(summaries: list[dict]) -> tuple[dict, dict[str, MetricStats]]:
    """(mean summary, stats per key) of several `aggregate.summarize` outputs (without `by`).
    Numbers: the mean; CIs (lists) are left out; anything else kept when every run agrees."""
    keys = [k for k in summaries[0] if k != "by"]
    keys += sorted({k for s in summaries[1:] for k in s if k != "by"} - set(keys))
    means: dict[str, Any] = {}
    stats: dict[str, MetricStats] = {}
    for key in keys:
        values = [s.get(key) for s in summaries]
        if any(_is_number(v) for v in values):
            st = MetricStats.of(values)
            stats[key] = st
            # the same in every run (n, counts): kept as it is, an int stays an int
            same = st.mean is not None and all(v == values[0] for v in values)
            means[key] = values[0] if same else st.mean
        elif all(v == values[0] for v in values) and not isinstance(values[0], list):
            means[key] = values[0]
    return means, stats


def _sum_counts(dicts: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + int(v)
    return dict(sorted(out.items()))


def combined_predictions_hash(hashes: list[str | None]) -> str:
    """One hash for the runs' predictions together (a record that reproduces another has
    the same one)."""
    blob = "\0".join(h or "-" for h in hashes).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def combine_records(records: list["RunRecord"], run_dirs: list[str]) -> "RunRecord":
    """The record of several runs of one submission on one split (in seed order)."""
    if len(records) < 2:
        raise InputError("combining runs needs at least 2 records")
    first = records[0]
    for r, where in zip(records[1:], run_dirs[1:]):
        theirs = (r.model, r.dataset, r.split, r.n_references)
        mine = (first.model, first.dataset, first.split, first.n_references)
        if theirs != mine:
            raise InputError(f"{where}: not a repeat of {run_dirs[0]} (model, dataset, split, "
                             f"references {theirs} vs {mine})")
    summaries = [r.metrics for r in records]
    means, stats = _combine_summaries(summaries)
    by_means: dict[str, dict[str, dict]] = {}
    by_stats: dict[str, dict[str, dict[str, MetricStats]]] = {}
    for f in sorted({f for s in summaries for f in (s.get("by") or {})}):
        values = sorted({v for s in summaries for v in (s.get("by") or {}).get(f, {})})
        for v in values:
            groups = [((s.get("by") or {}).get(f) or {}).get(v) or {} for s in summaries]
            m, st = _combine_summaries(groups)
            by_means.setdefault(f, {})[v] = m
            by_stats.setdefault(f, {})[v] = st
    if by_means:
        means["by"] = by_means

    seeds = [int(((r.config.get("run") or {}).get("seed", r.config.get("seed", 0))))
             for r in records]
    runs = [RepeatRun(seed, d, r.provenance.get("predictions_hash"))
            for seed, d, r in zip(seeds, run_dirs, records)]
    summary = RepeatSummary(n_runs=len(records), runs=runs, metrics=stats, by=by_stats)

    config = dict(first.config)
    run = dict(config.get("run") or {})
    run.update({"repeats": len(records), "seeds": seeds})
    config["run"] = run
    provenance = dict(first.provenance)
    provenance["predictions_hash"] = combined_predictions_hash([r.predictions_hash
                                                                for r in runs])
    provenance["repeats"] = [{"seed": r.seed, "run_dir": r.run_dir,
                              "predictions_hash": r.predictions_hash} for r in runs]
    provenance["timing"] = {"runs": [r.provenance.get("timing") for r in records]}
    submission = dict(first.submission)
    infer = sum(float(r.submission.get("inference_time_s") or 0) for r in records)
    n_gen = sum(int(r.submission.get("n_generated") or 0) for r in records)
    if "inference_time_s" in submission:
        submission.update({"inference_time_s": round(infer, 3), "n_generated": n_gen,
                           "images_per_s": round(n_gen / infer, 2) if infer > 0 else None})
        compute, _ = _combine_summaries([r.submission.get("compute") or {} for r in records])
        submission["compute"] = compute
    return replace(first, metrics=means, config=config, provenance=provenance,
                   submission=submission,
                   n_predictions=sum(r.n_predictions for r in records),
                   status_counts=_sum_counts([r.status_counts for r in records]),
                   status_counts_all=_sum_counts([r.status_counts_all for r in records]),
                   created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   repeats=summary)


# -- running the repeats -------------------------------------------------------------------

def repeat_dirs(s: "RunSettings", repeats: int, out: Path | None) -> tuple[Path, list[Path]]:
    """(the folder the combined record is kept in, one run folder per repeat).

    With --out DIR: DIR/record.json and DIR/seed<S>/ per run. Without: each run in its own
    default folder (the one a single `--seed S` run uses), the combined record in the seed-S
    folder's name plus `-r<R>`.
    """
    from .run import default_run_dir
    from .submissions import get_submission, parse_options

    seeds = [s.seed + i for i in range(repeats)]
    if out is not None:
        out = Path(out)
        return out, [out / f"seed{seed}" for seed in seeds]
    cls = get_submission(s.model)
    name = cls.name or cls.__name__
    given = {k: v for k, v in parse_options(cls, s.options).items() if k in s.options}
    dirs = [default_run_dir(replace(s, seed=seed), name, given) for seed in seeds]
    base = dirs[0]
    return base.with_name(base.name + f"-r{repeats}"), dirs


def check_repeatable(s: "RunSettings", repeats: int) -> None:
    """Refuse what repeats cannot measure: R < 1, or R > 1 of a deterministic submission."""
    from .submissions import get_submission

    if repeats < 1:
        raise InputError(f"--repeats {repeats}: must be at least 1")
    if repeats == 1:
        return
    cls = get_submission(s.model)
    if not cls.stochastic:
        raise InputError(
            f"--repeats {repeats}: {cls.name or cls.__name__} is deterministic (it does not "
            f"sample, `stochastic = False`): its {repeats} runs would be identical and a std "
            f"of 0 would claim a stability that was not measured; run it once (no --repeats)")


def run_repeats(s: "RunSettings", run_dir: Path | None = None, repeats: int = 1,
                record_path: Path | None = None, write_record: bool | None = None,
                progress: bool = True, **run_kwargs) -> "RunRecord":
    """`run_model` once per seed s.seed, ..., s.seed+repeats-1, then the combined record, filed
    by `file_record`'s rules (a whole-split run files it at the leaderboard's path unless it
    reproduces the record there; a partial run keeps it in its folder). repeats == 1 is a plain
    `run_model`. An interrupted command resumes: finished runs are read back, the one cut
    short continues where it stopped."""
    from .protocols import DEFAULT_PROTOCOL
    from .records import atomic_write_text
    from .run import _shown_path, file_record, run_model, say, scoring_dir
    from .runlock import RunLock, make_private, make_private_dir

    check_repeatable(s, repeats)
    if repeats == 1:
        return run_model(s, run_dir=run_dir, record_path=record_path,
                         write_record=write_record, progress=progress, **run_kwargs)
    home, dirs = repeat_dirs(s, repeats, run_dir)
    records = []
    for i, folder in enumerate(dirs):
        say(f"repeat {i + 1} of {repeats}: seed {s.seed + i}, run folder {folder} (its own "
            f"record stays there; the combined record of the {repeats} runs comes last)")
        records.append(run_model(replace(s, seed=s.seed + i), run_dir=folder,
                                 write_record=False, progress=progress, **run_kwargs))
    combined = combine_records(records, [_shown_path(str(d)) or str(d) for d in dirs])
    # Under a peer's --protocol the record goes with that protocol's files (and, filed, to
    # its own table: run.default_record_path), as `run_model` does.
    protocol = (combined.config.get("metrics") or {}).get("protocol", DEFAULT_PROTOCOL)
    keep = scoring_dir(home, protocol)
    make_private_dir(keep)
    with RunLock(home, f"cadbench run --model {s.model} --repeats {repeats}"):
        atomic_write_text(keep / "record.json", combined.to_json() + "\n")
        whole = bool((combined.config.get("run") or {}).get("whole_split"))
        assert combined.model is not None
        file_record(combined, s, combined.model, keep, record_path, write_record, whole)
        make_private(keep)
    assert combined.repeats is not None
    say(f"combined {combined.repeats.describe()}: {keep / 'record.json'}")
    return combined

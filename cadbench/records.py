"""Result schema: per-sample results and run records, JSONL I/O, resume.

Records are typed dataclasses serialised to JSON with a `schema_version`; readers accept the
versions they know and reject others with a clear message.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import InputError
from .repeats import RepeatSummary

# 2: metrics on fused, validated solids (reference-anchored iou, no abstention), faults apart,
# copies of the reference counted. Version-1 results are not comparable and are not read.
SCHEMA_VERSION = 2
# 3: a run record combined from repeated runs (`repeats`, see repeats.py): its `metrics` are
# means over the runs, without CIs. Only such records are written as 3, so a cadbench that
# predates them refuses them ("upgrade cadbench") instead of reading means as one run's
# numbers; every other record stays 2, byte for byte, and readers take both.
REPEATS_SCHEMA_VERSION = 3
KNOWN_SCHEMA_VERSIONS = {2, 3}

class RecordError(InputError, ValueError):
    """A record file that cannot be read: names the file and line."""


@dataclass
class SampleResult:
    """The score of one candidate program against one reference."""

    id: str
    candidate: int = 0                 # index among several predictions for the same id
    status: str = "harness_error"
    error: str | None = None
    picked_by: str | None = None       # which result-variable rule found the solid
    # metric name -> value; also `iou_best_rotation` (label) and `metric_errors` (reasons)
    metrics: dict[str, Any] = field(default_factory=dict)
    exec_time_s: float | None = None   # candidate execution in the sandbox
    score_time_s: float | None = None  # metric computation on the trusted side
    code_sha: str | None = None        # hash of the scored code: resume re-scores changed code
    # "exact" / "normalized" when the prediction reproduces the reference program (contamination)
    copies_reference: str | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def key(self) -> tuple[str, int]:
        return (self.id, self.candidate)

    def to_json(self) -> str:
        return json.dumps(_finite(asdict(self)), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SampleResult":
        _check_version(d)
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class RunRecord:
    """One scoring or model run: what was measured, on what, with which code."""

    kind: str                                   # "score" or "run"
    model: str | None
    dataset: str | None
    split: str | None
    n_references: int
    n_predictions: int
    metrics: dict[str, Any]                      # aggregate.summarize output
    status_counts: dict[str, int]
    config: dict[str, Any]
    provenance: dict[str, Any]                   # versions, git commit, machine, hashes
    submission: dict[str, Any] = field(default_factory=dict)  # params, deps, train/infer time
    # References given, and those that could not be run (id -> reason): never dropped silently
    n_references_given: int | None = None
    reference_faults: dict[str, str] = field(default_factory=dict)
    status_counts_all: dict[str, int] = field(default_factory=dict)  # over every candidate
    created: str = ""
    schema_version: int = SCHEMA_VERSION
    # Repeated runs combined (`cadbench run --repeats R`): mean, std and values per metric,
    # and the runs; `metrics` then holds the means. None for a single run (and not written).
    repeats: RepeatSummary | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.repeats is None:
            del d["repeats"]
        else:
            d["repeats"] = self.repeats.to_dict()
            d["schema_version"] = max(self.schema_version, REPEATS_SCHEMA_VERSION)
        return d

    def to_json(self) -> str:
        return json.dumps(_finite(self.to_dict()), sort_keys=True, indent=2)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "<record>") -> "RunRecord":
        _check_version(d, source)
        names = {f.name for f in fields(cls)}
        missing = [f.name for f in fields(cls) if f.name not in d and f.name in
                   ("kind", "metrics", "status_counts")]
        if missing:
            raise RecordError(f"{source}: run record lacks {', '.join(missing)}")
        kw = {k: v for k, v in d.items() if k in names}
        if kw.get("repeats") is not None:
            try:
                kw["repeats"] = RepeatSummary.from_dict(kw["repeats"])
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise RecordError(f"{source}: `repeats` is not a repeat summary ({e!r})"
                                  ) from None
        return cls(**kw)

    def save(self, path: str | Path) -> None:
        atomic_write_text(Path(path), self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "RunRecord":
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise RecordError(f"{path}: not valid JSON ({e})") from None
        return cls.from_dict(d, str(path))


def _check_version(d: dict, source: str = "<record>") -> None:
    v = d.get("schema_version", SCHEMA_VERSION)
    if v not in KNOWN_SCHEMA_VERSIONS:
        if isinstance(v, int) and v < SCHEMA_VERSION:
            raise RecordError(f"{source}: written by an older cadbench (schema_version {v}); "
                              f"its numbers do not compare with schema {SCHEMA_VERSION}: "
                              f"score again (--no-resume, or a new --out folder)")
        raise RecordError(f"{source}: schema_version {v} is not one this cadbench reads "
                          f"({sorted(KNOWN_SCHEMA_VERSIONS)}); upgrade cadbench")


def _finite(obj):
    """JSON has no NaN/Infinity: write them as null so files stay standard JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def round_floats(d: dict, digits: int) -> dict:
    """A copy of d with its float values rounded: summaries and per-sample metrics stay
    byte-identical across runs despite last-bit noise (summation order, tessellation)."""
    return {k: round(v, digits) if isinstance(v, float) else v for k, v in d.items()}


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


# A line longer than this is refused before it is decoded (a predictions file is user input:
# one 10 GB line must not take the harness's memory). Programs are kilobytes.
MAX_LINE_BYTES = 16 * 1024 * 1024


def read_jsonl(path: str | Path, tolerate_torn_tail: bool = False) -> Iterator[tuple[int, dict]]:
    """Yield (line_number, object). A malformed line raises RecordError naming file and line:
    not UTF-8, not JSON, nested too deep to parse, over MAX_LINE_BYTES, or not an object.

    With tolerate_torn_tail, a malformed *last* line (a write cut short by a kill) is skipped.
    """
    path = Path(path)
    if not path.exists():
        raise RecordError(f"{path}: no such file")
    if path.is_dir():
        raise RecordError(f"{path}: a folder, not a JSONL file")
    with open(path, "rb") as fh:
        lineno, raw = 0, _read_line(fh)
        while raw:
            lineno += 1
            # over the cap without its end: an error, whatever follows (never "torn")
            too_long = len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n")
            following = b"" if too_long else _read_line(fh)
            try:
                obj = _parse_line(raw, path, lineno)
            except RecordError:
                if (tolerate_torn_tail and not following and not too_long
                        and not raw.endswith(b"\n")):
                    return
                raise
            if obj is not None:
                yield lineno, obj
            raw = following


def _read_line(fh) -> bytes:
    # Reads at most one byte past the cap, so an endless line is never held in memory.
    return fh.readline(MAX_LINE_BYTES + 1)


def _parse_line(raw: bytes, path: Path, lineno: int) -> dict | None:
    """One JSONL line -> its object (None for a blank line), or a RecordError naming it."""
    where = f"{path}:{lineno}"
    if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
        raise RecordError(f"{where}: line longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB; "
                          f"each line must be one JSON object")
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RecordError(f"{where}: not valid UTF-8 (byte {e.start} of the line)") from None
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except RecursionError:
        raise RecordError(f"{where}: JSON nested too deeply to read") from None
    except ValueError as e:  # JSONDecodeError, and ints over Python's digit limit
        raise RecordError(f"{where}: not valid JSON ({getattr(e, 'msg', e)})") from None
    if not isinstance(obj, dict):
        raise RecordError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return obj


class JsonlAppender:
    """Appends one JSON line per result and flushes it to disk, so a crash loses nothing scored."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _drop_torn_tail(self.path)
        self._fh = open(self.path, "a", encoding="utf-8")

    def write(self, line: str) -> None:
        self._fh.write(line.rstrip("\n") + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _drop_torn_tail(path: Path) -> None:
    """A kill mid-write can leave a partial last line: cut it before appending."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    cut = data.rfind(b"\n") + 1
    with open(path, "r+b") as fh:
        fh.truncate(cut)


def load_results(path: str | Path) -> list[SampleResult]:
    """Read results.jsonl; for duplicate keys the last line wins (a resumed run rewrote it)."""
    path = Path(path)
    if not path.exists():
        return []
    by_key: dict[tuple[str, int], SampleResult] = {}
    for lineno, obj in read_jsonl(path, tolerate_torn_tail=True):
        try:
            r = SampleResult.from_dict(obj)
        except TypeError as e:
            raise RecordError(f"{path}:{lineno}: not a sample result ({e})") from None
        by_key[r.key] = r
    return list(by_key.values())


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    text = "".join(json.dumps(_finite(r), sort_keys=True) + "\n" for r in rows)
    atomic_write_text(Path(path), text)

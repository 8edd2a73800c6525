"""Leaderboards: run records under `leaderboards/` -> markdown tables -> docs between markers.

Records live at `leaderboards/<dataset>/<split>/<model>.json` (written by `cadbench run`);
a run scored under a peer's protocol (`cadbench run --protocol P`) at
`leaderboards/<dataset>/<split>/protocol-<P>/<model>.json`, shown in that protocol's own
table, in the peer's statistics and units.
`render_tables` is a pure function of those files, so a test can regenerate the tables in
memory and fail when the committed docs are stale.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from .errors import InputError
from .metrics import HEADLINE, ci_key, format_value, summary_key
from .records import RunRecord, atomic_write_text
from .repeats import RepeatSummary, format_stats

START_MARKER = "<!-- leaderboard:start -->"
END_MARKER = "<!-- leaderboard:end -->"

# The metric columns, as (column, metric, aggregate): read off the metric specs by key.
METRIC_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("IoU (all)", "iou", "all_mean"),
    ("IoU (valid)", "iou", "valid_mean"),
    ("IoU best", "iou_best", "all_mean"),
    ("exact IoU", "iou_exact", "all_mean"),
    ("Chamfer (med.)", "chamfer", "valid_median"),
)
COLUMNS = ["Model", "VSR", *(c for c, _, _ in METRIC_COLUMNS), "Params", "Train time",
           "Gen. s/sample", "Dependencies"]


def find_records(root: Path) -> list[tuple[Path, RunRecord]]:
    """Every run record under `root`, in a stable order."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no leaderboards folder")
    out = []
    for path in sorted(root.rglob("*.json")):
        record = RunRecord.load(path)
        if record.kind != "run":
            continue  # a scoring record dropped here is not a model's row
        out.append((path, record))
    return out


def records_frame(records: list[tuple[Path, RunRecord]]):
    """One row per record: the numbers the tables show (pandas DataFrame)."""
    import pandas as pd

    rows = []
    for path, r in records:
        m, sub = r.metrics, r.submission or {}
        run = (r.config or {}).get("run") or {}
        row = {
            "dataset": r.dataset or path.parent.parent.name,
            "split": r.split or path.parent.name,
            "model": r.model or path.stem,
            "oracle": bool(sub.get("uses_ground_truth")),
            "n": m.get("n", r.n_references),
            "n_given": r.n_references_given or m.get("n", r.n_references),
            "limit": run.get("limit"),
            "n_faults": m.get("n_faults", 0),
            "n_copies": m.get("n_copies_normalized", 0),
            "vsr": m.get("vsr"),
            "iou_all_ci": m.get(ci_key("iou", "all_mean")),
            "params": sub.get("num_parameters"),
            "train_time_s": sub.get("train_time_s"),
            "gen_s_per_sample": _per_sample(sub),
            "card": sub.get("card") or {},
            "compute": sub.get("compute") or {},
            "dependencies": sub.get("dependencies") or [],
            "by": m.get("by") or {},
            "git_commit": (r.provenance.get("git") or {}).get("commit"),
            "repeats": r.repeats,       # a RepeatSummary: the cells show mean ± std
        }
        for _, metric, agg in METRIC_COLUMNS:
            row[summary_key(metric, agg)] = m.get(summary_key(metric, agg))
            row[f"{metric}_n_references"] = m.get(f"{metric}_n_references")
        rows.append(row)
    return pd.DataFrame(rows)


def _per_sample(sub: dict) -> float | None:
    infer, n = sub.get("inference_time_s"), sub.get("n_generated")
    if infer is None:
        return None
    if not n:
        return None
    return float(infer) / float(n)


def _num(v, digits: int = 3) -> str:
    return "–" if v is None or v != v else f"{v:.{digits}f}"


def human_count(n) -> str:
    if n is None or n != n:
        return "–"
    n = int(n)
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def human_duration(s) -> str:
    if s is None or s != s:
        return "–"
    if s < 1:
        return "< 1 s"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def _repeats(row) -> RepeatSummary | None:
    reps = getattr(row, "repeats", None)
    return reps if isinstance(reps, RepeatSummary) else None


def _stats_cell(row, key: str, fmt, group: tuple[str, str] | None = None) -> str | None:
    """`mean ± std` of a repeats record's key (overall or in a breakdown group), else None."""
    reps = _repeats(row)
    stats = reps.stats(key, group) if reps else None
    return None if stats is None else format_stats(stats, fmt)


def _metric_cell(row, metric: str, agg: str) -> str:
    value = getattr(row, summary_key(metric, agg))
    text = "–" if value is None or value != value else format_value(metric, value)
    text = _stats_cell(row, summary_key(metric, agg),
                       lambda v: format_value(metric, v)) or text
    if (metric, agg) == HEADLINE and row.iou_all_ci:
        lo, hi = row.iou_all_ci
        text += f" [{lo:.3f}, {hi:.3f}]"
    n_of = getattr(row, f"{metric}_n_references")
    if n_of is not None and n_of == n_of and int(n_of) != int(row.n):
        text += f" ({int(n_of)} of {int(row.n)})"
    return text


def _is_partial(row, full: int) -> bool:
    limit = row.limit
    limited = limit is not None and limit == limit and bool(limit)  # NaN: no limit
    return limited or int(row.n) < full


def render_table(df) -> str:
    """A markdown table of one dataset/split, best headline metric first."""
    from tabulate import tabulate

    head = summary_key(*HEADLINE)
    df = df.sort_values([head, "model"], ascending=[False, True], na_position="last")
    rows = []
    for r in df.itertuples():
        gen = r.gen_s_per_sample
        reps = _repeats(r)
        name = f"{r.model} (oracle)" if r.oracle else r.model
        rows.append([f"{name} ({reps.n_runs} runs)" if reps else name,
                     _stats_cell(r, "vsr", _num) or _num(r.vsr),
                     *(_metric_cell(r, metric, agg) for _, metric, agg in METRIC_COLUMNS),
                     human_count(r.params), human_duration(r.train_time_s),
                     "–" if gen is None or gen != gen else f"{gen:.3g}",
                     ", ".join(r.dependencies) or "none"])
    return tabulate(rows, headers=COLUMNS, tablefmt="github", disable_numparse=True)


def render_notes(df) -> str:
    """Per row: the model card, test-time compute, and anything that qualifies its numbers
    (harness faults, references that could not be run, copies of the reference)."""
    lines = []
    for r in df.sort_values("model").itertuples():
        bits = []
        card = r.card or {}
        if card:
            bits.append("; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in card.items() if v))
        compute = {k: v for k, v in (r.compute or {}).items() if k != "generation_s"}
        if compute:
            bits.append("test-time compute per sample: " + ", ".join(
                f"{k.replace('_', ' ')} {v:.3g}" if isinstance(v, float) else
                f"{k.replace('_', ' ')} {v}" for k, v in compute.items()))
        if r.n_given and int(r.n_given) != int(r.n) + int(r.n_faults or 0):
            bits.append(f"**{int(r.n)} of {int(r.n_given)} references** could be scored")
        if r.n_faults:
            bits.append(f"**{int(r.n_faults)} harness fault(s)** left out (not model failures)")
        if r.n_copies and not r.oracle:
            bits.append(f"**{int(r.n_copies)} prediction(s) reproduce the reference program**")
        reps = _repeats(r)
        if reps:
            bits.append(f"**mean ± std over {reps.n_runs} runs** (seeds "
                        f"{', '.join(map(str, reps.seeds))}; sample std, ddof={reps.ddof}; "
                        f"no bootstrap CI)")
        if bits:
            lines.append(f"- **{r.model}**: " + ". ".join(bits) + ".")
    return "\n".join(lines)


def render_breakdowns(df) -> str:
    """Per meta field the records break down by (family, difficulty, ...): one table with a
    row per value and a column per model, the headline metric in each cell."""
    head = summary_key(*HEADLINE)
    df = df.sort_values([head, "model"], ascending=[False, True], na_position="last")
    fields = sorted({f for by in df["by"] for f in (by or {})})
    parts = []
    from tabulate import tabulate
    for f in fields:
        values = sorted({v for by in df["by"] for v in (by or {}).get(f, {})})
        rows = []
        for v in values:
            cells = []
            for row, by in zip(df.itertuples(), df["by"]):
                group = (by or {}).get(f, {}).get(v)
                cells.append("–" if group is None else
                             _stats_cell(row, head, _num, (f, v)) or _num(group.get(head)))
            n = max(((by or {}).get(f, {}).get(v) or {}).get("n", 0) for by in df["by"])
            rows.append([v, str(n), *cells])
        parts.append(f"IoU (all) by {f}:\n\n" + tabulate(
            rows, headers=[f, "n", *df["model"]], tablefmt="github", disable_numparse=True))
    return "\n\n".join(parts)


def record_protocol(record: RunRecord) -> str:
    from .config import DEFAULT_PROTOCOL
    return ((record.config or {}).get("metrics") or {}).get("protocol", DEFAULT_PROTOCOL)


def _peer_stat_cell(value) -> str:
    """A protocol statistic: a number, or {mean, std, n_runs} over a peer's repeated runs."""
    if isinstance(value, dict):
        mean, std, n_runs = value.get("mean"), value.get("std"), value.get("n_runs", 1)
        return _num(mean, 4) + (f" ± {_num(std, 4)}" if n_runs and n_runs > 1 else "")
    return _num(value, 4)


def render_protocol_tables(records: list[tuple[Path, RunRecord]]) -> str:
    """One table per dataset, split and peer protocol: each model's numbers in the peer's own
    statistics (the protocol's ReportedStats, headline first) and cadbench's VSR, with how many
    per-sample flags were raised (summed over their kinds)."""
    from tabulate import tabulate

    from .protocols import get_protocol

    groups: dict[tuple[str, str, str], list[RunRecord]] = {}
    for path, r in records:
        key = (r.dataset or path.parent.parent.parent.name, r.split or path.parent.parent.name,
               record_protocol(r))
        groups.setdefault(key, []).append(r)
    parts = []
    for (dataset, split, name), recs in sorted(groups.items()):
        protocol = get_protocol(name)
        labels = [protocol.aggregation.headline] + [
            st.label for st in protocol.aggregation.stats
            if st.label != protocol.aggregation.headline]
        def headline(r):
            v = ((r.metrics.get("protocol") or {}).get("stats") or {}).get(labels[0])
            v = v.get("mean") if isinstance(v, dict) else v
            return -(v if v is not None else float("-inf"))
        rows = []
        for r in sorted(recs, key=lambda r: (headline(r), r.model or "")):
            peer = r.metrics.get("protocol") or {}
            stats = peer.get("stats") or {}
            flagged = sum((peer.get("flagged_samples") or {}).values())
            rows.append([r.model, _num(r.metrics.get("vsr")),
                         *(_peer_stat_cell(stats.get(label)) for label in labels),
                         str(r.metrics.get("n", r.n_references)), str(flagged)])
        parts.append(f"#### {dataset} / {split} under `{name}` ({protocol.description})\n\n"
                     + tabulate(rows, headers=["Model", "VSR", *labels, "n", "flags"],
                                tablefmt="github", disable_numparse=True))
    return "\n\n".join(parts)


def render_tables(root: Path) -> str:
    """All tables, one section per dataset and split, as the markdown spliced into docs.
    Runs that do not cover the whole split (--limit, or fewer samples than the largest run)
    are listed apart, unranked. Runs scored under a peer's protocol follow, one table per
    protocol (render_protocol_tables)."""
    from .config import DEFAULT_PROTOCOL
    found = find_records(root)
    records = [(p, r) for p, r in found if record_protocol(r) == DEFAULT_PROTOCOL]
    peer_records = [(p, r) for p, r in found if record_protocol(r) != DEFAULT_PROTOCOL]
    parts = ["_Generated by `cadbench leaderboard --write` from the run records in "
             "`leaderboards/`; do not edit by hand. IoU (all) counts failures as 0 and shows "
             "its bootstrap 95% CI; Gen. s/sample is generation time (with any test-time "
             "search) per sample._"]
    if not found:
        return parts[0] + "\n\nNo run records yet.\n"
    df = records_frame(records) if records else None
    if any(r.repeats is not None for _, r in records):
        parts[0] = parts[0][:-1] + (" A cell `m ± s` is the mean and sample standard deviation "
                                    "(ddof=1) over repeated runs (`cadbench run --repeats R`: "
                                    "the Model column says how many, the notes which seeds)._")
    for (dataset, split), group in (df.groupby(["dataset", "split"], sort=True)
                                    if df is not None else ()):
        full = int(max(int(n) for n in group["n"] if n == n))
        partial = group.apply(lambda r: _is_partial(r, full), axis=1)
        parts.append(f"### {dataset} / {split} ({full} samples)\n\n"
                     f"{render_table(group[~partial])}")
        notes = render_notes(group[~partial])
        if notes:
            parts.append(notes)
        breakdowns = render_breakdowns(group[~partial])
        if breakdowns:
            parts.append(breakdowns)
        if partial.any():
            parts.append(f"Partial runs on {dataset} / {split} (not ranked; n shown):\n\n"
                         + render_table(group[partial].assign(
                             model=[f"{m} (n={int(n)})" for m, n in
                                    zip(group[partial]["model"], group[partial]["n"])])))
    if peer_records:
        parts.append("### In the peers' conventions\n\n"
                     "_The same predictions scored under a peer benchmark's protocol "
                     "(`cadbench run --protocol P`, docs/protocols.md): its frame, metrics and "
                     "statistics, in its units, headline first. flags: how many per-sample "
                     "flags were raised, summed over their kinds, where the peer's convention "
                     "decided a value in a way a reader should know (a silent zero, a "
                     "reflection, fused components, ...; the record's "
                     "`metrics.protocol.flagged_samples` counts each kind)._\n\n"
                     + render_protocol_tables(peer_records))
    return "\n\n".join(parts) + "\n"


def splice(text: str, block: str, where: str) -> str:
    """Replace what lies between the markers in `text` with `block`."""
    start, end = text.find(START_MARKER), text.find(END_MARKER)
    if start < 0 or end < 0 or end < start:
        raise InputError(f"{where}: lacks the markers {START_MARKER} ... {END_MARKER}")
    return text[:start + len(START_MARKER)] + "\n" + block + text[end:]


def between_markers(text: str) -> str | None:
    start, end = text.find(START_MARKER), text.find(END_MARKER)
    if start < 0 or end < 0 or end < start:
        return None
    return text[start + len(START_MARKER):end].strip("\n")


def target_files(repo: Path) -> list[Path]:
    return [repo / "docs" / "leaderboard.md", repo / "README.md"]


def write_tables(root: Path, files: list[Path]) -> list[Path]:
    """Splice the tables into each file that has the markers; warn about those without."""
    block = render_tables(root)
    written = []
    for path in files:
        if not path.exists():
            warnings.warn(f"{path}: does not exist; skipped")
            continue
        text = path.read_text()
        if between_markers(text) is None:
            warnings.warn(f"{path}: no {START_MARKER} / {END_MARKER} markers; skipped")
            continue
        new = splice(text, block, str(path))
        if new != text:
            atomic_write_text(path, new)
        written.append(path)
    return written


def stale_files(root: Path, files: list[Path]) -> list[Path]:
    """Files (with markers) whose tables differ from what the records give now."""
    block = render_tables(root).strip("\n")
    return [p for p in files if p.exists() and (inside := between_markers(p.read_text()))
            is not None and inside != block]

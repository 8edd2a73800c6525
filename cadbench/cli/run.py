"""`cadbench run`: generate with a submission, score, record, print the table."""

from __future__ import annotations

import argparse


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments shared by `run` and `train`."""
    p.add_argument("--model", required=True, metavar="NAME",
                   help="a submission name (see `cadbench list`), module:Class, "
                        "or path/to/module.py:ClassName")
    p.add_argument("--dataset", default="synth",
                   help="dataset name or path (default: synth, the embedded benchmark)")
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="a submission option (repeatable), e.g. --opt batch_size=8")
    p.add_argument("--dataset-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the dataset's loader (repeatable), e.g. --dataset-opt "
                        "root=~/data/CADBench for the peers' layouts, geometry_root=DIR, "
                        "subset=hundred (docs/datasets.md); an unknown key is named with the "
                        "loader's own")
    p.add_argument("--seed", type=int, default=0,
                   help="run: seeds each sample's sampling (with its id) and the bootstrap; "
                        "train: the training seed (default 0)")


RECORD_HELP = """\
where the run record goes. Default: leaderboards/<dataset>/<split>/<model>.json, written only
by a run over the whole split, and left as it is when this run reproduces it (same settings,
predictions and metrics; timestamps and timings are not compared). --record [PATH]: file it
even for a --limit run (an existing record is still only replaced by a whole-split run).
--no-record: keep the record in the run folder only."""


def register(subparsers) -> None:
    from cadbench.cli.score import add_exec_and_metric_args

    p = subparsers.add_parser("run", help="run a submission on a dataset split and score it",
                              description=__doc__, epilog=RECORD_HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p)
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="only the first N samples (the record then stays in the run folder "
                        "unless --record is given)")
    g = p.add_argument_group("sampling", "These reach every submission as one Sampling(k,\n"
                             "temperature, top_p, seed); each sample is seeded from --seed\n"
                             "and its id alone, so resumes and batch sizes change nothing.")
    g.add_argument("--samples", type=int, default=1, metavar="K",
                   help="candidates per image (K > 1 adds best-of-K and pass@k); a "
                        "deterministic submission generates 1 and says so")
    g.add_argument("--temperature", type=float, default=None, metavar="T",
                   help="sampling temperature (default: the submission's own)")
    g.add_argument("--top-p", type=float, default=None, metavar="P",
                   help="nucleus sampling mass in (0, 1] (default: the submission's own)")
    g.add_argument("--repeats", type=int, default=1, metavar="R",
                   help="R runs, seeds --seed .. --seed+R-1, each in its own resumable run "
                        "folder, combined into one record of mean ± sample std (ddof=1) per "
                        "metric (with --out DIR: DIR/seed<S>/ and DIR/record.json); a "
                        "deterministic submission is refused for R > 1")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="run folder (default runs/<model>-<dataset>-<split>[-nN][-kK]"
                        "[-tT][-pP][-seedS][-<options>]); re-running resumes it; one "
                        "command at a time")
    rec = p.add_mutually_exclusive_group()
    rec.add_argument("--record", nargs="?", const="", default=None, metavar="PATH",
                     help="file the run record (at PATH, or the leaderboard's file), also "
                          "for a --limit run; see below")
    rec.add_argument("--no-record", action="store_true",
                     help="keep the record in the run folder only")
    p.add_argument("--checkpoint", default=None, metavar="DIR",
                   help="load this checkpoint instead of the submission's default")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--rescore", action="store_true",
                   help="score the run folder's predictions again from scratch (after a "
                        "change of scoring code or metric settings) instead of resuming; "
                        "nothing is generated again")
    add_exec_and_metric_args(p, for_run=True)
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from pathlib import Path

    from cadbench.cli import UserError
    from cadbench.cli.score import score_config_from_args
    from cadbench.repeats import run_repeats
    from cadbench.run import RunSettings
    from cadbench.datasets.options import parse_dataset_option_strings
    from cadbench.submissions import parse_option_strings

    if args.limit is not None and args.limit <= 0:
        raise UserError("--limit must be positive")
    if args.samples < 1:
        raise UserError("--samples must be at least 1")
    if args.repeats < 1:
        raise UserError("--repeats must be at least 1")
    if args.temperature is not None and not args.temperature >= 0:
        raise UserError(f"--temperature {args.temperature:g}: must be >= 0")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise UserError(f"--top-p {args.top_p:g}: must be in (0, 1]")
    config = score_config_from_args(args)
    settings = RunSettings(model=args.model, dataset=args.dataset, split=args.split,
                           limit=args.limit, samples=args.samples, seed=args.seed,
                           options=parse_option_strings(args.opt), checkpoint=args.checkpoint,
                           temperature=args.temperature, top_p=args.top_p,
                           dataset_options=parse_dataset_option_strings(args.dataset_opt))
    if args.no_record:
        write_record = False
    elif args.record is not None:
        write_record = True
    else:
        write_record = None
    # run_model itself for --repeats 1; else R runs (seeds S..S+R-1) and their combined record
    record = run_repeats(settings, Path(args.out) if args.out else None, repeats=args.repeats,
                       record_path=Path(args.record) if args.record else None,
                       workers=config.workers, progress=not args.no_progress,
                       write_record=write_record, exec_config=config.exec,
                       metric_config=config.metrics, backend=args.backend,
                       scheduler=args.scheduler, rescore=args.rescore)
    print(format_record_table(record))
    return 0


def format_record_table(record) -> str:
    """The run's headline numbers (rows read off the metric specs) as a small markdown table,
    then what qualifies them (faults, references not run, copies of the reference)."""
    from tabulate import tabulate

    from cadbench.metrics import headline_rows

    m, sub = record.metrics, record.submission

    def ci(key):
        lo_hi = m.get(key)
        return f"[{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]" if lo_hi else ""

    def num(v, fmt=".3f"):
        return "" if v is None else format(v, fmt)

    reps = getattr(record, "repeats", None)

    def value(key, fmt=".3f"):   # a repeats record: mean ± std over its runs
        stats = reps.stats(key) if reps else None
        if stats is not None:
            from cadbench.repeats import format_stats
            return format_stats(stats, lambda v: format(v, fmt))
        return num(m.get(key), fmt)

    rows = [("VSR", value("vsr"), ci("vsr_ci95"))]
    rows += [(label, value(key, ".4f" if key.startswith("chamfer") else ".3f"), ci(cik))
             for label, key, cik in headline_rows(m)]
    for key in sorted(k for k in m if k.startswith(("pass@", "best_of_n"))):
        rows.append((key, value(key), ""))
    rows.append(("images/s", num(sub.get("images_per_s"), ".2f"), ""))
    head = (f"{record.model} on {record.dataset}/{record.split}: {m.get('n')} samples"
            f"{f' x {reps.n_runs} runs' if reps else ''}, statuses {record.status_counts}")
    notes = []
    if reps:
        notes.append(f"over {reps.describe()}; statuses summed over the runs; no bootstrap "
                     f"CI (each run's own is in its run folder)")
    if m.get("n_faults"):
        notes.append(f"{m['n_faults']} harness fault(s) left out of every metric (re-run to "
                     f"retry them)")
    if record.reference_faults:
        notes.append(f"scored against {record.n_references} of {record.n_references_given} "
                     f"references ({len(record.reference_faults)} could not be run)")
    peer = m.get("protocol") or {}
    if peer.get("headline"):
        stats = ", ".join(f"{k} {v:.4f}" for k, v in (peer.get("stats") or {}).items()
                          if isinstance(v, (int, float)))
        notes.append(f"protocol {peer.get('protocol')}: {peer['headline']['label']} = "
                     f"{peer['headline']['value']:.4f} ({stats}; docs/protocols.md)")
    if m.get("n_copies_normalized") and not sub.get("uses_ground_truth"):
        notes.append(f"{m['n_copies_normalized']} prediction(s) reproduce the reference program")
    # no CI column for repeats: a bootstrap CI of one run says nothing of the mean over runs
    table = [row[:2] for row in rows] if reps else rows
    return (head + "\n" + tabulate(table, headers=["metric", "mean ± std over runs"] if reps
                                   else ["metric", "value", "95% CI"],
                                   tablefmt="github", disable_numparse=True)
            + "".join(f"\nnote: {n}" for n in notes))

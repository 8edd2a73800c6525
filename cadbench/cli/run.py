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
    p.add_argument("--seed", type=int, default=0)


def register(subparsers) -> None:
    p = subparsers.add_parser("run", help="run a submission on a dataset split and score it",
                              description=__doc__)
    add_model_arguments(p)
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="only the first N samples (the record then stays in the run folder "
                        "unless --record is given)")
    p.add_argument("--samples", type=int, default=1, metavar="K",
                   help="candidates per image (K > 1 adds best-of-K and pass@k)")
    p.add_argument("--workers", type=int, default=2, help="scoring processes")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="run folder (default runs/<model>-<dataset>-<split>[-nN][-kK]); "
                        "re-running resumes it")
    p.add_argument("--record", default=None, metavar="PATH",
                   help="where to write the run record "
                        "(default leaderboards/<dataset>/<split>/<model>.json)")
    p.add_argument("--no-record", action="store_true", help="keep the record in the run folder")
    p.add_argument("--checkpoint", default=None, metavar="DIR",
                   help="load this checkpoint instead of the submission's default")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from pathlib import Path

    from cadbench.cli import UserError
    from cadbench.run import RunSettings, run_model
    from cadbench.submissions import parse_option_strings

    if args.limit is not None and args.limit <= 0:
        raise UserError("--limit must be positive")
    if args.samples < 1:
        raise UserError("--samples must be at least 1")
    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    settings = RunSettings(model=args.model, dataset=args.dataset, split=args.split,
                           limit=args.limit, samples=args.samples, seed=args.seed,
                           options=parse_option_strings(args.opt), checkpoint=args.checkpoint)
    record = run_model(settings, run_dir=Path(args.out) if args.out else None,
                       record_path=Path(args.record) if args.record else None,
                       workers=args.workers, progress=not args.no_progress,
                       write_record=False if args.no_record else None)
    print(format_record_table(record))
    return 0


def format_record_table(record) -> str:
    """The run's headline numbers as a small markdown table."""
    from tabulate import tabulate

    m, sub = record.metrics, record.submission

    def ci(key):
        lo_hi = m.get(f"{key}_ci95")
        return f"[{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]" if lo_hi else ""

    def num(v, fmt=".3f"):
        return "" if v is None else format(v, fmt)

    rows = [("VSR", num(m.get("vsr")), ci("vsr")),
            ("IoU (valid)", num(m.get("iou_valid_mean")), ci("iou_valid_mean")),
            ("IoU (all)", num(m.get("iou_all_mean")), ci("iou_all_mean")),
            ("IoU best (all)", num(m.get("iou_best_all_mean")), ci("iou_best_all_mean")),
            ("exact IoU (all)", num(m.get("iou_exact_all_mean")), ci("iou_exact_all_mean")),
            ("Chamfer (valid)", num(m.get("chamfer_valid_mean"), ".4f"), "")]
    for key in sorted(k for k in m if k.startswith(("pass@", "best_of_n"))):
        rows.append((key, num(m[key]), ""))
    rows.append(("images/s", num(sub.get("images_per_s"), ".2f"), ""))
    head = (f"{record.model} on {record.dataset}/{record.split}: {m.get('n')} samples, "
            f"statuses {record.status_counts}")
    return head + "\n" + tabulate(rows, headers=["metric", "value", "95% CI"],
                                  tablefmt="github", disable_numparse=True)

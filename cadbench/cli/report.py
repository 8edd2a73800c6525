"""`cadbench report RUN_DIR`: a self-contained HTML report and a PNG summary of a run."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="write an HTML + PNG visual report of a run folder",
                              description=__doc__)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder made by `cadbench run` "
                   "(or `cadbench score`, with --references)")
    p.add_argument("--cases", type=int, default=24, help="cases shown (half of them the worst)")
    p.add_argument("--references", default=None,
                   help="references (JSONL or NAME:SPLIT) for a `cadbench score` folder")
    p.add_argument("--predictions", default=None,
                   help="predictions JSONL (default RUN_DIR/predictions.jsonl)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default RUN_DIR)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from pathlib import Path

    from cadbench.cli import UserError
    from cadbench.report import make_report

    if args.cases < 1:
        raise UserError("--cases must be at least 1")
    html_path, png_path = make_report(Path(args.run_dir), args.cases, args.references,
                                      args.predictions, Path(args.out) if args.out else None,
                                      progress=not args.no_progress)
    print(f"wrote {html_path} and {png_path}")
    return 0

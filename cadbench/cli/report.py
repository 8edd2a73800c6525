"""`cadbench report RUN_DIR [RUN_DIR ...]`: a self-contained HTML report and a PNG summary of a
run. Several folders (repeats of one run with other seeds), or the folder of a `cadbench run
--repeats` record: the headline is mean ± sample std over the runs; the cases are the first's."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="write an HTML + PNG visual report of a run folder",
                              description=__doc__)
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="+",
                   help="a folder made by `cadbench run` (or `cadbench score`, with "
                        "--references); more than one: repeats of the same run (other "
                        "seeds), reported as mean ± std, the cases from the first")
    p.add_argument("--cases", type=int, default=24, help="cases shown (half of them the worst)")
    p.add_argument("--references", default=None,
                   help="references for a `cadbench score` folder, in any format `score` "
                        "reads: JSONL {id, code}, GenCAD eval JSONL {question_id, "
                        "ground_truth} (with images), a folder, or NAME[:SPLIT]")
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
    run_dir, *more = [Path(d) for d in args.run_dir]
    samples = reference_samples(args.references) if args.references else None
    if samples is None and run_dir.is_dir() and not (run_dir / "run.json").exists():
        _say_what_is_missing(run_dir)
    html_path, png_path = make_report(run_dir, args.cases, None, args.predictions,
                                      Path(args.out) if args.out else None,
                                      progress=not args.no_progress, samples=samples,
                                      more=more)
    print(f"wrote {html_path} and {png_path}")
    return 0


def reference_samples(spec: str) -> list:
    """The references as Samples, from every format `cadbench score` reads (read by the same
    `inputs.load_references`, so errors name file and line alike). Images come along where
    the source has them (a dataset, a folder, a GenCAD evaluation file)."""
    from pathlib import Path

    from cadbench.datasets import load_dataset
    from cadbench.datasets.base import Sample
    from cadbench.inputs import load_references
    from cadbench.records import read_jsonl

    refs = load_references(spec)
    path = Path(spec)
    if path.is_file():
        first = next(read_jsonl(path), (0, {}))[1]
        if "question_id" not in first:   # {id, code}: programs only, no images
            _say(f"{spec} holds programs only: the report shows ground truth and "
                 f"predictions, not the input images")
            return [Sample(r.id, r.code) for r in refs]
        return load_dataset(str(path))
    if path.is_dir():
        return load_dataset(str(path))
    name, _, split = spec.partition(":")
    return load_dataset(name, split or "test")


def _say_what_is_missing(run_dir) -> None:
    """A `cadbench score` folder does not know where its references are: say so, and what
    its summary names, instead of leaving grey boxes unexplained."""
    import json
    named = ""
    try:
        named = json.loads((run_dir / "summary.json").read_text()).get("dataset") or ""
    except (OSError, ValueError, AttributeError):
        pass
    hint = f" (its summary names {named!r})" if named else ""
    _say(f"{run_dir} is a `cadbench score` folder and no --references was given: the report "
         f"shows no input images and no ground truth; pass --references with the file "
         f"`cadbench score` read{hint}")


def _say(msg: str) -> None:
    import sys
    print(f"cadbench: note: {msg}", file=sys.stderr)

"""`cadbench score`: score a predictions file against references."""

from __future__ import annotations

import argparse
import os
import sys


def add_exec_and_metric_args(p: argparse.ArgumentParser, for_run: bool = False) -> None:
    """Flags shared by `score` and `run`: sandbox limits, metrics, workers. `run` has its own
    --seed (sampling and bootstrap) and takes the result variable from the submission."""
    from cadbench.config import ExecConfig, MetricConfig
    e, m = ExecConfig(), MetricConfig()
    g = p.add_argument_group("execution")
    g.add_argument("--workers", type=int, default=2, help="parallel sandboxes (default 2)")
    g.add_argument("--timeout", type=float, default=e.timeout_s,
                   help=f"seconds per candidate (default {e.timeout_s:g})")
    g.add_argument("--memory-mb", type=int, default=e.memory_mb,
                   help=f"memory cap per candidate (default {e.memory_mb})")
    if not for_run:
        g.add_argument("--result-var", default=e.result_var,
                       help=f"variable holding the final solid (default {e.result_var!r})")
    g.add_argument("--backend", choices=("loky", "dask"), default="loky",
                   help="where workers run: local processes (loky) or a Dask cluster")
    g.add_argument("--scheduler", default=None,
                   help="Dask scheduler address (with --backend dask; default: a local cluster)")
    g = p.add_argument_group("metrics")
    g.add_argument("--voxel-resolution", type=int, default=m.voxel_resolution,
                   help=f"N for the N^3 IoU grid (default {m.voxel_resolution})")
    g.add_argument("--no-exact", action="store_true", help="skip exact (mesh boolean) IoU")
    g.add_argument("--no-best", action="store_true", help="skip pose-invariant iou_best")
    g.add_argument("--mecagent", action="store_true",
                   help="also compute the Mecagent-compatible best_iou (not volumetric)")
    from cadbench.protocols import list_protocols
    g.add_argument("--protocol", default=m.protocol, choices=list_protocols(),
                   help="score in a peer benchmark's convention (normalisation, metrics, "
                        "headline statistic; docs/protocols.md); default: cadbench's own")
    g.add_argument("--all-metrics", action="store_true",
                   help="with --protocol P: also compute cadbench's own iou_best, iou_exact "
                        "and chamfer beside P's metrics (by default a protocol run computes "
                        "P's metrics and cadbench's VSR and iou only)")
    if not for_run:
        g.add_argument("--seed", type=int, default=0, help="seed for bootstrap and sampling")


def score_config_from_args(args):
    from cadbench.cli import UserError
    from cadbench.config import ExecConfig, MetricConfig, ScoreConfig
    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    if not args.timeout > 0:
        raise UserError(f"--timeout {args.timeout:g}: must be positive")
    if args.memory_mb < 1:
        raise UserError(f"--memory-mb {args.memory_mb}: must be positive")
    if args.voxel_resolution < 2:
        raise UserError(f"--voxel-resolution {args.voxel_resolution}: must be at least 2")
    exec_cfg = ExecConfig(timeout_s=args.timeout, memory_mb=args.memory_mb,
                          result_var=getattr(args, "result_var", ExecConfig().result_var))
    metric_cfg = MetricConfig(voxel_resolution=args.voxel_resolution,
                              compute_exact=not args.no_exact, compute_best=not args.no_best,
                              compute_mecagent=args.mecagent, seed=args.seed,
                              protocol=args.protocol).for_protocol(args.all_metrics)
    return ScoreConfig(exec=exec_cfg, metrics=metric_cfg, workers=args.workers, seed=args.seed)


def register(sub) -> None:
    p = sub.add_parser("score", help="score predictions against references",
                       description="Run every predicted program in the sandbox and score it "
                                   "against its reference (VSR, IoU, ...).")
    p.add_argument("--references", required=True,
                   help="references: JSONL rows {id, code} or {id, path} (a STEP, STL, OBJ, "
                        "PLY or glTF file, relative to the JSONL's folder), mixed freely; "
                        "GenCAD eval format {question_id, ground_truth}; a folder of "
                        "<id>.step/.stl/.obj/.ply/.glb (and <id>.py) files; or a dataset spec "
                        "NAME[:SPLIT]")
    p.add_argument("--predictions", required=True,
                   help="predictions JSONL {id, code} or {id, path} (a mesh or STEP file, for "
                        "models that output geometry)")
    p.add_argument("--out", required=True, help="run folder for results.jsonl and summary.json "
                   "(created private, 0700; one command at a time: a second one on the same "
                   "folder stops at once)")
    p.add_argument("--dataset-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="with --references NAME[:SPLIT]: an option of the dataset's loader "
                        "(repeatable), e.g. --dataset-opt root=DIR (docs/datasets.md)")
    p.add_argument("--no-resume", action="store_true",
                   help="score everything again instead of resuming from results.jsonl")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--hide", action="append", default=[], metavar="PATH",
                   help="a file or folder candidates must not see (e.g. the dataset the "
                        "references come from); repeatable. The references, the predictions "
                        "and the cadbench cache are always hidden")
    add_exec_and_metric_args(p)
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from cadbench.inputs import load_predictions, load_references
    from cadbench.runlock import RunLock, make_private, make_private_dir, remove_if_empty
    from cadbench.scoring import format_summary_table, score
    config = score_config_from_args(args)
    if args.backend == "loky":  # its cadquery import overlaps reading the inputs
        from cadbench.execute import hatchery
        hatchery.ensure_started()
    from cadbench.datasets.options import parse_dataset_option_strings
    dataset_options = parse_dataset_option_strings(args.dataset_opt)
    refs = load_references(args.references, dataset_options)  # both read before any folder
    # the dataset's own folders (root=DIR...) are hidden from candidates too
    data_dirs = [os.path.abspath(os.path.expanduser(v)) for v in dataset_options.values()]
    preds = load_predictions(args.predictions)
    # the folders of geometry references too (a manifest may name files anywhere)
    ref_dirs = sorted({os.path.dirname(r.geometry.path) for r in refs if r.geometry is not None})
    created = make_private_dir(args.out)
    try:
        with RunLock(args.out, "cadbench score"):
            try:
                outcome = score(refs, preds, args.out, config, progress=not args.quiet,
                                resume=not args.no_resume, backend=args.backend,
                                scheduler=args.scheduler,
                                label={"dataset": str(args.references)},
                                hide_paths=[p for p in (args.references, args.predictions,
                                                        *ref_dirs, *data_dirs, *args.hide)
                                            if os.path.exists(p)])
            finally:
                make_private(args.out)
    except BaseException:
        remove_if_empty(created)   # a failed command leaves no empty folder
        raise
    print(format_summary_table(outcome.summary, outcome.status_counts, outcome.record))
    if outcome.missing_ids:
        print(f"\n{len(outcome.missing_ids)} reference(s) had no prediction (counted as "
              f"failures): {', '.join(outcome.missing_ids[:5])}"
              f"{' ...' if len(outcome.missing_ids) > 5 else ''}", file=sys.stderr)
    print(f"\nresults: {outcome.out_dir / 'results.jsonl'}\nsummary: "
          f"{outcome.out_dir / 'summary.json'}")
    return 0

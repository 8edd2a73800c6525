"""`cadbench train`: fit a submission on a dataset's train split and save its checkpoint."""

from __future__ import annotations


def register(subparsers) -> None:
    from cadbench.cli.run import add_model_arguments

    p = subparsers.add_parser("train", help="fit a submission and save its checkpoint",
                              description=__doc__)
    add_model_arguments(p)
    p.add_argument("--epochs", type=int, default=None,
                   help="training epochs (default: the submission's own)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="train on the first N training samples only")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="checkpoint folder (default: the submission's committed checkpoint)")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from pathlib import Path

    from cadbench.cli import UserError
    from cadbench.run import fit_submission, say, write_train_info
    from cadbench.submissions import get_submission, parse_option_strings

    cls = get_submission(args.model)
    out = Path(args.out) if args.out else cls.default_checkpoint()
    if out is None:
        raise UserError(f"submission {cls.name!r} has no default checkpoint folder; "
                        f"pass --out DIR")
    if not cls.needs_training:
        say(f"{cls.name} needs no training; fitting anyway (its fit may do nothing)")
    from cadbench.datasets.options import parse_dataset_option_strings
    dataset_options = parse_dataset_option_strings(args.dataset_opt)
    sub = cls(**parse_option_strings(args.opt))
    took, n_train = fit_submission(sub, args.dataset, args.epochs, args.seed, args.limit,
                                   dataset_options)
    sub.save(out)
    write_train_info(out, sub, args.dataset, took, args.epochs, args.seed, n_train)
    print(f"trained {sub.name} in {took:.1f} s ({sub.num_parameters():,} parameters); "
          f"checkpoint: {out}")
    return 0

"""`cadbench data build|show|list`: build the synth splits, inspect any dataset."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("data", help="build, list and inspect datasets",
                              description="Build the embedded synth benchmark into the cache, "
                                          "list known datasets, show statistics.")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")

    b = sub.add_parser("build", help="build synth splits into the cache (with a progress bar)")
    b.add_argument("--split", choices=["train", "val", "test", "all"], default="all",
                   help="split to build (default: all; val needs test, train needs both)")
    b.add_argument("--size", type=int, default=None,
                   help="number of samples of the split given by --split "
                        "(default: train 5000, val 500, test 500)")
    b.add_argument("--sizes", default=None, metavar="train=N,val=N,test=N",
                   help="sizes of several splits at once")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--image-size", type=int, default=224)
    b.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    b.add_argument("--force", action="store_true", help="rebuild even if cached")
    b.set_defaults(handler=_build)

    s = sub.add_parser("show", help="statistics and a contact sheet PNG of a dataset")
    s.add_argument("name", help="dataset name (see `cadbench data list`), folder or .jsonl")
    s.add_argument("--split", default="test")
    s.add_argument("--size", type=int, default=None, help="synth: split size")
    s.add_argument("--subset", default=None, help="gencad: 'hundred' for hundred_subset rows")
    s.add_argument("--sheet", default=None, metavar="PNG",
                   help="contact sheet path (default: ./<name>_<split>_sheet.png)")
    s.add_argument("--n", type=int, default=48, help="samples on the contact sheet")
    s.set_defaults(handler=_show)

    ls = sub.add_parser("list", help="list registered datasets and what is cached")
    ls.set_defaults(handler=_list)
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])


def _parse_sizes(text: str | None) -> dict:
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        key, eq, val = part.partition("=")
        if not eq or not val.strip().isdigit():
            from cadbench.cli import UserError
            raise UserError(f"--sizes expects split=N[,split=N...], got {text!r}")
        out[key.strip()] = int(val)
    return out


def _build(args: argparse.Namespace) -> int:
    import time

    from cadbench.datasets.synth import SPLITS, build_split, make_spec
    sizes = _parse_sizes(args.sizes)
    if args.size is not None:
        if args.split == "all":
            from cadbench.cli import UserError
            raise UserError("--size needs --split (or use --sizes train=N,val=N,test=N)")
        sizes[args.split] = args.size
    splits = SPLITS if args.split == "all" else (args.split,)
    spec = make_spec(splits[0], seed=args.seed, image_size=args.image_size, sizes=sizes)
    t0 = time.perf_counter()
    for split in splits:
        d = build_split(split, spec, n_jobs=args.jobs, force=args.force)
        n = sum(1 for line in (d / "samples.jsonl").read_text().splitlines() if line)
        print(f"synth {split}: {n} samples in {d}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def _show(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cadbench.datasets import load_dataset
    from cadbench.datasets.stats import contact_sheet, format_stats, dataset_stats
    kw = {}
    if args.size is not None:
        kw["size"] = args.size
    if args.subset is not None:
        kw["subset"] = args.subset
    samples = load_dataset(args.name, args.split, **kw)
    print(format_stats(dataset_stats(samples), title=f"{args.name} [{args.split}]"))
    stem = Path(args.name).name.replace(":", "_") or "dataset"
    sheet = Path(args.sheet or f"{stem}_{args.split}_sheet.png")
    n = contact_sheet(samples, sheet, n=args.n)
    print(f"contact sheet of {n} samples: {sheet}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from cadbench.datasets import list_datasets
    from cadbench.datasets.stats import cached_synth_splits
    for info in list_datasets():
        print(f"{info.name:10s} splits: {', '.join(info.splits):24s} {info.description}")
    cached = cached_synth_splits()
    if cached:
        print("\ncached synth splits:")
        for path, n in cached:
            print(f"  {n:6d} samples  {path}")
    return 0

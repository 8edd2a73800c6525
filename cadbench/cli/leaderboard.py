"""`cadbench leaderboard`: comparison tables from the run records under `leaderboards/`."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("leaderboard", help="print (or --write) the leaderboard tables",
                              description=__doc__)
    p.add_argument("--root", default=None, metavar="DIR",
                   help="records folder (default: the checkout's leaderboards/)")
    p.add_argument("--write", action="store_true",
                   help="splice the tables into docs/leaderboard.md and README.md "
                        "between <!-- leaderboard:start --> and <!-- leaderboard:end -->")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when the committed tables are stale")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    import sys
    import warnings
    from pathlib import Path

    from cadbench.leaderboard import render_tables, stale_files, target_files, write_tables
    from cadbench.run import repo_root

    repo = repo_root() or Path.cwd()
    root = Path(args.root) if args.root else repo / "leaderboards"
    if args.check:
        stale = stale_files(root, target_files(repo))
        for p in stale:
            print(f"stale: {p} (run `cadbench leaderboard --write`)", file=sys.stderr)
        return 1 if stale else 0
    if args.write:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            written = write_tables(root, target_files(repo))
        for w in caught:
            print(f"cadbench: warning: {w.message}", file=sys.stderr)
        for p in written:
            print(f"wrote tables into {p}")
        return 0
    print(render_tables(root))
    return 0

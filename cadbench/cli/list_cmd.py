"""`cadbench list`: every submission cadbench can find, with its description."""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("list", help="list the available submissions",
                              description=__doc__)
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from tabulate import tabulate

    from cadbench.submissions import list_submissions

    rows = []
    for info in list_submissions():
        text = info.description if info.error is None else f"(unavailable: {info.error})"
        rows.append((info.name, info.source, "yes" if info.needs_training else "",
                     ", ".join(info.dependencies), text))
    print(tabulate(rows, headers=["name", "source", "trains", "dependencies", "description"],
                   tablefmt="simple", maxcolwidths=[None, None, None, 24, 70]))
    return 0

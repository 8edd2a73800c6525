"""`cadbench` command line: thin. Each subcommand lives in its own module with
`register(subparsers)` (argument parsing only, light imports) and a handler that calls the API."""

from __future__ import annotations

import argparse
import importlib
import sys

# Subcommand modules, in the order `cadbench --help` lists them.
COMMAND_MODULES = ("score", "run", "train", "data", "list_cmd", "leaderboard", "report", "models")


class UserError(Exception):
    """An error caused by the user's input: printed as one clear line, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    from cadbench import __version__
    parser = argparse.ArgumentParser(prog="cadbench", description=(
        "Evaluation harness for image-to-CadQuery code generators."))
    parser.add_argument("--version", action="version", version=f"cadbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"cadbench.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"cadbench.cli.{name}":
                continue  # subcommand not built yet
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        _end_progress_bars()   # else the message lands at the end of the bar's line
        print("cadbench: interrupted; results written so far are kept", file=sys.stderr)
        return 130
    except UserError as e:
        print(f"cadbench: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # known error types from the API carry a clear message
        from cadbench.errors import CadbenchError
        if isinstance(e, CadbenchError):
            print(f"cadbench: error: {e}", file=sys.stderr)
            return 2
        raise


def _end_progress_bars() -> None:
    """Close the tqdm bars an interrupt left open: each ends (or clears) its own line, and
    none is redrawn after the message when it is garbage-collected."""
    tqdm = sys.modules.get("tqdm")
    bars = getattr(getattr(tqdm, "tqdm", None), "_instances", None) or ()
    for bar in list(bars):
        try:
            bar.close()
        except Exception:  # a bar whose stream is gone: nothing to end
            pass


if __name__ == "__main__":
    sys.exit(main())

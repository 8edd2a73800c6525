"""`KEY=VALUE` command-line pairs (`--opt` of a submission, `--dataset-opt` of a loader): one
parser for both; each caller then checks the keys against what it configures."""

from __future__ import annotations

from .errors import InputError


def parse_key_values(pairs: list[str] | None, flag: str, error: type[InputError] = InputError,
                     example: str = "") -> dict[str, str]:
    """`["size=64", "root=~/d"]` -> {"size": "64", "root": "~/d"}; a pair without `=` or with
    an empty key raises `error` naming the flag and the pair."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            hint = f" (e.g. {example})" if example else ""
            raise error(f"{flag} {pair!r}: expected KEY=VALUE{hint}")
        out[key.strip()] = value
    return out

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


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def text_to(kind: type, value: str):
    """A CLI string as `kind` (bool: 1/true/yes/on or 0/false/no/off; int; float); ValueError
    when it is not one. The one rule both `--opt` and `--dataset-opt` values follow."""
    if kind is bool:
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(value)
    if kind in (int, float):
        return kind(value)
    raise TypeError(f"no conversion of a CLI string to {kind.__name__}")

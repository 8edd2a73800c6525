"""Does a prediction reproduce its reference program? (the contamination flag of a record)

Two levels: `exact` (the same text) and `normalized` (the same tokens once comments,
whitespace and the spelling of numbers are set aside: `0.50` and `.5`, `1e-1` and `0.1`).
A model that memorised the test programs shows here before anyone reads its IoU.
"""

from __future__ import annotations

import io
import tokenize
from functools import lru_cache

_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
         tokenize.ENCODING, tokenize.ENDMARKER}


def normalized_tokens(code: str) -> tuple[str, ...] | None:
    """The program's tokens without layout and with numbers in one spelling; None when it does
    not tokenize (then only the exact comparison applies)."""
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type in _SKIP:
                continue
            if tok.type == tokenize.NUMBER:
                try:
                    out.append(repr(float(tok.string.replace("_", ""))))
                    continue
                except ValueError:  # complex literals, e.g. 1j
                    pass
            out.append(tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError, ValueError):
        return None
    return tuple(out)


def copies_reference(prediction: str, reference: str) -> str | None:
    """"exact", "normalized" or None."""
    if prediction == reference:
        return "exact"
    if prediction.strip() == reference.strip():
        return "normalized"
    a = normalized_tokens(prediction)
    return "normalized" if a is not None and a == _reference_tokens(reference) else None


@lru_cache(maxsize=64)
def _reference_tokens(reference: str) -> tuple[str, ...] | None:
    # a reference is compared with each of its candidates: tokenized once
    return normalized_tokens(reference)

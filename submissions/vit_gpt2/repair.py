"""A light, syntax-aware repair of generated programs (pure Python, no torch).

Only two edits, tried in order until the program parses (`ast.parse`; nothing is executed):
  1. close the brackets left open (a decoder cut off by its length limit mid-call);
  2. drop the truncated last line (then close what is still open).
A program that already parses is returned untouched. Every edit is recorded so a run can
report how many outputs were repaired, separately from the model's raw validity.

One geometric fix, separate and also counted (`fix_degenerate_arcs`, option `fix_arcs`): a
`threePointArc` whose three points are collinear (or coincide) has no circle through them and
makes OCC raise (`GC_MakeArcOfCircle ... no result`, the most common failure of the tiny
model). It is replaced by the straight segment to its end point (`lineTo`), or dropped when it
ends where it starts. Only exactly degenerate arcs are touched: a valid arc never changes.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field

CLOSE = {"(": ")", "[": "]", "{": "}"}
MAX_DROPPED_LINES = 3


@dataclass(frozen=True)
class Repair:
    code: str
    actions: tuple[str, ...] = ()   # "closed_brackets", "dropped_last_line"

    @property
    def changed(self) -> bool:
        return bool(self.actions)


@dataclass
class RepairStats:
    """Counts over a batch of outputs (what `metadata()` reports)."""

    outputs: int = 0
    parsed_raw: int = 0          # parsed as generated
    repaired: int = 0            # did not parse, parsed after repair
    unparsed: int = 0            # does not parse as returned (repair off, or it failed)
    truncated: int = 0           # hit the token limit without an end token
    arcs_fixed: int = 0          # outputs with a degenerate arc made a line (fix_arcs)
    actions: Counter = field(default_factory=Counter)

    def add(self, r: Repair, raw_ok: bool, truncated: bool) -> None:
        self.outputs += 1
        self.truncated += int(truncated)
        if raw_ok:
            self.parsed_raw += 1
        elif r.changed and parses(r.code):
            self.repaired += 1
            self.actions.update(r.actions)
        else:
            self.unparsed += 1

    def add_arc_fix(self, fixed: int) -> None:
        if fixed:
            self.arcs_fixed += 1
            self.actions["degenerate_arc_to_line"] += fixed

    def to_dict(self) -> dict:
        return {"outputs": self.outputs, "parsed_raw": self.parsed_raw,
                "repaired": self.repaired, "unparsed": self.unparsed,
                "truncated": self.truncated, "arcs_fixed": self.arcs_fixed,
                "actions": dict(self.actions)}


def parses(code: str) -> bool:
    with warnings.catch_warnings():  # garbage like `0.5.3` warns before it fails
        warnings.simplefilter("ignore", SyntaxWarning)
        try:
            ast.parse(code)
            return True
        except (SyntaxError, ValueError):
            return False


def open_brackets(code: str) -> list[str]:
    """The brackets still open at the end of `code`, skipping strings and comments."""
    stack: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(code):
        c = code[i]
        if quote:
            if c == "\\":
                i += 1
            elif code.startswith(quote, i):
                i += len(quote) - 1
                quote = None
        elif c == "#":
            nl = code.find("\n", i)
            i = len(code) if nl < 0 else nl
            continue
        elif c in "'\"":
            quote = code[i:i + 3] if code[i:i + 3] in ("'''", '"""') else c
            i += len(quote) - 1
        elif c in CLOSE:
            stack.append(c)
        elif c in ")]}" and stack and CLOSE[stack[-1]] == c:
            stack.pop()
        i += 1
    return stack


def close_brackets(code: str) -> str:
    body = code.rstrip().rstrip(",.")  # a dangling `,` or `.` cannot be closed over
    return body + "".join(CLOSE[b] for b in reversed(open_brackets(body))) + "\n"


def repair(code: str) -> Repair:
    """The smallest edit (see module doc) that makes `code` parse, or `code` unchanged."""
    if parses(code):
        return Repair(code)
    closed = close_brackets(code)
    if parses(closed):
        return Repair(closed, ("closed_brackets",))
    lines = code.rstrip("\n").split("\n")
    for drop in range(1, min(MAX_DROPPED_LINES, len(lines) - 1) + 1):
        kept = "\n".join(lines[:-drop]) + "\n"
        if parses(kept):
            return Repair(kept, ("dropped_last_line",))
        closed = close_brackets(kept)
        if parses(closed):
            return Repair(closed, ("dropped_last_line", "closed_brackets"))
    return Repair(code)


_NUM = r"(-?[0-9]+(?:\.[0-9]*)?(?:e-?[0-9]+)?)"
_CALL = re.compile(rf"\.(moveTo|lineTo)\(\s*{_NUM}\s*,\s*{_NUM}\s*\)"
                   rf"|\.threePointArc\(\(\s*{_NUM}\s*,\s*{_NUM}\s*\)\s*,"
                   rf"\s*\(\s*{_NUM}\s*,\s*{_NUM}\s*\)\s*\)")
COLLINEAR = 1e-9  # |cross| / scale^2 below this: no circle through the three points


def fix_degenerate_arcs(code: str) -> tuple[str, int]:
    """(code, number of arcs fixed): each degenerate `threePointArc` in a
    moveTo/lineTo/threePointArc chain becomes `lineTo(end)` (dropped if end == start)."""
    fixed = 0
    out_lines = []
    for line in code.split("\n"):
        pieces, last, cur = [], 0, None
        for m in _CALL.finditer(line):
            if m.group(1):                       # moveTo / lineTo
                cur = (float(m.group(2)), float(m.group(3)))
                continue
            mid = (float(m.group(4)), float(m.group(5)))
            end = (float(m.group(6)), float(m.group(7)))
            start, cur = cur, end
            if start is None:
                continue
            ux, uy = mid[0] - start[0], mid[1] - start[1]
            vx, vy = end[0] - start[0], end[1] - start[1]
            scale = max(ux * ux + uy * uy, vx * vx + vy * vy, 1e-300)
            if abs(ux * vy - uy * vx) / scale > COLLINEAR and (ux or uy) and \
                    (mid[0] - end[0] or mid[1] - end[1]):
                continue                          # a real arc: keep it
            same = vx == 0 and vy == 0
            replacement = "" if same else f".lineTo({m.group(6)}, {m.group(7)})"
            pieces += [line[last:m.start()], replacement]
            last = m.end()
            fixed += 1
        out_lines.append("".join(pieces) + line[last:] if pieces else line)
    return "\n".join(out_lines), fixed

"""The adversarial corpus: hostile candidate programs, one file each under `programs/`.

Each file starts with a header of `# key: value` comment lines:
  expect    the status it must get (alternatives separated by `|` only where documented)
  what      what it does and what must hold
  twin      another program whose metrics this one must match exactly (patching attempts)
  max_iou   the IoU it must stay below (attempts to steal the ground truth)
  requires  `root`: only meaningful (and only safe) when the harness runs as root
  xfail     a known hole, with the fix that closes it (the test is a strict xfail)

Placeholders such as `__MARKER__` are filled in by `Program.render` with values of the run
(paths, ports, the secret's name), so no program depends on the machine it runs on. Every
rendered program starts by naming its process `cbadv<marker>`, so any process it leaves behind,
forked or not, can be found by name afterwards.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from shared_data import GENCAD_SUBSET50

PROGRAMS_DIR = Path(__file__).parent / "programs"
DATA_PATH = GENCAD_SUBSET50
COMM_PREFIX = "cbadv"

# PR_SET_NAME (15): the process's comm becomes "cbadv<marker>", inherited by forked children.
PROLOGUE = ("import ctypes as _cbadv_ctypes\n"
            "_cbadv_ctypes.CDLL(None).prctl(15, b'" + COMM_PREFIX + "__MARKER__', 0, 0, 0)\n"
            "del _cbadv_ctypes\n")

_HEADER = re.compile(r"^#\s*(expect|what|twin|max_iou|requires|xfail):\s*(.*)$")


@dataclass(frozen=True)
class Program:
    name: str
    template: str
    expect: tuple[str, ...]
    what: str
    twin: str | None = None
    max_iou: float | None = None
    requires_root: bool = False
    xfail: str | None = None

    @property
    def id(self) -> str:
        return f"adv-{self.name}"

    def render(self, values: dict[str, str], marker: str) -> str:
        code = PROLOGUE + self.template
        for key, value in {**values, "__MARKER__": marker, "__NAME__": self.name}.items():
            code = code.replace(key, str(value))
        leftover = re.findall(r"__[A-Z][A-Z_]*__", code)
        if leftover:
            raise ValueError(f"{self.name}: placeholders not filled: {sorted(set(leftover))}")
        return code


def parse_program(path: Path) -> Program:
    text = path.read_text()
    meta: dict[str, str] = {}
    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            key, value = m.groups()
            meta[key] = (meta[key] + " " + value) if key in meta else value.strip()
        elif line.startswith("#") and "what" in meta:
            meta["what"] += " " + line.lstrip("# ").strip()
        elif not line.startswith("#"):
            break
    if "expect" not in meta or "what" not in meta:
        raise ValueError(f"{path}: header needs '# expect:' and '# what:' lines")
    return Program(
        name=path.stem, template=text, expect=tuple(s.strip() for s in meta["expect"].split("|")),
        what=meta["what"], twin=meta.get("twin"),
        max_iou=float(meta["max_iou"]) if "max_iou" in meta else None,
        requires_root=meta.get("requires", "").strip() == "root", xfail=meta.get("xfail"))


def load_corpus() -> list[Program]:
    return [parse_program(p) for p in sorted(PROGRAMS_DIR.glob("*.py"))]


def marker_for(session: str, name: str) -> str:
    """8 hex digits, unique per program and per run: comm is 'cbadv' + marker (13 chars)."""
    return hashlib.sha256(f"{session}:{name}".encode()).hexdigest()[:8]


# --------------------------------------------------------------------------- normal programs
@dataclass(frozen=True)
class NormalCase:
    id: str
    reference: str       # ground-truth program
    prediction: str      # what the "model" submitted
    question_id: str


def load_gencad(n: int) -> list[dict]:
    rows = [json.loads(line) for line in DATA_PATH.read_text().splitlines() if line.strip()]
    return rows[:n]


def perturb(code: str, factor: float) -> str:
    """A plausible wrong answer: every extrusion depth scaled by `factor`."""
    return re.sub(r"\.extrude\(([-0-9.e]+)",
                  lambda m: f".extrude({float(m.group(1)) * factor!r}", code)


def normal_cases(n: int = 6) -> list[NormalCase]:
    """GenCAD-Code programs: half submitted exactly, half with scaled extrusions."""
    out = []
    for i, row in enumerate(load_gencad(n)):
        ref = row["ground_truth"]
        pred = ref if i % 2 == 0 else perturb(ref, 1.0 + 0.35 * i)
        out.append(NormalCase(f"normal-{row['question_id']}", ref, pred, str(row["question_id"])))
    return out

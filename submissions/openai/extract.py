"""The program inside a chat reply.

In order: the longest ```python block; else the longest fenced block of any language; else
an opening fence never closed (a reply cut at max_tokens): what follows it; else the reply
itself from its first line that looks like code (leading chatter such as "Here is the code:"
dropped). Reasoning models' <think>...</think> sections are removed first.
"""

from __future__ import annotations

import re

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)^[ \t]*```", re.DOTALL | re.MULTILINE)
_OPEN_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n", re.MULTILINE)
_PYTHON_TAGS = {"python", "py", "python3", "py3"}
_CODE_START = re.compile(r"^(import |from \S+ import |#|[A-Za-z_][A-Za-z0-9_]*\s*=|cq\.)")


def extract_code(reply: str) -> str:
    text = _THINK.sub("", reply or "")
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    python = [body for lang, body in blocks if lang in _PYTHON_TAGS]
    chosen = python or [body for _, body in blocks]
    if chosen:
        return _ending_newline(max(chosen, key=len))
    opened = _OPEN_FENCE.search(text)
    if opened:
        return _ending_newline(text[opened.end():])
    lines = text.strip("\n").splitlines()
    for i, line in enumerate(lines):
        if _CODE_START.match(line):
            return _ending_newline("\n".join(lines[i:]))
    return _ending_newline(text.strip())


def _ending_newline(code: str) -> str:
    code = code.strip("\n")
    return code + "\n" if code else ""

"""A row name per served model: ten API models scored through one adapter are ten rows."""

from __future__ import annotations

import re


def run_label(adapter: str, model: str, given: str = "") -> str:
    """`given` when set, else `<adapter>-<model>` with what a file name cannot hold replaced
    (`openai-gpt-4o`, `openai-qwen2.5-vl-7b-instruct`, `hf-tiny-ved`)."""
    if given.strip():
        return given.strip()
    tail = re.sub(r"[^A-Za-z0-9._-]+", "_", model.strip().rstrip("/").split("/")[-1]) or "model"
    return f"{adapter}-{tail}"

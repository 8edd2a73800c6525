"""The `hf` submission's options as one typed, frozen record, checked once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cadbench.errors import InputError
from submissions.openai.settings import DEFAULT_PROMPT, DEFAULT_SYSTEM, option_text

DTYPES = ("auto", "float32", "float16", "bfloat16")

DEFAULT_OPTIONS: dict[str, Any] = {
    "model": "",              # a local folder, or a name imported with `cadbench models import`
    "device": "auto",         # auto (cuda when torch sees one, else cpu) | cpu | cuda[:N]
    "dtype": "auto",          # auto (float32 on cpu, bfloat16/float16 on cuda) | float32 | ...
    "max_new_tokens": 512,
    "num_beams": 1,           # > 1: beam search (deterministic)
    "do_sample": False,       # sample instead of greedy decoding (the run's --temperature wins)
    "temperature": 1.0,       # when sampling
    "top_p": 1.0,
    "prompt": DEFAULT_PROMPT,  # image-text-to-text models only; @FILE reads FILE
    "system": DEFAULT_SYSTEM,  # idem; "" = no system message
    "extract": True,          # take the program out of fences / chatter (chat models)
    "batch_size": 8,          # images per generate call
    "label": "",              # leaderboard row name; "" = hf-<model folder name>
}


@dataclass(frozen=True)
class HFSettings:
    model: str
    device: str
    dtype: str
    max_new_tokens: int
    num_beams: int
    do_sample: bool
    temperature: float
    top_p: float
    prompt: str
    system: str
    extract: bool
    batch_size: int


def settings_from(options: dict[str, Any]) -> HFSettings:
    """Check the options; InputError names the bad one."""
    model = str(options["model"]).strip()
    if not model:
        raise InputError("hf: no model given: pass --opt model=DIR (a local Hugging Face "
                         "folder) or a name imported with `cadbench models import DIR`")
    dtype = str(options["dtype"]).strip().lower()
    if dtype not in DTYPES:
        raise InputError(f"hf: dtype={dtype!r}; choose one of {', '.join(DTYPES)}")
    for name in ("max_new_tokens", "num_beams", "batch_size"):
        if int(options[name]) < 1:
            raise InputError(f"hf: option {name}={options[name]!r} must be >= 1")
    if not float(options["temperature"]) > 0:
        raise InputError(f"hf: temperature={options['temperature']!r} must be > 0 (greedy "
                         f"decoding is do_sample=false)")
    if not 0 < float(options["top_p"]) <= 1:
        raise InputError(f"hf: top_p={options['top_p']!r} must be in (0, 1]")
    return HFSettings(
        model=model, device=str(options["device"]).strip() or "auto", dtype=dtype,
        max_new_tokens=int(options["max_new_tokens"]), num_beams=int(options["num_beams"]),
        do_sample=bool(options["do_sample"]), temperature=float(options["temperature"]),
        top_p=float(options["top_p"]), prompt=option_text("hf", "prompt", str(options["prompt"])),
        system=option_text("hf", "system", str(options["system"])), extract=bool(options["extract"]),
        batch_size=int(options["batch_size"]))

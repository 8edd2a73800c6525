"""The `openai` submission's options as one typed, frozen record, checked once.

The API key is not an option: only the NAME of the environment variable that holds it is
(`api_key_env`), so options, run folders, records and cache keys never carry the key.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cadbench.config import cadbench_home
from cadbench.errors import InputError

# GenCAD-Code's own instruction (the `text` field of every row of its evaluation set).
DEFAULT_PROMPT = ("Generate the CADQuery code needed to create the CAD for the provided image. "
                  "Just the code, no other words.")
# cadbench reads the final solid from `solid` (ExecConfig.result_var): say so up front.
DEFAULT_SYSTEM = ("You are an expert CAD engineer who writes CadQuery (Python) programs. "
                  "Reply with one complete Python program that imports cadquery as cq and "
                  "assigns the final solid to a variable named `solid`.")

DEFAULT_OPTIONS: dict[str, Any] = {
    "base_url": "https://api.openai.com/v1",  # ends before /chat/completions
    "model": "",                      # the endpoint's model name (required)
    "api_key_env": "OPENAI_API_KEY",  # the variable's name; "" = send no key (local servers)
    "prompt": DEFAULT_PROMPT,         # user text sent with the image; @FILE reads FILE
    "system": DEFAULT_SYSTEM,         # system message; @FILE reads FILE; "" = none
    "max_tokens": 1024,
    "token_field": "max_tokens",      # or max_completion_tokens (OpenAI's reasoning models)
    "send_sampling": True,            # false: no temperature/top_p sent (models refusing them)
    "extra_body": "",                 # JSON object merged into each request, e.g. '{"top_k": 20}'
    "temperature": 0.0,               # 0 = deterministic request (no seed sent)
    "top_p": 1.0,
    "request_timeout_s": 120.0,
    "max_retries": 4,                 # retries after the first try (429, 5xx, timeouts, ...)
    "backoff_s": 1.0,                 # first retry delay; doubles each time, with jitter
    "max_backoff_s": 60.0,            # no single wait longer than this (Retry-After included)
    "concurrency": 4,                 # requests in flight at once
    "max_calls": 0,                   # budget: requests sent by one command at most; 0 = no cap
    "usd_per_mtok_prompt": 0.0,       # prices per million tokens: the record then says
    "usd_per_mtok_completion": 0.0,   # what the command cost (0 = not priced)
    "cache_dir": "",                  # "" = cadbench_home()/responses; "none" = no cache
    "batch_size": 16,                 # samples per generate call (predictions saved per batch)
    "label": "",                      # leaderboard row name; "" = openai-<model>
}


@dataclass(frozen=True)
class OpenAISettings:
    base_url: str
    model: str
    api_key_env: str
    prompt: str
    system: str
    max_tokens: int
    token_field: str
    send_sampling: bool
    extra_body: dict
    temperature: float
    top_p: float
    request_timeout_s: float
    max_retries: int
    backoff_s: float
    max_backoff_s: float
    concurrency: int
    max_calls: int
    usd_per_mtok_prompt: float
    usd_per_mtok_completion: float
    cache_dir: Path | None

    @property
    def endpoint(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def api_key(self) -> str | None:
        """The key, read from the environment at request time (never stored on self)."""
        if not self.api_key_env:
            return None
        key = os.environ.get(self.api_key_env, "").strip()
        return key or None


def settings_from(options: dict[str, Any]) -> OpenAISettings:
    """Check the options; InputError names the bad one."""
    def positive(name: str, value: float, allow_zero: bool = False) -> None:
        if value < 0 or (value == 0 and not allow_zero):
            raise InputError(f"openai: option {name}={value!r} must be "
                             f"{'>= 0' if allow_zero else '> 0'}")

    base_url = str(options["base_url"]).strip()
    if not base_url.startswith(("http://", "https://")):
        raise InputError(f"openai: base_url={base_url!r} must start with http:// or https://")
    if base_url.rstrip("/").endswith("/chat/completions"):
        raise InputError(f"openai: base_url={base_url!r} should stop before /chat/completions "
                         f"(e.g. http://localhost:8000/v1)")
    model = str(options["model"]).strip()
    if not model:
        raise InputError("openai: no model given: pass --opt model=NAME (the name the "
                         "endpoint serves, e.g. gpt-4o, qwen2.5-vl-7b-instruct)")
    for name in ("max_tokens", "concurrency", "request_timeout_s"):
        positive(name, options[name])
    for name in ("max_retries", "backoff_s", "max_backoff_s", "temperature", "max_calls",
                 "usd_per_mtok_prompt", "usd_per_mtok_completion"):
        positive(name, options[name], allow_zero=True)
    if not 0 < float(options["top_p"]) <= 1:
        raise InputError(f"openai: top_p={options['top_p']!r} must be in (0, 1]")
    token_field = str(options["token_field"]).strip()
    if token_field not in ("max_tokens", "max_completion_tokens"):
        raise InputError(f"openai: token_field={token_field!r}; choose max_tokens or "
                         f"max_completion_tokens")
    extra = _extra_body(str(options["extra_body"]))
    cache = str(options["cache_dir"]).strip()
    cache_dir = (None if cache.lower() == "none" else
                 Path(cache).expanduser() if cache else cadbench_home() / "responses")
    return OpenAISettings(
        base_url=base_url.rstrip("/"), model=model, api_key_env=str(options["api_key_env"]),
        prompt=option_text("openai", "prompt", str(options["prompt"])),
        system=option_text("openai", "system", str(options["system"])),
        max_tokens=int(options["max_tokens"]), token_field=token_field,
        send_sampling=bool(options["send_sampling"]), extra_body=extra,
        temperature=float(options["temperature"]),
        top_p=float(options["top_p"]), request_timeout_s=float(options["request_timeout_s"]),
        max_retries=int(options["max_retries"]), backoff_s=float(options["backoff_s"]),
        max_backoff_s=float(options["max_backoff_s"]), concurrency=int(options["concurrency"]),
        max_calls=int(options["max_calls"]),
        usd_per_mtok_prompt=float(options["usd_per_mtok_prompt"]),
        usd_per_mtok_completion=float(options["usd_per_mtok_completion"]),
        cache_dir=cache_dir)


def option_text(who: str, name: str, value: str) -> str:
    """An option's text, or the content of the file it names as `@path`."""
    if not value.startswith("@"):
        return value
    path = Path(value[1:]).expanduser()
    try:
        return path.read_text()
    except OSError as e:
        raise InputError(f"{who}: option {name}={value!r}: cannot read {path} "
                         f"({e.strerror or e})") from None


# Fields cadbench builds itself: extra_body may add to a request, not replace these.
_OWN_FIELDS = {"model", "messages", "stream", "n"}


def _extra_body(text: str) -> dict:
    if not text.strip():
        return {}
    try:
        extra = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"openai: extra_body is not JSON ({e}): {text!r}") from None
    if not isinstance(extra, dict):
        raise InputError(f"openai: extra_body must be a JSON object, got {text!r}")
    clash = sorted(_OWN_FIELDS & set(extra))
    if clash:
        raise InputError(f"openai: extra_body may not set {', '.join(clash)} (cadbench sends "
                         f"one non-streamed reply per candidate)")
    return extra

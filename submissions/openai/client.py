"""One chat-completions request, with retries: standard library only (urllib).

Retried, with exponential backoff and jitter (from a seeded rng, so a run's waits are
reproducible), honouring Retry-After: HTTP 408/409/429 and 5xx, timeouts, refused or dropped
connections, and 200 replies whose body is not a chat completion. Not retried: other 4xx
(a wrong model name or key does not get better by asking again).

The API key goes into the Authorization header and nowhere else: every message this module
builds is passed through `scrub`, in case a server echoes the header back.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

RETRY_STATUS = {408, 409, 429}   # and every 5xx
_sleep = time.sleep              # the wait between attempts (tests record it instead)
_BODY_EXCERPT = 300              # characters of an error body kept in a message
MAX_BODY_BYTES = 32 * 2**20      # a chat completion is kilobytes; more is a broken server
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Reply:
    """A chat completion's useful part."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    served_model: str | None     # the model name the server reports
    latency_s: float             # of the request that succeeded
    attempts: int

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "finish_reason": self.finish_reason, "served_model": self.served_model,
                "latency_s": self.latency_s, "attempts": self.attempts}


class RequestFailed(Exception):
    """No usable reply after the allowed attempts; the message says why (key scrubbed).
    `status`: the HTTP status of a refusal that was not retried, else None."""

    def __init__(self, message: str, attempts: int, status: int | None = None):
        super().__init__(message)
        self.attempts = attempts
        self.status = status


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def scrub(text: str, key: str | None) -> str:
    return text.replace(key, "***") if key else text


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date; None when absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(retry: int, base_s: float, cap_s: float, rng: random.Random,
                  retry_after: float | None) -> float:
    """Wait before retry number `retry` (0 = the first): base * 2^retry times a jitter in
    [0.5, 1.5), at least what Retry-After asks, at most `cap_s`."""
    delay = base_s * (2 ** retry) * (0.5 + rng.random())
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, cap_s)


def parse_completion(raw: bytes) -> tuple[str, int, int, str | None, str | None]:
    """(text, prompt tokens, completion tokens, finish reason, served model) of a
    chat-completions body; ValueError saying what is wrong when it is not one."""
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"body is not JSON ({e}): {_excerpt(raw)!r}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"body is JSON {type(obj).__name__}, not an object")
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError(f"body has no choices: {_excerpt(raw)!r}")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise ValueError(f"choices[0] has no message: {_excerpt(raw)!r}")
    content = message.get("content")
    if isinstance(content, list):   # some servers answer with content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if content is not None and not isinstance(content, str):
        raise ValueError(f"message content is {type(content).__name__}, not text")
    usage = obj.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    model = obj.get("model")
    return (content or "", _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")),
            choices[0].get("finish_reason"), model if isinstance(model, str) else None)


def post_chat(endpoint: str, body: dict, api_key: str | None, timeout_s: float,
              max_retries: int, backoff_s: float, max_backoff_s: float, rng: random.Random,
              sleep: Callable[[float], None] | None = None) -> Reply:
    """POST `body` to `endpoint` until a chat completion comes back; RequestFailed else."""
    sleep = sleep or _sleep
    data = json.dumps(body).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json",
               "User-Agent": "cadbench"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    last = ""
    for attempt in range(max_retries + 1):
        t0 = time.perf_counter()
        try:
            raw = _post_once(endpoint, data, headers, timeout_s)
            try:
                text, p_tok, c_tok, finish, model = parse_completion(raw)
            except ValueError as e:
                raise _Retryable(f"malformed reply: {e}") from None
            return Reply(text, p_tok, c_tok, finish, model,
                         round(time.perf_counter() - t0, 6), attempt + 1)
        except _Retryable as e:
            last = scrub(str(e), api_key)
            if attempt == max_retries:
                break
            sleep(backoff_delay(attempt, backoff_s, max_backoff_s, rng, e.retry_after))
        except RequestFailed as e:  # not retryable
            raise RequestFailed(scrub(str(e), api_key), attempt + 1, e.status) from None
    tries = max_retries + 1
    raise RequestFailed(f"{last} (after {tries} attempt{'s' if tries > 1 else ''})", tries)


def _post_once(endpoint: str, data: bytes, headers: dict, timeout_s: float) -> bytes:
    req = urllib.request.Request(endpoint, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return _read_body(resp, endpoint, timeout_s)
    except urllib.error.HTTPError as e:
        detail = _excerpt(_read_quietly(e))
        msg = f"HTTP {e.code} from {endpoint}: {detail}"
        if e.code in RETRY_STATUS or e.code >= 500:
            raise _Retryable(msg, retry_after_seconds(e.headers.get("Retry-After"))) from None
        raise RequestFailed(msg, 1, e.code) from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, TimeoutError):
            raise _Retryable(f"no reply from {endpoint} within {timeout_s:g} s") from None
        raise _Retryable(f"cannot reach {endpoint}: {reason}") from None
    except TimeoutError:
        raise _Retryable(f"no reply from {endpoint} within {timeout_s:g} s") from None
    except (http.client.HTTPException, ConnectionError, OSError) as e:
        raise _Retryable(f"connection to {endpoint} failed: {type(e).__name__}: {e}") from None


def _read_body(resp, endpoint: str, timeout_s: float) -> bytes:
    """The reply body within `timeout_s` in all (the socket timeout bounds each read only: a
    server dripping bytes could hold a worker forever) and at most MAX_BODY_BYTES."""
    deadline = time.monotonic() + timeout_s
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = resp.read1(_CHUNK)   # what has arrived, not a full chunk
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _Retryable(f"reply from {endpoint} over {MAX_BODY_BYTES // 2**20} MiB")
        if time.monotonic() > deadline:
            raise _Retryable(f"reply from {endpoint} not complete within {timeout_s:g} s")


def _read_quietly(e: urllib.error.HTTPError) -> bytes:
    try:
        return e.read()
    except (OSError, http.client.HTTPException):  # the body only serves the message
        return b""


def _excerpt(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").strip()
    return text[:_BODY_EXCERPT] + ("..." if len(text) > _BODY_EXCERPT else "")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0

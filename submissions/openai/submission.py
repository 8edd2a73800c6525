"""The `openai` submission: any OpenAI-compatible chat-completions endpoint (hosted APIs,
vLLM, Ollama, LM Studio, llama.cpp's server) as an image-to-CadQuery model.

Per candidate: one request with the system prompt, the prompt and the image inline as
`data:image/png;base64`; the program is extracted from the reply (extract.py). Requests run on
a bounded thread pool (`concurrency`), are retried on rate limits, server errors and timeouts
(client.py) and cached on disk (cache.py). A request that still fails gives the candidate a
one-line comment for a program, which scores as a failure (no solid) and is counted in the
record; the run goes on. Standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np

from cadbench.errors import InputError
from cadbench.submissions import Sampling, Submission

from .cache import ResponseCache, cache_key
from .client import Reply, RequestFailed, post_chat
from .extract import extract_code
from .naming import run_label
from .settings import DEFAULT_OPTIONS, OpenAISettings, settings_from


# Refusals that say the set-up is wrong (key, permission, URL or model name), not the sample:
# the run stops instead of scoring every sample as a failure (and paying for nothing).
STOP_STATUS = {401, 403, 404}


def say(msg: str) -> None:
    print(f"openai: {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class _Image:
    data_url: str
    sha256: str


@dataclass(frozen=True)
class _Job:
    """One request to make (several candidates may share it: same key, same reply)."""

    key: str
    body: dict
    request_for_cache: dict      # the body with the image replaced by its hash
    seed: int                    # of the jitter rng


class _Stats:
    """Calls, cache hits, tokens and latency, summed over the threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = self.cache_hits = self.failed = self.attempts = 0
        self.prompt_tokens = self.completion_tokens = 0
        self.cached_prompt_tokens = self.cached_completion_tokens = 0
        self.latency_s = 0.0
        self.finish_length = 0   # replies cut at max_tokens
        self.started = 0         # requests sent (or being sent): what the budget counts

    def start(self, cap: int) -> bool:
        """Book one request against the budget (`cap` 0: none); False when it is spent."""
        with self.lock:
            if cap and self.started >= cap:
                return False
            self.started += 1
            return True

    def fresh(self, reply: Reply) -> None:
        with self.lock:
            self.calls += 1
            self.attempts += reply.attempts
            self.prompt_tokens += reply.prompt_tokens
            self.completion_tokens += reply.completion_tokens
            self.latency_s += reply.latency_s
            self.finish_length += reply.finish_reason == "length"

    def cached(self, reply: dict) -> None:
        with self.lock:
            self.cache_hits += 1
            self.cached_prompt_tokens += int(reply.get("prompt_tokens") or 0)
            self.cached_completion_tokens += int(reply.get("completion_tokens") or 0)
            self.finish_length += reply.get("finish_reason") == "length"

    def failure(self, attempts: int) -> None:
        with self.lock:
            self.failed += 1
            self.attempts += attempts

    def to_dict(self, usd_per_mtok: tuple[float, float] = (0.0, 0.0)) -> dict[str, Any]:
        p, c = self.prompt_tokens, self.completion_tokens
        pa, ca = p + self.cached_prompt_tokens, c + self.cached_completion_tokens
        return {
            "calls": self.calls, "cache_hits": self.cache_hits, "failed_requests": self.failed,
            "http_attempts": self.attempts,
            # what this process paid for (fresh calls) ...
            "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
            # ... and what the predictions cost, replies served from the cache included
            "usage_with_cache": {"prompt_tokens": pa, "completion_tokens": ca,
                                 "total_tokens": pa + ca},
            "latency_s_mean": round(self.latency_s / self.calls, 4) if self.calls else None,
            "latency_s_total": round(self.latency_s, 3),
            "replies_cut_at_max_tokens": self.finish_length,
            # at the given prices, what this command paid (None when no price was given)
            "cost_usd": (round((p * usd_per_mtok[0] + c * usd_per_mtok[1]) / 1e6, 6)
                         if any(usd_per_mtok) else None),
        }


# Not decorated with @register_submission: a built-in (BUILTIN_SUBMISSIONS), defined in a
# submodule and re-exported by the package (the decorator would warn).
class OpenAISubmission(Submission):
    name = "openai"
    description = ("Any OpenAI-compatible chat-completions endpoint (hosted API, vLLM, Ollama, "
                   "LM Studio): image inline, retries, bounded concurrency, on-disk reply "
                   "cache; key from an environment variable.")
    dependencies = ()
    default_options = DEFAULT_OPTIONS
    # It samples when asked to: K candidates need a temperature > 0 (the run's --temperature
    # or the option); K > 1 at temperature 0 is refused rather than K copies of one reply.
    stochastic = True

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.settings: OpenAISettings = settings_from(self.options)
        self.cache = ResponseCache(self.settings.cache_dir)
        self.stats = _Stats()
        self._warned_no_key = False

    # -- generation ------------------------------------------------------------------------
    def generate(self, samples) -> list[str]:
        return [cands[0] for cands in self.generate_many(samples, Sampling())]

    def generate_many(self, samples, sampling: Sampling) -> list[list[str]]:
        temperature = (self.settings.temperature if sampling.temperature is None
                       else float(sampling.temperature))
        top_p = self.settings.top_p if sampling.top_p is None else float(sampling.top_p)
        sampled = temperature > 0
        k = sampling.k
        if k > 1 and not sampled:
            raise InputError(f"openai: {k} candidates per sample at temperature 0 would be "
                             f"{k} copies of one reply; pass --temperature T (> 0) or "
                             f"--opt temperature=T, or --samples 1")
        images = [_encode_image(smp) for smp in samples]
        jobs: list[list[_Job]] = []
        for smp, image in zip(samples, images):
            jobs.append([self._job(image, temperature, top_p,
                                   sampling.seed_for(smp.id, c) if sampled else None,
                                   c if sampled else None, sampling.seed_for(smp.id, c))
                         for c in range(k)])
        unique = {job.key: job for row in jobs for job in row}   # one request per key
        api_key = self._api_key()
        texts = self._answer_all(list(unique.values()), api_key)
        return [[texts[job.key] for job in row] for row in jobs]

    def _answer_all(self, jobs: list[_Job], api_key: str | None) -> dict[str, str]:
        """key -> program, `concurrency` requests at a time; a request that stops the run
        (InputError) cancels those not started yet."""
        workers = max(1, min(self.settings.concurrency, len(jobs)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai")
        try:
            futures = {pool.submit(self._answer, job, api_key): job.key for job in jobs}
            return {futures[f]: f.result() for f in as_completed(futures)}
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _job(self, image: _Image, temperature: float, top_p: float, seed: int | None,
             candidate: int | None, jitter_seed: int) -> _Job:
        s = self.settings
        messages: list[dict[str, Any]] = []
        if s.system:
            messages.append({"role": "system", "content": s.system})
        user = [{"type": "text", "text": s.prompt},
                {"type": "image_url", "image_url": {"url": image.data_url}}]
        messages.append({"role": "user", "content": user})
        body: dict[str, Any] = {**s.extra_body, "model": s.model, "messages": messages,
                                s.token_field: s.max_tokens}
        if s.send_sampling:
            body.update(temperature=temperature, top_p=top_p)
        if seed is not None:
            body["seed"] = seed
        shown = dict(body, messages=[*messages[:-1], {"role": "user", "content": [
            user[0], {"type": "image_url", "image_url": {"url": f"sha256:{image.sha256}"}}]}])
        key = cache_key(s.endpoint, shown, image.sha256, candidate)
        return _Job(key=key, body=body, request_for_cache=dict(shown, endpoint=s.endpoint),
                    seed=jitter_seed)

    def _answer(self, job: _Job, api_key: str | None) -> str:
        hit = self.cache.get(job.key)
        if hit is not None:
            self.stats.cached(hit)
            return extract_code(hit["text"])
        s = self.settings
        if not self.stats.start(s.max_calls):
            raise InputError(f"openai: max_calls={s.max_calls} requests sent, the budget is "
                             f"spent; the replies so far are cached: run again (with a larger "
                             f"max_calls) to go on from there")
        try:
            reply = post_chat(s.endpoint, job.body, api_key, s.request_timeout_s,
                              s.max_retries, s.backoff_s, s.max_backoff_s,
                              random.Random(job.seed))
        except RequestFailed as e:
            self.stats.failure(e.attempts)
            if e.status in STOP_STATUS:   # every other request would be refused the same way
                raise InputError(f"openai: the endpoint refused the request, stopping the "
                                 f"run (check base_url, model and ${s.api_key_env}): "
                                 f"{e}") from None
            say(f"request failed, the candidate scores as a failure: {e}")
            return f"# openai: no program: {_one_line(str(e))}\n"
        self.stats.fresh(reply)
        try:
            self.cache.put(job.key, job.request_for_cache, reply.to_dict())
        except OSError as e:   # the reply is good; only a later re-run would pay again
            say(f"cannot write the reply cache under {s.cache_dir}: {e}")
        return extract_code(reply.text)

    def _api_key(self) -> str | None:
        key = self.settings.api_key()
        if key is None and self.settings.api_key_env and not self._warned_no_key:
            self._warned_no_key = True
            say(f"${self.settings.api_key_env} is not set: requests go without a key (fine "
                f"for a local server; pass --opt api_key_env=NAME or set the variable)")
        return key

    # -- description -----------------------------------------------------------------------
    def run_name(self) -> str:
        """The leaderboard row this run belongs to (the class name `openai` is every
        endpoint's)."""
        return run_label("openai", self.settings.model, str(self.options["label"]))

    def metadata(self) -> dict[str, Any]:
        out = super().metadata()
        out["label"] = self.run_name()
        out["endpoint"] = self.settings.endpoint
        out["served_model"] = self.settings.model
        out.update(self.stats.to_dict((self.settings.usd_per_mtok_prompt,
                                       self.settings.usd_per_mtok_completion)))
        return out


def _encode_image(sample) -> _Image:
    image = getattr(sample, "image", None)
    if not isinstance(image, np.ndarray):
        raise InputError(f"openai: sample {sample.id} has no image (an image-to-code model "
                         f"needs the dataset's images)")
    from PIL import Image
    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    digest = hashlib.sha256(repr(pixels.shape).encode() + pixels.tobytes()).hexdigest()
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    b64 = base64.b64encode(buf.getvalue()).decode("ascii")
    return _Image(data_url=f"data:image/png;base64,{b64}", sha256=digest)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:400]

"""The `openai` submission against a real HTTP server on 127.0.0.1 (fake_openai_server.py):
end to end through `cadbench run` (record, usage, cache), retries on 429/500/timeouts,
malformed bodies as per-sample failures, and the API key kept out of everything but the
Authorization header. Any connection to a host other than 127.0.0.1 fails the test."""

from __future__ import annotations

import base64
import io
import json
import random
import socket

import numpy as np
import pytest
from fake_openai_server import BOX, COMPLETION_TOKENS, PROMPT_TOKENS, FakeOpenAI
from PIL import Image

from cadbench.datasets.base import TaskInput
from cadbench.errors import InputError
from cadbench.run import RunSettings, run_model
from cadbench.submissions import Sampling, get_submission
from submissions.openai import OpenAISubmission
from submissions.openai import client as client_mod
from submissions.openai.client import backoff_delay, retry_after_seconds
from submissions.openai.extract import extract_code
from submissions.openai.settings import DEFAULT_PROMPT, DEFAULT_SYSTEM

KEY_ENV = "CADBENCH_TEST_OPENAI_KEY"
SECRET = "sk-test-7f3a9c1e5b2d4f60"


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Networking off but for the local stand-in: no proxy, no other host."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        if address[0] not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"test tried to reach {address}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    monkeypatch.setenv(KEY_ENV, SECRET)


@pytest.fixture()
def server():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def synth3():
    from cadbench.datasets.synth import load_synth
    return load_synth("test", size=3, image_size=64, n_jobs=1, progress=False)


def options(server, tmp_path, **extra):
    return {"base_url": server.base_url, "model": "fake-vlm", "api_key_env": KEY_ENV,
            "cache_dir": str(tmp_path / "responses"), "backoff_s": 0.01,
            "request_timeout_s": 5.0, **extra}


def tasks(n=1, seed=0):
    rng = np.random.default_rng(seed)
    return [TaskInput(f"t{i}", rng.integers(0, 256, (24, 24, 3), np.uint8)) for i in range(n)]


def run(tmp_path, name, synth3, opts, **settings):
    return run_model(RunSettings(model="openai", dataset="tiny", split="test", options=opts,
                                 **settings),
                     run_dir=tmp_path / name, record_path=tmp_path / f"{name}.json",
                     workers=1, progress=False, load_samples=lambda ds, split: synth3)


def all_text_under(root) -> str:
    return "\n".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


def test_end_to_end_run_records_usage_then_a_second_run_is_served_from_the_cache(
        server, tmp_path, synth3, capsys):
    opts = options(server, tmp_path, concurrency=2)
    rec = run(tmp_path, "first", synth3, opts)
    assert rec.metrics["n"] == 3 and rec.metrics["vsr"] == 1.0
    assert rec.model == "openai-fake-vlm"      # one leaderboard row per served model
    sub = rec.submission
    assert sub["name"] == "openai" and sub["calls"] == 3 and sub["cache_hits"] == 0
    assert sub["usage"] == {"prompt_tokens": 3 * PROMPT_TOKENS,
                            "completion_tokens": 3 * COMPLETION_TOKENS,
                            "total_tokens": 3 * (PROMPT_TOKENS + COMPLETION_TOKENS)}
    assert sub["latency_s_mean"] is not None and sub["failed_requests"] == 0
    assert sub["label"] == "openai-fake-vlm"     # a row per served model, not one "openai"
    preds = [json.loads(line) for line in (tmp_path / "first" / "predictions.jsonl")
             .read_text().splitlines()]
    assert [p["code"] for p in preds] == [BOX] * 3   # the chatter around the fence is gone

    # What went over the wire: the prompts, the image inline, the key in the header only.
    assert len(server.requests) == 3
    by_image = {}
    for req in server.requests:
        assert req.path == "/v1/chat/completions"
        assert req.headers["Authorization"] == f"Bearer {SECRET}"
        system, user = req.body["messages"]
        assert system == {"role": "system", "content": DEFAULT_SYSTEM}
        text, image = user["content"]
        assert text == {"type": "text", "text": DEFAULT_PROMPT}
        url = image["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        png = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        by_image[np.asarray(png.convert("RGB")).tobytes()] = req
        assert req.body["model"] == "fake-vlm" and "seed" not in req.body
    assert set(by_image) == {s.image.tobytes() for s in synth3}

    # A fresh run folder with the same settings pays for nothing.
    again = run(tmp_path, "second", synth3, opts)
    assert len(server.requests) == 3
    assert again.submission["calls"] == 0 and again.submission["cache_hits"] == 3
    assert again.submission["usage"]["total_tokens"] == 0
    assert again.submission["usage_with_cache"] == sub["usage"]
    assert again.metrics["vsr"] == 1.0

    # The key is nowhere on disk (run folders, records, cache) nor in what was printed.
    printed = capsys.readouterr()
    assert SECRET not in all_text_under(tmp_path)
    assert SECRET not in printed.out + printed.err
    assert KEY_ENV in json.dumps(rec.submission["options"])   # the variable's name is kept


def test_a_request_that_keeps_failing_scores_as_a_failure_and_is_not_cached(
        server, tmp_path, synth3):
    # concurrency 1: the first sample's two attempts meet the two malformed answers
    server.script = ["malformed", "no_choices"]
    opts = options(server, tmp_path, concurrency=1, max_retries=1)
    rec = run(tmp_path, "flaky", synth3, opts)
    assert rec.metrics["n"] == 3 and rec.metrics["vsr"] == pytest.approx(2 / 3)
    assert rec.submission["failed_requests"] == 1 and rec.submission["calls"] == 2
    assert rec.submission["http_attempts"] == 4
    codes = [json.loads(line)["code"] for line in (tmp_path / "flaky" / "predictions.jsonl")
             .read_text().splitlines()]
    failed = [c for c in codes if c != BOX]
    assert len(failed) == 1 and failed[0].startswith("# openai: no program: malformed reply")
    assert "no choices" in failed[0] and "after 2 attempts" in failed[0]
    results = [json.loads(line) for line in (tmp_path / "flaky" / "results.jsonl")
               .read_text().splitlines()]
    assert sorted(r["status"] == "ok" for r in results) == [False, True, True]

    # Only the failed sample is asked again by a new run; the others come from the cache.
    before = len(server.requests)
    again = run(tmp_path, "flaky2", synth3, opts)
    assert len(server.requests) == before + 1
    assert again.submission["cache_hits"] == 2 and again.metrics["vsr"] == 1.0


def test_samples_and_temperature_of_the_run_reach_the_requests(server, tmp_path, synth3):
    rec = run(tmp_path, "k2", synth3[:2], options(server, tmp_path), samples=2,
              temperature=0.7, top_p=0.9, seed=3)
    assert rec.n_predictions == 4 and rec.submission["calls"] == 4
    assert {(r.body["temperature"], r.body["top_p"]) for r in server.requests} == {(0.7, 0.9)}
    sampling = Sampling(k=2, temperature=0.7, top_p=0.9, seed=3)
    assert sorted(r.body["seed"] for r in server.requests) == sorted(
        sampling.seed_for(smp.id, c) for smp in synth3[:2] for c in range(2))
    assert rec.config["run"]["candidates"] == 2
    with pytest.raises(InputError, match="2 copies of one reply"):
        run(tmp_path, "k2-greedy", synth3[:2], options(server, tmp_path), samples=2)


def test_429_with_retry_after_and_500_are_retried(server, tmp_path, monkeypatch):
    waits = []
    monkeypatch.setattr(client_mod, "_sleep", waits.append)
    server.script = ["429", "500"]
    server.retry_after = "2"
    sub = OpenAISubmission(**options(server, tmp_path, max_retries=2))
    assert sub.generate(tasks(1)) == [BOX]
    assert len(server.requests) == 3
    assert waits[0] == 2.0                   # Retry-After honoured (backoff alone: ~0.01 s)
    assert 0.005 <= waits[1] < 0.1           # then exponential backoff with jitter
    assert sub.metadata()["http_attempts"] == 3 and sub.metadata()["calls"] == 1


def test_requests_run_concurrently_up_to_the_bound(server, tmp_path):
    server.delay_s = 0.3
    sub = OpenAISubmission(**options(server, tmp_path, concurrency=3))
    assert sub.generate(tasks(7)) == [BOX] * 7
    assert len(server.requests) == 7 and 2 <= server.max_in_flight <= 3


def test_a_budget_stops_the_command_and_a_rerun_goes_on_from_the_cache(server, tmp_path):
    opts = options(server, tmp_path, concurrency=1, max_calls=2, usd_per_mtok_prompt=2.5,
                   usd_per_mtok_completion=10.0)
    sub = OpenAISubmission(**opts)
    with pytest.raises(InputError, match="max_calls=2 requests sent, the budget is spent"):
        sub.generate(tasks(3))
    assert len(server.requests) == 2
    meta = sub.metadata()
    assert meta["calls"] == 2 and meta["cost_usd"] == pytest.approx(
        (2 * PROMPT_TOKENS * 2.5 + 2 * COMPLETION_TOKENS * 10.0) / 1e6)
    again = OpenAISubmission(**opts)
    assert again.generate(tasks(3)) == [BOX] * 3
    assert len(server.requests) == 3 and again.metadata()["cache_hits"] == 2
    assert OpenAISubmission(**options(server, tmp_path)).metadata()["cost_usd"] is None


def test_a_slow_server_times_out_and_the_sample_fails_clearly(server, tmp_path, monkeypatch):
    monkeypatch.setattr(client_mod, "_sleep", lambda s: None)
    server.default = "slow"
    sub = OpenAISubmission(**options(server, tmp_path, request_timeout_s=0.2, max_retries=1))
    [code] = sub.generate(tasks(1))
    assert code.startswith("# openai: no program: no reply from http://127.0.0.1:")
    assert "within 0.2 s (after 2 attempts)" in code
    assert len(server.requests) == 2 and sub.metadata()["failed_requests"] == 1


def test_a_body_dripping_in_is_cut_at_the_timeout(server, tmp_path, monkeypatch):
    monkeypatch.setattr(client_mod, "_sleep", lambda s: None)
    server.script = ["drip"]
    sub = OpenAISubmission(**options(server, tmp_path, request_timeout_s=0.5, max_retries=1))
    assert sub.generate(tasks(1)) == [BOX]        # the retry gets a normal answer
    assert len(server.requests) == 2 and sub.metadata()["http_attempts"] == 2


def test_a_refused_connection_is_retried_then_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(client_mod, "_sleep", lambda s: None)
    with FakeOpenAI() as gone:
        url = gone.base_url   # a port nobody listens on once the server has stopped
    sub = OpenAISubmission(base_url=url, model="m", api_key_env=KEY_ENV, max_retries=2,
                           cache_dir=str(tmp_path / "c"))
    [code] = sub.generate(tasks(1))
    assert code.startswith("# openai: no program: cannot reach") and "3 attempts" in code


def test_client_errors_are_not_retried_and_an_echoed_key_is_scrubbed(server, tmp_path,
                                                                      capsys):
    # A refusal of one request (400) fails that sample only.
    server.script = ["400"]
    sub = OpenAISubmission(**options(server, tmp_path, max_retries=3, concurrency=1))
    codes = sub.generate(tasks(2))
    assert len(server.requests) == 2 and codes[1] == BOX
    assert codes[0].startswith("# openai: no program: HTTP 400") and "image too large" in codes[0]
    # A refusal that says the set-up is wrong (401) stops the run, the key scrubbed.
    server.default = "401_echo"
    with pytest.raises(InputError, match="refused the request, stopping the run") as err:
        OpenAISubmission(**options(server, tmp_path, max_retries=3, concurrency=1)).generate(
            tasks(6, seed=9))
    assert 3 <= len(server.requests) <= 4     # the requests not started yet were cancelled
    assert "HTTP 401" in str(err.value) and "Bearer ***" in str(err.value)
    assert SECRET not in str(err.value) and SECRET not in capsys.readouterr().err
    assert len(list((tmp_path / "responses").rglob("*.json"))) == 1   # only the good reply


def test_sampling_sends_a_seed_per_candidate_and_greedy_k_copies_are_refused(server, tmp_path):
    sampling = Sampling(k=3, seed=5)
    hot = OpenAISubmission(**options(server, tmp_path, temperature=0.7, top_p=0.9))
    assert hot.stochastic
    [cands] = hot.generate_many(tasks(1), sampling)
    assert cands == [BOX] * 3 and len(server.requests) == 3
    seeds = sorted(r.body["seed"] for r in server.requests)
    assert seeds == sorted(sampling.seed_for("t0", c) for c in range(3))
    assert {(r.body["temperature"], r.body["top_p"]) for r in server.requests} == {(0.7, 0.9)}

    # What a reasoning model accepts: max_completion_tokens, no sampling fields, extras.
    lean = OpenAISubmission(**options(server, tmp_path, token_field="max_completion_tokens",
                                      send_sampling=False, extra_body='{"reasoning_effort": '
                                                                      '"low"}'))
    lean.generate(tasks(1, seed=3))
    body = server.requests[-1].body
    assert body["max_completion_tokens"] == 1024 and body["reasoning_effort"] == "low"
    assert not {"max_tokens", "temperature", "top_p", "seed"} & set(body)
    server.requests.clear()

    greedy = OpenAISubmission(**options(server, tmp_path))
    with pytest.raises(InputError, match="3 copies of one reply; pass --temperature"):
        greedy.generate_many(tasks(1, seed=1), sampling)
    assert greedy.generate_many(tasks(1, seed=1), Sampling(seed=5)) == [[BOX]]
    assert len(server.requests) == 1 and "seed" not in server.requests[-1].body
    # The run's --temperature reaches the request when given.
    greedy.generate_many(tasks(1, seed=2), Sampling(temperature=0.3, top_p=0.5))
    assert (server.requests[-1].body["temperature"], server.requests[-1].body["top_p"]) == \
        (0.3, 0.5)


def test_the_cache_key_follows_every_setting_that_decides_the_reply(server, tmp_path):
    def key(image_seed=0, candidate=None, **opts):
        sub = OpenAISubmission(**options(server, tmp_path, **opts))
        from submissions.openai.submission import _encode_image
        image = _encode_image(tasks(1, seed=image_seed)[0])
        temperature = sub.settings.temperature
        return sub._job(image, temperature, sub.settings.top_p,
                        7 if temperature > 0 else None, candidate, 0).key

    base = key()
    assert key() == base
    changed = [key(image_seed=1), key(model="other"), key(prompt="Draw it."),
               key(system=""), key(max_tokens=99), key(top_p=0.5),
               key(temperature=0.5, candidate=0), key(temperature=0.5, candidate=1),
               key(token_field="max_completion_tokens"), key(send_sampling=False),
               key(extra_body='{"top_k": 20}'),
               key(base_url=server.base_url.replace("/v1", "/v2"))]
    assert len({base, *changed}) == 1 + len(changed)
    assert key(api_key_env="OTHER_VAR") == base   # the key is not part of the key


def test_backoff_and_retry_after_parsing():
    rng = random.Random(0)
    delays = [backoff_delay(i, 1.0, 60.0, rng, None) for i in range(8)]
    assert all(0.5 * 2 ** i <= d < 1.5 * 2 ** i for i, d in enumerate(delays[:5]))
    assert delays[-1] == 60.0                          # capped
    assert backoff_delay(0, 1.0, 60.0, rng, 30.0) == 30.0
    assert backoff_delay(0, 1.0, 10.0, rng, 30.0) == 10.0
    assert [backoff_delay(i, 1, 60, random.Random(3), None) for i in range(3)] == \
        [backoff_delay(i, 1, 60, random.Random(3), None) for i in range(3)]
    assert retry_after_seconds("7") == 7.0 and retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0


@pytest.mark.parametrize("reply, code", [
    ("```python\nimport cadquery as cq\nsolid = 1\n```", "import cadquery as cq\nsolid = 1\n"),
    ("Sure!\n```py\na = 1\n```\nand a longer sketch:\n```\nnot python at all, longer\n```",
     "a = 1\n"),
    ("```\nb = 2\n```", "b = 2\n"),
    ("Here it is:\n```python\nc = 3\nd = 4", "c = 3\nd = 4\n"),        # cut at max_tokens
    ("Here is the code you asked for:\nimport cadquery as cq\nsolid = 2",
     "import cadquery as cq\nsolid = 2\n"),
    ("<think>box? ```python\nwrong = 1\n```</think>```python\nright = 1\n```", "right = 1\n"),
    ("I cannot help with that.", "I cannot help with that.\n"),
    ("", ""),
])
def test_code_extraction(reply, code):
    assert extract_code(reply) == code


def test_options_are_checked_with_clear_messages(tmp_path):
    with pytest.raises(InputError, match="no model given: pass --opt model=NAME"):
        OpenAISubmission()
    with pytest.raises(InputError, match="stop before /chat/completions"):
        OpenAISubmission(model="m", base_url="http://x/v1/chat/completions")
    with pytest.raises(InputError, match="top_p"):
        OpenAISubmission(model="m", top_p=1.5)
    (tmp_path / "p.txt").write_text("Make the part.")
    assert OpenAISubmission(model="m", prompt=f"@{tmp_path / 'p.txt'}").settings.prompt == \
        "Make the part."
    with pytest.raises(InputError, match="extra_body may not set messages"):
        OpenAISubmission(model="m", extra_body='{"messages": []}')
    with pytest.raises(InputError, match="extra_body is not JSON"):
        OpenAISubmission(model="m", extra_body="{top_k: 20}")
    with pytest.raises(InputError, match="token_field"):
        OpenAISubmission(model="m", token_field="tokens")
    with pytest.raises(InputError, match="cannot read"):
        OpenAISubmission(model="m", system=f"@{tmp_path / 'missing.txt'}")
    with pytest.raises(InputError, match="sample t0 has no image"):
        OpenAISubmission(model="m").generate([TaskInput("t0", None)])
    assert get_submission("openai") is OpenAISubmission
    assert OpenAISubmission(model="Qwen/Qwen2.5-VL-7B-Instruct").run_name() == \
        "openai-Qwen2.5-VL-7B-Instruct"
    assert OpenAISubmission(model="m", label="claude-vision").run_name() == "claude-vision"

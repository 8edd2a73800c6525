"""A stand-in for an OpenAI-compatible endpoint: a real HTTP server on 127.0.0.1 (port 0) in a
thread, answering POST /v1/chat/completions the way the tests script it.

    with FakeOpenAI() as server:                 # answers every request normally
        server.script = ["429", "500", "ok"]     # then: one behaviour per request, in order
        ...server.base_url, server.requests...

Behaviours: "ok" (a CadQuery box in a ```python fence, with chatter around it), "429" (with
Retry-After), "500", "slow" (answers after `slow_s`, beyond the client's timeout),
"malformed" (200 with a body that is not JSON), "no_choices" (200, JSON without choices),
"drip" (headers at once, then the body a byte every 0.1 s), "400" (a refusal of this one
request), "401_echo" (401 whose body echoes the request's Authorization header, as a careless
proxy might). When the script runs out, `default` answers. Every request is recorded (path,
headers, parsed body). Everything stops with the context manager: the slow handler waits on
an event that `stop` sets, and handler threads are daemons.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from baselines.constant import box_program

BOX = box_program(0.6, 0.4, 0.2)
REPLY = f"Here is the CadQuery program for the part:\n\n```python\n{BOX}```\n\nIt is a box."
PROMPT_TOKENS = 57       # the usage every normal answer reports
COMPLETION_TOKENS = 21


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any                # parsed JSON, or the raw text when it was not JSON


@dataclass
class FakeOpenAI:
    default: str = "ok"
    script: list[str] = field(default_factory=list)
    retry_after: str = "1"
    slow_s: float = 1.0
    reply_text: str = REPLY
    delay_s: float = 0.0     # how long a normal answer takes
    requests: list[Recorded] = field(default_factory=list)
    max_in_flight: int = 0   # most requests being answered at one time

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._in_flight = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def next_behaviour(self, recorded: Recorded) -> str:
        with self._lock:
            self.requests.append(recorded)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            return self.script.pop(0) if self.script else self.default

    def done(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    body = raw.decode("utf-8", "replace")
                rec = Recorded(self.path, dict(self.headers.items()), body)
                behaviour = fake.next_behaviour(rec)
                try:
                    self._answer(behaviour, body)
                finally:
                    fake.done()

            def _answer(self, behaviour: str, body: Any):
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                if behaviour == "ok":
                    if fake.delay_s and fake._stop.wait(fake.delay_s):
                        return None
                    return self._send(200, _completion(fake.reply_text, body))
                if behaviour == "429":
                    return self._send(429, {"error": {"message": "rate limited"}},
                                      {"Retry-After": fake.retry_after})
                if behaviour == "500":
                    return self._send(500, {"error": {"message": "internal error"}})
                if behaviour == "slow":
                    if fake._stop.wait(fake.slow_s):
                        return None
                    return self._send(200, _completion(fake.reply_text, body))
                if behaviour == "malformed":
                    return self._send_raw(200, b'{"choices": [{"message": {"content": "tru')
                if behaviour == "no_choices":
                    return self._send(200, {"object": "chat.completion", "choices": []})
                if behaviour == "drip":   # headers at once, then a byte every 0.1 s
                    data = json.dumps(_completion(fake.reply_text, body)).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    for i in range(len(data)):
                        if fake._stop.wait(0.1):
                            return None
                        try:
                            self.wfile.write(data[i:i + 1])
                            self.wfile.flush()
                        except (BrokenPipeError, ConnectionResetError):
                            return None
                    return None
                if behaviour == "400":
                    return self._send(400, {"error": {"message": "image too large"}})
                if behaviour == "401_echo":
                    auth = self.headers.get("Authorization", "")
                    return self._send(401, {"error": {"message": f"bad key in {auth}"}})
                raise AssertionError(f"unknown behaviour {behaviour!r}")

            def _send(self, code: int, obj: dict, headers: dict | None = None):
                self._send_raw(code, json.dumps(obj).encode(), headers)

            def _send_raw(self, code: int, data: bytes, headers: dict | None = None):
                try:
                    self.send_response(code)
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout): nothing to answer

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _completion(text: str, body: Any) -> dict:
    model = body.get("model", "?") if isinstance(body, dict) else "?"
    return {"id": "chatcmpl-fake", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                      "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}}


if __name__ == "__main__":  # a stand-in to try `cadbench run --model openai` by hand
    import argparse
    import time

    parser = argparse.ArgumentParser(description="OpenAI-compatible stand-in on 127.0.0.1 "
                                     "that answers every request with a CadQuery box")
    parser.add_argument("--seconds", type=float, default=600.0, help="stop after this long")
    args = parser.parse_args()
    with FakeOpenAI() as fake:
        print(f"serving {fake.base_url} for {args.seconds:g} s", flush=True)
        try:
            time.sleep(args.seconds)
        except KeyboardInterrupt:
            pass
        print(f"answered {len(fake.requests)} requests", flush=True)

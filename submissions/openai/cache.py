"""On-disk cache of chat replies, so a re-run or a resume never pays for a request twice.

The key is a hash of everything that decides the reply: the endpoint, the request body (model,
prompt, system prompt, max_tokens, temperature, top_p, seed, extra fields) with the inline
image replaced by the SHA-256 of its pixels, and, for sampled requests, the candidate index.
The API key is not part of the request body and so never reaches a key or a file. Only
usable replies are stored: a failed request is tried again next time.

Layout: `<cache_dir>/<key[:2]>/<key>.json`, each written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

FORMAT = 1


def cache_key(endpoint: str, body_without_image: dict, image_sha256: str,
              candidate: int | None) -> str:
    blob = json.dumps({"format": FORMAT, "endpoint": endpoint, "body": body_without_image,
                       "image_sha256": image_sha256, "candidate": candidate},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, root: Path | None):
        self.root = Path(root) if root is not None else None

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored reply, or None (absent, no cache, or an unreadable file: asked again)."""
        if self.root is None:
            return None
        path = self._path(key)
        try:
            entry = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        reply = entry.get("reply") if isinstance(entry, dict) else None
        return reply if isinstance(reply, dict) and isinstance(reply.get("text"), str) else None

    def put(self, key: str, request: dict, reply: dict) -> None:
        if self.root is None:
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # temporary name per process and thread: the pool's threads write side by side
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}-{threading.get_ident()}")
        tmp.write_text(json.dumps({"format": FORMAT, "request": request, "reply": reply},
                                  indent=1) + "\n")
        os.replace(tmp, path)

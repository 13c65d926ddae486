"""A loopback Ollama server (``ollama serve``'s HTTP API) for tests.

It speaks the wire format of the ``ollama`` Python client, so the real SDK runs
against it unchanged (``ollama.AsyncClient(host=server.base_url)``):

    POST /api/chat      NDJSON: one ``{"model","created_at","message","done":false}`` line per
                        token, then ``done:true`` with prompt_eval_count, eval_count, durations
    POST /api/embed     ``{"model","embeddings":[[...]],"prompt_eval_count"}``
    GET  /api/tags      the installed models (``models[].model``)
    GET  /api/version   ``{"version": "..."}``

Errors are ``{"error": "..."}`` with an HTTP status, or an ``{"error": ...}`` line inside
a 200 stream (script :class:`StreamErrorFault`). Routes live in :attr:`OllamaServer.routes`
and the installed models in :attr:`OllamaServer.installed`, so the admin endpoints
(/api/show, /api/ps, /api/pull, /api/delete) can be added as more ``_route_*`` methods
working on the same state::

    with OllamaServer(reply_text="Hi", prompt_eval_count=9, eval_count=2) as server:
        server.interval_s = 0.05   # one line every 50 ms
        server.script(Fault(status=500, message="llama runner process has terminated"))
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.loopback import Fault, LoopbackServer, RecordedRequest, Reply

Route = Callable[[RecordedRequest, "Fault | None", Reply], None]


@dataclass
class StreamErrorFault(Fault):
    """An ``{"error": message}`` line inside a 200 NDJSON stream, after ``after`` lines.

    Ollama reports failures that happen once generation has started this way; the SDK
    raises ``ResponseError`` with ``status_code`` -1. Leave ``status`` unset.
    """

    after: int = 0


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class OllamaServer(LoopbackServer):
    """Ollama's chat, embed, tags and version endpoints, with scripted faults.

    ``installed``: model names the server has; others get Ollama's 404
    ``model "x" not found, try pulling it first``. ``None`` accepts every name.
    """

    def __init__(
        self,
        reply_text: str = "Hello from the Ollama fake.",
        *,
        prompt_eval_count: int | None = 14,
        eval_count: int | None = 7,
        interval_s: float = 0.0,
        installed: list[str] | None = None,
        version: str = "0.12.6",
        embedding_dim: int = 8,
    ) -> None:
        super().__init__()
        self.reply_text = reply_text
        self.prompt_eval_count = prompt_eval_count
        self.eval_count = eval_count
        self.interval_s = interval_s
        self.installed: list[str] | None = (
            installed if installed is not None else ["llama3.2:latest", "llava:latest", "nomic-embed-text:latest"]
        )
        self.version = version
        self.embedding_dim = embedding_dim
        self.client_disconnected = threading.Event()
        self.routes: dict[tuple[str, str], Route] = {
            ("POST", "/api/chat"): self._route_chat,
            ("POST", "/api/embed"): self._route_embed,
            ("GET", "/api/tags"): self._route_tags,
            ("GET", "/api/version"): self._route_version,
        }

    # -- what the fake says ------------------------------------------------------
    def reply_chunks(self) -> list[str]:
        """The reply in word-sized pieces: one NDJSON line each, as Ollama sends tokens."""
        return re.findall(r"\S+\s*|\s+", self.reply_text) or [""]

    @staticmethod
    def embedding_for(text: str, dim: int) -> list[float]:
        """A deterministic vector per text, so tests can check order and identity."""
        digest = hashlib.sha256(text.encode()).digest()
        return [round(digest[i % len(digest)] / 255.0, 6) for i in range(dim)]

    def is_installed(self, model: str) -> bool:
        if self.installed is None:
            return True
        names = {name for entry in self.installed for name in (entry, entry.removesuffix(":latest"))}
        return model in names

    # -- routing -------------------------------------------------------------------
    def handle(self, request: RecordedRequest, fault: Fault | None, reply: Reply) -> None:
        if fault is not None and fault.status is not None:
            body = fault.body if fault.body is not None else {"error": fault.message}
            reply.json(fault.status, body, fault.headers)
            return
        route = self.routes.get((request.method, urlsplit(request.path).path))
        if route is None:
            reply.raw(404, b"404 page not found", "text/plain")
            return
        route(request, fault, reply)

    def _not_found(self, model: str, reply: Reply) -> None:
        reply.json(404, {"error": f'model "{model}" not found, try pulling it first'})

    def _route_chat(self, request: RecordedRequest, fault: Fault | None, reply: Reply) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        model = str(body.get("model", ""))
        if not self.is_installed(model):
            self._not_found(model, reply)
            return
        chunks = self.reply_chunks()
        lines = [
            {
                "model": model,
                "created_at": _now(),
                "message": {"role": "assistant", "content": piece},
                "done": False,
            }
            for piece in chunks
        ]
        final: dict[str, Any] = {
            "model": model,
            "created_at": _now(),
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": 1_200_000_000,
            "load_duration": 50_000_000,
            "prompt_eval_duration": 100_000_000,
            "eval_duration": 1_000_000_000,
        }
        if self.prompt_eval_count is not None:
            final["prompt_eval_count"] = self.prompt_eval_count
        if self.eval_count is not None:
            final["eval_count"] = self.eval_count
        lines.append(final)
        if not body.get("stream", True):
            reply.json(200, {**final, "message": {"role": "assistant", "content": self.reply_text}})
            return
        encoded = [json.dumps(line) + "\n" for line in lines]
        if isinstance(fault, StreamErrorFault):
            encoded = encoded[: fault.after] + [json.dumps({"error": fault.message}) + "\n"]
            fault = None
        try:
            reply.stream(
                "application/x-ndjson",
                encoded,
                fault=fault,
                interval_s=self.interval_s,
                malformed=b'{"model": "broken", "message": {\n',
            )
        except (BrokenPipeError, ConnectionResetError):
            self.client_disconnected.set()
            raise

    def _route_embed(self, request: RecordedRequest, fault: Fault | None, reply: Reply) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        model = str(body.get("model", ""))
        if not self.is_installed(model):
            self._not_found(model, reply)
            return
        inputs = body.get("input", [])
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        reply.json(
            200,
            {
                "model": model,
                "embeddings": [self.embedding_for(t, self.embedding_dim) for t in texts],
                "total_duration": 14_000_000,
                "load_duration": 1_000_000,
                "prompt_eval_count": sum(len(t.split()) for t in texts),
            },
        )

    def _route_tags(self, request: RecordedRequest, fault: Fault | None, reply: Reply) -> None:
        models = [
            {
                "name": name,
                "model": name,
                "modified_at": "2025-01-01T00:00:00Z",
                "size": 2_019_393_189,
                "digest": hashlib.sha256(name.encode()).hexdigest(),
                "details": {
                    "format": "gguf",
                    "family": "llama",
                    "parameter_size": "3.2B",
                    "quantization_level": "Q4_K_M",
                },
            }
            for name in self.installed or []
        ]
        reply.json(200, {"models": models})

    def _route_version(self, request: RecordedRequest, fault: Fault | None, reply: Reply) -> None:
        reply.json(200, {"version": self.version})

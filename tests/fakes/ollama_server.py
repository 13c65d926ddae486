"""A loopback Ollama server (``ollama serve``'s HTTP API) for tests.

It speaks the wire format of the ``ollama`` Python client, so the real SDK runs
against it unchanged (``ollama.AsyncClient(host=server.base_url)``):

    POST   /api/chat      NDJSON: one ``{"model","created_at","message","done":false}`` line per
                          token, then ``done:true`` with prompt_eval_count, eval_count, durations
    POST   /api/embed     ``{"model","embeddings":[[...]],"prompt_eval_count"}``
    POST   /api/generate  ``keep_alive: 0`` unloads (``done_reason: "unload"``); no prompt loads;
                          a prompt answers with :attr:`reply_text` (JSON or NDJSON)
    GET    /api/tags      the installed models: name, model, modified_at, size, digest, details
    POST   /api/show      modelfile, parameters, template, details, model_info (``<arch>.*``),
                          capabilities
    GET    /api/ps        the loaded models: size, size_vram, expires_at, context_length
    POST   /api/pull      NDJSON progress: "pulling manifest", per-layer lines with digest, total
                          and completed (layers interleaved, as Ollama downloads them at once),
                          "verifying sha256 digest", "writing manifest", "success"
    DELETE /api/delete    200 with an empty body; 404 when the model is not installed
    GET    /api/version   ``{"version": "..."}``

``replies`` queues answers for the next chats, one each (the last one taken stays as
:attr:`reply_text`): an invalid JSON answer, then a valid one. A chat's ``format`` (structured
output) must be ``"json"`` or a JSON Schema object, else a 400 as Ollama answers.

Errors are ``{"error": "..."}`` with an HTTP status, or an ``{"error": ...}`` line inside
a 200 stream (script :class:`StreamErrorFault`). Routes live in :attr:`OllamaServer.routes`,
the installed models in :attr:`OllamaServer.installed` (names) with their figures in
:attr:`OllamaServer.specs`, the loaded ones in :attr:`OllamaServer.running` and what
can be pulled in :attr:`OllamaServer.registry`::

    with OllamaServer(reply_text="Hi", prompt_eval_count=9, eval_count=2) as server:
        server.interval_s = 0.05        # one chat line every 50 ms
        server.pull_interval_s = 0.02   # one pull line every 20 ms: time to cancel mid-pull
        server.script(Fault(status=500, message="llama runner process has terminated"))

A client that closes a stream early sets :attr:`OllamaServer.client_disconnected` (and,
for a pull, :attr:`OllamaServer.pull_disconnected`) when the next write fails.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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


@dataclass
class FakeModel:
    """What the fake knows of one model: /api/tags, /api/show and /api/ps figures.

    Defaults are Llama 3.2 3B Q4_K_M's real figures; ``layers`` are the blob sizes a pull
    downloads (the weights first, then template, license, params).
    """

    size: int = 2_019_393_189
    family: str = "llama"
    parameter_size: str = "3.2B"
    quantization_level: str = "Q4_K_M"
    parameter_count: int = 3_212_749_888
    context_length: int = 131_072
    block_count: int = 28
    head_count: int = 24
    head_count_kv: int = 8
    embedding_length: int = 3072
    key_length: int | None = 128
    capabilities: tuple[str, ...] = ("completion", "tools")
    layers: tuple[int, ...] = (2_019_377_376, 1_429, 7_711, 6_016, 96, 561)
    modified_at: str = "2025-01-01T00:00:00Z"
    template: str = "{{ .System }}{{ .Prompt }}"
    parameters: str = 'stop                           "<|eot_id|>"\nnum_ctx                        8192'
    format: str = "gguf"
    extra_info: dict[str, Any] = field(default_factory=dict)


DEFAULT_SPECS: dict[str, FakeModel] = {
    "llama3.2:latest": FakeModel(),
    "llava:latest": FakeModel(
        size=4_733_363_377,
        parameter_size="7B",
        quantization_level="Q4_0",
        parameter_count=7_241_732_096,
        context_length=32_768,
        block_count=32,
        head_count=32,
        head_count_kv=8,
        embedding_length=4096,
        capabilities=("completion", "vision"),
        layers=(4_109_853_248, 624_434_344, 11_356, 67, 564),
    ),
    "nomic-embed-text:latest": FakeModel(
        size=274_302_450,
        family="nomic-bert",
        parameter_size="137M",
        quantization_level="F16",
        parameter_count=136_727_040,
        context_length=2048,
        block_count=12,
        head_count=12,
        head_count_kv=12,
        embedding_length=768,
        key_length=None,
        capabilities=("embedding",),
        layers=(274_290_656, 11_357, 17, 420),
    ),
}

# What /api/pull can fetch, beyond what is installed: Llama 3.1 8B's real figures.
DEFAULT_REGISTRY: dict[str, FakeModel] = {
    "llama3.1:8b": FakeModel(
        size=4_920_753_328,
        parameter_size="8.0B",
        parameter_count=8_030_261_248,
        block_count=32,
        head_count=32,
        head_count_kv=8,
        embedding_length=4096,
        layers=(4_920_734_944, 12_320, 1_481, 96, 487),
    ),
}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _full_name(name: str) -> str:
    """Ollama's canonical name: ``llama3.2`` is ``llama3.2:latest``."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


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
        pull_interval_s: float = 0.0,
        pull_steps: int = 4,
    ) -> None:
        super().__init__()
        self.reply_text = reply_text
        self.replies: list[str] = []
        self.prompt_eval_count = prompt_eval_count
        self.eval_count = eval_count
        self.interval_s = interval_s
        self.installed: list[str] | None = (
            installed if installed is not None else ["llama3.2:latest", "llava:latest", "nomic-embed-text:latest"]
        )
        self.version = version
        self.embedding_dim = embedding_dim
        self.client_disconnected = threading.Event()
        self.pull_disconnected = threading.Event()
        self.specs: dict[str, FakeModel] = dict(DEFAULT_SPECS)
        self.registry: dict[str, FakeModel] = dict(DEFAULT_REGISTRY)
        self.running: dict[str, int] = {}  # loaded model -> size_vram in bytes
        self.pull_interval_s = pull_interval_s
        self.pull_steps = pull_steps  # progress lines per layer after its first
        self.pull_lines_sent = 0  # pull progress lines written so far (a test waits on it)
        self.routes: dict[tuple[str, str], Route] = {
            ("POST", "/api/chat"): self._route_chat,
            ("POST", "/api/embed"): self._route_embed,
            ("POST", "/api/generate"): self._route_generate,
            ("GET", "/api/tags"): self._route_tags,
            ("POST", "/api/show"): self._route_show,
            ("GET", "/api/ps"): self._route_ps,
            ("POST", "/api/pull"): self._route_pull,
            ("DELETE", "/api/delete"): self._route_delete,
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

    def spec(self, model: str) -> FakeModel:
        """The figures of ``model`` (an unknown installed name gets the defaults)."""
        return self.specs.get(_full_name(model)) or self.specs.get(model) or FakeModel()

    def installed_name(self, model: str) -> str | None:
        """The entry of :attr:`installed` that ``model`` names, or None."""
        for entry in self.installed or []:
            if model in (entry, entry.removesuffix(":latest")) or _full_name(model) == entry:
                return entry
        return None

    def load(self, model: str, size_vram: int | None = None) -> None:
        """Mark ``model`` as loaded (as a chat or generate call would), all on the GPU by default."""
        self.running[_full_name(model)] = self.spec(model).size if size_vram is None else size_vram

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

    @staticmethod
    def _model_of(request: RecordedRequest) -> str:
        body = request.body if isinstance(request.body, dict) else {}
        return str(body.get("model") or body.get("name") or "")

    def _details(self, spec: FakeModel) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": spec.format,
            "family": spec.family,
            "families": [spec.family],
            "parameter_size": spec.parameter_size,
            "quantization_level": spec.quantization_level,
        }

    def _route_chat(self, request: RecordedRequest, fault: Fault | None, reply: Reply) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        model = str(body.get("model", ""))
        if not self.is_installed(model):
            self._not_found(model, reply)
            return
        fmt = body.get("format")
        if fmt not in (None, "", "json") and not (isinstance(fmt, dict) and fmt.get("type") == "object"):
            reply.json(400, {"error": f"invalid format: {json.dumps(fmt)[:80]}"})
            return
        with self.lock:
            if self.replies:
                self.reply_text = self.replies.pop(0)
        self.load(model)  # as Ollama does: the model stays loaded (in /api/ps) after answering
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
        models = []
        for name in self.installed or []:
            spec = self.spec(name)
            models.append({
                "name": name,
                "model": name,
                "modified_at": spec.modified_at,
                "size": spec.size,
                "digest": _digest(name),
                "details": self._details(spec),
            })  # fmt: skip
        reply.json(200, {"models": models})

    def _route_show(self, request: RecordedRequest, fault: Fault | None, reply: Reply) -> None:
        model = self._model_of(request)
        if not self.is_installed(model):
            reply.json(404, {"error": f"model '{model}' not found"})
            return
        spec = self.spec(model)
        arch = spec.family  # Ollama's architecture name, the prefix of the model_info keys
        info: dict[str, Any] = {
            "general.architecture": arch,
            "general.parameter_count": spec.parameter_count,
            "general.file_type": 15,
            f"{arch}.context_length": spec.context_length,
            f"{arch}.block_count": spec.block_count,
            f"{arch}.embedding_length": spec.embedding_length,
            f"{arch}.feed_forward_length": spec.embedding_length * 8 // 3,
            f"{arch}.attention.head_count": spec.head_count,
            f"{arch}.attention.head_count_kv": spec.head_count_kv,
            f"{arch}.attention.layer_norm_rms_epsilon": 1e-05,
            f"{arch}.rope.freq_base": 500000,
            "tokenizer.ggml.model": "gpt2",
            "tokenizer.ggml.tokens": None,  # Ollama leaves the long arrays out of /api/show
        }
        if spec.key_length is not None:
            info[f"{arch}.attention.key_length"] = spec.key_length
            info[f"{arch}.attention.value_length"] = spec.key_length
        info.update(spec.extra_info)
        reply.json(200, {
            "license": "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT",
            "modelfile": f"# Modelfile generated by \"ollama show\"\nFROM /models/blobs/sha256-{_digest(model)}\n"
                         f"TEMPLATE \"\"\"{spec.template}\"\"\"\n",
            "parameters": spec.parameters,
            "template": spec.template,
            "details": self._details(spec),
            "model_info": info,
            "capabilities": list(spec.capabilities),
            "modified_at": spec.modified_at,
        })  # fmt: skip

    def _route_ps(self, request: RecordedRequest, fault: Fault | None, reply: Reply) -> None:
        expires = (datetime.now(UTC) + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
        models = []
        for name, size_vram in self.running.items():
            spec = self.spec(name)
            models.append({
                "name": name, "model": name, "size": spec.size, "digest": _digest(name),
                "details": self._details(spec), "expires_at": expires, "size_vram": size_vram,
                "context_length": 4096,
            })  # fmt: skip
        reply.json(200, {"models": models})

    def _route_generate(self, request: RecordedRequest, fault: Fault | None, reply: Reply) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        model = self._model_of(request)
        if not self.is_installed(model):
            self._not_found(model, reply)
            return
        base = {"model": model, "created_at": _now(), "response": "", "done": True}
        if body.get("keep_alive") in (0, "0", "0s", 0.0):
            self.running.pop(_full_name(model), None)
            reply.json(200, {**base, "done_reason": "unload"})
            return
        self.load(model)
        if not body.get("prompt"):
            reply.json(200, {**base, "done_reason": "load"})
            return
        final = {**base, "done_reason": "stop", "prompt_eval_count": self.prompt_eval_count,
                 "eval_count": self.eval_count}  # fmt: skip
        if not body.get("stream", True):
            reply.json(200, {**final, "response": self.reply_text})
            return
        lines = [{**base, "response": piece, "done": False} for piece in self.reply_chunks()] + [final]
        reply.stream("application/x-ndjson", [json.dumps(line) + "\n" for line in lines], fault=fault,
                     interval_s=self.interval_s)  # fmt: skip

    def pull_lines(self, model: str) -> list[dict[str, Any]]:
        """The NDJSON lines Ollama sends for pulling ``model`` (registry or installed)."""
        name = _full_name(model)
        spec = self.registry.get(name) or (self.spec(name) if self.is_installed(model) else None)
        lines: list[dict[str, Any]] = [{"status": "pulling manifest"}]
        if spec is None:
            return [*lines, {"error": "pull model manifest: file does not exist"}]
        digests = [f"sha256:{_digest(f'{name}/{i}')}" for i in range(len(spec.layers))]
        steps = max(1, self.pull_steps)
        for step in range(steps + 1):  # every layer's first line, then each step round the layers
            for digest, total in zip(digests, spec.layers, strict=True):
                line = {"status": f"pulling {digest[7:19]}", "digest": digest, "total": total}
                if step:
                    line["completed"] = total * step // steps
                lines.append(line)
        return [*lines, {"status": "verifying sha256 digest"}, {"status": "writing manifest"},
                {"status": "success"}]  # fmt: skip

    def _route_pull(self, request: RecordedRequest, fault: Fault | None, reply: Reply) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        model = self._model_of(request)
        lines = self.pull_lines(model)
        if not body.get("stream", True):
            last = lines[-1]
            reply.json(500 if "error" in last else 200, last)
        else:
            encoded = [json.dumps(line) + "\n" for line in lines]
            if isinstance(fault, StreamErrorFault):
                encoded = encoded[: fault.after] + [json.dumps({"error": fault.message}) + "\n"]
                fault = None
            try:
                reply.stream(
                    "application/x-ndjson", self._counted(encoded), fault=fault, interval_s=self.pull_interval_s
                )
            except (BrokenPipeError, ConnectionResetError):
                self.pull_disconnected.set()
                self.client_disconnected.set()
                raise
            if fault is not None and fault.drop_after is not None and fault.drop_after < len(encoded):
                return
        if "error" not in lines[-1]:
            name = _full_name(model)
            if name in self.registry:
                self.specs.setdefault(name, self.registry[name])
            if self.installed is not None and self.installed_name(model) is None:
                self.installed.append(name)

    def _counted(self, lines: list[str]) -> Iterator[str]:
        """``lines``, counting each in :attr:`pull_lines_sent` as it goes out."""
        for line in lines:
            yield line
            with self.lock:
                self.pull_lines_sent += 1

    def _route_delete(self, request: RecordedRequest, fault: Fault | None, reply: Reply) -> None:
        model = self._model_of(request)
        entry = self.installed_name(model)
        if entry is None or self.installed is None:
            reply.json(404, {"error": f"model '{model}' not found"})
            return
        self.installed.remove(entry)
        self.running.pop(entry, None)
        reply.raw(200, b"", "application/json")

    def _route_version(self, request: RecordedRequest, fault: Fault | None, reply: Reply) -> None:
        reply.json(200, {"version": self.version})

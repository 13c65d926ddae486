"""A loopback HTTP server that tests start, for speaking a provider's real wire format.

Each provider's fake (OpenAI, Anthropic, Gemini, Ollama) subclasses
:class:`LoopbackServer`, registers its routes and formats its own error bodies.
Tests script faults that the next requests meet, in order:

    with OpenAIServer() as server:
        server.script(Fault(status=429, headers={"Retry-After": "1"}), Fault(status=500))
        ...  # first call gets 429, second 500, third succeeds

Streams use chunked transfer encoding, so a dropped connection mid-stream is a real
protocol error on the client side, as it is in production. Two faults never end by
themselves, as a hung provider never does: ``stall_after`` streams some chunks and then
goes silent, ``no_answer`` never sends a status line; both hold the connection until the
client hangs up (or the server stops), and count the hang-up in ``hangups``.
"""

from __future__ import annotations

import email.policy
import json
import select
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Fault:
    """What the next matching request meets instead of (or on the way to) a normal answer.

    ``status``: answer with this HTTP status and the provider's error body (or ``body``).
    ``delay_s``: wait this long before answering (a response slower than the timeout).
    ``drop_after``: stream this many chunks, then close the connection abruptly.
    ``malformed_after``: stream this many chunks, then send one that is not valid.
    ``stall_after``: stream this many chunks, then send nothing more (the connection stays
    open) until the client hangs up.
    ``no_answer``: send nothing at all, not even a status line, until the client hangs up.
    ``path_contains``: only requests whose path contains this string consume the fault.
    """

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    message: str = "scripted failure"
    error_type: str | None = None
    delay_s: float = 0.0
    drop_after: int | None = None
    malformed_after: int | None = None
    stall_after: int | None = None
    no_answer: bool = False
    path_contains: str | None = None


@dataclass(frozen=True)
class FormPart:
    """One field of a ``multipart/form-data`` body: a file upload has a ``filename``."""

    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


@dataclass
class RecordedRequest:
    """A request as the server received it. ``body``: parsed JSON, else the raw bytes (or
    None when empty); ``form``: the fields of a ``multipart/form-data`` body (an upload)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    time: float
    form: dict[str, FormPart] = field(default_factory=dict)


def parse_form(content_type: str, raw: bytes) -> dict[str, FormPart]:
    """The fields of a ``multipart/form-data`` body (empty when it is not one)."""
    if not content_type.lower().startswith("multipart/form-data"):
        return {}
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
    )
    fields: dict[str, FormPart] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True)
        content = part.get("Content-Type")
        fields[name] = FormPart(
            data if isinstance(data, bytes) else b"",
            part.get_filename(),
            str(content) if content is not None else None,
        )
    return fields


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Small SSE chunks must leave at once, as from a real server; without this, Nagle's
        # algorithm and delayed ACKs add ~40 ms to some responses and skew timings.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        owner = self.server.owner
        form = parse_form(self.headers.get("Content-Type") or "", raw) if isinstance(body, bytes) else {}
        request = RecordedRequest(self.command, self.path, dict(self.headers.items()), body, time.time(), form)
        with owner.lock:
            owner.requests.append(request)
        fault = owner.take_fault(self.path)
        if fault is not None and fault.delay_s:
            time.sleep(fault.delay_s)
        reply = Reply(self)
        if fault is not None and fault.no_answer:
            reply.hold()
            return
        try:
            owner.handle(request, fault, reply)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_POST = do_DELETE = do_PUT = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    owner: LoopbackServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up on a kept-alive connection (a process that exits or is
        # killed, a pool that closes) is normal traffic, not a fault of the fake: no traceback.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class Reply:
    """Writes one response: JSON, an error, or a chunked stream that can be cut short."""

    def __init__(self, handler: _Handler) -> None:
        self._h = handler
        self._chunked = False

    def json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.raw(status, data, "application/json", headers)

    def raw(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        h = self._h
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(data)
        h.wfile.flush()

    def start_stream(self, content_type: str, status: int = 200, headers: dict[str, str] | None = None) -> None:
        h = self._h
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("Cache-Control", "no-cache")
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.end_headers()
        self._chunked = True

    def chunk(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        if not data:
            return
        w = self._h.wfile
        w.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        w.flush()

    def end_stream(self) -> None:
        w = self._h.wfile
        w.write(b"0\r\n\r\n")
        w.flush()

    def drop(self) -> None:
        """Close the connection abruptly, mid-response."""
        self._h.close_connection = True
        try:
            self._h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def hold(self) -> None:
        """Send nothing more; return when the client hangs up or the server stops.

        A hang-up is counted in the server's ``hangups``; the connection is then closed."""
        owner = self._h.server.owner
        conn = self._h.connection
        self._h.close_connection = True
        while not owner.stopping.is_set():
            readable, _, _ = select.select([conn], [], [], 0.02)
            if not readable:
                continue
            try:
                data = conn.recv(1, socket.MSG_PEEK)
            except OSError:
                data = b""
            if not data:
                with owner.lock:
                    owner.hangups += 1
                return
            conn.recv(65536)  # the client sent more (a pipelined request): ignore it

    def stream(
        self,
        content_type: str,
        chunks: Iterable[bytes | str],
        fault: Fault | None = None,
        interval_s: float = 0.0,
        malformed: bytes | str = b"data: {not json\n\n",
    ) -> None:
        """Send ``chunks`` as a stream, applying the fault's drop, malformed chunk or stall."""
        self.start_stream(content_type)
        for index, item in enumerate(chunks):
            if fault is not None and fault.stall_after is not None and index >= fault.stall_after:
                self.hold()
                return
            if fault is not None and fault.drop_after is not None and index >= fault.drop_after:
                self.drop()
                return
            if fault is not None and fault.malformed_after is not None and index == fault.malformed_after:
                self.chunk(malformed)
                self.end_stream()
                return
            self.chunk(item)
            if interval_s:
                time.sleep(interval_s)
        self.end_stream()


Handler = Callable[[RecordedRequest, Fault | None, Reply], None]


class LoopbackServer:
    """Base of the provider fakes: start on 127.0.0.1 with a free port, record requests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self._faults: deque[Fault] = deque()
        self.stopping = threading.Event()  # releases handlers that hold a connection open
        self.hangups = 0  # clients that hung up on a stalled or unanswered request
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> LoopbackServer:
        self.stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- scripting -------------------------------------------------------------
    def script(self, *faults: Fault) -> None:
        with self.lock:
            self._faults.extend(faults)

    def clear_script(self) -> None:
        """Forget the faults not met yet (a server shared by several tests)."""
        with self.lock:
            self._faults.clear()

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in list(self._faults):
                if fault.path_contains is None or fault.path_contains in path:
                    self._faults.remove(fault)
                    return fault
        return None

    def handle(self, request: RecordedRequest, fault: Fault | None, reply: Reply) -> None:
        raise NotImplementedError


def sse(data: Any, event: str | None = None) -> str:
    """One server-sent event, as the providers frame them."""
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n"

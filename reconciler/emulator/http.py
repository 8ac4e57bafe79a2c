"""The emulator's HTTP transport: a threaded stdlib HTTP server in front of the service core.

Every request is size-checked (before its body is read), SigV4-verified against the configured
credentials, region and service, turned into a ``WireRequest`` and answered with the service's
``WireResponse`` bytes unchanged, so any SDK or the AWS CLI can talk to it. Every answer, the server's
own refusals included, carries an ``x-amzn-RequestId``. One log line per request (method, path, status),
never a body: bodies hold patient data.

The listen backlog is ``REQUEST_QUEUE_SIZE``, not socketserver's 5: a burst of a few hundred clients
connecting at once (a parallel plan, a load test) would otherwise overflow the kernel's accept queue and
wait for SYN retransmits, seconds each.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import TextIO
from urllib.parse import parse_qsl, unquote, urlsplit

from reconciler.emulator.errors import ApiError, ValidationError
from reconciler.emulator.knobs import EmulatorConfig
from reconciler.emulator.routes import error_response
from reconciler.emulator.service import Service
from reconciler.emulator.sigv4 import RawRequest, verify
from reconciler.emulator.store import Store
from reconciler.emulator.wire import DropConnection, WireRequest, WireResponse

MAX_BODY_BYTES = 1024 * 1024  # far above the 10 KB update quota; anything bigger is not an API call
REQUEST_QUEUE_SIZE = 1024  # listen() backlog; the kernel caps it at net.core.somaxconn
Handler = Callable[[WireRequest], WireResponse]


class PayloadTooLarge(ApiError):
    code_name = "ValidationException"
    http_status = 413


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Serves ``handle`` over HTTP/1.1 with keep-alive; one thread per connection."""

    daemon_threads = True
    request_queue_size = REQUEST_QUEUE_SIZE

    def __init__(
        self,
        address: tuple[str, int],
        handle: Handler,
        *,
        access_key: str = "test",
        secret_key: str = "test",
        max_body: int = MAX_BODY_BYTES,
        log: TextIO | None = None,
        region: str = "us-east-1",
    ) -> None:
        self.handle_wire = handle
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.max_body = max_body
        self.log = log
        self._log_lock = threading.Lock()
        self._inflight = 0
        self._idle = threading.Condition()
        super().__init__(address, _RequestHandler)  # binds; on failure it calls server_close()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def log_line(self, line: str) -> None:
        if self.log is not None:
            with self._log_lock:
                print(line, file=self.log, flush=True)

    @contextmanager
    def tracking(self) -> Iterator[None]:
        """Count a request in flight, so that closing waits for the running requests to finish."""
        with self._idle:
            self._inflight += 1
        try:
            yield
        finally:
            with self._idle:
                self._inflight -= 1
                self._idle.notify_all()

    def handle_error(self, request: object, client_address: object) -> None:
        """A connection failed outside a request (client gone mid-answer, bad TLS probe...): one log
        line, not socketserver's traceback."""
        self.log_line(f"http: connection error ({type(sys.exc_info()[1]).__name__})")

    def server_close(self) -> None:
        super().server_close()
        with self._idle:
            self._idle.wait_for(lambda: self._inflight == 0, timeout=10)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm on, the body waits for the client's
    # delayed ACK of the headers (about 40 ms on Linux) on every keep-alive request. TCP_NODELAY sends
    # both at once (StreamRequestHandler.disable_nagle_algorithm in
    # https://github.com/python/cpython/blob/3.11/Lib/socketserver.py).
    disable_nagle_algorithm = True
    server: EmulatorHTTPServer
    timeout = 60  # an idle keep-alive connection frees its thread after this

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def handle_expect_100(self) -> bool:
        """No "100 Continue" for a body that will be refused: an unsigned request (its 403 comes once the
        body is read) or one over the size limit (the 413 comes first and nothing is sent)."""
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = 0
        signed = self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 ")
        if length > self.server.max_body or not signed:
            return True
        return super().handle_expect_100()

    def _dispatch(self) -> None:
        with self.server.tracking():
            parts = urlsplit(self.path)
            self._answer(parts.path, parts.query)

    def _answer(self, raw_path: str, raw_query: str) -> None:
        """Answer one request; log it (before answering, so the log is complete once a client has its
        answer)."""
        headers = self._lower_headers()
        try:
            body = self._read_body(headers)
            verify(RawRequest(self.command, raw_path, raw_query, headers, body),
                   access_key=self.server.access_key, secret_key=self.server.secret_key,
                   region=self.server.region)
            wire = WireRequest(
                method=self.command,
                path=unquote(raw_path),
                query=dict(parse_qsl(raw_query, keep_blank_values=True)),
                headers=headers,
                body=body,
                raw_path=raw_path,
            )
            response = self.server.handle_wire(wire)
        except DropConnection:
            self.close_connection = True
            self.server.log_line(f"{self.command} {raw_path} dropped")
            return
        except ApiError as exc:
            response = error_response(exc)
        except Exception as exc:  # the service core failed: answer 500, never a traceback
            response = error_response(ApiError(f"internal error ({type(exc).__name__})"))
        self.server.log_line(f"{self.command} {raw_path} {response.status}")
        self._send(response)

    def _lower_headers(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            merged[key] = f"{merged[key]},{value}" if key in merged else value
        return merged

    def _read_body(self, headers: dict[str, str]) -> bytes:
        """Read the body, refusing chunked and oversized ones without reading them."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self.close_connection = True
            raise ValidationError("chunked request bodies are not supported; send Content-Length")
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            self.close_connection = True
            raise ValidationError("Content-Length is not a number") from None
        if length < 0:
            self.close_connection = True
            raise ValidationError("Content-Length is negative")
        if length > self.server.max_body:
            self.close_connection = True  # the unread body stays on the socket: do not reuse it
            raise PayloadTooLarge(f"request body of {length} bytes exceeds the limit of "
                                  f"{self.server.max_body} bytes")
        return self.rfile.read(length) if length else b""

    def _send(self, response: WireResponse) -> None:
        self.send_response(response.status)
        sent = {k.lower() for k in response.headers}
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        if "content-type" not in sent:
            self.send_header("Content-Type", "application/json")
        if "x-amzn-requestid" not in sent:  # the server's own refusals (signature, body, request line)
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def parse_request(self) -> bool:
        """Refuse HTTP/0.9 ("GET /path" with no version): its answers have no status line at all."""
        if not super().parse_request():
            return False
        if self.request_version == "HTTP/0.9":
            self.send_error(505)
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (bad request line, unknown method, huge headers) as a rest-json
        error like every other answer, not its HTML page; the connection then closes."""
        if self.request_version == "HTTP/0.9":  # an unparsable request line: still send a status line
            self.request_version = "HTTP/1.1"
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        self.server.log_line(f"http: refused ({code})")  # never the request line: it is the client's text
        self._send(dataclasses.replace(error_response(ValidationError(f"{phrase} ({code})")), status=code))

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silenced: ``_dispatch`` writes its own line, without the query string."""

    def log_message(self, format: str, *args: object) -> None:
        self.server.log_line(f"http: {format % args}")


def make_server(
    handle: Handler,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    access_key: str = "test",
    secret_key: str = "test",
    max_body: int = MAX_BODY_BYTES,
    log: TextIO | None = None,
    region: str = "us-east-1",
) -> EmulatorHTTPServer:
    """An ``EmulatorHTTPServer`` bound to ``host:port`` (0: any free port); not yet serving."""
    return EmulatorHTTPServer((host, port), handle, access_key=access_key, secret_key=secret_key,
                              max_body=max_body, log=log, region=region)


def open_service(store_dir: str | Path, config: EmulatorConfig, clock: Callable[[], float] | None = None,
                 *, rate_clock: Callable[[], float] = time.monotonic) -> Handler:
    """The service core's ``handle`` on the store in ``store_dir`` (the store holds no open connection
    between requests, so there is nothing to close). RATE_CLOCK is what the rate limits refill by."""
    store = Store(Path(store_dir))
    service = Service(store, config, rate_clock=rate_clock) if clock is None else Service(
        store, config, clock, rate_clock=rate_clock)
    return service.handle


def serve(
    store_dir: str | Path,
    host: str,
    port: int,
    config: EmulatorConfig,
    *,
    log: TextIO | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then stop accepting and finish the running requests (requests parked
    by ``--hold`` are dropped); SIGUSR1 releases the parked requests."""
    service = Service(Store(Path(store_dir)), config)
    server = make_server(service.handle, host, port, access_key=config.access_key,
                         secret_key=config.secret_key, log=log, region=config.region)
    service.knobs.announce = server.log_line

    def stopping() -> None:
        service.knobs.drop_held()
        server.shutdown()

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=stopping, daemon=True).start()

    def release(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=service.knobs.release, daemon=True).start()

    handlers = {signal.SIGTERM: stop, signal.SIGINT: stop}
    if hasattr(signal, "SIGUSR1"):  # not on Windows
        handlers[signal.SIGUSR1] = release
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        if ready is not None:
            ready(server.url)
        server.serve_forever(poll_interval=0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.server_close()

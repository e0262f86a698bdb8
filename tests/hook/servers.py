"""Small real HTTP(S) servers for what the emulator does not do: a TLS endpoint with a self-signed
certificate, a redirecting front, and a server answering whatever body a test scripts."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Script:
    """What the server answers next, and what it received."""

    status: int = 200
    body: bytes = b'{"data": [], "total": 0}'
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    received: list[dict[str, str]] = field(default_factory=list)
    #: Per path prefix: (status, body, headers), overriding the defaults above.
    routes: dict[str, tuple[int, bytes, dict[str, str]]] = field(default_factory=dict)

    def answer_for(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        for prefix, answer in self.routes.items():
            if path.startswith(prefix):
                return answer
        return self.status, self.body, self.headers


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            script.received.append(
                {"method": self.command, "path": self.path, **{k.lower(): v for k, v in self.headers.items()}}
            )
            status, body, headers = script.answer_for(self.path)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", script.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = _answer

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

    return Handler


@contextmanager
def scripted_server(script: Script, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serve ``script`` on 127.0.0.1 (HTTPS with ``tls``); yields the origin."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        scheme = "https" if tls else "http"
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def self_signed(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1, and the cert's path."""
    from tests.security.hostile import certificate

    return certificate(directory, ("127.0.0.1",))

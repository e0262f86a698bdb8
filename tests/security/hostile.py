"""The adversarial server of the security tests: raw sockets on loopback, so an answer can be any bytes
a framework would refuse to send (a backslash in a Location, a status line that lies, a body that
drips, a gzip bomb), plus a CONNECT proxy and TLS certificates for names that only the proxy resolves.

Each test scripts the server with a handler ``handler(conn, request)`` that writes the answer; the
server records every request it received (method, path, headers, body) in ``server.requests``.
"""

from __future__ import annotations

import contextlib
import datetime
import gzip
import ipaddress
import json
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The key every security test uses: distinctive, so a grep for it (or its secret part) finds any leak.
SECRET = "mr_s3cr3t_kEy_9f8e7d6c5b"
#: The forms of the key a leak check looks for (whole; the secret part; JSON-escaped it is decoded).
SECRET_FORMS = (SECRET, SECRET[3:])


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Conn:
    """One accepted connection; ``send`` what the handler scripts."""

    sock: socket.socket
    buffer: bytes = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def drip(self, data: bytes, interval: float, *, stop: threading.Event | None = None) -> None:
        """Send one byte every ``interval`` seconds (until the peer goes or ``stop`` is set)."""
        for i in range(len(data)):
            if stop is not None and stop.is_set():
                return
            self.sock.sendall(data[i : i + 1])
            time.sleep(interval)

    def read_request(self, timeout: float = 10.0) -> Request | None:
        self.sock.settimeout(timeout)
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = [*lines[0].split(" ", 2), "", ""][:3]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        while len(self.buffer) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buffer += chunk
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Request(method, path, headers, body)


Handler = Callable[[Conn, Request], Any]


@dataclass
class HostileServer:
    """Serves ``handler`` on 127.0.0.1 (with TLS when ``tls`` is given); use as a context manager."""

    handler: Handler
    tls: ssl.SSLContext | None = None
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    #: Connections the client closed (EOF between requests): what closing a hook must cause.
    closed_by_client: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> HostileServer:
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(256)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self._listener.close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                ready, _, _ = select.select([self._listener], [], [], 0.05)
                if not ready:
                    continue
                sock, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            conn = Conn(sock)
            while not self.stop.is_set():
                request = conn.read_request()
                if request is None:
                    self.closed_by_client += 1
                    return
                self.requests.append(request)
                if self.handler(conn, request) is False:
                    return
        except (OSError, ssl.SSLError, ValueError):
            return
        finally:
            with contextlib.suppress(OSError):
                sock.close()


def response(
    status: int = 200,
    body: bytes | str = b"",
    headers: dict[str, str] | None = None,
    *,
    reason: str = "X",
    length: bool = True,
) -> bytes:
    """The bytes of one HTTP/1.1 answer (``length=False``: no Content-Length, close-delimited)."""
    data = body.encode() if isinstance(body, str) else body
    lines = [f"HTTP/1.1 {status} {reason}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if length:
        lines.append(f"Content-Length: {len(data)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data


def json_answer(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> bytes:
    return response(status, json.dumps(payload), {"Content-Type": "application/json", **(headers or {})})


def gzip_bomb(decoded_bytes: int) -> bytes:
    """A gzip body that inflates to ``decoded_bytes`` of JSON-looking zeros (about 1000:1)."""
    out = gzip.compress(b'{"data": "' + b"0" * decoded_bytes + b'"}', compresslevel=9)
    return out


def assessment(assessment_id: str = "asm_1", status: str = "RUNNING", **extra: Any) -> dict[str, Any]:
    return {"data": {"assessment_id": assessment_id, "status": status, "progress": 50, **extra}}


MODELS = {"data": [{"id": "m1", "modelId": "gpt-4o-prod"}], "total": 1, "totalPages": 1}


# --------------------------------------------------------------------------- a CONNECT proxy


@dataclass
class ConnectProxy:
    """An HTTP forward proxy that tunnels ``CONNECT host:port`` to 127.0.0.1:port, whatever the host
    (so an origin name that exists nowhere can be reached only through it). Records what it tunnelled."""

    tunnels: list[str] = field(default_factory=list)

    def __enter__(self) -> ConnectProxy:
        self._server = HostileServer(self._handle).__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.__exit__(*exc_info)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    def _handle(self, conn: Conn, request: Request) -> bool:
        if request.method != "CONNECT":
            conn.send(response(405, "CONNECT only"))
            return False
        self.tunnels.append(request.path)
        port = int(request.path.rsplit(":", 1)[1])
        upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
        conn.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if conn.buffer:
            upstream.sendall(conn.buffer)
        _pipe(conn.sock, upstream)
        return False


def _pipe(a: socket.socket, b: socket.socket) -> None:
    a.settimeout(None)
    b.settimeout(None)
    try:
        while True:
            ready, _, _ = select.select([a, b], [], [], 10)
            if not ready:
                return
            for source in ready:
                data = source.recv(65536)
                if not data:
                    return
                (b if source is a else a).sendall(data)
    except OSError:
        return
    finally:
        b.close()


# --------------------------------------------------------------------------- TLS


def certificate(directory: Path, names: tuple[str, ...] = ("127.0.0.1",)) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context with a fresh self-signed certificate for ``names`` (IPs or DNS names)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modelred-hostile")])
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path


@contextlib.contextmanager
def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> Iterator[HostileServer]:
    with HostileServer(handler, tls) as server:
        yield server

"""A misbehaving HTTP(S) server on 127.0.0.1 for the JWKS fault tests.

:class:`FaultServer` is a raw-socket HTTP/1.1 server: every answer is a *behaviour*
(a function given the :class:`Exchange`) that the test picks, and changes, at any
time through ``server.behaviour``. It counts accepted connections and request heads
read, so a test can assert exactly how often the client came. Every connection is
answered with ``Connection: close`` and served on its own daemon thread; every wait
is bounded and wakes on :meth:`FaultServer.close`, so a test never leaves a thread or
a socket behind.

``refuse()`` / ``resume()`` take the port out of (and back into) service without
giving it up: while refusing, the port stays bound but not listening, so a connection
attempt gets ``ECONNREFUSED``. Certificates for TLS servers come from :mod:`support.certs`.
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
import threading
import time
from http import HTTPStatus
from typing import Callable, Iterable, List, Optional, Sequence, Tuple, Union

__all__ = [
    "Behaviour",
    "Exchange",
    "FaultServer",
    "abort",
    "chunked_flood",
    "close_delimited_flood",
    "hang_before_headers",
    "hang_mid_body",
    "hops",
    "oversized_with_length",
    "raw_bytes",
    "redirect",
    "respond",
    "silent",
    "trickle",
    "trickle_headers",
]

HOLD_LIMIT = 10.0  # no behaviour keeps a connection longer than this, whatever the client does
SOCKET_TIMEOUT = 5.0


class Exchange:
    """One connection as a behaviour sees it."""

    def __init__(self, conn: socket.socket, stopping: threading.Event) -> None:
        self.conn = conn
        self.stopping = stopping
        self.path = ""
        self.head = b""

    def read_request(self) -> bool:
        """Read the request head; false if the client went away first."""
        data = b""
        while b"\r\n\r\n" not in data:
            if len(data) > 65536:
                return False
            chunk = self.conn.recv(4096)
            if not chunk:
                return False
            data += chunk
        self.head = data.split(b"\r\n\r\n", 1)[0]
        request_line = self.head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        self.path = parts[1] if len(parts) == 3 else ""
        return True

    def send(self, data: bytes) -> None:
        self.conn.sendall(data)

    def send_head(self, status: int, headers: Iterable[Tuple[str, str]] = ()) -> None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Whatever"
        lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers), "Connection: close", "", ""]
        self.send("\r\n".join(lines).encode("latin-1"))

    def client_gone(self, wait: float) -> bool:
        """Wait up to ``wait`` seconds; true once the client has closed its end (or the server stops)."""
        if self.stopping.is_set():
            return True
        readable, _, _ = select.select([self.conn], [], [], wait)
        if readable:
            try:
                if self.conn.recv(4096) == b"":
                    return True
            except (OSError, ValueError):
                return True
        return self.stopping.is_set()

    def hold(self, limit: float = HOLD_LIMIT) -> None:
        """Say nothing more until the client gives up, the server stops, or ``limit`` passes."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.client_gone(0.05):
                return


Behaviour = Callable[[Exchange], None]


# -- behaviours -----------------------------------------------------------------------------------


def _mark_silent(behaviour: Behaviour) -> Behaviour:
    behaviour.silent = True  # type: ignore[attr-defined]
    return behaviour


def respond(
    status: int = 200,
    body: Union[bytes, str] = b"",
    headers: Sequence[Tuple[str, str]] = (),
    *,
    content_type: str = "application/json",
) -> Behaviour:
    """A complete, well-framed response."""
    payload = body.encode("utf-8") if isinstance(body, str) else body

    def behaviour(ex: Exchange) -> None:
        ex.send_head(status, [("Content-Type", content_type), ("Content-Length", str(len(payload))), *headers])
        ex.send(payload)

    return behaviour


def redirect(location: str, status: int = 302) -> Behaviour:
    return respond(status, b"", [("Location", location)])


def hops(target_behaviour: Behaviour, status: int = 302) -> Behaviour:
    """``/hop/N`` redirects to ``/hop/N-1`` (same server); ``/hop/0`` gets ``target_behaviour``."""

    def behaviour(ex: Exchange) -> None:
        _, _, left = ex.path.rpartition("/")
        if ex.path.startswith("/hop/") and left.isdigit() and int(left) > 0:
            respond(status, b"", [("Location", f"/hop/{int(left) - 1}")])(ex)
        else:
            target_behaviour(ex)

    return behaviour


def hang_before_headers() -> Behaviour:
    """Read the request, then never answer."""
    return lambda ex: ex.hold()


def silent() -> Behaviour:
    """Accept the connection and never say or read anything (e.g. a TLS handshake that never ends)."""
    return _mark_silent(lambda ex: ex.hold())


def hang_mid_body(body: bytes, sent: int = 16) -> Behaviour:
    """Headers with the full Content-Length, ``sent`` bytes of body, then silence."""

    def behaviour(ex: Exchange) -> None:
        ex.send_head(200, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        ex.send(body[:sent])
        ex.hold()

    return behaviour


def trickle(body: bytes, interval: float = 0.05, *, chunked: bool = False) -> Behaviour:
    """Slow loris: the body one byte every ``interval`` seconds, each byte well inside any read timeout."""

    def behaviour(ex: Exchange) -> None:
        framing = ("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(len(body)))
        ex.send_head(200, [("Content-Type", "application/json"), framing])
        for index in range(len(body)):
            byte = body[index : index + 1]
            ex.send(b"1\r\n" + byte + b"\r\n" if chunked else byte)
            if ex.client_gone(interval):
                return
        if chunked:
            ex.send(b"0\r\n\r\n")

    return behaviour


def trickle_headers(interval: float = 0.05) -> Behaviour:
    """Slow loris in the head: the status line, then header bytes one every ``interval`` seconds, never ending.

    Every byte arrives well inside any read timeout; only a deadline on the whole
    fetch ends it. The header lines stay short and valid (``X-Pad-N: aaaa...``), so
    no parser limit ends it either, for as long as ``HOLD_LIMIT``.
    """

    def behaviour(ex: Exchange) -> None:
        ex.send(b"HTTP/1.1 200 OK\r\n")
        deadline = time.monotonic() + HOLD_LIMIT
        line = 0
        while time.monotonic() < deadline:
            header = b"X-Pad-%d: %s\r\n" % (line, b"a" * 40)
            for index in range(len(header)):
                ex.send(header[index : index + 1])
                if ex.client_gone(interval):
                    return
            line += 1

    return behaviour


_FILLER = b'{"keys":[' + b" " * 65527


def _flood(ex: Exchange, total: int, chunk: Callable[[bytes], bytes]) -> None:
    sent = 0
    while sent < total and not ex.stopping.is_set():
        piece = _FILLER[: min(len(_FILLER), total - sent)]
        ex.send(chunk(piece))
        sent += len(piece)


def oversized_with_length(size: int) -> Behaviour:
    """A declared ``Content-Length`` over the limit, and that many bytes (as far as the client reads)."""

    def behaviour(ex: Exchange) -> None:
        ex.send_head(200, [("Content-Type", "application/json"), ("Content-Length", str(size))])
        _flood(ex, size, lambda piece: piece)

    return behaviour


def chunked_flood(size: int) -> Behaviour:
    """``size`` bytes of body in 64 KiB chunks, no Content-Length."""

    def behaviour(ex: Exchange) -> None:
        ex.send_head(200, [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")])
        _flood(ex, size, lambda piece: b"%x\r\n%s\r\n" % (len(piece), piece))
        ex.send(b"0\r\n\r\n")

    return behaviour


def close_delimited_flood(size: int) -> Behaviour:
    """``size`` bytes of body ended only by closing the connection (no Content-Length, no chunking)."""

    def behaviour(ex: Exchange) -> None:
        ex.send_head(200, [("Content-Type", "application/json")])
        _flood(ex, size, lambda piece: piece)

    return behaviour


def raw_bytes(data: bytes) -> Behaviour:
    """Whatever bytes, HTTP or not."""
    return lambda ex: ex.send(data)


def abort() -> Behaviour:
    """Read the request, then reset the connection (RST, no response)."""

    def behaviour(ex: Exchange) -> None:
        ex.conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return behaviour


# -- the server -----------------------------------------------------------------------------------


class FaultServer:
    """An HTTP/1.1 (or HTTPS, with ``tls``) server on 127.0.0.1 doing whatever ``behaviour`` says.

    Attributes:
        behaviour: what each new connection gets (read at accept time).
        connections: TCP connections accepted so far.
        requests: request heads read so far (a fetch that failed in TLS is a connection only).
        paths: the request paths, in order.
        tls_failures: handshakes that failed (e.g. the client refused the certificate).
    """

    def __init__(self, behaviour: Optional[Behaviour] = None, *, tls: Optional[ssl.SSLContext] = None) -> None:
        self.behaviour: Behaviour = behaviour or respond(404, b'{"error":"not_found"}')
        self.tls = tls
        self.connections = 0
        self.requests = 0
        self.tls_failures = 0
        self.paths: List[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._workers: List[threading.Thread] = []
        self._listener = self._bind(listen=True, port=0)
        self.port: int = self._listener.getsockname()[1]
        self._want_listening = True
        self._listening = True
        self._applied = threading.Event()
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"FaultServer:{self.port}", daemon=True)
        self._acceptor.start()

    # -- addresses and counts --------------------------------------------------------------------
    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    def url(self, path: str = "/jwks", *, scheme: Optional[str] = None) -> str:
        """The URL of ``path``; ``scheme`` overrides (e.g. https to a server that never speaks TLS)."""
        return f"{scheme or self.scheme}://127.0.0.1:{self.port}{path}"

    @property
    def hits(self) -> int:
        """Connections accepted: every fetch attempt that reached the server, TLS failures included."""
        with self._lock:
            return self.connections

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def refuse(self) -> None:
        """Stop listening (connections are refused) but keep the port bound."""
        self._switch(False)

    def resume(self) -> None:
        """Listen again on the same port."""
        self._switch(True)

    def close(self) -> None:
        """Stop accepting, wake every held connection, and join all threads (bounded)."""
        self._stopping.set()
        self._acceptor.join(timeout=SOCKET_TIMEOUT)
        for worker in list(self._workers):
            worker.join(timeout=SOCKET_TIMEOUT)
        self._listener.close()
        alive = [t.name for t in [self._acceptor, *self._workers] if t.is_alive()]
        assert not alive, f"fault server threads still running: {alive}"

    # -- internals -------------------------------------------------------------------------------
    def _bind(self, *, listen: bool, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            if listen:
                sock.listen(64)
            sock.settimeout(0.02)
        except BaseException:
            sock.close()
            raise
        return sock

    def _switch(self, listening: bool) -> None:
        # The accept thread swaps the socket itself, so no socket is closed under a blocked accept().
        self._applied.clear()
        self._want_listening = listening
        if not self._applied.wait(SOCKET_TIMEOUT):
            raise RuntimeError("fault server did not switch listening state")

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            if self._want_listening != self._listening:
                self._listener.close()
                self._listener = self._bind(listen=self._want_listening, port=self.port)
                self._listening = self._want_listening
            if not self._applied.is_set() and self._want_listening == self._listening:
                self._applied.set()
            if not self._listening:
                self._stopping.wait(0.02)
                continue
            try:
                conn, _ = self._listener.accept()
            except (socket.timeout, BlockingIOError):
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            with self._lock:
                self.connections += 1
                behaviour = self.behaviour
            worker = threading.Thread(target=self._serve, args=(conn, behaviour), daemon=True)
            self._workers = [t for t in self._workers if t.is_alive()] + [worker]
            worker.start()

    def _serve(self, conn: socket.socket, behaviour: Behaviour) -> None:
        sock: socket.socket = conn
        try:
            sock.settimeout(SOCKET_TIMEOUT)
            exchange = Exchange(sock, self._stopping)
            if getattr(behaviour, "silent", False):
                behaviour(exchange)
                return
            if self.tls is not None:
                try:
                    sock = self.tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    with self._lock:
                        self.tls_failures += 1
                    return
                exchange = Exchange(sock, self._stopping)
            if not exchange.read_request():
                return
            with self._lock:
                self.requests += 1
                self.paths.append(exchange.path)
            behaviour(exchange)
        except (OSError, ValueError):
            pass  # the client hung up: that is its right
        finally:
            try:
                sock.close()
            finally:
                conn.close()

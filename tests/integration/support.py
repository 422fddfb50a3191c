"""Run an example app under a real server in a subprocess, and talk to it over a socket.

Everything listens on 127.0.0.1 only, on a free port picked at start. Every wait is
bounded, and :func:`serve` always stops the server (SIGTERM to its process group, then
SIGKILL) however the test ends.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from support.net import free_port

from wristband_mw.testing import LocalIssuer

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
REQUEST_TIMEOUT = 15.0


# -- HTTP client ---------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> Optional[str]:
        return self.headers.get(name)

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    port: int,
    path: str,
    *,
    method: str = "GET",
    token: Optional[str] = None,
    headers: Sequence[Tuple[str, str]] = (),
    body: Optional[bytes] = None,
    timeout: float = REQUEST_TIMEOUT,
) -> Response:
    """One request on a fresh connection; the path is sent exactly as given."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        if token is not None:
            connection.putheader("Authorization", f"Bearer {token}")
        for name, value in headers:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body or b"")))
        connection.endheaders(body)
        response = connection.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        connection.close()


@contextlib.contextmanager
def connection(port: int, timeout: float = REQUEST_TIMEOUT) -> Iterator[http.client.HTTPConnection]:
    """A persistent (keep-alive) connection, for several requests in a row."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        yield conn
    finally:
        conn.close()


# -- servers ---------------------------------------------------------------------------------


@dataclass
class Server:
    port: int
    process: subprocess.Popen  # type: ignore[type-arg]
    log_path: Path
    argv: List[str]

    @property
    def is_granian_wsgi(self) -> bool:
        return "granian" in self.argv and "wsgi" in self.argv

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")

    def request(self, path: str, **kwargs: Any) -> Response:
        return request(self.port, path, **kwargs)

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"


def server_env(issuer: LocalIssuer, extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The environment an example reads its validator config from, pointed at ``issuer``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WRISTBAND_", "DJANGO_"))}
    env.update(WRISTBAND_ISSUER=issuer.issuer, WRISTBAND_JWKS_URL=issuer.jwks_url, PYTHONUNBUFFERED="1")
    env.update(extra or {})
    return env


def _signal(process: subprocess.Popen, signum: int) -> None:  # type: ignore[type-arg]
    """Signal the server's own process group (its master and workers) while the master lives."""
    with contextlib.suppress(ProcessLookupError):
        if os.name == "posix":
            os.killpg(process.pid, signum)
        else:  # pragma: no cover
            process.send_signal(signum)


def stop_server(process: subprocess.Popen) -> None:  # type: ignore[type-arg]
    """SIGTERM the server (master and workers), then SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    _signal(process, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        _signal(process, signal.SIGKILL)  # the master is alive, so the group is still ours
        process.wait(timeout=STOP_TIMEOUT)


def wait_ready(port: int, process: subprocess.Popen, ready_path: str, ready_status: int, deadline: float) -> bool:  # type: ignore[type-arg]
    """Whether the server answers ``ready_path`` with ``ready_status`` before ``deadline`` (monotonic)."""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if request(port, ready_path, timeout=2).status == ready_status:
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def serve(
    command: Callable[[int], List[str]],
    env: Mapping[str, str],
    *,
    ready_path: str = "/healthz",
    ready_status: int = 200,
    cwd: Path = EXAMPLES,
    attempts: int = 3,
) -> Iterator[Server]:
    """Start ``command(port)`` (argv after ``python -m``) and yield once ``ready_path`` answers
    ``ready_status`` (200; 401 where every path is protected).

    The port is free when picked; should another process take it before the server
    binds, the server exits and a new port is tried (at most ``attempts`` times).
    """
    with tempfile.TemporaryDirectory(prefix="wristband-int-") as tmp:
        log_path = Path(tmp, "server.log")
        failure = ""
        for _ in range(attempts):
            port = free_port()
            argv = [sys.executable, "-m", *command(port)]
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    argv,
                    cwd=cwd,
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=os.name == "posix",
                )
            try:
                if wait_ready(port, process, ready_path, ready_status, time.monotonic() + START_TIMEOUT):
                    yield Server(port, process, log_path, argv)
                    return
                failure = f"{' '.join(argv)} did not become ready (exit code {process.poll()}):\n"
                failure += log_path.read_text("utf-8", errors="replace")
                if process.poll() is None or "address already in use" not in failure.lower():
                    break
            finally:
                stop_server(process)
        raise AssertionError(failure)


# uvicorn's websockets-sansio WebSocket implementation (its default since 0.50) does not
# count a websocket.http.response as completing the handshake, and logs this line after
# every such refusal although the client got the right 401: uvicorn's noise, not ours.
UVICORN_SANSIO_REFUSAL_NOISE = ("ERROR:    ASGI callable returned without completing handshake.",)


def assert_clean_log(server: Server, *, allow: Sequence[str] = ()) -> None:
    """No traceback, error, warning or token in the server's output (run after the requests).

    ``allow``: exact lines to disregard (known noise of a server, not of the middleware).
    """
    lines = [line for line in server.log().splitlines() if line.strip() not in allow]
    log = "\n".join(lines)
    # "eyJ" starts every JWT (base64url of '{"'): no access token may reach a log.
    for marker in ("Traceback", "Warning:", "ERROR", "CRITICAL", "Exception in ASGI", "eyJ"):
        assert marker not in log, f"server log contains {marker!r}:\n{log}"


def gunicorn(module: str, *, worker: str = "gthread") -> Callable[[int], List[str]]:
    def command(port: int) -> List[str]:
        argv = ["gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--worker-class", worker]
        if worker == "gthread":
            argv += ["--threads", "4"]
        return [*argv, "--graceful-timeout", "2", "--timeout", "30", module]

    return command


def uvicorn(module: str, *options: str) -> Callable[[int], List[str]]:
    def command(port: int) -> List[str]:
        argv = ["uvicorn", "--host", "127.0.0.1", "--port", str(port), "--timeout-graceful-shutdown", "2"]
        return [*argv, *options, module]

    return command


def hypercorn(module: str, *options: str) -> Callable[[int], List[str]]:
    return lambda port: ["hypercorn", "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "2", *options, module]


def granian(module: str, *options: str, interface: str = "asgi") -> Callable[[int], List[str]]:
    return lambda port: [
        "granian", "--interface", interface, "--host", "127.0.0.1", "--port", str(port), *options, module
    ]  # fmt: skip


def daphne(module: str) -> Callable[[int], List[str]]:
    return lambda port: ["daphne", "--bind", "127.0.0.1", "--port", str(port), module]


def waitress(module: str) -> Callable[[int], List[str]]:
    return lambda port: ["waitress", f"--listen=127.0.0.1:{port}", "--threads=4", module]


def h2_request(port: int, path: str, *, token: Optional[str] = None, method: str = "GET") -> Response:
    """One HTTP/2 request over cleartext with prior knowledge (h2c, no upgrade), by httpx."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    with httpx.Client(http1=False, http2=True, timeout=REQUEST_TIMEOUT, trust_env=False) as client:
        response = client.request(method, f"http://127.0.0.1:{port}{path}", headers=headers)
    assert response.http_version == "HTTP/2", response.http_version
    message = http.client.HTTPMessage()
    for name, value in response.headers.multi_items():
        message[name] = value
    return Response(response.status_code, message, response.content)


# -- WebSocket client -------------------------------------------------------------------------


def ws_connect(url: str, token: Optional[str] = None) -> Any:
    """A real WebSocket client connection (``websockets``' sync client), proxies ignored."""
    from websockets.sync.client import connect

    headers = [("Authorization", f"Bearer {token}")] if token is not None else []
    return connect(url, additional_headers=headers, open_timeout=10, close_timeout=5, proxy=None)


def ws_refusal(url: str, token: Optional[str] = None) -> Response:
    """The HTTP response that refused a WebSocket handshake (fails if it was accepted)."""
    from websockets.exceptions import InvalidStatus

    try:
        connection = ws_connect(url, token)
    except InvalidStatus as exc:
        headers = http.client.HTTPMessage()
        for name, value in exc.response.headers.raw_items():
            headers[name] = value
        return Response(exc.response.status_code, headers, exc.response.body or b"")
    connection.close()
    raise AssertionError(f"the WebSocket handshake to {url} was accepted")

"""Direct drive of the middlewares: hand-built environs and scopes, no server.

``call_wsgi`` and ``call_asgi`` run a request through a middleware around a recording
app and return a :class:`Sent` with what reached the client and what the app saw.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

# -- what the client got -----------------------------------------------------------------------


@dataclass
class Sent:
    status: int
    headers: List[Tuple[str, str]]
    body: bytes
    app_called: bool
    seen: Optional[Dict[str, Any]] = None  # the environ or scope the app received
    messages: List[Dict[str, Any]] = field(default_factory=list)  # ASGI messages sent

    def header(self, name: str) -> Optional[str]:
        values = self.header_values(name)
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        return values[0] if values else None

    def header_values(self, name: str) -> List[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    @property
    def json(self) -> Any:
        return json.loads(self.body)


# -- WSGI ----------------------------------------------------------------------------------------


def make_environ(
    path: str = "/",
    method: str = "GET",
    authorization: Optional[str] = None,
    script_name: str = "",
    **extra: Any,
) -> Dict[str, Any]:
    environ: Dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    environ.update(extra)
    return environ


class WsgiApp:
    """A WSGI app that records the environ it saw and answers 200 ``app``."""

    def __init__(self) -> None:
        self.environs: List[Dict[str, Any]] = []

    def __call__(self, environ: Dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.environs.append(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app"]


def call_wsgi(middleware: Any, environ: Dict[str, Any]) -> Sent:
    app: WsgiApp = middleware.app
    before = len(app.environs)
    started: List[Tuple[str, List[Tuple[str, str]]]] = []

    def start_response(status: str, headers: List[Tuple[str, str]], exc_info: Any = None) -> Any:
        assert isinstance(status, str) and re.fullmatch(r"\d{3} .+", status), status
        for name, value in headers:
            assert isinstance(name, str) and isinstance(value, str)
            value.encode("latin-1")
        started.append((status, headers))
        return lambda data: None

    result = middleware(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    assert len(started) == 1
    status_line, headers = started[0]
    called = len(app.environs) > before
    return Sent(int(status_line[:3]), list(headers), body, called, app.environs[-1] if called else None)


# -- ASGI ----------------------------------------------------------------------------------------


def make_scope(
    path: str = "/",
    method: str = "GET",
    headers: Sequence[Tuple[bytes, bytes]] = (),
    *,
    authorization: Optional[str] = None,
    root_path: str = "",
    query_string: bytes = b"",
    type: str = "http",
    extensions: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    all_headers = [(b"host", b"127.0.0.1:8000"), *headers]
    if authorization is not None:
        all_headers.append((b"authorization", authorization.encode("latin-1")))
    scope: Dict[str, Any] = {
        "type": type,
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "ws" if type == "websocket" else "http",
        "path": path,
        "raw_path": path.encode("latin-1"),
        "root_path": root_path,
        "query_string": query_string,
        "headers": all_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    if type == "http":
        scope["method"] = method
    if extensions is not None:
        scope["extensions"] = extensions
    return scope


class AsgiApp:
    """An ASGI app that records the scope and the messages it received, and answers 200 / accept."""

    def __init__(self) -> None:
        self.scopes: List[Dict[str, Any]] = []
        self.received: List[Dict[str, Any]] = []
        self.receive_callables: List[Any] = []
        self.send_callables: List[Any] = []

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        self.receive_callables.append(receive)
        self.send_callables.append(send)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"app"})
        elif scope["type"] == "websocket":
            message = await receive()
            self.received.append(message)
            await send({"type": "websocket.accept"})
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.received.append(message)
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return


def queue_receive(messages: Sequence[Dict[str, Any]]) -> Any:
    pending = list(messages)

    async def receive() -> Dict[str, Any]:
        if pending:
            return pending.pop(0)
        await asyncio.sleep(3600)  # a real server would wait for the disconnect
        raise AssertionError("unreachable")

    return receive


async def drive_asgi(
    middleware: Any, scope: Dict[str, Any], incoming: Optional[Sequence[Dict[str, Any]]] = None
) -> Sent:
    app: AsgiApp = middleware.app
    before = len(app.scopes)
    if incoming is None:
        incoming = (
            [{"type": "websocket.connect"}]
            if scope["type"] == "websocket"
            else [{"type": "http.request", "body": b"", "more_body": False}]
        )
    messages: List[Dict[str, Any]] = []

    async def send(message: Dict[str, Any]) -> None:
        messages.append(dict(message))

    await asyncio.wait_for(middleware(scope, queue_receive(incoming), send), timeout=10)
    # the app gets a shallow copy of the scope: find it by its (shared) "asgi" dict, even under
    # gather() (the header list may be replaced: Remote-User is removed or set by the middleware)
    marker = "asgi" if "asgi" in scope else "headers"
    mine = [seen for seen in app.scopes[before:] if seen.get(marker) is scope.get(marker)]
    assert len(mine) <= 1
    called = bool(mine)
    seen = mine[0] if called else None
    status, headers, body = 0, [], b""
    for message in messages:
        if message["type"] in ("http.response.start", "websocket.http.response.start"):
            status = message["status"]
            for name, value in message["headers"]:
                assert isinstance(name, bytes) and isinstance(value, bytes)
                assert name == name.lower()
                headers.append((name.decode("latin-1"), value.decode("latin-1")))
        elif message["type"] in ("http.response.body", "websocket.http.response.body"):
            body += message.get("body", b"")
    return Sent(status, headers, body, called, seen, messages)


def call_asgi(middleware: Any, scope: Dict[str, Any], incoming: Optional[Sequence[Dict[str, Any]]] = None) -> Sent:
    return asyncio.run(drive_asgi(middleware, scope, incoming))

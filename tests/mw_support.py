"""Helpers for the direct-drive middleware tests: hand-built environs and scopes, no server.

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

from wristband_mw import WristbandJwtValidatorConfig, create_wristband_jwt_validator

OFFLINE_DOMAIN = "auth.example.com"


def offline_validator(**overrides: Any):
    """A validator for a domain that is never contacted (for requests refused before any key lookup)."""
    return create_wristband_jwt_validator(WristbandJwtValidatorConfig(OFFLINE_DOMAIN, **overrides))


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


# -- RFC 7235 challenge parsing ------------------------------------------------------------------

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM = re.compile(rf'[ \t]*({_TOKEN})[ \t]*=[ \t]*("(?:[^"\\]|\\[\t \x21-\x7e])*"|{_TOKEN})[ \t]*(,|$)')


def parse_challenge(value: str) -> Tuple[str, Dict[str, str]]:
    """Parse one ``WWW-Authenticate`` challenge strictly: ``scheme auth-param *( "," auth-param )``."""
    assert all(" " <= ch <= "~" or ch == "\t" for ch in value), f"not a valid header value: {value!r}"
    scheme, _, rest = value.partition(" ")
    assert re.fullmatch(_TOKEN, scheme), scheme
    params: Dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM.match(rest, position)
        assert match is not None, f"unparseable challenge at {rest[position:]!r}"
        name, raw = match.group(1).lower(), match.group(2)
        assert name not in params, f"duplicate parameter {name}"
        params[name] = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw
        position = match.end()
        if match.group(3) == "" and position < len(rest):
            raise AssertionError("trailing garbage")
    return scheme, params


def assert_refusal(sent: Sent, status: int, error: Optional[str], realm: Optional[str] = None) -> Dict[str, str]:
    """The common shape of every default refusal; returns the challenge parameters ({} for 503)."""
    assert sent.status == status, (sent.status, sent.body)
    assert not sent.app_called
    assert sent.header("Content-Type") == "application/json"
    assert sent.header("Cache-Control") == "no-store"
    assert sent.header("Content-Length") == str(len(sent.body))
    body = sent.json
    assert set(body) == {"error", "error_description"}
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["error_description"], str) and 0 < len(body["error_description"]) < 120
    assert "Traceback" not in body["error_description"]
    if status == 503:
        assert sent.header("WWW-Authenticate") is None
        retry_after = sent.header("Retry-After")
        assert retry_after is not None and retry_after.isdigit() and int(retry_after) >= 1
        assert body["error"] == "temporarily_unavailable"
        return {}
    assert sent.header("Retry-After") is None
    challenge = sent.header("WWW-Authenticate")
    assert challenge is not None
    scheme, params = parse_challenge(challenge)
    assert scheme == "Bearer"
    if realm is not None:
        assert params["realm"] == realm
    else:
        assert params["realm"]
    if error is None:
        assert set(params) == {"realm"}, params
    else:
        assert params["error"] == error
        assert body["error"] == error
        assert params["error_description"] == body["error_description"]
    return params


def assert_no_leak(sent: Sent, *secrets: str) -> None:
    """None of ``secrets`` (nor, for JWTs, any of their segments) is in the body or a header."""
    blob = sent.body.decode("latin-1") + "\n" + "\n".join(f"{name}: {value}" for name, value in sent.headers)
    for message in sent.messages:  # e.g. a websocket.close reason
        blob += "\n" + repr(message)
    for secret in secrets:
        pieces = [secret, *(piece for piece in secret.split(".") if len(piece) >= 8)]
        for piece in pieces:
            assert piece not in blob, f"{piece[:20]}... leaked"


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


# -- tokens that fail validation, one per reason ----------------------------------------------------


@dataclass
class BadToken:
    name: str
    token: str
    code: Any  # ErrorCode
    attacker_values: Tuple[str, ...] = ()


def bad_tokens(issuer: Any) -> List[BadToken]:
    """One token per validation failure, each paired with the ErrorCode it must produce."""
    import time

    from wristband_mw import ErrorCode
    from wristband_mw.testing import b64url

    now = int(time.time())
    other = issuer.add_key(publish=False)
    header = {"kid": issuer.kid, "typ": "at+JWT", "alg": "RS256"}

    def unsigned(alg: str) -> str:
        head = b64url(json.dumps({**header, "alg": alg}))
        return f"{head}.{b64url(json.dumps(issuer.claims()))}.{b64url(b'not-a-real-signature-0123456789')}"

    return [
        BadToken("expired", issuer.mint(exp_in=-5), ErrorCode.EXPIRED),
        BadToken("not_yet_valid", issuer.mint(nbf=now + 3600), ErrorCode.NOT_YET_VALID),
        BadToken("no_exp", issuer.mint(exp_in=None), ErrorCode.MISSING_CLAIM),
        BadToken("exp_string", issuer.mint(exp="tomorrow-attacker"), ErrorCode.INVALID_CLAIM, ("tomorrow-attacker",)),
        BadToken("bad_signature", issuer.sign(header, issuer.claims(), key_id=other), ErrorCode.INVALID_SIGNATURE),
        BadToken(
            "wrong_issuer",
            issuer.mint(iss='https://evil.example/"attacker-iss\\'),
            ErrorCode.INVALID_ISSUER,
            ("evil.example", "attacker-iss"),
        ),
        BadToken(
            "unknown_kid",
            issuer.mint(headers={"kid": "attacker-kid-0123"}),
            ErrorCode.UNKNOWN_KEY,
            ("attacker-kid-0123",),
        ),
        BadToken("id_token_typ", issuer.mint(headers={"typ": "id+JWT"}), ErrorCode.INVALID_TYPE, ("id+JWT",)),
        BadToken("alg_hs256", unsigned("HS256"), ErrorCode.DISALLOWED_ALGORITHM, ("HS256",)),
        BadToken("alg_none", unsigned("none"), ErrorCode.DISALLOWED_ALGORITHM),
        BadToken("garbage", "abc.def.ghi", ErrorCode.MALFORMED),
        BadToken("two_segments", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0", ErrorCode.MALFORMED),
    ]

"""Coverage-guided fuzz target for both middlewares' request handling.

Run (needs atheris; see README.rst in this directory)::

    python tests/fuzz/fuzz_middleware.py --make-corpus tests/fuzz/corpus/middleware
    python tests/fuzz/fuzz_middleware.py -max_total_time=600 tests/fuzz/corpus/middleware tests/fuzz/seeds/middleware

Each input becomes one HTTP request: method, path, query string, raw headers (any
number of ``Authorization`` headers, with any scheme and spacing, carrying a real token,
an edited real token, a really signed fuzzer-chosen payload, or raw bytes) and, for
ASGI, sometimes a WebSocket handshake or a ``root_path``. The request goes as a WSGI
environ through :class:`JwtWsgiMiddleware` and as an ASGI scope through
:class:`JwtAsgiMiddleware`, each around a trivial app answering ``200 ok``, under one
of two middleware configurations. Asserted every time:

* no exception escapes, and none is swallowed into an error log;
* the status is one of 200, 400, 401, 403, 503, and 200 exactly when the app ran;
* neither the body nor any header carries the bearer credential;
* on the exactly spelled protected paths the app only ever runs with claims that
  verify independently (with the scope ``/api/admin`` requires), or as a CORS
  preflight, or anonymously under ``optional=True`` with no credential sent.
"""

from __future__ import annotations

import asyncio
import atexit
import io
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

if __name__ == "__main__" and not any(arg.startswith("--make") for arg in sys.argv[1:]):
    # A fuzzing run: instrument the package (only it: instrument_all() would take minutes)
    # before anything imports it. Imported as a module (the smoke test), atheris is not needed.
    import atheris

    with atheris.instrument_imports(include=["wristband_mw"]):
        import wristband_mw  # noqa: F401

import fuzz_common as fc

from wristband_mw import JwtAsgiMiddleware, JwtWsgiMiddleware, get_claims

ALLOWED_STATUSES = {200, 400, 401, 403, 503}
METHODS = ["GET", "POST", "OPTIONS", "HEAD", "PUT", "DELETE", "PATCH"]
PATHS = ["/api/data", "/api/admin", "/api/admin/users", "/api/health", "/", "/public", "/api", "/API/data"]
HEADER_NAMES = [
    "authorization",
    "Authorization",
    "AUTHORIZATION",
    "origin",
    "access-control-request-method",
    "content-type",
    "x-forwarded-for",
]
SCHEMES = ["Bearer ", "bearer ", "BEARER  ", "Bearer\t", "Bearer", "Basic ", "", " Bearer ", "Bearer , "]
WATCH = fc.error_log_watch()
VALIDATOR = fc.make_validator()


# -- the apps ---------------------------------------------------------------------------
class Seen:
    """What the inner app saw in the last request."""

    ran = False
    claims: Any = None
    user: Any = None


def inner_wsgi(environ: Dict[str, Any], start_response: Any) -> List[bytes]:
    Seen.ran = True
    Seen.claims = get_claims(environ)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


async def inner_asgi(scope: Dict[str, Any], receive: Any, send: Any) -> None:
    Seen.ran = True
    Seen.claims = get_claims(scope)
    user = scope.get("user")
    Seen.user = (user.is_authenticated, user.identity, user.display_name, repr(user), repr(scope.get("auth")))
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


STRICT: Dict[str, Any] = {"exempt": ["/api/health"], "scopes": {"/api/admin": ["admin"]}}
LOOSE: Dict[str, Any] = {
    "protect": ["/api"],
    "exempt_methods": ["HEAD"],
    "required_scopes": ["read"],
    "scopes": {"/api/admin": ["admin"]},
    "optional": True,
    "cors_preflight": False,
}
CONFIGS = [
    (
        STRICT,
        JwtWsgiMiddleware(inner_wsgi, VALIDATOR, **STRICT),
        JwtAsgiMiddleware(inner_asgi, VALIDATOR, **STRICT),
    ),
    (
        LOOSE,
        JwtWsgiMiddleware(inner_wsgi, VALIDATOR, **LOOSE),
        JwtAsgiMiddleware(inner_asgi, VALIDATOR, websocket_query_param="access_token", **LOOSE),
    ),
]

_loop: Optional[asyncio.AbstractEventLoop] = None


def _event_loop() -> asyncio.AbstractEventLoop:
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
        atexit.register(_loop.close)
    return _loop


def close() -> None:
    """Close the event loop (the smoke test calls this; a fuzzing run leaves it to atexit)."""
    global _loop
    if _loop is not None:
        _loop.close()
        _loop = None


# -- the request ---------------------------------------------------------------------------
class Request:
    def __init__(self) -> None:
        self.config = 0
        self.websocket = False
        self.ws_http_extension = False
        self.method = "GET"
        self.path = b"/"
        self.root_path = ""
        self.query = b""
        self.headers: List[Tuple[bytes, bytes]] = []
        self.credentials: List[bytes] = []  # real-token credentials sent in Authorization headers


def _token(data: fc.Data) -> Tuple[bytes, bool]:
    """A credential, and whether it derives from a real token (so an echo of it would be a leak)."""
    choice = data.byte() % 5
    if choice == 0:
        return fc.VALID_TOKENS[data.byte() % len(fc.VALID_TOKENS)].encode("ascii"), True
    if choice == 1:
        seeds = fc.VALID_TOKENS + fc.INVALID_TOKENS
        return fc.mutate(seeds[data.byte() % len(seeds)], data).encode("latin-1"), True
    if choice == 2:  # a genuine signature over fuzzer-chosen claims
        return fc.sign(fc.header(), data.blob()).encode("ascii"), True
    if choice == 3:
        return fc.INVALID_TOKENS[data.byte() % len(fc.INVALID_TOKENS)].encode("ascii"), True
    return data.blob(), False


def decode_request(buf: bytes) -> Request:
    data = fc.Data(buf)
    request = Request()
    flags = data.byte()
    request.config = flags & 1
    request.websocket = bool(flags & 2)
    request.ws_http_extension = bool(flags & 4)
    if flags & 8:
        request.root_path = "/mount"
    method = data.byte()
    request.method = METHODS[method % len(METHODS)] if method < 0xF0 else data.blob().decode("latin-1")
    path = data.byte()
    if path < 0xF0:
        request.path = PATHS[path % len(PATHS)].encode("ascii")
        if path & 0x80:
            request.path += data.blob()
    else:
        request.path = data.blob()
    if request.root_path and path & 0x40:
        request.path = request.root_path.encode("ascii") + request.path
    if flags & 16:
        request.query = data.blob()
    for _ in range(data.byte() % 6):
        name_choice = data.byte()
        name = HEADER_NAMES[name_choice % len(HEADER_NAMES)].encode("ascii") if name_choice < 0xF0 else data.blob()
        if name.lower() == b"authorization":
            scheme = data.byte()
            prefix = SCHEMES[scheme % len(SCHEMES)].encode("ascii") if scheme < 0xF0 else data.blob()
            credential, real = _token(data)
            if real:
                request.credentials.append(credential)
            value = prefix + credential
        else:
            value = data.blob()
        request.headers.append((name, value))
    return request


def _wsgi_environ(request: Request) -> Dict[str, Any]:
    environ: Dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": request.path.decode("latin-1"),  # PEP 3333: bytes as latin-1
        "QUERY_STRING": request.query.decode("latin-1"),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    root = request.root_path.encode("ascii")
    if root and request.path.startswith(root + b"/"):  # mounted: the server splits the path
        environ["SCRIPT_NAME"] = request.root_path
        environ["PATH_INFO"] = request.path[len(root) :].decode("latin-1")
    for name, value in request.headers:
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        text = value.decode("latin-1")
        # Servers join repeated headers with a comma, as gunicorn and werkzeug do.
        environ[key] = environ[key] + "," + text if key in environ else text
    return environ


def _leaks(credentials: List[bytes], *blobs: bytes) -> bool:
    # Only long credentials derived from real tokens: a short or raw one could equal a
    # piece of the fixed response texts by chance (the fuzzer would find that quickly).
    for credential in credentials:
        credential = credential.strip()
        if len(credential) >= 64 and any(credential in blob for blob in blobs):
            return True
    return False


def _has_credentials(request: Request) -> bool:
    """Any Authorization header that is not blank (a blank one counts as none, by str.strip())."""
    return any(name.lower() == b"authorization" and value.decode("latin-1").strip() for name, value in request.headers)


def _check_access(request: Request, status: int, has_auth: bool) -> None:
    """On exactly spelled protected paths, the app runs only when it should."""
    path = request.path.decode("latin-1")
    if request.root_path and path.startswith(request.root_path + "/"):
        path = path[len(request.root_path) :]
    method = "GET" if request.websocket else request.method
    config, loose = request.config, request.config == 1
    if path not in ("/api/data", "/api/admin") or status != 200 or (loose and method == "HEAD"):
        return
    names = {name.lower() for name, _ in request.headers}
    preflight = method == "OPTIONS" and {b"origin", b"access-control-request-method"} <= names
    if Seen.claims is None:
        assert (config == 0 and preflight) or (loose and not has_auth), "protected path served without claims"
        return
    token = Seen.claims  # a JWTPayload: the token itself is checked through its scopes and issuer
    assert token.iss == fc.ISSUER
    if path == "/api/admin":
        assert "admin" in token.scopes, token.scopes
    if loose:
        assert "read" in token.scopes, token.scopes


def run_wsgi(request: Request) -> None:
    _, middleware, _ = CONFIGS[request.config]
    captured: List[Any] = []

    def start_response(status: str, headers: List[Tuple[str, str]], exc_info: Any = None) -> Any:
        assert not captured, "start_response called twice"
        captured.append((status, headers))
        return lambda data: None

    Seen.ran, Seen.claims = False, None
    environ = _wsgi_environ(request)
    result = middleware(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    WATCH.raise_if_any()
    assert len(captured) == 1, captured
    status_line, headers = captured[0]
    status = int(status_line.split()[0])
    assert status in ALLOWED_STATUSES, status_line
    assert (status == 200) == Seen.ran, (status_line, Seen.ran)
    for name, value in headers:
        assert isinstance(name, str) and isinstance(value, str), (name, value)
        value.encode("latin-1")
        assert "\r" not in value and "\n" not in value, value
    header_blob = "\n".join(f"{n}: {v}" for n, v in headers).encode("latin-1")
    assert not _leaks(request.credentials, body, header_blob), "credential echoed in the WSGI response"
    if Seen.claims is not None:
        assert environ.get("wristband_mw.token") is not None
    _check_access(request, status, _has_credentials(request))


def _asgi_scope(request: Request) -> Dict[str, Any]:
    path = request.path.decode("utf-8", "replace")  # ASGI: percent-decoded, UTF-8 decoded
    scope: Dict[str, Any] = {
        "type": "websocket" if request.websocket else "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "ws" if request.websocket else "http",
        "path": path,
        "raw_path": request.path,
        "root_path": request.root_path,
        "query_string": request.query,
        "headers": [(name.lower(), value) for name, value in request.headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    if request.websocket:
        scope["subprotocols"] = []
        if request.ws_http_extension:
            scope["extensions"] = {"websocket.http.response": {}}
    else:
        scope["method"] = request.method
    return scope


def run_asgi(request: Request) -> None:
    _, _, middleware = CONFIGS[request.config]
    sent: List[Dict[str, Any]] = []
    incoming = [{"type": "websocket.connect"} if request.websocket else {"type": "http.request", "body": b""}]

    async def receive() -> Dict[str, Any]:
        if incoming:
            return incoming.pop()
        return {"type": "websocket.disconnect" if request.websocket else "http.disconnect"}

    async def send(message: Dict[str, Any]) -> None:
        sent.append(message)

    Seen.ran, Seen.claims, Seen.user = False, None, None
    scope = _asgi_scope(request)
    original = dict(scope)
    _event_loop().run_until_complete(middleware(scope, receive, send))
    WATCH.raise_if_any()
    assert scope == original, "the middleware changed the caller's scope"
    blobs: List[bytes] = []
    if request.websocket:
        first = sent[0]["type"]
        if Seen.ran:
            assert first == "websocket.accept", sent
        elif first == "websocket.close":
            assert sent[0]["code"] == 1008 and len(sent) == 1, sent
            blobs.append(str(sent[0].get("reason", "")).encode("utf-8"))
        else:
            assert request.ws_http_extension and first == "websocket.http.response.start", sent
            assert sent[0]["status"] in ALLOWED_STATUSES - {200}, sent
            blobs += [b"%s: %s" % pair for pair in sent[0]["headers"]] + [sent[1]["body"]]
        status = 200 if Seen.ran else 401
    else:
        assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"], sent
        status = sent[0]["status"]
        assert status in ALLOWED_STATUSES, status
        assert (status == 200) == Seen.ran, (status, Seen.ran)
        for name, value in sent[0]["headers"]:
            assert isinstance(name, bytes) and isinstance(value, bytes), (name, value)
            assert b"\r" not in value and b"\n" not in value, value
            blobs.append(name + b": " + value)
        blobs.append(sent[1]["body"])
    assert not _leaks(request.credentials, *blobs), "credential echoed in the ASGI response"
    _check_access(request, status, _has_credentials(request))


def fuzz_one_input(buf: bytes) -> None:
    """One fuzz input through both middlewares: never raises unless a property is broken."""
    request = decode_request(buf)
    if not request.websocket:
        run_wsgi(request)
    run_asgi(request)


# -- seeds ------------------------------------------------------------------------------
def _encode(
    *,
    flags: int = 0,
    method: int = 0,
    path: int = 0,
    query: bytes = b"",
    headers: Tuple[Tuple[int, Any], ...] = (),
) -> bytes:
    """An input that :func:`decode_request` reads as described.

    ``headers`` holds ``(name_index, value)``; for an Authorization name the value is
    ``(scheme_index, token_kind, token_index)``.
    """
    enc = fc.Encoder().byte(flags | (16 if query else 0)).byte(method).byte(path)
    if query:
        enc.blob(query)
    enc.byte(len(headers))
    for name_index, value in headers:
        enc.byte(name_index)
        if HEADER_NAMES[name_index].lower() == "authorization":
            scheme, kind, index = value
            enc.byte(scheme).byte(kind).byte(index)
            if kind == 1:  # mutate: one edit that changes nothing much
                enc.byte(0).byte(0).byte(0).byte(0).byte(0)
        else:
            enc.blob(value)
    return enc.done()


def seed_inputs() -> Dict[str, bytes]:
    seeds: Dict[str, bytes] = {}
    for i in range(len(fc.VALID_TOKENS)):
        seeds[f"valid-{i:02d}-api-data"] = _encode(headers=((0, (0, 0, i)),))
        seeds[f"valid-{i:02d}-api-admin-loose"] = _encode(flags=1, path=1, headers=((1, (1, 0, i)),))
    for i in range(len(fc.INVALID_TOKENS)):
        seeds[f"invalid-{i:02d}"] = _encode(headers=((0, (0, 3, i)),))
    seeds["no-auth"] = _encode()
    seeds["basic"] = _encode(headers=((0, (5, 4, 0)),))
    seeds["two-headers"] = _encode(headers=((0, (0, 0, 0)), (1, (0, 0, 1))))
    seeds["preflight"] = _encode(method=2, headers=((3, b"https://a.example"), (4, b"GET")))
    seeds["websocket-query"] = _encode(flags=1 | 2, query=b"access_token=" + fc.VALID_TOKENS[4].encode())
    seeds["websocket-refused"] = _encode(flags=2 | 4, headers=((0, (0, 3, 0)),))
    seeds["mounted"] = _encode(flags=8, path=0x40, headers=((0, (0, 0, 0)),))
    seeds["tab-scheme"] = _encode(headers=((0, (3, 0, 0)),))
    seeds["mutated"] = _encode(headers=((0, (0, 1, 0)),))
    return seeds


GIT_SEEDS = ("valid-00-api-data", "valid-04-api-admin-loose", "invalid-08", "preflight", "websocket-query", "mounted")


def write_corpus(directory: str, names: Any = None) -> int:
    os.makedirs(directory, exist_ok=True)
    count = 0
    for name, content in seed_inputs().items():
        if names is None or name in names:
            with open(os.path.join(directory, name), "wb") as handle:
                handle.write(content)
            count += 1
    return count


def main(argv: List[str]) -> None:
    if len(argv) == 3 and argv[1] == "--make-corpus":
        print(f"wrote {write_corpus(argv[2])} seed inputs to {argv[2]}")
        return
    if len(argv) == 3 and argv[1] == "--make-git-seeds":
        print(f"wrote {write_corpus(argv[2], GIT_SEEDS)} seed inputs to {argv[2]}")
        return
    import atheris  # only the fuzzing run needs it

    fc.make_run_directories(argv)
    atheris.Setup(argv, fuzz_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)

"""JwtAsgiMiddleware driven directly: hand-built scopes, recorded ASGI messages, no server.

What both middlewares do is tested once, on both, in test_middleware_contract.py; this file
holds what only ASGI has: the ASGI messages, scope copies and ``user``/``auth``, root_path,
WebSocket, lifespan and prefetch, the Remote-User header, and the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from urllib.parse import quote

import pytest
from support.clock import wait_until
from support.drive import AsgiApp, call_asgi, drive_asgi, make_scope, queue_receive
from support.paths import BYPASSES
from support.refusals import assert_no_leak, assert_refusal

from wristband_mw import (
    AnonymousUser,
    AuthCredentials,
    AuthenticatedUser,
    JwtAsgiMiddleware,
    JWTPayload,
    get_claims,
    get_token,
)

WS_RESPONSE = {"websocket.http.response": {}}


def asgi(validator, **options) -> JwtAsgiMiddleware:
    return JwtAsgiMiddleware(AsgiApp(), validator, **options)


def get(middleware, path="/api/x", authorization=None, method="GET", headers=(), **scope_options):
    return call_asgi(middleware, make_scope(path, method, headers, authorization=authorization, **scope_options))


# -- ASGI messages ---------------------------------------------------------------------------------


def test_a_refusal_is_one_start_and_one_body_message(validator, realm):
    sent = get(asgi(validator))
    assert_refusal(sent, 401, None, realm)
    assert [m["type"] for m in sent.messages] == ["http.response.start", "http.response.body"]


# -- claims placement ------------------------------------------------------------------------------


def test_claims_user_and_auth_are_placed(validator, token):
    scope = make_scope("/api/x", authorization=f"Bearer {token}")
    sent = call_asgi(asgi(validator), scope)
    seen = sent.seen
    claims = seen["wristband_mw.claims"]
    assert isinstance(claims, JWTPayload) and claims.sub == "user-1"
    assert seen["wristband_mw.token"] == token
    user = seen["user"]
    assert isinstance(user, AuthenticatedUser)
    assert user.is_authenticated is True
    assert user.identity == user.display_name == "user-1"
    assert user.claims is claims
    auth = seen["auth"]
    assert isinstance(auth, AuthCredentials)
    assert list(auth.scopes) == ["openid", "orders:read", "admin"]
    assert auth.claims is claims
    assert get_claims(seen) is claims and get_token(seen) == token
    # the server's scope is left alone: the app got a copy
    assert seen is not scope
    assert "user" not in scope and "wristband_mw.claims" not in scope


def test_anonymous_pass_gets_unauthenticated_user(validator):
    sent = get(asgi(validator, protect=["/api"]), path="/public")
    assert sent.status == 200
    assert "wristband_mw.claims" not in sent.seen and "wristband_mw.token" not in sent.seen
    assert isinstance(sent.seen["user"], AnonymousUser)
    assert sent.seen["user"].is_authenticated is False
    assert list(sent.seen["auth"].scopes) == [] and sent.seen["auth"].claims is None
    assert get_claims(sent.seen) is None


def test_anonymous_pass_keeps_an_upstream_user(validator):
    scope = make_scope("/public")
    scope["user"] = upstream = object()
    sent = call_asgi(asgi(validator, protect=["/api"]), scope)
    assert sent.seen["user"] is upstream


def test_valid_token_replaces_a_forged_upstream_user(validator, token):
    scope = make_scope("/api/x", authorization=f"Bearer {token}")
    scope["user"] = "forged"
    scope["wristband_mw.claims"] = "forged"
    sent = call_asgi(asgi(validator), scope)
    assert isinstance(sent.seen["user"], AuthenticatedUser)
    assert isinstance(sent.seen["wristband_mw.claims"], JWTPayload)


# -- ASGI-only options (the shared ones: test_middleware_contract.py) -------------------------------


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"websocket_query_param": ""}, "websocket_query_param"),
        ({"websocket_query_param": 5}, "websocket_query_param"),
        ({"prefetch_on_startup": "yes"}, "prefetch_on_startup"),
        ({"remote_user_header": 1}, "remote_user_header"),
    ],
)
def test_constructor_rejects_bad_asgi_only_options(validator, options, words):
    with pytest.raises(ValueError, match=words):
        asgi(validator, **options)


# -- paths -----------------------------------------------------------------------------------------


def test_path_is_matched_below_root_path(validator):
    middleware = asgi(validator, protect=["/api"])
    assert get(middleware, path="/app/api/x", root_path="/app").status == 401
    # Starlette routes "/api/x" below root_path "/api" on "/x", but Litestar's own middleware
    # list hands over a path already stripped while root_path is kept: "/api/x" is protected.
    assert get(middleware, path="/api/x", root_path="/api").status == 401
    assert get(middleware, path="/api", root_path="/api").status == 401
    assert get(middleware, path="/app/public", root_path="/app").status == 200
    assert get(middleware, path="/public", root_path="/app").status == 200
    assert get(middleware, path="/api/x", root_path="/app").status == 401  # path without the prefix (older servers)
    assert get(middleware, path="/apix/api/y", root_path="/apix").status == 401
    assert get(middleware, path="/api/x", root_path="/ap").status == 401  # not a segment boundary


@pytest.mark.parametrize("path", BYPASSES)
def test_bypass_attempts_over_websocket_are_refused(validator, path):
    middleware = asgi(validator, protect=["/api"], exempt=["/x"])
    sent = call_asgi(middleware, make_scope(path, type="websocket"))
    assert not sent.app_called
    assert sent.messages[0]["type"] == "websocket.close"


# -- scope types -----------------------------------------------------------------------------------


def test_lifespan_passes_through_untouched(validator):
    app = AsgiApp()
    middleware = JwtAsgiMiddleware(app, validator)
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    receive = queue_receive([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent = []

    async def send(message):
        sent.append(message)

    asyncio.run(middleware(scope, receive, send))
    assert (
        app.scopes == [scope] and app.scopes[0] is scope and scope == {"type": "lifespan", "asgi": {"version": "3.0"}}
    )
    assert app.receive_callables[0] is receive and app.send_callables[0] is send
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_unknown_scope_type_passes_through_untouched(validator):
    seen = []

    async def app(scope, receive, send):
        seen.append((scope, receive, send))

    middleware = JwtAsgiMiddleware(app, validator)
    scope = {"type": "custom.thing", "path": "/api/x"}

    async def receive():
        return {}

    async def send(message):
        raise AssertionError("nothing is sent")

    asyncio.run(middleware(scope, receive, send))
    assert (
        seen == [(scope, receive, send)] and seen[0][0] is scope and scope == {"type": "custom.thing", "path": "/api/x"}
    )


# -- websocket -------------------------------------------------------------------------------------


def test_websocket_without_token_and_with_http_response_extension(validator, realm):
    sent = call_asgi(asgi(validator), make_scope("/ws", type="websocket", extensions=WS_RESPONSE))
    assert [m["type"] for m in sent.messages] == ["websocket.http.response.start", "websocket.http.response.body"]
    assert_refusal(sent, 401, None, realm)


def test_websocket_without_token_closes_1008(validator):
    sent = call_asgi(asgi(validator), make_scope("/ws", type="websocket", extensions={}))
    assert not sent.app_called
    assert len(sent.messages) == 1
    message = sent.messages[0]
    assert message["type"] == "websocket.close" and message["code"] == 1008
    assert "websocket.accept" not in [m["type"] for m in sent.messages]


def test_websocket_refusals_carry_the_right_status(issuer, validator, realm):
    middleware = asgi(validator, required_scopes=["admin"])
    expired = issuer.mint(exp_in=-5, scope="admin")
    sent = call_asgi(
        middleware, make_scope("/ws", type="websocket", extensions=WS_RESPONSE, authorization=f"Bearer {expired}")
    )
    assert_refusal(sent, 401, "invalid_token", realm)
    assert_no_leak(sent, expired)
    weak = issuer.mint(scope="openid")
    sent = call_asgi(
        middleware, make_scope("/ws", type="websocket", extensions=WS_RESPONSE, authorization=f"Bearer {weak}")
    )
    assert_refusal(sent, 403, "insufficient_scope", realm)
    sent = call_asgi(middleware, make_scope("/ws", type="websocket", authorization=f"Bearer {weak}"))
    assert sent.messages[0]["code"] == 1008
    assert_no_leak(sent, weak)


def test_websocket_refusal_waits_for_connect_and_sends_nothing_after_disconnect(validator):
    sent = call_asgi(asgi(validator), make_scope("/ws", type="websocket"), incoming=[{"type": "websocket.disconnect"}])
    assert sent.messages == [] and not sent.app_called


def test_websocket_with_valid_token_runs_the_app(validator, token):
    middleware = asgi(validator)
    sent = call_asgi(middleware, make_scope("/ws", type="websocket", authorization=f"Bearer {token}"))
    assert sent.app_called
    assert [m["type"] for m in sent.messages] == ["websocket.accept"]
    assert sent.seen["user"].identity == "user-1"
    assert middleware.app.received == [{"type": "websocket.connect"}]  # the app still gets the handshake


def test_websocket_query_param(validator, token, realm, caplog):
    middleware = asgi(validator, websocket_query_param="access_token")
    query = f"access_token={token}&x=1".encode()
    sent = call_asgi(middleware, make_scope("/ws", type="websocket", query_string=query))
    assert sent.app_called and sent.seen["wristband_mw.token"] == token
    assert sent.seen["user"].identity == "user-1"
    # plain HTTP never takes the token from the query string
    sent = get(middleware, path="/api/x", query_string=query)
    assert_refusal(sent, 401, None, realm)
    # header and query together: refused as a malformed request
    both = make_scope(
        "/ws", type="websocket", query_string=query, authorization=f"Bearer {token}", extensions=WS_RESPONSE
    )
    sent = call_asgi(middleware, both)
    assert_refusal(sent, 400, "invalid_request", realm)
    assert_no_leak(sent, token)
    both.pop("extensions")
    assert call_asgi(middleware, both).messages[0]["code"] == 1008
    # the header alone still works on websockets
    assert call_asgi(middleware, make_scope("/ws", type="websocket", authorization=f"Bearer {token}")).app_called


@pytest.mark.parametrize(
    ("query", "status", "error"),
    [
        (b"access_token=abc.def.ghi", 401, "invalid_token"),
        (b"access_token=a%20b", 400, "invalid_request"),
        (b"access_token=a&access_token=b", 400, "invalid_request"),
        (b"access_token=", 401, None),
        (b"other=1", 401, None),
        (b"", 401, None),
    ],
)
def test_websocket_query_param_refusals(validator, realm, query, status, error):
    middleware = asgi(validator, websocket_query_param="access_token")
    sent = call_asgi(middleware, make_scope("/ws", type="websocket", query_string=query, extensions=WS_RESPONSE))
    assert_refusal(sent, status, error, realm)


def test_websocket_query_param_is_off_by_default(validator, token):
    query = f"access_token={token}".encode()
    sent = call_asgi(asgi(validator), make_scope("/ws", type="websocket", query_string=query))
    assert not sent.app_called and sent.messages[0]["code"] == 1008


def test_websocket_query_token_is_never_logged(issuer, caplog):
    validator = issuer.validator()
    try:
        middleware = asgi(validator, websocket_query_param="access_token")
        tokens = [issuer.mint(exp_in=-5), issuer.mint(headers={"kid": "nope-nope-nope"}), issuer.mint()]
        with caplog.at_level(logging.DEBUG):
            for token in tokens:
                query = f"access_token={quote(token)}".encode()
                call_asgi(middleware, make_scope("/ws", type="websocket", query_string=query))
        text = "\n".join(record.getMessage() for record in caplog.records)
        for token in tokens:
            for piece in token.split("."):
                assert piece not in text
    finally:
        validator.close()


# -- Remote-User: identity only the token can set (issue 9 section 2) -----------------------------

SPOOFED = [
    (b"remote-user", b"mallory"),
    (b"Remote-User", b"mallory"),
    (b"REMOTE-USER", b"mallory"),
    (b"remote_user", b"mallory"),  # Django maps "_" like "-" into HTTP_REMOTE_USER
    (b"Remote_User", b"mallory"),
]
OTHER_HEADERS = [(b"accept", b"*/*"), (b"x-remote-user", b"kept"), (b"remote-users", b"kept")]


def remote_users(seen):
    return [value for name, value in seen["headers"] if name.lower().replace(b"_", b"-") == b"remote-user"]


def spoofing_scope(path, *, authorization=None, type="http"):
    headers = [*OTHER_HEADERS, *SPOOFED]
    return make_scope(path, headers=headers, authorization=authorization, type=type)


@pytest.mark.parametrize("kind", ["http", "websocket"])
@pytest.mark.parametrize("options", [{"protect": ["/api"]}, {"optional": True}], ids=["exempt", "optional"])
def test_client_remote_user_is_dropped_without_a_token(validator, kind, options):
    middleware = asgi(validator, **options)
    scope = spoofing_scope("/public" if "protect" in options else "/api/x", type=kind)
    original = list(scope["headers"])
    sent = call_asgi(middleware, scope)
    assert sent.app_called and sent.seen["user"].is_authenticated is False
    assert remote_users(sent.seen) == []
    # Every other header is passed on, in order; the server's own list is left untouched.
    assert [h for h in sent.seen["headers"] if h[0] != b"authorization"] == [
        (b"host", b"127.0.0.1:8000"),
        *OTHER_HEADERS,
    ]
    assert scope["headers"] == original


@pytest.mark.parametrize("kind", ["http", "websocket"])
def test_verified_sub_is_the_only_remote_user(validator, token, kind):
    scope = spoofing_scope("/api/x", authorization=f"Bearer {token}", type=kind)
    original = list(scope["headers"])
    sent = call_asgi(asgi(validator), scope)
    assert sent.app_called and sent.seen["user"].identity == "user-1"
    assert remote_users(sent.seen) == [b"user-1"]
    assert (b"remote-user", b"user-1") in sent.seen["headers"]  # lowercase, as ASGI requires
    assert (b"x-remote-user", b"kept") in sent.seen["headers"]
    assert scope["headers"] == original


def test_remote_user_header_can_be_turned_off_but_spoofs_are_still_dropped(validator, token):
    scope = spoofing_scope("/api/x", authorization=f"Bearer {token}")
    sent = call_asgi(asgi(validator, remote_user_header=False), scope)
    assert sent.app_called and sent.seen["user"].identity == "user-1"
    assert remote_users(sent.seen) == []


def test_no_remote_user_for_a_token_without_sub(validator, issuer):
    scope = spoofing_scope("/api/x", authorization=f"Bearer {issuer.mint(sub=None)}")
    sent = call_asgi(asgi(validator), scope)
    assert sent.app_called and remote_users(sent.seen) == []


def test_non_ascii_sub_is_sent_as_utf8(validator, issuer):
    token = issuer.mint(sub="j\u00f6rg")
    sent = get(asgi(validator), authorization=f"Bearer {token}")
    assert remote_users(sent.seen) == ["j\u00f6rg".encode()]


@pytest.mark.parametrize("kind", ["http", "websocket"])
@pytest.mark.parametrize("authorized", [False, True], ids=["anonymous", "token"])
def test_the_app_always_gets_its_own_header_list(validator, token, kind, authorized):
    # Even with nothing to remove: the server's list object is never handed on (see below).
    scope = make_scope(
        "/api/x", headers=OTHER_HEADERS, type=kind, authorization=f"Bearer {token}" if authorized else None
    )
    sent = call_asgi(asgi(validator, optional=True, remote_user_header=False), scope)
    assert sent.app_called
    assert sent.seen["headers"] is not scope["headers"]
    assert sent.seen["headers"] == scope["headers"]


@pytest.mark.parametrize("authorized", [False, True], ids=["anonymous", "token"])
def test_a_trailer_the_server_adds_later_never_reaches_the_app(validator, token, authorized):
    # uvicorn (httptools) appends chunked-trailer fields to the very list it put in
    # scope["headers"], while the app reads the body: after the middleware ran.
    server_headers = make_scope("/", headers=OTHER_HEADERS)["headers"]
    if authorized:
        server_headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {**make_scope("/api/x" if authorized else "/public"), "headers": server_headers}
    seen = []

    async def app(scope, receive, send):
        await receive()
        seen.extend(scope["headers"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive():
        server_headers.append((b"remote-user", b"mallory"))  # the trailer arrives with the body
        return {"type": "http.request", "body": b"x", "more_body": False}

    async def send(message):
        pass

    asyncio.run(JwtAsgiMiddleware(app, validator, protect=["/api"])(scope, receive, send))
    assert (b"remote-user", b"mallory") in server_headers
    assert seen and (b"remote-user", b"mallory") not in seen
    assert [value for name, value in seen if name == b"remote-user"] == ([b"user-1"] if authorized else [])


# -- prefetch_on_startup ---------------------------------------------------------------------------


def run_lifespan(middleware):
    startup, shutdown = {"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}
    sent = []

    async def send(message):
        sent.append(message)

    async def main():
        started = time.perf_counter()
        await middleware({"type": "lifespan", "asgi": {"version": "3.0"}}, queue_receive([startup, shutdown]), send)
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    app = middleware.app
    assert app.received == [startup, shutdown]
    assert app.received[0] is startup and app.received[1] is shutdown  # the app sees the very same messages
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    return elapsed


def test_prefetch_on_startup_warms_the_cache_without_blocking(local_issuer):
    local_issuer.stall_seconds = 0.4
    validator = local_issuer.validator()
    try:
        middleware = asgi(validator, prefetch_on_startup=True)
        elapsed = run_lifespan(middleware)
        assert elapsed < 0.3  # startup did not wait for the (slow) JWKS
        assert wait_until(lambda: validator.stats()["cached_kids"])
        assert local_issuer.fetch_count == 1
        local_issuer.stall_seconds = 0
        assert get(middleware, authorization=f"Bearer {local_issuer.mint()}").status == 200
        assert local_issuer.fetch_count == 1  # served from the warmed cache
    finally:
        validator.close()


def test_no_prefetch_by_default(local_issuer):
    validator = local_issuer.validator()
    try:
        app = AsgiApp()
        middleware = JwtAsgiMiddleware(app, validator)
        run_lifespan(middleware)
        time.sleep(0.05)
        assert local_issuer.fetch_count == 0
    finally:
        validator.close()


def test_failing_prefetch_is_logged_and_startup_continues(local_issuer, caplog):
    local_issuer.failing = True
    validator = local_issuer.validator()
    try:
        middleware = asgi(validator, prefetch_on_startup=True)
        with caplog.at_level(logging.WARNING, logger="wristband_mw"):
            run_lifespan(middleware)
            assert wait_until(lambda: any("prefetch" in r.getMessage() for r in caplog.records))
        record = next(r for r in caplog.records if "prefetch" in r.getMessage())
        assert record.levelno == logging.WARNING
        assert local_issuer.fetch_count >= 1
    finally:
        validator.close()


class LifespanRefusingApp:
    """Like Django's ASGI handler: raises on the lifespan scope before reading anything."""

    def __init__(self):
        self.scopes = []

    async def __call__(self, scope, receive, send):
        self.scopes.append(scope)
        raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")


class LifespanIgnoringApp:
    """Returns at once without reading lifespan.startup."""

    async def __call__(self, scope, receive, send):
        return None


@pytest.mark.parametrize("app_class", [LifespanRefusingApp, LifespanIgnoringApp])
def test_prefetch_starts_when_the_lifespan_scope_arrives_whatever_the_app_does(local_issuer, app_class):
    validator = local_issuer.validator()
    try:
        middleware = JwtAsgiMiddleware(app_class(), validator, prefetch_on_startup=True)

        async def main():
            # Django raises; the server logs "lifespan unsupported" and goes on serving.
            with contextlib.suppress(ValueError):
                await middleware({"type": "lifespan", "asgi": {"version": "3.0"}}, queue_receive([]), None)

        asyncio.run(asyncio.wait_for(main(), timeout=5))
        assert wait_until(lambda: validator.stats()["cached_kids"])
        assert local_issuer.fetch_count == 1
    finally:
        validator.close()


def test_prefetch_that_cannot_start_never_breaks_startup(local_issuer, caplog, monkeypatch):
    validator = local_issuer.validator()
    try:
        middleware = asgi(validator, prefetch_on_startup=True)

        def no_threads(*args, **kwargs):
            raise RuntimeError("can't start new thread")

        monkeypatch.setattr("wristband_mw.asgi.threading.Thread", no_threads)
        with caplog.at_level(logging.WARNING, logger="wristband_mw"):
            run_lifespan(middleware)
        assert any("prefetch" in r.getMessage() for r in caplog.records)
        assert local_issuer.fetch_count == 0
    finally:
        validator.close()


# -- the event loop never blocks on JWKS I/O -------------------------------------------------------


def test_event_loop_keeps_running_while_the_jwks_is_slow(local_issuer):
    local_issuer.stall_seconds = 1.0
    validator = local_issuer.validator()  # cold: the first request must fetch
    token = local_issuer.mint(sub="slow")
    middleware = asgi(validator)

    async def main():
        gaps = []
        stop = asyncio.Event()

        async def ticker():
            last = time.perf_counter()
            while not stop.is_set():
                await asyncio.sleep(0.01)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.03)
        started = time.perf_counter()
        sent = await drive_asgi(middleware, make_scope("/api/x", authorization=f"Bearer {token}"))
        elapsed = time.perf_counter() - started
        stop.set()
        await task
        return sent, elapsed, gaps

    try:
        sent, elapsed, gaps = asyncio.run(main())
    finally:
        validator.close()
    assert sent.status == 200 and sent.seen["user"].identity == "slow"
    assert elapsed >= 0.9  # the request really waited for the stalled key fetch
    assert local_issuer.fetch_count == 1
    assert len(gaps) >= 50  # ~100 ticks expected in a second
    assert max(gaps) < 0.25, max(gaps)


def test_concurrent_requests_share_one_fetch_while_the_loop_runs(local_issuer):
    local_issuer.stall_seconds = 0.3
    validator = local_issuer.validator()
    middleware = asgi(validator)
    tokens = [local_issuer.mint(sub=f"user-{i}") for i in range(8)]

    async def main():
        return await asyncio.gather(
            *(drive_asgi(middleware, make_scope("/api/x", authorization=f"Bearer {t}")) for t in tokens)
        )

    try:
        results = asyncio.run(main())
    finally:
        validator.close()
    assert [r.seen["user"].identity for r in results] == [f"user-{i}" for i in range(8)]
    assert local_issuer.fetch_count == 1


# -- root_path spellings (the policy decides; this checks the wiring) ----------------------------


def test_root_path_spellings_litestar_and_starlette(validator, issuer, realm):
    token = issuer.mint(sub="user-1", scope="openid")
    middleware = asgi(validator, protect=["/api"], scopes={"/api/admin": ["admin"]})
    # uvicorn --root-path /api: path "/api/api/me"; Litestar's middleware list: "/api/me".
    for path, root_path in [("/api/api/me", "/api"), ("/api/me", "/api"), ("/x/mnt/api/me", "/mnt"), ("/me", "/api")]:
        assert_refusal(get(middleware, path=path, root_path=root_path), 401, None, realm)
        admin = path.replace("/me", "/admin")
        sent = get(middleware, path=admin, root_path=root_path, authorization=f"Bearer {token}")
        assert_refusal(sent, 403, "insufficient_scope", realm)
    assert get(middleware, path="/mnt/public", root_path="/mnt").status == 200


@pytest.mark.parametrize(
    ("path", "raw_path"),
    [(" /api/me", b"%20/api/me"), ("//public/x", b"%2F/public/x"), ("\\public", b"\\public"), ("/x", b"x")],
)
def test_no_request_target_in_path_or_raw_path_is_400_before_the_app(validator, token, realm, path, raw_path):
    # h11-based servers pass such targets on; Quart routes " /api/me" as "/api/me", Sanic
    # (routing on raw_path) answers 500 for "%2F/public/x".
    middleware = asgi(validator, protect=["/api"], optional=True)
    for kind in ("http", "websocket"):
        scope = make_scope(path, type=kind, authorization=f"Bearer {token}")
        scope["raw_path"] = raw_path
        sent = call_asgi(middleware, scope)
        assert not sent.app_called
        if kind == "http":
            assert_refusal(sent, 400, "invalid_request", realm)
            assert "does not start with '/'" in sent.json["error_description"]


@pytest.mark.parametrize("raw_path", [b"/api#x", b"http://127.0.0.1:8000/public", b"*", None])
def test_request_targets_in_raw_path_pass(validator, raw_path):
    scope = make_scope("/public", headers=())
    if raw_path is None:
        del scope["raw_path"]
    else:
        scope["raw_path"] = raw_path
    assert call_asgi(asgi(validator, protect=["/api"]), scope).status == 200

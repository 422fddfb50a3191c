"""token_sources (issue 13 section 1): cookies, custom headers, callables; one method only; CSRF.

Every behaviour test runs on both middlewares through ``support.adapters``; what only
ASGI has (WebSocket handshakes, ``query:`` sources) is at the end.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict, List, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.adapters import ADAPTERS, ASGI, Adapter
from support.drive import call_asgi, make_environ, make_scope
from support.refusals import assert_no_leak, assert_refusal
from support.validators import offline_validator

from wristband_mw import JwtAsgiMiddleware, JwtWsgiMiddleware, MiddlewareOptions
from wristband_mw.sources import cookie_values, normalize_origin, referer_origin

COOKIE = "__Host-at"
APP = "https://app.example.com"
WS_RESPONSE = {"websocket.http.response": {}}


@pytest.fixture(params=ADAPTERS, ids=[adapter.name for adapter in ADAPTERS])
def adapter(request: pytest.FixtureRequest) -> Adapter:
    return request.param  # type: ignore[no-any-return]


def cookie_mw(adapter: Adapter, validator: Any, **options: Any) -> Any:
    options.setdefault("token_sources", ["authorization", f"cookie:{COOKIE}"])
    return adapter.middleware(validator, **options)


# -- options ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"token_sources": ["bearer"]}, "unknown source"),
        ({"token_sources": ["cookies:at"]}, "unknown source"),
        ({"token_sources": ["cookie:"]}, "cookie name"),
        ({"token_sources": ["cookie:a b"]}, "cookie name"),
        ({"token_sources": ["header:"]}, "header name"),
        ({"token_sources": ["header:X_Token"]}, "no '_'"),
        ({"token_sources": ["header:Authorization"]}, "'authorization'"),
        ({"token_sources": ["header:cookie"]}, "cookie:NAME"),
        ({"token_sources": ["header:X-Token", "header:x-token"]}, "listed twice"),
        ({"token_sources": ["authorization", "authorization"]}, "listed twice"),
        ({"token_sources": []}, "at least one"),
        ({"token_sources": "authorization"}, "takes a list"),
        ({"token_sources": [5]}, "strings or callables"),
        ({"token_sources": ["query:"]}, "query parameter name"),
        ({"token_sources": ["query:at"], "websocket_query_param": "at"}, "listed twice"),
        ({"trusted_origins": [APP]}, "cookie sources only"),
        ({"csrf_header": "X-Requested-With"}, "cookie sources only"),
        ({"token_sources": ["cookie:at"], "trusted_origins": ["https://app.example.com/"]}, "not an origin"),
        ({"token_sources": ["cookie:at"], "trusted_origins": ["https://*.example.com"]}, "not an origin"),
        ({"token_sources": ["cookie:at"], "trusted_origins": ["app.example.com"]}, "not an origin"),
        ({"token_sources": ["cookie:at"], "trusted_origins": ["ftp://app.example.com"]}, "not an origin"),
        ({"token_sources": ["cookie:at"], "trusted_origins": ["https://a.example:99999"]}, "invalid port"),
        ({"token_sources": ["cookie:at"], "trusted_origins": "https://a.example"}, "takes a list"),
        ({"token_sources": ["cookie:at"], "csrf_header": "X Requested"}, "csrf_header"),
        ({"token_sources": ["cookie:at"], "csrf_header": "Origin"}, "csrf_header"),
    ],
)
def test_bad_options_are_refused_with_the_reason(options: Dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MiddlewareOptions(**options)


def test_options_keep_what_was_passed_and_derive_the_rest() -> None:
    def finder(environ_or_scope: Any) -> Optional[str]:
        return None

    options = MiddlewareOptions(
        token_sources=iter(["cookie:at", "header:X-Token", finder]),  # type: ignore[arg-type]
        trusted_origins=["HTTPS://App.Example.com:443", "http://localhost:8080"],
        csrf_header="X-Requested-With",
    )
    assert options.token_sources == ("cookie:at", "header:X-Token", finder)
    assert [(s.kind, s.name) for s in options.sources] == [("cookie", "at"), ("header", "x-token"), ("callable", "")]
    assert options.trusted_origin_set == {APP, "http://localhost:8080"}
    assert options.csrf_header_name == "x-requested-with"
    assert MiddlewareOptions().token_sources == ("authorization",)
    shorthand = MiddlewareOptions(websocket_query_param="access_token")
    assert [(s.kind, s.name) for s in shorthand.sources] == [("authorization", ""), ("query", "access_token")]


def test_the_default_sources_keep_the_classic_path(adapter: Adapter, validator: Any) -> None:
    assert adapter.middleware(validator).flow.sources is None
    assert adapter.middleware(validator, token_sources=("authorization",)).flow.sources is None
    assert cookie_mw(adapter, validator).flow.sources is not None


def test_wsgi_refuses_query_sources(validator: Any) -> None:
    with pytest.raises(ValueError, match="WebSocket"):
        JwtWsgiMiddleware(lambda e, s: [], validator, token_sources=["query:access_token"])


# -- where the token comes from --------------------------------------------------------------------


def test_cookie_token(adapter: Adapter, validator: Any, token: str) -> None:
    mw = cookie_mw(adapter, validator)
    sent = adapter.get(mw, headers=[("Cookie", f"theme=dark; {COOKIE}={token}; lang=en")])
    assert sent.status == 200 and adapter.user(sent.seen) == "user-1"
    assert sent.seen["wristband_mw.token"] == token
    quoted = adapter.get(mw, headers=[("Cookie", f'{COOKIE}="{token}"')])
    assert quoted.status == 200


def test_cookie_in_several_cookie_headers(adapter: Adapter, validator: Any, token: str) -> None:
    # HTTP/2 sends one Cookie header per cookie: ASGI keeps them apart, WSGI servers join them with ", "
    mw = cookie_mw(adapter, validator)
    sent = adapter.get(mw, headers=[("Cookie", "theme=dark"), ("Cookie", f"{COOKIE}={token}")])
    assert sent.status == 200 and adapter.user(sent.seen) == "user-1"
    same_twice = adapter.get(mw, headers=[("Cookie", f"{COOKIE}={token}"), ("Cookie", f"{COOKIE}={token}")])
    assert same_twice.status == 200


def test_a_cookie_with_two_values_is_ambiguous(adapter: Adapter, validator: Any, token: str, issuer: Any, realm: str):
    other = issuer.mint(sub="attacker")
    mw = cookie_mw(adapter, validator)
    sent = adapter.get(mw, headers=[("Cookie", f"{COOKIE}={token}; {COOKIE}={other}")])
    assert_refusal(sent, 400, "invalid_request", realm)
    assert "more than once" in sent.json["error_description"]
    assert_no_leak(sent, token, other)


def test_empty_or_absent_cookie_is_no_token(adapter: Adapter, validator: Any, realm: str) -> None:
    mw = cookie_mw(adapter, validator)
    for headers in ([], [("Cookie", f"{COOKIE}=")], [("Cookie", "theme=dark; x")]):
        assert_refusal(adapter.get(mw, headers=headers), 401, None, realm)
    anonymous = adapter.get(cookie_mw(adapter, validator, optional=True), headers=[("Cookie", f"{COOKIE}=")])
    assert anonymous.status == 200 and adapter.user(anonymous.seen) is None


@pytest.mark.parametrize("value", ["a b", "abc!", "{x}", "ab\\c"])
def test_malformed_cookie_token_is_400(adapter: Adapter, validator: Any, realm: str, value: str) -> None:
    sent = adapter.get(cookie_mw(adapter, validator), headers=[("Cookie", f"{COOKIE}={value}")])
    assert_refusal(sent, 400, "invalid_request", realm)


def test_cookie_with_a_bad_token_is_401(adapter: Adapter, validator: Any, issuer: Any, realm: str) -> None:
    expired = issuer.mint(exp_in=-60)
    sent = adapter.get(cookie_mw(adapter, validator), headers=[("Cookie", f"{COOKIE}={expired}")])
    assert_refusal(sent, 401, "invalid_token", realm)
    assert_no_leak(sent, expired)


@pytest.mark.parametrize("prefix", ["", "Bearer ", "bearer  "])
def test_header_token(adapter: Adapter, validator: Any, token: str, prefix: str) -> None:
    mw = adapter.middleware(validator, token_sources=["header:X-Access-Token"])
    sent = adapter.get(mw, headers=[("X-Access-Token", prefix + token)])
    assert sent.status == 200 and adapter.user(sent.seen) == "user-1"


def test_header_source_refusals(adapter: Adapter, validator: Any, token: str, realm: str) -> None:
    mw = adapter.middleware(validator, token_sources=["header:X-Access-Token"])
    assert_refusal(adapter.get(mw, headers=[("X-Access-Token", "Bearer ")]), 400, "invalid_request", realm)
    assert_refusal(adapter.get(mw, headers=[("X-Access-Token", "a b")]), 400, "invalid_request", realm)
    twice = adapter.get(mw, headers=[("X-Access-Token", token), ("X-Access-Token", token)])
    assert_refusal(twice, 400, "invalid_request", realm)
    # only the configured header counts: Authorization is not a source here
    assert_refusal(adapter.get(mw, authorization=f"Bearer {token}"), 401, None, realm)
    huge = adapter.get(mw, headers=[("X-Access-Token", "a" * 100_000)])
    assert_refusal(huge, 401, "invalid_token", realm)


def test_callable_source_gets_the_environ_or_scope(adapter: Adapter, validator: Any, token: str) -> None:
    received: List[Any] = []

    def finder(environ_or_scope: Any) -> Optional[str]:
        received.append(environ_or_scope)
        return token

    sent = adapter.get(adapter.middleware(validator, token_sources=[finder]))
    assert sent.status == 200 and adapter.user(sent.seen) == "user-1"
    (request,) = received
    assert request["PATH_INFO" if adapter.name == "WSGI" else "path"] == "/api/x"


def test_basic_authorization_does_not_hide_a_cookie(adapter: Adapter, validator: Any, token: str) -> None:
    # a browser may send Basic credentials of another realm: not a Bearer token, so not a second one
    sent = adapter.get(
        cookie_mw(adapter, validator), authorization="Basic dXNlcjpwYXNz", headers=[("Cookie", f"{COOKIE}={token}")]
    )
    assert sent.status == 200 and adapter.user(sent.seen) == "user-1"


def test_paths_that_need_no_token_read_no_source(adapter: Adapter, validator: Any) -> None:
    def finder(environ_or_scope: Any) -> Optional[str]:
        raise AssertionError("called for an exempt path")

    mw = adapter.middleware(validator, token_sources=[finder], exempt=["/health"])
    assert adapter.get(mw, path="/health").status == 200


# -- one method only (RFC 6750 section 2) ----------------------------------------------------------


@pytest.mark.parametrize("second", ["authorization", "header", "callable"])
def test_a_token_in_two_places_is_400(adapter: Adapter, validator: Any, token: str, realm: str, second: str):
    # even the same token: a client must use one method only
    sources: List[Any] = [f"cookie:{COOKIE}", "authorization", "header:X-Token", lambda r: None]
    if second == "callable":
        sources[3] = lambda request: token
    headers: List[Any] = [("Cookie", f"{COOKIE}={token}")]
    authorization = f"Bearer {token}" if second == "authorization" else None
    if second == "header":
        headers.append(("X-Token", token))
    sent = adapter.get(
        adapter.middleware(validator, token_sources=sources), authorization=authorization, headers=headers
    )
    assert_refusal(sent, 400, "invalid_request", realm)
    assert "more than one place" in sent.json["error_description"]
    assert_no_leak(sent, token)


def test_a_malformed_second_token_also_counts(adapter: Adapter, validator: Any, token: str, realm: str) -> None:
    mw = cookie_mw(adapter, validator)
    sent = adapter.get(mw, authorization="Bearer a b", headers=[("Cookie", f"{COOKIE}={token}")])
    assert_refusal(sent, 400, "invalid_request", realm)


# -- CSRF: cookie tokens on unsafe methods ---------------------------------------------------------


def csrf_mw(adapter: Adapter, validator: Any, **options: Any) -> Any:
    options.setdefault("trusted_origins", [APP, "http://localhost:8080"])
    return cookie_mw(adapter, validator, **options)


@pytest.mark.parametrize(
    ("method", "headers", "allowed"),
    [
        ("GET", [], True),
        ("HEAD", [("Origin", "https://evil.example")], True),
        ("OPTIONS", [], True),
        ("POST", [], False),  # neither Origin nor Referer
        ("POST", [("Origin", APP)], True),
        ("POST", [("Origin", "HTTPS://APP.EXAMPLE.COM")], True),
        ("PUT", [("Origin", "https://app.example.com:443")], False),  # browsers never send a default port
        ("DELETE", [("Origin", "http://localhost:8080")], True),
        ("PATCH", [("Origin", "http://localhost:8081")], False),
        ("POST", [("Origin", "https://evil.example")], False),
        ("POST", [("Origin", "https://app.example.com.evil.example")], False),
        ("POST", [("Origin", "null")], False),
        ("POST", [("Origin", f"{APP}, https://evil.example")], False),
        ("POST", [("Referer", f"{APP}/orders?id=1")], True),
        ("POST", [("Referer", "https://user@app.example.com:443/x")], True),
        ("POST", [("Referer", "https://evil.example/?app.example.com")], False),
        ("POST", [("Referer", "not a url")], False),
        ("POST", [("Origin", "https://evil.example"), ("Referer", f"{APP}/x")], False),  # Origin decides
        ("post", [], False),  # methods are case-sensitive: only GET, HEAD and OPTIONS are safe
        ("POST", [("X-Requested-With", "XMLHttpRequest")], True),
        ("POST", [("X-Requested-With", "")], True),
        ("POST", [("Origin", "https://evil.example"), ("X-Requested-With", "x")], True),
    ],
)
def test_csrf_rules(adapter: Adapter, validator: Any, token: str, realm: str, method: str, headers: Any, allowed: bool):
    mw = csrf_mw(adapter, validator, csrf_header="X-Requested-With")
    sent = adapter.get(mw, method=method, headers=[*headers, ("Cookie", f"{COOKIE}={token}")])
    if allowed:
        assert sent.status == 200 and adapter.user(sent.seen) == "user-1"
    else:
        params = assert_refusal(sent, 403, "csrf_refused", realm)
        assert "evil" not in sent.body.decode() and "evil" not in params["error_description"]
        assert_no_leak(sent, token)


def test_without_trusted_origins_or_header_unsafe_cookie_requests_are_refused(
    adapter: Adapter, validator: Any, token: str, realm: str
) -> None:
    mw = cookie_mw(adapter, validator)
    sent = adapter.get(mw, method="POST", headers=[("Origin", APP), ("Cookie", f"{COOKIE}={token}")])
    assert_refusal(sent, 403, "csrf_refused", realm)
    assert adapter.get(mw, headers=[("Cookie", f"{COOKIE}={token}")]).status == 200


def test_csrf_applies_to_cookie_tokens_only(adapter: Adapter, validator: Any, token: str) -> None:
    # an Authorization header is never sent by a browser on its own: no CSRF risk
    mw = csrf_mw(adapter, validator)
    sent = adapter.get(mw, method="POST", authorization=f"Bearer {token}", headers=[("Origin", "https://evil.example")])
    assert sent.status == 200


def test_csrf_check_comes_before_validation(adapter: Adapter, validator: Any, realm: str) -> None:
    sent = adapter.get(csrf_mw(adapter, validator), method="POST", headers=[("Cookie", f"{COOKIE}=abc.def.ghi")])
    assert_refusal(sent, 403, "csrf_refused", realm)


# -- callables that fail ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["raises", "int", "bytes", "coroutine"])
def test_a_failing_callable_is_no_token_and_logged_once(
    adapter: Adapter, validator: Any, token: str, realm: str, caplog: pytest.LogCaptureFixture, bad: str
) -> None:
    state = {"fail": True}

    async def later() -> str:
        return token

    def finder(request: Any) -> Any:
        if not state["fail"]:
            return token
        if bad == "raises":
            raise KeyError(token)  # the message must not reach the log
        return later() if bad == "coroutine" else {"int": 5, "bytes": token.encode()}[bad]

    mw = adapter.middleware(validator, token_sources=[finder, "authorization"])
    with caplog.at_level(logging.DEBUG, logger="wristband_mw"):
        for _ in range(3):
            assert_refusal(adapter.get(mw), 401, None, realm)
        # the other sources still work while it fails
        assert adapter.get(mw, authorization=f"Bearer {token}").status == 200
        state["fail"] = False
        assert adapter.get(mw).status == 200
        state["fail"] = True
        assert_refusal(adapter.get(mw), 401, None, realm)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, [r.getMessage() for r in warnings]  # once per failure streak
    assert "finder" in warnings[0].getMessage()
    text = "\n".join(r.getMessage() for r in caplog.records)
    for piece in token.split("."):
        assert piece not in text


def test_a_callable_returning_garbage_is_400(adapter: Adapter, validator: Any, realm: str) -> None:
    sent = adapter.get(adapter.middleware(validator, token_sources=[lambda request: "Bearer abc"]))
    assert_refusal(sent, 400, "invalid_request", realm)


# -- ASGI: WebSocket handshakes --------------------------------------------------------------------


def test_websocket_cookie_needs_a_trusted_origin(validator: Any, token: str, realm: str) -> None:
    # a WebSocket handshake is a GET no browser preflights: cross-site WebSocket hijacking
    mw = csrf_mw(ASGI, validator)
    cookie = (b"cookie", f"{COOKIE}={token}".encode())
    evil = make_scope("/ws", type="websocket", headers=[cookie, (b"origin", b"https://evil.example")])
    sent = call_asgi(mw, {**evil, "extensions": WS_RESPONSE})
    assert_refusal(sent, 403, "csrf_refused", realm)
    assert call_asgi(mw, evil).messages[0]["code"] == 1008
    good = make_scope("/ws", type="websocket", headers=[cookie, (b"origin", APP.encode())])
    sent = call_asgi(mw, good)
    assert sent.app_called and sent.seen["user"].identity == "user-1"


def test_websocket_query_source_with_other_sources(validator: Any, token: str, realm: str) -> None:
    mw = JwtAsgiMiddleware(ASGI.recording_app(), validator, token_sources=[f"cookie:{COOKIE}", "query:at"])
    sent = call_asgi(mw, make_scope("/ws", type="websocket", query_string=f"at={token}".encode()))
    assert sent.app_called and sent.seen["user"].identity == "user-1"
    # plain HTTP never reads the query string
    assert_refusal(call_asgi(mw, make_scope("/api", query_string=f"at={token}".encode())), 401, None, realm)
    both = make_scope(
        "/ws",
        type="websocket",
        query_string=f"at={token}".encode(),
        headers=[(b"cookie", f"{COOKIE}={token}".encode()), (b"origin", APP.encode())],
        extensions=WS_RESPONSE,
    )
    assert_refusal(call_asgi(mw, both), 400, "invalid_request", realm)


def test_websocket_query_param_shorthand_joins_token_sources(validator: Any, token: str) -> None:
    mw = JwtAsgiMiddleware(
        ASGI.recording_app(), validator, token_sources=["header:X-Token"], websocket_query_param="access_token"
    )
    sent = call_asgi(mw, make_scope("/ws", type="websocket", query_string=f"access_token={token}".encode()))
    assert sent.app_called


# -- the small parsers -----------------------------------------------------------------------------


def test_cookie_values() -> None:
    assert cookie_values(["a=1; at=x.y; b=2"], "at") == ["x.y"]
    assert cookie_values(["a=1, at=x.y", "at=z"], "at") == ["x.y", "z"]
    assert cookie_values(["xat=1; atx=2; at"], "at") == []
    assert cookie_values(['at="q"; at ='], "at") == ["q", ""]
    assert cookie_values(["nothing here"], "at") == []


def test_origins() -> None:
    assert normalize_origin("http://[::1]:8080") == "http://[::1]:8080"
    assert normalize_origin("http://localhost:80") == "http://localhost"
    assert referer_origin("https://app.example.com/a/b?c#d") == APP
    assert referer_origin("https://app.example.com:8443/") == "https://app.example.com:8443"
    assert referer_origin("/relative") is None
    assert referer_origin("javascript:alert(1)") is None


# -- never a 500, never a leak, never the app without a verified token -----------------------------


_PROPERTY_MW = {
    adapter.name: adapter.middleware(
        offline_validator(),
        token_sources=["authorization", f"cookie:{COOKIE}", "header:X-Token"],
        trusted_origins=[APP],
        csrf_header="X-Requested-With",
    )
    for adapter in ADAPTERS
}
_PIECES = st.sampled_from([COOKIE, "=", ";", ",", " ", '"', "a.b.c", "x", "\t", "Bearer ", "\\", "é", APP, "null"])


@pytest.mark.parametrize("adapter", ADAPTERS, ids=repr)  # not the fixture: hypothesis reruns the body
@given(
    method=st.sampled_from(["GET", "POST", "DELETE", "OPTIONS", "get"]),
    headers=st.lists(
        st.tuples(
            st.sampled_from(["Cookie", "cookie", "Origin", "Referer", "X-Token", "X-Requested-With", "Authorization"]),
            st.lists(_PIECES, max_size=8).map("".join),
        ),
        max_size=5,
    ),
)
def test_property_any_source_headers_are_answered_cleanly(adapter: Adapter, method: str, headers: Any) -> None:
    sent = adapter.get(_PROPERTY_MW[adapter.name], method=method, headers=headers)
    # offline_validator has no keys: no token verifies, so the app never runs
    assert sent.status in (400, 401, 403, 503) and not sent.app_called, (sent.status, sent.body)


def test_a_failing_callable_is_logged_once_under_threads(validator: Any, caplog: pytest.LogCaptureFixture) -> None:
    # the streak flag is guarded by a lock: many threads failing at once still log one warning
    barrier = threading.Barrier(8)

    def finder(environ: Any) -> Optional[str]:
        raise RuntimeError("down")

    mw = JwtWsgiMiddleware(lambda e, s: [], validator, token_sources=[finder])
    statuses: List[str] = []

    def worker() -> None:
        barrier.wait(timeout=10)
        for _ in range(50):
            mw(make_environ("/api/x"), lambda status, headers, exc_info=None: statuses.append(status))

    with caplog.at_level(logging.WARNING, logger="wristband_mw"):
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert len(statuses) == 400 and set(statuses) == {"401 Unauthorized"}
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1

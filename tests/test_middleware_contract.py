"""The contract both middlewares keep: every test here runs on JwtWsgiMiddleware and on JwtAsgiMiddleware.

A request is described once (method, path, headers) and each adapter's driver
(``support.adapters``) turns it into the environ or scope a real server would build.
What only one interface has (environ keys, REMOTE_USER, scope copies, WebSocket,
lifespan) is tested in test_wsgi.py and test_asgi.py.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.adapters import ADAPTERS, Adapter
from support.paths import BYPASSES
from support.refusals import assert_no_leak, assert_refusal, parse_challenge
from support.tokens import bad_tokens
from support.validators import offline_validator

from wristband_mw import ErrorCode, ErrorResponse, get_claims
from wristband_mw.policy import normalize_path
from wristband_mw.responses import TOKEN_DESCRIPTIONS


@pytest.fixture(params=ADAPTERS, ids=[adapter.name for adapter in ADAPTERS])
def adapter(request: pytest.FixtureRequest) -> Adapter:
    return request.param  # type: ignore[no-any-return]


# -- the response table ----------------------------------------------------------------------------


def test_no_header_gets_bare_challenge(adapter, validator, realm):
    sent = adapter.get(adapter.middleware(validator))
    assert_refusal(sent, 401, None, realm)
    assert sent.json["error_description"]


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpzZWNyZXRwYXNzd29yZA==", "Digest username=attacker-user", "Token abcdefgh", "Bearerabcdefgh"],
)
def test_other_scheme_gets_bare_challenge(adapter, validator, realm, authorization):
    sent = adapter.get(adapter.middleware(validator), authorization=authorization)
    assert_refusal(sent, 401, None, realm)
    assert_no_leak(sent, authorization, authorization.split()[-1])


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer ",
        "Bearer   ",
        "Bearer abc def",
        "Bearer abc!",
        "Bearer a=b",
        "Bearer\tabcdef",
        "Bearer {x}",
        "Bearer a, Bearer b",
    ],
)
def test_malformed_bearer_is_400_invalid_request(adapter, validator, realm, authorization):
    sent = adapter.get(adapter.middleware(validator), authorization=authorization)
    params = assert_refusal(sent, 400, "invalid_request", realm)
    assert "scope" not in params


def test_comma_joined_headers_are_400(adapter, validator, realm, token, issuer):
    # gunicorn (and PEP 3333 servers generally) join repeated headers with ", "
    second = issuer.mint(sub="user-2")
    sent = adapter.get(adapter.middleware(validator), authorization=f"Bearer {token}, Bearer {second}")
    assert_refusal(sent, 400, "invalid_request", realm)
    assert "Multiple" in sent.json["error_description"]
    assert_no_leak(sent, token, second)
    sent = adapter.get(adapter.middleware(validator), authorization=f"Basic dXNlcg==, Bearer {token}")
    assert_refusal(sent, 400, "invalid_request", realm)
    assert_no_leak(sent, token)


def test_two_authorization_headers_are_400(adapter, issuer, validator, realm, token):
    # WSGI servers join them with ", "; ASGI servers pass two entries: refused either way
    second = issuer.mint(sub="user-2")
    headers = [("authorization", f"Bearer {token}"), ("authorization", f"Bearer {second}")]
    sent = adapter.get(adapter.middleware(validator), headers=headers)
    assert_refusal(sent, 400, "invalid_request", realm)
    assert "Multiple" in sent.json["error_description"]
    assert_no_leak(sent, token, second)
    # the same token twice, an empty one plus a good one, and mixed-case names are still two headers
    for pair in (
        [("authorization", f"Bearer {token}")] * 2,
        [("authorization", ""), ("authorization", f"Bearer {token}")],
        [("Authorization", f"Bearer {token}"), ("authorization", f"Bearer {token}")],
    ):
        sent = adapter.get(adapter.middleware(validator), headers=pair)
        assert sent.status == 400 and not sent.app_called


def test_each_validation_failure_is_401_invalid_token(adapter, issuer, validator, realm):
    middleware = adapter.middleware(validator)
    for bad in bad_tokens(issuer):
        sent = adapter.get(middleware, authorization=f"Bearer {bad.token}")
        assert_refusal(sent, 401, "invalid_token", realm)
        assert sent.json["error_description"] == TOKEN_DESCRIPTIONS[bad.code], bad.name
        assert_no_leak(sent, bad.token, *bad.attacker_values)


def test_audience_mismatch_is_401(adapter, issuer, realm):
    validator = issuer.validator(audience="orders-api")
    try:
        token = issuer.mint(aud="attacker-audience")
        sent = adapter.get(adapter.middleware(validator), authorization=f"Bearer {token}")
        assert_refusal(sent, 401, "invalid_token", realm)
        assert sent.json["error_description"] == TOKEN_DESCRIPTIONS[ErrorCode.INVALID_AUDIENCE]
        assert_no_leak(sent, token, "attacker-audience", "orders-api")
    finally:
        validator.close()


@pytest.mark.parametrize(
    ("held", "required"),
    [("openid orders:read", ["orders:read", "orders:write", "admin"]), ("openid", ["a", "b"])],
)
def test_missing_scope_is_403_with_scope_attribute(adapter, issuer, validator, realm, held, required):
    token = issuer.mint(scope=held)
    sent = adapter.get(adapter.middleware(validator, required_scopes=required), authorization=f"Bearer {token}")
    params = assert_refusal(sent, 403, "insufficient_scope", realm)
    assert params["scope"] == " ".join(required)
    assert_no_leak(sent, token)


def test_keys_unavailable_is_503(adapter, local_issuer):
    local_issuer.failing = True
    validator = local_issuer.validator()
    try:
        token = local_issuer.mint()
        sent = adapter.get(adapter.middleware(validator), authorization=f"Bearer {token}")
        assert_refusal(sent, 503, None)
        # The failed fetch started the JWKS back-off (1 s first): Retry-After says what is left.
        assert sent.header("Retry-After") == "1"
        fetches = local_issuer.fetch_count
        assert fetches >= 1
        again = adapter.get(adapter.middleware(validator), authorization=f"Bearer {local_issuer.mint()}")
        assert_refusal(again, 503, None)
        assert again.header("Retry-After") == "1"
        assert local_issuer.fetch_count == fetches  # inside the back-off: no new fetch
        assert_no_leak(sent, token)
    finally:
        validator.close()


def test_cached_key_survives_jwks_outage(adapter, local_issuer):
    validator = local_issuer.validator()
    try:
        middleware = adapter.middleware(validator)
        assert adapter.get(middleware, authorization=f"Bearer {local_issuer.mint()}").status == 200
        local_issuer.failing = True
        sent = adapter.get(middleware, authorization=f"Bearer {local_issuer.mint(sub='other')}")
        assert sent.status == 200 and sent.app_called
    finally:
        validator.close()


@pytest.mark.parametrize(
    ("realm", "spelled"),
    [('my "quoted" \\ realm', '"my \\"quoted\\" \\\\ realm"'), ('say "hi" \\ there', '"say \\"hi\\" \\\\ there"')],
)
def test_realm_is_quoted_and_escaped(adapter, validator, realm, spelled):
    sent = adapter.get(adapter.middleware(validator, realm=realm), authorization="Bearer")
    challenge = sent.header("WWW-Authenticate")
    assert challenge is not None
    assert challenge.startswith(f'Bearer realm={spelled}, error="invalid_request"')
    assert parse_challenge(challenge)[1]["realm"] == realm
    assert_refusal(adapter.get(adapter.middleware(validator, realm=realm)), 401, None, realm)


def test_default_realm_is_issuer_host(adapter, realm):
    sent = adapter.get(adapter.middleware(offline_validator()))
    assert_refusal(sent, 401, None, "auth.example.com")
    assert realm.startswith("127.0.0.1:")


def test_valid_token_reaches_app(adapter, validator, token):
    sent = adapter.get(adapter.middleware(validator), authorization=f"Bearer {token}")
    assert (sent.status, sent.body, sent.app_called) == (200, b"app", True)
    assert adapter.user(sent.seen) == "user-1"


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr", "bEaReR"])
def test_scheme_is_case_insensitive(adapter, validator, token, scheme):
    assert adapter.get(adapter.middleware(validator), authorization=f"{scheme} {token}").status == 200


def test_header_name_case_is_ignored(adapter, validator, token):
    sent = adapter.get(adapter.middleware(validator), headers=[("Authorization", f"Bearer {token}")])
    assert sent.status == 200


def test_error_body_is_valid_json_for_every_status(adapter, issuer, validator):
    middleware = adapter.middleware(validator)
    bodies = [
        adapter.get(middleware).body,
        adapter.get(middleware, authorization="Bearer").body,
        adapter.get(middleware, authorization=f"Bearer {issuer.mint(exp_in=-5)}").body,
        adapter.get(
            adapter.middleware(validator, required_scopes=["zzz"]), authorization=f"Bearer {issuer.mint()}"
        ).body,
    ]
    for body in bodies:
        assert set(json.loads(body)) == {"error", "error_description"}


# -- header parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        b"Bearer caf\xe9",
        b"Bearer \xff\xfe\xfd",
        b"Bearer abc\xc3\xa9def",
        "Bearer caf\u00e9-utf8".encode(),
        "Bearer \u4f60\u597d".encode(),
        b"\xe9\xe9",
        b"Bearer\xa0abcdef",
        b"Bearer a\x00b",
    ],
)
def test_latin1_and_non_ascii_header_bytes(adapter, validator, value):
    sent = adapter.get(adapter.middleware(validator), authorization=value)
    assert sent.status in (400, 401) and not sent.app_called
    assert_refusal(sent, sent.status, sent.json["error"] if sent.status == 400 else None)
    assert value not in sent.body
    assert b"\xe9" not in sent.body


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (b"Bearer " + b"a" * 100_000, 401),  # far beyond max_token_bytes: refused unparsed
        (b"Bearer " + b"a" * 8200, 401),  # just beyond: the validator's size limit
        (b"Bearer " + b"a b" * 5000, 401),
        (b"X" * 100_000, 401),
        (b"Bearer " + b"\xff" * 20_000, 401),
        (b"Bearer " + b"a" * 5000 + b"!", 400),
    ],
)
def test_very_long_headers(adapter, validator, value, status):
    sent = adapter.get(adapter.middleware(validator), authorization=value)
    assert sent.status == status and not sent.app_called
    assert len(sent.body) < 200


def test_too_large_description(adapter, validator):
    sent = adapter.get(adapter.middleware(validator), authorization="Bearer " + "a" * 100_000)
    assert sent.json == {"error": "invalid_token", "error_description": TOKEN_DESCRIPTIONS[ErrorCode.TOO_LARGE]}


_PROPERTY_MW = {
    adapter.name: adapter.middleware(offline_validator(), protect=["/api"], exempt=["/x"]) for adapter in ADAPTERS
}


@pytest.mark.parametrize("adapter", ADAPTERS, ids=repr)  # not the fixture: hypothesis reruns the body
@given(values=st.lists(st.binary(max_size=80), min_size=1, max_size=3))
def test_property_any_header_bytes_are_refused_cleanly(adapter, values):
    sent = adapter.get(_PROPERTY_MW[adapter.name], headers=[("authorization", value) for value in values])
    assert sent.status in (400, 401) and not sent.app_called
    assert sent.header("Content-Type") == "application/json"
    assert parse_challenge(sent.header("WWW-Authenticate"))[0] == "Bearer"


# -- options ---------------------------------------------------------------------------------------


def test_protect_defaults_to_everything(adapter, validator):
    middleware = adapter.middleware(validator)
    for path in ["/", "/health", "/static/x.js", ""]:
        assert adapter.get(middleware, path=path).status == 401, path


def test_protect_and_exempt(adapter, validator, token):
    middleware = adapter.middleware(validator, protect=["/api"], exempt=["/api/health"])
    assert adapter.get(middleware, path="/api/x").status == 401
    assert adapter.get(middleware, path="/api").status == 401
    assert adapter.get(middleware, path="/apix").status == 200
    assert adapter.get(middleware, path="/").status == 200
    assert adapter.get(middleware, path="/api/health").status == 200
    assert adapter.get(middleware, path="/api/health/live").status == 200
    assert adapter.get(middleware, path="/api/healthz").status == 401
    assert adapter.get(middleware, path="/api/x", authorization=f"Bearer {token}").status == 200


def test_exempt_does_not_skip_a_bad_token_check_elsewhere(adapter, validator):
    middleware = adapter.middleware(validator, exempt=["/health"])
    assert adapter.get(middleware, path="/health", authorization="Bearer garbage!").status == 200  # not even parsed
    assert adapter.get(middleware, path="/other", authorization="Bearer garbage!").status == 400


def test_exempt_methods(adapter, validator):
    middleware = adapter.middleware(validator, exempt_methods=["HEAD"])
    assert adapter.get(middleware, method="HEAD").status == 200
    assert adapter.get(middleware, method="GET").status == 401
    assert adapter.get(middleware, method="OPTIONS").status == 401


def test_cors_preflight(adapter, validator):
    middleware = adapter.middleware(validator)
    origin = ("Origin", "https://app.example")
    acrm = ("Access-Control-Request-Method", "POST")
    assert adapter.get(middleware, method="OPTIONS", headers=[origin, acrm]).status == 200
    assert adapter.get(middleware, method="OPTIONS", headers=[origin]).status == 401
    assert adapter.get(middleware, method="OPTIONS", headers=[acrm]).status == 401
    assert adapter.get(middleware, method="OPTIONS", headers=[origin, origin]).status == 401
    assert adapter.get(middleware, method="OPTIONS").status == 401
    assert adapter.get(middleware, method="GET", headers=[origin, acrm]).status == 401
    assert adapter.get(middleware, method="POST", headers=[origin, acrm]).status == 401
    strict = adapter.middleware(validator, cors_preflight=False)
    assert adapter.get(strict, method="OPTIONS", headers=[origin, acrm]).status == 401


def test_required_scopes(adapter, issuer, validator):
    middleware = adapter.middleware(validator, required_scopes=["orders:read"])
    assert adapter.get(middleware, authorization=f"Bearer {issuer.mint(scope='orders:read')}").status == 200
    assert adapter.get(middleware, authorization=f"Bearer {issuer.mint(scope='orders:readx')}").status == 403
    assert adapter.get(middleware, authorization=f"Bearer {issuer.mint(scope='')}").status == 403


def test_scopes_longest_prefix_wins(adapter, issuer, validator):
    middleware = adapter.middleware(
        validator, protect=["/api"], scopes={"/api/admin": ["admin"], "/api/admin/super": ["root"]}
    )
    admin = f"Bearer {issuer.mint(scope='admin')}"
    root = f"Bearer {issuer.mint(scope='root')}"
    plain = f"Bearer {issuer.mint(scope='openid')}"
    assert adapter.get(middleware, "/api/x", plain).status == 200
    assert adapter.get(middleware, "/api/admin/users", plain).status == 403
    assert adapter.get(middleware, "/api/admin/users", admin).status == 200
    assert adapter.get(middleware, "/api/admin/super/x", admin).status == 403
    assert adapter.get(middleware, "/api/admin/super/x", root).status == 200
    assert adapter.get(middleware, "/api/admin/users", root).status == 403
    sent = adapter.get(middleware, "/api/admin/super/x", admin)
    assert parse_challenge(sent.header("WWW-Authenticate"))[1]["scope"] == "root"


def test_scopes_from_scp_and_permissions(adapter, issuer, validator):
    middleware = adapter.middleware(validator, required_scopes=["admin"])
    assert adapter.get(middleware, authorization=f"Bearer {issuer.mint(scope=None, scp=['admin'])}").status == 200
    assert (
        adapter.get(middleware, authorization=f"Bearer {issuer.mint(scope=None, permissions=['admin'])}").status == 200
    )


def test_optional(adapter, validator, token):
    middleware = adapter.middleware(validator, optional=True, required_scopes=["admin"])
    sent = adapter.get(middleware)
    assert sent.status == 200 and sent.app_called
    assert "wristband_mw.claims" not in sent.seen and adapter.user(sent.seen) is None
    assert get_claims(sent.seen) is None
    assert adapter.get(middleware, authorization="Bearer abc.def.ghi").status == 401
    assert adapter.get(middleware, authorization="Bearer a b").status == 400
    assert adapter.get(middleware, authorization="Basic dXNlcg==").status == 401  # a header was sent: not anonymous
    good = adapter.get(middleware, authorization=f"Bearer {token}")
    assert good.status == 200 and adapter.user(good.seen) == "user-1"


# -- the on_error hook -----------------------------------------------------------------------------


def test_on_error_hook_receives_failure_and_request(adapter, issuer, validator):
    calls = []

    def on_error(failure, request):
        calls.append((failure, request))
        return ErrorResponse(418, [("Content-Type", "text/plain"), ("X-Code", str(failure.code))], b"custom")

    middleware = adapter.middleware(validator, on_error=on_error, required_scopes=["admin"])
    request = adapter.request("/api/x", authorization=f"Bearer {issuer.mint(exp_in=-5)}")
    sent = adapter.send(middleware, request)
    assert (sent.status, sent.body, sent.header("X-Code")) == (418, b"custom", "expired")
    assert sent.header("content-type") == "text/plain"
    failure, seen = calls[-1]
    assert seen is request  # the environ or scope as the server passed it
    status, error, description, code = failure
    assert (status, error, code) == (401, "invalid_token", ErrorCode.EXPIRED)
    assert description == TOKEN_DESCRIPTIONS[ErrorCode.EXPIRED]

    # called again for every refusal (its answer is not memoised)
    adapter.get(middleware)
    assert (calls[-1][0].status, calls[-1][0].error) == (401, None)
    adapter.get(middleware, authorization="Bearer")
    assert (calls[-1][0].status, calls[-1][0].error) == (400, "invalid_request")
    adapter.get(middleware, authorization=f"Bearer {issuer.mint(scope='openid')}")
    assert (calls[-1][0].status, calls[-1][0].error, calls[-1][0].scopes) == (403, "insufficient_scope", ("admin",))
    assert len(calls) == 4


def test_on_error_hook_may_return_a_plain_tuple(adapter, validator):
    middleware = adapter.middleware(
        validator, on_error=lambda failure, request: (failure.status, [("X-A", "1")], b"tuple")
    )
    sent = adapter.get(middleware)
    assert (sent.status, sent.body, sent.header("X-A")) == (401, b"tuple", "1")


def test_on_error_hook_503(adapter, local_issuer):
    local_issuer.failing = True
    validator = local_issuer.validator()
    seen = []
    try:
        middleware = adapter.middleware(validator, on_error=lambda f, r: seen.append(f) or (f.status, [], b""))
        assert adapter.get(middleware, authorization=f"Bearer {local_issuer.mint()}").status == 503
        assert seen[0].code is ErrorCode.KEYS_UNAVAILABLE and seen[0].error is None
    finally:
        validator.close()


@pytest.mark.parametrize(
    "hook",
    [
        lambda failure, request: 1 / 0,
        lambda failure, request: None,
        lambda failure, request: "nonsense",
        lambda failure, request: ("abc", [], b""),
        lambda failure, request: (200, [], "not bytes"),
        lambda failure, request: (99, [], b""),
        lambda failure, request: (401, [("X-Evil", "a\r\nSet-Cookie: x=1")], b""),
        lambda failure, request: (401, [("X-Evil", "a\nb")], b""),
        lambda failure, request: (401, [("X-Euro", "\u20ac")], b""),
        lambda failure, request: (401, [(b"X", b"y")], b""),
    ],
)
def test_broken_on_error_hook_falls_back_to_default(adapter, validator, realm, hook, caplog):
    with caplog.at_level(logging.ERROR, logger="wristband_mw"):
        sent = adapter.get(adapter.middleware(validator, on_error=hook))
    assert_refusal(sent, 401, None, realm)
    assert any("on_error" in record.getMessage() for record in caplog.records)


# -- constructor checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"protect": "/api"}, "lists"),
        ({"protect": ["api"]}, "start with|starting with"),
        ({"exempt": [42]}, "starting with"),
        ({"exempt": ["health"]}, "starting with"),
        ({"exempt_methods": ["G E T"]}, "method"),
        ({"cors_preflight": None}, "cors_preflight"),
        ({"required_scopes": ["has space"]}, "required_scopes"),
        ({"required_scopes": [""]}, "required_scopes"),
        ({"scopes": ["/a"]}, "scopes"),
        ({"optional": 1}, "optional"),
        ({"optional": "no"}, "optional"),
        ({"on_error": 42}, "on_error"),
        ({"on_error": "x"}, "on_error"),
        ({"realm": "bad\x00realm"}, "realm"),
        ({"realm": ""}, "realm"),
    ],
)
def test_constructor_rejects_bad_options(adapter, validator, options, words):
    with pytest.raises(ValueError, match=words):
        adapter.middleware(validator, **options)


@pytest.mark.parametrize("app", [None, "app"])
def test_constructor_rejects_a_bad_app(adapter, validator, app):
    with pytest.raises(ValueError, match=adapter.name):
        adapter.middleware_class(app, validator)


@pytest.mark.parametrize("bad_validator", [None, "not a validator"])
def test_constructor_rejects_a_bad_validator(adapter, bad_validator):
    with pytest.raises(ValueError, match="validator"):
        adapter.middleware(bad_validator)


# -- paths -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BYPASSES)
def test_bypass_attempts_are_refused(adapter, validator, path):
    sent = adapter.get(adapter.middleware(validator, protect=["/api"], exempt=["/x"]), path=path)
    assert sent.status == 401 and not sent.app_called, path


@pytest.mark.parametrize("path", ["/apix", "/x/api", "/ap", "/%61pix"])
def test_near_misses_are_not_protected(adapter, validator, path):
    assert adapter.get(adapter.middleware(validator, protect=["/api"]), path=path).status == 200


def test_non_ascii_paths(adapter, validator):
    middleware = adapter.middleware(validator, protect=["/api"])
    assert adapter.get(middleware, path="/api/caf\u00e9").status == 401
    assert adapter.get(middleware, path="/caf\u00e9/api").status == 200


@pytest.mark.parametrize("adapter", ADAPTERS, ids=repr)
@given(
    segments=st.lists(st.sampled_from(["api", ".", "..", "", "%2F", "x", "%2e%2e", "%61pi"]), max_size=8),
    joined=st.booleans(),
)
def test_property_protected_paths_need_a_token(adapter, segments, joined):
    path = "/" + ("/" if joined else "").join(segments)
    sent = adapter.get(_PROPERTY_MW[adapter.name], path=path)
    for spelling in (normalize_path(path), normalize_path(unquote(path))):
        if spelling == "/api" or spelling.startswith("/api/"):
            assert sent.status == 401 and not sent.app_called, path
    assert sent.status in (200, 401)


@pytest.mark.parametrize(
    "path",
    [
        "/api\n",
        "/api/admin\n",
        "/api%0A",
        "/health\r",
        "/health%00",
        "/health\x00",
        "/x\t",
        "/api\x85",
        "/caf\u00e9\x85",
    ],
)
def test_control_characters_in_path_are_400_before_the_app(adapter, validator, token, realm, path):
    middleware = adapter.middleware(validator, protect=["/api"], exempt=["/health"], optional=True)
    for authorization in (None, f"Bearer {token}"):
        sent = adapter.get(middleware, path=path, authorization=authorization)
        assert_refusal(sent, 400, "invalid_request", realm)
        assert "control characters" in sent.json["error_description"]

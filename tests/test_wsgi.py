"""JwtWsgiMiddleware driven directly: hand-built environs, a recording start_response, no server."""

from __future__ import annotations

import logging
import time
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.drive import WsgiApp, call_wsgi, make_environ
from support.refusals import assert_no_leak, assert_refusal, parse_challenge
from support.tokens import bad_tokens
from support.validators import offline_validator

from wristband_mw import ErrorCode, ErrorResponse, JWTPayload, JwtWsgiMiddleware, get_claims, get_token
from wristband_mw.policy import normalize_path
from wristband_mw.responses import TOKEN_DESCRIPTIONS


def wsgi(validator, **options) -> JwtWsgiMiddleware:
    return JwtWsgiMiddleware(WsgiApp(), validator, **options)


def get(middleware, path="/api/x", authorization=None, method="GET", **extra):
    return call_wsgi(middleware, make_environ(path, method, authorization, **extra))


# -- the response table ----------------------------------------------------------------------------


def test_no_header_gets_bare_challenge(validator, realm):
    sent = get(wsgi(validator))
    assert_refusal(sent, 401, None, realm)
    assert sent.json["error_description"]


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpzZWNyZXRwYXNzd29yZA==", "Digest username=attacker-user", "Token abcdefgh", "Bearerabcdefgh"],
)
def test_other_scheme_gets_bare_challenge(validator, realm, authorization):
    sent = get(wsgi(validator), authorization=authorization)
    assert_refusal(sent, 401, None, realm)
    assert_no_leak(sent, authorization, authorization.split()[-1])


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer ", "Bearer   ", "Bearer abc def", "Bearer abc!", "Bearer a=b", "Bearer\tabcdef", "Bearer {x}"],
)
def test_malformed_bearer_is_400_invalid_request(validator, realm, authorization):
    sent = get(wsgi(validator), authorization=authorization)
    params = assert_refusal(sent, 400, "invalid_request", realm)
    assert "scope" not in params


def test_comma_joined_headers_are_400(validator, realm, token, issuer):
    # gunicorn (and PEP 3333 servers generally) join repeated headers with ", "
    second = issuer.mint(sub="user-2")
    sent = get(wsgi(validator), authorization=f"Bearer {token}, Bearer {second}")
    assert_refusal(sent, 400, "invalid_request", realm)
    assert "Multiple" in sent.json["error_description"]
    assert_no_leak(sent, token, second)
    sent = get(wsgi(validator), authorization=f"Basic dXNlcg==, Bearer {token}")
    assert_refusal(sent, 400, "invalid_request", realm)
    assert_no_leak(sent, token)


def test_each_validation_failure_is_401_invalid_token(issuer, validator, realm):
    middleware = wsgi(validator)
    for bad in bad_tokens(issuer):
        sent = get(middleware, authorization=f"Bearer {bad.token}")
        assert_refusal(sent, 401, "invalid_token", realm)
        assert sent.json["error_description"] == TOKEN_DESCRIPTIONS[bad.code], bad.name
        assert_no_leak(sent, bad.token, *bad.attacker_values)


def test_audience_mismatch_is_401(issuer, realm):
    validator = issuer.validator(audience="orders-api")
    try:
        token = issuer.mint(aud="attacker-audience")
        sent = get(wsgi(validator), authorization=f"Bearer {token}")
        assert_refusal(sent, 401, "invalid_token", realm)
        assert sent.json["error_description"] == TOKEN_DESCRIPTIONS[ErrorCode.INVALID_AUDIENCE]
        assert_no_leak(sent, token, "attacker-audience", "orders-api")
    finally:
        validator.close()


def test_missing_scope_is_403_with_scope_attribute(issuer, validator, realm):
    token = issuer.mint(scope="openid orders:read")
    sent = get(
        wsgi(validator, required_scopes=["orders:read", "orders:write", "admin"]), authorization=f"Bearer {token}"
    )
    params = assert_refusal(sent, 403, "insufficient_scope", realm)
    assert params["scope"] == "orders:read orders:write admin"
    assert_no_leak(sent, token)


def test_keys_unavailable_is_503(local_issuer):
    local_issuer.failing = True
    validator = local_issuer.validator()
    try:
        token = local_issuer.mint()
        sent = get(wsgi(validator), authorization=f"Bearer {token}")
        assert_refusal(sent, 503, None)
        # The failed fetch started the JWKS back-off (1 s first): Retry-After says what is left.
        assert sent.header("Retry-After") == "1"
        fetches = local_issuer.fetch_count
        assert fetches >= 1
        again = get(wsgi(validator), authorization=f"Bearer {local_issuer.mint()}")
        assert_refusal(again, 503, None)
        assert again.header("Retry-After") == "1"
        assert local_issuer.fetch_count == fetches  # inside the back-off: no new fetch
        assert_no_leak(sent, token)
    finally:
        validator.close()


def test_cached_key_survives_jwks_outage(local_issuer):
    validator = local_issuer.validator()
    try:
        middleware = wsgi(validator)
        assert get(middleware, authorization=f"Bearer {local_issuer.mint()}").status == 200
        local_issuer.failing = True
        sent = get(middleware, authorization=f"Bearer {local_issuer.mint(sub='other')}")
        assert sent.status == 200 and sent.app_called
    finally:
        validator.close()


def test_realm_is_quoted_and_escaped(validator, token):
    realm = 'my "quoted" \\ realm'
    sent = get(wsgi(validator, realm=realm), authorization="Bearer")
    challenge = sent.header("WWW-Authenticate")
    assert challenge is not None
    assert challenge.startswith('Bearer realm="my \\"quoted\\" \\\\ realm", ')
    assert parse_challenge(challenge)[1]["realm"] == realm
    assert_refusal(get(wsgi(validator, realm=realm)), 401, None, realm)


def test_default_realm_is_issuer_host(realm):
    sent = get(wsgi(offline_validator()))
    assert_refusal(sent, 401, None, "auth.example.com")
    assert realm.startswith("127.0.0.1:")


def test_valid_token_reaches_app(validator, token):
    sent = get(wsgi(validator), authorization=f"Bearer {token}")
    assert sent.status == 200 and sent.body == b"app" and sent.app_called


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_scheme_is_case_insensitive(validator, token, scheme):
    assert get(wsgi(validator), authorization=f"{scheme} {token}").status == 200


# -- claims placement ------------------------------------------------------------------------------


def test_claims_token_and_remote_user_are_placed(validator, token):
    sent = get(wsgi(validator), authorization=f"Bearer {token}")
    environ = sent.seen
    claims = environ["wristband_mw.claims"]
    assert isinstance(claims, JWTPayload)
    assert claims.sub == "user-1" and "admin" in claims.scopes
    assert environ["wristband_mw.token"] == token
    assert environ["REMOTE_USER"] == "user-1"
    assert get_claims(environ) is claims
    assert get_token(environ) == token


def test_anonymous_pass_places_no_claims(validator):
    sent = get(wsgi(validator, protect=["/api"]), path="/public")
    assert sent.status == 200
    assert "wristband_mw.claims" not in sent.seen
    assert "wristband_mw.token" not in sent.seen
    assert "REMOTE_USER" not in sent.seen
    assert get_claims(sent.seen) is None


@pytest.mark.parametrize("options", [{"protect": ["/api"]}, {"optional": True}], ids=["exempt", "optional"])
def test_remote_user_is_never_set_without_a_verified_token(validator, options):
    # A server may fill REMOTE_USER from unverified Basic credentials; a client sends Remote-User.
    path = "/public" if "protect" in options else "/api/x"
    sent = get(wsgi(validator, **options), path=path, REMOTE_USER="mallory", HTTP_REMOTE_USER="mallory")
    assert sent.status == 200
    assert "REMOTE_USER" not in sent.seen and "HTTP_REMOTE_USER" not in sent.seen


def test_verified_sub_replaces_any_remote_user(validator, token):
    sent = get(wsgi(validator), authorization=f"Bearer {token}", REMOTE_USER="mallory", HTTP_REMOTE_USER="mallory")
    assert sent.seen["REMOTE_USER"] == "user-1" and "HTTP_REMOTE_USER" not in sent.seen


def test_no_remote_user_for_a_token_without_sub(validator, issuer):
    sent = get(wsgi(validator), authorization=f"Bearer {issuer.mint(sub=None)}", REMOTE_USER="mallory")
    assert sent.status == 200 and "REMOTE_USER" not in sent.seen


# -- options ---------------------------------------------------------------------------------------


def test_protect_defaults_to_everything(validator):
    middleware = wsgi(validator)
    for path in ["/", "/health", "/static/x.js", ""]:
        assert get(middleware, path=path).status == 401, path


def test_protect_and_exempt(validator, token):
    middleware = wsgi(validator, protect=["/api"], exempt=["/api/health"])
    assert get(middleware, path="/api/x").status == 401
    assert get(middleware, path="/api").status == 401
    assert get(middleware, path="/apix").status == 200
    assert get(middleware, path="/").status == 200
    assert get(middleware, path="/api/health").status == 200
    assert get(middleware, path="/api/health/live").status == 200
    assert get(middleware, path="/api/healthz").status == 401
    assert get(middleware, path="/api/x", authorization=f"Bearer {token}").status == 200


def test_exempt_does_not_skip_a_bad_token_check_elsewhere(validator):
    middleware = wsgi(validator, exempt=["/health"])
    assert get(middleware, path="/health", authorization="Bearer garbage!").status == 200  # not even parsed
    assert get(middleware, path="/other", authorization="Bearer garbage!").status == 400


def test_exempt_methods(validator):
    middleware = wsgi(validator, exempt_methods=["HEAD"])
    assert get(middleware, method="HEAD").status == 200
    assert get(middleware, method="GET").status == 401
    assert get(middleware, method="OPTIONS").status == 401


def test_cors_preflight(validator):
    middleware = wsgi(validator)
    preflight = {"HTTP_ORIGIN": "https://app.example", "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST"}
    assert get(middleware, method="OPTIONS", **preflight).status == 200
    assert get(middleware, method="OPTIONS", HTTP_ORIGIN="https://app.example").status == 401
    assert get(middleware, method="OPTIONS", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST").status == 401
    assert get(middleware, method="OPTIONS").status == 401
    assert get(middleware, method="GET", **preflight).status == 401
    assert get(middleware, method="POST", **preflight).status == 401
    strict = wsgi(validator, cors_preflight=False)
    assert get(strict, method="OPTIONS", **preflight).status == 401


def test_required_scopes(issuer, validator):
    middleware = wsgi(validator, required_scopes=["orders:read"])
    assert get(middleware, authorization=f"Bearer {issuer.mint(scope='orders:read')}").status == 200
    assert get(middleware, authorization=f"Bearer {issuer.mint(scope='orders:readx')}").status == 403
    assert get(middleware, authorization=f"Bearer {issuer.mint(scope='')}").status == 403


def test_scopes_longest_prefix_wins(issuer, validator):
    middleware = wsgi(validator, protect=["/api"], scopes={"/api/admin": ["admin"], "/api/admin/super": ["root"]})
    admin = f"Bearer {issuer.mint(scope='admin')}"
    root = f"Bearer {issuer.mint(scope='root')}"
    plain = f"Bearer {issuer.mint(scope='openid')}"
    assert get(middleware, "/api/x", plain).status == 200
    assert get(middleware, "/api/admin/users", plain).status == 403
    assert get(middleware, "/api/admin/users", admin).status == 200
    assert get(middleware, "/api/admin/super/x", admin).status == 403
    assert get(middleware, "/api/admin/super/x", root).status == 200
    assert get(middleware, "/api/admin/users", root).status == 403
    sent = get(middleware, "/api/admin/super/x", admin)
    assert parse_challenge(sent.header("WWW-Authenticate"))[1]["scope"] == "root"


def test_scopes_from_scp_and_permissions(issuer, validator):
    middleware = wsgi(validator, required_scopes=["admin"])
    assert get(middleware, authorization=f"Bearer {issuer.mint(scope=None, scp=['admin'])}").status == 200
    assert get(middleware, authorization=f"Bearer {issuer.mint(scope=None, permissions=['admin'])}").status == 200


def test_optional(validator, token):
    middleware = wsgi(validator, optional=True, required_scopes=["admin"])
    sent = get(middleware)
    assert sent.status == 200 and sent.app_called
    assert "wristband_mw.claims" not in sent.seen and "REMOTE_USER" not in sent.seen
    assert get(middleware, authorization="Bearer abc.def.ghi").status == 401
    assert get(middleware, authorization="Bearer a b").status == 400
    assert get(middleware, authorization="Basic dXNlcg==").status == 401  # a header was sent: not anonymous
    good = get(middleware, authorization=f"Bearer {token}")
    assert good.status == 200 and good.seen["REMOTE_USER"] == "user-1"


def test_on_error_hook_receives_failure_and_environ(issuer, validator):
    calls = []

    def on_error(failure, environ):
        calls.append((failure, environ))
        return ErrorResponse(418, [("Content-Type", "text/plain"), ("X-Code", str(failure.code))], b"custom")

    middleware = wsgi(validator, on_error=on_error, required_scopes=["admin"])
    environ = make_environ("/api/x", authorization=f"Bearer {issuer.mint(exp_in=-5)}")
    sent = call_wsgi(middleware, environ)
    assert (sent.status, sent.body, sent.header("X-Code")) == (418, b"custom", "expired")
    failure, seen = calls[-1]
    assert seen is environ
    status, error, description, code = failure
    assert (status, error, code) == (401, "invalid_token", ErrorCode.EXPIRED)
    assert description == TOKEN_DESCRIPTIONS[ErrorCode.EXPIRED]

    get(middleware)
    assert (calls[-1][0].status, calls[-1][0].error) == (401, None)
    get(middleware, authorization="Bearer")
    assert (calls[-1][0].status, calls[-1][0].error) == (400, "invalid_request")
    get(middleware, authorization=f"Bearer {issuer.mint(scope='openid')}")
    assert (calls[-1][0].status, calls[-1][0].error, calls[-1][0].scopes) == (403, "insufficient_scope", ("admin",))
    assert len(calls) == 4


def test_on_error_hook_may_return_a_plain_tuple(validator):
    middleware = wsgi(validator, on_error=lambda failure, environ: (failure.status, [("X-A", "1")], b"tuple"))
    sent = get(middleware)
    assert (sent.status, sent.body, sent.header("X-A")) == (401, b"tuple", "1")


def test_on_error_hook_503(local_issuer):
    local_issuer.failing = True
    validator = local_issuer.validator()
    seen = []
    try:
        middleware = wsgi(validator, on_error=lambda f, e: seen.append(f) or (f.status, [], b""))
        assert get(middleware, authorization=f"Bearer {local_issuer.mint()}").status == 503
        assert seen[0].code is ErrorCode.KEYS_UNAVAILABLE and seen[0].error is None
    finally:
        validator.close()


@pytest.mark.parametrize(
    "hook",
    [
        lambda failure, environ: 1 / 0,
        lambda failure, environ: None,
        lambda failure, environ: ("abc", [], b""),
        lambda failure, environ: (200, [], "not bytes"),
        lambda failure, environ: (99, [], b""),
        lambda failure, environ: (401, [("X-Evil", "a\r\nSet-Cookie: x=1")], b""),
        lambda failure, environ: (401, [("X-Euro", "\u20ac")], b""),
        lambda failure, environ: (401, [(b"X", b"y")], b""),
    ],
)
def test_broken_on_error_hook_falls_back_to_default(validator, realm, hook, caplog):
    with caplog.at_level(logging.ERROR, logger="wristband_mw"):
        sent = get(wsgi(validator, on_error=hook))
    assert_refusal(sent, 401, None, realm)
    assert any("on_error" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"protect": "/api"}, "lists"),
        ({"protect": ["api"]}, "start with|starting with"),
        ({"exempt": [42]}, "starting with"),
        ({"exempt_methods": ["G E T"]}, "method"),
        ({"cors_preflight": None}, "cors_preflight"),
        ({"required_scopes": ["has space"]}, "required_scopes"),
        ({"scopes": ["/a"]}, "scopes"),
        ({"optional": 1}, "optional"),
        ({"on_error": 42}, "on_error"),
        ({"realm": "bad\x00realm"}, "realm"),
    ],
)
def test_constructor_rejects_bad_options(validator, options, words):
    with pytest.raises(ValueError, match=words):
        wsgi(validator, **options)


def test_constructor_rejects_bad_app_and_validator(validator):
    with pytest.raises(ValueError, match="WSGI"):
        JwtWsgiMiddleware(None, validator)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="validator"):
        JwtWsgiMiddleware(WsgiApp(), "not a validator")  # type: ignore[arg-type]


def test_constructor_rejects_asgi_only_options(validator):
    with pytest.raises(TypeError):
        JwtWsgiMiddleware(WsgiApp(), validator, websocket_query_param="access_token")  # type: ignore[call-arg]


# -- paths -----------------------------------------------------------------------------------------


def test_path_is_matched_after_script_name(validator):
    middleware = wsgi(validator, protect=["/api"])
    # mounted at /api: the app routes on "/x", which is not under its own "/api"
    assert get(middleware, path="/x", script_name="/api").status == 200
    assert get(middleware, path="/api/x", script_name="/app").status == 401
    assert get(middleware, path="/api", script_name="/app").status == 401
    assert get(middleware, path="", script_name="/api").status == 200


BYPASSES = [
    "//api/x",
    "/api//x",
    "/api/./x",
    "/./api",
    "/./api/x",
    "/x/../api/x",
    "/../api/x",
    "/api/x/..",
    "/api/x/../",
    "/api/..",
    "/api/x/../..",
    "/api/",
    "/api//",
    "/api%2Fx",
    "/api%2fx",
    "/%61pi/x",
    "/%61%70%69",
    "/%2Fapi",
    "/x/%2e%2e/api/x",
    "/api/%2E%2E",
]


@pytest.mark.parametrize("path", BYPASSES)
def test_bypass_attempts_are_refused(validator, path):
    middleware = wsgi(validator, protect=["/api"], exempt=["/x"])
    sent = get(middleware, path=path)
    assert sent.status == 401 and not sent.app_called, path


@pytest.mark.parametrize("path", ["/apix", "/x/api", "/ap", "/%61pix"])
def test_near_misses_are_not_protected(validator, path):
    assert get(wsgi(validator, protect=["/api"]), path=path).status == 200


def test_non_ascii_path_info(validator):
    middleware = wsgi(validator, protect=["/api"])
    assert get(middleware, path="/api/caf\xc3\xa9").status == 401  # UTF-8 bytes as latin-1 (PEP 3333)
    assert get(middleware, path="/caf\xc3\xa9/api").status == 200


_PROPERTY_MW = JwtWsgiMiddleware(WsgiApp(), offline_validator(), protect=["/api"], exempt=["/x"])


@given(st.lists(st.sampled_from(["api", ".", "..", "", "%2F", "x", "%2e%2e", "%61pi"]), max_size=8), st.booleans())
def test_property_protected_paths_need_a_token(segments, joined):
    path = "/" + ("/" if joined else "").join(segments)
    sent = get(_PROPERTY_MW, path=path)
    for spelling in (normalize_path(path), normalize_path(unquote(path))):
        if spelling == "/api" or spelling.startswith("/api/"):
            assert sent.status == 401 and not sent.app_called, path
    assert sent.status in (200, 401)


# -- header parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    ["Bearer caf\xe9", "Bearer \xff\xfe\xfd", "Bearer abc\xc3\xa9def", "\xe9\xe9", "Bearer\xa0abcdef", "Bearer a\x00b"],
)
def test_latin1_and_non_ascii_header_bytes(validator, authorization):
    sent = get(wsgi(validator), authorization=authorization)
    assert sent.status in (400, 401) and not sent.app_called
    assert_refusal(sent, sent.status, sent.json["error"] if sent.status == 400 else None)
    assert "\xe9" not in sent.body.decode("latin-1")


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        ("Bearer " + "a" * 100_000, 401),  # far beyond max_token_bytes: refused unparsed
        ("Bearer " + "a" * 8200, 401),  # just beyond: the validator's size limit
        ("Bearer " + "a b" * 5000, 401),
        ("X" * 100_000, 401),
        ("Bearer " + "a" * 5000 + "!", 400),
    ],
)
def test_very_long_headers(validator, authorization, status):
    sent = get(wsgi(validator), authorization=authorization)
    assert sent.status == status and not sent.app_called
    assert len(sent.body) < 200


def test_too_large_description(validator):
    sent = get(wsgi(validator), authorization="Bearer " + "a" * 100_000)
    assert sent.json == {"error": "invalid_token", "error_description": TOKEN_DESCRIPTIONS[ErrorCode.TOO_LARGE]}


@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=80))
def test_property_any_header_is_refused_cleanly(value):
    sent = get(_PROPERTY_MW, authorization=value)
    assert sent.status in (400, 401) and not sent.app_called
    assert sent.header("Content-Type") == "application/json"
    assert parse_challenge(sent.header("WWW-Authenticate"))[0] == "Bearer"


def test_a_repeated_header_is_not_parsed_again_but_its_token_is_validated_again(issuer, validator, token, monkeypatch):
    import wristband_mw.policy as policy_module

    middleware = wsgi(validator, protect=["/api"])
    expiring = issuer.mint(sub="user-2", exp_in=2)
    for header in (f"Bearer {token}", f"Bearer {expiring}"):
        assert get(middleware, authorization=header).status == 200

    def fail(*args, **kwargs):
        raise AssertionError("the header was parsed again")

    monkeypatch.setattr(policy_module, "extract_bearer_token", fail)
    sent = get(middleware, authorization=f"Bearer {token}")
    assert sent.status == 200 and middleware.app.environs[-1]["wristband_mw.token"] == token
    time.sleep(2.1)  # the remembered header still goes through validation: now expired
    assert get(middleware, authorization=f"Bearer {expiring}").status == 401
    monkeypatch.undo()
    # Other spellings go the full way, with the full checks.
    assert get(middleware, authorization=f"bearer  {token}").status == 200
    assert get(middleware, authorization=f"Bearer {token} x").status == 400
    assert get(middleware, authorization=f"Bearer {token},Bearer {token}").status == 400


def test_path_rules_are_memoised_without_changing_answers(validator, token):
    middleware = wsgi(validator, protect=["/api"], exempt=["/api/health"])
    for _ in range(2):
        assert get(middleware, path="/api/x").status == 401
        assert get(middleware, path="/api/health").status == 200
        assert get(middleware, path="/api/health/../x").status == 401
        assert get(middleware, path="/apix").status == 200
    assert "/api/x" in middleware.guard.policy._by_path
    long_path = "/api/" + "a" * 300
    assert get(middleware, path=long_path).status == 401
    assert long_path not in middleware.guard.policy._by_path  # long paths are not remembered


# -- non-ASCII paths and control characters (the policy decides; this checks the wiring) ----------


def test_non_ascii_prefixes_match_pep3333_path_info(validator, issuer, realm):
    token = issuer.mint(sub="user-1", scope="openid")
    middleware = wsgi(validator, protect=["/café"], scopes={"/données": ["data"]})
    for path in ["/café", "/café/secret", "/donn\u00e9es/x"]:
        path_info = path.encode("utf-8").decode("latin-1")  # what a PEP 3333 server passes
        assert_refusal(get(middleware, path=path_info), 401, None, realm)
    assert_refusal(
        get(middleware, path="/donn\xc3\xa9es/\xc1\xb8", authorization=f"Bearer {token}"),
        403,
        "insufficient_scope",
        realm,
    )
    assert get(middleware, path="/caf\xc3\xa9/x", authorization=f"Bearer {token}").status == 200
    assert get(middleware, path="/cafe/x").status == 200


@pytest.mark.parametrize("path", ["/api\n", "/api%0A", "/health\r", "/health%00", "/x\t", "/caf\xc3\xa9\xc2\x85"])
def test_control_characters_in_path_info_are_400_before_the_app(validator, token, realm, path):
    middleware = wsgi(validator, protect=["/api"], exempt=["/health"], optional=True)
    for authorization in (None, f"Bearer {token}"):
        sent = get(middleware, path=path, authorization=authorization)
        assert_refusal(sent, 400, "invalid_request", realm)
        assert "control characters" in sent.json["error_description"]

"""AccessPolicy, Guard and normalize_path: which requests need a token, and which scopes."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mw_support import offline_validator

from wristband_mw import ErrorCode, JWTPayload, JwtValidationResult
from wristband_mw.policy import AccessPolicy, Guard, normalize_path
from wristband_mw.responses import AuthFailure


def protected(policy: AccessPolicy, path: str, method: str = "GET", preflight: bool = False) -> bool:
    return policy.rule_for(method, path, preflight) is not None


def scopes_for(policy: AccessPolicy, path: str) -> tuple:
    rule = policy.rule_for("GET", path)
    assert rule is not None, path
    return rule.scopes


# -- normalize_path ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", "/"),
        ("", "/"),
        ("/api", "/api"),
        ("/api/", "/api"),
        ("/api///", "/api"),
        ("//api/x", "/api/x"),
        ("///api//x//", "/api/x"),
        ("/api/./x", "/api/x"),
        ("/./api", "/api"),
        ("/x/../api/x", "/api/x"),
        ("/api/x/..", "/api"),
        ("/api/x/../", "/api"),
        ("/api/x/../..", "/"),
        ("/../../api", "/api"),
        ("/..", "/"),
        ("/.", "/"),
        ("api/x", "/api/x"),
        ("/a/b/./../c/", "/a/c"),
        ("/...", "/..."),  # three dots is an ordinary segment
        ("/.hidden/x", "/.hidden/x"),
        ("/api%2Fx", "/api%2Fx"),  # normalisation itself does not decode
    ],
)
def test_normalize_path(path, expected):
    assert normalize_path(path) == expected


@given(st.lists(st.sampled_from(["api", "x", ".", "..", "", "%2F", "a.b", "..."]), max_size=8))
def test_normalize_path_is_canonical(segments):
    path = "/" + "/".join(segments)
    normal = normalize_path(path)
    assert normal.startswith("/")
    assert "//" not in normal
    assert normal == "/" or not normal.endswith("/")
    assert "." not in normal.split("/") and ".." not in normal.split("/")
    assert normalize_path(normal) == normal


# -- protect / exempt ----------------------------------------------------------------------------


def test_default_protects_everything():
    policy = AccessPolicy()
    for path in ["/", "/api", "/health", "/anything/at/all", ""]:
        assert protected(policy, path)


def test_prefixes_match_whole_segments():
    policy = AccessPolicy(protect=["/api"])
    assert protected(policy, "/api")
    assert protected(policy, "/api/")
    assert protected(policy, "/api/x")
    assert protected(policy, "/api/x/y")
    assert not protected(policy, "/apix")
    assert not protected(policy, "/ap")
    assert not protected(policy, "/")
    assert not protected(policy, "/public/api")


def test_prefix_given_with_trailing_slash_is_the_same_prefix():
    policy = AccessPolicy(protect=["/api/"])
    assert protected(policy, "/api")
    assert protected(policy, "/api/x")
    assert not protected(policy, "/apix")


def test_root_prefix_protects_everything():
    policy = AccessPolicy(protect=["/"])
    assert protected(policy, "/")
    assert protected(policy, "/x/y")


def test_empty_protect_protects_nothing():
    policy = AccessPolicy(protect=[])
    assert not protected(policy, "/")
    assert not protected(policy, "/api/x")


def test_exempt_wins_over_protect():
    policy = AccessPolicy(protect=["/api"], exempt=["/api/health"])
    assert protected(policy, "/api/x")
    assert not protected(policy, "/api/health")
    assert not protected(policy, "/api/health/deep")
    assert protected(policy, "/api/healthz")  # whole segments for exempt too


def test_exempt_with_default_protect():
    policy = AccessPolicy(exempt=["/health", "/static"])
    assert not protected(policy, "/health")
    assert not protected(policy, "/static/app.js")
    assert protected(policy, "/")
    assert protected(policy, "/healthcheck")


def test_exempt_methods():
    policy = AccessPolicy(protect=["/api"], exempt_methods=["head", "OPTIONS"])
    assert not protected(policy, "/api/x", "HEAD")
    assert not protected(policy, "/api/x", "OPTIONS")
    assert protected(policy, "/api/x", "GET")
    assert protected(policy, "/api/x", "POST")


def test_cors_preflight_flag():
    policy = AccessPolicy()
    assert not protected(policy, "/api", "OPTIONS", preflight=True)
    assert protected(policy, "/api", "OPTIONS", preflight=False)
    assert protected(policy, "/api", "GET", preflight=True)  # only OPTIONS can be a preflight
    strict = AccessPolicy(cors_preflight=False)
    assert protected(strict, "/api", "OPTIONS", preflight=True)


# -- bypass attempts -----------------------------------------------------------------------------

BYPASSES = [
    "//api/x",
    "///api/x",
    "/api//x",
    "/api/./x",
    "/./api",
    "/./api/x",
    "/x/../api/x",
    "/x/y/../../api/x",
    "/../api/x",
    "/api/x/..",
    "/api/x/../",
    "/api/x/./..",
    "/api/..",  # resolves to "/", but frameworks route "/api/.." literally (e.g. to /api/{id})
    "/api/../",
    "/api/x/../..",
    "/api/",
    "/api//",
    "/api%2Fx",
    "/api%2fx",
    "/%61pi/x",
    "/%61%70%69",
    "/%2Fapi/x",
    "/x/%2E%2E/api/x",
    "/api/%2e%2e",
    "/x%2F..%2Fapi/x",
]


@pytest.mark.parametrize("path", BYPASSES)
def test_bypass_attempts_stay_protected(path):
    policy = AccessPolicy(protect=["/api"])
    assert protected(policy, path), path


@pytest.mark.parametrize(
    "path", ["/health/../api/x", "/health/%2e%2e/api", "/health%2F..%2Fapi", "/health/x/../../api"]
)
def test_exempt_cannot_be_used_to_escape(path):
    policy = AccessPolicy(protect=["/api"], exempt=["/health"])
    assert protected(policy, path), path


def test_unprotected_neighbours_stay_unprotected():
    policy = AccessPolicy(protect=["/api"])
    for path in ["/apix", "/apix/y", "/x/api", "/static/../public", "/%61pix"]:
        assert not protected(policy, path), path


SEGMENTS = st.sampled_from(["api", ".", "..", "", "%2F", "x", "%2e%2e", "%61pi"])


@given(st.lists(SEGMENTS, max_size=8), st.booleans())
def test_property_normalized_protected_path_is_protected(segments, joined):
    path = "/" + ("/" if joined else "").join(segments)
    policy = AccessPolicy(protect=["/api"], exempt=["/x"])
    for spelling in (normalize_path(path), normalize_path(unquote(path))):
        if spelling == "/api" or spelling.startswith("/api/"):
            assert protected(policy, path), path


# -- scopes ----------------------------------------------------------------------------------------


def test_required_scopes_apply_everywhere_protected():
    policy = AccessPolicy(protect=["/api"], required_scopes=["read"])
    assert scopes_for(policy, "/api/x") == ("read",)
    assert not protected(policy, "/other")


def test_scopes_longest_prefix_wins():
    policy = AccessPolicy(
        protect=["/api"],
        required_scopes=["base"],
        scopes={"/api": ["user"], "/api/admin": ["admin"], "/api/admin/super": ["root"]},
    )
    assert scopes_for(policy, "/api/x") == ("base", "user")
    assert scopes_for(policy, "/api/admin") == ("base", "admin")
    assert scopes_for(policy, "/api/admin/users") == ("base", "admin")
    assert scopes_for(policy, "/api/admin/super/x") == ("base", "root")
    assert scopes_for(policy, "/api/administrator") == ("base", "user")  # segment match


def test_scopes_prefix_is_protected_even_outside_protect():
    policy = AccessPolicy(protect=["/api"], scopes={"/admin": ["admin"]})
    assert scopes_for(policy, "/admin/x") == ("admin",)
    assert not protected(policy, "/public")


def test_exempt_wins_over_scopes():
    policy = AccessPolicy(scopes={"/api": ["a"]}, exempt=["/api/health"])
    assert not protected(policy, "/api/health")


def test_scopes_given_as_string_are_split():
    policy = AccessPolicy(required_scopes="read write", scopes={"/admin": "admin"})
    assert scopes_for(policy, "/x") == ("read", "write")
    assert scopes_for(policy, "/admin") == ("read", "write", "admin")


def test_scopes_of_both_spellings_are_required():
    policy = AccessPolicy(protect=["/api"], scopes={"/api/admin": ["admin"]})
    assert "admin" in scopes_for(policy, "/api/%61dmin/x")
    assert "admin" in scopes_for(policy, "/api/admin/..")


# -- constructor validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"protect": "/api"}, "lists"),
        ({"exempt": "/health"}, "lists"),
        ({"exempt_methods": "OPTIONS"}, "lists"),
        ({"protect": 5}, "lists"),
        ({"exempt": 5}, "lists"),
        ({"exempt_methods": 5}, "lists"),
        ({"protect": ["api"]}, "start"),
        ({"protect": [None]}, "start"),
        ({"exempt": [""]}, "start"),
        ({"exempt_methods": ["GET POST"]}, "method"),
        ({"exempt_methods": [5]}, "method"),
        ({"cors_preflight": "yes"}, "cors_preflight"),
        ({"required_scopes": [""]}, "required_scopes"),
        ({"required_scopes": ["a b"]}, "required_scopes"),
        ({"required_scopes": 5}, "required_scopes"),
        ({"scopes": [("/a", ["x"])]}, "scopes"),
        ({"scopes": {"a": ["x"]}}, "start"),
        ({"scopes": {"/a": [1]}}, "scopes"),
        ({"scopes": {"/a": None}}, "scopes"),
    ],
)
def test_policy_rejects_bad_options(options, words):
    with pytest.raises(ValueError, match=words):
        AccessPolicy(**options)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"optional": "yes"}, "optional"),
        ({"on_error": "not callable"}, "on_error"),
        ({"realm": ""}, "realm"),
        ({"realm": 5}, "realm"),
        ({"realm": "caf\u00e9"}, "realm"),
        ({"realm": "a\nb"}, "realm"),
        ({"protect": "/api"}, "lists"),
    ],
)
def test_guard_rejects_bad_options(options, words):
    with pytest.raises(ValueError, match=words):
        Guard(offline_validator(), **options)


def test_guard_needs_a_real_validator():
    with pytest.raises(ValueError, match="create_wristband_jwt_validator"):
        Guard(object())  # type: ignore[arg-type]


def test_guard_default_realm_is_issuer_host():
    assert Guard(offline_validator()).realm == "auth.example.com"
    assert Guard(offline_validator(), realm="my api").realm == "my api"


# -- Guard.token_from and verdict ----------------------------------------------------------------


def test_token_from_cases():
    guard = Guard(offline_validator())
    assert guard.token_from(["Bearer abc.def.ghi"]) == "abc.def.ghi"
    assert guard.token_from(["bearer abc"]) == "abc"
    assert guard.token_from(["BEARER abc"]) == "abc"
    missing = guard.token_from([])
    assert isinstance(missing, AuthFailure) and missing.status == 401 and missing.error is None
    basic = guard.token_from(["Basic dXNlcjpwYXNz"])
    assert isinstance(basic, AuthFailure) and basic.status == 401 and basic.error is None
    for values in (["Bearer"], ["Bearer a b"], ["Bearer a!"], ["Bearer a", "Bearer b"], ["Bearer a, Bearer b"]):
        failure = guard.token_from(values)
        assert isinstance(failure, AuthFailure) and failure.status == 400, values
        assert failure.error == "invalid_request"
    huge = guard.token_from(["Bearer " + "a" * 20000])
    assert isinstance(huge, AuthFailure) and huge.status == 401 and huge.code is ErrorCode.TOO_LARGE


def test_token_from_optional():
    guard = Guard(offline_validator(), optional=True)
    assert guard.token_from([]) is None
    failure = guard.token_from(["Bearer a b"])
    assert isinstance(failure, AuthFailure) and failure.status == 400


def test_verdict():
    guard = Guard(offline_validator())
    rule = AccessPolicy(required_scopes=["a", "b"]).rule_for("GET", "/")
    payload = JWTPayload({"sub": "u", "scope": "a b c"})
    assert guard.verdict(JwtValidationResult(True, payload, None, None), rule) is payload
    short = JWTPayload({"sub": "u", "scope": "a"})
    failure = guard.verdict(JwtValidationResult(True, short, None, None), rule)
    assert isinstance(failure, AuthFailure) and failure.status == 403 and failure.scopes == ("a", "b")
    expired = guard.verdict(JwtValidationResult(False, None, "Token has expired", ErrorCode.EXPIRED), rule)
    assert isinstance(expired, AuthFailure) and expired.status == 401 and expired.code is ErrorCode.EXPIRED
    down = guard.verdict(JwtValidationResult(False, None, "x", ErrorCode.KEYS_UNAVAILABLE), rule)
    assert isinstance(down, AuthFailure) and down.status == 503

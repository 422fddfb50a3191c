"""AccessPolicy, Guard and normalize_path: which requests need a token, and which scopes."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.validators import offline_validator

from wristband_mw import ErrorCode, JWTPayload, JwtValidationResult
from wristband_mw.policy import REFUSED, AccessPolicy, Guard, asgi_path_spellings, normalize_path, wsgi_path_spellings
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


# -- WSGI non-ASCII paths (PEP 3333: PATH_INFO is the path's bytes decoded as latin-1) ------------


def pep3333(path: str) -> str:
    """``path`` as a PEP 3333 server puts it in PATH_INFO."""
    return path.encode("utf-8").decode("latin-1")


def wsgi_protected(policy: AccessPolicy, path_info: str, method: str = "GET") -> bool:
    return policy.rule_for_wsgi(method, path_info) is not None


def test_wsgi_path_spellings():
    assert wsgi_path_spellings("/api/x") == ("/api/x",)
    assert wsgi_path_spellings(pep3333("/café")) == ("/café", "/cafÃ©")
    # Invalid UTF-8: werkzeug and Falcon replace the byte, Django re-percent-encodes it,
    # Bottle drops it.
    assert wsgi_path_spellings("/donn\xc3\xa9es/\xc1\xb8") == (
        "/données/\ufffd\ufffd",
        "/données/%C1%B8",
        "/données/",
        "/donnÃ©es/Á¸",  # noqa: RUF001
    )
    assert wsgi_path_spellings("/日本") == ("/日本",)  # not latin-1: a server that decoded already


@pytest.mark.parametrize(
    "path",
    ["/café", "/café/", "/café/secret", "/caf%C3%A9/secret", "/caf%c3%a9", "//café/./x", "/x/../café/x"],
)
def test_non_ascii_prefix_matches_under_wsgi(path):
    policy = AccessPolicy(protect=["/café"], scopes={"/données": ["data"]})
    assert wsgi_protected(policy, pep3333(path)), path
    assert protected(policy, path), path  # ASGI: path arrives decoded


def test_non_ascii_scoped_prefix_needs_its_scope_under_wsgi():
    policy = AccessPolicy(protect=["/api"], scopes={"/données": ["data"]})
    assert policy.rule_for_wsgi("GET", pep3333("/données/x")).scopes == ("data",)
    # werkzeug decodes with errors="replace": invalid UTF-8 in a later segment still routes into /données.
    assert policy.rule_for_wsgi("GET", "/donn\xc3\xa9es/\xc1\xb8").scopes == ("data",)
    assert policy.rule_for_wsgi("GET", "/donn%C3%A9es/x").scopes == ("data",)
    assert not wsgi_protected(policy, pep3333("/donnéesx"))
    assert not wsgi_protected(policy, pep3333("/public/é"))


def test_non_ascii_exempt_must_hold_in_every_spelling():
    policy = AccessPolicy(exempt=["/café"])
    assert not wsgi_protected(policy, pep3333("/café/menu"))
    assert wsgi_protected(policy, pep3333("/cafe/menu"))
    # A prefix exempted in its latin-1 spelling does not open the UTF-8 route.
    latin = AccessPolicy(exempt=[pep3333("/café")])
    assert wsgi_protected(latin, pep3333("/café"))


# -- ASGI root_path --------------------------------------------------------------------------------


def test_asgi_path_spellings():
    assert asgi_path_spellings("/api/me", "") == ("/api/me",)
    assert asgi_path_spellings("/mnt/api/me", "/mnt") == ("/mnt/api/me", "/api/me")
    assert asgi_path_spellings("/mnt", "/mnt") == ("/mnt", "/")
    assert asgi_path_spellings("/me", "/api") == ("/me", "/api/me")
    assert asgi_path_spellings("/x/mnt/api/me", "/mnt") == (
        "/x/mnt/api/me",
        "/mnt/x/mnt/api/me",
        "/api/me",
        "/x/api/me",
    )


@pytest.mark.parametrize(
    ("path", "root_path"),
    [
        ("/api/api/me", "/api"),  # uvicorn --root-path /api, Starlette: routes on /api/me
        ("/api/me", "/api"),  # Litestar's middleware list: path stripped, root_path kept
        ("/me", "/api"),  # outside root_path: never more open than /api/me
        ("/mnt/api/me", "/mnt"),
        ("/x/mnt/api/me", "/mnt"),  # Litestar strips at the first occurrence
        ("/api/me", "/mnt"),  # hypercorn: path without the prefix
        ("/mnt/%61pi/me", "/mnt"),
        ("/mnt//api/./me", "/mnt"),
    ],
)
def test_root_path_protected_if_any_spelling_is(path, root_path):
    policy = AccessPolicy(protect=["/api"], scopes={"/api/admin": ["admin"]})
    assert policy.rule_for_asgi("GET", path, root_path) is not None, (path, root_path)
    admin = path.replace("/me", "/admin")
    assert policy.rule_for_asgi("GET", admin, root_path).scopes == ("admin",), (admin, root_path)


def test_root_path_exempt_only_if_every_spelling_is():
    policy = AccessPolicy(exempt=["/healthz"])
    assert policy.rule_for_asgi("GET", "/mnt/healthz", "/mnt") is not None  # Falcon routes on /mnt/healthz
    both = AccessPolicy(exempt=["/healthz", "/mnt/healthz"])
    assert both.rule_for_asgi("GET", "/mnt/healthz", "/mnt") is None
    assert both.rule_for_asgi("GET", "/x/mnt/healthz", "/mnt") is not None
    open_policy = AccessPolicy(protect=["/api"])
    assert open_policy.rule_for_asgi("GET", "/mnt/public", "/mnt") is None
    assert open_policy.rule_for_asgi("GET", "/public", "/mnt") is None


@given(
    st.lists(st.sampled_from(["api", "mnt", "x", "..", "", "admin", "%2F"]), max_size=6),
    st.sampled_from(["/mnt", "/api", "/x/y"]),
)
def test_property_root_path_never_more_open_than_with_prefix(segments, root_path):
    policy = AccessPolicy(protect=["/api"], exempt=["/x"], scopes={"/api/admin": ["admin"]})
    path = "/" + "/".join(segments)
    rule = policy.rule_for_asgi("GET", path, root_path)
    with_prefix = policy.rule_for_asgi("GET", root_path + path, root_path)
    # The rule: a path that does not start with root_path is never more open than
    # one that does (a path that textually does is matched as given and below root_path).
    for spelling in (path,) if path.startswith(root_path) else (path, root_path + path):
        plain = policy.rule_for("GET", spelling)
        if plain is not None:  # any spelling's rule is required
            assert rule is not None and set(plain.scopes) <= set(rule.scopes), (path, root_path)
    if with_prefix is not None and not path.startswith(root_path):
        assert rule is not None and set(with_prefix.scopes) <= set(rule.scopes), (path, root_path)


# -- control characters ----------------------------------------------------------------------------

CONTROL_PATHS = [
    "/api\n",
    "/api%0A",  # for rule_for (an ASGI path, decoded once): double encoding
    "/api%0a",
    "/api/admin%0A",
    "/%61pi%0A",
    "/ap%69%2fadmin%0A",
    "/api\r",
    "/api%0D%0A",
    "/api\x00",
    "/api%00",
    "/api\t",
    "/api%09",
    "/a\x01pi",
    "/api\x7f",
    "/api%7F",
    "/api\x85",
    "/api%C2%85",  # U+0085 NEL, a C1 control (str.strip() and regex \s take it)
    "/api%c2%9f",
    "/health%0A",  # exempt or not, the path is refused
    "/public/x%0Ay",
]


@pytest.mark.parametrize("path", CONTROL_PATHS)
def test_control_characters_are_refused_on_every_path(path):
    policy = AccessPolicy(protect=["/api"], exempt=["/health"], exempt_methods=["OPTIONS"])
    assert policy.rule_for("GET", path) is REFUSED, path
    assert policy.rule_for("OPTIONS", path, preflight=True) is REFUSED  # before method exemptions
    assert policy.rule_for_asgi("GET", "/mnt" + path, "/mnt") is REFUSED
    if all(ord(ch) < 0x80 for ch in path):
        assert policy.rule_for_wsgi("GET", path) is REFUSED
    assert policy.rule_for_wsgi("GET", pep3333(unquote(path))) is REFUSED


def test_utf8_bytes_are_not_mistaken_for_c1_controls():
    # "ą" is C4 85 in UTF-8: its latin-1 spelling holds \x85, which is not a NEL.
    policy = AccessPolicy(protect=["/api"])
    assert pep3333("/ą") == "/Ä\x85"
    assert policy.rule_for_wsgi("GET", pep3333("/ą/x")) is None
    assert policy.rule_for_wsgi("GET", pep3333("/api/ą")) is not REFUSED
    assert policy.rule_for("GET", "/Ä\x85") is REFUSED  # decoded (ASGI), it is a NEL


def test_spaces_and_other_printable_characters_are_not_refused():
    policy = AccessPolicy(protect=["/api"])
    for path in ["/public/a b", "/public/a%20b", "/public/%E2%80%A8", "/public/\uff46\uff55\uff4c\uff4c"]:
        assert policy.rule_for("GET", path) is None, path


def test_prefix_with_control_character_is_rejected():
    with pytest.raises(ValueError, match="control"):
        AccessPolicy(protect=["/api\n"])
    with pytest.raises(ValueError, match="control"):
        AccessPolicy(scopes={"/a%00": ["x"]})


def test_guard_refuses_control_paths_with_400():
    guard = Guard(offline_validator())
    assert guard.bad_path.status == 400 and guard.bad_path.error == "invalid_request"
    assert "control" in guard.bad_path.description


def test_docstring_examples_hold():
    import doctest

    import wristband_mw.policy

    assert doctest.testmod(wristband_mw.policy).failed == 0


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:8000/api/me",
        "HTTP://example.com/api/me",
        "https://x/%61pi/me",
        "http://x:1/x/../api/me",
        "ws://x/api/me",
    ],
)
def test_absolute_form_path_is_matched_on_its_path_part(target):
    # h11 servers (hypercorn, uvicorn --http h11) leave an absolute-form request target in
    # scope["path"]; Quart and Sanic route it on its path part.
    policy = AccessPolicy(protect=["/api"], scopes={"/api/admin": ["admin"]})
    assert policy.rule_for("GET", target) is not None
    assert policy.rule_for_asgi("GET", target, "/mnt") is not None
    assert policy.rule_for_wsgi("GET", target) is not None
    assert policy.rule_for("GET", target.replace("/me", "/admin")).scopes == ("admin",)


def test_absolute_form_outside_protected_prefixes_stays_open():
    policy = AccessPolicy(protect=["/api"])
    assert policy.rule_for("GET", "http://127.0.0.1:8000/public") is None
    assert policy.rule_for("GET", "http://127.0.0.1:8000") is None
    assert AccessPolicy(exempt=["/healthz"]).rule_for("GET", "http://x/healthz") is not None  # "/http:/x/healthz" too


# -- spellings of routers that re-parse, fold case or drop bytes (attack round, issue 9/15) --------


@pytest.mark.parametrize("path", ["/api#x", "/api/admin#x", "/api#/../public", "/%61pi#x"])
def test_path_is_also_matched_cut_at_the_first_hash(path):
    # h11-based servers leave a raw "#fragment" in the path; Sanic routes on what precedes it.
    policy = AccessPolicy(protect=["/api"], scopes={"/api/admin": ["admin"]})
    for rule in (
        policy.rule_for("GET", path),
        policy.rule_for_wsgi("GET", path),
        policy.rule_for_asgi("GET", path, "/mnt"),
    ):
        assert rule is not None and rule is not REFUSED, path
    assert policy.rule_for("GET", "/api/admin#x").scopes == ("admin",)


def test_hash_outside_protected_prefixes_stays_open():
    # A %23 in a segment arrives as the same "#" in an ASGI path: it is not refused.
    policy = AccessPolicy(protect=["/api"])
    assert policy.rule_for("GET", "/tags/#python") is None
    assert policy.rule_for("GET", "/public#/api") is None
    assert AccessPolicy(exempt=["/healthz"]).rule_for("GET", "/healthz#") is not None  # "/healthz#" is not exempt


@pytest.mark.parametrize(
    "path",
    [" /api/me", "  /api/admin", " http://x/api/me", "api/me", "x:/api/me", "\u3000/api", "\\api", "http://x%20/api"],
)
def test_path_that_is_no_request_target_is_refused(path):
    # h11-based servers and daphne pass "%20/api/me" on as " /api/me": Quart strips the space
    # (urllib.parse) and routes it, Sanic answers 500. No request target looks like that.
    policy = AccessPolicy(protect=["/api"], exempt_methods=["OPTIONS"])
    for method in ("GET", "OPTIONS"):
        assert policy.rule_for(method, path) is REFUSED, path
        assert policy.rule_for_wsgi(method, path) is REFUSED
        assert policy.rule_for_asgi(method, path, "/mnt") is REFUSED
    assert AccessPolicy(protect=[]).rule_for("GET", path) is REFUSED


@pytest.mark.parametrize("path", ["", "*", "/", "http://127.0.0.1:8000", "http://[::1]:8000/x", "https://x/?q"])
def test_request_targets_are_not_refused(path):
    assert AccessPolicy(protect=["/api"]).rule_for("GET", path) is None
    assert AccessPolicy(protect=["/api"]).rule_for_wsgi("GET", path) is None


@pytest.mark.parametrize("path", ["/API/me", "/Api", "/api/ADMIN", "/%41PI/Admin", "/CAF%C3%89/menu"])
def test_ascii_case_changes_are_matched_too(path):
    # BlackSheep matches routes case-insensitively (ASCII): "/API/me" runs the "/api/me" handler.
    policy = AccessPolicy(protect=["/api"], exempt=["/healthz"], scopes={"/api/admin": ["admin"]})
    decoded = unquote(path)
    rule = policy.rule_for("GET", decoded)
    if decoded.startswith("/CAF"):  # "É" is not ASCII: BlackSheep (bytes patterns) does not fold it either
        assert rule is None
        return
    assert rule is not None
    assert rule.scopes == (("admin",) if "admin" in path.lower() else ())
    assert policy.rule_for("GET", path) is not None  # the still-escaped spelling too


def test_case_folding_never_opens_a_path():
    policy = AccessPolicy(protect=["/API"], exempt=["/Healthz"])
    assert policy.rule_for("GET", "/API/me") is not None
    assert policy.rule_for("GET", "/api/me") is not None
    assert policy.rule_for("GET", "/Healthz") is None
    assert policy.rule_for("GET", "/healthz") is None  # neither spelling is protected
    assert AccessPolicy(exempt=["/healthz"]).rule_for("GET", "/HEALTHZ") is not None  # not exempt as given


@pytest.mark.parametrize("path", ["/a\xffpi/me", "/api\xc3/me", "/api/adm\xffin", "/\xc1\xc1api"])
def test_invalid_utf8_dropped_as_bottle_does_is_matched(path):
    # Bottle decodes PATH_INFO with decode("utf8", "ignore"): "/a%FFpi/me" routes to "/api/me".
    policy = AccessPolicy(protect=["/api"], scopes={"/api/admin": ["admin"]})
    rule = policy.rule_for_wsgi("GET", path)
    assert rule is not None
    assert rule.scopes == (("admin",) if "adm" in path else ())


def _repercent_one_exception_per_run(raw: bytes) -> str:
    """The former implementation (one UnicodeDecodeError per invalid run), the reference."""
    parts = []
    while True:
        try:
            parts.append(raw.decode("utf-8"))
            return "".join(parts)
        except UnicodeDecodeError as exc:
            parts.append(raw[: exc.start].decode("utf-8"))
            parts.append("".join(f"%{byte:02X}" for byte in raw[exc.start : exc.end]))
            raw = raw[exc.end :]


@given(
    st.binary(max_size=64)
    | st.lists(st.sampled_from([b"a", b"\xc3", b"\xa9", b"\xff", b"\xed\xa0\x80", b"\xf0\x9f", b"/", b"%"])).map(
        b"".join
    )
)
def test_property_repercent_matches_the_reference(raw):
    # Django's spelling of the path is among those matched. No other spelling can stand in
    # for it: the others write an invalid byte as U+FFFD, drop it, or keep it as one
    # latin-1 character, never as "%XX".
    from wristband_mw.policy import wsgi_path_spellings

    assert _repercent_one_exception_per_run(raw) in wsgi_path_spellings(raw.decode("latin-1"))


def test_long_invalid_utf8_path_is_decided_in_linear_time():
    # Formerly one exception per invalid byte: ~0.6 s of CPU for this path (a request).
    import time

    path = "/api/" + "\xff" * 80_000
    policy = AccessPolicy(protect=["/api"])
    started = time.process_time()
    assert policy.rule_for_wsgi("GET", path) is not None
    assert time.process_time() - started < 0.25

"""JwtWsgiMiddleware driven directly: hand-built environs, a recording start_response, no server.

What both middlewares do is tested once, on both, in test_middleware_contract.py; this file
holds what only WSGI has: environ keys and REMOTE_USER, SCRIPT_NAME, PEP 3333 path bytes,
and the WSGI-only constructor signature.
"""

from __future__ import annotations

import time

import pytest
from support.drive import WsgiApp, call_wsgi, make_environ
from support.refusals import assert_refusal

from wristband_mw import JWTPayload, JwtWsgiMiddleware, get_claims, get_token


def wsgi(validator, **options) -> JwtWsgiMiddleware:
    return JwtWsgiMiddleware(WsgiApp(), validator, **options)


def get(middleware, path="/api/x", authorization=None, method="GET", **extra):
    return call_wsgi(middleware, make_environ(path, method, authorization, **extra))


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


# -- the WSGI signature ---------------------------------------------------------------------------


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


# -- memos: a remembered answer is never a stale one ----------------------------------------------


def test_a_repeated_header_is_not_parsed_again_but_its_token_is_validated_again(issuer, validator, token):
    # There is no header memo any more (with many users every header is new); what stays
    # is that a repeated header's token is validated again every time.
    middleware = wsgi(validator, protect=["/api"])
    expiring = issuer.mint(sub="user-2", exp_in=2)
    for header in (f"Bearer {token}", f"Bearer {expiring}"):
        assert get(middleware, authorization=header).status == 200

    sent = get(middleware, authorization=f"Bearer {token}")
    assert sent.status == 200 and middleware.app.environs[-1]["wristband_mw.token"] == token
    time.sleep(2.1)  # the repeated header still goes through validation: now expired
    assert get(middleware, authorization=f"Bearer {expiring}").status == 401
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
    assert middleware.flow.policy.remembers("/api/x")
    long_path = "/api/" + "a" * 300
    assert get(middleware, path=long_path).status == 401
    assert not middleware.flow.policy.remembers(long_path)  # long paths are not remembered


# -- non-ASCII paths (the policy decides; this checks the wiring) --------------------------------


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

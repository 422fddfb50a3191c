"""Where verified claims go: user/auth objects and get_claims / get_token for every carrier."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from support.drive import AsgiApp, WsgiApp, call_asgi, call_wsgi, make_environ, make_scope

from wristband_mw import (
    AnonymousUser,
    AuthCredentials,
    AuthenticatedUser,
    JwtAsgiMiddleware,
    JWTPayload,
    JwtWsgiMiddleware,
    get_claims,
    get_token,
)
from wristband_mw.claims import CLAIMS_KEY, TOKEN_KEY

PAYLOAD = JWTPayload({"sub": "user-1", "scope": "openid admin", "iss": "https://auth.example.com"})
TOKEN = "aaa.bbb.ccc"


def test_keys_are_the_documented_ones():
    assert CLAIMS_KEY == "wristband_mw.claims"
    assert TOKEN_KEY == "wristband_mw.token"


def test_authenticated_user_has_starlette_base_user_shape():
    user = AuthenticatedUser(PAYLOAD)
    assert user.is_authenticated is True
    assert user.identity == "user-1"
    assert user.display_name == "user-1"
    assert user.claims is PAYLOAD
    assert "user-1" in repr(user)


def test_authenticated_user_without_string_sub():
    user = AuthenticatedUser(JWTPayload({"sub": 5}))
    assert user.identity == "" and user.display_name == ""
    assert AuthenticatedUser(JWTPayload({})).identity == ""


def test_anonymous_user():
    user = AnonymousUser()
    assert user.is_authenticated is False
    assert user.identity == "" and user.display_name == ""
    assert user.claims is None


def test_auth_credentials():
    auth = AuthCredentials(PAYLOAD.scopes, PAYLOAD)
    assert auth.scopes == ["openid", "admin"]
    assert auth.claims is PAYLOAD
    empty = AuthCredentials()
    assert empty.scopes == [] and empty.claims is None


def test_auth_scopes_work_like_starlette_requires():
    # starlette.authentication.has_required_scope: all(scope in conn.auth.scopes for scope in scopes)
    auth = AuthCredentials(PAYLOAD.scopes, PAYLOAD)
    assert all(scope in auth.scopes for scope in ["admin"])
    assert not all(scope in auth.scopes for scope in ["admin", "root"])
    assert not any(scope in AuthCredentials().scopes for scope in ["admin"])


class WithEnviron:
    def __init__(self, environ):
        self.environ = environ


class WithMeta:
    def __init__(self, meta):
        self.META = meta


class WithScope:
    def __init__(self, scope):
        self.scope = scope


class WithEnv:
    def __init__(self, env):
        self.env = env


@pytest.mark.parametrize(
    "wrap", [lambda c: c, WithEnviron, WithMeta, WithScope, WithEnv], ids=["mapping", "environ", "META", "scope", "env"]
)
def test_get_claims_and_token_from_every_carrier(wrap):
    carrier = {CLAIMS_KEY: PAYLOAD, TOKEN_KEY: TOKEN, "REMOTE_USER": "user-1"}
    request = wrap(carrier)
    assert get_claims(request) is PAYLOAD
    assert get_token(request) == TOKEN


@pytest.mark.parametrize("wrap", [lambda c: c, WithEnviron, WithMeta, WithScope])
def test_get_claims_is_none_without_claims(wrap):
    request = wrap({"PATH_INFO": "/"})
    assert get_claims(request) is None
    assert get_token(request) is None


@pytest.mark.parametrize("value", [None, 42, "string", object(), [CLAIMS_KEY]])
def test_get_claims_of_non_requests_is_none(value):
    assert get_claims(value) is None
    assert get_token(value) is None


def test_get_claims_ignores_values_that_are_not_verified_payloads():
    forged = {CLAIMS_KEY: {"sub": "admin"}, TOKEN_KEY: b"bytes"}
    assert get_claims(forged) is None
    assert get_token(forged) is None


def test_get_claims_ignores_non_mapping_attributes():
    class Odd:
        scope = "not a mapping"
        environ = MappingProxyType({CLAIMS_KEY: PAYLOAD})

    assert get_claims(Odd()) is PAYLOAD


def test_get_claims_through_both_middlewares(local_issuer):
    validator = local_issuer.validator()
    try:
        token = local_issuer.mint(sub="carrier", scope="admin")
        sent = call_wsgi(JwtWsgiMiddleware(WsgiApp(), validator), make_environ("/x", authorization=f"Bearer {token}"))
        assert get_claims(WithEnviron(sent.seen)).sub == "carrier"
        assert get_claims(WithMeta(sent.seen)).sub == "carrier"
        assert get_token(WithEnviron(sent.seen)) == token
        sent = call_asgi(JwtAsgiMiddleware(AsgiApp(), validator), make_scope("/x", authorization=f"Bearer {token}"))
        assert get_claims(WithScope(sent.seen)).sub == "carrier"
        assert get_claims(WithScope(sent.seen)) is sent.seen["user"].claims is sent.seen["auth"].claims
        assert get_token(WithScope(sent.seen)) == token
    finally:
        validator.close()


def test_verified_scopes_answer_starlettes_authenticated_pseudo_scope():
    from wristband_mw.claims import AuthCredentials, GrantedScopes

    granted = AuthCredentials(("openid", "admin"), JWTPayload({"sub": "u1", "scope": "openid admin"}))
    assert isinstance(granted.scopes, GrantedScopes)
    assert granted.scopes == ["openid", "admin"] and len(granted.scopes) == 2
    assert "authenticated" in granted.scopes and "admin" in granted.scopes and "other" not in granted.scopes
    assert "authenticated" not in AuthCredentials().scopes  # anonymous requests are not authenticated

"""OIDC discovery (issue 12 section 1): from an issuer to its keys, against real loopback servers.

Every server here is a raw-socket HTTP server on 127.0.0.1 (tests/support/fault_server.py) that
routes by path and records each request, so a test can say exactly what was fetched.
The discovery documents and key sets are shaped like those Entra ID, Auth0, Okta,
Keycloak and Google publish, with this test's own keys.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from support.clock import FakeClock
from support.encoding import b64url as b64u
from support.fault_server import Behaviour, Exchange, FaultServer, hang_before_headers, redirect, respond, trickle
from support.tokens import public_jwk

from wristband_mw import (
    DiscoveryError,
    ErrorCode,
    JwksError,
    JwtWsgiMiddleware,
    OpenIdConfiguration,
    WristbandJwtValidatorConfig,
    create_wristband_jwt_validator,
)
from wristband_mw.discovery import MAX_DISCOVERY_BYTES, DiscoveringJwksClient, discovery_urls

OIDC = "/.well-known/openid-configuration"


# -- a routed loopback IdP ---------------------------------------------------------------------


class Idp:
    """A FaultServer answering by path; ``routes`` may change at any time."""

    def __init__(self) -> None:
        self.routes: Dict[str, Behaviour] = {}
        self.server = FaultServer(self._dispatch)
        self.base = f"http://127.0.0.1:{self.server.port}"

    def _dispatch(self, ex: Exchange) -> None:
        self.routes.get(ex.path, respond(404, b'{"error":"not_found"}'))(ex)

    def serve_json(self, path: str, document: Any, status: int = 200) -> None:
        self.routes[path] = respond(status, json.dumps(document).encode())

    def hits(self, path: str) -> int:
        return self.server.paths.count(path)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def idp() -> Iterator[Idp]:
    server = Idp()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def keys() -> List[rsa.RSAPrivateKey]:
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)]


def sign(key: rsa.RSAPrivateKey, kid: str, claims: Dict[str, Any], typ: Optional[str] = "JWT") -> str:
    header = {"alg": "RS256", "kid": kid, **({"typ": typ} if typ else {})}
    signing_input = f"{b64u(json.dumps(header))}.{b64u(json.dumps(claims))}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64u(signature)}"


def claims_for(issuer: str, **extra: Any) -> Dict[str, Any]:
    now = int(time.time())
    return {"iss": issuer, "sub": "user-1", "aud": "api://orders", "iat": now, "exp": now + 600, **extra}


def validator_for(issuer: str, monotonic: Optional[Callable[[], float]] = None, **overrides: Any):
    options: Dict[str, Any] = {"issuer": issuer, "discovery": True, "token_typ": None, "jwks_fetch_timeout": 2.0}
    options.update(overrides)
    extra = {"monotonic": monotonic} if monotonic is not None else {}
    return create_wristband_jwt_validator(WristbandJwtValidatorConfig(**options), **extra)


def simple_idp(idp: Idp, key: rsa.RSAPrivateKey, issuer: Optional[str] = None, kid: str = "k1") -> str:
    """Publish a minimal document and key set; returns the issuer."""
    issuer = issuer or idp.base
    idp.serve_json(OIDC, {"issuer": issuer, "jwks_uri": f"{idp.base}/keys"})
    idp.serve_json("/keys", {"keys": [public_jwk(kid, key)]})
    return issuer


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "oidc", "rfc8414"),
    [
        (
            "https://idp.example.com/realms/shop",
            "https://idp.example.com/realms/shop/.well-known/openid-configuration",
            "https://idp.example.com/.well-known/oauth-authorization-server/realms/shop",
        ),
        (
            "https://idp.example.com/realms/shop/",
            "https://idp.example.com/realms/shop/.well-known/openid-configuration",
            "https://idp.example.com/.well-known/oauth-authorization-server/realms/shop",
        ),
        (
            "https://tenant.auth0.com/",
            "https://tenant.auth0.com/.well-known/openid-configuration",
            "https://tenant.auth0.com/.well-known/oauth-authorization-server",
        ),
        (
            "https://accounts.google.com",
            "https://accounts.google.com/.well-known/openid-configuration",
            "https://accounts.google.com/.well-known/oauth-authorization-server",
        ),
    ],
)
def test_document_urls_never_double_a_slash_and_follow_rfc_8414_section_3(issuer, oidc, rfc8414):
    assert discovery_urls(issuer) == (oidc, rfc8414)
    config = WristbandJwtValidatorConfig(issuer=issuer, discovery=True)
    assert config.resolved_discovery_urls == (oidc, rfc8414)
    assert config.resolved_jwks_url is None and config.uses_discovery


def test_discovery_url_implies_discovery_and_is_the_only_place_looked():
    config = WristbandJwtValidatorConfig(
        issuer="https://idp.example.com", discovery_url="https://idp.internal/.well-known/openid-configuration"
    )
    assert config.uses_discovery and config.discovery is False
    assert config.resolved_discovery_urls == ("https://idp.internal/.well-known/openid-configuration",)
    # The vanity domain's issuer is discovered too; a copy re-derives its URLs.
    wristband = WristbandJwtValidatorConfig("auth.yourapp.io", discovery=True)
    assert wristband.resolved_discovery_urls[0] == "https://auth.yourapp.io/.well-known/openid-configuration"
    moved = dataclasses.replace(wristband, wristband_application_vanity_domain="auth.other.io")
    assert moved.resolved_discovery_urls[0] == "https://auth.other.io/.well-known/openid-configuration"
    assert not WristbandJwtValidatorConfig("auth.yourapp.io").resolved_discovery_urls


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"discovery": True}, "discovery needs the issuer"),
        ({"discovery_url": "https://idp/.well-known/openid-configuration"}, "discovery needs the issuer"),
        ({"issuer": "http://idp.example.com", "discovery": True}, "must use https"),
        ({"issuer": "idp.example.com", "discovery": True}, "absolute https:// URL"),
        ({"issuer": "https://idp.example.com?tenant=1", "discovery": True}, "query or fragment"),
        ({"issuer": "https://idp", "discovery_url": "http://10.0.0.5/.well-known/openid-configuration"}, "https"),
        ({"issuer": "https://idp", "discovery": True, "jwks_url": "https://idp/keys"}, "either discovery"),
        ({"issuer": "https://idp", "discovery": True, "jwks": {"keys": []}}, "either discovery"),
        ({"issuer": "https://idp", "discovery": "yes"}, "discovery must be True or False"),
    ],
)
def test_discovery_options_are_checked_on_construction(options, message):
    with pytest.raises(ValueError, match=message):
        WristbandJwtValidatorConfig(**options)


def test_loopback_issuer_may_use_plain_http():
    config = WristbandJwtValidatorConfig(issuer="http://127.0.0.1:8080/realms/dev", discovery=True)
    assert config.resolved_discovery_urls[0] == "http://127.0.0.1:8080/realms/dev/.well-known/openid-configuration"


# -- documents shaped like real IdPs'  ----------------------------------------------------------


def entra(base: str) -> Tuple[str, Dict[str, Any], str, str]:
    tid = "9188040d-6c67-4c5b-b112-36a304b66dad"
    issuer = f"{base}/{tid}/v2.0"
    jwks_path = f"/{tid}/discovery/v2.0/keys"
    document = {
        "token_endpoint": f"{base}/{tid}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": base + jwks_path,
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer,
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/{tid}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "cloud_instance_name", "aud", "exp", "iat", "nonce", "tid", "ver"],
        "kerberos_endpoint": f"{base}/{tid}/kerberos",
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }
    return issuer, document, jwks_path, "RS256"


def auth0(base: str) -> Tuple[str, Dict[str, Any], str, str]:
    issuer = f"{base}/"  # Auth0's issuer ends with a slash; the document URL must not double it
    document = {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "device_authorization_endpoint": f"{base}/oauth/device/code",
        "userinfo_endpoint": f"{base}/userinfo",
        "mfa_challenge_endpoint": f"{base}/mfa/challenge",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "registration_endpoint": f"{base}/oidc/register",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "scopes_supported": ["openid", "profile", "offline_access", "name", "email"],
        "response_types_supported": ["code", "token", "id_token", "code token"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "claims_supported": ["aud", "auth_time", "created_at", "email", "exp", "iat", "iss", "sub"],
        "request_uri_parameter_supported": False,
        "request_parameter_supported": False,
        "id_token_signing_alg_values_supported": ["HS256", "RS256", "PS256"],
        "end_session_endpoint": f"{base}/oidc/logout",
    }
    return issuer, document, "/.well-known/jwks.json", "RS256"


def okta(base: str) -> Tuple[str, Dict[str, Any], str, str]:
    issuer = f"{base}/oauth2/default"
    document = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/v1/authorize",
        "token_endpoint": f"{issuer}/v1/token",
        "userinfo_endpoint": f"{issuer}/v1/userinfo",
        "registration_endpoint": f"{base}/oauth2/v1/clients",
        "jwks_uri": f"{issuer}/v1/keys",
        "response_types_supported": ["code", "id_token", "code id_token", "code token", "none"],
        "response_modes_supported": ["query", "fragment", "form_post", "okta_post_message"],
        "grant_types_supported": ["authorization_code", "implicit", "refresh_token", "password"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "address", "phone", "offline_access"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "claims_supported": ["iss", "ver", "sub", "aud", "iat", "exp", "jti", "auth_time", "amr", "idp"],
        "code_challenge_methods_supported": ["S256"],
        "introspection_endpoint": f"{issuer}/v1/introspect",
        "revocation_endpoint": f"{issuer}/v1/revoke",
        "end_session_endpoint": f"{issuer}/v1/logout",
        "request_parameter_supported": True,
        "request_object_signing_alg_values_supported": ["HS256", "HS384", "HS512", "RS256", "ES256"],
        "device_authorization_endpoint": f"{issuer}/v1/device/authorize",
        "dpop_signing_alg_values_supported": ["RS256", "ES256"],
    }
    return issuer, document, "/oauth2/default/v1/keys", "RS256"


def keycloak(base: str) -> Tuple[str, Dict[str, Any], str, str]:
    issuer = f"{base}/realms/shop"
    oidc = f"{issuer}/protocol/openid-connect"
    document = {
        "issuer": issuer,
        "authorization_endpoint": f"{oidc}/auth",
        "token_endpoint": f"{oidc}/token",
        "introspection_endpoint": f"{oidc}/token/introspect",
        "userinfo_endpoint": f"{oidc}/userinfo",
        "end_session_endpoint": f"{oidc}/logout",
        "frontchannel_logout_session_supported": True,
        "frontchannel_logout_supported": True,
        "jwks_uri": f"{oidc}/certs",
        "check_session_iframe": f"{oidc}/login-status-iframe.html",
        "grant_types_supported": ["authorization_code", "implicit", "refresh_token", "password", "client_credentials"],
        "acr_values_supported": ["0", "1"],
        "response_types_supported": ["code", "none", "id_token", "token", "id_token token", "code id_token"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["PS384", "ES384", "RS384", "HS256", "HS512", "ES256", "RS256"],
        "id_token_encryption_alg_values_supported": ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5"],
        "userinfo_signing_alg_values_supported": ["PS384", "ES384", "RS384", "HS256", "none"],
        "request_object_signing_alg_values_supported": ["PS384", "ES384", "RS384", "none"],
        "response_modes_supported": ["query", "fragment", "form_post", "query.jwt", "fragment.jwt", "jwt"],
        "registration_endpoint": f"{issuer}/clients-registrations/openid-connect",
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic", "client_secret_post"],
        "claims_supported": ["aud", "sub", "iss", "auth_time", "name", "given_name", "family_name", "email"],
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": True,
        "scopes_supported": ["openid", "profile", "email", "roles", "web-origins", "offline_access"],
        "request_parameter_supported": True,
        "request_uri_parameter_supported": True,
        "require_request_uri_registration": True,
        "code_challenge_methods_supported": ["plain", "S256"],
        "tls_client_certificate_bound_access_tokens": True,
        "revocation_endpoint": f"{oidc}/revoke",
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "device_authorization_endpoint": f"{oidc}/auth/device",
        "pushed_authorization_request_endpoint": f"{oidc}/ext/par/request",
        "require_pushed_authorization_requests": False,
        "mtls_endpoint_aliases": {"token_endpoint": f"{oidc}/token", "jwks_uri": f"{oidc}/certs"},
    }
    return issuer, document, "/realms/shop/protocol/openid-connect/certs", "RS256"


def google(base: str) -> Tuple[str, Dict[str, Any], str, str]:
    # Google's issuer and its keys live on different hosts (accounts.google.com, www.googleapis.com):
    # here "localhost" names the issuer and the keys are on 127.0.0.1.
    issuer = base.replace("127.0.0.1", "localhost")
    document = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/o/oauth2/v2/auth",
        "device_authorization_endpoint": f"{base}/device/code",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/v1/userinfo",
        "revocation_endpoint": f"{base}/revoke",
        "jwks_uri": f"{base}/oauth2/v3/certs",
        "response_types_supported": ["code", "token", "id_token", "code token", "code id_token", "none"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "email", "email_verified", "exp", "family_name", "iat", "iss", "sub"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "grant_types_supported": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
    }
    return issuer, document, "/oauth2/v3/certs", "RS256"


def shaped_key_set(name: str, kid: str, key: rsa.RSAPrivateKey, other: rsa.RSAPrivateKey) -> Dict[str, Any]:
    """The signing key among the kinds of neighbours each IdP publishes beside it."""
    signing = public_jwk(kid, key)
    if name == "entra":  # no alg; x5t and x5c (contents irrelevant here); an issuer member
        signing = public_jwk(kid, key, alg=None, x5t="bm90LWEtdGh1bWJwcmludA", x5c=["TUlJQw=="], issuer="x")
    if name == "keycloak":  # a second RSA key for encryption, which must never verify
        return {"keys": [public_jwk("enc-1", other, use="enc", alg="RSA-OAEP"), signing]}
    return {"keys": [public_jwk("older", other), signing]}


@pytest.mark.parametrize("shape", [entra, auth0, okta, keycloak, google], ids=lambda f: f.__name__)
def test_discovery_documents_shaped_like_each_idp(shape, idp, keys):
    issuer, document, jwks_path, _ = shape(idp.base)
    oidc_path = discovery_urls(issuer)[0].split(str(idp.server.port), 1)[1]
    if shape is google:
        # The issuer names localhost: the document is served where the issuer says, on the same server.
        oidc_path = OIDC
    idp.serve_json(oidc_path, document)
    idp.serve_json(jwks_path, shaped_key_set(shape.__name__, "sig-2024", keys[0], keys[1]))
    validator = validator_for(issuer, audience="api://orders")
    try:
        token = sign(keys[0], "sig-2024", claims_for(issuer))
        result = validator.validate(token)
        assert result.is_valid, result.error_message
        assert result.payload.iss == issuer
        found = validator.openid_configuration()
        assert found == OpenIdConfiguration(issuer, idp.base + jwks_path, discovery_urls(issuer)[0])
        assert idp.hits(oidc_path) == 1 and idp.hits(jwks_path) == 1
        # The neighbour key verifies nothing it is not for, and an enc key nothing at all.
        neighbour_kid = "enc-1" if shape is keycloak else "older"
        forged = sign(keys[1], neighbour_kid, claims_for(issuer))
        assert validator.validate(forged).is_valid is (shape is not keycloak)
        stats = validator.stats()
        assert stats["discovery_fetches_ok"] == 1 and stats["discovery_fetches_failed"] == 0
    finally:
        validator.close()


def test_rfc_8414_location_is_the_fallback_for_an_issuer_with_a_path(idp, keys):
    issuer = f"{idp.base}/realms/shop"
    rfc8414 = "/.well-known/oauth-authorization-server/realms/shop"
    idp.serve_json(rfc8414, {"issuer": issuer, "jwks_uri": f"{idp.base}/keys"})
    idp.serve_json("/keys", {"keys": [public_jwk("k1", keys[0])]})
    validator = validator_for(issuer)
    assert validator.validate(sign(keys[0], "k1", claims_for(issuer))).is_valid
    assert idp.server.paths[:3] == ["/realms/shop" + OIDC, rfc8414, "/keys"]
    assert validator.openid_configuration().url == idp.base + rfc8414


def test_a_failing_server_is_not_asked_twice_per_attempt(idp, keys):
    issuer = f"{idp.base}/realms/shop"
    idp.routes["/realms/shop" + OIDC] = respond(503, b"{}")
    validator = validator_for(issuer)
    result = validator.validate(sign(keys[0], "k1", claims_for(issuer)))
    assert result.error is ErrorCode.KEYS_UNAVAILABLE
    assert result.error_message == "Failed to get signing key: OpenID configuration endpoint answered HTTP 503"
    assert idp.server.paths == ["/realms/shop" + OIDC]  # 5xx: the IdP is failing, no fallback


def test_neither_location_found_says_both(idp, keys):
    validator = validator_for(f"{idp.base}/realms/shop")
    with pytest.raises(JwksError) as caught:
        validator.prefetch()
    message = str(caught.value)
    assert "/realms/shop/.well-known/openid-configuration answered HTTP 404" in message
    assert "/.well-known/oauth-authorization-server/realms/shop answered HTTP 404" in message


# -- nothing trusted unless the document names exactly this issuer -------------------------------


@pytest.mark.parametrize(
    "named",
    [
        lambda issuer: issuer + "/",  # a trailing slash
        lambda issuer: issuer.upper().replace("HTTP://", "http://"),  # case
        lambda issuer: issuer[:-1],  # a prefix
        lambda issuer: "https://evil.example/realms/shop",
        lambda issuer: None,
        lambda issuer: [issuer],
    ],
    ids=["trailing-slash", "case", "prefix", "other", "missing", "array"],
)
def test_document_naming_another_issuer_is_not_trusted(named, idp, keys):
    issuer = f"{idp.base}/realms/shop"
    document: Dict[str, Any] = {"jwks_uri": f"{idp.base}/keys"}
    if named(issuer) is not None:
        document["issuer"] = named(issuer)
    idp.serve_json("/realms/shop" + OIDC, document)
    idp.serve_json("/keys", {"keys": [public_jwk("k1", keys[0])]})
    validator = validator_for(issuer)
    result = validator.validate(sign(keys[0], "k1", claims_for(issuer)))
    assert result.error is ErrorCode.KEYS_UNAVAILABLE
    assert f"not the configured issuer {issuer}" in result.error_message
    assert "names issuer" in result.error_message
    assert idp.hits("/keys") == 0  # nothing in the document was used
    assert validator.openid_configuration() is None
    assert validator.stats()["discovery_fetches_failed"] == 1


def test_issuer_mismatch_message_escapes_and_bounds_the_document_value(idp, keys):
    issuer = idp.base
    idp.serve_json(OIDC, {"issuer": "https://x\n\u202e" + "a" * 5000, "jwks_uri": f"{idp.base}/keys"})
    with pytest.raises(JwksError) as caught:
        validator_for(issuer).prefetch()
    message = str(caught.value)
    assert "\n" not in message and "\u202e" not in message and len(message) < 800
    assert f"not the configured issuer {issuer}" in message


@pytest.mark.parametrize(
    ("jwks_uri", "trusted"),
    [
        ("http://idp.example.com/keys", False),
        ("http://127.0.0.2:{port}/keys", True),  # loopback, as for jwks_url
        ("ftp://idp.example.com/keys", False),
        ("/keys", False),
        ("https://user:pw@idp.example.com/keys", False),
        (None, False),
        (42, False),
    ],
)
def test_jwks_uri_must_be_https(jwks_uri, trusted, idp, keys):
    if isinstance(jwks_uri, str):
        jwks_uri = jwks_uri.format(port=idp.server.port)
    document = {"issuer": idp.base, **({"jwks_uri": jwks_uri} if jwks_uri is not None else {})}
    idp.serve_json(OIDC, document)
    client = DiscoveringJwksClient(idp.base, discovery_urls(idp.base), ["RS256"], 2.0, ttl=600, stale_if_error=0)
    try:
        client.fetch()
    except DiscoveryError as exc:
        assert not trusted, exc
        assert "jwks_uri" in str(exc)
    except JwksError as exc:  # trusted, but nothing listens there: the port is bound on 127.0.0.1 only
        assert trusted, exc
        assert "JWKS fetch failed" in str(exc)
    finally:
        client.close()
    assert (client.found is not None) is trusted


# -- transport: the JWKS's rules -----------------------------------------------------------------


def failing_discovery(idp: Idp, behaviour: Behaviour, timeout: float = 2.0) -> Tuple[str, float]:
    idp.routes[OIDC] = behaviour
    validator = validator_for(idp.base, jwks_fetch_timeout=timeout)
    started = time.monotonic()
    with pytest.raises(JwksError) as caught:
        validator.prefetch()
    return str(caught.value), time.monotonic() - started


def test_redirect_to_http_is_refused(idp):
    message, _ = failing_discovery(idp, redirect(f"http://127.0.0.1:{idp.server.port}/elsewhere"))
    assert message.startswith("OpenID configuration redirect to a non-https URL refused")
    assert idp.hits("/elsewhere") == 0


def test_oversized_document_is_refused(idp):
    body = json.dumps({"issuer": idp.base, "pad": "x" * MAX_DISCOVERY_BYTES}).encode()
    message, _ = failing_discovery(idp, respond(200, body))
    assert f"over the {MAX_DISCOVERY_BYTES}-byte limit" in message


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>login</html>", "not valid JSON"),
        (b"[1, 2]", "not valid JSON"),
        (b'{"issuer": "a", "issuer": "b"}', "duplicate member name"),
        (b'{"issuer": NaN}', "not valid JSON"),
    ],
)
def test_invalid_json_documents_are_refused(idp, body, reason):
    message, _ = failing_discovery(idp, respond(200, body))
    assert message.startswith("OpenID configuration is not valid JSON") and reason in message


def test_slow_document_ends_within_one_deadline(idp):
    document = json.dumps({"issuer": idp.base, "jwks_uri": f"{idp.base}/keys"}).encode()
    message, took = failing_discovery(idp, trickle(document, interval=0.1), timeout=0.5)
    assert message == "OpenID configuration fetch timed out: took longer than 0.5 s"
    assert took < 0.5 + 2.0  # generous: the machine is shared


def test_document_and_key_set_share_one_deadline(idp, keys):
    """A slow document leaves the key set only what is left of the same deadline."""
    document = json.dumps({"issuer": idp.base, "jwks_uri": f"{idp.base}/keys"}).encode()
    idp.routes[OIDC] = trickle(document, interval=0.6 / len(document))  # about 0.6 s
    idp.routes["/keys"] = hang_before_headers()
    validator = validator_for(idp.base, jwks_fetch_timeout=1.5)
    started = time.monotonic()
    with pytest.raises(JwksError, match="JWKS fetch timed out"):
        validator.prefetch()
    assert time.monotonic() - started < 1.5 + 2.0  # not 1.5 for the document plus 1.5 for the keys
    assert idp.hits("/keys") == 1


# -- caching: the key store's policy covers the document -------------------------------------------


def test_prefetch_fetches_both_and_stats_count_discovery(idp, keys):
    simple_idp(idp, keys[0])
    validator = validator_for(idp.base)
    validator.prefetch()
    assert idp.hits(OIDC) == 1 and idp.hits("/keys") == 1
    stats = validator.stats()
    assert stats["discovery_fetches_ok"] == 1 and stats["jwks_fetches_ok"] == 1 and stats["cached_kids"] == ["k1"]
    assert validator.validate(sign(keys[0], "k1", claims_for(idp.base))).is_valid
    assert idp.hits(OIDC) == 1 and idp.hits("/keys") == 1


def test_document_is_refreshed_with_the_key_set_and_unknown_kids_reuse_it(idp, keys):
    simple_idp(idp, keys[0])
    clock = FakeClock()
    validator = validator_for(idp.base, monotonic=clock, jwks_cache_ttl=60_000)
    assert validator.validate(sign(keys[0], "k1", claims_for(idp.base))).is_valid
    # An unknown kid within the TTL refetches the key set, not the document.
    assert validator.validate(sign(keys[1], "new", claims_for(idp.base))).error is ErrorCode.UNKNOWN_KEY
    assert (idp.hits(OIDC), idp.hits("/keys")) == (1, 2)
    # Past the TTL: refresh-ahead, in the background, fetches both.
    clock.advance(61)
    assert validator.validate(sign(keys[0], "k1", claims_for(idp.base, jti="x"))).is_valid
    wait_for(lambda: validator.stats()["jwks_fetches_ok"] == 3)
    assert (idp.hits(OIDC), idp.hits("/keys")) == (2, 3)
    assert validator.stats()["discovery_fetches_ok"] == 2


def test_moved_jwks_uri_is_found_again_after_the_key_set_fails(idp, keys):
    simple_idp(idp, keys[0])
    clock = FakeClock()
    validator = validator_for(idp.base, monotonic=clock)
    validator.prefetch()
    # The IdP moves its keys: the old URL answers 404, the document names the new one.
    del idp.routes["/keys"]
    idp.serve_json(OIDC, {"issuer": idp.base, "jwks_uri": f"{idp.base}/keys-v2"})
    idp.serve_json("/keys-v2", {"keys": [public_jwk("k2", keys[1])]})
    with pytest.raises(JwksError, match="HTTP 404"):
        validator.prefetch()
    validator.prefetch()  # the failure made the document due: read again, then the new keys
    assert validator.openid_configuration().jwks_uri == f"{idp.base}/keys-v2"
    assert validator.validate(sign(keys[1], "k2", claims_for(idp.base))).is_valid


def test_a_failing_key_set_does_not_reread_a_document_just_read(idp, keys):
    simple_idp(idp, keys[0])
    idp.routes["/keys"] = respond(500, b"{}")
    clock = FakeClock()
    validator = validator_for(idp.base, monotonic=clock)
    token = sign(keys[0], "k1", claims_for(idp.base))
    assert validator.validate(token).error is ErrorCode.KEYS_UNAVAILABLE
    clock.advance(1.1)  # past the first back-off step
    assert validator.validate(token).error is ErrorCode.KEYS_UNAVAILABLE
    assert (idp.hits(OIDC), idp.hits("/keys")) == (1, 2)


def test_stale_document_keeps_serving_while_the_idp_fails_it(idp, keys):
    simple_idp(idp, keys[0])
    clock = FakeClock()
    validator = validator_for(idp.base, monotonic=clock, jwks_cache_ttl=60_000, jwks_stale_if_error=300)
    validator.prefetch()
    idp.routes[OIDC] = respond(500, b"{}")
    clock.advance(61)
    validator.prefetch()  # the document fails; its jwks_uri is used for up to 300 s past the TTL
    stats = validator.stats()
    assert stats["discovery_fetches_failed"] == 1 and stats["jwks_fetches_ok"] == 2
    clock.advance(400)  # now past TTL + stale-if-error: nothing left to trust
    with pytest.raises(JwksError, match="OpenID configuration endpoint answered HTTP 500"):
        validator.prefetch()
    assert idp.hits("/keys") == 2


def test_failures_back_off_and_are_never_cached_as_a_result(idp, keys):
    idp.routes[OIDC] = respond(500, b"{}")
    clock = FakeClock()
    validator = validator_for(idp.base, monotonic=clock, jwks_refresh_cooldown=30)
    token = sign(keys[0], "k1", claims_for(idp.base))
    for _ in range(5):  # a cold start while the IdP fails: one fetch, then back-off
        assert validator.validate(token).error is ErrorCode.KEYS_UNAVAILABLE
    assert idp.hits(OIDC) == 1
    assert validator.stats()["backoff_rejections"] == 4
    assert 0 < validator.keys_retry_after() <= 1.0
    clock.advance(1.1)
    assert validator.validate(token).error is ErrorCode.KEYS_UNAVAILABLE
    assert idp.hits(OIDC) == 2
    assert 1.0 < validator.keys_retry_after() <= 2.0  # doubled
    simple_idp(idp, keys[0])  # the IdP recovers
    clock.advance(2.1)
    assert validator.validate(token).is_valid
    stats = validator.stats()
    assert stats["discovery_fetches_failed"] == 2 and stats["discovery_fetches_ok"] == 1
    assert validator.keys_retry_after() is None


def test_concurrent_cold_requests_make_one_discovery_and_one_jwks_fetch(idp, keys):
    document = json.dumps({"issuer": idp.base, "jwks_uri": f"{idp.base}/keys"}).encode()
    idp.routes[OIDC] = trickle(document, interval=0.2 / len(document))  # slow enough for everyone to pile up
    idp.serve_json("/keys", {"keys": [public_jwk("k1", keys[0])]})
    validator = validator_for(idp.base)
    tokens = [sign(keys[0], "k1", claims_for(idp.base, jti=str(n))) for n in range(16)]
    results: List[bool] = []
    threads = [threading.Thread(target=lambda t=t: results.append(validator.validate(t).is_valid)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [True] * 16
    assert (idp.hits(OIDC), idp.hits("/keys")) == (1, 1)


def test_validate_async_discovers_off_the_event_loop(idp, keys):
    simple_idp(idp, keys[0])
    validator = validator_for(idp.base)
    token = sign(keys[0], "k1", claims_for(idp.base))

    async def scenario() -> List[bool]:
        results = await asyncio.gather(*(validator.validate_async(token) for _ in range(8)))
        return [r.is_valid for r in results]

    assert asyncio.run(scenario()) == [True] * 8
    assert (idp.hits(OIDC), idp.hits("/keys")) == (1, 1)
    validator.close()


def test_split_horizon_discovery_url(idp, keys):
    """The service reads the document at an internal address; tokens name the public issuer."""
    public = "https://idp.example.com/realms/shop"
    idp.serve_json("/internal" + OIDC, {"issuer": public, "jwks_uri": f"{idp.base}/keys"})
    idp.serve_json("/keys", {"keys": [public_jwk("k1", keys[0])]})
    validator = validator_for(public, discovery=False, discovery_url=f"{idp.base}/internal{OIDC}")
    assert validator.validate(sign(keys[0], "k1", claims_for(public))).is_valid
    assert idp.server.paths == ["/internal" + OIDC, "/keys"]


def test_fork_gives_the_discovery_client_its_own_pool(idp, keys):
    simple_idp(idp, keys[0])
    client = DiscoveringJwksClient(idp.base, discovery_urls(idp.base), ["RS256"], 2.0, ttl=600, stale_if_error=0)
    client.fetch()
    inherited = client.fetcher.pool
    asked_before_fork = inherited.connection_from_url(idp.base).num_requests
    client.after_fork_in_child()
    assert client.fetcher.pool is not inherited
    assert sorted(client.fetch()) == ["k1"] and client.found is not None
    # One pool for both documents: the key set now comes through the child's new pool, and
    # nothing more through the parent's.
    assert client.fetcher.pool.connection_from_url(idp.base).num_requests == 1
    assert inherited.connection_from_url(idp.base).num_requests == asked_before_fork == 2
    client.close()


def test_wsgi_middleware_answers_503_while_nothing_is_discovered(idp, keys):
    from support.drive import WsgiApp, call_wsgi, make_environ

    idp.routes[OIDC] = respond(500, b"{}")
    middleware = JwtWsgiMiddleware(WsgiApp(), validator_for(idp.base), protect=["/api"])
    token = sign(keys[0], "k1", claims_for(idp.base))
    sent = call_wsgi(middleware, make_environ("/api/me", authorization=f"Bearer {token}"))
    assert sent.status == 503 and not sent.app_called
    assert sent.header("Retry-After") is not None
    assert token not in sent.body.decode()
    simple_idp(idp, keys[0])
    sent = call_wsgi(middleware, make_environ("/api/me", authorization=f"Bearer {token}"))
    assert sent.status == 503  # still backing off: the recovery is seen after Retry-After


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.01)

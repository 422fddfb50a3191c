"""Both middlewares with a MultiIssuerValidator (issue 12 section 2): two issuers, no key confusion.

The request flow takes any object with the validator's interface
(:class:`wristband_mw.flow.TokenValidator`), so the middlewares take a MultiIssuerValidator
unchanged.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from typing import Any, Iterator, Tuple
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from support.drive import AsgiApp, WsgiApp, call_asgi, call_wsgi, make_environ, make_scope
from support.refusals import assert_no_leak

from wristband_mw import (
    JwtAsgiMiddleware,
    JwtWsgiMiddleware,
    MultiIssuerValidator,
    WristbandJwtValidatorConfig,
    get_claims,
)
from wristband_mw.testing import LocalIssuer


@pytest.fixture(scope="module")
def issuers() -> Iterator[Tuple[LocalIssuer, LocalIssuer]]:
    with LocalIssuer() as shop, LocalIssuer() as partner:
        yield shop, partner


@pytest.fixture(scope="module")
def multi(issuers) -> Iterator[MultiIssuerValidator]:
    shop, partner = issuers
    validator = MultiIssuerValidator([shop.validator(), partner.validator(discovery=True)])
    yield validator
    validator.close()


def wsgi(multi: MultiIssuerValidator) -> JwtWsgiMiddleware:
    return JwtWsgiMiddleware(WsgiApp(), multi, protect=["/api"])


def asgi(multi: MultiIssuerValidator) -> JwtAsgiMiddleware:
    return JwtAsgiMiddleware(AsgiApp(), multi, protect=["/api"])


def test_wsgi_accepts_each_issuers_tokens(multi, issuers):
    middleware = wsgi(multi)
    for issuer in issuers:
        sent = call_wsgi(middleware, make_environ("/api/me", authorization=f"Bearer {issuer.mint(sub='u-1')}"))
        assert sent.status == 200 and sent.app_called
        claims = get_claims(sent.seen)
        assert claims is not None and claims.iss == issuer.issuer and sent.seen["REMOTE_USER"] == "u-1"


def test_asgi_accepts_each_issuers_tokens(multi, issuers):
    middleware = asgi(multi)
    for issuer in issuers:
        sent = call_asgi(middleware, make_scope("/api/me", authorization=f"Bearer {issuer.mint(sub='u-2')}"))
        assert sent.status == 200 and sent.app_called
        claims = get_claims(sent.seen)
        assert claims is not None and claims.iss == issuer.issuer and sent.seen["user"].identity == "u-2"


@pytest.mark.parametrize("adapter", ["wsgi", "asgi"])
def test_cross_issuer_key_confusion_is_refused(adapter, multi, issuers):
    shop, partner = issuers
    before = (shop.fetch_count, partner.fetch_count, partner.discovery_count)
    forged = shop.mint(iss=partner.issuer)  # shop's key and kid, claiming partner
    unknown = shop.mint(iss="https://elsewhere.example")
    for token, error in ((forged, "invalid_token"), (unknown, "invalid_token")):
        if adapter == "wsgi":
            sent = call_wsgi(wsgi(multi), make_environ("/api/me", authorization=f"Bearer {token}"))
        else:
            sent = call_asgi(asgi(multi), make_scope("/api/me", authorization=f"Bearer {token}"))
        assert sent.status == 401 and not sent.app_called
        assert f'error="{error}"' in (sent.header("WWW-Authenticate") or "")
        assert_no_leak(sent, token)
    # The unknown issuer caused no fetch; the forged one only partner's unknown-kid lookup.
    assert shop.fetch_count == before[0] and partner.discovery_count == before[2]


def test_a_real_wsgi_server_with_two_issuers(multi, issuers):
    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server: WSGIServer = make_server("127.0.0.1", 0, wsgi(multi), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        shop, partner = issuers
        statuses = []
        for token in (shop.mint(), partner.mint(), shop.mint(iss=partner.issuer)):
            request = urllib.request.Request(f"{base}/api/me", headers={"Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    statuses.append(response.status)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
                error.close()
        assert statuses == [200, 200, 401]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("adapter", ["wsgi", "asgi"])
def test_a_repeated_token_is_answered_from_its_issuers_cache(adapter, multi, issuers):
    partner = issuers[1]
    token = partner.mint(sub="u-3")
    hits = lambda: multi.stats()["issuers"][partner.issuer]["verified_token_cache_hits"]  # noqa: E731
    for round_ in range(3):
        before = hits()
        if adapter == "wsgi":
            sent = call_wsgi(wsgi(multi), make_environ("/api/me", authorization=f"Bearer {token}"))
            assert sent.seen["REMOTE_USER"] == "u-3"
        else:
            sent = call_asgi(asgi(multi), make_scope("/api/me", authorization=f"Bearer {token}"))
            assert sent.seen["user"].identity == "u-3"
        assert sent.status == 200
        assert hits() == before + (1 if round_ else 0)  # verified once, then answered from the cache


def test_a_resolver_only_validator_needs_a_realm():
    multi = MultiIssuerValidator(resolver=lambda iss: None)
    with pytest.raises(ValueError, match="pass realm="):
        JwtWsgiMiddleware(WsgiApp(), multi)
    assert JwtWsgiMiddleware(WsgiApp(), multi, realm="api.example.com").options.realm == "api.example.com"
    multi.close()


def test_resolver_issuers_never_touch_the_other_issuers_cache(issuers):
    shop, partner = issuers
    multi = MultiIssuerValidator(
        resolver=lambda iss: (
            WristbandJwtValidatorConfig(issuer=iss, jwks_url=partner.jwks_url) if iss == partner.issuer else None
        )
    )
    middleware = JwtAsgiMiddleware(AsgiApp(), multi, protect=["/api"], realm="api.example.com")
    ok = call_asgi(middleware, make_scope("/api/me", authorization=f"Bearer {partner.mint()}"))
    refused = call_asgi(middleware, make_scope("/api/me", authorization=f"Bearer {shop.mint()}"))
    assert ok.status == 200 and refused.status == 401 and not refused.app_called
    assert multi.issuers == (partner.issuer,)
    multi.close()

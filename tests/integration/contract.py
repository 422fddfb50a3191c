"""What every protected example must do through a real server, whatever the framework.

Each example serves ``/healthz`` without a token, ``/api/me`` (``sub``, ``scopes`` and
``claims`` as JSON) for any valid token, and ``/api/admin`` only for tokens with the
``admin`` scope. A test module subclasses :class:`HttpContract` and provides a
module-scoped ``server`` fixture; ``issuer`` comes from the conftest.
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import Dict, List

import pytest

from wristband_mw.testing import LocalIssuer

from .support import Response, Server, connection


def assert_refused(response: Response, status: int, error: str | None, token: str | None = None) -> None:
    """An RFC 6750 refusal from the middleware, as it reached the client."""
    assert response.status == status, (response.status, response.body)
    challenge = response.header("WWW-Authenticate") or ""
    assert challenge.startswith('Bearer realm="127.0.0.1:'), challenge
    if error is None:
        assert "error=" not in challenge
    else:
        assert f'error="{error}"' in challenge
    assert response.header("Content-Type") == "application/json"
    assert response.header("Cache-Control") == "no-store"
    body = response.json()
    assert body["error"] == (error or "unauthorized")
    assert body["error_description"]
    if token is not None:
        assert token.encode() not in response.body
        assert token not in str(response.headers)


BYPASS_ATTEMPTS = [
    "//api/me",
    "/api//me",
    "/api/./me",
    "/x/../api/me",
    "/healthz/../api/me",
    "/healthz/%2e%2e/api/me",
    "/healthz/..%2fapi/me",
    "/healthz%2f..%2fapi/me",
    "/%2e/api/me",
    "/api%2Fme",
    "/api/me/",
]


# A browser's CORS preflight: the middleware lets it through without a token
# (cors_preflight=True), so the app behind it must answer it without running the view.
PREFLIGHT_HEADERS = [
    ("Origin", "https://app.example"),
    ("Access-Control-Request-Method", "GET"),
    ("Access-Control-Request-Headers", "authorization"),
]


def assert_preflight_did_not_run_the_handler(response: Response) -> None:
    """A protected handler that ran would answer its JSON (every one names ``sub``) or,
    finding no claims, fail with a 500: the preflight got neither."""
    assert response.status < 500, (response.status, response.body)
    assert b'"sub"' not in response.body and b'"admin"' not in response.body, (response.status, response.body)


class HttpContract:
    """The shared checks; subclasses are collected as ``Test...`` classes."""

    # A method the middleware refuses while the app would route it (Litestar's per-route
    # stack answers 405 itself to a method no handler takes, before the middleware runs).
    refused_body_method = "POST"

    @pytest.mark.parametrize("path", ["/api/me", "/api/admin"])
    def test_preflight_never_reaches_a_protected_handler(self, server: Server, path: str) -> None:
        response = server.request(path, method="OPTIONS", headers=PREFLIGHT_HEADERS)
        assert_preflight_did_not_run_the_handler(response)
        # An OPTIONS that is not a preflight is an ordinary request: it needs a token.
        assert server.request(path, method="OPTIONS").status == 401

    def test_health_needs_no_token(self, server: Server) -> None:
        response = server.request("/healthz")
        assert response.status == 200
        assert response.json() == {"status": "ok"}

    def test_valid_token_reaches_the_app_with_its_claims(self, server: Server, issuer: LocalIssuer) -> None:
        token = issuer.mint(sub="user-42", scope="openid orders:read")
        response = server.request("/api/me", token=token)
        assert response.status == 200, response.body
        data = response.json()
        assert data["sub"] == "user-42"
        assert data["scopes"] == ["openid", "orders:read"]
        assert data["claims"]["iss"] == issuer.issuer
        assert data["claims"]["sub"] == "user-42"

    def test_no_token_is_challenged(self, server: Server) -> None:
        assert_refused(server.request("/api/me"), 401, None)

    def test_another_scheme_is_challenged(self, server: Server) -> None:
        assert_refused(server.request("/api/me", headers=[("Authorization", "Basic dXNlcjpwYXNz")]), 401, None)

    def test_expired_token_is_refused(self, server: Server, issuer: LocalIssuer) -> None:
        token = issuer.mint(exp_in=-60)
        response = server.request("/api/me", token=token)
        assert_refused(response, 401, "invalid_token", token)
        assert response.json()["error_description"] == "The access token expired"

    def test_token_signed_with_an_unpublished_key_is_refused(self, server: Server, issuer: LocalIssuer) -> None:
        token = issuer.mint(kid=issuer.add_key(publish=False))
        assert_refused(server.request("/api/me", token=token), 401, "invalid_token", token)

    def test_tampered_token_is_refused(self, server: Server, issuer: LocalIssuer) -> None:
        header, _, signature = issuer.mint(sub="user-1").split(".")
        forged = ".".join([header, issuer.mint(sub="admin-1").split(".")[1], signature])
        assert_refused(server.request("/api/me", token=forged), 401, "invalid_token", forged)

    def test_malformed_header_is_a_bad_request(self, server: Server) -> None:
        response = server.request("/api/me", headers=[("Authorization", "Bearer not a token")])
        assert_refused(response, 400, "invalid_request")

    def test_two_authorization_headers_are_a_bad_request(self, server: Server, issuer: LocalIssuer) -> None:
        token = issuer.mint()
        headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
        assert_refused(server.request("/api/me", headers=headers), 400, "invalid_request", token)

    def test_non_ascii_header_is_a_bad_request(self, server: Server) -> None:
        # http.client sends str headers as latin-1: the server gets the raw byte 0xE9
        response = server.request("/api/me", headers=[("Authorization", "Bearer caf\xe9")])
        if server.is_granian_wsgi:  # granian hands WSGI apps such a header as "" (seen as no credentials)
            assert_refused(response, 401, None)
        else:
            assert_refused(response, 400, "invalid_request")

    def test_scheme_is_case_insensitive(self, server: Server, issuer: LocalIssuer) -> None:
        response = server.request("/api/me", headers=[("Authorization", "bEaReR " + issuer.mint(sub="case"))])
        assert response.status == 200, response.body
        assert response.json()["sub"] == "case"

    def test_oversized_token_is_refused_without_a_server_error(self, server: Server, issuer: LocalIssuer) -> None:
        token = issuer.mint(padding="x" * 9_000)  # past max_token_bytes (8 KiB)
        response = server.request("/api/me", token=token)
        if response.status == 431:  # the server's own header size limit came first (gunicorn: 8190 bytes)
            return
        assert_refused(response, 401, "invalid_token", token)
        assert response.json()["error_description"] == "The access token is too large"

    def test_token_in_the_query_string_is_not_accepted(self, server: Server, issuer: LocalIssuer) -> None:
        # percent-encoded whole: the app sees the token, the access log (which records URLs) does not
        encoded = "".join(f"%{ord(char):02X}" for char in issuer.mint())
        assert_refused(server.request("/api/me?access_token=" + encoded), 401, None)

    def test_head_is_refused_without_a_body(self, server: Server) -> None:
        response = server.request("/api/me", method="HEAD")
        assert response.status == 401
        assert response.body == b""
        assert (response.header("WWW-Authenticate") or "").startswith("Bearer ")

    def test_missing_scope_is_forbidden(self, server: Server, issuer: LocalIssuer) -> None:
        token = issuer.mint(scope="openid")
        response = server.request("/api/admin", token=token)
        assert_refused(response, 403, "insufficient_scope", token)
        assert 'scope="admin"' in (response.header("WWW-Authenticate") or "")

    def test_admin_scope_is_let_through(self, server: Server, issuer: LocalIssuer) -> None:
        response = server.request("/api/admin", token=issuer.mint(sub="root-1", scope="openid admin"))
        assert response.status == 200, response.body
        assert response.json() == {"sub": "root-1", "admin": True}

    def test_unread_body_of_a_refused_request_is_not_parsed_as_a_request(
        self, server: Server, issuer: LocalIssuer
    ) -> None:
        # The middleware refuses without reading the body. The server must then drain it or
        # close the connection (gunicorn gthread and granian close it), never read the body
        # as the next request on the connection.
        smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 2000
        headers = {"Authorization": "Bearer " + issuer.mint(sub="next")}
        with connection(server.port) as conn:
            conn.request(self.refused_body_method, "/api/me", body=smuggled, headers={"Content-Type": "text/plain"})
            refused = conn.getresponse()
            assert refused.status == 401
            refused.read()
            try:
                conn.request("GET", "/api/me", headers=headers)
                response = conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()  # closed by the server: the next request goes on a new connection
                conn.request("GET", "/api/me", headers=headers)
                response = conn.getresponse()
            assert response.status == 200
            assert json.loads(response.read())["sub"] == "next"

    @pytest.mark.parametrize("path", BYPASS_ATTEMPTS)
    def test_path_tricks_do_not_bypass_the_check(self, server: Server, path: str) -> None:
        response = server.request(path)
        assert response.status == 401, (path, response.status, response.body)

    def test_absolute_form_request_target_is_checked(self, server: Server) -> None:
        response = server.request(f"http://127.0.0.1:{server.port}/api/me")
        # uvicorn's h11 protocol leaves the absolute-form target in scope["path"]: neither the
        # middleware nor the router then sees /api/me, and the app answers 404, never 200.
        assert response.status in (401, 404), (response.status, response.body)

    def test_concurrent_requests_each_get_their_own_claims(self, server: Server, issuer: LocalIssuer) -> None:
        tokens = {f"user-{n}": issuer.mint(sub=f"user-{n}") for n in range(24)}
        seen: Dict[str, List[object]] = {sub: [] for sub in tokens}

        def call(sub: str) -> None:
            response = server.request("/api/me", token=tokens[sub])
            seen[sub].append(response.json().get("sub") if response.status == 200 else response.status)

        threads = [threading.Thread(target=call, args=(sub,)) for sub in tokens for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in threads)
        assert seen == {sub: [sub, sub] for sub in tokens}

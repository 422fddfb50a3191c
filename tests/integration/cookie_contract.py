"""What a browser-like client sees from tests/integration/cookie_app.py over a real socket.

Each request is what a browser sends: the token in a ``Cookie`` header, with or without
``Origin``/``Referer``, as a same-site or a cross-site page would cause.
"""

from __future__ import annotations

from typing import Any, List, Tuple

from wristband_mw.testing import LocalIssuer

from .support import Response, Server

APP = "https://app.example.com"
EVIL = "https://evil.example"


def cookie(token: str) -> Tuple[str, str]:
    return ("Cookie", f"theme=dark; __Host-at={token}")


def assert_csrf_refused(response: Response) -> None:
    assert response.status == 403, response.body
    assert response.json()["error"] == "csrf_refused"
    challenge = response.header("WWW-Authenticate") or ""
    assert challenge.startswith("Bearer realm=") and 'error="csrf_refused"' in challenge
    assert b"evil" not in response.body and "evil" not in challenge


class CookieContract:
    def test_cookie_token_on_a_safe_method(self, server: Server, issuer: LocalIssuer) -> None:
        response = server.request("/api/me", headers=[cookie(issuer.mint(sub="alice"))])
        assert response.status == 200, response.body
        assert response.json() == {"user": "alice", "method": "GET"}

    def test_unsafe_method_from_the_trusted_origin(self, server: Server, issuer: LocalIssuer) -> None:
        headers = [cookie(issuer.mint(sub="alice")), ("Origin", APP)]
        response = server.request("/api/orders", method="POST", headers=headers, body=b"{}")
        assert response.status == 200, response.body
        assert response.json() == {"user": "alice", "method": "POST"}

    def test_unsafe_method_from_another_origin_is_refused(self, server: Server, issuer: LocalIssuer) -> None:
        token = issuer.mint(sub="alice")
        response = server.request("/api/orders", method="POST", headers=[cookie(token), ("Origin", EVIL)], body=b"{}")
        assert_csrf_refused(response)
        assert token.encode() not in response.body

    def test_unsafe_method_without_origin_or_referer_is_refused(self, server: Server, issuer: LocalIssuer) -> None:
        assert_csrf_refused(server.request("/api/orders", method="DELETE", headers=[cookie(issuer.mint())]))

    def test_referer_when_origin_is_absent(self, server: Server, issuer: LocalIssuer) -> None:
        token = issuer.mint(sub="alice")
        ok = server.request("/api/orders", method="PUT", headers=[cookie(token), ("Referer", f"{APP}/cart")])
        assert ok.status == 200, ok.body
        assert_csrf_refused(server.request("/api/orders", method="PUT", headers=[cookie(token), ("Referer", EVIL)]))

    def test_csrf_header(self, server: Server, issuer: LocalIssuer) -> None:
        headers: List[Any] = [cookie(issuer.mint(sub="alice")), ("X-Requested-With", "XMLHttpRequest")]
        response = server.request("/api/orders", method="POST", headers=headers, body=b"{}")
        assert response.status == 200, response.body

    def test_cookie_and_authorization_together_are_400(self, server: Server, issuer: LocalIssuer) -> None:
        token = issuer.mint()
        response = server.request("/api/me", token=token, headers=[cookie(token)])
        assert response.status == 400, response.body
        assert response.json()["error"] == "invalid_request"

    def test_two_cookie_headers(self, server: Server, issuer: LocalIssuer) -> None:
        token = issuer.mint(sub="alice")
        response = server.request("/api/me", headers=[("Cookie", "theme=dark"), ("Cookie", f"__Host-at={token}")])
        assert response.status == 200, response.body
        other = issuer.mint(sub="mallory")
        tossed = server.request("/api/me", headers=[("Cookie", f"__Host-at={token}"), ("Cookie", f"__Host-at={other}")])
        assert tossed.status == 400, tossed.body

    def test_authorization_header_still_works(self, server: Server, issuer: LocalIssuer) -> None:
        response = server.request("/api/orders", method="POST", token=issuer.mint(sub="bob"), body=b"{}")
        assert response.status == 200 and response.json()["user"] == "bob"
        assert server.request("/api/me").status == 401

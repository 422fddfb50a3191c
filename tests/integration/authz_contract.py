"""What both authz_app servers (WSGI and ASGI) must do with shared-secret tokens and the
authorization options (issue 13 sections 2 and 3), over real sockets."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

from wristband_mw.testing import LocalIssuer

from .support import Server, server_env

CLAIMS_REFUSED = "The access token's claims do not permit this request"


@pytest.fixture(scope="module")
def hs_issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(algorithm="HS256") as local:
        yield local


@pytest.fixture(scope="module")
def denylist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("authz") / "denylist.txt"
    path.write_text("")
    return path


def authz_env(hs_issuer: LocalIssuer, denylist: Path, here: Path) -> Dict[str, str]:
    secret = hs_issuer.hmac_secret or b""
    path = os.pathsep.join(filter(None, [str(here), os.environ.get("PYTHONPATH")]))
    extra = {"WRISTBAND_HMAC_SECRET": secret.hex(), "WRISTBAND_DENYLIST": str(denylist), "PYTHONPATH": path}
    env = server_env(hs_issuer, extra)
    env.pop("WRISTBAND_JWKS_URL")
    return env


def mint(issuer: LocalIssuer, **claims: Any) -> str:
    """An apojwt-style token: typ JWT, no kid, permissions in ``perms``."""
    return issuer.mint(headers={"kid": None, "typ": "JWT"}, **claims)


class AuthorizationContract:
    """The shared checks; a test module provides the ``server`` fixture."""

    orders_forbidden_by_app: bool = False  # Starlette's @requires answers 403 itself

    def test_shared_secret_tokens_and_perms(self, server: Server, hs_issuer: LocalIssuer) -> None:
        response = server.request("/api/orders", token=mint(hs_issuer, sub="svc-1", scope=None, perms=["orders:read"]))
        assert response.status == 200, response.body
        assert response.json()["scopes"] == ["orders:read"]
        refused = server.request("/api/orders", token=mint(hs_issuer, scope="openid", perms=["x"]))
        assert refused.status == 403

    def test_a_wrong_secret_or_an_rs256_token_is_refused(self, server: Server, hs_issuer: LocalIssuer) -> None:
        with (
            LocalIssuer(issuer=hs_issuer.issuer, algorithm="HS256") as other,
            LocalIssuer(issuer=hs_issuer.issuer) as rs,
        ):
            for token, description in [
                (mint(other, perms=["orders:read"]), "The access token signature is invalid"),
                (rs.mint(perms=["orders:read"]), "The access token is signed with an algorithm that is not allowed"),
            ]:
                response = server.request("/api/orders", token=token)
                assert response.status == 401, response.body
                assert response.json()["error_description"] == description

    def test_claim_rules_and_admin(self, server: Server, hs_issuer: LocalIssuer) -> None:
        ok = server.request("/api/tenant/a", token=mint(hs_issuer, perms=["tenant:read"], tnt_id="t-2"))
        assert ok.status == 200, ok.body
        other = server.request("/api/tenant/a", token=mint(hs_issuer, perms=["tenant:read"], tnt_id="tenant-4711"))
        assert other.status == 403
        assert other.json() == {"error": "insufficient_scope", "error_description": CLAIMS_REFUSED}
        assert b"tenant-4711" not in other.body and "tenant-4711" not in str(other.headers)
        admin = server.request("/api/tenant/a", token=mint(hs_issuer, scope="admin", tnt_id="t-1"))
        assert admin.status == 200, admin.body  # admin_scope stands in for tenant:read
        admin_elsewhere = server.request("/api/tenant/a", token=mint(hs_issuer, scope="admin", tnt_id="t-9"))
        assert admin_elsewhere.status == 403  # but not for the claim rule

    def test_revocation_reaches_cached_tokens(self, server: Server, hs_issuer: LocalIssuer, denylist: Path) -> None:
        token = mint(hs_issuer, perms=["tenant:read"], tnt_id="t-1", jti="jti-revoke-me")
        for _ in range(3):  # the later ones are verified-token cache hits (per worker)
            assert server.request("/api/tenant/a", token=token).status == 200
        denylist.write_text("jti-revoke-me\n")
        try:
            for _ in range(3):
                response = server.request("/api/tenant/a", token=token)
                assert response.status == 401, response.body
                assert response.json()["error_description"] == "token revoked"
                assert 'error="invalid_token"' in (response.header("WWW-Authenticate") or "")
        finally:
            denylist.write_text("")

    def test_a_failing_hook_fails_closed_and_logs_once(self, server: Server, hs_issuer: LocalIssuer) -> None:
        token = mint(hs_issuer, perms=["tenant:read"], tnt_id="t-1", jti="boom")
        for _ in range(4):
            response = server.request("/api/tenant/a", token=token)
            assert response.status == 401
            assert response.json()["error_description"] == "The token's revocation status could not be checked"
        deadline = time.monotonic() + 5
        while "is_revoked hook failed" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = server.log()
        # Once per streak and per worker process (gunicorn runs two).
        assert 1 <= log.count("is_revoked hook failed") <= self.worker_processes, log
        assert "eyJ" not in log and (hs_issuer.hmac_secret or b"").hex() not in log

    worker_processes: int = 1


def assert_log_clean_but_for_the_hook(server: Server) -> None:
    """No token, no 500, and no traceback but those of the failing hook (one per streak)."""
    log = server.log()
    for marker in ("eyJ", "Exception in ASGI", "Internal Server Error", "Warning:"):
        assert marker not in log, f"server log contains {marker!r}:\n{log}"
    assert log.count("Traceback") == log.count("is_revoked hook failed"), log

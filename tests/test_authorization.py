"""Authorization beyond scopes (issue 13 section 3), on both adapters: scope_claims,
admin_scope, claims= rules and the is_revoked hook.

Real tokens from the shared loopback issuer, real validators; each request goes through
the adapter drivers of ``support.adapters`` (a WSGI environ, an ASGI scope).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from typing import Any, Dict, List

import pytest
from support.adapters import ADAPTERS, ASGI, WSGI, Adapter
from support.drive import call_asgi, drive_asgi, make_scope
from support.refusals import assert_no_leak, assert_refusal

from wristband_mw import JWTPayload, JwtWsgiMiddleware, MiddlewareOptions
from wristband_mw.authorization import ClaimRequirement, RevocationCheck
from wristband_mw.flow import Flow
from wristband_mw.identity import CLAIMS_KEY
from wristband_mw.payload import JwtValidationResult
from wristband_mw.policy import Rule

CLAIMS_REFUSED = "The access token's claims do not permit this request"


@pytest.fixture(params=ADAPTERS, ids=[adapter.name for adapter in ADAPTERS])
def adapter(request: pytest.FixtureRequest) -> Adapter:
    return request.param  # type: ignore[no-any-return]


def granted(adapter: Adapter, seen: Dict[str, Any]) -> List[str]:
    """The scopes the app sees: the claims' ``scopes`` (both), and ``scope["auth"].scopes`` (ASGI)."""
    payload = seen[CLAIMS_KEY]
    if adapter is ASGI:
        assert list(seen["auth"].scopes) == list(payload.scopes)
    return list(payload.scopes)


def errors_logged(caplog: pytest.LogCaptureFixture) -> List[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "wristband_mw" and r.levelno >= logging.ERROR]


# -- scope_claims ------------------------------------------------------------------------------


def test_perms_grant_nothing_by_default(adapter, validator, issuer):
    token = issuer.mint(scope="openid", perms=["orders:read"])
    sent = adapter.get(adapter.middleware(validator, required_scopes=["orders:read"]), authorization="Bearer " + token)
    assert_refusal(sent, 403, "insufficient_scope")


def test_scope_claims_feed_every_scope_check_and_the_app(adapter, validator, issuer):
    token = issuer.mint(scope="openid", perms=["orders:read", "orders:write"])
    middleware = adapter.middleware(
        validator, scope_claims=["scope", "perms"], scopes={"/api/orders": ["orders:write"]}
    )
    sent = adapter.get(middleware, "/api/orders/1", authorization="Bearer " + token)
    assert sent.status == 200, sent.body
    assert granted(adapter, sent.seen) == ["openid", "orders:read", "orders:write"]
    # A second request is answered from the verified-token cache: same answer, same view.
    again = adapter.get(middleware, "/api/orders/1", authorization="Bearer " + token)
    assert again.status == 200
    assert again.seen[CLAIMS_KEY] is sent.seen[CLAIMS_KEY]
    # The validator's own answer keeps the seed's claims (scope, scp, permissions).
    assert validator.validate(token).payload.scopes == ("openid",)


def test_scope_claims_read_strings_and_lists_and_ignore_the_rest(adapter, validator, issuer):
    token = issuer.mint(scope=None, perms="a b", roles=["c", 1, None, "a"], extra=5)
    middleware = adapter.middleware(validator, scope_claims=["perms", "roles", "extra", "absent"])
    sent = adapter.get(middleware, authorization="Bearer " + token)
    assert sent.status == 200
    assert granted(adapter, sent.seen) == ["a", "b", "c"]


def test_scope_claims_can_drop_the_default_claims(adapter, validator, issuer):
    token = issuer.mint(scope="admin", perms=["read"])
    middleware = adapter.middleware(validator, scope_claims=["perms"], required_scopes=["admin"])
    assert_refusal(adapter.get(middleware, authorization="Bearer " + token), 403, "insufficient_scope")


# -- admin_scope -------------------------------------------------------------------------------


def test_admin_scope_satisfies_every_scope_requirement(adapter, validator, issuer, caplog):
    admin = issuer.mint(sub="root", scope="openid", perms=["superuser"])
    options = {"scope_claims": ["scope", "perms"], "required_scopes": ["a"], "scopes": {"/api/x": ["b", "c"]}}
    sent = adapter.get(adapter.middleware(validator, **options), authorization="Bearer " + admin)
    assert_refusal(sent, 403, "insufficient_scope")
    middleware = adapter.middleware(validator, admin_scope="superuser", **options)
    with caplog.at_level(logging.DEBUG, logger="wristband_mw"):
        sent = adapter.get(middleware, authorization="Bearer " + admin)
        assert sent.status == 200
        assert adapter.get(middleware, authorization="Bearer " + admin).status == 200  # cached: same answer
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG and "admin scope" in r.getMessage()]
    assert len(debug) == 2 and "'superuser'" in debug[0] and "a b c" in debug[0]
    # A plain user is still held to the scopes.
    user = issuer.mint(scope="openid a b")
    assert_refusal(adapter.get(middleware, authorization="Bearer " + user), 403, "insufficient_scope")


def test_admin_scope_does_not_bypass_claim_rules(adapter, validator, issuer):
    admin = issuer.mint(scope="admin", tnt_id="t-2")
    middleware = adapter.middleware(validator, admin_scope="admin", claims={"/api": {"tnt_id": "t-1"}})
    assert_refusal(adapter.get(middleware, authorization="Bearer " + admin), 403, "insufficient_scope")


# -- claims= rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("required", "value", "allowed"),
    [
        ("t-1", "t-1", True),
        ("t-1", "t-2", False),
        ("t-1", ["t-1"], False),  # exact: a list claim never equals a string
        (["t-1", "t-3"], "t-3", True),  # one of
        (("t-1", "t-3"), "t-2", False),
        (7, 7, True),
        (7, "7", False),
        (True, True, True),
        (True, 1, False),  # by type: True is not 1
        (1, True, False),
        (lambda v: isinstance(v, str) and v.startswith("t-"), "t-9", True),
        (lambda v: isinstance(v, str) and v.startswith("t-"), "x-9", False),
        (lambda v: "t-9", "t-9", False),  # only True passes, not a truthy value
    ],
)
def test_claim_rule_values(adapter, validator, issuer, required, value, allowed):
    token = issuer.mint(tnt_id=value)
    middleware = adapter.middleware(validator, claims={"/api/tenant": {"tnt_id": required}})
    sent = adapter.get(middleware, "/api/tenant/orders", authorization="Bearer " + token)
    if allowed:
        assert sent.status == 200, sent.body
    else:
        challenge = assert_refusal(sent, 403, "insufficient_scope")
        assert sent.json["error_description"] == CLAIMS_REFUSED
        assert "scope" not in challenge  # no scope is missing: nothing to ask for
    assert adapter.get(middleware, "/api/other", authorization="Bearer " + token).status == 200


def test_a_refusal_never_echoes_claim_values(adapter, validator, issuer):
    token = issuer.mint(tnt_id="tenant-secret-4711", sub="user-secret-0815")
    middleware = adapter.middleware(validator, claims={"/api": {"tnt_id": "t-1", "sub": "nobody"}})
    sent = adapter.get(middleware, authorization="Bearer " + token)
    assert_refusal(sent, 403, "insufficient_scope")
    assert_no_leak(sent, "tenant-secret-4711", "user-secret-0815", "tnt_id", token)


def test_a_missing_claim_fails_and_the_predicate_is_not_called(adapter, validator, issuer):
    calls: List[Any] = []
    middleware = adapter.middleware(validator, claims={"/api": {"org_id": lambda v: calls.append(v) or True}})
    assert_refusal(adapter.get(middleware, authorization="Bearer " + issuer.mint()), 403, "insufficient_scope")
    assert calls == []


def test_every_claim_of_a_rule_must_hold(adapter, validator, issuer):
    middleware = adapter.middleware(validator, claims={"/api": {"tnt_id": "t-1", "plan": ["pro", "team"]}})
    assert adapter.get(middleware, authorization="Bearer " + issuer.mint(tnt_id="t-1", plan="team")).status == 200
    sent = adapter.get(middleware, authorization="Bearer " + issuer.mint(tnt_id="t-1", plan="free"))
    assert_refusal(sent, 403, "insufficient_scope")


def test_longest_claims_prefix_wins_and_scopes_apply_independently(adapter, validator, issuer):
    middleware = adapter.middleware(
        validator,
        scopes={"/api": ["read"]},
        claims={"/api/tenant": {"tnt_id": "t-1"}, "/api/tenant/public": {}},
    )
    both = issuer.mint(scope="read", tnt_id="t-1")
    no_scope = issuer.mint(scope="openid", tnt_id="t-1")
    other_tenant = issuer.mint(scope="read", tnt_id="t-2")
    for path, token, status in [
        ("/api/tenant/a", both, 200),
        ("/api/tenant/a", no_scope, 403),  # the /api scopes still apply under /api/tenant
        ("/api/tenant/a", other_tenant, 403),
        ("/api/tenant/public/a", other_tenant, 200),  # its own (empty) claims rule is the longest
        ("/api/tenant/public/a", no_scope, 403),
        ("/api/else", other_tenant, 200),
    ]:
        assert adapter.get(middleware, path, authorization="Bearer " + token).status == status, (path, status)


def test_claims_prefix_spellings_are_matched_like_scopes(adapter, validator, issuer):
    middleware = adapter.middleware(validator, protect=["/public-none"], claims={"/api/tenant": {"tnt_id": "t-1"}})
    token = issuer.mint(tnt_id="t-2")
    for path in ("/api/tenant", "/api//tenant/x", "/api/x/../tenant", "/API/Tenant/x", "/api/%74enant"):
        sent = adapter.get(middleware, path, authorization="Bearer " + token)
        assert sent.status == 403, path
    assert adapter.get(middleware, "/api/tenant").status == 401  # a claims prefix needs a token


def test_a_raising_predicate_fails_closed_and_logs_once_per_streak(adapter, validator, issuer, caplog):
    healthy = threading.Event()

    def flaky(value: Any) -> bool:
        if not healthy.is_set():
            raise RuntimeError("directory down")
        return value == "t-1"

    middleware = adapter.middleware(validator, claims={"/api": {"tnt_id": flaky}})
    token = "Bearer " + issuer.mint(tnt_id="t-1")
    with caplog.at_level(logging.DEBUG, logger="wristband_mw"):
        for _ in range(3):
            assert_refusal(adapter.get(middleware, authorization=token), 403, "insufficient_scope")
        assert len(errors_logged(caplog)) == 1
        assert "directory down" in caplog.text  # the traceback, for the operator
        healthy.set()
        assert adapter.get(middleware, authorization=token).status == 200
        healthy.clear()
        assert_refusal(adapter.get(middleware, authorization=token), 403, "insufficient_scope")
        assert len(errors_logged(caplog)) == 2  # a new streak is logged again


def test_an_async_predicate_never_passes(adapter, validator, issuer, caplog):
    async def predicate(value: Any) -> bool:
        return True

    middleware = adapter.middleware(validator, claims={"/api": {"tnt_id": predicate}})
    with caplog.at_level(logging.DEBUG, logger="wristband_mw"):
        sent = adapter.get(middleware, authorization="Bearer " + issuer.mint(tnt_id="t-1"))
    assert_refusal(sent, 403, "insufficient_scope")
    assert "awaitable" in caplog.text


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"api": {"a": "b"}}, "starting with '/'"),
        ({"/api": "tnt_id"}, "must map claim names"),
        ({"/api": {"": "x"}}, "non-empty strings"),
        ({"/api": {"a": 1.5}}, "must be a string, integer or boolean"),
        ({"/api": {"a": None}}, "must be a string, integer or boolean"),
        ({"/api": {"a": []}}, "must be a string, integer or boolean"),
        ({"/api": {"a": ["x", 1.5]}}, "strings, integers or booleans"),
        (["/api"], "must map path prefixes"),
    ],
)
def test_bad_claims_options_are_refused(claims, message):
    with pytest.raises(ValueError, match=message):
        MiddlewareOptions(claims=claims)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"scope_claims": "perms"}, "list of claim names"),
        ({"scope_claims": []}, "non-empty list"),
        ({"scope_claims": ["scope", 3]}, "non-empty list"),
        ({"admin_scope": "super user"}, "admin_scope"),
        ({"admin_scope": ""}, "admin_scope"),
        ({"is_revoked": "yes"}, "is_revoked"),
    ],
)
def test_bad_authorization_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        MiddlewareOptions(**options)


def test_options_keep_what_was_passed():
    options = MiddlewareOptions(scope_claims=["scope", "perms", "scope"], claims={"/api/": {"tnt_id": ["a", "b"]}})
    assert options.scope_claims == ("scope", "perms")
    assert dict(options.claims["/api/"]) == {"tnt_id": ["a", "b"]}  # type: ignore[index]
    ((prefix, (requirement,)),) = options.claim_rules
    assert prefix == "/api" and requirement.name == "tnt_id" and requirement.allowed == ("a", "b")


def test_flow_verdict_applies_scope_claims_admin_and_claims(validator, issuer):
    flow = Flow(validator, MiddlewareOptions(scope_claims=["perms"], admin_scope="root"))
    payload = JWTPayload({"perms": ["root"], "tnt_id": "t-1"})
    result = JwtValidationResult(True, payload)
    verdict = flow.verdict(result, Rule(("orders:read",)))
    assert isinstance(verdict, JWTPayload) and verdict.scopes == ("root",)
    refused = flow.verdict(result, Rule((), (ClaimRequirement("tnt_id", "t-2"),)))
    assert not isinstance(refused, JWTPayload) and refused.status == 403


# -- is_revoked --------------------------------------------------------------------------------


class Denylist:
    """A revocation hook by ``jti``, recording what it was asked and from which thread."""

    def __init__(self) -> None:
        self.revoked: set = set()
        self.asked: List[Any] = []
        self.threads: List[int] = []
        self.failing = False

    def __call__(self, claims: JWTPayload) -> bool:
        self.asked.append(claims.get("jti"))
        self.threads.append(threading.get_ident())
        if self.failing:
            raise ConnectionError("denylist unreachable")
        return claims.get("jti") in self.revoked


def test_a_revoked_token_is_refused_even_from_the_verified_token_cache(adapter, validator, issuer):
    denylist = Denylist()
    middleware = adapter.middleware(validator, is_revoked=denylist)
    token = issuer.mint(jti="jti-cached")
    assert adapter.get(middleware, authorization="Bearer " + token).status == 200
    assert adapter.get(middleware, authorization="Bearer " + token).status == 200  # now a cache hit
    hits = validator.stats()["verified_token_cache_hits"]
    denylist.revoked.add("jti-cached")
    sent = adapter.get(middleware, authorization="Bearer " + token)
    challenge = assert_refusal(sent, 401, "invalid_token")
    assert sent.json["error_description"] == "token revoked"
    assert challenge["error_description"] == "token revoked"
    assert validator.stats()["verified_token_cache_hits"] > hits  # the token was still verified from cache
    assert denylist.asked == ["jti-cached"] * 3
    assert adapter.get(middleware, authorization="Bearer " + issuer.mint(jti="other")).status == 200


def test_the_hook_gets_the_verified_claims_the_app_sees(adapter, validator, issuer):
    seen: List[JWTPayload] = []
    middleware = adapter.middleware(validator, scope_claims=["perms"], is_revoked=lambda c: seen.append(c) or False)
    sent = adapter.get(middleware, authorization="Bearer " + issuer.mint(sub="u-7", perms=["p"]))
    assert sent.status == 200
    assert seen[0] is sent.seen[CLAIMS_KEY] and seen[0].sub == "u-7" and seen[0].scopes == ("p",)


def test_the_hook_is_not_asked_for_bad_tokens_or_unprotected_paths(adapter, validator, issuer):
    denylist = Denylist()
    middleware = adapter.middleware(validator, protect=["/api"], is_revoked=denylist)
    assert adapter.get(middleware, "/public").status == 200
    assert adapter.get(middleware, authorization="Bearer " + issuer.mint(exp_in=-60)).status == 401
    assert denylist.asked == []


def test_a_raising_hook_fails_closed_and_logs_once_per_streak(adapter, validator, issuer, caplog):
    denylist = Denylist()
    denylist.failing = True
    middleware = adapter.middleware(validator, is_revoked=denylist)
    token = "Bearer " + issuer.mint(jti="j-1")
    with caplog.at_level(logging.DEBUG, logger="wristband_mw"):
        for _ in range(3):
            sent = adapter.get(middleware, authorization=token)
            assert_refusal(sent, 401, "invalid_token")
            assert sent.json["error_description"] == "The token's revocation status could not be checked"
        assert len(errors_logged(caplog)) == 1 and "denylist unreachable" in caplog.text
        denylist.failing = False
        assert adapter.get(middleware, authorization=token).status == 200
        denylist.failing = True
        assert adapter.get(middleware, authorization=token).status == 401
    assert len(errors_logged(caplog)) == 2


@pytest.mark.parametrize("answer", [None, 1, "yes", 0])
def test_a_hook_answering_anything_but_a_bool_fails_closed(adapter, validator, issuer, answer, caplog):
    middleware = adapter.middleware(validator, is_revoked=lambda claims: answer)
    with caplog.at_level(logging.ERROR, logger="wristband_mw"):
        assert_refusal(adapter.get(middleware, authorization="Bearer " + issuer.mint()), 401, "invalid_token")
    assert "not True or False" in caplog.text


def test_wsgi_calls_the_hook_inline_and_refuses_an_async_one(validator, issuer):
    denylist = Denylist()
    middleware = WSGI.middleware(validator, is_revoked=denylist)
    assert WSGI.get(middleware, authorization="Bearer " + issuer.mint()).status == 200
    assert denylist.threads == [threading.get_ident()]

    async def revoked(claims: JWTPayload) -> bool:
        return False

    with pytest.raises(ValueError, match="async"):
        JwtWsgiMiddleware(lambda environ, start_response: [], validator, is_revoked=revoked)


def test_wsgi_fails_closed_on_a_hook_that_returns_a_coroutine(validator, issuer, caplog):
    async def revoked(claims: JWTPayload) -> bool:
        return False

    middleware = WSGI.middleware(validator, is_revoked=lambda claims: revoked(claims))
    with caplog.at_level(logging.ERROR, logger="wristband_mw"):
        assert_refusal(WSGI.get(middleware, authorization="Bearer " + issuer.mint()), 401, "invalid_token")
    assert "cannot await" in caplog.text


def test_asgi_runs_a_sync_hook_off_the_event_loop(validator, issuer):
    denylist = Denylist()
    middleware = ASGI.middleware(validator, is_revoked=denylist)
    token = "Bearer " + issuer.mint()
    assert ASGI.get(middleware, authorization=token).status == 200
    assert ASGI.get(middleware, authorization=token).status == 200  # cached: still asked, still off the loop
    assert len(denylist.threads) == 2
    assert threading.get_ident() not in denylist.threads  # the drivers run the loop in this thread


def test_asgi_awaits_an_async_hook_on_the_loop(validator, issuer):
    loops: List[Any] = []
    revoked = {"j-revoked"}

    async def is_revoked(claims: JWTPayload) -> bool:
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0)
        return claims.get("jti") in revoked

    middleware = ASGI.middleware(validator, is_revoked=is_revoked)
    assert ASGI.get(middleware, authorization="Bearer " + issuer.mint(jti="j-ok")).status == 200
    sent = ASGI.get(middleware, authorization="Bearer " + issuer.mint(jti="j-revoked"))
    assert_refusal(sent, 401, "invalid_token")
    assert len(loops) == 2


def test_asgi_awaits_an_async_callable_object(validator, issuer):
    class Hook:
        async def __call__(self, claims: JWTPayload) -> bool:
            return True

    assert RevocationCheck(Hook()).is_async
    middleware = ASGI.middleware(validator, is_revoked=Hook())
    assert_refusal(ASGI.get(middleware, authorization="Bearer " + issuer.mint()), 401, "invalid_token")


def test_a_revoked_token_in_a_websocket_query_parameter_is_refused(validator, issuer):
    token = issuer.mint(jti="ws-revoked")
    middleware = ASGI.middleware(
        validator, websocket_query_param="access_token", is_revoked=lambda c: c.jti == "ws-revoked"
    )
    scope = make_scope("/ws", type="websocket", query_string=f"access_token={token}".encode())
    sent = call_asgi(middleware, scope, [{"type": "websocket.connect"}])
    assert not sent.app_called
    assert sent.messages[0]["type"] == "websocket.close"


def test_a_sync_hook_sees_the_request_context(validator, issuer):
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")
    seen: List[str] = []

    def hook(claims: JWTPayload) -> bool:
        seen.append(request_id.get())
        return False

    middleware = ASGI.middleware(validator, is_revoked=hook)

    async def request_with_context() -> Any:
        request_id.set("req-42")  # as a server or an outer middleware would, per request
        return await drive_asgi(middleware, ASGI.request(authorization="Bearer " + issuer.mint()))

    sent = asyncio.run(request_with_context())
    assert sent.status == 200 and seen == ["req-42"]


@pytest.mark.parametrize(
    "sources, place",
    [
        (["cookie:__Host-at"], lambda token: [("Cookie", f"__Host-at={token}")]),
        (["header:X-Access-Token"], lambda token: [("X-Access-Token", token)]),
        (["authorization", "cookie:__Host-at"], lambda token: [("Authorization", f"Bearer {token}")]),
    ],
    ids=["cookie", "header", "authorization-among-sources"],
)
def test_a_revoked_token_is_refused_from_every_token_source(adapter, validator, issuer, sources, place):
    denylist = Denylist()
    middleware = adapter.middleware(validator, token_sources=sources, is_revoked=denylist)
    token = issuer.mint(jti="jti-source")
    assert adapter.get(middleware, headers=place(token)).status == 200
    assert adapter.get(middleware, headers=place(token)).status == 200  # a verified-token cache hit
    denylist.revoked.add("jti-source")
    sent = adapter.get(middleware, headers=place(token))
    assert_refusal(sent, 401, "invalid_token")
    assert sent.json["error_description"] == "token revoked" and not sent.app_called
    assert denylist.asked == ["jti-source"] * 3

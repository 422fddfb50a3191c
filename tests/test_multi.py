"""MultiIssuerValidator (issue 12 section 2): routing by exact iss, isolation, and a bounded resolver."""

from __future__ import annotations

import asyncio
import os
import random
import re
import string
import threading
import time
from typing import Any, Dict, Iterator, List, Optional

import pytest
from support.clock import FakeClock
from support.tokens import forge

from wristband_mw import (
    ErrorCode,
    JwksError,
    MultiIssuerValidator,
    WristbandJwtValidatorConfig,
)
from wristband_mw.testing import LocalIssuer


@pytest.fixture(scope="module")
def shop() -> Iterator[LocalIssuer]:
    with LocalIssuer(issuer=None) as issuer:
        yield issuer


@pytest.fixture(scope="module")
def partner() -> Iterator[LocalIssuer]:
    with LocalIssuer() as issuer:
        yield issuer


@pytest.fixture
def multi(shop: LocalIssuer, partner: LocalIssuer) -> Iterator[MultiIssuerValidator]:
    validator = MultiIssuerValidator(
        [shop.validator(audience="orders-api"), partner.validator(discovery=True, audience="partner-api")]
    )
    yield validator
    validator.close()


def fetches(*issuers: LocalIssuer) -> int:
    return sum(i.fetch_count + i.discovery_count for i in issuers)


def test_tokens_are_routed_to_their_issuer_and_say_which_matched(multi, shop, partner):
    from_shop = multi.validate(shop.mint(aud="orders-api"))
    from_partner = multi.validate(partner.mint(aud="partner-api"))
    assert from_shop.is_valid and from_shop.payload.iss == shop.issuer
    assert from_partner.is_valid and from_partner.payload.iss == partner.issuer
    assert multi.issuers == (shop.issuer, partner.issuer)


def test_each_issuer_keeps_its_own_audience(multi, shop, partner):
    assert multi.validate(shop.mint(aud="partner-api")).error is ErrorCode.INVALID_AUDIENCE
    assert multi.validate(partner.mint(aud="orders-api")).error is ErrorCode.INVALID_AUDIENCE


@pytest.mark.parametrize(
    "iss",
    [None, "https://unknown.example", "", 42, ["x"], "HTTP://127.0.0.1", "\u202e"],
    ids=["missing", "unknown", "empty", "number", "array", "case", "control"],
)
def test_unknown_or_missing_iss_is_invalid_issuer_without_any_fetch(iss, shop, partner):
    multi = MultiIssuerValidator([shop.validator(), partner.validator(discovery=True)])
    before = fetches(shop, partner)
    token = shop.mint(iss=iss) if iss is not None else shop.mint(iss=None)
    result = multi.validate(token)
    assert result.error is ErrorCode.INVALID_ISSUER
    assert result.error_message.startswith("Invalid issuer. Expected one of the configured issuers, got ")
    assert "\u202e" not in result.error_message
    assert fetches(shop, partner) == before
    assert multi.stats()["unrouted"]["invalid_issuer"] == 1
    # Also a case variant of a configured issuer: compared exactly.
    upper = shop.issuer.replace("127.0.0.1", "127.0.0.1".upper()).replace("http", "HTTP")
    assert multi.validate(shop.mint(iss=upper)).error is ErrorCode.INVALID_ISSUER
    assert fetches(shop, partner) == before


def test_garbage_is_refused_as_the_single_validator_refuses_it(shop):
    single = shop.validator()
    multi = MultiIssuerValidator([shop.validator()])
    cases: List[Any] = [
        None,
        "",
        123,
        "a.b",
        "a.b.c.d",
        "é" * 5000,
        "x" * 9000,
        forge({"alg": "RS256"}, b'{"iss": 1e400}'),
        forge({"alg": "RS256"}, b'{"iss": "a", "iss": "b"}'),
        forge({"alg": "RS256"}, b"[" * 30 + b"]" * 30),
    ]
    for token in cases:
        expected, got = single.validate(token), multi.validate(token)
        assert (got.error, got.error_message) == (expected.error, expected.error_message), token


def test_a_key_of_one_issuer_never_verifies_another_issuers_token(shop, partner):
    multi = MultiIssuerValidator([shop.validator(), partner.validator()])
    # Signed by shop's key and kid, claiming to come from partner: partner's keys decide.
    confused = shop.mint(iss=partner.issuer)
    assert multi.validate(confused).error is ErrorCode.UNKNOWN_KEY
    # Same kid at both issuers, different keys: the signature does not verify at partner.
    with LocalIssuer(kid=shop.kid) as twin:
        multi = MultiIssuerValidator([shop.validator(), twin.validator()])
        assert multi.validate(shop.mint()).is_valid
        assert multi.validate(twin.mint()).is_valid
        assert multi.validate(shop.mint(iss=twin.issuer)).error is ErrorCode.INVALID_SIGNATURE
        assert multi.validate(twin.mint(iss=shop.issuer)).error is ErrorCode.INVALID_SIGNATURE


def test_validate_async_and_prefetch_async(shop, partner):
    async def scenario() -> None:
        multi = MultiIssuerValidator([shop.validator(), partner.validator(discovery=True)])
        before = (shop.fetch_count, partner.fetch_count, partner.discovery_count)
        await multi.prefetch_async()
        assert (shop.fetch_count, partner.fetch_count, partner.discovery_count) == tuple(n + 1 for n in before)
        results = await asyncio.gather(multi.validate_async(shop.mint()), multi.validate_async(partner.mint()))
        assert [r.payload.iss for r in results] == [shop.issuer, partner.issuer]
        assert (await multi.validate_async(shop.mint(iss="https://nope"))).error is ErrorCode.INVALID_ISSUER
        multi.close()

    asyncio.run(scenario())


def test_prefetch_names_every_issuer_that_failed(shop):
    with LocalIssuer() as broken:
        broken.failing = True
        multi = MultiIssuerValidator([shop.validator(), broken.validator()])
        with pytest.raises(JwksError) as caught:
            multi.prefetch()
        assert str(caught.value) == f"{broken.issuer}: JWKS endpoint answered HTTP 500"
        assert multi.keys_retry_after() is not None


def test_stats_are_per_issuer(shop, partner):
    multi = MultiIssuerValidator([shop.validator(), partner.validator(discovery=True)])
    multi.validate(shop.mint())
    multi.validate(partner.mint())
    multi.validate(partner.mint(exp_in=-10))
    multi.validate("garbage")
    stats = multi.stats()
    assert set(stats["issuers"]) == {shop.issuer, partner.issuer}
    assert stats["issuers"][shop.issuer]["results"]["valid"] == 1
    assert stats["issuers"][partner.issuer]["results"]["valid"] == 1
    assert stats["issuers"][partner.issuer]["results"]["expired"] == 1
    assert stats["issuers"][partner.issuer]["discovery_fetches_ok"] == 1
    assert stats["unrouted"]["malformed"] == 1


def test_construction_is_checked(shop):
    with pytest.raises(ValueError, match="one per issuer"):
        MultiIssuerValidator([shop.validator(), shop.validator()])
    with pytest.raises(ValueError, match="at least one validator, or a resolver"):
        MultiIssuerValidator([])
    with pytest.raises(ValueError, match="create_wristband_jwt_validator"):
        MultiIssuerValidator([object()])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="max_issuers"):
        MultiIssuerValidator(resolver=lambda iss: None, max_issuers=0)


# -- resolver ------------------------------------------------------------------------------------


class TenantIdp:
    """One loopback server publishing per-tenant issuers ``{base}/{tid}/v2.0`` (Entra ID's pattern)."""

    def __init__(self) -> None:
        self.issuer = LocalIssuer()
        self.base = f"http://127.0.0.1:{self.issuer.port}"

    def iss(self, tid: str) -> str:
        return f"{self.base}/{tid}/v2.0"

    def mint(self, tid: str, **claims: Any) -> str:
        return self.issuer.mint(iss=self.iss(tid), **claims)


@pytest.fixture
def tenants() -> Iterator[TenantIdp]:
    idp = TenantIdp()
    yield idp
    idp.issuer.close()


def allow_list_resolver(idp: TenantIdp, allowed: List[str], calls: List[str]):
    """The documented pattern: a strict pattern, then an allow-list, before any config."""
    pattern = re.compile(re.escape(idp.base) + r"/([0-9a-f-]{36})/v2\.0")

    def resolve(iss: str) -> Optional[WristbandJwtValidatorConfig]:
        calls.append(iss)
        match = pattern.fullmatch(iss)
        if match is None or match.group(1) not in allowed:
            return None
        return WristbandJwtValidatorConfig(issuer=iss, jwks_url=idp.issuer.jwks_url, audience="api://orders")

    return resolve


TID_A = "11111111-1111-1111-1111-111111111111"
TID_B = "22222222-2222-2222-2222-222222222222"


def test_resolver_builds_allowed_tenants_once(tenants):
    calls: List[str] = []
    multi = MultiIssuerValidator(resolver=allow_list_resolver(tenants, [TID_A, TID_B], calls))
    for _ in range(3):
        assert multi.validate(tenants.mint(TID_A, aud="api://orders", jti=None)).is_valid
    result = multi.validate(tenants.mint(TID_B, aud="api://orders"))
    assert result.is_valid and result.payload.iss == tenants.iss(TID_B)
    assert calls == [tenants.iss(TID_A), tenants.iss(TID_B)]
    assert multi.issuers == (tenants.iss(TID_A), tenants.iss(TID_B))
    assert multi.stats()["resolver"]["issuers_built"] == 2


def test_a_flood_of_random_iss_values_is_bounded(tenants):
    calls: List[str] = []
    clock = FakeClock()
    multi = MultiIssuerValidator(
        resolver=allow_list_resolver(tenants, [TID_A], calls), max_issuers=10, resolver_rate=5, monotonic=clock
    )
    before = tenants.issuer.fetch_count
    rng = random.Random(12)
    floods = [tenants.iss("-".join("".join(rng.choices("0123456789abcdef", k=n)) for n in (8, 4, 4, 4, 12)))]
    floods += ["".join(rng.choices(string.printable, k=40)) for _ in range(200)]
    floods += [tenants.iss(f"{n:08d}-0000-0000-0000-000000000000") for n in range(800)]
    answers = {multi.validate(tenants.issuer.mint(iss=iss)).error for iss in floods}
    assert answers <= {ErrorCode.INVALID_ISSUER, ErrorCode.KEYS_UNAVAILABLE}
    assert len(calls) <= 10  # the burst; the clock did not move, so nothing was refilled
    assert tenants.issuer.fetch_count == before  # no fetch for any of them
    stats = multi.stats()["resolver"]
    assert stats["resolver_rate_limited"] >= len(floods) - 10 - 200  # unprintable ones never reach it
    # The same refused issuer again: answered from the refusals, without the resolver.
    clock.advance(10)
    refused = calls[0]
    calls.clear()
    for _ in range(20):
        assert multi.validate(tenants.issuer.mint(iss=refused)).error is ErrorCode.INVALID_ISSUER
    assert calls == []
    # A real tenant still gets in once the rate allows.
    assert multi.validate(tenants.mint(TID_A, aud="api://orders")).is_valid
    assert multi.stats()["resolver"]["held"] == 1


def test_a_pattern_only_resolver_still_holds_at_most_max_issuers(tenants):
    """Bad practice (no allow-list), yet bounded: the LRU never holds more than max_issuers."""
    clock = FakeClock()

    def pattern_only(iss: str) -> Optional[WristbandJwtValidatorConfig]:
        if re.fullmatch(re.escape(tenants.base) + r"/[0-9]{4}/v2\.0", iss):
            return WristbandJwtValidatorConfig(issuer=iss, jwks_url=tenants.issuer.jwks_url)
        return None

    multi = MultiIssuerValidator(resolver=pattern_only, max_issuers=5, resolver_rate=1000, monotonic=clock)
    first = tenants.mint("0000")
    assert multi.validate(first).is_valid
    for n in range(1, 40):
        clock.advance(1)
        assert multi.validate(tenants.mint(f"{n:04d}")).is_valid
    stats = multi.stats()["resolver"]
    assert stats["held"] == 5 and stats["issuers_built"] == 40 and stats["issuers_evicted"] == 35
    assert len(multi.issuers) == 5 and multi.issuers[-1] == tenants.iss("0039")
    # The first token's remembered route led to a dropped validator: it is rebuilt, not reused.
    clock.advance(1)
    assert multi.validate(first).is_valid
    assert multi.stats()["resolver"]["issuers_built"] == 41


def test_resolver_mistakes_refuse_the_issuer(tenants, caplog):
    def wrong_issuer(iss: str) -> WristbandJwtValidatorConfig:
        return WristbandJwtValidatorConfig(issuer=tenants.iss(TID_B), jwks_url=tenants.issuer.jwks_url)

    def broken(iss: str) -> WristbandJwtValidatorConfig:
        raise KeyError(iss)

    for resolver in (wrong_issuer, broken, lambda iss: "not a config"):
        multi = MultiIssuerValidator(resolver=resolver)  # type: ignore[arg-type]
        token = tenants.mint(TID_A)
        assert multi.validate(token).error is ErrorCode.INVALID_ISSUER
        assert token not in caplog.text
    assert "refusing it" in caplog.text


def test_concurrent_first_requests_build_each_tenant_once(tenants):
    built: List[str] = []
    lock = threading.Lock()

    def resolve(iss: str) -> Optional[WristbandJwtValidatorConfig]:
        with lock:
            built.append(iss)
        return WristbandJwtValidatorConfig(issuer=iss, jwks_url=tenants.issuer.jwks_url)

    multi = MultiIssuerValidator(resolver=resolve)
    tokens = [tenants.mint(tid) for tid in ("0001", "0002", "0003") for _ in range(8)]
    results: Dict[int, bool] = {}
    threads = [
        threading.Thread(target=lambda n=n, t=t: results.__setitem__(n, multi.validate(t).is_valid))
        for n, t in enumerate(tokens)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert all(results.values()) and len(results) == len(tokens)
    assert sorted(built) == sorted({tenants.iss(t) for t in ("0001", "0002", "0003")})


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_a_forked_child_resolves_and_validates_on_its_own(tenants):
    from test_fork import in_children

    # The clock is read under the validator's locks (the resolver's rate limit): a thread
    # stalled there holds them at the fork, and the child must not inherit them held.
    stalled, release = threading.Event(), threading.Event()

    def clock() -> float:
        if threading.current_thread().name == "stalled-resolve":
            stalled.set()
            release.wait(10)
        return time.monotonic()

    multi = MultiIssuerValidator(
        resolver=lambda iss: WristbandJwtValidatorConfig(issuer=iss, jwks_url=tenants.issuer.jwks_url),
        monotonic=clock,
    )
    assert multi.validate(tenants.mint("0001")).is_valid
    token_old, token_new = tenants.mint("0001", jti="b"), tenants.mint("0002")

    def child(_: int) -> Dict[str, Any]:
        return {"old": multi.validate(token_old).is_valid, "new": multi.validate(token_new).is_valid}

    blocker = threading.Thread(target=multi.validate, args=(tenants.mint("0003"),), name="stalled-resolve")
    blocker.start()
    try:
        assert stalled.wait(10)  # the other thread now holds the locks
        answers = in_children(1, child)
    finally:
        release.set()
        blocker.join(10)
    assert answers == [{"old": True, "new": True}]

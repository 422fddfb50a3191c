"""The verified-token cache under stress: many threads, a tiny switch interval, eviction
on nearly every request while a key leaves the JWKS, a new one arrives and the clock
moves. Every result is checked against what must hold at the moment it was asked."""

from __future__ import annotations

import collections
import random
import sys
import threading
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from support.clock import T0, FakeClock

from wristband_mw import ErrorCode, WristbandJwtValidatorConfig, create_wristband_jwt_validator

WORKERS = 8
ITERATIONS = 400
CACHE_SIZE = 16  # far fewer than the tokens in play: admission and eviction all the time


@pytest.fixture(autouse=True)
def fast_thread_switching():
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


class Run:
    """The tokens in play, the events that change what is valid, and every failure seen."""

    def __init__(self, issuer):
        self.issuer = issuer
        self.kid_a = issuer.kid
        self.kid_b = issuer.add_key()
        self.wall = FakeClock(T0)
        self.mono = FakeClock(1000.0)
        self.unpublished = threading.Event()  # kid B left the JWKS (the validator may not know yet)
        self.revoked = threading.Event()  # the validator has dropped kid B and learnt kid C
        self.kid_c = ""
        self.lock = threading.Lock()
        self.failures: list = []
        self.checked = 0
        self.outcomes: collections.Counter = collections.Counter()  # (kind, error or None)
        self.done = 0
        # (kind, sub, exp, token): long-lived under A and B, expiring during the run under A.
        self.tokens = [("stable", f"a-{n}", T0 + 3600, self.mint(self.kid_a, f"a-{n}", T0 + 3600)) for n in range(16)]
        self.tokens += [("b", f"b-{n}", T0 + 3600, self.mint(self.kid_b, f"b-{n}", T0 + 3600)) for n in range(16)]
        self.tokens += [
            ("expiring", f"e-{n}", T0 + 0.5 + n * 0.05, self.mint(self.kid_a, f"e-{n}", T0 + 0.5 + n * 0.05))
            for n in range(16)
        ]
        # Signed by B's private key but naming A: must never verify, never be cached.
        header = {"kid": self.kid_a, "typ": "at+JWT", "alg": "RS256"}
        claims = {**issuer.claims(sub="forged"), "iat": int(T0), "exp": int(T0 + 3600)}
        self.forged = issuer.sign(header, claims, key_id=self.kid_b)
        self.c_tokens: list = []

    def mint(self, kid, sub, exp):
        return self.issuer.sign(
            {"kid": kid, "typ": "at+JWT", "alg": "RS256"},
            {**self.issuer.claims(sub=sub), "iat": int(T0), "exp": exp},
            key_id=kid,
        )

    def fail(self, *details):
        with self.lock:
            self.failures.append(details)

    def check(self, validator, rng):
        with self.lock:
            self.checked += 1
        roll = rng.random()
        if roll < 0.08:
            result = validator.validate(self.forged)
            if result.is_valid or result.error is not ErrorCode.INVALID_SIGNATURE:
                self.fail("forged", result.error)
            return
        if roll < 0.2 and self.revoked.is_set():
            sub, token = rng.choice(self.c_tokens)
            result = validator.validate(token)
            if not result.is_valid or result.payload.sub != sub:
                self.fail("c", sub, result.error)
            return
        kind, sub, exp, token = rng.choice(self.tokens)
        revoked_before = self.revoked.is_set()
        before = self.wall()
        result = validator.validate(token)
        after = self.wall()
        with self.lock:
            self.outcomes[kind, result.error] += 1
        if result.is_valid:
            if result.payload.sub != sub:
                self.fail("wrong payload", kind, sub, result.payload.sub)
            if kind == "expiring" and before >= exp:
                self.fail("valid after exp", sub, before, exp)
            if kind == "b" and revoked_before:
                self.fail("valid after its key left the JWKS", sub)
        elif kind == "expiring" and result.error is ErrorCode.EXPIRED:
            if after < exp:
                self.fail("expired before exp", sub, after, exp)
        elif kind == "b" and result.error is ErrorCode.UNKNOWN_KEY:
            if not self.unpublished.is_set():
                self.fail("unknown key while published", sub)
        else:
            self.fail("unexpected", kind, sub, result.error, result.error_message)


def test_cache_stays_correct_under_eviction_rotation_and_expiry(local_issuer):
    run = Run(local_issuer)
    config = WristbandJwtValidatorConfig(
        issuer=local_issuer.issuer,
        jwks_url=local_issuer.jwks_url,
        verified_token_cache_size=CACHE_SIZE,
        jwks_cache_ttl=1000,
        jwks_refresh_cooldown=600,
    )
    validator = create_wristband_jwt_validator(config, clock=run.wall, monotonic=run.mono)
    validator.prefetch()
    start = threading.Barrier(WORKERS + 2)

    def worker(seed):
        rng = random.Random(seed)
        start.wait(timeout=10)
        for iteration in range(ITERATIONS):
            if iteration == ITERATIONS // 2:  # the second half races with the new key set
                run.revoked.wait(timeout=20)
            run.check(validator, rng)
        with run.lock:
            run.done += 1

    def ticker():
        # The wall clock follows the work done (two seconds over the run), so every
        # expiring token's exp is crossed while the workers run, however fast they are.
        start.wait(timeout=10)
        deadline = time.monotonic() + 30
        while run.done < WORKERS and time.monotonic() < deadline:
            run.wall.now = max(run.wall.now, T0 + 2 * run.checked / (WORKERS * ITERATIONS))
            time.sleep(0.001)

    key_c = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # not while racing

    def rotator():
        start.wait(timeout=10)
        deadline = time.monotonic() + 20
        while run.checked < WORKERS * ITERATIONS // 4 and time.monotonic() < deadline:
            time.sleep(0.005)
        run.kid_c = local_issuer.add_key(key_c)
        run.c_tokens = [(f"c-{n}", run.mint(run.kid_c, f"c-{n}", T0 + 3600)) for n in range(8)]
        local_issuer.unpublish(run.kid_b)
        run.unpublished.set()
        run.mono.advance(2)  # past the key set's TTL: the next request refreshes it
        stable = run.tokens[0][3]
        while time.monotonic() < deadline:
            validator.validate(stable)  # a request notices the stale key set and refreshes it
            kids = validator.stats()["cached_kids"]
            if run.kid_b not in kids and run.kid_c in kids:
                run.revoked.set()
                return
            time.sleep(0.005)
        run.fail("the validator never dropped kid B")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    threads += [threading.Thread(target=ticker), threading.Thread(target=rotator)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert run.failures == []
    assert run.revoked.is_set()
    assert run.checked == WORKERS * ITERATIONS
    stats = validator.stats()
    assert stats["verified_tokens_cached"] <= CACHE_SIZE
    assert stats["verified_token_cache_hits"] > 0
    assert stats["results"]["invalid_signature"] > 0

    # Every kind of outcome happened while the threads raced.
    for outcome in [("b", None), ("b", ErrorCode.UNKNOWN_KEY), ("expiring", None), ("expiring", ErrorCode.EXPIRED)]:
        assert run.outcomes[outcome] > 0, (outcome, run.outcomes)

    # Afterwards, with the clock past every exp, the rules hold for every token once more.
    run.wall.advance(3)
    for kind, sub, _, token in run.tokens:
        result = validator.validate(token)
        expected = {"stable": None, "b": ErrorCode.UNKNOWN_KEY, "expiring": ErrorCode.EXPIRED}[kind]
        assert result.error is expected, (kind, sub, result.error)
        assert result.is_valid is (expected is None)
    assert all(validator.validate(token).payload.sub == sub for sub, token in run.c_tokens)
    validator.close()

"""Many threads validating across several kids while keys rotate: every result is checked."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import threading
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from support.encoding import b64url, b64url_decode
from support.tokens import rs256_token

from wristband_mw import ErrorCode

EXPECTED = {
    "fresh": None,
    "repeat": None,
    "forged": ErrorCode.INVALID_SIGNATURE,
    "tampered": ErrorCode.INVALID_SIGNATURE,
    "expired": ErrorCode.EXPIRED,
    "wrong_issuer": ErrorCode.INVALID_ISSUER,
    "unknown": ErrorCode.UNKNOWN_KEY,
    "garbage": ErrorCode.MALFORMED,
    "id_token": ErrorCode.INVALID_TYPE,
}
KINDS = list(EXPECTED)


@pytest.fixture(autouse=True)
def fast_thread_switching():
    """Switch threads far more often than usual, so races have a chance to show."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(previous)


@pytest.fixture(scope="module")
def stranger():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def forged_token(issuer, kid, stranger, sub):
    return rs256_token(stranger, {"kid": kid, "typ": "at+JWT", "alg": "RS256"}, issuer.claims(sub=sub))


def tampered_token(token):
    header, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["sub"] = "admin"
    return f"{header}.{b64url(json.dumps(claims))}.{signature}"


class Scenario:
    """Shared state: the kids the validator is known to accept, and every result seen."""

    def __init__(self, issuer, stranger, kids):
        self.issuer = issuer
        self.stranger = stranger
        self.ghost = issuer.add_key(publish=False)
        self.lock = threading.Lock()
        self.known = list(kids)
        self.repeated = {kid: issuer.mint(kid=kid, sub=f"repeat-{kid}") for kid in kids}
        self.results = []
        self.errors = []

    def add_known(self, kid):
        token = self.issuer.mint(kid=kid, sub=f"repeat-{kid}")
        with self.lock:
            self.repeated[kid] = token
            self.known.append(kid)

    def token(self, kind, rng):
        with self.lock:
            kid = rng.choice(self.known)
            repeated = self.repeated[kid]
        sub = f"user-{rng.randrange(10**6)}"
        issuer = self.issuer
        if kind == "fresh":
            return kid, sub, issuer.mint(kid=kid, sub=sub)
        if kind == "repeat":
            return kid, f"repeat-{kid}", repeated
        if kind == "forged":
            return kid, sub, forged_token(issuer, kid, self.stranger, sub)
        if kind == "tampered":
            return kid, sub, tampered_token(repeated)
        if kind == "expired":
            return kid, sub, issuer.mint(kid=kid, sub=sub, exp_in=-30)
        if kind == "wrong_issuer":
            return kid, sub, issuer.mint(kid=kid, sub=sub, iss="https://evil.example.com")
        if kind == "unknown":
            return self.ghost, sub, issuer.mint(kid=self.ghost, sub=sub)
        if kind == "id_token":
            return kid, sub, issuer.mint(kid=kid, sub=sub, headers={"typ": "id+JWT"})
        return kid, sub, "not-a-jwt"

    def check(self, kind, sub, result):
        expected = EXPECTED[kind]
        if expected is None:
            ok = result.is_valid and result.error is None and result.payload.sub == sub
        else:
            ok = not result.is_valid and result.error is expected and result.payload is None
        with self.lock:
            self.results.append(kind)
            if not ok:
                self.errors.append((kind, result.error, result.error_message))


def test_threads_validate_across_kids_while_keys_rotate(local_issuer, stranger):
    issuer = local_issuer
    kids = [issuer.kid, issuer.add_key(), issuer.add_key()]
    validator = issuer.validator(jwks_refresh_cooldown=0)
    validator.prefetch()
    scenario = Scenario(issuer, stranger, kids)
    start = threading.Barrier(9)
    rotated = []

    def rotator():
        start.wait(timeout=10)
        for _ in range(5):
            kid = issuer.rotate(keep_previous=True)
            # A request may join a fetch that began before the key was published; within a
            # moment a fresh fetch must find it.
            deadline = time.monotonic() + 5
            while True:
                result = validator.validate(issuer.mint(kid=kid))
                if result.is_valid:
                    break
                if result.error is not ErrorCode.UNKNOWN_KEY or time.monotonic() > deadline:
                    scenario.errors.append(("rotation", result.error, result.error_message))
                    return
            scenario.add_known(kid)
            rotated.append(kid)
            time.sleep(0.01)

    def worker(seed):
        rng = random.Random(seed)
        start.wait(timeout=10)
        for i in range(90):
            kind = KINDS[(seed + i) % len(KINDS)]
            _, sub, token = scenario.token(kind, rng)
            scenario.check(kind, sub, validator.validate(token))

    threads = [threading.Thread(target=rotator)] + [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert scenario.errors == []
    assert len(rotated) == 5
    assert len(scenario.results) == 8 * 90
    assert {kind: scenario.results.count(kind) for kind in KINDS} == {kind: 80 for kind in KINDS}
    # Every key ever published (and kept) still verifies.
    for kid in kids + rotated:
        assert validator.validate(issuer.mint(kid=kid)).is_valid
    stats = validator.stats()
    assert stats["results"]["invalid_signature"] >= 160
    assert stats["verified_token_cache_hits"] > 0
    validator.close()


def test_threads_and_async_tasks_together(local_issuer, stranger):
    issuer = local_issuer
    kids = [issuer.kid, issuer.add_key(), issuer.add_key(), issuer.add_key()]
    validator = issuer.validator(jwks_refresh_cooldown=0)
    scenario = Scenario(issuer, stranger, kids)
    barrier = threading.Barrier(5)

    def thread_worker(seed):
        rng = random.Random(seed)
        barrier.wait(timeout=10)
        for i in range(60):
            kind = KINDS[(seed + i) % len(KINDS)]
            _, sub, token = scenario.token(kind, rng)
            scenario.check(kind, sub, validator.validate(token))

    def async_worker():
        rng = random.Random(99)
        jobs = []
        for i in range(120):
            kind = KINDS[i % len(KINDS)]
            _, sub, token = scenario.token(kind, rng)
            jobs.append((kind, sub, token))

        async def run():
            results = await asyncio.gather(*(validator.validate_async(token) for _, _, token in jobs))
            for (kind, sub, _), result in zip(jobs, results):
                scenario.check(kind, sub, result)

        barrier.wait(timeout=10)
        asyncio.run(run())

    threads = [threading.Thread(target=thread_worker, args=(n,)) for n in range(4)]
    threads.append(threading.Thread(target=async_worker))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert scenario.errors == []
    assert len(scenario.results) == 4 * 60 + 120
    validator.close()


def test_background_refreshes_never_drop_published_keys(local_issuer):
    """With a tiny TTL, refreshes run all the time; no published key may ever be missing."""
    issuer = local_issuer
    kids = [issuer.kid, issuer.add_key(), issuer.add_key()]
    validator = issuer.validator(jwks_cache_ttl=5, verified_token_cache_size=0, jwks_refresh_cooldown=60)
    validator.prefetch()
    tokens = {kid: [issuer.mint(kid=kid, sub=f"{kid}-{i}") for i in range(5)] for kid in kids}
    failures = []
    validations = []
    barrier = threading.Barrier(6)
    deadline = time.monotonic() + 30

    def worker(seed):
        rng = random.Random(seed)
        barrier.wait(timeout=10)
        done = 0
        # At least 150 each, and on until a refresh has landed while requests were running
        # (a refresh is a fetch in a background thread: it may finish after 150 requests).
        while done < 150 or (validator.stats()["jwks_fetches_ok"] < 2 and time.monotonic() < deadline):
            kid = rng.choice(kids)
            token = rng.choice(tokens[kid])
            result = validator.validate(token)
            done += 1
            if not result.is_valid or result.payload.sub.split("-")[0] != kid:
                failures.append((kid, result.error, result.error_message))
        validations.append(done)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert len(validations) == 6 and min(validations) >= 150
    assert validator.stats()["results"]["valid"] == sum(validations)
    assert validator.stats()["jwks_fetches_ok"] >= 2  # refreshes really happened meanwhile
    assert validator.stats()["jwks_fetches_failed"] == 0
    validator.close()

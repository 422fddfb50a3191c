"""The key store against LocalIssuer's real JWKS server: fetching, rotation, cool-down,
single-flight, refresh-ahead, stale-if-error, failures, timeouts and the cache bound."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3
from support.certs import issue_cert, make_ca
from support.clock import FakeClock, wait_until
from support.fault_server import FaultServer, respond
from support.validators import make_validator

from wristband_mw import ErrorCode, JwksError, WristbandJwtValidatorConfig, create_wristband_jwt_validator
from wristband_mw.jwks import JwksClient


@pytest.fixture
def mono():
    return FakeClock(10_000.0)


def assert_valid(result):
    assert result.is_valid, (result.error, result.error_message)


def _fetch_failure_warnings(caplog):
    return [r for r in caplog.records if r.levelno == logging.WARNING and "failed" in r.getMessage()]


# -- fetching --------------------------------------------------------------------------------------------


def test_every_key_of_a_fetch_is_cached(local_issuer):
    second, third = local_issuer.add_key(), local_issuer.add_key()
    v = local_issuer.validator()
    assert_valid(v.validate(local_issuer.mint()))
    assert local_issuer.fetch_count == 1
    assert sorted(v.stats()["cached_kids"]) == sorted([local_issuer.kid, second, third])
    assert_valid(v.validate(local_issuer.mint(kid=second)))
    assert_valid(v.validate(local_issuer.mint(kid=third)))
    assert local_issuer.fetch_count == 1
    assert v.stats()["key_cache_hits"] == 2
    v.close()


def test_keys_are_reused_not_refetched(local_issuer):
    v = local_issuer.validator(verified_token_cache_size=0)
    token = local_issuer.mint()
    for _ in range(50):
        assert_valid(v.validate(token))
    assert local_issuer.fetch_count == 1
    assert v.stats()["key_cache_hits"] == 49
    v.close()


def test_rotation_picked_up(local_issuer):
    v = local_issuer.validator()
    old_kid = local_issuer.kid
    assert_valid(v.validate(local_issuer.mint()))
    new_kid = local_issuer.rotate(keep_previous=True)
    assert_valid(v.validate(local_issuer.mint()))
    assert local_issuer.fetch_count == 2
    assert sorted(v.stats()["cached_kids"]) == sorted([old_kid, new_kid])
    assert_valid(v.validate(local_issuer.mint(kid=old_kid)))  # a kid miss never evicts good keys
    assert local_issuer.fetch_count == 2
    v.close()


def test_key_rotated_in_right_after_start_up_is_picked_up_at_once(local_issuer, mono):
    v = make_validator(local_issuer, monotonic=mono, jwks_refresh_cooldown=300)
    assert_valid(v.validate(local_issuer.mint()))  # the first fetch is routine: no cool-down
    local_issuer.rotate(keep_previous=True)
    assert_valid(v.validate(local_issuer.mint()))
    assert local_issuer.fetch_count == 2
    # That fetch was caused by an unknown kid, so now the cool-down runs.
    local_issuer.rotate(keep_previous=True)
    assert v.validate(local_issuer.mint()).error is ErrorCode.UNKNOWN_KEY
    assert local_issuer.fetch_count == 2
    v.close()


def test_ttl_refresh_does_not_start_the_cool_down(local_issuer, mono):
    v = make_validator(local_issuer, monotonic=mono, jwks_cache_ttl=1000, jwks_refresh_cooldown=300)
    assert_valid(v.validate(local_issuer.mint()))
    mono.advance(2)
    assert_valid(v.validate(local_issuer.mint()))  # starts the background refresh
    assert wait_until(lambda: v.stats()["jwks_fetches_ok"] == 2)
    local_issuer.rotate(keep_previous=True)
    assert_valid(v.validate(local_issuer.mint()))
    assert local_issuer.fetch_count == 3
    v.close()


# -- unknown kids: cool-down ---------------------------------------------------------------------------


def test_unknown_kid_refetch_at_most_once_per_cool_down(local_issuer, mono):
    v = make_validator(local_issuer, monotonic=mono, jwks_refresh_cooldown=30)
    assert_valid(v.validate(local_issuer.mint()))
    assert local_issuer.fetch_count == 1
    ghosts = [local_issuer.add_key(publish=False) for _ in range(3)]
    first = v.validate(local_issuer.mint(kid=ghosts[0]))
    assert first.error is ErrorCode.UNKNOWN_KEY
    assert first.error_message == f"Failed to get signing key: Unable to find a signing key that matches '{ghosts[0]}'"
    assert local_issuer.fetch_count == 2
    ghost_tokens = {ghost: local_issuer.mint(kid=ghost) for ghost in ghosts}
    slowest = 0.0
    for _ in range(20):
        for ghost in ghosts:
            start = time.perf_counter()
            result = v.validate(ghost_tokens[ghost])
            slowest = max(slowest, time.perf_counter() - start)
            assert result.error is ErrorCode.UNKNOWN_KEY
            assert ghost in result.error_message
    assert slowest < 0.2  # failed at once: no fetch, no sleep, no queueing
    assert local_issuer.fetch_count == 2
    assert v.stats()["cooldown_rejections"] == 60
    # During the cool-down a freshly rotated key is not fetched either...
    local_issuer.rotate(keep_previous=True)
    assert v.validate(local_issuer.mint()).error is ErrorCode.UNKNOWN_KEY
    assert local_issuer.fetch_count == 2
    # ...but the known keys keep working, and after the cool-down the new key is fetched.
    mono.advance(29.9)
    assert v.validate(local_issuer.mint()).error is ErrorCode.UNKNOWN_KEY
    mono.advance(0.1)
    assert_valid(v.validate(local_issuer.mint()))
    assert local_issuer.fetch_count == 3
    v.close()


def test_unknown_kid_cool_down_async(local_issuer, mono):
    v = make_validator(local_issuer, monotonic=mono, jwks_refresh_cooldown=30)
    ghost = local_issuer.add_key(publish=False)

    async def run():
        first = await v.validate_async(local_issuer.mint())
        results = [await v.validate_async(local_issuer.mint(kid=ghost)) for _ in range(10)]
        return first, results

    first, results = asyncio.run(run())
    assert_valid(first)
    assert all(r.error is ErrorCode.UNKNOWN_KEY for r in results)
    assert local_issuer.fetch_count == 2
    assert v.stats()["cooldown_rejections"] == 9
    v.close()


def test_zero_cool_down_refetches_every_unknown_kid(local_issuer, mono):
    v = make_validator(local_issuer, monotonic=mono, jwks_refresh_cooldown=0)
    assert_valid(v.validate(local_issuer.mint()))
    ghost = local_issuer.add_key(publish=False)
    for _ in range(3):
        assert v.validate(local_issuer.mint(kid=ghost)).error is ErrorCode.UNKNOWN_KEY
    assert local_issuer.fetch_count == 4


def test_unknown_kid_failures_are_not_cached_as_results(local_issuer, mono):
    v = make_validator(local_issuer, monotonic=mono, jwks_refresh_cooldown=10)
    assert_valid(v.validate(local_issuer.mint()))
    old_kid = local_issuer.kid
    local_issuer.failing = True
    local_issuer.rotate(keep_previous=True)
    result = v.validate(local_issuer.mint())
    assert result.error is ErrorCode.KEYS_UNAVAILABLE
    # Within the cool-down the same answer comes at once, without another fetch.
    assert v.validate(local_issuer.mint()).error is ErrorCode.KEYS_UNAVAILABLE
    assert local_issuer.fetch_count == 2
    assert_valid(v.validate(local_issuer.mint(kid=old_kid)))
    local_issuer.failing = False
    mono.advance(10)
    assert_valid(v.validate(local_issuer.mint()))
    assert local_issuer.fetch_count == 3
    v.close()


# -- single flight -------------------------------------------------------------------------------------


def _run_threads(count, target):
    barrier = threading.Barrier(count)
    results = [None] * count
    errors = []

    def worker(index):
        try:
            barrier.wait(timeout=10)
            results[index] = target(index)
        except Exception as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    return results


def test_single_flight_32_cold_misses_one_fetch(local_issuer):
    local_issuer.stall_seconds = 0.2  # every thread arrives while the one fetch is running
    v = local_issuer.validator()
    tokens = [local_issuer.mint(sub=f"user-{i}") for i in range(32)]
    results = _run_threads(32, lambda i: v.validate(tokens[i]))
    for i, result in enumerate(results):
        assert_valid(result)
        assert result.payload.sub == f"user-{i}"
    assert local_issuer.fetch_count == 1
    assert v.stats()["jwks_fetches_ok"] == 1
    v.close()


def test_single_flight_32_misses_of_a_new_kid_one_fetch(local_issuer):
    v = local_issuer.validator()
    v.prefetch()
    local_issuer.rotate(keep_previous=True)
    local_issuer.stall_seconds = 0.2
    tokens = [local_issuer.mint(sub=f"user-{i}") for i in range(32)]
    results = _run_threads(32, lambda i: v.validate(tokens[i]))
    assert all(r.is_valid for r in results), {r.error for r in results}
    assert local_issuer.fetch_count == 2
    v.close()


def test_single_flight_32_distinct_unknown_kids_one_fetch(local_issuer):
    v = local_issuer.validator()
    v.prefetch()
    ghosts = [local_issuer.add_key(publish=False) for _ in range(4)]
    local_issuer.stall_seconds = 0.2
    tokens = [local_issuer.mint(kid=ghosts[i % 4]) for i in range(32)]
    results = _run_threads(32, lambda i: v.validate(tokens[i]))
    assert all(r.error is ErrorCode.UNKNOWN_KEY for r in results)
    assert local_issuer.fetch_count == 2
    v.close()


def test_single_flight_failure_shared_by_all_waiters(local_issuer):
    local_issuer.failing = True
    local_issuer.stall_seconds = 0.2
    v = local_issuer.validator()
    token = local_issuer.mint()
    results = _run_threads(32, lambda i: v.validate(token))
    assert all(r.error is ErrorCode.KEYS_UNAVAILABLE for r in results)
    assert local_issuer.fetch_count == 1
    assert v.stats()["jwks_fetches_failed"] == 1
    v.close()


def test_single_flight_async_tasks(local_issuer):
    local_issuer.stall_seconds = 0.2
    v = local_issuer.validator()
    tokens = [local_issuer.mint(sub=str(i)) for i in range(32)]

    async def run():
        return await asyncio.gather(*(v.validate_async(token) for token in tokens))

    results = asyncio.run(run())
    assert all(r.is_valid for r in results)
    assert [r.payload.sub for r in results] == [str(i) for i in range(32)]
    assert local_issuer.fetch_count == 1
    v.close()


def test_prefetch_joins_a_fetch_in_progress(local_issuer):
    local_issuer.stall_seconds = 0.2
    v = local_issuer.validator()
    results = _run_threads(8, lambda i: v.prefetch() if i % 2 else v.validate(local_issuer.mint()))
    assert all(r is None or r.is_valid for r in results)
    assert local_issuer.fetch_count == 1
    v.close()


# -- refresh-ahead and revocation ------------------------------------------------------------------------


def test_refresh_ahead_serves_from_cache_and_revokes(local_issuer, mono):
    v = make_validator(local_issuer, monotonic=mono, jwks_cache_ttl=60_000, verified_token_cache_size=0)
    old_kid = local_issuer.kid
    assert_valid(v.validate(local_issuer.mint()))
    mono.advance(59)
    assert_valid(v.validate(local_issuer.mint()))
    assert local_issuer.fetch_count == 1  # still fresh
    new_kid = local_issuer.rotate()  # the old key is revoked: no longer published
    local_issuer.stall_seconds = 0.3
    mono.advance(1)  # now exactly at the TTL
    old_tokens = [local_issuer.mint(kid=old_kid) for _ in range(10)]
    start = time.perf_counter()
    for token in old_tokens:
        assert_valid(v.validate(token))  # served from cache, nobody waits for the 0.3 s refresh
    assert time.perf_counter() - start < 0.25
    assert v.stats()["stale_serves"] == 10
    assert wait_until(lambda: v.stats()["jwks_fetches_ok"] == 2)
    assert local_issuer.fetch_count == 2  # one background refresh for all ten requests
    assert v.stats()["cached_kids"] == [new_kid]
    local_issuer.stall_seconds = 0
    revoked = v.validate(local_issuer.mint(kid=old_kid))
    assert revoked.error is ErrorCode.UNKNOWN_KEY
    assert_valid(v.validate(local_issuer.mint()))
    v.close()


def test_refresh_ahead_from_async(local_issuer, mono):
    v = make_validator(local_issuer, monotonic=mono, jwks_cache_ttl=1000)
    old_kid = local_issuer.kid

    async def validate(token):
        return await v.validate_async(token)

    assert_valid(asyncio.run(validate(local_issuer.mint())))
    local_issuer.rotate()
    mono.advance(5)
    assert_valid(asyncio.run(validate(local_issuer.mint(kid=old_kid))))
    assert wait_until(lambda: v.stats()["jwks_fetches_ok"] == 2)
    assert asyncio.run(validate(local_issuer.mint(kid=old_kid))).error is ErrorCode.UNKNOWN_KEY
    v.close()


def test_ttl_none_never_refreshes(local_issuer, mono):
    v = make_validator(local_issuer, monotonic=mono, jwks_cache_ttl=None)
    old_kid = local_issuer.kid
    assert_valid(v.validate(local_issuer.mint()))
    local_issuer.rotate()
    mono.advance(10**9)
    assert_valid(v.validate(local_issuer.mint(kid=old_kid)))
    time.sleep(0.05)
    assert local_issuer.fetch_count == 1
    assert v.stats()["stale_serves"] == 0
    v.close()


def test_ttl_is_absolute_not_sliding(local_issuer, mono):
    v = make_validator(local_issuer, monotonic=mono, jwks_cache_ttl=10_000, verified_token_cache_size=0)
    token = local_issuer.mint()
    assert_valid(v.validate(token))
    for _ in range(9):
        mono.advance(1)
        assert_valid(v.validate(token))  # constant use must not keep the set fresh
    assert local_issuer.fetch_count == 1
    mono.advance(1)
    assert_valid(v.validate(token))
    assert wait_until(lambda: local_issuer.fetch_count == 2 and v.stats()["jwks_fetches_ok"] == 2)
    v.close()


# -- stale-if-error --------------------------------------------------------------------------------------


def test_stale_if_error(local_issuer, mono, caplog):
    caplog.set_level(logging.WARNING, logger="wristband_mw")
    v = make_validator(
        local_issuer,
        monotonic=mono,
        jwks_cache_ttl=1000,
        jwks_stale_if_error=60,
        jwks_refresh_cooldown=5,
        verified_token_cache_size=0,
    )
    token = local_issuer.mint()
    assert_valid(v.validate(token))
    local_issuer.failing = True
    mono.advance(2)  # past the TTL
    assert_valid(v.validate(token))  # cached keys keep verifying
    assert wait_until(lambda: v.stats()["jwks_fetches_failed"] == 1)
    assert len(_fetch_failure_warnings(caplog)) == 1
    for _ in range(5):
        assert_valid(v.validate(token))
    time.sleep(0.05)
    assert local_issuer.fetch_count == 2  # failed refreshes are retried once per cool-down, not per request
    mono.advance(5)
    assert_valid(v.validate(token))
    assert wait_until(lambda: v.stats()["jwks_fetches_failed"] == 2)
    assert_valid(v.validate(token))
    assert len(_fetch_failure_warnings(caplog)) == 1  # once per failure streak
    assert v.stats()["stale_serves"] >= 8
    # 1 s TTL + 60 s stale-if-error after the fetch (at 10000): the keys are dropped at 10061.
    mono.now = 10_060.5
    assert_valid(v.validate(token))
    mono.now = 10_061.0
    result = v.validate(token)
    assert result.error is ErrorCode.KEYS_UNAVAILABLE
    assert "500" in result.error_message
    assert v.stats()["cached_kids"] == []
    # Recovery: once the server answers again (and any back-off after the last failure,
    # at most one cool-down, has passed) a request fetches again; a later failure streak
    # warns again.
    local_issuer.failing = False
    mono.advance(5)
    assert_valid(v.validate(token))
    assert wait_until(lambda: v.stats()["jwks_fetches_ok"] == 2)
    local_issuer.failing = True
    mono.advance(2)
    assert_valid(v.validate(token))
    assert wait_until(lambda: len(_fetch_failure_warnings(caplog)) == 2)
    v.close()


def test_stale_if_error_zero_drops_keys_at_the_ttl(local_issuer, mono):
    v = make_validator(local_issuer, monotonic=mono, jwks_cache_ttl=1000, jwks_stale_if_error=0)
    assert_valid(v.validate(local_issuer.mint()))
    local_issuer.failing = True
    mono.advance(1)
    assert v.validate(local_issuer.mint()).error is ErrorCode.KEYS_UNAVAILABLE
    v.close()


# -- failures --------------------------------------------------------------------------------------------


def test_keys_unavailable_when_server_fails_and_key_not_cached(local_issuer, mono):
    local_issuer.failing = True
    v = make_validator(local_issuer, monotonic=mono, jwks_refresh_cooldown=5)
    for _ in range(3):
        start = time.monotonic()
        result = v.validate(local_issuer.mint())
        assert time.monotonic() - start < 1
        assert result.error is ErrorCode.KEYS_UNAVAILABLE
        assert result.error_message == "Failed to get signing key: JWKS endpoint answered HTTP 500"
        assert result.payload is None
    assert 1 <= local_issuer.fetch_count <= 3
    assert v.stats()["jwks_fetches_ok"] == 0
    assert v.stats()["cached_kids"] == []
    # The failure is not a lasting verdict: the server recovers and, within at most one
    # cool-down, a request fetches again and succeeds.
    local_issuer.failing = False
    mono.advance(5)
    assert_valid(v.validate(local_issuer.mint()))
    assert v.stats()["jwks_fetches_ok"] == 1
    v.close()


def test_keys_unavailable_with_cached_keys_for_a_new_kid(local_issuer):
    v = local_issuer.validator()
    assert_valid(v.validate(local_issuer.mint()))
    local_issuer.failing = True
    kept = local_issuer.kid
    local_issuer.rotate(keep_previous=True)
    assert v.validate(local_issuer.mint()).error is ErrorCode.KEYS_UNAVAILABLE
    assert_valid(v.validate(local_issuer.mint(kid=kept)))  # cached keys unaffected
    v.close()


def test_stalled_server_bounded_by_fetch_timeout(local_issuer):
    local_issuer.stall_seconds = 5
    v = local_issuer.validator(jwks_fetch_timeout=0.3)
    start = time.monotonic()
    result = v.validate(local_issuer.mint())
    elapsed = time.monotonic() - start
    assert result.error is ErrorCode.KEYS_UNAVAILABLE
    assert 0.25 <= elapsed < 1.5, elapsed
    start = time.monotonic()
    with pytest.raises(JwksError):
        v.prefetch()
    assert time.monotonic() - start < 1.5
    v.close()


def test_stalled_server_async_bounded(local_issuer):
    local_issuer.stall_seconds = 5
    v = local_issuer.validator(jwks_fetch_timeout=0.3)

    async def run():
        return await asyncio.wait_for(v.validate_async(local_issuer.mint()), timeout=3)

    start = time.monotonic()
    assert asyncio.run(run()).error is ErrorCode.KEYS_UNAVAILABLE
    assert time.monotonic() - start < 1.5
    v.close()


def test_stalled_server_many_waiters_bounded(local_issuer):
    local_issuer.stall_seconds = 5
    v = local_issuer.validator(jwks_fetch_timeout=0.3)
    token = local_issuer.mint()
    start = time.monotonic()
    results = _run_threads(8, lambda i: v.validate(token))
    assert time.monotonic() - start < 2
    assert all(r.error is ErrorCode.KEYS_UNAVAILABLE for r in results)
    assert local_issuer.fetch_count == 1
    v.close()


# -- the cache bound -------------------------------------------------------------------------------------


def test_cache_bound(local_issuer):
    kids = [local_issuer.kid] + [local_issuer.add_key(local_issuer.private_key) for _ in range(4)]  # five kids
    v = local_issuer.validator(jwks_cache_max_size=2, jwks_refresh_cooldown=0, verified_token_cache_size=0)
    for _ in range(2):
        for kid in kids:
            assert_valid(v.validate(local_issuer.mint(kid=kid)))
            cached = v.stats()["cached_kids"]
            assert len(cached) <= 2
            assert kid in cached
    v.close()


def test_cache_bound_keeps_recently_used_keys(local_issuer):
    kids = [local_issuer.kid, local_issuer.add_key(), local_issuer.add_key()]
    v = local_issuer.validator(jwks_cache_max_size=3)
    for kid in kids:
        assert_valid(v.validate(local_issuer.mint(kid=kid)))
    assert local_issuer.fetch_count == 1
    assert sorted(v.stats()["cached_kids"]) == sorted(kids)
    v.close()


def test_default_bound_is_20(local_issuer):
    for _ in range(24):
        local_issuer.add_key(local_issuer.private_key)
    v = local_issuer.validator()
    v.prefetch()
    assert len(v.stats()["cached_kids"]) == 20
    v.close()


# -- the HTTP client: TLS verified, redirects not followed -------------------------------------------------


class _CountingListener:
    """A TCP port that accepts and drops connections, counting them."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


class _Server:
    """A loopback HTTP(S) server answering every GET with ``respond(handler)``."""

    def __init__(self, respond, ssl_context=None):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                status, headers, body = respond()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.hits = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # failed TLS handshakes are expected
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def test_redirect_to_plain_http_is_refused_without_contacting_it(local_issuer):
    target = _CountingListener()
    redirect = _Server(lambda: (302, {"Location": f"http://127.0.0.1:{target.port}/jwks"}, b""))
    try:
        v = make_validator(local_issuer, jwks_url=f"http://127.0.0.1:{redirect.port}/api/v1/oauth2/jwks")
        result = v.validate(local_issuer.mint())
        assert result.error is ErrorCode.KEYS_UNAVAILABLE
        assert "redirect" in result.error_message
        with pytest.raises(JwksError, match="redirect"):
            v.prefetch()
        time.sleep(0.1)
        assert target.accepted == 0  # the plain-http target was never contacted
        v.close()
    finally:
        redirect.close()
        target.close()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A certificate for 127.0.0.1 from a CA nobody trusts by default: (CA file, server cert, server key)."""
    directory = tmp_path_factory.mktemp("tls")
    ca_files, ca_cert, ca_key = make_ca(directory)
    server = issue_cert(directory, "server", ca_cert, ca_key, hosts=("127.0.0.1",))
    return str(ca_files.cert), str(server.cert), str(server.key)


def test_tls_is_verified(local_issuer, tls_files):
    ca_path, cert_path, key_path = tls_files
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server = _Server(
        lambda: (200, {"Content-Type": "application/json"}, json.dumps(local_issuer.jwks()).encode()), context
    )
    url = f"https://127.0.0.1:{server.port}/api/v1/oauth2/jwks"
    try:
        # The default client verifies certificates: one from an unknown CA is refused.
        untrusting = make_validator(local_issuer, jwks_url=url, jwks_fetch_timeout=2)
        result = untrusting.validate(local_issuer.mint())
        assert result.error is ErrorCode.KEYS_UNAVAILABLE
        assert "SSL" in result.error_message or "certificate" in result.error_message.lower()
        untrusting.close()
        # Trusting that CA, the same endpoint works.
        config = WristbandJwtValidatorConfig(issuer=local_issuer.issuer, jwks_url=url)
        pool = urllib3.PoolManager(ca_certs=ca_path, cert_reqs="CERT_REQUIRED")
        client = JwksClient(url, config.algorithms, 2.0, pool=pool)
        trusting = create_wristband_jwt_validator(config, jwks_client=client)
        assert_valid(trusting.validate(local_issuer.mint()))
        trusting.close()
    finally:
        server.close()


# -- a key set judged key by key ---------------------------------------------------------------------------


def _static_validator(local_issuer, keys, **overrides):
    return create_wristband_jwt_validator(
        WristbandJwtValidatorConfig(issuer=local_issuer.issuer, jwks={"keys": keys}, **overrides)
    )


def _unusable_twins(jwk):
    """Keys this validator cannot use, each under the real key's kid."""
    weak = dict(jwk, n=jwk["n"][:170])  # about 1016 bits
    return {
        "identical copy": dict(jwk),
        "PS256": dict(jwk, alg="PS256"),
        "use enc": dict(jwk, use="enc"),
        "EC": {"kty": "EC", "kid": jwk["kid"], "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        "too weak": weak,
        "bad n": dict(jwk, n="!!!"),
        "no e": {k: v for k, v in jwk.items() if k != "e"},
        "key_ops sign": dict(jwk, key_ops=["sign"]),
        "not an object": "x",
    }


@pytest.mark.parametrize("twin", list(_unusable_twins({"kid": "k", "n": "AQAB", "e": "AQAB"})))
@pytest.mark.parametrize("first", [True, False], ids=["twin-first", "twin-last"])
def test_a_twin_that_cannot_be_used_never_spoils_the_real_key(local_issuer, twin, first, caplog):
    caplog.set_level(logging.DEBUG, logger="wristband_mw")
    jwk = local_issuer.jwks()["keys"][0]
    other = _unusable_twins(jwk)[twin]
    keys = [other, jwk] if first else [jwk, other]
    v = _static_validator(local_issuer, keys)
    assert_valid(v.validate(local_issuer.mint()))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_two_different_keys_under_one_kid_make_only_that_kid_unusable(local_issuer, caplog):
    caplog.set_level(logging.DEBUG, logger="wristband_mw")
    clash = local_issuer.add_key()
    fine = local_issuer.add_key()
    published = local_issuer.jwks()["keys"]
    by_kid = {k["kid"]: k for k in published}
    impostor = dict(by_kid[local_issuer.kid], kid=clash)  # another key under clash's kid
    v = _static_validator(local_issuer, [by_kid[clash], impostor, by_kid[fine], by_kid[local_issuer.kid]])
    for signer in (clash,):
        result = v.validate(local_issuer.mint(kid=signer))
        assert result.error is ErrorCode.UNKNOWN_KEY, result
    forged = local_issuer.mint(kid=local_issuer.kid, headers={"kid": clash})  # signed by the impostor's key
    assert v.validate(forged).error is ErrorCode.UNKNOWN_KEY
    assert_valid(v.validate(local_issuer.mint(kid=fine)))
    assert_valid(v.validate(local_issuer.mint()))
    assert sorted(v.stats()["cached_kids"]) == sorted([fine, local_issuer.kid])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and clash in warnings[0], warnings


def test_a_fetched_set_with_a_clashing_kid_keeps_the_others_and_logs_once(local_issuer, caplog):
    caplog.set_level(logging.DEBUG, logger="wristband_mw")
    clash = local_issuer.add_key()
    published = {k["kid"]: k for k in local_issuer.jwks()["keys"]}
    document = {"keys": [published[clash], dict(published[local_issuer.kid], kid=clash), published[local_issuer.kid]]}
    body = json.dumps(document).encode()
    server = FaultServer(respond(200, b"\xef\xbb\xbf" + body))  # with a byte order mark, too (RFC 8259 8.1)
    try:
        v = create_wristband_jwt_validator(
            WristbandJwtValidatorConfig(issuer=local_issuer.issuer, jwks_url=server.url(), verified_token_cache_size=0)
        )
        assert_valid(v.validate(local_issuer.mint()))
        for _ in range(3):
            assert v.validate(local_issuer.mint(kid=clash)).error is ErrorCode.UNKNOWN_KEY
        assert server.hits == 1  # a clashing kid never causes a fetch
        v.prefetch()  # the same set again (as a TTL refresh would fetch it): no second warning
        assert server.hits == 2
        assert v.validate(local_issuer.mint(kid=clash)).error is ErrorCode.UNKNOWN_KEY
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and clash in warnings[0], warnings
        v.close()
    finally:
        server.close()

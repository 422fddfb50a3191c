"""JWKS fault injection against real loopback servers (issue 6, "JWKS faults").

Every fault is served by :class:`support.fault_server.FaultServer` on 127.0.0.1: refused
connections, resets, 500s, a server that never answers, one that hangs mid-body, a
slow-loris trickle, bodies over the 1 MiB cap (declared, chunked and close-delimited),
invalid JSON, unusable and duplicate keys, redirects (to http, loops, to bad TLS) and
TLS failures (self-signed, unknown CA, wrong host, a handshake that never ends).

For each fault the four properties of the issue are checked where they apply:

1. cached keys keep validating (stale-if-error) once a refresh fails;
2. unknown kids get the 503 path (``keys_unavailable``; HTTP 503 with ``Retry-After``
   and no ``WWW-Authenticate`` through both middlewares);
3. fetches stay within the cool-down (the servers count every connection);
4. nothing waits past ``jwks_fetch_timeout`` (measured around ``validate()``).

Time for cache lifetimes is an injected monotonic clock, so TTLs and cool-downs are
stepped, never slept; only the fetch timeout is real (0.5 s).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
import urllib3
from support.certs import issue_cert, make_ca, self_signed_cert
from support.clock import wait_until as poll_until
from support.fault_server import (
    FaultServer,
    abort,
    chunked_flood,
    close_delimited_flood,
    hang_before_headers,
    hang_mid_body,
    hops,
    oversized_with_length,
    raw_bytes,
    redirect,
    respond,
    silent,
    trickle,
    trickle_headers,
)

from wristband_mw import (
    ErrorCode,
    JwksError,
    JwtAsgiMiddleware,
    JwtWsgiMiddleware,
    WristbandJwtValidator,
    WristbandJwtValidatorConfig,
)
from wristband_mw.jwks import MAX_JWKS_BYTES, MAX_REDIRECTS, JwksClient
from wristband_mw.keystore import FIRST_BACKOFF
from wristband_mw.testing import LocalIssuer, b64url

TIMEOUT = 0.5  # jwks_fetch_timeout, real seconds
BOUND = TIMEOUT + 1.0  # property 4: no validate() waits longer than this
QUICK = TIMEOUT * 0.8  # a request that must not wait for the network at all
TTL_MS = 60_000
TTL = TTL_MS / 1000
COOLDOWN = 30.0
STALE = 600.0
WAIT = 5.0  # cap on every wait for a background event

ELAPSED: Dict[str, float] = {}  # fault -> the slowest validate() measured against it


# -- clock, tokens, documents ---------------------------------------------------------------------


class FakeClock:
    """The injected monotonic clock: moves only when the test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@dataclass
class Keys:
    issuer: LocalIssuer
    old: str  # served from the start
    new: str  # published only when the server recovers

    def document(self, *kids: str) -> bytes:
        return json.dumps({"keys": [k for k in self.issuer.jwks()["keys"] if k["kid"] in kids]}).encode()

    def jwk(self, kid: str) -> Dict[str, Any]:
        return next(k for k in self.issuer.jwks()["keys"] if k["kid"] == kid)

    def token(self, kid: Optional[str] = None, **claims: Any) -> str:
        """A fresh token (a new jti, so the verified-token cache never answers for it)."""
        return self.issuer.mint(kid=kid or self.old, **claims)

    def stranger(self) -> str:
        """Signed by a real key, under a kid nobody publishes (the key lookup comes before the signature)."""
        return self.issuer.mint(kid=self.old, headers={"kid": "ghost-" + uuid.uuid4().hex[:12]})

    def unsigned(self, kid: str) -> str:
        """Well-formed and in date, with a dummy 2048-bit signature: cheap, and the key lookup still comes first."""
        header = {"alg": "RS256", "typ": "at+JWT", "kid": kid}
        payload = self.issuer.claims()
        return ".".join((b64url(json.dumps(header)), b64url(json.dumps(payload)), b64url(b"\x01" * 256)))


@pytest.fixture(scope="module")
def keys() -> Iterator[Keys]:
    with LocalIssuer() as issuer:  # only for its keys and minting; its own server is never fetched
        yield Keys(issuer, issuer.kid, issuer.add_key())


@dataclass
class Pki:
    ca_file: str
    good: Any  # CertFiles signed by the trusted CA for 127.0.0.1
    wrong_host: Any  # trusted CA, but for another name
    self_signed: Any
    unknown_ca: Any  # signed by a CA the client does not trust


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    base: Path = tmp_path_factory.mktemp("pki")
    ca_files, ca_cert, ca_key = make_ca(base / "trusted")
    _, rogue_cert, rogue_key = make_ca(base / "rogue", "rogue CA")
    return Pki(
        ca_file=str(ca_files.cert),
        good=issue_cert(base / "trusted", "good", ca_cert, ca_key),
        wrong_host=issue_cert(base / "trusted", "wrong", ca_cert, ca_key, hosts=("wrong.example",)),
        self_signed=self_signed_cert(base / "self", "self"),
        unknown_ca=issue_cert(base / "rogue", "leaf", rogue_cert, rogue_key),
    )


# -- the servers and validators of one test --------------------------------------------------------


class Env:
    """A primary http JWKS server plus the helpers some faults redirect to."""

    def __init__(self, keys: Keys, pki: Pki) -> None:
        self.keys = keys
        self.pki = pki
        self.servers: List[FaultServer] = []
        self.validators: List[WristbandJwtValidator] = []
        self.srv = self.server()

    def server(self, tls: Any = None) -> FaultServer:
        context = tls.server_context() if tls is not None else None
        server = FaultServer(respond(200, self.keys.document(self.keys.old)), tls=context)
        self.servers.append(server)
        return server

    def hits(self) -> int:
        """Connections to every server of the test: what the fetches cost the outside world."""
        return sum(server.hits for server in self.servers)

    def validator(
        self, clock: FakeClock, url: Optional[str] = None, *, trust_ca: bool = True, **overrides: Any
    ) -> WristbandJwtValidator:
        url = url or self.srv.url()
        options: Dict[str, Any] = {
            "issuer": self.keys.issuer.issuer,
            "jwks_url": url,
            "jwks_fetch_timeout": TIMEOUT,
            "jwks_cache_ttl": TTL_MS,
            "jwks_refresh_cooldown": COOLDOWN,
            "jwks_stale_if_error": STALE,
        }
        options.update(overrides)
        config = WristbandJwtValidatorConfig(**options)
        client = None
        if trust_ca:
            pool = urllib3.PoolManager(ca_certs=self.pki.ca_file)
            client = JwksClient(url, config.algorithms, config.jwks_fetch_timeout, pool=pool)
        validator = WristbandJwtValidator(config, monotonic=clock, jwks_client=client)
        self.validators.append(validator)
        return validator

    def close(self) -> None:
        for validator in self.validators:
            validator.close()
        for server in self.servers:
            server.close()


@pytest.fixture
def env(keys: Keys, pki: Pki) -> Iterator[Env]:
    environment = Env(keys, pki)
    try:
        yield environment
    finally:
        environment.close()


# -- the faults ---------------------------------------------------------------------------------------


@dataclass
class Fault:
    name: str
    arm: Callable[[Env], None]  # switch the primary server (after a good first fetch) to the fault
    error: str  # in the keys_unavailable message
    hangs: bool = False  # a fetch ends only by the client's deadline (so it takes about TIMEOUT)
    hits_per_fetch: int = 1  # connections one failed fetch makes, over all servers
    check: Optional[Callable[[Env], None]] = field(default=None)


def _set(behaviour_of: Callable[[Env], Any]) -> Callable[[Env], None]:
    def arm(env: Env) -> None:
        env.srv.behaviour = behaviour_of(env)

    return arm


def _redirect_to(make_target: Callable[[Env], FaultServer], scheme: Optional[str] = None) -> Callable[[Env], None]:
    def arm(env: Env) -> None:
        target = make_target(env)
        env.srv.behaviour = redirect(target.url(scheme=scheme))
        env.redirect_target = target  # type: ignore[attr-defined]

    return arm


def _tls_loop(env: Env) -> FaultServer:
    server = env.server(env.pki.good)
    server.behaviour = redirect(server.url())  # https, to itself, forever
    return server


def _plain_http_target(env: Env) -> FaultServer:
    return env.server()  # serves the good JWKS, but must never be asked


def _target_untouched(env: Env) -> None:
    assert env.redirect_target.hits == 0  # type: ignore[attr-defined]


def _silent_target(env: Env) -> FaultServer:
    server = env.server()
    server.behaviour = silent()
    return server


def _tls_target(cert: str) -> Callable[[Env], FaultServer]:
    def make(env: Env) -> FaultServer:
        return env.server(getattr(env.pki, cert))

    return make


def _tls_refused(env: Env) -> None:
    target = env.redirect_target  # type: ignore[attr-defined]
    wait_until(lambda: target.tls_failures == target.hits)  # the server learns of the refusal a moment later
    assert target.requests == 0


def _unusable_document(env: Env) -> bytes:
    good = env.keys.jwk(env.keys.old)
    return json.dumps(
        {
            "keys": [
                {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
                {**good, "kid": "enc", "use": "enc"},
                {**good, "kid": "short", "n": good["n"][:170]},  # about 1016 bits
                {**good, "kid": "no-e", "e": None},
                {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            ]
        }
    ).encode()


def _duplicate_document(env: Env) -> bytes:
    old, new = env.keys.jwk(env.keys.old), env.keys.jwk(env.keys.new)
    return json.dumps({"keys": [old, {**new, "kid": env.keys.old}]}).encode()


def _refuse(env: Env) -> None:
    env.srv.refuse()


def _big_body(env: Env) -> bytes:
    return env.keys.document(env.keys.old)


FAULTS = [
    Fault("connection refused", _refuse, r"NewConnectionError|refused", hits_per_fetch=0),
    Fault("connection reset", _set(lambda env: abort()), r"ProtocolError|reset|aborted"),
    Fault("http 500", _set(lambda env: respond(500, b'{"error":"server_error"}')), "answered HTTP 500"),
    Fault("http 404", _set(lambda env: respond(404, b"not found")), "answered HTTP 404"),
    Fault("not http", _set(lambda env: raw_bytes(b"SSH-2.0-OpenSSH_9.6\r\n")), r"ProtocolError|BadStatusLine"),
    Fault("hang before headers", _set(lambda env: hang_before_headers()), r"Timeout|timed out", hangs=True),
    Fault(
        "hang mid-body",
        _set(lambda env: hang_mid_body(_big_body(env))),
        r"Timeout|timed out|took longer",
        hangs=True,
    ),
    Fault(
        "slow loris",
        _set(lambda env: trickle(_big_body(env), interval=0.02)),
        r"took longer|Timeout|timed out",
        hangs=True,
    ),
    Fault(
        "slow loris chunked",
        _set(lambda env: trickle(_big_body(env), interval=0.02, chunked=True)),
        r"took longer|Timeout|timed out",
        hangs=True,
    ),
    Fault("body over 1 MiB, Content-Length", _set(lambda env: oversized_with_length(MAX_JWKS_BYTES + 1)), "byte limit"),
    Fault("body over 1 MiB, chunked", _set(lambda env: chunked_flood(2 * MAX_JWKS_BYTES)), "byte limit"),
    Fault(
        "body over 1 MiB, close-delimited", _set(lambda env: close_delimited_flood(2 * MAX_JWKS_BYTES)), "byte limit"
    ),
    Fault("invalid json", _set(lambda env: respond(200, b'{"keys": [')), "not valid JSON"),
    Fault("json not a jwks", _set(lambda env: respond(200, b'["keys"]')), r"JSON|keys"),
    Fault(
        "gzip body",
        _set(lambda env: respond(200, b"\x1f\x8b\x08\x00", [("Content-Encoding", "gzip")])),
        "Content-Encoding",
    ),
    Fault("no usable keys", _set(lambda env: respond(200, _unusable_document(env))), "no usable"),
    Fault("duplicate kids", _set(lambda env: respond(200, _duplicate_document(env))), "different keys share kid"),
    Fault(
        "redirect to http",
        _redirect_to(_plain_http_target),
        "non-https",
        check=_target_untouched,
    ),
    Fault(
        "redirect relative to http",
        _set(lambda env: redirect("/elsewhere")),
        "non-https",
    ),
    Fault(
        "redirect loop over https",
        _redirect_to(_tls_loop),
        f"more than {MAX_REDIRECTS} times",
        hits_per_fetch=MAX_REDIRECTS + 1,
    ),
    Fault(
        "redirect to self-signed tls",
        _redirect_to(_tls_target("self_signed")),
        r"SSLError|CERTIFICATE_VERIFY_FAILED",
        hits_per_fetch=2,
        check=_tls_refused,
    ),
    Fault(
        "redirect to unknown-CA tls",
        _redirect_to(_tls_target("unknown_ca")),
        r"SSLError|CERTIFICATE_VERIFY_FAILED",
        hits_per_fetch=2,
        check=_tls_refused,
    ),
    Fault(
        "redirect to tls for another host",
        _redirect_to(_tls_target("wrong_host")),
        r"SSLError|mismatch|CERTIFICATE_VERIFY_FAILED",
        hits_per_fetch=2,
        check=_tls_refused,
    ),
    Fault(
        "redirect to a tls handshake that never ends",
        _redirect_to(_silent_target, scheme="https"),
        r"Timeout|timed out",
        hangs=True,
        hits_per_fetch=2,
    ),
]


def fault_ids(fault: Fault) -> str:
    return fault.name.replace(" ", "-")


# -- helpers ------------------------------------------------------------------------------------------


def timed(validator: WristbandJwtValidator, token: str) -> Tuple[Any, float]:
    started = time.monotonic()
    result = validator.validate(token)
    return result, time.monotonic() - started


def note_elapsed(name: str, seconds: float) -> None:
    ELAPSED[name] = max(ELAPSED.get(name, 0.0), seconds)


def assert_bounded(fault: Fault, seconds: float) -> None:
    """Property 4: a request that fetches waits at most the fetch timeout (plus scheduling slack)."""
    note_elapsed(fault.name, seconds)
    assert seconds < BOUND, (fault.name, seconds)
    if fault.hangs:  # it really hung, and the deadline (not the server) ended it
        assert seconds >= TIMEOUT * 0.8, (fault.name, seconds)


def assert_valid(result: Any) -> None:
    assert result.is_valid, (result.error, result.error_message)


def assert_unavailable(result: Any, error: str) -> None:
    assert not result.is_valid
    assert result.error is ErrorCode.KEYS_UNAVAILABLE, (result.error, result.error_message)
    assert result.error_message.startswith("Failed to get signing key: ")
    assert re.search(error, result.error_message), result.error_message


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    assert poll_until(predicate, timeout), "timed out waiting"


def failed_fetches(validator: WristbandJwtValidator) -> int:
    return int(validator.stats()["jwks_fetches_failed"])


def wait_for_fetches(validator: WristbandJwtValidator, counter: str, count: int) -> None:
    """Wait until ``count`` fetches are counted and every background refresh has finished (and logged)."""
    wait_until(lambda: validator.stats()[counter] == count, TIMEOUT + WAIT)
    for thread in threading.enumerate():
        if thread.name == "wristband_mw-jwks-refresh":
            thread.join(WAIT)
            assert not thread.is_alive()


def wsgi_request(validator: WristbandJwtValidator, token: str) -> Tuple[int, Dict[str, str], bytes]:
    reached: List[bool] = []

    def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> List[bytes]:
        reached.append(True)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    captured: Dict[str, Any] = {}

    def start_response(status: str, headers: List[Tuple[str, str]], exc_info: Any = None) -> None:
        captured["status"], captured["headers"] = status, headers

    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/api/orders",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
    }
    body = b"".join(JwtWsgiMiddleware(app, validator)(environ, start_response))
    headers = {name.lower(): value for name, value in captured["headers"]}
    status = int(captured["status"].split(" ", 1)[0])
    assert bool(reached) == (status == 200)
    return status, headers, body


def asgi_request(validator: WristbandJwtValidator, token: str) -> Tuple[int, Dict[str, str], bytes]:
    messages: List[Dict[str, Any]] = []

    async def app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive() -> Dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/orders",
        "raw_path": b"/api/orders",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def run() -> None:
        await asyncio.wait_for(JwtAsgiMiddleware(app, validator)(scope, receive, send), WAIT)

    asyncio.run(run())
    start, body = messages[0], messages[1]
    headers = {name.decode().lower(): value.decode() for name, value in start["headers"]}
    return start["status"], headers, body["body"]


def assert_503(response: Tuple[int, Dict[str, str], bytes], token: str, retry_after: float = COOLDOWN) -> None:
    status, headers, body = response
    assert status == 503, (status, body)
    assert headers.get("retry-after") == str(int(retry_after))
    assert "www-authenticate" not in headers
    assert json.loads(body)["error"] == "temporarily_unavailable"
    assert token.encode() not in body


def assert_no_token_logged(caplog: pytest.LogCaptureFixture, tokens: List[str]) -> None:
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        for token in tokens:
            assert token not in text, record
            assert token.rsplit(".", 1)[1] not in text, record  # not even the signature


def failure_warnings(caplog: pytest.LogCaptureFixture) -> List[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "wristband_mw" and r.levelno == logging.WARNING and "failed" in r.getMessage()
    ]


# -- every fault, after a good start: the four properties ------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS, ids=fault_ids)
def test_fault_after_a_good_fetch(env: Env, keys: Keys, fault: Fault, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wristband_mw")
    clock = FakeClock()
    validator = env.validator(clock)
    first = keys.token()
    assert_valid(validator.validate(first))
    assert env.hits() == 1  # the routine first fetch

    fault.arm(env)
    base = env.hits()
    clock.advance(TTL + 1)  # the key set is past its TTL: the next request starts a refresh

    # (1) + (4): a request in the refresh does not wait for it, and the cached key verifies.
    result, elapsed = timed(validator, keys.token())
    assert_valid(result)
    assert elapsed < QUICK, elapsed
    wait_for_fetches(validator, "jwks_fetches_failed", 1)
    assert env.hits() == base + fault.hits_per_fetch
    assert_valid(validator.validate(first))  # stale-if-error: the verified-token cache
    assert_valid(validator.validate(keys.token()))  # and the key itself
    assert validator.stats()["stale_serves"] >= 2
    assert env.hits() == base + fault.hits_per_fetch  # a failed refresh is retried only after the cool-down
    if fault.check is not None:
        fault.check(env)

    # The failed refresh started the back-off: inside it, no lookup fetches, whatever the kid.
    fresh = keys.token(kid=keys.new)
    result, elapsed = timed(validator, fresh)
    assert_unavailable(result, fault.error)
    assert elapsed < QUICK, elapsed
    assert env.hits() == base + fault.hits_per_fetch
    assert validator.stats()["backoff_rejections"] == 1
    clock.advance(FIRST_BACKOFF + 0.01)

    # (2) + (4): a kid that is not cached: one fetch, bounded in time, then 503.
    result, elapsed = timed(validator, fresh)
    assert_unavailable(result, fault.error)
    assert_bounded(fault, elapsed)
    assert env.hits() == base + 2 * fault.hits_per_fetch

    # (3): inside the cool-down, no more fetches for any kid, and answers come at once.
    tokens = [fresh, first]
    for _ in range(5):
        token = keys.stranger()
        tokens.append(token)
        result, elapsed = timed(validator, token)
        assert_unavailable(result, fault.error)
        assert elapsed < QUICK, elapsed
    assert_503(wsgi_request(validator, fresh), fresh)
    assert_503(asgi_request(validator, fresh), fresh)
    assert_valid(validator.validate(keys.token()))  # old key: still stale-served
    clock.advance(COOLDOWN / 2)
    assert_unavailable(validator.validate(keys.stranger()), fault.error)
    assert_valid(validator.validate(keys.token()))
    assert env.hits() == base + 2 * fault.hits_per_fetch
    assert validator.stats()["cooldown_rejections"] >= 7

    # After the cool-down: exactly one more fetch, still bounded, still 503.
    clock.advance(COOLDOWN / 2 + 0.01)
    result, elapsed = timed(validator, keys.token(kid=keys.new))
    assert_unavailable(result, fault.error)
    assert_bounded(fault, elapsed)
    assert_valid(validator.validate(keys.token()))  # the old key is still stale-served
    assert env.hits() == base + 3 * fault.hits_per_fetch

    # The same through the WSGI middleware, for a request that does fetch.
    clock.advance(COOLDOWN + 0.01)
    started = time.monotonic()
    assert_503(wsgi_request(validator, fresh), fresh)
    assert_bounded(fault, time.monotonic() - started)
    assert env.hits() == base + 4 * fault.hits_per_fetch

    # One warning for the whole failure streak, however many fetches failed in it.
    assert failed_fetches(validator) == 4
    assert len(failure_warnings(caplog)) == 1, [r.getMessage() for r in failure_warnings(caplog)]

    # Recovery: the next fetch (after the cool-down) brings the new key in.
    if fault.name == "connection refused":
        env.srv.resume()
    env.srv.behaviour = respond(200, keys.document(keys.old, keys.new))
    clock.advance(COOLDOWN + 0.01)
    assert_valid(validator.validate(fresh))
    assert_valid(validator.validate(keys.token(kid=keys.new)))
    assert any("succeeded again" in r.getMessage() for r in caplog.records)
    assert_no_token_logged(caplog, tokens)


# -- every fault from a cold start: nothing cached, nothing to serve stale --------------------------------


@pytest.mark.parametrize("fault", FAULTS, ids=fault_ids)
def test_fault_from_a_cold_start(env: Env, keys: Keys, fault: Fault, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wristband_mw")
    clock = FakeClock()
    validator = env.validator(clock)
    fault.arm(env)
    base = env.hits()
    token = keys.token()

    result, elapsed = timed(validator, token)
    assert_unavailable(result, fault.error)
    assert_bounded(fault, elapsed)
    assert env.hits() == base + fault.hits_per_fetch
    assert failed_fetches(validator) == 1

    # With nothing cached there is nothing to serve stale. The failed fetch started the
    # back-off (1 s): inside it every request, through the validator or either middleware,
    # is refused at once, with Retry-After saying what is left, and nothing is fetched.
    tokens = [token, keys.stranger()]
    result, elapsed = timed(validator, tokens[1])
    assert_unavailable(result, fault.error)
    assert elapsed < QUICK, elapsed
    started = time.monotonic()
    assert_503(wsgi_request(validator, token), token, retry_after=FIRST_BACKOFF)
    clock.advance(FIRST_BACKOFF / 2)  # what is left is rounded up to whole seconds
    assert_503(asgi_request(validator, token), token, retry_after=FIRST_BACKOFF)
    assert time.monotonic() - started < QUICK * 2
    assert env.hits() == base + fault.hits_per_fetch
    assert failed_fetches(validator) == 1
    assert validator.stats()["backoff_rejections"] == 3

    # Each back-off step lets one fetch through (each bounded by the timeout); the step
    # doubles up to jwks_refresh_cooldown.
    clock.advance(FIRST_BACKOFF / 2 + 0.01)
    for fetches, backoff in enumerate([2.0, 4.0, 8.0, 16.0, COOLDOWN], start=2):
        result, elapsed = timed(validator, keys.stranger())
        assert_unavailable(result, fault.error)
        assert_bounded(fault, elapsed)
        assert failed_fetches(validator) == fetches
        assert validator.keys_retry_after() == pytest.approx(backoff)
        clock.advance(backoff - 0.02)
        assert_unavailable(validator.validate(keys.stranger()), fault.error)
        clock.advance(0.03)
    assert env.hits() == base + 6 * fault.hits_per_fetch
    assert validator.stats()["cooldown_rejections"] == 0
    assert len(failure_warnings(caplog)) == 1  # one warning for the whole streak
    assert_no_token_logged(caplog, tokens)

    # Recovery is prompt: prefetch() fetches whatever the back-off says, and a success
    # ends the back-off.
    assert_unavailable(validator.validate(token), fault.error)  # a step is running again
    if fault.name == "connection refused":
        env.srv.resume()
    env.srv.behaviour = respond(200, keys.document(keys.old, keys.new))
    validator.prefetch()
    assert validator.keys_retry_after() is None
    assert_valid(validator.validate(token))
    assert_valid(validator.validate(keys.token(kid=keys.new)))
    assert any("succeeded again" in r.getMessage() for r in caplog.records)


# -- TLS: the good path needs the client to trust the CA ------------------------------------------------


def test_https_fetch_works_when_the_pool_trusts_the_ca(env: Env, keys: Keys) -> None:
    tls = env.server(env.pki.good)
    validator = env.validator(FakeClock(), tls.url())
    assert_valid(validator.validate(keys.token()))
    assert (tls.requests, tls.tls_failures) == (1, 0)


def test_https_with_the_default_trust_store_refuses_a_private_ca(env: Env, keys: Keys) -> None:
    tls = env.server(env.pki.good)
    validator = env.validator(FakeClock(), tls.url(), trust_ca=False)
    assert_unavailable(validator.validate(keys.token()), r"SSLError|CERTIFICATE_VERIFY_FAILED")
    wait_until(lambda: tls.tls_failures == 1)
    assert tls.requests == 0


@pytest.mark.parametrize("cert", ["self_signed", "unknown_ca", "wrong_host"])
def test_direct_https_with_a_bad_certificate(env: Env, keys: Keys, cert: str) -> None:
    tls = env.server(getattr(env.pki, cert))
    validator = env.validator(FakeClock(), tls.url())
    assert_unavailable(validator.validate(keys.token()), r"SSLError|CERTIFICATE_VERIFY_FAILED|mismatch")
    wait_until(lambda: tls.tls_failures == 1)
    assert tls.requests == 0


def test_direct_https_handshake_that_never_ends(env: Env, keys: Keys) -> None:
    hung = env.server()
    hung.behaviour = silent()
    validator = env.validator(FakeClock(), hung.url(scheme="https"))
    result, elapsed = timed(validator, keys.token())
    note_elapsed("direct https handshake hang", elapsed)
    assert_unavailable(result, r"Timeout|timed out")
    assert elapsed < BOUND, elapsed


def test_redirect_to_https_is_followed(env: Env, keys: Keys) -> None:
    tls = env.server(env.pki.good)
    env.srv.behaviour = redirect(tls.url("/hop/0"), status=307)
    validator = env.validator(FakeClock())
    assert_valid(validator.validate(keys.token()))
    assert (env.srv.requests, tls.requests) == (1, 1)


@pytest.mark.parametrize(("redirects", "ok"), [(MAX_REDIRECTS, True), (MAX_REDIRECTS + 1, False)])
def test_redirects_are_bounded(env: Env, keys: Keys, redirects: int, ok: bool) -> None:
    tls = env.server(env.pki.good)
    tls.behaviour = hops(respond(200, keys.document(keys.old)), status=301)
    env.srv.behaviour = redirect(tls.url(f"/hop/{redirects - 1}"), status=308)
    validator = env.validator(FakeClock())
    result = validator.validate(keys.token())
    if ok:
        assert_valid(result)
    else:
        assert_unavailable(result, f"more than {MAX_REDIRECTS} times")
    assert env.srv.requests + tls.requests == min(redirects, MAX_REDIRECTS) + 1


# -- the stale window ends, and the trickle never beats the deadline -------------------------------------


def test_stale_keys_are_dropped_after_the_stale_window(env: Env, keys: Keys) -> None:
    clock = FakeClock()
    validator = env.validator(clock)
    token = keys.token()
    assert_valid(validator.validate(token))
    env.srv.behaviour = respond(500)
    clock.advance(TTL + STALE - 1)
    assert_valid(validator.validate(keys.token()))  # just inside: stale-served (and a refresh fails)
    wait_for_fetches(validator, "jwks_fetches_failed", 1)
    clock.advance(2)
    assert_unavailable(validator.validate(token), "HTTP 500")  # past it: no key, no verified token
    assert_unavailable(validator.validate(keys.token()), "HTTP 500")
    assert validator.stats()["cached_kids"] == []


def test_each_failure_streak_warns_once(env: Env, keys: Keys, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wristband_mw")
    clock = FakeClock()
    validator = env.validator(clock)
    token = keys.token()
    assert_valid(validator.validate(token))
    for streak in (1, 2):
        env.srv.behaviour = respond(500)
        for _ in range(3):  # three failed refreshes, one cool-down apart
            clock.advance(max(TTL, COOLDOWN) + 1)
            failed = failed_fetches(validator)
            assert_valid(validator.validate(keys.token()))
            wait_for_fetches(validator, "jwks_fetches_failed", failed + 1)
        assert len(failure_warnings(caplog)) == streak
        env.srv.behaviour = respond(200, keys.document(keys.old))
        clock.advance(max(TTL, COOLDOWN) + 1)
        ok = validator.stats()["jwks_fetches_ok"]
        assert_valid(validator.validate(keys.token()))
        wait_for_fetches(validator, "jwks_fetches_ok", ok + 1)
        assert sum("succeeded again" in r.getMessage() for r in caplog.records) == streak
    assert env.srv.hits == 1 + 2 * 4
    assert_no_token_logged(caplog, [token])


def test_a_trickle_within_every_read_timeout_still_meets_the_deadline(env: Env, keys: Keys) -> None:
    # Each byte arrives well within the read timeout; only the whole-fetch deadline can stop it.
    env.srv.behaviour = trickle(keys.document(keys.old), interval=TIMEOUT / 10)
    validator = env.validator(FakeClock())
    result, elapsed = timed(validator, keys.token())
    assert_unavailable(result, r"took longer|Timeout|timed out")
    assert TIMEOUT * 0.8 < elapsed < BOUND, elapsed


def test_followers_of_a_hung_fetch_wait_no_longer_than_the_leader(env: Env, keys: Keys) -> None:
    env.srv.behaviour = hang_before_headers()
    validator = env.validator(FakeClock())
    tokens = [keys.token() for _ in range(8)]
    results: List[Any] = [None] * len(tokens)
    times: List[float] = [0.0] * len(tokens)

    def worker(index: int) -> None:
        results[index], times[index] = timed(validator, tokens[index])

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads)
    for result in results:
        assert_unavailable(result, r"Timeout|timed out")
    note_elapsed("hang before headers, 8 concurrent", max(times))
    assert max(times) < BOUND, times
    assert env.srv.hits == 1  # single flight


# -- a flood of unknown kids: one fetch per cool-down window ---------------------------------------------


@pytest.mark.parametrize("server_state", ["healthy", "failing", "refusing"])
def test_flood_of_unknown_kids_fetches_once_per_window(env: Env, keys: Keys, server_state: str) -> None:
    clock = FakeClock()
    validator = env.validator(clock)
    assert_valid(validator.validate(keys.token()))
    assert env.hits() == 1
    if server_state == "failing":
        env.srv.behaviour = respond(500)
    elif server_state == "refusing":
        env.srv.refuse()
    expected = ErrorCode.UNKNOWN_KEY if server_state == "healthy" else ErrorCode.KEYS_UNAVAILABLE
    rng = random.Random(6)
    windows = 4
    for window in range(1, windows + 1):
        tokens = [keys.unsigned(f"flood-{rng.getrandbits(64):x}") for _ in range(200)]
        codes = _flood(validator, tokens, threads=16)
        assert codes == {expected}, codes
        if server_state != "refusing":
            assert env.srv.hits == 1 + window, (window, env.srv.hits)
        assert validator.stats()["jwks_fetches_ok"] + failed_fetches(validator) == 1 + window
        clock.advance(COOLDOWN + 0.01)
    assert_valid(validator.validate(keys.token()))  # good keys were never evicted by the misses


def test_flood_while_nothing_was_ever_fetched(env: Env, keys: Keys) -> None:
    # The endpoint hangs from the start: concurrent cold requests share one fetch (single
    # flight) and all get the 503 path within the timeout, not one timeout each in turn.
    env.srv.behaviour = hang_before_headers()
    validator = env.validator(FakeClock())
    tokens = [keys.token() for _ in range(16)] + [keys.unsigned(uuid.uuid4().hex) for _ in range(16)]
    started = time.monotonic()
    assert _flood(validator, tokens, threads=32) == {ErrorCode.KEYS_UNAVAILABLE}
    assert time.monotonic() - started < BOUND
    assert env.srv.hits == 1


def test_flood_of_random_kids_from_a_cold_start_fetches_once(env: Env, keys: Keys) -> None:
    # The first fetch, caused by a kid that turns out unknown, starts the cool-down too.
    clock = FakeClock()
    validator = env.validator(clock)
    rng = random.Random(7)
    for window in range(1, 4):
        tokens = [keys.unsigned(f"flood-{rng.getrandbits(64):x}") for _ in range(200)]
        assert _flood(validator, tokens, threads=16) == {ErrorCode.UNKNOWN_KEY}
        assert env.srv.hits == window, (window, env.srv.hits)
        clock.advance(COOLDOWN + 0.01)
    assert_valid(validator.validate(keys.token()))


def _flood(validator: WristbandJwtValidator, tokens: List[str], threads: int) -> set:
    results: List[Any] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)
    share = [tokens[i::threads] for i in range(threads)]

    def worker(mine: List[str]) -> None:
        start.wait(WAIT)
        out = [validator.validate(token).error for token in mine]
        with lock:
            results.extend(out)

    pool = [threading.Thread(target=worker, args=(mine,), daemon=True) for mine in share]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in pool)
    assert len(results) == len(tokens)
    return set(results)


# -- a server trickling header bytes: one deadline bounds the fetch and every waiter --------------------


def test_a_header_trickle_is_cut_at_the_deadline(env: Env, keys: Keys) -> None:
    # The status line comes at once, then a header byte every TIMEOUT / 10: every recv is
    # well inside any read timeout, so only the whole-fetch deadline can end it.
    env.srv.behaviour = trickle_headers(interval=TIMEOUT / 10)
    validator = env.validator(FakeClock())
    result, elapsed = timed(validator, keys.token())
    note_elapsed("header trickle", elapsed)
    assert_unavailable(result, r"timed out")
    assert TIMEOUT * 0.8 < elapsed < BOUND, elapsed
    assert env.srv.hits == 1


def test_waiters_on_a_header_trickle_end_within_the_deadline(env: Env, keys: Keys) -> None:
    # Threads (WSGI-style) and asyncio tasks (validate_async, whose fetches share a small
    # worker pool) all wait on the one trickled fetch: none waits past its deadline.
    env.srv.behaviour = trickle_headers(interval=TIMEOUT / 10)
    validator = env.validator(FakeClock())
    thread_times: List[float] = []
    lock = threading.Lock()

    def worker() -> None:
        result, elapsed = timed(validator, keys.unsigned(uuid.uuid4().hex))
        assert result.error is ErrorCode.KEYS_UNAVAILABLE
        with lock:
            thread_times.append(elapsed)

    async def one() -> float:
        started = time.monotonic()
        result = await validator.validate_async(keys.unsigned(uuid.uuid4().hex))
        assert result.error is ErrorCode.KEYS_UNAVAILABLE
        return time.monotonic() - started

    async def tasks() -> List[float]:
        return list(await asyncio.gather(*(one() for _ in range(24))))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    task_times = asyncio.run(asyncio.wait_for(tasks(), WAIT))
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads)
    assert len(thread_times) == 8
    note_elapsed("header trickle, 8 threads", max(thread_times))
    note_elapsed("header trickle, 24 asyncio tasks", max(task_times))
    assert max(thread_times) < BOUND, thread_times
    assert max(task_times) < BOUND, task_times
    assert env.srv.hits == 1  # one fetch, then the back-off


def test_a_background_refresh_is_never_wedged(env: Env, keys: Keys) -> None:
    clock = FakeClock()
    validator = env.validator(clock)
    assert_valid(validator.validate(keys.token()))
    env.srv.behaviour = trickle_headers(interval=TIMEOUT / 10)
    clock.advance(TTL + 1)
    assert_valid(validator.validate(keys.token()))  # starts the refresh, served from cache
    wait_for_fetches(validator, "jwks_fetches_failed", 1)  # ended by the deadline, not by the server
    env.srv.behaviour = respond(200, keys.document(keys.old, keys.new))
    clock.advance(COOLDOWN + 1)
    assert_valid(validator.validate(keys.token()))  # the next refresh runs
    wait_for_fetches(validator, "jwks_fetches_ok", 2)
    assert_valid(validator.validate(keys.token(kid=keys.new)))


# -- floods of random kids while the JWKS fails or is empty: one fetch per back-off step --------------


EMPTY = json.dumps({"keys": []}).encode()


def _async_flood(validator: WristbandJwtValidator, tokens: List[str]) -> set:
    async def run() -> List[Any]:
        results = await asyncio.gather(*(validator.validate_async(token) for token in tokens))
        return [result.error for result in results]

    return set(asyncio.run(asyncio.wait_for(run(), WAIT + TIMEOUT)))


@pytest.mark.parametrize("via", ["threads", "asyncio"])
@pytest.mark.parametrize("answer", ["503", "empty"])
def test_random_kid_flood_against_a_failing_jwks_fetches_once_per_backoff_step(
    env: Env, keys: Keys, answer: str, via: str
) -> None:
    env.srv.behaviour = respond(503) if answer == "503" else respond(200, EMPTY)
    clock = FakeClock()
    validator = env.validator(clock)
    rng = random.Random(f"{answer}-{via}")
    backoff = FIRST_BACKOFF
    for step in range(1, 5):
        tokens = [keys.unsigned(f"flood-{rng.getrandbits(64):x}") for _ in range(120)] + [keys.token()]
        codes = _flood(validator, tokens, threads=16) if via == "threads" else _async_flood(validator, tokens)
        assert codes == {ErrorCode.KEYS_UNAVAILABLE}, codes
        assert env.srv.hits == step, (step, env.srv.hits)
        remaining = validator.keys_retry_after()
        assert remaining == pytest.approx(backoff), (step, remaining)
        assert_503(wsgi_request(validator, tokens[0]), tokens[0], retry_after=backoff)
        clock.advance(backoff + 0.01)
        backoff = min(backoff * 2, COOLDOWN)
    assert validator.stats()["backoff_rejections"] >= 4  # at least the WSGI request of each step
    env.srv.behaviour = respond(200, keys.document(keys.old))
    assert_valid(validator.validate(keys.token()))  # the first success ends the back-off
    assert validator.keys_retry_after() is None
    assert env.srv.hits == 5


def test_flood_after_every_key_expired_past_stale_if_error(env: Env, keys: Keys) -> None:
    clock = FakeClock()
    validator = env.validator(clock)
    assert_valid(validator.validate(keys.token()))
    env.srv.behaviour = respond(200, EMPTY)
    clock.advance(TTL + STALE + 1)  # nothing usable is left
    tokens = [keys.unsigned(f"gone-{uuid.uuid4().hex}") for _ in range(100)] + [keys.token()]
    assert _flood(validator, tokens, threads=16) == {ErrorCode.KEYS_UNAVAILABLE}
    assert env.srv.hits == 2
    assert _async_flood(validator, tokens) == {ErrorCode.KEYS_UNAVAILABLE}
    assert env.srv.hits == 2
    # prefetch() always fetches, back-off or not.
    with pytest.raises(JwksError, match="no usable"):
        validator.prefetch()
    assert env.srv.hits == 3


# -- the measured times, for the closing note ---------------------------------------------------------------


def test_zz_report_elapsed_times() -> None:
    """Prints the slowest ``validate()`` measured per fault (run with ``-s`` to see it)."""
    for name, seconds in sorted(ELAPSED.items()):
        assert seconds < BOUND, (name, seconds)
        print(f"{name:50s} {seconds * 1000:7.1f} ms")

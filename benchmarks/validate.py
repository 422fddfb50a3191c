"""In-process benchmark: ``wristband_mw`` ``validate()`` next to a raw RSA verify and its peers.

One command, from the repository root (peers come from the ``bench`` extra)::

    python -m pip install -e '.[bench]'
    python benchmarks/validate.py           # full run, about a minute
    python benchmarks/validate.py --quick   # smoke run, a few seconds

or ``tox -e bench`` (``tox -e bench -- --quick``). See ``benchmarks/README.rst``.

Method: every case is timed in the same process, in interleaved rounds. Each round
runs a batch of calls of every case, in a shuffled order, with the garbage collector
off while a batch runs; a case's figure is the median over rounds of its
microseconds per call, and its ratio is the median over rounds of its time divided
by the raw verify's time *in the same round*, so drifts of a noisy machine cancel.

"Forged" calls validate the costliest forged token found among several shapes built
to the parser's budgets (many members, nested objects and arrays, long fractions,
escapes, maximum size): valid header, ``iss`` and ``exp``, a forged signature, so each
gets as far as a forgery can. A quick pre-timing picks the worst; its ratio to the
fresh case (paired by round) is the figure for issue 9 section 5.

"Fresh" calls take distinct tokens, in turn, from a pool minted beforehand; the
``wristband_mw`` fresh case gets a new validator (keys prefetched, not timed) each
time the pool wraps, so every token it times is one it has never seen. "Repeat"
calls validate one token again and again (a verified-token cache hit).

Before any timing, every case must accept a valid token and reject a tampered one
(same header and signature, altered claims); the run aborts otherwise.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import contextlib
import cProfile
import datetime
import gc
import importlib.metadata
import ipaddress
import itertools
import json
import os
import platform
import pstats
import random
import ssl
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, NoReturn, Optional, Sequence, Tuple, cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.backends.openssl import backend as openssl_backend
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, PSS, PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from wristband_mw import WristbandJwtValidator
from wristband_mw.cache import LRUCache, TinyLfuCache
from wristband_mw.testing import LocalIssuer

try:
    import jwt as pyjwt
    from jose import jwk as jose_jwk
    from jose import jwt as jose_jwt
    from jose.exceptions import JOSEError
    from wristband.python_jwt import WristbandJwtValidatorConfig as SeedConfig
    from wristband.python_jwt import create_wristband_jwt_validator as create_seed_validator
except ImportError as missing:  # pragma: no cover - depends on the environment
    sys.exit(f"benchmarks/validate.py needs the peers: python -m pip install -e '.[bench]' ({missing})")

JWKS_PATH = "/api/v1/oauth2/jwks"
COLD_START_THREADS = 64

# Targets from issue 5 (medians, ratios measured side by side in one run).
FRESH_TARGET, FRESH_STRETCH = 2.0, 1.6
REPEAT_TARGET = 0.1
SEED_SPEEDUP_TARGET = 2.0
MEMORY_TARGET_BYTES = 2048
FORGED_TARGET = 2.0  # issue 9: no input costs more than about twice a valid fresh token


# -- small helpers ------------------------------------------------------------------------
def fail(message: str) -> NoReturn:
    """Abort the run: a case did not behave, so its timing would mean nothing."""
    sys.exit(f"ABORTED: {message}")


def check(condition: bool, message: str) -> None:
    if not condition:
        fail(message)


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def tamper(token: str) -> str:
    """The same header and signature over altered claims: a forgery every case must refuse."""
    header, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["sub"] = "attacker"
    return f"{header}.{b64url(json.dumps(claims, separators=(',', ':')).encode())}.{signature}"


def split_for_raw(token: str) -> Tuple[bytes, bytes]:
    """``(signature, signing_input)`` of a compact JWS, decoded before timing."""
    signing_input, _, signature = token.rpartition(".")
    return b64url_decode(signature), signing_input.encode("ascii")


@contextlib.contextmanager
def environment(name: str, value: str) -> Iterator[None]:
    """Set one environment variable for the duration of a block."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            del os.environ[name]
        else:
            os.environ[name] = previous


# -- a loopback TLS JWKS server for wristband-python-jwt ----------------------------------
class TlsJwksServer:
    """Serves a JWKS at ``https://127.0.0.1:{port}/api/v1/oauth2/jwks`` with a throwaway CA.

    ``wristband-python-jwt`` builds its JWKS URL as ``https://{domain}/...`` and fetches it
    with httpx, so it gets a real TLS endpoint: the CA certificate is written to
    ``ca_file``, which httpx trusts through ``SSL_CERT_FILE`` while the peer fetches.
    """

    def __init__(self, jwks: Callable[[], Dict[str, Any]], workdir: Path) -> None:
        self.fetch_count = 0
        self._lock = threading.Lock()
        self.ca_file = workdir / "ca.pem"
        cert_file, key_file = workdir / "server.pem", workdir / "server-key.pem"
        self._write_certificates(cert_file, key_file)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(jwks))
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.domain = f"127.0.0.1:{self._server.server_address[1]}"
        self.issuer = f"https://{self.domain}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="TlsJwksServer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _write_certificates(self, cert_file: Path, key_file: Path) -> None:
        now = datetime.datetime.now(datetime.timezone.utc)
        ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wristband_mw benchmark throwaway CA")])
        ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(ca_ski, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        server_cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name)
            .public_key(server_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            server_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )

    def _count(self) -> None:
        with self._lock:
            self.fetch_count += 1

    def _handler(self, jwks: Callable[[], Dict[str, Any]]) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if self.path == JWKS_PATH:
                    server._count()
                    status, body = 200, json.dumps(jwks()).encode()
                else:
                    status, body = 404, b'{"error":"not_found"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


# -- cases --------------------------------------------------------------------------------
class Pool:
    """Hands out batches of distinct items in turn; ``wrapped`` tells when it started over."""

    def __init__(self, items: Sequence[Any]) -> None:
        self.items = items
        self._next = 0

    def take(self, count: int) -> Tuple[Sequence[Any], bool]:
        wrapped = self._next + count > len(self.items)
        if wrapped:
            self._next = 0
        batch = self.items[self._next : self._next + count]
        self._next += count
        return batch, wrapped


@dataclass
class Case:
    """One thing to time: ``call(item)`` over batches from ``pool``.

    ``accepts(token)`` says whether the case accepts a token (used for the sanity checks);
    ``renew``, when set, is called when the pool wraps and returns a new ``call`` (a fresh
    validator, so no token is ever seen twice by the one that times it).
    """

    name: str
    call: Callable[[Any], object]
    pool: Pool
    accepts: Callable[[str], bool]
    renew: Optional[Callable[[], Callable[[Any], object]]] = None
    timings: List[float] = field(default_factory=list)
    calls: int = 0

    def batch(self, count: int) -> Tuple[Callable[[Any], object], Sequence[Any]]:
        items, wrapped = self.pool.take(count)
        if wrapped and self.renew is not None:
            self.call = self.renew()
        return self.call, items


def accepts_without_raising(decode: Callable[[str], object], *errors: type[Exception]) -> Callable[[str], bool]:
    """``accepts`` for a peer that raises on an invalid token."""

    def accepts(token: str) -> bool:
        try:
            decode(token)
        except errors:
            return False
        return True

    return accepts


class MwValidators:
    """The wristband_mw validators under test, kept so their counters can be checked afterwards."""

    def __init__(self, issuer: LocalIssuer, iss: str) -> None:
        self._issuer = issuer
        self._iss = iss
        self.public_key = cast(RSAPublicKey, issuer.private_key.public_key())
        self.fresh: List[WristbandJwtValidator] = []
        self.repeat = self.new()

    def new(self, **overrides: Any) -> WristbandJwtValidator:
        """A validator for the pool's tokens, keys prefetched (so no fetch is ever timed)."""
        validator = self._issuer.validator(issuer=self._iss, **overrides)
        validator.prefetch()
        return validator

    def new_fresh(self) -> Callable[[Any], object]:
        validator = self.new()
        self.fresh.append(validator)
        return validator.validate


def mw_accepts(validator: WristbandJwtValidator) -> Callable[[str], bool]:
    return lambda token: validator.validate(token).is_valid


def build_cases(
    issuer: LocalIssuer, tls: TlsJwksServer, tokens: Sequence[str], repeat_token: str, batch: int, mw: MwValidators
) -> List[Case]:
    """The seven cases; every token (pool and repeat) is issued for ``tls.issuer``."""
    iss = tls.issuer
    public_key = cast(RSAPublicKey, issuer.private_key.public_key())

    def raw_verify(item: Tuple[bytes, bytes]) -> None:
        public_key.verify(item[0], item[1], PKCS1v15(), SHA256())

    raw_items = [split_for_raw(token) for token in tokens]

    fresh_call = mw.new_fresh()

    jose_key = jose_jwk.construct(issuer.jwks()["keys"][0], algorithm="RS256")

    def jose_decode(token: str) -> object:
        return jose_jwt.decode(token, jose_key, algorithms=["RS256"], issuer=iss)

    def pyjwt_decode(token: str) -> object:
        return pyjwt.decode(token, key=public_key, algorithms=["RS256"], issuer=iss, options={"require": ["exp"]})

    jwk_client = pyjwt.PyJWKClient(issuer.jwks_url, cache_keys=True, lifespan=24 * 3600)

    def pyjwk_client_decode(token: str) -> object:
        key = jwk_client.get_signing_key_from_jwt(token).key
        return pyjwt.decode(token, key=key, algorithms=["RS256"], issuer=iss, options={"require": ["exp"]})

    seed = create_seed_validator(SeedConfig(tls.domain))
    with environment("SSL_CERT_FILE", str(tls.ca_file)):  # httpx trusts the throwaway CA while warming up
        check(seed.validate(repeat_token).is_valid, "wristband-python-jwt could not fetch keys from the TLS server")

    def raw_accepts(token: str) -> bool:
        try:
            raw_verify(split_for_raw(token))
        except InvalidSignature:
            return False
        return True

    return [
        Case("raw cryptography RS256 verify (floor)", raw_verify, Pool(raw_items), raw_accepts),
        Case("wristband_mw validate(), fresh token", fresh_call, Pool(tokens), mw_accepts(mw.fresh[0]), mw.new_fresh),
        Case(
            "wristband_mw validate(), repeated token",
            mw.repeat.validate,
            Pool([repeat_token] * batch),
            mw_accepts(mw.repeat),
        ),
        Case(
            "python-jose jwt.decode, pre-built key",
            jose_decode,
            Pool(tokens),
            accepts_without_raising(jose_decode, JOSEError),
        ),
        Case(
            "PyJWT jwt.decode, cached key",
            pyjwt_decode,
            Pool(tokens),
            accepts_without_raising(pyjwt_decode, pyjwt.PyJWTError),
        ),
        Case(
            "PyJWT via PyJWKClient (warm cache)",
            pyjwk_client_decode,
            Pool(tokens),
            accepts_without_raising(pyjwk_client_decode, pyjwt.PyJWTError),
        ),
        Case(
            "wristband-python-jwt 0.1.2 validate()",
            seed.validate,
            Pool(tokens),
            lambda token: seed.validate(token).is_valid,
        ),
    ]


# -- forged tokens (issue 9 section 5) -------------------------------------------------------
def forged_candidates(issuer: LocalIssuer, iss: str, max_bytes: int) -> Dict[str, str]:
    """Forged tokens that get as far as a forgery can, each as costly as its shape allows.

    Header, ``iss`` and ``exp`` are valid and the signature is forged, so the validator
    does all its work before refusing. Shapes fill the parser's budgets (see
    ``wristband_mw/tokens.py``); "small" ones stay under 1 KB, where the payload is
    parsed before the signature is checked, the others grow to ``max_bytes``.
    """
    from wristband_mw import tokens as limits

    header = b64url(json.dumps({"kid": issuer.kid, "typ": "at+JWT", "alg": "RS256"}).encode())
    signature = b64url(b"\x01" * (issuer.key_size // 8))
    base = json.dumps({"iss": iss, "exp": int(time.time()) + 86400, "sub": "forged"}).encode()[:-1]
    commas = limits.MAX_JSON_COMMAS - base.count(b",") - 1
    dots = limits.MAX_JSON_DOTS - base.count(b".")

    def token(extra: bytes) -> str:
        return f"{header}.{b64url(base + b',' + extra + b'}')}.{signature}"

    def largest(make: Callable[[int], bytes], limit: int) -> str:
        best = token(make(1))
        for count in range(2, 4 * limits.MAX_JSON_COMMAS):
            candidate = token(make(count))
            if len(candidate) > limit:
                break
            best = candidate
        return best

    shapes: Dict[str, Callable[[int], bytes]] = {
        "members with float values": lambda n: b",".join(b'"%x":1e5' % i for i in range(min(n, commas + 1))),
        "nested objects and members": lambda n: (
            b'"o":['
            + b",".join(b'{"%x":[1.5e5]}' % i for i in range(min(n, 10)))
            + b"],"
            + b",".join(b'"k%x":1e5' % i for i in range(min(n, commas - 10)))
        ),
        "long fractions": lambda n: b'"x":[' + b",".join([b"2.2250738585072014e-308"] * min(n, dots)) + b"]",
        "escaped surrogate pairs": lambda n: b",".join(
            b'"%x":"\\ud83d\\ude00\\ud83d\\ude00"' % i for i in range(min(n, commas + 1))
        ),
        "nesting at the depth limit": lambda n: (
            b'"d":' + b"[" * (limits.MAX_JSON_DEPTH - 1) + b"]" * (limits.MAX_JSON_DEPTH - 1)
        ),
        "one long string": lambda n: b'"s":"' + b"\\n" * (n * 40) + b'"',
    }
    candidates: Dict[str, str] = {}
    for name, make in shapes.items():
        candidates[f"{name}, under 1 KB"] = largest(make, 1024)
        candidates[f"{name}, up to {max_bytes} B"] = largest(make, max_bytes)
    return candidates


def worst_forged(mw: MwValidators, fresh_tokens: Sequence[str], candidates: Dict[str, str]) -> Tuple[str, str]:
    """The candidate with the highest cost relative to fresh validations, in quick paired rounds."""
    validator = mw.new()
    for name, token in candidates.items():
        check(not validator.validate(token).is_valid, f"forged token accepted: {name}")
    ratios: Dict[str, List[float]] = {name: [] for name in candidates}
    for _ in range(7):
        fresh = mw.new()  # every token new to it, as in the fresh case
        fresh_us = time_batch(fresh.validate, fresh_tokens[:100])
        fresh.close()
        for name, token in candidates.items():
            ratios[name].append(time_batch(validator.validate, [token] * 100) / fresh_us)
    validator.close()
    name = max(ratios, key=lambda key: statistics.median(ratios[key]))
    return name, candidates[name]


# -- checks that are not timings ----------------------------------------------------------
def sanity_check(cases: Sequence[Case], token: str) -> None:
    """Every case accepts ``token`` and refuses a tampered copy of it, or the run aborts."""
    forged = tamper(token)
    for case in cases:
        check(case.accepts(token), f"{case.name}: refused a valid token")
        check(not case.accepts(forged), f"{case.name}: accepted a tampered token")


def cached_hits(validator: WristbandJwtValidator) -> int:
    return int(validator.stats()["verified_token_cache_hits"])


def cold_start_fetches(issuer: LocalIssuer, iss: str, tokens: Sequence[str]) -> int:
    """JWKS fetches caused by ``COLD_START_THREADS`` threads validating at once on a new validator."""
    validator = issuer.validator(issuer=iss)
    barrier = threading.Barrier(COLD_START_THREADS)
    valid = [False] * COLD_START_THREADS

    def request(index: int) -> None:
        barrier.wait()
        valid[index] = validator.validate(tokens[index]).is_valid

    before = issuer.fetch_count
    threads = [threading.Thread(target=request, args=(index,)) for index in range(COLD_START_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    fetches = issuer.fetch_count - before
    validator.close()
    check(all(valid), f"cold start: {valid.count(False)} of {COLD_START_THREADS} valid tokens were refused")
    return fetches


def memory_per_entry(mw: MwValidators, tokens: Sequence[str]) -> Tuple[float, float]:
    """Bytes traced per verified-token cache entry, and the mean size of the token strings in it.

    Each token is copied into a new string inside the traced region, as a request would
    allocate it, so the figure includes whatever the validator keeps alive for it (the
    cache is keyed by a SHA-256 of the token, so that is not the token itself, except for
    the few most recent tokens the validator remembers verbatim).
    """
    validator = mw.new(verified_token_cache_size=max(len(tokens), 1))
    check(validator.validate(tokens[0]).is_valid, "memory: a valid token was refused")  # first-use allocations
    entries = tokens[1:]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for token in entries:
        if not validator.validate(token.encode("ascii").decode("ascii")).is_valid:
            fail("memory: a valid token was refused")
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    cached = validator.stats()["verified_tokens_cached"]
    check(cached == len(tokens), f"memory: {cached} tokens cached, expected {len(tokens)}")
    validator.close()
    return (after - before) / len(entries), statistics.fmean(sys.getsizeof(token) for token in entries)


# -- many users (issue 11): more distinct tokens than the verified-token cache holds ---------
CYCLE_OVERSUBSCRIPTION = 1.05
CYCLE_HIT_TARGET = 0.80
ZIPF_KEYS_PER_ENTRY = 8


@dataclass
class ManyUsers:
    """The many-users figures: a validator cycling more tokens than its cache, and traces."""

    cache_size: int
    pool_size: int
    hit_rate: float
    median_us: float
    raw_us: float
    traces: List[Tuple[str, float, float]]  # (trace, TinyLFU hit rate, LRU hit rate)


def replay(cache: Any, trace: Sequence[int]) -> float:
    """Hit rate of ``cache`` used read-through over ``trace``."""
    hits = 0
    for key in trace:
        if cache.get(key) is None:
            cache.set(key, key)
        else:
            hits += 1
    return hits / len(trace)


def zipf_trace(keys: int, exponent: float, length: int, seed: int) -> List[int]:
    """``length`` draws from ``keys`` keys with Zipf(``exponent``) popularity, in a shuffled key order."""
    rng = random.Random(seed)
    cumulative = list(itertools.accumulate(1 / rank**exponent for rank in range(1, keys + 1)))
    names = list(range(keys))
    rng.shuffle(names)
    return [names[bisect.bisect_left(cumulative, rng.random() * cumulative[-1])] for _ in range(length)]


def trace_hit_rates(size: int, seed: int) -> List[Tuple[str, float, float]]:
    """TinyLfuCache against an LRUCache of the same size on the same traces."""
    cycle = list(range(int(size * CYCLE_OVERSUBSCRIPTION))) * 10
    traces: List[Tuple[str, List[int]]] = [(f"cyclic over {CYCLE_OVERSUBSCRIPTION}x the size, 10 passes", cycle)]
    for exponent in (0.8, 0.99, 1.2):
        trace = zipf_trace(ZIPF_KEYS_PER_ENTRY * size, exponent, 20 * size, seed)
        traces.append((f"Zipf {exponent} over {ZIPF_KEYS_PER_ENTRY}x the size, {20 * size} lookups", trace))
    return [(name, replay(TinyLfuCache(size), trace), replay(LRUCache(size), trace)) for name, trace in traces]


def many_users(mw: MwValidators, tokens: Sequence[str], cache_size: int, passes: int, seed: int) -> ManyUsers:
    """A validator with a ``cache_size`` cache validating ``tokens`` (more of them) in a cycle.

    The first pass fills the cache (all misses) and is not timed; then each timed pass
    is one batch, paired with a raw verify of the same number of tokens.
    """
    validator = mw.new(verified_token_cache_size=cache_size)
    for token in tokens:
        check(validator.validate(token).is_valid, "many users: a valid token was refused")
    raw_items = [split_for_raw(token) for token in tokens]
    public_key = mw.public_key

    def raw_verify(item: Tuple[bytes, bytes]) -> None:
        public_key.verify(item[0], item[1], PKCS1v15(), SHA256())

    hits_before = cached_hits(validator)
    timings, raw_timings = [], []
    for _ in range(passes):
        timings.append(time_batch(validator.validate, tokens))
        raw_timings.append(time_batch(raw_verify, raw_items))
    hits = cached_hits(validator) - hits_before
    valid = validator.stats()["results"]["valid"]
    check(valid == (passes + 1) * len(tokens), f"many users: {valid} valid of {(passes + 1) * len(tokens)}")
    validator.close()
    return ManyUsers(
        cache_size,
        len(tokens),
        hits / (passes * len(tokens)),
        statistics.median(timings),
        statistics.median(raw_timings),
        trace_hit_rates(cache_size, seed),
    )


def report_many_users(figures: ManyUsers) -> None:
    size, pool = figures.cache_size, figures.pool_size
    print()
    print(f"Many users (issue 11): verified-token cache of {size} entries (W-TinyLFU)")
    print(
        f"  rotating pool of {pool} tokens ({pool / size:.2f}x the cache), validate() in a cycle: "
        f"{figures.hit_rate:.1%} cache hits, {figures.median_us:.2f} us per validate "
        f"({figures.median_us / figures.raw_us:.2f}x a raw verify of {figures.raw_us:.2f} us; median of passes)"
    )
    width = max(len(name) for name, _, _ in figures.traces)
    print(f"  {'trace (hit rates, same trace, same size)':<{width}}  {'W-TinyLFU':>9}  {'plain LRU':>9}")
    for name, tinylfu, lru in figures.traces:
        print(f"  {name:<{width}}  {tinylfu:>9.1%}  {lru:>9.1%}")
    cycle_rate = figures.traces[0][1]
    zipf_ok = all(tinylfu >= lru for _, tinylfu, lru in figures.traces[1:])
    cycle_verdict = verdict(cycle_rate >= CYCLE_HIT_TARGET)
    print(f"  {cycle_verdict}  cyclic hit rate {cycle_rate:.1%}  target >= {CYCLE_HIT_TARGET:.0%}")
    print(f"  {verdict(zipf_ok)}  Zipf hit rates at least plain LRU's on every trace")


# -- timing -------------------------------------------------------------------------------
def time_batch(call: Callable[[Any], object], items: Sequence[Any]) -> float:
    """Microseconds per call of ``call`` over ``items``, with the garbage collector off."""
    gc_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for item in items:
            call(item)
        elapsed = time.perf_counter_ns() - start
    finally:
        if gc_enabled:
            gc.enable()
    return elapsed / len(items) / 1000


def run_rounds(cases: Sequence[Case], rounds: int, batch: int, seed: int) -> None:
    """Interleaved rounds: every case once per round, in a new random order each round."""
    rng = random.Random(seed)
    order = list(cases)
    for number in range(1, rounds + 1):
        rng.shuffle(order)
        for case in order:
            call, items = case.batch(batch)
            case.timings.append(time_batch(call, items))
            case.calls += len(items)
        if number % 100 == 0:
            progress(f"round {number}/{rounds}")


# A case whose p75 exceeds its p25 by more than this ran on a busy machine.
NOISY_SPREAD = 1.5


@dataclass
class Summary:
    name: str
    timings: Sequence[float]
    median_us: float
    p25_us: float
    p75_us: float
    ratio: float


def paired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """Median over rounds of one case's time divided by another's in the same round."""
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def summarize(cases: Sequence[Case]) -> List[Summary]:
    """Median and quartiles per case, and its paired ratio to the floor (the first case)."""
    floor = cases[0].timings
    summaries = []
    for case in cases:
        p25, median, p75 = statistics.quantiles(case.timings, n=4)
        summaries.append(Summary(case.name, case.timings, median, p25, p75, paired_ratio(case.timings, floor)))
    return summaries


def profile_fresh(mw: MwValidators, tokens: Sequence[str], top: int = 20) -> None:
    """cProfile of wristband_mw validate() over fresh tokens, per validation.

    The profiler's own overhead inflates every Python call, so read the shares, not the
    absolute figures; use the timed table for those.
    """
    validator = mw.new()
    profiler = cProfile.Profile()
    profiler.enable()
    for token in tokens:
        validator.validate(token)
    profiler.disable()
    rows = sorted(pstats.Stats(profiler).stats.items(), key=lambda item: item[1][2], reverse=True)  # type: ignore[attr-defined]
    count = len(tokens)
    print(f"\ncProfile: wristband_mw validate() over {count} fresh tokens; top {top} functions by own time")
    print(f"{'own us':>8}  {'cum us':>8}  {'calls':>5}  function (per validation, profiler overhead included)")
    for (filename, line, function), (_, calls, own, cumulative, _) in rows[:top]:
        where = function if filename == "~" else f"{'/'.join(Path(filename).parts[-2:])}:{line}({function})"
        print(f"{own / count * 1e6:8.2f}  {cumulative / count * 1e6:8.2f}  {calls / count:5.1f}  {where}")


# -- other algorithms (issue 12): ES256, PS256, EdDSA beside a raw verify of each --------------
OTHER_ALGORITHMS = ("ES256", "PS256", "EdDSA")


def raw_verifier(alg: str, issuer: LocalIssuer) -> Callable[[Tuple[bytes, bytes]], None]:
    """The least a JOSE verifier of ``alg`` does with ``cryptography``: raises ``InvalidSignature``.

    ES256 includes turning the JOSE ``r || s`` into the DER ``cryptography`` takes (every
    JOSE library does it); PS256 uses a salt as long as the hash (RFC 7518 section 3.5).
    """
    public = issuer.private_key.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        ec_key, ecdsa = public, ec.ECDSA(SHA256())

        def verify_es256(item: Tuple[bytes, bytes]) -> None:
            signature, signing_input = item
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            ec_key.verify(der, signing_input, ecdsa)

        return verify_es256
    if isinstance(public, Ed25519PublicKey):
        ed_key = public

        def verify_eddsa(item: Tuple[bytes, bytes]) -> None:
            ed_key.verify(item[0], item[1])

        return verify_eddsa
    check(isinstance(public, RSAPublicKey) and alg == "PS256", f"no raw verifier for {alg}")
    rsa_key = public
    pss = PSS(mgf=MGF1(SHA256()), salt_length=SHA256.digest_size)

    def verify_ps256(item: Tuple[bytes, bytes]) -> None:
        rsa_key.verify(item[0], item[1], pss, SHA256())

    return verify_ps256


def algorithm_cases(issuer: LocalIssuer, alg: str, pool: int, renewals: List[WristbandJwtValidator]) -> List[Case]:
    """A raw verify of ``alg`` and ``wristband_mw`` fresh validation of the same tokens."""
    tokens = [issuer.mint(sub=f"user-{index}") for index in range(pool)]
    raw = raw_verifier(alg, issuer)

    def new_fresh() -> Callable[[Any], object]:
        validator = issuer.validator()
        validator.prefetch()
        renewals.append(validator)
        return validator.validate

    def raw_accepts(token: str) -> bool:
        try:
            raw(split_for_raw(token))
        except InvalidSignature:
            return False
        return True

    fresh = new_fresh()
    cases = [
        Case(f"raw cryptography {alg} verify", raw, Pool([split_for_raw(t) for t in tokens]), raw_accepts),
        Case(f"wristband_mw validate(), fresh {alg} token", fresh, Pool(tokens), mw_accepts(renewals[-1]), new_fresh),
    ]
    sanity_check(cases, issuer.mint(sub="probe"))  # a token outside the pool: no cache hit later
    return cases


def other_algorithms(args: argparse.Namespace) -> List[Tuple[str, Summary, Summary, int]]:
    """Per algorithm: the raw verify, the fresh case (ratio paired with that raw verify), the token size."""
    issuers = [LocalIssuer(algorithm=alg) for alg in OTHER_ALGORITHMS]
    renewals: List[WristbandJwtValidator] = []
    try:
        progress(f"other algorithms: minting {args.pool} tokens each for {', '.join(OTHER_ALGORITHMS)}")
        pairs = [algorithm_cases(issuer, issuer.algorithm, args.pool, renewals) for issuer in issuers]
        progress(f"timing {2 * len(pairs)} cases, {args.rounds} rounds")
        run_rounds([case for pair in pairs for case in pair], args.rounds, args.batch, args.seed)
        hits = sum(cached_hits(validator) for validator in renewals)
        check(hits == 0, f"other algorithms: {hits} verified-token cache hits in the fresh cases, expected none")
        results = []
        for issuer, (raw, fresh) in zip(issuers, pairs):
            raw_summary, fresh_summary = summarize([raw, fresh])
            results.append((issuer.algorithm, raw_summary, fresh_summary, len(issuer.mint())))
        return results
    finally:
        for validator in renewals:
            validator.close()
        for issuer in issuers:
            issuer.close()


def report_other_algorithms(results: Sequence[Tuple[str, Summary, Summary, int]]) -> None:
    print()
    print("Other algorithms (issue 12): fresh tokens beside a raw cryptography verify of each, same run")
    print(
        "  (ES256: P-256; PS256: RSA-2048, salt = hash length; EdDSA: Ed25519; ES256's raw verify includes r||s -> DER)"
    )
    rows = [(raw, fresh, size) for _, raw, fresh, size in results]
    width = max(len(summary.name) for raw, fresh, _ in rows for summary in (raw, fresh))
    print(f"  {'case':<{width}}  {'median us':>9}  {'p25-p75 us':>15}  {'x raw verify':>12}")
    for raw, fresh, size in rows:
        for summary in (raw, fresh):
            spread = f"{summary.p25_us:.1f}-{summary.p75_us:.1f}"
            print(f"  {summary.name:<{width}}  {summary.median_us:>9.2f}  {spread:>15}  {summary.ratio:>11.2f}x")
        print(f"  {'':<{width}}  (tokens of {size} B; overhead {fresh.median_us - raw.median_us:.2f} us)")
    noisy = [s.name for raw, fresh, _ in rows for s in (raw, fresh) if s.p75_us > NOISY_SPREAD * s.p25_us]
    if noisy:
        print(f"  WARNING: wide spreads (p75 > {NOISY_SPREAD} x p25) for {len(noisy)} case(s): the machine was busy")


# -- report -------------------------------------------------------------------------------
def versions() -> str:
    names = ["wristband-mw", "cryptography", "python-jose", "PyJWT", "wristband-python-jwt", "httpx"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found) + f"; {openssl_backend.openssl_version_text()}"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.platform()}; {os.cpu_count()} CPUs ({usable} usable); {cpu}"


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def report(
    summaries: Sequence[Summary],
    *,
    args: argparse.Namespace,
    token_bytes: int,
    seed_fetches: int,
    counter_check: str,
    memory: Tuple[float, float],
    cold_fetches: int,
    forged_name: str,
) -> None:
    by_name = {summary.name: summary for summary in summaries}
    fresh, repeat, forged = summaries[1], summaries[2], summaries[-1]
    seed = by_name["wristband-python-jwt 0.1.2 validate()"]
    per_entry, token_size = memory

    print("wristband_mw validate() benchmark (benchmarks/validate.py)")
    print(f"Python:    {platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    print(f"Packages:  {versions()}")
    print(f"Machine:   {machine()}")
    print(
        f"Method:    {args.rounds} interleaved rounds x {args.batch} calls per case (order shuffled each round, "
        f"GC off while timing); medians over rounds"
    )
    print(
        f"Tokens:    RS256, 2048-bit key, {token_bytes} bytes, Wristband-shaped claims; fresh = distinct tokens "
        f"from a pool of {args.pool} (wristband_mw: a new validator each time the pool wraps)"
    )
    print(
        "Peer keys: wristband-python-jwt fetched its JWKS from a loopback TLS server with a throwaway CA "
        f"(trusted via SSL_CERT_FILE), {seed_fetches} fetch(es); its internal cache was NOT pre-loaded"
    )
    print(f"Checks:    every case accepted a valid token and refused a tampered one; {counter_check}")
    print()
    width = max(len(summary.name) for summary in summaries)
    print(f"{'case':<{width}}  {'median us':>9}  {'p25-p75 us':>15}  {'x raw verify':>12}")
    print(f"{'-' * width}  {'-' * 9}  {'-' * 15}  {'-' * 12}")
    for summary in summaries:
        spread = f"{summary.p25_us:.1f}-{summary.p75_us:.1f}"
        print(f"{summary.name:<{width}}  {summary.median_us:>9.2f}  {spread:>15}  {summary.ratio:>11.2f}x")
    print("(x raw verify: median over rounds of the case's time / the raw verify's time in the same round)")
    noisy = [summary.name for summary in summaries if summary.p75_us > NOISY_SPREAD * summary.p25_us]
    if noisy:
        print(f"WARNING: wide spreads (p75 > {NOISY_SPREAD} x p25) for {len(noisy)} case(s): the machine was busy;")
        print("         rerun on an idle machine before quoting these figures")
    print()
    speedup = paired_ratio(seed.timings, fresh.timings)
    stretch = "met" if fresh.ratio <= FRESH_STRETCH else "missed"
    print("Targets (issue 5)")
    rows = [
        (
            "fresh vs raw verify",
            f"{fresh.ratio:.2f}x",
            f"<= {FRESH_TARGET}x (stretch {FRESH_STRETCH}x: {stretch})",
            fresh.ratio <= FRESH_TARGET,
        ),
        ("repeat vs raw verify", f"{repeat.ratio:.3f}x", f"<= {REPEAT_TARGET}x", repeat.ratio <= REPEAT_TARGET),
        (
            "fresh vs wristband-python-jwt (paired)",
            f"{speedup:.2f}x faster",
            f">= {SEED_SPEEDUP_TARGET}x faster",
            speedup >= SEED_SPEEDUP_TARGET,
        ),
        (
            "memory per verified-token cache entry",
            f"{per_entry:.0f} B",
            f"<= {MEMORY_TARGET_BYTES} B (tokens of {token_size:.0f} B; everything kept alive counted)",
            per_entry <= MEMORY_TARGET_BYTES,
        ),
        (
            f"worst forged token vs fresh (paired): {forged_name}",
            f"{paired_ratio(forged.timings, fresh.timings):.2f}x",
            f"<= {FORGED_TARGET}x (issue 9)",
            paired_ratio(forged.timings, fresh.timings) <= FORGED_TARGET,
        ),
        (
            f"cold start, {COLD_START_THREADS} concurrent requests",
            f"{cold_fetches} JWKS fetch(es)",
            "exactly 1",
            cold_fetches == 1,
        ),
    ]
    label_width = max(len(row[0]) for row in rows)
    value_width = max(len(row[1]) for row in rows)
    for label, value, target, passed in rows:
        print(f"  {verdict(passed)}  {label:<{label_width}}  {value:>{value_width}}  target {target}")


# -- main ---------------------------------------------------------------------------------
def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 600; 40 with --quick)")
    parser.add_argument("--batch", type=int, help="calls per case per round (default 20; 8 with --quick)")
    parser.add_argument("--pool", type=int, help="distinct fresh tokens to mint (default 4096; 512 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--seed", type=int, default=1, help="seed of the per-round case order")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of wristband_mw fresh validate()")
    parser.add_argument(
        "--algorithms-only", action="store_true", help="only the ES256, PS256 and EdDSA rows (issue 12)"
    )
    args = parser.parse_args(argv)
    defaults = (40, 8, 512) if args.quick else (600, 20, 4096)
    args.rounds = args.rounds or defaults[0]
    args.batch = args.batch or defaults[1]
    args.pool = args.pool or defaults[2]
    if min(args.rounds, args.batch) < 1 or args.pool < max(args.batch, COLD_START_THREADS):
        parser.error(f"--rounds and --batch must be >= 1, --pool >= --batch and >= {COLD_START_THREADS}")
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if args.algorithms_only:
        report_other_algorithms(other_algorithms(args))
        return
    with LocalIssuer() as issuer, tempfile.TemporaryDirectory(prefix="wristband-bench-") as workdir:
        tls = TlsJwksServer(issuer.jwks, Path(workdir))
        try:
            progress(f"minting {args.pool} tokens")
            tokens = [issuer.mint(sub=f"user-{index}", iss=tls.issuer) for index in range(args.pool)]
            repeat_token = issuer.mint(sub="user-repeat", iss=tls.issuer)

            progress("cold start and memory checks")
            cold_fetches = cold_start_fetches(issuer, tls.issuer, tokens)
            memory = memory_per_entry(MwValidators(issuer, tls.issuer), tokens)

            cache_size = min(4096, args.pool)
            users = int(cache_size * CYCLE_OVERSUBSCRIPTION)
            progress(f"many users: {users} tokens through a {cache_size}-entry cache")
            extra = [issuer.mint(sub=f"user-x{n}", iss=tls.issuer) for n in range(max(users - len(tokens), 0))]
            rotating = [*tokens, *extra][:users]
            crowd = many_users(MwValidators(issuer, tls.issuer), rotating, cache_size, 5, args.seed)

            progress("building and checking the cases")
            mw = MwValidators(issuer, tls.issuer)
            cases = build_cases(issuer, tls, tokens, repeat_token, args.batch, mw)
            sanity_check(cases, repeat_token)
            hits_before = cached_hits(mw.repeat)
            mw.repeat.validate(repeat_token)
            check(cached_hits(mw.repeat) == hits_before + 1, "wristband_mw: a repeated token missed the cache")

            progress("picking the costliest forged token")
            forged_name, forged_token = worst_forged(
                mw, tokens, forged_candidates(issuer, tls.issuer, mw.repeat.config.max_token_bytes)
            )
            forged_validator = mw.new()
            cases.append(
                Case(
                    f"wristband_mw validate(), worst forged token ({len(forged_token)} B)",
                    forged_validator.validate,
                    Pool([forged_token] * args.batch),
                    mw_accepts(forged_validator),
                )
            )

            progress(f"timing {len(cases)} cases, {args.rounds} rounds")
            hits_before = cached_hits(mw.repeat)
            run_rounds(cases, args.rounds, args.batch, args.seed)

            fresh_case, repeat_case = cases[1], cases[2]
            fresh_hits = sum(cached_hits(validator) for validator in mw.fresh)
            fresh_valid = sum(validator.stats()["results"]["valid"] for validator in mw.fresh) - 1  # the probe
            repeat_hits = cached_hits(mw.repeat) - hits_before
            check(fresh_hits == 0, f"wristband_mw fresh: {fresh_hits} verified-token cache hits, expected none")
            check(fresh_valid == fresh_case.calls, f"wristband_mw fresh: {fresh_valid} of {fresh_case.calls} valid")
            check(repeat_hits == repeat_case.calls, f"wristband_mw repeat: {repeat_hits} of {repeat_case.calls} hits")
            counter_check = (
                f"wristband_mw fresh: {fresh_case.calls} valid, 0 cache hits on {len(mw.fresh)} validators; "
                f"repeat: {repeat_hits}/{repeat_case.calls} cache hits"
            )

            report(
                summarize(cases),
                args=args,
                token_bytes=len(repeat_token),
                seed_fetches=tls.fetch_count,
                counter_check=counter_check,
                memory=memory,
                cold_fetches=cold_fetches,
                forged_name=forged_name,
            )
            report_many_users(crowd)
            report_other_algorithms(other_algorithms(args))
            if args.profile:
                profile_fresh(mw, tokens)
        finally:
            tls.close()


if __name__ == "__main__":
    main()

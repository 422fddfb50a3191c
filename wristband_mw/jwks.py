"""Fetch a JWKS over HTTP(S) and turn it into verification keys.

Fetching (:class:`JsonFetcher`, shared with OIDC discovery) is deliberately narrow:
one ``urllib3.PoolManager`` per client (TLS
verified, connections reused; a forked child gets a pool of its own), one deadline
for the whole fetch (connect, TLS, status line, headers, body and redirects: a
watchdog shuts the fetch's sockets down when it passes, however slowly the server
trickles bytes), a 1 MiB cap on the body, no content encodings, and at most three
redirects, each to an ``https`` URL.

A key set is judged key by key: a key this package cannot use (a type or curve that
fits none of the allowed algorithms, RSA under 2048 bits, an EC point off its curve,
Ed448, ``use`` other than ``sig``, missing ``n``/``e``, ...) is skipped with a debug
log and never affects the others; identical duplicates count once; two different
usable keys under one ``kid`` make only that kid unusable, since
neither can be trusted to be the one the issuer signs with. A set with no usable
key at all is refused, so a broken endpoint never replaces good cached keys. A body
starting with a UTF-8 byte order mark is accepted (RFC 8259 section 8.1).
"""

from __future__ import annotations

import binascii
import contextlib
import logging
import re
import socket
import threading
import time
from typing import Any, Dict, FrozenSet, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .errors import JwksError, safe_echo
from .jose_adapter import (
    EC_COORDINATE_BYTES,
    VerificationKey,
    build_ec_key,
    build_ed25519_key,
    build_rsa_key,
    fitting_algorithms,
)
from .strictjson import strict_json_object

__all__ = [
    "HttpStatusError",
    "JsonFetcher",
    "JwksClient",
    "is_loopback_host",
    "judge_jwks",
    "parse_jwks",
    "validate_fetch_url",
    "validate_jwks_url",
]

logger = logging.getLogger("wristband_mw")

MAX_JWKS_BYTES = 1024 * 1024
MAX_REDIRECTS = 3
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 16384
MAX_KEYS = 100
MAX_KID_LENGTH = 256
_NUM_POOLS = 3  # the JWKS host, the discovery host (often the same), and one redirect target
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_LOOPBACK_NAMES = {"localhost", "localhost.", "::1"}
_IPV4_OCTET = re.compile(r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])")
_BOM = b"\xef\xbb\xbf"
_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})  # "oct" (a shared secret) never verifies a token here
# RSA private parts (d, p, q, dp, dq, qi, oth) and the EC / OKP private key (d).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, ``127.0.0.0/8`` and ``::1``, spelt in ASCII only.

    ``str.isdigit`` would take ``"127.0.0.\u0967"`` (a Devanagari one) for a digit; such
    a host is no address at all and would be resolved through DNS as an IDN.

    Example::

        is_loopback_host("127.0.0.1")  # True
        is_loopback_host("127.0.0.\u0967")  # False
    """
    if not host.isascii():
        return False
    host = host.lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host in _LOOPBACK_NAMES:
        return True
    parts = host.split(".")
    return len(parts) == 4 and parts[0] == "127" and all(_IPV4_OCTET.fullmatch(p) for p in parts)


def validate_jwks_url(url: str) -> None:
    """Raise ``ValueError`` unless ``url`` is https, or plain http to a loopback host."""
    validate_fetch_url(url, "jwks_url", "https://auth.yourapp.io/api/v1/oauth2/jwks")


def validate_fetch_url(url: object, name: str, example: str) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``url`` is https, or plain http to a loopback host.

    Example::

        validate_fetch_url("http://10.0.0.5/jwks", "jwks_url", "https://idp/jwks")  # ValueError
    """
    if not isinstance(url, str) or not url or url != url.strip():
        raise ValueError(f"{name} must be an absolute https:// URL, e.g. {example!r}")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or parts.scheme not in ("https", "http"):
        raise ValueError(f"{name} must be an absolute https:// URL; got {url[:200]!r}")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ValueError(
            f"{name} must use https (plain http is allowed only for 127.0.0.1 and localhost); got {url[:200]!r}"
        )
    if parts.username or parts.password:
        raise ValueError(f"{name} must not contain credentials")


def _b64url_bytes(value: object, name: str) -> bytes:
    if not isinstance(value, str) or not _B64URL.fullmatch(value) or len(value) % 4 == 1:
        raise ValueError(f"{name} is not base64url")
    return binascii.a2b_base64(value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4))


def _b64url_uint(value: object, name: str) -> int:
    return int.from_bytes(_b64url_bytes(value, name), "big")


def _parse_key(jwk: Mapping[str, Any], algorithms: Sequence[str]) -> VerificationKey:
    """One usable key from one JWK, or ``ValueError`` saying why it is skipped."""
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise ValueError("no usable kid")
    kty = jwk.get("kty")
    if kty not in _KEY_TYPES:
        raise ValueError(f"kty {safe_echo(kty)} is not a public signing key type (RSA, EC, OKP)")
    if jwk.get("use", "sig") != "sig":
        raise ValueError(f"use {jwk.get('use')!r} is not sig")
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, (list, tuple)) or "verify" not in key_ops):
        raise ValueError("key_ops does not allow verify")
    alg = jwk.get("alg")
    if alg is not None and not isinstance(alg, str):
        raise ValueError("alg is not a string")
    if not _PRIVATE_MEMBERS.isdisjoint(jwk):
        raise ValueError("private key material in a public JWKS")
    crv = jwk.get("crv") if kty != "RSA" else None
    if crv is not None and not isinstance(crv, str):
        raise ValueError("crv is not a string")
    fitting = fitting_algorithms(kty, crv)
    if not fitting:
        raise ValueError(f"{kty} curve {safe_echo(crv)} is not supported for signatures")
    if not any(candidate in fitting for candidate in algorithms):
        # Kept out, not kept "to say disallowed": none of the allowed algorithms could ever use it.
        kind = f"an {kty} {crv} key" if crv else f"an {kty} key"
        raise ValueError(f"{kind} verifies {', '.join(fitting)}; allowed here: {', '.join(algorithms)}")
    if kty == "EC":
        return _parse_ec_key(kid, crv or "", jwk, alg, algorithms)
    if kty == "OKP":
        return build_ed25519_key(kid, _b64url_bytes(jwk.get("x"), "x"), alg, algorithms)
    return _parse_rsa_key(kid, jwk, alg, algorithms)


def _parse_rsa_key(kid: str, jwk: Mapping[str, Any], alg: Optional[str], algorithms: Sequence[str]) -> VerificationKey:
    modulus = _b64url_uint(jwk.get("n"), "n")
    exponent = _b64url_uint(jwk.get("e"), "e")
    bits = modulus.bit_length()
    if bits < MIN_RSA_BITS:
        raise ValueError(f"RSA key too weak: {bits} bits. {MIN_RSA_BITS} bits minimum required.")
    if bits > MAX_RSA_BITS:
        raise ValueError(f"RSA key of {bits} bits is over the {MAX_RSA_BITS}-bit limit")
    if exponent < 3 or exponent % 2 == 0 or exponent.bit_length() > 64:
        raise ValueError("unusable RSA exponent")
    return build_rsa_key(kid, modulus, exponent, alg, algorithms)


def _parse_ec_key(
    kid: str, crv: str, jwk: Mapping[str, Any], alg: Optional[str], algorithms: Sequence[str]
) -> VerificationKey:
    size = EC_COORDINATE_BYTES[crv]
    x, y = _b64url_bytes(jwk.get("x"), "x"), _b64url_bytes(jwk.get("y"), "y")
    if len(x) != size or len(y) != size:
        # RFC 7518 section 6.2.1.2: each coordinate is the full size of one for the curve.
        raise ValueError(f"{crv} coordinates must be {size} bytes each")
    try:
        return build_ec_key(kid, crv, int.from_bytes(x, "big"), int.from_bytes(y, "big"), alg, algorithms)
    except ValueError:
        raise ValueError(f"the point is not on the {crv} curve") from None


def parse_jwks(document: object, algorithms: Iterable[str]) -> Dict[str, VerificationKey]:
    """Usable keys of a JWKS document by ``kid``; ``JwksError`` when there are none.

    Each key is judged on its own (see the module docstring); a kid held by two
    different usable keys is left out, with one warning per document.

    Example::

        keys = parse_jwks({"keys": [jwk]}, ["RS256"])  # {"kid-1": VerificationKey(...)}
    """
    keys, _ = judge_jwks(document, algorithms)
    return keys


def judge_jwks(document: object, algorithms: Iterable[str]) -> Tuple[Dict[str, VerificationKey], FrozenSet[str]]:
    """The usable keys by ``kid``, and the kids left out because two different keys claim them."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), (list, tuple)):
        raise JwksError('JWKS must be a JSON object with a "keys" array')
    entries: Sequence[Any] = document["keys"]
    if len(entries) > MAX_KEYS:
        raise JwksError(f"JWKS has {len(entries)} keys; at most {MAX_KEYS} are accepted")
    algorithms = tuple(algorithms)
    keys: Dict[str, VerificationKey] = {}
    conflicted: Dict[str, None] = {}
    for index, jwk in enumerate(entries):
        if not isinstance(jwk, Mapping):
            logger.debug("JWKS key #%d skipped: not an object", index)
            continue
        try:
            key = _parse_key(jwk, algorithms)
        except ValueError as exc:
            logger.debug("JWKS key #%d skipped: %s", index, exc)
            continue
        if key.kid in conflicted:
            continue
        held = keys.get(key.kid)
        if held is None or (not held.verifiers and key.verifiers):
            # A key restricted to an algorithm not allowed here (e.g. PS256) verifies
            # nothing: it is kept only to say "disallowed algorithm", and yields its kid.
            keys[key.kid] = key
        elif held.same_as(key) or not key.verifiers:
            continue
        else:
            # Which of the two does the issuer sign with? Neither can be trusted.
            del keys[key.kid]
            conflicted[key.kid] = None
    clashes = ", ".join(repr(kid[:64]) for kid in conflicted)
    if not keys:
        wanted = _key_kinds(algorithms)
        if conflicted:
            raise JwksError(f"JWKS has no usable {wanted} signing key: different keys share kid {clashes}")
        raise JwksError(f"JWKS has no usable {wanted} signing key")
    if conflicted:  # the key store warns, once per clash rather than once per refresh
        logger.debug("JWKS has different usable keys under kid %s", clashes)
    return keys, frozenset(conflicted)


def _key_kinds(algorithms: Sequence[str]) -> str:
    """``"RSA"``, ``"RSA or EC"``...: the key types the allowed algorithms need, for messages."""
    kinds = (("RSA", "RSA", None), ("EC", "EC", "P-256"), ("EC", "EC", "P-384"), ("EC", "EC", "P-521"))
    needed = [label for label, kty, crv in kinds if set(fitting_algorithms(kty, crv)) & set(algorithms)]
    if "EdDSA" in algorithms:
        needed.append("Ed25519")
    return " or ".join(dict.fromkeys(needed))


class _Deadline:
    """The one deadline of a fetch: at ``expires``, every socket it watches is shut down.

    Socket timeouts bound each ``recv``, not a fetch: a server trickling header bytes
    stays within any of them. Shutting the socket down wakes whatever read is blocked
    on it (plain or TLS, status line, headers or body) at once.
    """

    def __init__(self, seconds: float) -> None:
        self.expires = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: List[socket.socket] = []
        self._finished = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.name = "wristband_mw-jwks-deadline"
        self._timer.start()

    def watch(self, sock: Optional[socket.socket]) -> None:
        if sock is None:
            return
        with self._lock:
            if self._finished:
                return
            if not self.expired:
                self._sockets.append(sock)
                return
        _shut(sock)

    def finish(self) -> None:
        """The fetch is over: its sockets (maybe pooled now) are no longer ours to shut."""
        self._timer.cancel()
        with self._lock:
            self._finished = True
            self._sockets.clear()

    def passed(self) -> bool:
        return self.expired or time.monotonic() >= self.expires

    def _expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    # The base class's shutdown: on a TLS socket it acts on the descriptor only, leaving
    # the SSL object to the thread reading from it. OSError: already closed, no one waits.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_current = threading.local()  # the deadline of the fetch this thread is running


def _watch(sock: Optional[socket.socket]) -> None:
    deadline: Optional[_Deadline] = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)


class _DeadlineHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)  # from here on, TCP is up: TLS and everything after is watched
        return sock

    def getresponse(self) -> Any:
        _watch(self.sock)  # a reused keep-alive connection was created by an earlier fetch
        return super().getresponse()


class _DeadlineHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def getresponse(self) -> Any:
        _watch(self.sock)
        return super().getresponse()


class _DeadlineHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


def _watched(pool: urllib3.PoolManager) -> urllib3.PoolManager:
    """``pool``, made to create connections whose sockets the fetch deadline can shut."""
    pool.pool_classes_by_scheme = {"http": _DeadlineHTTPConnectionPool, "https": _DeadlineHTTPSConnectionPool}
    return pool


class HttpStatusError(JwksError):
    """The endpoint answered with an HTTP status other than 200 (``status`` says which)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class JsonFetcher:
    """GETs JSON documents under this module's transport rules (see the module docstring).

    One ``urllib3.PoolManager`` (connections reused, TLS verified), one deadline per
    fetch (:meth:`deadline`; several documents fetched under it share it), a body cap,
    no content encodings, at most three redirects and each to ``https``, strict JSON.
    Used by :class:`JwksClient` and by OIDC discovery, so both follow the same rules.

    Example::

        fetcher = JsonFetcher(timeout=5.0)
        with fetcher.deadline() as deadline:
            document = fetcher.get_json("https://idp.example.com/.well-known/openid-configuration", deadline)
    """

    def __init__(self, timeout: float, *, pool: Optional[urllib3.PoolManager] = None) -> None:
        self.timeout = timeout
        self.pool = _watched(pool or _new_pool())

    @contextlib.contextmanager
    def deadline(self) -> Iterator[_Deadline]:
        """The deadline of one fetch, ``timeout`` seconds from now (or the one already running here)."""
        running: Optional[_Deadline] = getattr(_current, "deadline", None)
        if running is not None:  # nested: a JWKS fetched under a discovery fetch's deadline
            yield running
            return
        deadline = _Deadline(self.timeout)
        _current.deadline = deadline
        try:
            yield deadline
        finally:
            _current.deadline = None
            deadline.finish()

    def get_json(
        self, url: str, deadline: _Deadline, what: str = "JWKS", max_bytes: int = MAX_JWKS_BYTES
    ) -> Dict[str, Any]:
        """The JSON object at ``url``; ``JwksError`` (``HttpStatusError`` for a status) otherwise.

        ``what`` names the document in error messages, which are safe to log.
        """
        for _ in range(MAX_REDIRECTS + 1):
            status, location, body = self._get(url, deadline, what, max_bytes)
            if status in (301, 302, 303, 307, 308) and location:
                url = urljoin(url, location)
                if urlsplit(url).scheme != "https":
                    raise JwksError(f"{what} redirect to a non-https URL refused: {url[:200]!r}")
                continue
            if status != 200:
                raise HttpStatusError(f"{what} endpoint answered HTTP {status}", status)
            if deadline.passed():  # the watchdog may have cut a close-delimited body short
                raise self._timed_out(what)
            if body.startswith(_BOM):
                body = body[len(_BOM) :]
            try:
                return strict_json_object(body)
            except ValueError as exc:
                raise JwksError(f"{what} is not valid JSON: {exc}") from None
        raise JwksError(f"{what} endpoint redirected more than {MAX_REDIRECTS} times")

    def after_fork_in_child(self) -> None:
        """Forget the parent's pooled connections: a child must never read from a shared socket.

        The parent's sockets are only dropped, never closed or shut down here: the
        descriptors are shared with the parent, which may still be using them.
        """
        self.pool = _watched(_fresh_like(self.pool))

    def close(self) -> None:
        """Close pooled connections."""
        self.pool.clear()

    def _timed_out(self, what: str) -> JwksError:
        return JwksError(f"{what} fetch timed out: took longer than {self.timeout:g} s")

    def _get(self, url: str, deadline: _Deadline, what: str, max_bytes: int) -> Tuple[int, Optional[str], bytes]:
        remaining = deadline.expires - time.monotonic()
        if remaining <= 0:
            raise self._timed_out(what)
        try:
            response = self.pool.request(
                "GET",
                url,
                headers={"Accept": "application/json", "Accept-Encoding": "identity"},
                timeout=urllib3.Timeout(connect=remaining, read=remaining),
                redirect=False,
                retries=False,
                preload_content=False,
                decode_content=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if deadline.passed():
                raise self._timed_out(what) from None
            raise JwksError(f"{what} fetch failed: {type(exc).__name__}: {_short(exc)}") from None
        try:
            if response.status != 200:
                response.close()  # the body is not wanted; do not pool a half-read connection
                result = response.status, response.headers.get("Location"), b""
            else:
                result = 200, None, self._read_checked_body(response, deadline, what, max_bytes)
        except BaseException:
            # A half-read connection must not go back to the pool.
            response.close()
            raise
        finally:
            response.release_conn()
        return result

    def _read_checked_body(
        self, response: urllib3.BaseHTTPResponse, deadline: _Deadline, what: str, max_bytes: int
    ) -> bytes:
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise JwksError(f"{what} response uses Content-Encoding {encoding[:40]!r}; identity was asked for")
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise JwksError(f"{what} body of {declared} bytes is over the {max_bytes}-byte limit")
        chunks: List[bytes] = []
        size = 0
        while True:
            remaining = deadline.expires - time.monotonic()
            if remaining <= 0:
                raise self._timed_out(what)
            _set_read_timeout(response, remaining)
            try:
                chunk = response.read1(65536)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if deadline.passed():
                    raise self._timed_out(what) from None
                raise JwksError(f"{what} fetch failed while reading: {type(exc).__name__}: {_short(exc)}") from None
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > max_bytes:
                raise JwksError(f"{what} body is over the {max_bytes}-byte limit")
            chunks.append(chunk)


class JwksClient:
    """Fetches and parses one JWKS URL.

    Parameters:
        url: the JWKS endpoint (checked with :func:`validate_jwks_url`).
        algorithms: algorithms the keys will be asked to verify.
        timeout: seconds for the whole fetch: connect, TLS, headers and body.
        pool: an ``urllib3.PoolManager`` to use (tests pass one trusting their own CA).
        fetcher: a :class:`JsonFetcher` to share (OIDC discovery shares its pool this way);
            ``pool`` is then ignored.
    """

    def __init__(
        self,
        url: str,
        algorithms: Iterable[str],
        timeout: float,
        *,
        pool: Optional[urllib3.PoolManager] = None,
        fetcher: Optional[JsonFetcher] = None,
    ) -> None:
        validate_jwks_url(url)
        self.url = url
        self.algorithms = tuple(algorithms)
        self.timeout = timeout
        self.fetcher = fetcher or JsonFetcher(timeout, pool=pool)
        self.conflicted_kids: FrozenSet[str] = frozenset()  # of the last fetched set

    def fetch(self) -> Dict[str, VerificationKey]:
        """Fetch the JWKS now; ``JwksError`` on any failure, with a reason safe to log.

        The whole fetch, redirects included, ends within ``timeout`` seconds (or within
        the deadline of the fetch already running in this thread, such as discovery's).
        """
        with self.fetcher.deadline() as deadline:
            document = self.fetcher.get_json(self.url, deadline)
        keys, self.conflicted_kids = judge_jwks(document, self.algorithms)
        logger.debug("fetched JWKS from %s: kids %s", self.url, sorted(keys))
        return keys

    def after_fork_in_child(self) -> None:
        """Forget the parent's pooled connections (see :meth:`JsonFetcher.after_fork_in_child`)."""
        self.fetcher.after_fork_in_child()

    def close(self) -> None:
        """Close pooled connections."""
        self.fetcher.close()


def _new_pool() -> urllib3.PoolManager:
    return urllib3.PoolManager(num_pools=_NUM_POOLS, maxsize=1, cert_reqs="CERT_REQUIRED")


def _fresh_like(pool: urllib3.PoolManager) -> urllib3.PoolManager:
    """An empty manager configured like ``pool`` (same TLS trust, sizes, proxy), sharing no connection."""
    if isinstance(pool, urllib3.ProxyManager):
        settings = {k: v for k, v in pool.connection_pool_kw.items() if not k.startswith("_proxy")}
        return urllib3.ProxyManager(
            pool.proxy.url if pool.proxy is not None else "",
            _NUM_POOLS,
            headers=pool.headers,
            proxy_headers=pool.proxy_headers,
            proxy_ssl_context=pool.proxy_ssl_context,
            use_forwarding_for_https=bool(pool.proxy_config and pool.proxy_config.use_forwarding_for_https),
            **settings,
        )
    return urllib3.PoolManager(_NUM_POOLS, headers=pool.headers, **pool.connection_pool_kw)


def _set_read_timeout(response: urllib3.BaseHTTPResponse, seconds: float) -> None:
    # A socket timeout bounds each recv; shrinking it to what is left of the deadline
    # bounds the whole body, so a server trickling a byte at a time cannot stall us.
    connection = getattr(response, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(max(seconds, 0.001))


def _short(exc: BaseException) -> str:
    return str(exc).replace("\n", " ")[:200]

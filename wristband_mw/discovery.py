"""OpenID Connect discovery: from an issuer to the URL of its signing keys.

With ``discovery=True`` the key store does not need a ``jwks_url``: it reads the
issuer's metadata document and takes its ``jwks_uri``. Where the document is looked up:

* ``{issuer}/.well-known/openid-configuration`` (OpenID Connect Discovery 1.0 section
  4; a trailing ``/`` on the issuer is removed first, so it is never doubled);
* if that answers an HTTP 4xx status, RFC 8414's ``/.well-known/oauth-authorization-server``,
  which section 3 of the RFC inserts *between the host and the path* of the issuer:
  ``https://idp.example.com/realms/shop`` is looked up at
  ``https://idp.example.com/.well-known/oauth-authorization-server/realms/shop``;
* or only at ``discovery_url`` when it is configured (split-horizon setups: the service
  reaches the IdP at an internal address, while tokens name the public issuer).

What is trusted: nothing, unless the document's ``issuer`` equals the configured issuer
exactly (OpenID Connect Discovery section 4.3, RFC 8414 section 3.3: no trailing-slash or
case folding), and its ``jwks_uri`` is ``https`` (plain ``http`` only for a loopback host,
as for ``jwks_url``). The document is fetched under the JWKS's transport rules
(:class:`~wristband_mw.jwks.JsonFetcher`: one pool, one deadline for the document *and*
the key set together, a body cap of :data:`MAX_DISCOVERY_BYTES`, redirects only to
``https``, strict JSON).

How it is cached: the document is fetched as part of a key-set fetch, so the key store's
policy covers it (single flight, refresh-ahead, back-off while failing, one deadline). It
counts as fresh for ``jwks_cache_ttl`` and is refetched with the first key-set fetch after
that, or after a key-set fetch failed (the ``jwks_uri`` may have moved). While refetching
fails, the last good document keeps serving for ``jwks_stale_if_error`` past its TTL (one
warning per failure streak); a failure is never cached as a result.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit, urlunsplit

import urllib3

from .errors import JwksError, safe_echo
from .jose_adapter import VerificationKey
from .jwks import HttpStatusError, JsonFetcher, JwksClient, validate_fetch_url, validate_jwks_url
from .stats import Counters

__all__ = [
    "DiscoveringJwksClient",
    "DiscoveryError",
    "OpenIdConfiguration",
    "check_discovery_issuer",
    "discovery_stats",
    "discovery_urls",
    "parse_openid_configuration",
]

logger = logging.getLogger("wristband_mw")

OIDC_WELL_KNOWN = "/.well-known/openid-configuration"
OAUTH_WELL_KNOWN = "/.well-known/oauth-authorization-server"
#: Real documents are 1 to 10 KB (Keycloak's, the largest of the common ones, about 7 KB).
MAX_DISCOVERY_BYTES = 256 * 1024
DISCOVERY_EVENTS = ("discovery_fetches_ok", "discovery_fetches_failed")
_ECHO = 200  # issuers are URLs: echo enough of one to tell two apart
_DOCUMENT = "OpenID configuration"


class DiscoveryError(JwksError):
    """The issuer's metadata could not be fetched, or it is not to be trusted."""


@dataclass(frozen=True)
class OpenIdConfiguration:
    """What discovery found and trusts: the issuer, its ``jwks_uri``, and where it was read.

    Example::

        OpenIdConfiguration("https://idp.example.com", "https://idp.example.com/jwks",
                            "https://idp.example.com/.well-known/openid-configuration")
    """

    issuer: str
    jwks_uri: str
    url: str


def discovery_urls(issuer: str) -> Tuple[str, str]:
    """The OpenID Connect and RFC 8414 metadata URLs of ``issuer``, in the order they are tried.

    Example::

        discovery_urls("https://idp.example.com/realms/shop/")
        # ('https://idp.example.com/realms/shop/.well-known/openid-configuration',
        #  'https://idp.example.com/.well-known/oauth-authorization-server/realms/shop')
    """
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    oidc = urlunsplit((parts.scheme, parts.netloc, path + OIDC_WELL_KNOWN, "", ""))
    oauth = urlunsplit((parts.scheme, parts.netloc, OAUTH_WELL_KNOWN + path, "", ""))
    return oidc, oauth


def check_discovery_issuer(issuer: str) -> None:
    """Raise ``ValueError`` unless ``issuer`` can be discovered (https URL, no query or fragment)."""
    validate_fetch_url(issuer, "issuer (with discovery)", "https://idp.example.com/realms/shop")
    parts = urlsplit(issuer)
    if parts.query or parts.fragment or issuer.endswith(("?", "#")):
        raise ValueError("issuer (with discovery) must not have a query or fragment (OpenID Connect Discovery 4)")


def parse_openid_configuration(document: Mapping[str, Any], expected_issuer: str, url: str) -> OpenIdConfiguration:
    """The trusted part of a metadata document, or :class:`DiscoveryError` saying why there is none.

    Example::

        parse_openid_configuration({"issuer": "https://idp", "jwks_uri": "https://idp/keys"},
                                   "https://idp", "https://idp/.well-known/openid-configuration")
    """
    issuer = document.get("issuer")
    if issuer != expected_issuer:
        raise DiscoveryError(
            f"{_DOCUMENT} at {safe_echo(url, _ECHO)} names issuer {safe_echo(issuer, _ECHO)}, "
            f"not the configured issuer {safe_echo(expected_issuer, _ECHO)}: nothing in it is trusted"
        )
    jwks_uri = document.get("jwks_uri")
    if jwks_uri is None:
        raise DiscoveryError(f"{_DOCUMENT} at {safe_echo(url, _ECHO)} has no jwks_uri")
    try:
        validate_jwks_url(jwks_uri)
    except ValueError:
        raise DiscoveryError(
            f"{_DOCUMENT} at {safe_echo(url, _ECHO)} has jwks_uri {safe_echo(jwks_uri, _ECHO)}: "
            "it must be https (plain http only for 127.0.0.1 and localhost)"
        ) from None
    return OpenIdConfiguration(issuer, jwks_uri, url)


@dataclass(frozen=True)
class _Held:
    """The current document and its age: swapped whole, never changed in place."""

    found: OpenIdConfiguration
    fetched_at: float
    due_at: float  # refetch with the next key-set fetch from here on


class DiscoveringJwksClient:
    """A key source that finds its JWKS through discovery; the key store uses it like a ``JwksClient``.

    Parameters:
        issuer: the configured issuer the document must name exactly.
        urls: where to look for the document, in order (see :func:`discovery_urls`).
        algorithms: algorithms the keys will be asked to verify.
        timeout: seconds for one fetch: the document (and its fallback) *and* the key set.
        ttl: seconds the document counts as fresh, or ``None`` (never refetched unless the
            key set fails).
        stale_if_error: seconds past the TTL the last good document serves while refetches fail.
        clock: monotonic clock (the key store's, injectable for tests).
        pool: an ``urllib3.PoolManager`` to share (tests pass one trusting their own CA).

    Example::

        client = DiscoveringJwksClient("https://idp.example.com", discovery_urls("https://idp.example.com"),
                                       ["RS256"], timeout=5.0, ttl=600.0, stale_if_error=86400.0)
        keys = client.fetch()  # the document, then the key set, within 5 s in all
    """

    def __init__(
        self,
        issuer: str,
        urls: Iterable[str],
        algorithms: Iterable[str],
        timeout: float,
        *,
        ttl: Optional[float],
        stale_if_error: float,
        clock: Callable[[], float] = time.monotonic,
        pool: Optional[urllib3.PoolManager] = None,
    ) -> None:
        self.issuer = issuer
        self.urls = tuple(urls)
        if not self.urls:
            raise ValueError("discovery needs at least one document URL")
        for url in self.urls:
            validate_fetch_url(url, "discovery_url", "https://idp.example.com/.well-known/openid-configuration")
        self.algorithms = tuple(algorithms)
        self.timeout = timeout
        self.fetcher = JsonFetcher(timeout, pool=pool)
        self.counters = Counters(DISCOVERY_EVENTS)
        self._ttl = ttl
        self._stale_if_error = stale_if_error
        self._clock = clock
        # A fetch started just after the key set's refresh became due must still count as due
        # at the next refresh: the document's age is measured with this much slack.
        self._slack = 0.0 if ttl is None else min(1.0, ttl / 10)
        self._lock = threading.Lock()  # guards the swap of _held and the failure streak
        self._held: Optional[_Held] = None
        self._failing = False
        self._jwks: Optional[JwksClient] = None

    # -- what the key store uses -------------------------------------------------------
    @property
    def url(self) -> str:
        """The JWKS URL in use, or the document's URL before the first discovery."""
        jwks = self._jwks
        return jwks.url if jwks is not None else self.urls[0]

    @property
    def conflicted_kids(self) -> FrozenSet[str]:
        """Kids of the last fetched key set that two different keys claim."""
        jwks = self._jwks
        return jwks.conflicted_kids if jwks is not None else frozenset()

    @property
    def found(self) -> Optional[OpenIdConfiguration]:
        """The document now trusted, or ``None`` before the first successful discovery."""
        held = self._held
        return held.found if held is not None else None

    def fetch(self) -> Dict[str, VerificationKey]:
        """The key set, discovering its URL first when needed; ``JwksError`` on any failure.

        Document and key set share one deadline of ``timeout`` seconds.
        """
        with self.fetcher.deadline():
            jwks_uri, just_read = self._jwks_uri()
            jwks = self._jwks
            if jwks is None or jwks.url != jwks_uri:
                jwks = self._jwks = JwksClient(jwks_uri, self.algorithms, self.timeout, fetcher=self.fetcher)
            try:
                return jwks.fetch()
            except JwksError:
                if not just_read:
                    self._due_now()  # the jwks_uri may have moved: read the document again next time
                raise

    def after_fork_in_child(self) -> None:
        """In a forked child: a lock and a connection pool of its own; the document is kept."""
        self._lock = threading.Lock()
        self.fetcher.after_fork_in_child()

    def close(self) -> None:
        """Close pooled connections."""
        self.fetcher.close()

    # -- internals -----------------------------------------------------------------------
    def _jwks_uri(self) -> Tuple[str, bool]:
        """The ``jwks_uri`` to use, and whether the document was read just now."""
        held = self._held
        now = self._clock()
        if held is not None and now < held.due_at:
            return held.found.jwks_uri, False
        try:
            found = self._discover()
        except JwksError as exc:
            self.counters.incr("discovery_fetches_failed")
            if held is not None and (self._ttl is None or now < held.fetched_at + self._ttl + self._stale_if_error):
                self._note_failure(f"{exc}; keeping the jwks_uri found before, {held.found.jwks_uri}")
                return held.found.jwks_uri, False
            logger.debug("%s of %s could not be read: %s", _DOCUMENT, self.issuer, exc)
            raise  # the key store logs the failed fetch, once per failure streak
        except Exception as exc:  # a bug or an exotic failure: reported like any failed fetch
            self.counters.incr("discovery_fetches_failed")
            raise DiscoveryError(f"{_DOCUMENT} fetch failed: {type(exc).__name__}: {exc}"[:300]) from None
        due_at = float("inf") if self._ttl is None else now + self._ttl - self._slack
        with self._lock:
            self._held = _Held(found, now, due_at)
            recovered, self._failing = self._failing, False
        if recovered:
            logger.warning("%s of %s read again from %s", _DOCUMENT, self.issuer, found.url)
        logger.debug("%s of %s from %s: jwks_uri %s", _DOCUMENT, self.issuer, found.url, found.jwks_uri)
        self.counters.incr("discovery_fetches_ok")
        return found.jwks_uri, True

    def _discover(self) -> OpenIdConfiguration:
        refusals: List[str] = []
        for index, url in enumerate(self.urls):
            try:
                with self.fetcher.deadline() as deadline:
                    document = self.fetcher.get_json(url, deadline, _DOCUMENT, MAX_DISCOVERY_BYTES)
            except HttpStatusError as exc:
                # 4xx: this issuer does not publish here; try RFC 8414's location. A 5xx is
                # the IdP failing, which the next location will not cure.
                if 400 <= exc.status < 500 and index + 1 < len(self.urls):
                    refusals.append(f"{url} answered HTTP {exc.status}")
                    continue
                if refusals:
                    tried = "; ".join([*refusals, f"{url} answered HTTP {exc.status}"])
                    raise DiscoveryError(f"{_DOCUMENT} not found: {tried}") from None
                raise
            return parse_openid_configuration(document, self.issuer, url)
        raise DiscoveryError("no discovery URL")  # unreachable: urls is never empty

    def _due_now(self) -> None:
        with self._lock:
            held = self._held
            if held is not None:
                self._held = _Held(held.found, held.fetched_at, float("-inf"))

    def _note_failure(self, message: str) -> None:
        with self._lock:
            first, self._failing = not self._failing, True
        if first:
            logger.warning("%s of %s could not be read: %s", _DOCUMENT, self.issuer, message)
        else:
            logger.debug("%s of %s could not be read again: %s", _DOCUMENT, self.issuer, message)


def discovery_stats(client: object) -> Dict[str, int]:
    """Discovery counters of a key source: zeros for a source without discovery."""
    if isinstance(client, DiscoveringJwksClient):
        return client.counters.snapshot()
    return dict.fromkeys(DISCOVERY_EVENTS, 0)

"""Validator configuration: one frozen dataclass, checked completely on construction.

The first three fields are those of Wristband's ``WristbandJwtValidatorConfig``, in
the same order and with the same meaning, so existing code keeps working. Everything
after them is new, and every default is the strict one.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

from .discovery import check_discovery_issuer, discovery_urls
from .jose_adapter import HMAC_ALGORITHMS, SUPPORTED_ALGORITHMS, hmac_secret_bytes
from .jwks import validate_fetch_url, validate_jwks_url

__all__ = ["ValidatorConfig", "WristbandJwtValidatorConfig"]

WRISTBAND_JWKS_PATH = "/api/v1/oauth2/jwks"
DEFAULT_JWKS_CACHE_MAX_SIZE = 20
DEFAULT_JWKS_CACHE_TTL_MS = 600_000

# A bare host name (optionally with a port): what Wristband calls the vanity domain.
_DOMAIN = re.compile(
    r"(?=.{1,253}(:|$))[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(?::[0-9]{1,5})?"
)
_HMAC = re.compile(r"HS\d+", re.IGNORECASE)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class WristbandJwtValidatorConfig:
    """How to validate tokens. Invalid values raise ``ValueError`` saying what to pass.

    Parameters:
        wristband_application_vanity_domain: your Wristband application's vanity domain,
            a bare host such as ``"auth.yourapp.io"``. When ``issuer`` / ``jwks_url`` are
            not passed, ``resolved_issuer`` is ``https://{domain}`` and
            ``resolved_jwks_url`` is ``https://{domain}/api/v1/oauth2/jwks`` (the fields
            themselves stay ``None``: they hold what was passed). May be omitted when
            ``issuer`` and ``jwks_url`` (or ``jwks``) are given.
        jwks_cache_max_size: how many signing keys to keep (LRU); falsy means 20.
        jwks_cache_ttl: milliseconds a fetched key set counts as fresh, from the fetch
            (never sliding); then it is refreshed in the background. ``None`` keeps keys
            until evicted and never refreshes them. Default 600000 (ten minutes).
        issuer: exact expected ``iss``; overrides the one derived from the domain.
        jwks_url: JWKS endpoint; must be https (plain http only for loopback hosts).
        audience: expected ``aud`` (a string or several); ``None`` skips the check.
            When set, a token without ``aud`` is refused, and a list ``aud`` passes
            when any member matches.
        algorithms: allowed JOSE ``alg`` values, case-sensitive: RS256, RS384, RS512,
            PS256, PS384, PS512, ES256, ES384, ES512 and EdDSA (Ed25519). Each key
            verifies only what its type and curve allow (see the README's Algorithms).
        leeway: seconds of clock skew tolerated on ``exp`` and ``nbf``.
        require_exp: refuse tokens without ``exp``.
        token_typ: required JOSE ``typ`` (RFC 9068), matched case-insensitively with or
            without the ``application/`` prefix; ``None`` disables the check.
        max_token_bytes: longer tokens are refused before any decoding.
        jwks_fetch_timeout: seconds for a whole JWKS fetch.
        jwks_refresh_cooldown: minimum seconds between fetches caused by unknown kids.
        jwks_stale_if_error: seconds past the TTL that the last good keys keep
            verifying while refreshes fail.
        verified_token_cache_size: how many verified tokens to remember (0 disables).
        jwks: a static JWKS document; keys come from it and nothing is ever fetched.
        discovery: find the JWKS through OpenID Connect discovery: the ``jwks_uri`` of
            ``{issuer}/.well-known/openid-configuration`` (RFC 8414's
            ``/.well-known/oauth-authorization-server`` as the fallback), trusted only
            when the document names exactly this issuer. Excludes ``jwks_url``/``jwks``.
        discovery_url: the discovery document's URL, when it is not where the issuer
            says (split-horizon networks); implies ``discovery``. https only (plain http
            for loopback hosts).
        hmac_secret: a shared secret (bytes, or a str encoded as UTF-8) for tokens
            signed with HS256/HS384/HS512: at least 32 bytes, 48 with HS384 allowed, 64
            with HS512 (RFC 7518 section 3.2). Such a validator verifies with this
            secret only: ``algorithms`` must then be HS* only, and ``jwks_url``,
            ``jwks`` and discovery are refused (it never fetches). Without it, HS* are
            refused: one validator, one family, so no algorithm confusion. Hidden from
            ``repr``; two configs compare by the secret's SHA-256.

    Example::

        WristbandJwtValidatorConfig("auth.yourapp.io", audience="orders-api", leeway=30)
        WristbandJwtValidatorConfig(issuer="https://idp.example.com/realms/shop", discovery=True)
        WristbandJwtValidatorConfig(issuer="https://auth.internal", hmac_secret=secret, algorithms=["HS256"])
    """

    wristband_application_vanity_domain: Optional[str] = None
    jwks_cache_max_size: Optional[int] = DEFAULT_JWKS_CACHE_MAX_SIZE
    jwks_cache_ttl: Optional[int] = DEFAULT_JWKS_CACHE_TTL_MS
    issuer: Optional[str] = None
    jwks_url: Optional[str] = None
    audience: Union[str, Sequence[str], None] = None
    algorithms: Sequence[str] = ("RS256",)
    leeway: float = 0
    require_exp: bool = True
    token_typ: Optional[str] = "at+jwt"
    max_token_bytes: int = 8192
    jwks_fetch_timeout: float = 5.0
    jwks_refresh_cooldown: float = 30
    jwks_stale_if_error: float = 86400
    verified_token_cache_size: int = 4096
    jwks: Optional[Mapping[str, Any]] = field(default=None, hash=False, compare=False, repr=False)
    discovery: bool = False
    discovery_url: Optional[str] = None
    # Never in repr; compared (and hashed) through its SHA-256, never byte by byte with ==.
    hmac_secret: Union[bytes, str, None] = field(default=None, repr=False, compare=False, hash=False)
    _hmac_fingerprint: Optional[bytes] = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise through the back door, once
        domain = self.wristband_application_vanity_domain
        if domain is not None:
            _check_domain(domain)
        self._check_cache_options(set_)
        issuer = self.issuer
        if issuer is not None and (not isinstance(issuer, str) or not issuer.strip() or issuer != issuer.strip()):
            raise ValueError(
                "issuer must be a non-empty string without surrounding whitespace, e.g. 'https://auth.yourapp.io'"
            )
        discovering = self._check_discovery()
        shared_secret = self._check_hmac_secret(set_)
        if issuer is None and domain is None:
            raise ValueError(
                "pass wristband_application_vanity_domain (e.g. 'auth.yourapp.io'), or issuer with jwks_url"
            )
        if self.jwks_url is None and self.jwks is None and domain is None and not discovering and not shared_secret:
            raise ValueError("pass jwks_url (or a static jwks) when wristband_application_vanity_domain is not given")
        if self.jwks_url is not None:
            validate_jwks_url(self.jwks_url)
        if self.jwks is not None and not isinstance(self.jwks, Mapping):
            raise ValueError('jwks must be a JWKS document: a dict with a "keys" list')
        set_(self, "audience", _normalise_audience(self.audience))
        set_(self, "algorithms", _normalise_algorithms(self.algorithms, shared_secret))
        if shared_secret:
            hmac_secret_bytes(self.hmac_secret, self.algorithms)  # long enough for each algorithm allowed
        self._check_limits()

    def _check_hmac_secret(self, set_: Any) -> bool:
        """Check ``hmac_secret`` and what it excludes; true when it is set."""
        if self.hmac_secret is None:
            return False
        set_(self, "_hmac_fingerprint", hashlib.sha256(hmac_secret_bytes(self.hmac_secret)).digest())
        if self.jwks_url is not None or self.jwks is not None or self.uses_discovery:
            raise ValueError(
                "hmac_secret verifies tokens with that secret only: pass either hmac_secret or"
                " jwks_url / jwks / discovery (one validator per key family)"
            )
        return True

    def _check_discovery(self) -> bool:
        """Check the discovery options; true when discovery is on (the issuer is then checked too)."""
        if not isinstance(self.discovery, bool):
            raise ValueError("discovery must be True or False")
        if not self.uses_discovery:
            return False
        if self.discovery_url is not None:
            validate_fetch_url(
                self.discovery_url, "discovery_url", "https://idp.example.com/.well-known/openid-configuration"
            )
        if self.jwks_url is not None or self.jwks is not None:
            raise ValueError(
                "discovery finds the JWKS URL itself: pass either discovery (or discovery_url) or jwks_url / jwks"
            )
        if self.issuer is None and self.wristband_application_vanity_domain is None:
            raise ValueError(
                "discovery needs the issuer the document must name, e.g. issuer='https://idp.example.com/realms/shop'"
            )
        if self.discovery_url is None:
            check_discovery_issuer(self.resolved_issuer)
        return True

    def _check_cache_options(self, set_: Any) -> None:
        size = self.jwks_cache_max_size
        if not size:
            set_(self, "jwks_cache_max_size", DEFAULT_JWKS_CACHE_MAX_SIZE)
        elif not _is_int(size) or size < 0:
            raise ValueError("max_size must be a positive integer (jwks_cache_max_size)")
        ttl = self.jwks_cache_ttl
        if ttl is not None and (not _is_number(ttl) or ttl <= 0):
            raise ValueError("ttl must be a positive integer (if specified) (jwks_cache_ttl, in milliseconds)")

    def _check_limits(self) -> None:
        if not _is_number(self.leeway) or self.leeway < 0:
            raise ValueError("leeway must be a number of seconds >= 0")
        if not isinstance(self.require_exp, bool):
            raise ValueError("require_exp must be True or False")
        typ = self.token_typ
        if typ is not None and (not isinstance(typ, str) or not typ.strip()):
            raise ValueError("token_typ must be a non-empty string such as 'at+jwt', or None to skip the check")
        if not _is_int(self.max_token_bytes) or self.max_token_bytes < 1:
            raise ValueError("max_token_bytes must be a positive integer")
        if not _is_number(self.jwks_fetch_timeout) or self.jwks_fetch_timeout <= 0:
            raise ValueError("jwks_fetch_timeout must be a positive number of seconds")
        if not _is_number(self.jwks_refresh_cooldown) or self.jwks_refresh_cooldown < 0:
            raise ValueError("jwks_refresh_cooldown must be a number of seconds >= 0")
        if not _is_number(self.jwks_stale_if_error) or self.jwks_stale_if_error < 0:
            raise ValueError("jwks_stale_if_error must be a number of seconds >= 0")
        if not _is_int(self.verified_token_cache_size) or self.verified_token_cache_size < 0:
            raise ValueError("verified_token_cache_size must be an integer >= 0 (0 disables the cache)")

    @property
    def resolved_issuer(self) -> str:
        """The ``iss`` tokens must carry: ``issuer``, else ``https://{vanity domain}``.

        Computed from the fields on every read, so a ``dataclasses.replace`` copy with
        another domain derives its own issuer.

        Example::

            WristbandJwtValidatorConfig("auth.yourapp.io").resolved_issuer  # 'https://auth.yourapp.io'
        """
        if self.issuer is not None:
            return self.issuer
        return f"https://{self.wristband_application_vanity_domain}"

    @property
    def resolved_jwks_url(self) -> Optional[str]:
        """Where keys are fetched: ``jwks_url``, else the vanity domain's JWKS.

        ``None`` with a static ``jwks``, with ``hmac_secret``, and with discovery (the URL is found at run time:
        see ``WristbandJwtValidator.openid_configuration()``).

        Example::

            WristbandJwtValidatorConfig("auth.yourapp.io").resolved_jwks_url
            # 'https://auth.yourapp.io/api/v1/oauth2/jwks'
        """
        if self.jwks_url is not None:
            return self.jwks_url
        if (
            self.jwks is not None
            or self.wristband_application_vanity_domain is None
            or self.uses_discovery
            or self.hmac_secret is not None
        ):
            return None
        return f"https://{self.wristband_application_vanity_domain}{WRISTBAND_JWKS_PATH}"

    @property
    def uses_discovery(self) -> bool:
        """True when keys are found through discovery (``discovery=True`` or a ``discovery_url``)."""
        return self.discovery is True or self.discovery_url is not None

    @property
    def resolved_discovery_urls(self) -> Tuple[str, ...]:
        """Where the discovery document is looked up, in order; empty without discovery.

        ``discovery_url`` alone when it is given; else the OpenID Connect location and
        RFC 8414's (section 3: the well-known segment goes between host and path).

        Example::

            WristbandJwtValidatorConfig(issuer="https://idp.example.com/realms/shop", discovery=True
                                        ).resolved_discovery_urls
            # ('https://idp.example.com/realms/shop/.well-known/openid-configuration',
            #  'https://idp.example.com/.well-known/oauth-authorization-server/realms/shop')
        """
        if not self.uses_discovery:
            return ()
        if self.discovery_url is not None:
            return (self.discovery_url,)
        return discovery_urls(self.resolved_issuer)

    @property
    def audiences(self) -> Tuple[str, ...]:
        """``audience`` as a tuple (empty when no audience is checked)."""
        aud = self.audience
        if aud is None:
            return ()
        return (aud,) if isinstance(aud, str) else tuple(aud)

    @property
    def jwks_cache_ttl_seconds(self) -> Optional[float]:
        """``jwks_cache_ttl`` in seconds, or ``None``."""
        return None if self.jwks_cache_ttl is None else self.jwks_cache_ttl / 1000.0


#: Short alias.
ValidatorConfig = WristbandJwtValidatorConfig


def _check_domain(domain: object) -> None:
    hint = "pass the bare host of your Wristband application, e.g. 'auth.yourapp.io' (no scheme, path or spaces)"
    if not isinstance(domain, str) or not domain:
        raise ValueError(f"wristband_application_vanity_domain must not be empty: {hint}")
    if "://" in domain:
        raise ValueError(f"wristband_application_vanity_domain must not include a scheme: {hint}")
    if _DOMAIN.fullmatch(domain) is None:
        raise ValueError(f"wristband_application_vanity_domain {domain[:100]!r} is not a host name: {hint}")


def _normalise_audience(audience: object) -> Union[str, Tuple[str, ...], None]:
    if audience is None:
        return None
    if isinstance(audience, str):
        if not audience:
            raise ValueError("audience must be a non-empty string, a sequence of them, or None")
        return audience
    if isinstance(audience, (list, tuple, set, frozenset)):
        values = tuple(audience)
        if values and all(isinstance(a, str) and a for a in values):
            return values
    raise ValueError("audience must be a non-empty string, a sequence of them, or None")


def _normalise_algorithms(algorithms: object, shared_secret: bool = False) -> Tuple[str, ...]:
    if isinstance(algorithms, str) or not isinstance(algorithms, (list, tuple, set, frozenset)) or not algorithms:
        raise ValueError("algorithms must be a non-empty list such as ['RS256']")
    for alg in algorithms:
        if not isinstance(alg, str):
            raise ValueError("algorithms must be strings such as 'RS256'")
        if alg.lower() == "none":
            raise ValueError("algorithm 'none' is never allowed: unsigned tokens prove nothing")
        if shared_secret:
            if alg not in HMAC_ALGORITHMS:
                raise ValueError(
                    f"with hmac_secret, algorithms must be HMAC ones (case-sensitive: {', '.join(HMAC_ALGORITHMS)}),"
                    f" e.g. algorithms=['HS256']; got {alg[:40]!r}: one validator never mixes a shared secret"
                    " with public keys"
                )
            continue
        if _HMAC.fullmatch(alg):
            raise ValueError(
                f"HMAC algorithm {alg!r} cannot be used with keys from a JWKS: allow RS256,"
                " or pass hmac_secret for shared-secret tokens"
            )
        if alg not in SUPPORTED_ALGORITHMS:
            raise ValueError(
                f"unsupported algorithm {alg[:40]!r}; supported (case-sensitive): {', '.join(SUPPORTED_ALGORITHMS)}"
            )
    return tuple(dict.fromkeys(algorithms))

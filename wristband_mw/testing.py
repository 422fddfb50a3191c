"""A local token issuer for tests: real keys behind a real loopback JWKS server.

Use it to test applications protected by ``wristband_mw`` without a Wristband
account and without mocks::

    from wristband_mw.testing import LocalIssuer

    with LocalIssuer() as issuer:
        validator = issuer.validator()
        token = issuer.mint(sub="user-1", scope="openid orders:read")
        assert validator.validate(token).is_valid

With pytest, enable the fixture in a ``conftest.py``::

    pytest_plugins = ["wristband_mw.testing"]

    def test_orders(local_issuer):
        token = local_issuer.mint(scope="orders:read")

``LocalIssuer(algorithm="ES256")`` (or any algorithm the validator supports: RS*,
PS*, ES*, EdDSA) mints with that algorithm and publishes keys of the matching type
and curve, so an application can be tested against the algorithm its IdP uses::

    with LocalIssuer(algorithm="ES256") as issuer:
        assert issuer.jwks()["keys"][0]["crv"] == "P-256"
        assert issuer.validator().validate(issuer.mint()).is_valid

The server listens on 127.0.0.1 only, on a random free port, using nothing but the
standard library; it stops with the context manager (or :meth:`LocalIssuer.close`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Type, Union
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from . import WristbandJwtValidator, WristbandJwtValidatorConfig, create_wristband_jwt_validator
from .jose_adapter import (
    EC_ALGORITHMS,
    EC_COORDINATE_BYTES,
    EC_CURVES,
    HMAC_ALGORITHMS,
    SUPPORTED_ALGORITHMS,
    hmac_secret_bytes,
)

__all__ = ["LocalIssuer", "PrivateKey", "b64url", "generate_key", "local_issuer", "sign_jws"]

JWKS_PATH = "/api/v1/oauth2/jwks"
DISCOVERY_PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")
_HASHES: Dict[str, hashes.HashAlgorithm] = {
    "256": hashes.SHA256(),
    "384": hashes.SHA384(),
    "512": hashes.SHA512(),
}
_CRV_BY_ALG = {alg: crv for crv, (_, alg) in EC_CURVES.items()}

#: A private key LocalIssuer signs with: RSA (RS*, PS*), EC P-256/384/521 (ES*), Ed25519 (EdDSA).
PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey]

JsonInput = Union[Mapping[str, Any], bytes, str]


def b64url(data: Union[bytes, str]) -> str:
    """Unpadded base64url, as JOSE uses it."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _json_bytes(value: JsonInput) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(dict(value), separators=(",", ":")).encode("utf-8")


def _public_jwk(kid: str, key: PrivateKey, alg: str = "RS256") -> Dict[str, str]:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        crv = _CRV_BY_ALG[alg]
        size = EC_COORDINATE_BYTES[crv]
        point = key.public_key().public_numbers()
        x, y = b64url(point.x.to_bytes(size, "big")), b64url(point.y.to_bytes(size, "big"))
        return {"kty": "EC", "use": "sig", "alg": alg, "kid": kid, "crv": crv, "x": x, "y": y}
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "use": "sig", "alg": alg, "kid": kid, "crv": "Ed25519", "x": b64url(raw)}
    numbers = key.public_key().public_numbers()
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
    return {"kty": "RSA", "use": "sig", "alg": alg, "kid": kid, "n": b64url(n), "e": b64url(e)}


def _key_fits(key: PrivateKey, alg: str) -> bool:
    if alg in EC_ALGORITHMS:
        return isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == EC_CURVES[_CRV_BY_ALG[alg]][0]().name
    if alg == "EdDSA":
        return isinstance(key, ed25519.Ed25519PrivateKey)
    return isinstance(key, rsa.RSAPrivateKey)


def generate_key(algorithm: str = "RS256", *, key_size: int = 2048) -> PrivateKey:
    """A new private key for ``algorithm``: RSA of ``key_size`` bits, the curve of an ES*, or Ed25519.

    Example::

        generate_key("ES384").curve.name  # 'secp384r1'
    """
    if algorithm in EC_ALGORITHMS:
        return ec.generate_private_key(EC_CURVES[_CRV_BY_ALG[algorithm]][0]())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise ValueError(f"unsupported algorithm {algorithm!r}; supported: {', '.join(SUPPORTED_ALGORITHMS)}")
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def sign_jws(key: Union[PrivateKey, bytes], alg: str, signing_input: bytes) -> bytes:
    """The JOSE signature of ``signing_input`` by ``key`` with ``alg`` (ECDSA as fixed-length ``r || s``).

    ``key`` is a private key, or for HS256/384/512 the shared secret as bytes.
    Raises ``ValueError`` when the key's type or curve does not fit ``alg``.
    """
    if isinstance(key, bytes):
        if alg not in HMAC_ALGORITHMS:
            raise ValueError(f"a shared secret cannot sign {alg!r}")
        return hmac.new(key, signing_input, _HMAC_HASHES[alg]).digest()
    if alg not in SUPPORTED_ALGORITHMS or not _key_fits(key, alg):
        raise ValueError(f"a {type(key).__name__} cannot sign {alg!r}")
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(signing_input)
    digest = _HASHES[alg[2:]]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(digest)))
        size = EC_COORDINATE_BYTES[_CRV_BY_ALG[alg]]
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if alg.startswith("PS"):
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        return key.sign(signing_input, pss, digest)
    return key.sign(signing_input, padding.PKCS1v15(), digest)


_HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


class LocalIssuer:
    """An issuer with its own keys and a loopback JWKS endpoint.

    Parameters:
        key_size: RSA modulus size in bits for generated keys.
        port: port to listen on; 0 (the default) picks a free one.
        private_key: an existing private key (PEM bytes or a key object) fitting
            ``algorithm`` to use as the first signing key instead of generating one.
        kid: the first key's ``kid`` (a random one by default).
        issuer: the ``iss`` to mint (default: the server's own URL, ``http://127.0.0.1:{port}``).
        algorithm: what :meth:`mint` signs with (default RS256): RS256/384/512,
            PS256/384/512, ES256/384/512 or EdDSA. Keys are generated to fit it (RSA,
            the curve of the ES*, Ed25519) and published with it as their ``alg``;
            :meth:`validator` allows it. HS256/384/512 sign with ``hmac_secret``.
        hmac_secret: the shared secret for an HS* ``algorithm`` (bytes or str, at least
            32 bytes, 48 for HS384, 64 for HS512; 64 random bytes by default). Such an issuer publishes an empty
            JWKS (a secret is never published) and its :meth:`validator` is configured
            with the secret instead of a JWKS URL.

    Attributes worth knowing:
        issuer, jwks_url: what to configure a validator with (or call :meth:`validator`).
        discovery_url: its OpenID configuration (``issuer`` and ``jwks_uri``), also served
            at RFC 8414's ``/.well-known/oauth-authorization-server``; use it with
            ``validator(discovery=True)``.
        kid: the ``kid`` that :meth:`mint` signs with now.
        fetch_count: how many JWKS requests the server has answered (failures included).
        connection_count: how many TCP connections the server has accepted (a pooled
            client asks several times on one connection).
        failing: when true, the JWKS endpoint answers HTTP 500.
        stall_seconds: the JWKS endpoint waits this long before answering.
        jwks_override: when set, ``(status, body)`` is served instead of the real JWKS.
        discovery_count: how many discovery requests the server has answered.
        discovery_override: when set, ``(status, body)`` is served instead of the real
            OpenID configuration.
    """

    def __init__(
        self,
        *,
        key_size: int = 2048,
        port: int = 0,
        private_key: Union[bytes, PrivateKey, None] = None,
        kid: Optional[str] = None,
        issuer: Optional[str] = None,
        algorithm: str = "RS256",
        hmac_secret: Union[bytes, str, None] = None,
    ) -> None:
        if algorithm not in SUPPORTED_ALGORITHMS + HMAC_ALGORITHMS:
            supported = ", ".join(SUPPORTED_ALGORITHMS + HMAC_ALGORITHMS)
            raise ValueError(f"unsupported algorithm {algorithm!r}; supported: {supported}")
        shared = algorithm in HMAC_ALGORITHMS
        if hmac_secret is not None and not shared:
            raise ValueError("hmac_secret signs HS256/HS384/HS512 only: pass algorithm='HS256'")
        if shared and private_key is not None:
            raise ValueError(f"{algorithm} signs with hmac_secret, not a private key")
        self.algorithm = algorithm
        self.key_size = key_size
        self.failing = False
        self.stall_seconds = 0.0
        self.jwks_override: Optional[Tuple[int, bytes]] = None
        self.discovery_override: Optional[Tuple[int, bytes]] = None
        self._lock = threading.Lock()
        self._fetch_count = 0
        self._discovery_count = 0
        self._connection_count = 0
        self._stopping = threading.Event()
        if isinstance(private_key, bytes):
            loaded = serialization.load_pem_private_key(private_key, password=None)
            if not isinstance(loaded, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
                raise ValueError("private_key must be an RSA, EC or Ed25519 key")
            private_key = loaded
        if private_key is not None and not _key_fits(private_key, algorithm):
            raise ValueError(f"private_key does not fit {algorithm}: RS*/PS* need RSA, ES* its curve, EdDSA Ed25519")
        if shared:
            first: Union[PrivateKey, bytes] = (
                hmac_secret_bytes(hmac_secret, [algorithm]) if hmac_secret is not None else secrets.token_bytes(64)
            )
        else:
            first = private_key or self._generate()
        self.kid = kid or self._new_kid()
        self._keys: Dict[str, Union[PrivateKey, bytes]] = {self.kid: first}
        self._published: List[str] = [self.kid]
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.issuer = issuer or f"http://127.0.0.1:{self.port}"
        self.jwks_url = f"http://127.0.0.1:{self.port}{JWKS_PATH}"
        self.discovery_url = f"http://127.0.0.1:{self.port}{DISCOVERY_PATHS[0]}"
        # A short poll interval: shutdown() waits for the serving loop to notice, so the
        # default 0.5 s would make every close() (every test using the fixture) that slow.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="LocalIssuer", daemon=True
        )
        self._thread.start()

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> LocalIssuer:
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the server (waking any stalled request) and free the port."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- keys --------------------------------------------------------------------------
    @property
    def fetch_count(self) -> int:
        """JWKS requests answered so far."""
        with self._lock:
            return self._fetch_count

    @property
    def discovery_count(self) -> int:
        """Discovery requests answered so far."""
        with self._lock:
            return self._discovery_count

    @property
    def connection_count(self) -> int:
        """TCP connections accepted so far: shows whether clients reuse their connections.

        Example::

            validator.prefetch()
            assert (issuer.fetch_count, issuer.connection_count) == (1, 1)
        """
        with self._lock:
            return self._connection_count

    def openid_configuration(self) -> Dict[str, Any]:
        """The discovery document the server publishes."""
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_url,
            "id_token_signing_alg_values_supported": [self.algorithm],
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
        }

    @property
    def hmac_secret(self) -> Optional[bytes]:
        """The current shared secret of an HS* issuer (``None`` for others)."""
        key = self._keys[self.kid]
        return key if isinstance(key, bytes) else None

    @property
    def private_key(self) -> PrivateKey:
        """The current signing key (an HS* issuer has none: see ``hmac_secret``)."""
        key = self._keys[self.kid]
        if isinstance(key, bytes):
            raise ValueError(f"a {self.algorithm} issuer signs with hmac_secret, not a private key")
        return key

    def jwks(self) -> Dict[str, Any]:
        """The JWKS document the server publishes now (empty for an HS* issuer: secrets are never published)."""
        with self._lock:
            return {
                "keys": [
                    _public_jwk(kid, key, self.algorithm)
                    for kid, key in ((kid, self._keys[kid]) for kid in self._published)
                    if not isinstance(key, bytes)
                ]
            }

    def rotate(self, *, keep_previous: bool = False) -> str:
        """Sign with a new key from now on and publish it; returns its ``kid``.

        The previous key is unpublished (its tokens stop validating once a validator
        refreshes) unless ``keep_previous`` is true.
        """
        kid, key = self._new_kid(), self._generate()
        with self._lock:
            self._keys[kid] = key
            self._published = ([*self._published] if keep_previous else []) + [kid]
            self.kid = kid
        return kid

    def add_key(self, key: Optional[PrivateKey] = None, *, publish: bool = True) -> str:
        """Add a key without making it the current one (for rotation tests); returns its ``kid``."""
        if key is not None and (self.hmac_secret is not None or not _key_fits(key, self.algorithm)):
            raise ValueError(f"key does not fit {self.algorithm}")
        kid = self._new_kid()
        with self._lock:
            self._keys[kid] = key or self._generate()
            if publish:
                self._published.append(kid)
        return kid

    def unpublish(self, kid: str) -> None:
        """Stop publishing ``kid`` (it can still sign, for revocation tests)."""
        with self._lock:
            self._published = [k for k in self._published if k != kid]

    # -- tokens ------------------------------------------------------------------------
    def claims(
        self, sub: str = "user-123", scope: str = "openid email profile", exp_in: Optional[float] = 1800
    ) -> Dict[str, Any]:
        """The claims of a Wristband-shaped access token, before overrides."""
        now = int(time.time())
        claims: Dict[str, Any] = {
            "sub": sub,
            "idp_name": "wristband",
            "van_dom": urlsplit(self.issuer).netloc,
            "amr": ["pwd"],
            "iss": self.issuer,
            "client_id": "local-client",
            "tnt_id": "local-tenant",
            "scope": scope,
            "auth_time": now,
            "sub_kind": "user",
            "app_id": "local-app",
            "iat": now,
            "jti": uuid.uuid4().hex,
        }
        if exp_in is not None:
            claims["exp"] = int(now + exp_in)
        return claims

    def mint(
        self,
        sub: str = "user-123",
        scope: str = "openid email profile",
        exp_in: Optional[float] = 1800,
        *,
        kid: Optional[str] = None,
        headers: Optional[Mapping[str, Any]] = None,
        **claims: Any,
    ) -> str:
        """A signed access token like Wristband's (``typ: at+JWT``, ``kid``, this issuer's algorithm).

        Keyword claims override the defaults; a claim set to ``None`` is removed.
        ``exp_in=None`` leaves out ``exp``. ``headers`` overrides header parameters the
        same way. ``kid`` picks another of this issuer's keys.
        """
        body = self.claims(sub, scope, exp_in)
        body.update(claims)
        header: Dict[str, Any] = {"kid": kid or self.kid, "typ": "at+JWT", "alg": self.algorithm}
        header.update(headers or {})
        return self.sign(
            {k: v for k, v in header.items() if v is not None},
            {k: v for k, v in body.items() if v is not None},
            key_id=kid,
        )

    def sign(self, header: JsonInput, payload: JsonInput, *, key_id: Optional[str] = None) -> str:
        """Sign arbitrary header and payload (dicts, or raw JSON as ``bytes``/``str``).

        The algorithm comes from the header's ``alg`` (this issuer's algorithm when the
        header is raw JSON or has none); it must fit the key, which is ``key_id``'s or
        the current one (an RSA key signs RS* and PS*, so both can be tested).
        """
        alg = header.get("alg", self.algorithm) if isinstance(header, Mapping) else self.algorithm
        signing_input = f"{b64url(_json_bytes(header))}.{b64url(_json_bytes(payload))}"
        signature = sign_jws(self._keys[key_id or self.kid], alg, signing_input.encode("ascii"))
        return f"{signing_input}.{b64url(signature)}"

    def validator(self, **overrides: Any) -> WristbandJwtValidator:
        """A validator pointed at this issuer; ``overrides`` are config fields.

        With ``discovery=True`` it finds the JWKS through this server's discovery
        document (at ``discovery_url`` when ``issuer`` is not the server's own URL)::

            issuer.validator(discovery=True, audience="orders-api")
        """
        options: Dict[str, Any] = {"issuer": self.issuer, "algorithms": [self.algorithm]}
        if self.hmac_secret is not None:
            options["hmac_secret"] = self.hmac_secret  # the current secret; nothing to fetch
        elif overrides.get("discovery") or overrides.get("discovery_url"):
            if self.issuer != f"http://127.0.0.1:{self.port}":
                options["discovery_url"] = self.discovery_url
        else:
            options["jwks_url"] = self.jwks_url
        options.update(overrides)
        return create_wristband_jwt_validator(WristbandJwtValidatorConfig(**options))

    # -- internals ---------------------------------------------------------------------
    def _generate(self) -> Union[PrivateKey, bytes]:
        if self.algorithm in HMAC_ALGORITHMS:
            return secrets.token_bytes(64)
        return generate_key(self.algorithm, key_size=self.key_size)

    @staticmethod
    def _new_kid() -> str:
        return uuid.uuid4().hex[:16]

    def _jwks_response(self) -> Tuple[int, bytes]:
        with self._lock:
            self._fetch_count += 1
        deadline = time.monotonic() + self.stall_seconds
        while time.monotonic() < deadline and not self._stopping.is_set():
            time.sleep(min(0.05, max(deadline - time.monotonic(), 0)))
        if self.failing:
            return 500, b'{"error":"server_error"}'
        if self.jwks_override is not None:
            return self.jwks_override
        return 200, json.dumps(self.jwks()).encode("utf-8")

    def _discovery_response(self) -> Tuple[int, bytes]:
        with self._lock:
            self._discovery_count += 1
        if self.discovery_override is not None:
            return self.discovery_override
        return 200, json.dumps(self.openid_configuration()).encode("utf-8")

    def _count_connection(self) -> None:
        with self._lock:
            self._connection_count += 1

    def _handler_class(self) -> Type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle on, a second request on a
            # kept-alive connection (the JWKS after the discovery document) waits ~40 ms
            # for the client's delayed ACK.
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                issuer._count_connection()

            def handle(self) -> None:
                with contextlib.suppress(ConnectionError):  # a client dropped a kept-alive connection
                    super().handle()

            def do_GET(self) -> None:
                if self.path == JWKS_PATH:
                    status, body = issuer._jwks_response()
                elif self.path in DISCOVERY_PATHS:
                    status, body = issuer._discovery_response()
                else:
                    status, body = 404, b'{"error":"not_found"}'
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (e.g. its timeout): nothing to do
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler


try:
    import pytest
except ImportError:  # pragma: no cover - the test kit works without pytest
    pass
else:

    @pytest.fixture
    def local_issuer() -> Iterator[LocalIssuer]:
        """A running :class:`LocalIssuer`, closed after the test."""
        with LocalIssuer() as issuer:
            yield issuer

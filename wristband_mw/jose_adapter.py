"""The one place that touches python-jose, and ``cryptography`` for what python-jose cannot verify.

Keys are built here from the numbers of a JWK (``n`` and ``e``; ``crv``, ``x`` and
``y``; ``crv`` and ``x``), never from PEM, DER, certificates or any other bytes a
token or a JWKS could shape, so python-jose's HMAC-with-a-public-key confusion (still
open for DER keys in 3.5.0) has nothing to bite on. Verification:

* RS256/384/512: python-jose's ``CryptographyRSAKey``;
* ES256/384/512: python-jose's ``CryptographyECKey`` (the ``cryptography`` backend;
  the pure-Python ``ecdsa`` backend is never imported). The signature must be the
  JOSE fixed-length ``r || s`` (64, 96 or 132 bytes); DER or any other length fails;
* PS256/384/512 (salt length = hash length, RFC 7518 section 3.5) and EdDSA over
  Ed25519 (RFC 8037): ``cryptography`` directly, since python-jose 3.5 has neither.

* HS256/384/512: python-jose's ``HMACKey`` (its ``verify`` compares MACs with
  ``hmac.compare_digest``), for a validator configured with ``hmac_secret`` only.

A key verifies only the algorithms its type and curve allow: an RSA key RS* and PS*,
a P-256 key ES256, a P-384 key ES384, a P-521 key ES512, an Ed25519 key EdDSA, and
the shared secret (never a JWK: no key from a JWKS is ever an HMAC secret) HS*.
``none`` is never among them.

Tokens never reach ``jose.jwt.decode``: this package parses and checks them itself,
then asks a pre-built key only to verify a signature over bytes it has already
checked. A python-jose release or advisory therefore touches this file alone.
"""

from __future__ import annotations

from typing import Callable, Dict, Iterable, Optional, Protocol, Tuple, Union

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from jose.backends.cryptography_backend import CryptographyECKey, CryptographyRSAKey
from jose.backends.native import HMACKey
from jose.exceptions import JWKError

from .errors import safe_echo

__all__ = [
    "EC_ALGORITHMS",
    "EC_CURVES",
    "CryptographyEd25519Key",
    "CryptographyPSSKey",
    "EDDSA_ALGORITHMS",
    "HMAC_ALGORITHMS",
    "MIN_HMAC_SECRET_BYTES",
    "PSS_ALGORITHMS",
    "RSA_ALGORITHMS",
    "SUPPORTED_ALGORITHMS",
    "SharedSecretKey",
    "VerificationKey",
    "build_ec_key",
    "build_hmac_key",
    "build_ed25519_key",
    "build_rsa_key",
    "build_verification_key",
    "fitting_algorithms",
    "hmac_secret_bytes",
    "signature_length_bounds",
]

#: RSASSA-PKCS1-v1_5, verified through python-jose.
RSA_ALGORITHMS = ("RS256", "RS384", "RS512")
#: RSASSA-PSS, verified on ``cryptography``.
PSS_ALGORITHMS = ("PS256", "PS384", "PS512")
#: ECDSA, verified through python-jose's cryptography backend.
EC_ALGORITHMS = ("ES256", "ES384", "ES512")
#: Edwards-curve signatures (Ed25519 only), verified on ``cryptography``.
EDDSA_ALGORITHMS = ("EdDSA",)
#: Every value the ``algorithms`` option accepts with keys from a JWKS, case-sensitive.
SUPPORTED_ALGORITHMS = RSA_ALGORITHMS + PSS_ALGORITHMS + EC_ALGORITHMS + EDDSA_ALGORITHMS
#: HMAC with a shared secret (``hmac_secret``), verified through python-jose; never with a JWKS.
HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
#: RFC 7518 section 3.2: an HMAC key is at least as long as its MAC (HS384: 48, HS512: 64 bytes).
MIN_HMAC_SECRET_BYTES = 32
#: The MAC length of each HMAC algorithm.
HMAC_SIGNATURE_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}

#: The JWK ``crv`` of each ECDSA curve: its ``cryptography`` curve and its one algorithm.
EC_CURVES: Dict[str, Tuple[Callable[[], ec.EllipticCurve], str]] = {
    "P-256": (ec.SECP256R1, "ES256"),
    "P-384": (ec.SECP384R1, "ES384"),
    "P-521": (ec.SECP521R1, "ES512"),
}
#: Bytes of one coordinate (and of one of ``r``, ``s``) on each curve.
EC_COORDINATE_BYTES = {"P-256": 32, "P-384": 48, "P-521": 66}
_CRV_BY_CURVE_NAME = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_CRV_BY_ALG = {alg: crv for crv, (_, alg) in EC_CURVES.items()}
ED25519_KEY_BYTES = 32
ED25519_SIGNATURE_BYTES = 64
MIN_RSA_SIGNATURE_BYTES = 2048 // 8
MAX_RSA_SIGNATURE_BYTES = 16384 // 8

_PSS_HASHES: Dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "PS256": hashes.SHA256,
    "PS384": hashes.SHA384,
    "PS512": hashes.SHA512,
}

PublicKey = Union[rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey]


class Verifier(Protocol):
    """What verifies one algorithm with one key: python-jose's key objects, or the two below."""

    def verify(self, msg: bytes, sig: bytes) -> bool: ...


class CryptographyPSSKey:
    """An RSA public key verifying one PS* algorithm, shaped like python-jose's key objects.

    The salt length is the hash length, as RFC 7518 section 3.5 requires (PyJWT,
    jwcrypto and joserfc sign and verify the same way).
    """

    __slots__ = ("_algorithm", "_hash", "_padding", "prepared_key")

    def __init__(self, key: rsa.RSAPublicKey, algorithm: str) -> None:
        self.prepared_key = key
        self._algorithm = algorithm
        self._hash = _PSS_HASHES[algorithm]()
        self._padding = padding.PSS(mgf=padding.MGF1(_PSS_HASHES[algorithm]()), salt_length=self._hash.digest_size)

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """True for a valid signature; False, never an exception, for anything else."""
        try:
            self.prepared_key.verify(sig, msg, self._padding, self._hash)
        except InvalidSignature:
            return False
        return True


class CryptographyEd25519Key:
    """An Ed25519 public key verifying EdDSA (RFC 8037), shaped like python-jose's key objects."""

    __slots__ = ("_algorithm", "prepared_key")

    def __init__(self, key: ed25519.Ed25519PublicKey) -> None:
        self.prepared_key = key
        self._algorithm = "EdDSA"

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """True for a valid signature; False, never an exception, for anything else."""
        try:
            self.prepared_key.verify(sig, msg)
        except InvalidSignature:
            return False
        return True


def signature_length_bounds(alg: str) -> Tuple[int, int]:
    """Shortest and longest signature ``alg`` can have with any key this package accepts.

    The validator refuses other lengths before it looks a key up, so garbage never
    causes a JWKS fetch.

    Example::

        signature_length_bounds("ES256")  # (64, 64)
        signature_length_bounds("RS256")  # (256, 2048): 2048- to 16384-bit keys
    """
    if alg in _CRV_BY_ALG:
        length = 2 * EC_COORDINATE_BYTES[_CRV_BY_ALG[alg]]
        return length, length
    if alg in EDDSA_ALGORITHMS:
        return ED25519_SIGNATURE_BYTES, ED25519_SIGNATURE_BYTES
    if alg in HMAC_SIGNATURE_BYTES:
        return HMAC_SIGNATURE_BYTES[alg], HMAC_SIGNATURE_BYTES[alg]
    return MIN_RSA_SIGNATURE_BYTES, MAX_RSA_SIGNATURE_BYTES


def fitting_algorithms(kty: str, crv: Optional[str] = None) -> Tuple[str, ...]:
    """The algorithms a key of type ``kty`` (and curve ``crv``) may ever verify.

    Example::

        fitting_algorithms("EC", "P-256")  # ('ES256',)
        fitting_algorithms("OKP", "Ed448")  # (): refused
    """
    if kty == "RSA":
        return RSA_ALGORITHMS + PSS_ALGORITHMS
    if kty == "EC" and crv in EC_CURVES:
        return (EC_CURVES[crv][1],)
    if kty == "OKP" and crv == "Ed25519":
        return EDDSA_ALGORITHMS
    if kty == "oct":
        return HMAC_ALGORITHMS
    return ()


class VerificationKey:
    """A public key from a JWKS, ready to verify signatures.

    ``alg`` is the JWK's own ``alg`` restriction (``None`` when the JWK has none);
    ``kty``/``crv`` are its type and curve (``crv`` is ``None`` for RSA); ``bits`` is
    the RSA modulus size or the curve size. ``verifiers`` holds one pre-built verifier
    per algorithm this key may verify here (allowed by the configuration, by its type
    and curve, and by its JWK ``alg``), so no request ever builds a key.

    Example::

        key = build_verification_key("kid-1", rsa_public_key, None, ["RS256"])
        key.allows("RS256")  # True
        key.verify("RS256", b"header.payload", signature)  # True or False, never raises
    """

    __slots__ = ("_identity", "_signature_bytes", "alg", "bits", "crv", "kid", "kty", "verifiers")

    def __init__(
        self,
        kid: str,
        alg: Optional[str],
        kty: str,
        crv: Optional[str],
        bits: int,
        identity: Tuple[object, ...],
        verifiers: Dict[str, Verifier],
        signature_length: int,
    ) -> None:
        self.kid = kid
        self.alg = alg
        self.kty = kty
        self.crv = crv
        self.bits = bits
        self._identity = identity
        self.verifiers = verifiers
        # Every algorithm a key verifies yields signatures of one length: its modulus's
        # bytes (RSA), twice a coordinate's (ECDSA r || s), or 64 (Ed25519).
        self._signature_bytes = signature_length

    def allows(self, alg: str) -> bool:
        """True when this key may verify ``alg`` signatures here."""
        return alg in self.verifiers

    def signature_length(self, alg: str) -> Optional[int]:
        """The one length an ``alg`` signature by this key has, or ``None`` when it may not verify ``alg``."""
        return self._signature_bytes if alg in self.verifiers else None

    def refusal(self, alg: str) -> str:
        """Why this key does not verify ``alg``, for the ``disallowed_algorithm`` message."""
        if self.alg is not None and self.alg != alg:
            return f"the JWKS restricts it to {safe_echo(self.alg)}"
        fitting = fitting_algorithms(self.kty, self.crv)
        if alg not in fitting:
            return f"it is {self.describe()} key, which verifies {', '.join(fitting) or 'nothing'} only"
        return f"{alg} is not among the allowed algorithms"

    def describe(self) -> str:
        """``"an RSA 2048-bit"``, ``"an EC P-256"``, ``"an OKP Ed25519"``: for messages."""
        if self.kty == "oct":
            return "a shared-secret"
        return f"an RSA {self.bits}-bit" if self.kty == "RSA" else f"an {self.kty} {self.crv}"

    def same_as(self, other: VerificationKey) -> bool:
        """True when ``other`` is the same public key with the same restrictions."""
        return (self.kid, self.alg, self._identity, tuple(self.verifiers)) == (
            other.kid,
            other.alg,
            other._identity,
            tuple(other.verifiers),
        )

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        """True when ``signature`` is a valid ``alg`` signature of ``signing_input`` by this key.

        False (never an exception) when this key may not verify ``alg``, or the
        signature has any length but this key's one length for ``alg``.
        """
        verifier = self.verifiers.get(alg)
        if verifier is None or len(signature) != self._signature_bytes:
            return False
        return bool(verifier.verify(signing_input, signature))

    def __repr__(self) -> str:
        shape = f"bits={self.bits}" if self.kty == "RSA" else f"crv={self.crv!r}"
        return f"VerificationKey(kid={self.kid!r}, kty={self.kty!r}, {shape}, alg={self.alg!r})"


def _usable(fitting: Iterable[str], jwk_alg: Optional[str], algorithms: Iterable[str]) -> Tuple[str, ...]:
    fits = frozenset(fitting)
    return tuple(alg for alg in algorithms if alg in fits and jwk_alg in (None, alg))


def build_rsa_key(
    kid: str, modulus: int, exponent: int, jwk_alg: Optional[str], algorithms: Iterable[str]
) -> VerificationKey:
    """The key for ``kid`` from its RSA numbers, for each allowed RS*/PS* algorithm.

    Raises ``ValueError`` when ``cryptography`` rejects the numbers.
    """
    public_key = rsa.RSAPublicNumbers(exponent, modulus).public_key()
    verifiers: Dict[str, Verifier] = {}
    for alg in _usable(fitting_algorithms("RSA"), jwk_alg, algorithms):
        if alg in RSA_ALGORITHMS:
            verifiers[alg] = CryptographyRSAKey(public_key, alg)
        else:
            verifiers[alg] = CryptographyPSSKey(public_key, alg)
    bits = modulus.bit_length()
    return VerificationKey(kid, jwk_alg, "RSA", None, bits, (modulus, exponent), verifiers, (bits + 7) // 8)


def build_ec_key(
    kid: str, crv: str, x: int, y: int, jwk_alg: Optional[str], algorithms: Iterable[str]
) -> VerificationKey:
    """The key for ``kid`` from its curve point, for the one ES* algorithm of its curve (if allowed).

    Raises ``ValueError`` for an unknown curve, or a point that is not on the curve
    (``cryptography`` checks it when it builds the public key).
    """
    if crv not in EC_CURVES:
        raise ValueError(f"EC curve {crv!r} is not supported (P-256, P-384, P-521)")
    curve_class, _ = EC_CURVES[crv]
    public_key = ec.EllipticCurvePublicNumbers(x, y, curve_class()).public_key()
    verifiers: Dict[str, Verifier] = {
        alg: CryptographyECKey(public_key, alg) for alg in _usable(fitting_algorithms("EC", crv), jwk_alg, algorithms)
    }
    return VerificationKey(
        kid, jwk_alg, "EC", crv, public_key.curve.key_size, (crv, x, y), verifiers, 2 * EC_COORDINATE_BYTES[crv]
    )


def build_ed25519_key(kid: str, x: bytes, jwk_alg: Optional[str], algorithms: Iterable[str]) -> VerificationKey:
    """The key for ``kid`` from its 32-byte Ed25519 public key, for EdDSA (if allowed).

    Raises ``ValueError`` when ``x`` is not 32 bytes.
    """
    if len(x) != ED25519_KEY_BYTES:
        raise ValueError(f"an Ed25519 key is {ED25519_KEY_BYTES} bytes, not {len(x)}")
    public_key = ed25519.Ed25519PublicKey.from_public_bytes(x)
    verifiers: Dict[str, Verifier] = {
        alg: CryptographyEd25519Key(public_key) for alg in _usable(EDDSA_ALGORITHMS, jwk_alg, algorithms)
    }
    return VerificationKey(kid, jwk_alg, "OKP", "Ed25519", 256, ("Ed25519", x), verifiers, ED25519_SIGNATURE_BYTES)


def build_verification_key(
    kid: str, public_key: PublicKey, jwk_alg: Optional[str], algorithms: Iterable[str]
) -> VerificationKey:
    """The key for ``kid`` from a ``cryptography`` public key object (for tests and tools).

    Raises ``ValueError`` for a key type or curve this package does not verify.
    """
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        return build_rsa_key(kid, numbers.n, numbers.e, jwk_alg, algorithms)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        crv = _CRV_BY_CURVE_NAME.get(public_key.curve.name)
        if crv is None:
            raise ValueError(f"EC curve {public_key.curve.name!r} is not supported (P-256, P-384, P-521)")
        point = public_key.public_numbers()
        return build_ec_key(kid, crv, point.x, point.y, jwk_alg, algorithms)
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return build_ed25519_key(kid, raw, jwk_alg, algorithms)
    raise ValueError(f"unsupported key type {type(public_key).__name__}")


class SharedSecretKey(VerificationKey):
    """The ``hmac_secret`` of a shared-secret validator, verifying the allowed HS* algorithms.

    Answers for every ``kid`` (shared-secret tokens often carry none). Its ``repr`` and
    messages never show the secret; python-jose's ``HMACKey`` holds it and compares MACs
    in constant time. Each algorithm has its own MAC length (32, 48 or 64 bytes).

    Example::

        key = build_hmac_key(b"a shared secret of at least 32 bytes", ["HS256"])
        key.verify("HS256", b"header.payload", mac)  # True or False, never raises
    """

    __slots__ = ("_lengths",)

    def __init__(self, verifiers: Dict[str, Verifier], bits: int) -> None:
        super().__init__("", None, "oct", None, bits, (id(self),), verifiers, 0)
        self._lengths = {alg: HMAC_SIGNATURE_BYTES[alg] for alg in verifiers}

    def signature_length(self, alg: str) -> Optional[int]:
        return self._lengths.get(alg)

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        verifier = self.verifiers.get(alg)
        if verifier is None or len(signature) != self._lengths[alg]:
            return False
        return bool(verifier.verify(signing_input, signature))

    def __repr__(self) -> str:  # never the secret
        return f"SharedSecretKey(bits={self.bits}, algorithms={tuple(self.verifiers)!r})"


def hmac_secret_bytes(secret: object, algorithms: Iterable[str] = ("HS256",)) -> bytes:
    """``secret`` as bytes (a ``str`` is encoded UTF-8), checked; raises ``ValueError`` saying why.

    RFC 7518 section 3.2: the key is at least as long as the MAC of every algorithm it
    signs: 32 bytes for HS256, 48 for HS384, 64 for HS512. The message never contains
    the secret.
    """
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, bytes):
        raise ValueError("hmac_secret must be bytes or str (a str is encoded as UTF-8)")
    longest = max((HMAC_SIGNATURE_BYTES.get(alg, 0) for alg in algorithms), default=0)
    minimum = max(MIN_HMAC_SECRET_BYTES, longest)
    if len(secret) < minimum:
        raise ValueError(
            f"hmac_secret is {len(secret)} bytes; at least {minimum} are required"
            f" for {', '.join(a for a in algorithms if a in HMAC_SIGNATURE_BYTES) or 'HS256'}"
            " (RFC 7518 section 3.2: an HMAC key is at least as long as its MAC, and a short"
            f" secret can be guessed offline from any token); generate one with secrets.token_bytes({minimum})"
        )
    try:
        HMACKey(secret, "HS256")
    except JWKError:
        raise ValueError(
            "hmac_secret looks like a PEM or SSH public key or certificate: a public key is never"
            " an HMAC secret (that is the algorithm-confusion attack); pass a random secret"
        ) from None
    return secret


def build_hmac_key(secret: object, algorithms: Iterable[str]) -> SharedSecretKey:
    """The shared-secret key for each allowed HS* algorithm in ``algorithms``.

    Raises ``ValueError`` for a secret :func:`hmac_secret_bytes` refuses.
    """
    raw = hmac_secret_bytes(secret, algorithms)
    verifiers: Dict[str, Verifier] = {alg: HMACKey(raw, alg) for alg in algorithms if alg in HMAC_ALGORITHMS}
    return SharedSecretKey(verifiers, 8 * len(raw))

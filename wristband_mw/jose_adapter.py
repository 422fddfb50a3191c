"""The one place that touches python-jose.

Keys are built here from the integers ``n`` and ``e`` of a JWK, never from PEM, DER
or any other bytes a token or a JWKS could shape, so python-jose's HMAC-with-a-
public-key confusion (still open for DER keys in 3.5.0) has nothing to bite on. The
key objects are python-jose's ``CryptographyRSAKey``: the ``cryptography`` backend
does every verification, and the pure-Python ``ecdsa`` backend is never imported.

Tokens never reach ``jose.jwt.decode``: this package parses and checks them itself,
then asks python-jose only to verify an RSA signature over bytes it has already
checked. A python-jose release or advisory therefore touches this file alone.
"""

from __future__ import annotations

from typing import Dict, Iterable, Optional, Tuple

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers
from jose.backends.cryptography_backend import CryptographyRSAKey

__all__ = ["RSA_ALGORITHMS", "VerificationKey", "build_verification_key"]

#: The algorithms a JWKS RSA key can verify through python-jose.
RSA_ALGORITHMS = ("RS256", "RS384", "RS512")


class VerificationKey:
    """A public RSA key from a JWKS, ready to verify signatures.

    ``alg`` is the JWK's own ``alg`` restriction (``None`` when the JWK has none), and
    ``verifiers`` holds one pre-built python-jose key object per algorithm it may
    verify, so no request ever builds a key.
    """

    __slots__ = ("_numbers", "alg", "bits", "kid", "verifiers")

    def __init__(
        self, kid: str, alg: Optional[str], numbers: Tuple[int, int], verifiers: Dict[str, CryptographyRSAKey]
    ) -> None:
        self.kid = kid
        self.alg = alg
        self._numbers = numbers
        self.bits = numbers[0].bit_length()
        self.verifiers = verifiers

    def same_as(self, other: VerificationKey) -> bool:
        """True when ``other`` is the same public key with the same restrictions."""
        return (self.kid, self.alg, self._numbers, tuple(self.verifiers)) == (
            other.kid,
            other.alg,
            other._numbers,
            tuple(other.verifiers),
        )

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        """True when ``signature`` is a valid ``alg`` signature of ``signing_input``."""
        verifier = self.verifiers.get(alg)
        return verifier is not None and bool(verifier.verify(signing_input, signature))

    def __repr__(self) -> str:
        return f"VerificationKey(kid={self.kid!r}, alg={self.alg!r}, bits={self.bits})"


def build_verification_key(
    kid: str, modulus: int, exponent: int, jwk_alg: Optional[str], algorithms: Iterable[str]
) -> VerificationKey:
    """Build the key for ``kid`` from its RSA numbers, for each allowed algorithm.

    Raises ``ValueError`` when ``cryptography`` rejects the numbers.
    """
    public_key = RSAPublicNumbers(exponent, modulus).public_key()
    usable = [alg for alg in algorithms if alg in RSA_ALGORITHMS and jwk_alg in (None, alg)]
    verifiers = {alg: CryptographyRSAKey(public_key, alg) for alg in usable}
    return VerificationKey(kid, jwk_alg, (modulus, exponent), verifiers)

"""Tokens made by hand: forged, signed with any key, one per validation failure; public JWKs."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from wristband_mw import ErrorCode
from wristband_mw.testing import LocalIssuer

from .encoding import JsonInput, b64url, json_bytes

__all__ = ["BadToken", "bad_tokens", "forge", "header_of", "hmac_token", "public_jwk", "rs256_token", "signing_input"]


def header_of(issuer: LocalIssuer, **changes: Any) -> Dict[str, Any]:
    """The header ``issuer`` signs access tokens with, ``changes`` applied (``None`` removes a member)."""
    header: Dict[str, Any] = {"kid": issuer.kid, "typ": "at+JWT", "alg": "RS256"}
    header.update(changes)
    return {k: v for k, v in header.items() if v is not None}


def signing_input(header: JsonInput, payload: JsonInput) -> str:
    """``BASE64URL(header) "." BASE64URL(payload)``, over any header and payload bytes."""
    return f"{b64url(json_bytes(header))}.{b64url(json_bytes(payload))}"


def forge(header: JsonInput, payload: JsonInput, signature: bytes = b"\x01" * 256) -> str:
    """A compact JWS with any header and payload and a signature that verifies nothing."""
    return f"{signing_input(header, payload)}.{b64url(signature)}"


def rs256_token(key: rsa.RSAPrivateKey, header: JsonInput, payload: JsonInput) -> str:
    """A compact JWS really signed RS256 with ``key`` (a forgery when ``key`` is not the issuer's)."""
    data = signing_input(header, payload)
    return f"{data}.{b64url(key.sign(data.encode('ascii'), padding.PKCS1v15(), hashes.SHA256()))}"


_HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def hmac_token(header: JsonInput, payload: JsonInput, secret: bytes, alg: str = "HS256") -> str:
    """A compact JWS MACed with ``secret`` (the algorithm-confusion forgery when it is a public key)."""
    data = signing_input(header, payload)
    return f"{data}.{b64url(hmac.new(secret, data.encode('ascii'), _HMAC_HASHES[alg]).digest())}"


def public_jwk(kid: str, key: rsa.RSAPrivateKey, **extra: Any) -> Dict[str, Any]:
    """The public JWK of ``key``; ``extra`` adds or (with ``None``) removes members."""
    numbers = key.public_key().public_numbers()
    jwk: Dict[str, Any] = {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
    }
    jwk.update(extra)
    return {k: v for k, v in jwk.items() if v is not None}


@dataclass
class BadToken:
    name: str
    token: str
    code: ErrorCode
    attacker_values: Tuple[str, ...] = ()


def bad_tokens(issuer: LocalIssuer) -> List[BadToken]:
    """One token per validation failure, each paired with the ErrorCode it must produce."""
    now = int(time.time())
    other = issuer.add_key(publish=False)
    header = {"kid": issuer.kid, "typ": "at+JWT", "alg": "RS256"}

    def unsigned(alg: str) -> str:
        return forge({**header, "alg": alg}, issuer.claims(), b"not-a-real-signature-0123456789")

    return [
        BadToken("expired", issuer.mint(exp_in=-5), ErrorCode.EXPIRED),
        BadToken("not_yet_valid", issuer.mint(nbf=now + 3600), ErrorCode.NOT_YET_VALID),
        BadToken("no_exp", issuer.mint(exp_in=None), ErrorCode.MISSING_CLAIM),
        BadToken("exp_string", issuer.mint(exp="tomorrow-attacker"), ErrorCode.INVALID_CLAIM, ("tomorrow-attacker",)),
        BadToken("bad_signature", issuer.sign(header, issuer.claims(), key_id=other), ErrorCode.INVALID_SIGNATURE),
        BadToken(
            "wrong_issuer",
            issuer.mint(iss='https://evil.example/"attacker-iss\\'),
            ErrorCode.INVALID_ISSUER,
            ("evil.example", "attacker-iss"),
        ),
        BadToken(
            "unknown_kid",
            issuer.mint(headers={"kid": "attacker-kid-0123"}),
            ErrorCode.UNKNOWN_KEY,
            ("attacker-kid-0123",),
        ),
        BadToken("id_token_typ", issuer.mint(headers={"typ": "id+JWT"}), ErrorCode.INVALID_TYPE, ("id+JWT",)),
        BadToken("alg_hs256", unsigned("HS256"), ErrorCode.DISALLOWED_ALGORITHM, ("HS256",)),
        BadToken("alg_none", unsigned("none"), ErrorCode.DISALLOWED_ALGORITHM),
        BadToken("garbage", "abc.def.ghi", ErrorCode.MALFORMED),
        BadToken("two_segments", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0", ErrorCode.MALFORMED),
    ]

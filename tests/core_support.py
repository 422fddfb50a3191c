"""Helpers shared by the core test modules (not a test module itself)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any, Callable, Dict, Mapping, Optional, Union

from cryptography.hazmat.primitives.asymmetric import rsa

from wristband_mw import WristbandJwtValidator, WristbandJwtValidatorConfig, create_wristband_jwt_validator
from wristband_mw.testing import LocalIssuer

JsonLike = Union[Mapping[str, Any], bytes, str]

#: Far from any real clock, so tests never depend on the time they run at.
T0 = 1_700_000_000.0


def b64u(data: Union[bytes, str]) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _json(value: JsonLike) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(dict(value), separators=(",", ":")).encode("utf-8")


def forge(header: JsonLike, payload: JsonLike, signature: bytes = b"\x01" * 256) -> str:
    """A compact JWS with any header and payload and a signature that verifies nothing."""
    return f"{b64u(_json(header))}.{b64u(_json(payload))}.{b64u(signature)}"


def public_jwk(kid: str, key: rsa.RSAPrivateKey, **extra: Any) -> Dict[str, Any]:
    """The public JWK of ``key``; ``extra`` adds or (with ``None``) removes members."""
    numbers = key.public_key().public_numbers()
    jwk: Dict[str, Any] = {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": b64u(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64u(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
    }
    jwk.update(extra)
    return {k: v for k, v in jwk.items() if v is not None}


class FakeClock:
    """A settable clock: call it for the time, ``advance`` to move it."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_validator(
    issuer: LocalIssuer,
    *,
    clock: Optional[Callable[[], float]] = None,
    monotonic: Optional[Callable[[], float]] = None,
    **overrides: Any,
) -> WristbandJwtValidator:
    """A validator pointed at ``issuer`` with injectable clocks."""
    options: Dict[str, Any] = {"issuer": issuer.issuer, "jwks_url": issuer.jwks_url}
    options.update(overrides)
    kwargs: Dict[str, Any] = {}
    if clock is not None:
        kwargs["clock"] = clock
    if monotonic is not None:
        kwargs["monotonic"] = monotonic
    return create_wristband_jwt_validator(WristbandJwtValidatorConfig(**options), **kwargs)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` (real time) until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()

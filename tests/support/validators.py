"""Validators for tests: pointed at a loopback issuer with injectable clocks, or at a domain never contacted."""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from wristband_mw import WristbandJwtValidator, WristbandJwtValidatorConfig, create_wristband_jwt_validator
from wristband_mw.testing import LocalIssuer

__all__ = ["OFFLINE_DOMAIN", "make_validator", "offline_validator"]

OFFLINE_DOMAIN = "auth.example.com"


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


def offline_validator(**overrides: Any) -> WristbandJwtValidator:
    """A validator for a domain that is never contacted (for requests refused before any key lookup)."""
    return create_wristband_jwt_validator(WristbandJwtValidatorConfig(OFFLINE_DOMAIN, **overrides))

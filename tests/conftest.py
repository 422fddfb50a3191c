"""Shared fixtures: the loopback issuer (wristband_mw.testing), a validator on it, and hypothesis profiles.

Helpers shared by test modules live in the ``support`` package next to this file.
"""

import contextlib
import os
from typing import Any, Callable, Dict, Iterator, Type

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["wristband_mw.testing"]

settings.register_profile("dev", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "ci", max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


# The one loopback issuer fixture (wristband_mw.testing.LocalIssuer), in three forms:
# ``issuer`` is shared by a module's tests (a module overriding ``issuer_options`` gets a variant),
# ``local_issuer`` (the package's own pytest plugin) is a fresh one per test, and ``make_issuer``
# starts fresh ones of any kind (a subclass, options) for one test.


@pytest.fixture(scope="module")
def issuer_options() -> Dict[str, Any]:
    """LocalIssuer's keyword arguments for ``issuer``; a module overrides this fixture for a variant."""
    return {}


@pytest.fixture(scope="module")
def issuer(issuer_options: Dict[str, Any]) -> Iterator[Any]:
    """The module's shared issuer. Tests may mint, add unpublished keys, or override its JWKS and
    restore it; a test that rotates, fails or stalls the JWKS, or counts fetches from zero, takes
    ``local_issuer`` or ``make_issuer`` instead."""
    from wristband_mw.testing import LocalIssuer  # imported late: pytest_plugins loads the module first

    with LocalIssuer(**issuer_options) as shared:
        yield shared


@pytest.fixture
def make_issuer() -> Iterator[Callable[..., Any]]:
    """``make_issuer(cls=LocalIssuer, **options)``: a started issuer, closed after the test.

    Example: ``issuer = make_issuer(algorithm="ES256")``; ``cls`` takes a LocalIssuer subclass.
    """
    from wristband_mw.testing import LocalIssuer

    with contextlib.ExitStack() as stack:

        def make(cls: Type[Any] = LocalIssuer, **options: Any) -> Any:
            return stack.enter_context(cls(**options))

        yield make


@pytest.fixture(scope="module")
def validator(issuer):
    validator = issuer.validator()
    yield validator
    validator.close()


@pytest.fixture(scope="module")
def realm(issuer):
    return issuer.issuer.split("://", 1)[1]


@pytest.fixture(scope="module")
def token(issuer):
    return issuer.mint(sub="user-1", scope="openid orders:read admin")

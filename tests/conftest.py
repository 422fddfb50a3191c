"""Shared fixtures: a real loopback issuer (wristband_mw.testing) and hypothesis profiles."""

import os

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["wristband_mw.testing"]

settings.register_profile("dev", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "ci", max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


# Module-scoped fixtures shared by the middleware tests (test_wsgi, test_asgi); a test
# module that defines its own issuer/validator/realm/token uses those instead.


@pytest.fixture(scope="module")
def issuer():
    from wristband_mw.testing import LocalIssuer  # imported late: pytest_plugins loads the module first

    with LocalIssuer() as issuer:
        yield issuer


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

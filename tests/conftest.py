"""Shared fixtures: a real loopback issuer (wristband_mw.testing) and hypothesis profiles."""

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["wristband_mw.testing"]

settings.register_profile("dev", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "ci", max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

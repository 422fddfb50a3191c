"""Transitional: the old name of helpers that now live in the ``support`` package.

Branches written before ``tests/support`` import from here; new code imports from
``support.clock``, ``support.encoding``, ``support.tokens`` and ``support.validators``.
Nothing is defined here: delete this module once no test imports it.
"""

from support.clock import T0, FakeClock, wait_until
from support.encoding import b64url as b64u
from support.tokens import forge, public_jwk
from support.validators import make_validator

__all__ = ["T0", "FakeClock", "b64u", "forge", "make_validator", "public_jwk", "wait_until"]

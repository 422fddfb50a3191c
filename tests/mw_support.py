"""Transitional: the old name of helpers that now live in the ``support`` package.

Branches written before ``tests/support`` import from here; new code imports from
``support.drive``, ``support.refusals``, ``support.tokens`` and ``support.validators``.
Nothing is defined here: delete this module once no test imports it.
"""

from support.drive import (
    AsgiApp,
    Sent,
    WsgiApp,
    call_asgi,
    call_wsgi,
    drive_asgi,
    make_environ,
    make_scope,
    queue_receive,
)
from support.refusals import assert_no_leak, assert_refusal, parse_challenge
from support.tokens import BadToken, bad_tokens
from support.validators import OFFLINE_DOMAIN, offline_validator

__all__ = [
    "OFFLINE_DOMAIN",
    "AsgiApp",
    "BadToken",
    "Sent",
    "WsgiApp",
    "assert_no_leak",
    "assert_refusal",
    "bad_tokens",
    "call_asgi",
    "call_wsgi",
    "drive_asgi",
    "make_environ",
    "make_scope",
    "offline_validator",
    "parse_challenge",
    "queue_receive",
]

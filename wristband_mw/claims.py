"""Old home of :mod:`wristband_mw.identity` (the user and credential objects); kept so imports still work."""

from .identity import (
    CLAIMS_KEY,
    TOKEN_KEY,
    AnonymousUser,
    AuthCredentials,
    AuthenticatedUser,
    GrantedScopes,
    Identity,
    get_claims,
    get_token,
)

__all__ = [
    "CLAIMS_KEY",
    "TOKEN_KEY",
    "AnonymousUser",
    "AuthCredentials",
    "AuthenticatedUser",
    "GrantedScopes",
    "Identity",
    "get_claims",
    "get_token",
]

"""JWT middleware for any WSGI or ASGI app, and a drop-in validator for Wristband tokens.

``from wristband_mw import create_wristband_jwt_validator, WristbandJwtValidatorConfig``
works exactly like ``from wristband.python_jwt import ...``; see README.rst for the
middleware, the configuration reference and the test kit.
"""

import logging

from .asgi import JwtAsgiMiddleware
from .bearer import extract_bearer_token
from .config import ValidatorConfig, WristbandJwtValidatorConfig
from .discovery import DiscoveryError, OpenIdConfiguration
from .errors import BearerTokenError, ErrorCode, JwksError, TokenParseError, WristbandMwError
from .identity import AnonymousUser, AuthCredentials, AuthenticatedUser, get_claims, get_token
from .jose_adapter import SUPPORTED_ALGORITHMS
from .multi import IssuerResolver, MultiIssuerValidator
from .options import MiddlewareOptions
from .payload import JWTPayload, JwtValidationResult
from .responses import AuthFailure, ErrorResponse, default_error_response
from .tokens import decode_unverified
from .validator import JwtValidator, WristbandJwtValidator, create_wristband_jwt_validator
from .wsgi import JwtWsgiMiddleware

__version__ = "0.1.0"

# A library logs; the application decides where logs go (logging HOWTO).
logging.getLogger("wristband_mw").addHandler(logging.NullHandler())

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "AnonymousUser",
    "AuthCredentials",
    "AuthFailure",
    "AuthenticatedUser",
    "BearerTokenError",
    "DiscoveryError",
    "ErrorCode",
    "ErrorResponse",
    "IssuerResolver",
    "JWTPayload",
    "JwksError",
    "JwtValidationResult",
    "JwtAsgiMiddleware",
    "JwtValidator",
    "JwtWsgiMiddleware",
    "MiddlewareOptions",
    "MultiIssuerValidator",
    "OpenIdConfiguration",
    "TokenParseError",
    "ValidatorConfig",
    "WristbandJwtValidator",
    "WristbandJwtValidatorConfig",
    "WristbandMwError",
    "__version__",
    "create_wristband_jwt_validator",
    "decode_unverified",
    "default_error_response",
    "extract_bearer_token",
    "get_claims",
    "get_token",
]

"""JWT middleware for any WSGI or ASGI app, and a drop-in validator for Wristband tokens.

``from wristband_mw import create_wristband_jwt_validator, WristbandJwtValidatorConfig``
works exactly like ``from wristband.python_jwt import ...``; see README.rst for the
middleware, the configuration reference and the test kit.
"""

from .bearer import extract_bearer_token
from .config import ValidatorConfig, WristbandJwtValidatorConfig
from .errors import BearerTokenError, ErrorCode, JwksError
from .payload import JWTPayload, JwtValidationResult
from .validator import JwtValidator, WristbandJwtValidator, create_wristband_jwt_validator

__version__ = "0.1.0"

__all__ = [
    "BearerTokenError",
    "ErrorCode",
    "JWTPayload",
    "JwksError",
    "JwtValidationResult",
    "JwtValidator",
    "ValidatorConfig",
    "WristbandJwtValidator",
    "WristbandJwtValidatorConfig",
    "__version__",
    "create_wristband_jwt_validator",
    "extract_bearer_token",
]

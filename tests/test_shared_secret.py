"""Shared-secret tokens (issue 13 section 2): ``hmac_secret`` with HS256/HS384/HS512.

Real secrets, real tokens (minted by an HS ``LocalIssuer``, and by python-jose and
PyJWT for interoperability), real validators and both middlewares. The algorithm
confusion cases (an RS token to an HS validator and the reverse) are in
test_attacks.py with the rest of the catalogue.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hmac
import logging
import time
from typing import Any, Iterator, List

import jose.backends.native
import jwt as pyjwt
import pytest
from jose import jwt as jose_jwt
from support.adapters import ADAPTERS, Adapter
from support.refusals import assert_no_leak, assert_refusal

from wristband_mw import ErrorCode, WristbandJwtValidatorConfig, create_wristband_jwt_validator
from wristband_mw.identity import CLAIMS_KEY
from wristband_mw.testing import LocalIssuer

ISS = "https://auth.internal.example"
SECRET = b"0123456789abcdef0123456789abcdef-shared-secret-long-enough-for-HS512"


@pytest.fixture(scope="module")
def hs_issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(issuer=ISS, algorithm="HS256", hmac_secret=SECRET) as local:
        yield local


@pytest.fixture(params=ADAPTERS, ids=[adapter.name for adapter in ADAPTERS])
def adapter(request: pytest.FixtureRequest) -> Adapter:
    return request.param  # type: ignore[no-any-return]


def config(**changes: Any) -> WristbandJwtValidatorConfig:
    options: dict = {"issuer": ISS, "hmac_secret": SECRET, "algorithms": ["HS256"]}
    options.update(changes)
    return WristbandJwtValidatorConfig(**options)


def apojwt_style(alg: str = "HS256", secret: bytes = SECRET, **claims: Any) -> str:
    """A token as apojwt (PyJWT underneath) makes it: ``typ: JWT``, no ``kid``."""
    body = {"iss": ISS, "sub": "svc-1", "exp": int(time.time()) + 600, "perms": ["read"], **claims}
    return pyjwt.encode(body, secret, algorithm=alg)


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [b"", b"x" * 31, "x" * 31, "\u00e9" * 15 + "x"])  # 31 bytes
def test_short_secrets_are_refused_with_the_reason(secret):
    with pytest.raises(ValueError, match=r"at least 32 are required") as caught:
        config(hmac_secret=secret)
    if secret:
        assert (secret if isinstance(secret, str) else secret.decode()) not in str(caught.value)


@pytest.mark.parametrize(("algorithms", "minimum"), [(["HS256"], 32), (["HS256", "HS384"], 48), (["HS512"], 64)])
def test_the_secret_is_at_least_as_long_as_each_mac(algorithms, minimum):
    config(hmac_secret=b"k" * minimum, algorithms=algorithms)
    with pytest.raises(ValueError, match=f"at least {minimum} are required"):
        config(hmac_secret=b"k" * (minimum - 1), algorithms=algorithms)


def test_a_str_secret_is_utf8_and_32_bytes_suffice():
    text = "\u00e9" * 16  # 16 characters, 32 UTF-8 bytes
    validator = create_wristband_jwt_validator(config(hmac_secret=text))
    token = apojwt_style(secret=text.encode("utf-8"))
    assert validator.validate(token).is_valid is False  # typ JWT: the default token_typ is at+jwt
    assert create_wristband_jwt_validator(config(hmac_secret=text, token_typ=None)).validate(token).is_valid


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"jwks_url": "https://auth.internal.example/jwks"}, "either hmac_secret or"),
        ({"jwks": {"keys": []}}, "either hmac_secret or"),
        ({"discovery": True}, "either hmac_secret or"),
        ({"discovery_url": "https://auth.internal.example/.well-known/openid-configuration"}, "either hmac_secret"),
        ({"algorithms": ["RS256"]}, "must be HMAC ones"),
        ({"algorithms": ["HS256", "RS256"]}, "must be HMAC ones"),
        ({"algorithms": ["hs256"]}, "must be HMAC ones"),
        ({"algorithms": ["none"]}, "'none' is never allowed"),
        ({"hmac_secret": 12345678901234567890123456789012}, "bytes or str"),
        ({"hmac_secret": bytearray(SECRET)}, "bytes or str"),
        ({"hmac_secret": b"-----BEGIN PUBLIC KEY-----\n" + b"A" * 64}, "public key"),
        ({"hmac_secret": b"ssh-rsa " + b"A" * 64}, "public key"),
    ],
)
def test_one_validator_one_family(changes, message):
    with pytest.raises(ValueError, match=message):
        config(**changes)


def test_the_default_algorithm_list_is_refused_with_a_secret():
    with pytest.raises(ValueError, match=r"algorithms=\['HS256'\]"):
        WristbandJwtValidatorConfig(issuer=ISS, hmac_secret=SECRET)


def test_hmac_still_needs_a_secret():
    with pytest.raises(ValueError, match="pass hmac_secret"):
        WristbandJwtValidatorConfig(issuer=ISS, jwks_url="https://auth.internal.example/jwks", algorithms=["HS256"])


def test_the_secret_never_shows_in_repr_str_or_equality():
    text = "a-very-secret-shared-value-of-32-bytes!"
    configured = config(hmac_secret=text)
    for shown in (repr(configured), str(configured)):
        assert text not in shown and "very-secret" not in shown and "hmac_secret" not in shown
    assert configured == config(hmac_secret=text.encode())  # compared by the secret's SHA-256
    assert configured != config(hmac_secret=text + "!")
    assert hash(configured) == hash(config(hmac_secret=text))
    copy = dataclasses.replace(configured, leeway=5)
    assert copy.hmac_secret == text and copy != configured
    validator = create_wristband_jwt_validator(configured)
    seen = (repr(validator), repr(validator.config), str(validator.config), str(validator.stats()))
    assert not any(text in shown for shown in seen)


def test_a_shared_secret_validator_has_no_jwks_url():
    configured = WristbandJwtValidatorConfig("auth.yourapp.io", hmac_secret=SECRET, algorithms=["HS512"])
    assert configured.resolved_jwks_url is None
    assert configured.resolved_issuer == "https://auth.yourapp.io"


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_each_hmac_algorithm_verifies(alg):
    local = LocalIssuer(issuer=ISS, algorithm=alg, hmac_secret=SECRET)
    with local:
        validator = local.validator()
        token = local.mint(perms=["read"])
        result = validator.validate(token)
        assert result.is_valid, result.error_message
        assert asyncio.run(validator.validate_async(token)).is_valid
        assert local.fetch_count == 0 and local.jwks() == {"keys": []}
        others = [a for a in ("HS256", "HS384", "HS512") if a != alg]
        other = LocalIssuer(issuer=ISS, algorithm=others[0], hmac_secret=SECRET)
        with other:
            refused = validator.validate(other.mint())
        assert refused.error is ErrorCode.DISALLOWED_ALGORITHM


def test_tokens_from_pyjwt_and_python_jose_verify_without_a_kid():
    validator = create_wristband_jwt_validator(config(algorithms=["HS256", "HS512"], token_typ=None))
    assert validator.validate(apojwt_style()).is_valid
    body = {"iss": ISS, "sub": "svc-2", "exp": int(time.time()) + 60}
    assert validator.validate(jose_jwt.encode(body, SECRET, algorithm="HS512")).is_valid


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: apojwt_style(secret=b"another-secret-of-at-least-32-bytes!!"), ErrorCode.INVALID_SIGNATURE),
        (lambda: apojwt_style(secret=SECRET[:-1] + b"!"), ErrorCode.INVALID_SIGNATURE),
        (lambda: apojwt_style(exp=int(time.time()) - 10), ErrorCode.EXPIRED),
        (lambda: apojwt_style(iss="https://elsewhere.example"), ErrorCode.INVALID_ISSUER),
        (lambda: apojwt_style(exp=None), ErrorCode.MISSING_CLAIM),
        (lambda: apojwt_style(alg="HS384"), ErrorCode.DISALLOWED_ALGORITHM),
    ],
)
def test_everything_else_is_checked_as_for_rs256(make, code):
    validator = create_wristband_jwt_validator(config(token_typ=None))
    token = make()
    if code is ErrorCode.MISSING_CLAIM:
        token = pyjwt.encode({"iss": ISS, "sub": "x"}, SECRET, algorithm="HS256")
    result = validator.validate(token)
    assert result.error is code, result.error_message


def test_typ_is_checked_unless_turned_off(hs_issuer):
    validator = hs_issuer.validator()
    assert validator.validate(hs_issuer.mint()).is_valid  # typ at+JWT
    assert validator.validate(apojwt_style()).error is ErrorCode.INVALID_TYPE


def test_a_truncated_or_padded_mac_is_an_invalid_signature(hs_issuer):
    validator = hs_issuer.validator()
    head, body, mac = hs_issuer.mint().split(".")
    raw = base64.urlsafe_b64decode(mac + "==")
    for forged in (raw[:16], raw + b"\0", b""):
        token = f"{head}.{body}.{base64.urlsafe_b64encode(forged).rstrip(b'=').decode()}"
        assert validator.validate(token).error is ErrorCode.INVALID_SIGNATURE


def test_verified_tokens_are_cached_per_validator(hs_issuer):
    validator = hs_issuer.validator()
    token = hs_issuer.mint()
    assert validator.validate(token).is_valid and validator.validate(token).is_valid
    assert validator.stats()["verified_token_cache_hits"] == 1
    # Another validator with another secret has its own cache: the token never passes there.
    other = create_wristband_jwt_validator(config(hmac_secret=b"z" * 32))
    assert other.validate(token).error is ErrorCode.INVALID_SIGNATURE


def test_the_mac_is_compared_in_constant_time(hs_issuer, monkeypatch):
    calls: List[int] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(jose.backends.native.hmac, "compare_digest", spy)
    validator = hs_issuer.validator(verified_token_cache_size=0)
    assert validator.validate(hs_issuer.mint()).is_valid
    assert validator.validate(hs_issuer.mint(sub="other")[:-2] + "AA").error is ErrorCode.INVALID_SIGNATURE
    assert len(calls) == 2


def test_the_secret_never_reaches_logs_or_messages(hs_issuer, caplog):
    validator = hs_issuer.validator(algorithms=["HS256", "HS512"])
    texts = [SECRET.decode(), SECRET.hex(), base64.b64encode(SECRET).decode()]
    with caplog.at_level(logging.DEBUG, logger="wristband_mw"):
        results = [
            validator.validate(token)
            for token in (hs_issuer.mint(), apojwt_style(), apojwt_style(alg="HS512"), "x.y.z", hs_issuer.mint()[:-3])
        ]
        validator.prefetch()  # nothing to fetch: a no-op
    blob = caplog.text + " ".join(str(r.error_message) for r in results) + repr(validator.stats())
    for text in texts:
        assert text not in blob


# -- through the middlewares ---------------------------------------------------------------------


def test_middleware_with_shared_secret_tokens(adapter, hs_issuer):
    validator = hs_issuer.validator(token_typ=None)
    middleware = adapter.middleware(validator, scope_claims=["scope", "perms"], required_scopes=["read"])
    token = apojwt_style()
    sent = adapter.get(middleware, authorization="Bearer " + token)
    assert sent.status == 200, sent.body
    assert sent.seen[CLAIMS_KEY].scopes == ("read",)
    wrong = apojwt_style(secret=b"w" * 32)
    refused = adapter.get(middleware, authorization="Bearer " + wrong)
    assert_refusal(refused, 401, "invalid_token")
    assert refused.json["error_description"] == "The access token signature is invalid"
    assert_no_leak(refused, wrong, SECRET.decode())

"""The python-jose risks of issue 6 ("Supply chain"), each shown open upstream and closed here.

1. python-jose (up to 3.5.0 at least) still accepts a DER-encoded RSA public key as an
   HMAC secret, so a verifier that lets ``HS256`` through with the issuer's key can be
   forged by anyone holding the public key. Closed here: HMAC algorithms are refused at
   configuration time, and keys are built from the JWK's ``n`` and ``e`` integers only.
2. python-jose always installs ``ecdsa`` (CVE-2024-23342, no fix upstream). Closed here:
   the ``ecdsa`` backend is never imported and ``cryptography`` does every verification.
3. python-jose 3.5.0 lets ``TypeError``, ``OverflowError`` and ``RecursionError`` escape
   ``jwt.decode`` on hostile claims. Closed here: tokens never reach ``jwt.decode``; this
   package's own checks refuse such claims first and return a failed result.

Tests that monkeypatch python-jose do so only to prove that a code path is never taken.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any, Dict, Iterator, Tuple

import jose
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jose import jwt as jose_jwt
from jose.backends import cryptography_backend
from jose.backends.cryptography_backend import CryptographyRSAKey
from jose.exceptions import JOSEError
from support.encoding import with_members
from support.tokens import hmac_token

import wristband_mw
from wristband_mw import ErrorCode, WristbandJwtValidator, WristbandJwtValidatorConfig
from wristband_mw.jose_adapter import VerificationKey
from wristband_mw.testing import LocalIssuer, b64url

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(wristband_mw.__file__)))


def _version(text: str) -> Tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


#: The issue names 3.5.0 as the last release known to carry these risks.
JOSE_KNOWN_AFFECTED = _version(jose.__version__) <= (3, 5, 0)


@pytest.fixture
def validator(issuer: LocalIssuer) -> Iterator[WristbandJwtValidator]:
    v = issuer.validator()
    yield v
    v.close()


def public_bytes(issuer: LocalIssuer, encoding: str, form: str) -> bytes:
    formats = {
        "spki": serialization.PublicFormat.SubjectPublicKeyInfo,
        "pkcs1": serialization.PublicFormat.PKCS1,
    }
    encodings = {"der": serialization.Encoding.DER, "pem": serialization.Encoding.PEM}
    return issuer.private_key.public_key().public_bytes(encodings[encoding], formats[form])


# -- 1. a DER public key as an HMAC secret ----------------------------------------------------------


@pytest.mark.parametrize("form", ["spki", "pkcs1"])
def test_python_jose_accepts_a_der_public_key_as_hmac_secret(issuer: LocalIssuer, form: str) -> None:
    """The risk, shown on the installed python-jose: the forged token decodes."""
    der = public_bytes(issuer, "der", form)
    forged = hmac_token({"alg": "HS256", "typ": "JWT"}, json.dumps(issuer.claims(sub="admin")).encode(), der)
    try:
        claims = jose_jwt.decode(forged, der, algorithms=["HS256"], options={"verify_aud": False})
    except JOSEError:
        # A python-jose release that closed the hole; the protections below still hold.
        assert not JOSE_KNOWN_AFFECTED, f"python-jose {jose.__version__} was expected to accept a DER key"
    else:
        assert claims["sub"] == "admin"  # forged by anyone who can read the public JWKS


def test_python_jose_refuses_the_pem_form(issuer: LocalIssuer) -> None:
    """The half upstream did fix (CVE-2024-33663): PEM is refused, DER is not."""
    pem = public_bytes(issuer, "pem", "spki")
    forged = hmac_token({"alg": "HS256", "typ": "JWT"}, json.dumps(issuer.claims()).encode(), pem)
    with pytest.raises(JOSEError):
        jose_jwt.decode(forged, pem, algorithms=["HS256"], options={"verify_aud": False})


@pytest.mark.parametrize("form", ["spki", "pkcs1"])
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_wristband_refuses_the_der_forgery(
    issuer: LocalIssuer, validator: WristbandJwtValidator, form: str, alg: str
) -> None:
    der = public_bytes(issuer, "der", form)
    header = {"alg": alg, "typ": "at+JWT", "kid": issuer.kid}
    forged = hmac_token(header, json.dumps(issuer.claims(sub="admin")).encode(), der, alg)
    fetches = issuer.fetch_count
    result = validator.validate(forged)
    assert result.error is ErrorCode.DISALLOWED_ALGORITHM
    assert result.payload is None
    assert issuer.fetch_count == fetches  # refused before any key is even looked up


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512", "hs256"])
def test_hmac_is_refused_at_configuration(issuer: LocalIssuer, alg: str) -> None:
    with pytest.raises(ValueError, match="HMAC"):
        WristbandJwtValidatorConfig(issuer=issuer.issuer, jwks_url=issuer.jwks_url, algorithms=[alg])
    with pytest.raises(ValueError, match="HMAC"):
        WristbandJwtValidatorConfig("auth.example.com", algorithms=["RS256", alg])


def test_keys_are_built_from_n_and_e_only(issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every cached key is a ``CryptographyRSAKey`` over a cryptography ``RSAPublicKey``
    whose numbers are the JWK's ``n`` and ``e``, even when the JWK also carries PEM, DER or
    certificate bytes, and python-jose's byte loaders are never called."""

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a key was built from bytes")

    for name in ("load_pem_public_key", "load_pem_private_key", "load_pem_x509_certificate"):
        monkeypatch.setattr(cryptography_backend, name, never)
    monkeypatch.setattr(CryptographyRSAKey, "_process_jwk", never)
    monkeypatch.setattr(CryptographyRSAKey, "_process_cert", never)
    monkeypatch.setattr(jose.jwk, "construct", never)

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_der = other.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk = dict(issuer.jwks()["keys"][0])
    jwk["x5c"] = [b64url(other_der)]
    jwk["pem"] = public_bytes(issuer, "pem", "spki").decode()
    jwk["der"] = b64url(public_bytes(issuer, "der", "spki"))
    issuer.jwks_override = (200, json.dumps({"keys": [jwk]}).encode())
    validator = issuer.validator(algorithms=["RS256", "RS384", "RS512"])
    try:
        validator.prefetch()
        assert validator.validate(issuer.mint()).is_valid
        key = validator.cached_key(issuer.kid)
        assert isinstance(key, VerificationKey)
        assert set(key.verifiers) == {"RS256"}  # the JWK says alg RS256: nothing else is built
        expected = issuer.private_key.public_key().public_numbers()
        for alg, verifier in key.verifiers.items():
            assert type(verifier) is CryptographyRSAKey
            # It verifies with the named algorithm: a PKCS#1 v1.5 signature over SHA-256
            # passes, the same message signed over SHA-384 does not.
            message = b"header.payload"
            sha256_signature = issuer.private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
            sha384_signature = issuer.private_key.sign(message, padding.PKCS1v15(), hashes.SHA384())
            assert alg == "RS256"
            assert verifier.verify(message, sha256_signature) is True
            assert verifier.verify(message, sha384_signature) is False
            assert isinstance(verifier.prepared_key, rsa.RSAPublicKey)
            assert verifier.prepared_key.public_numbers() == expected
    finally:
        validator.close()
        issuer.jwks_override = None


def test_tokens_never_reach_python_jose_decode(
    issuer: LocalIssuer, validator: WristbandJwtValidator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only ``CryptographyRSAKey.verify`` is used: ``jwt.decode``, ``jws.verify`` and friends never run."""

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a token reached python-jose's parser")

    for module, name in [
        (jose_jwt, "decode"),
        (jose_jwt, "get_unverified_header"),
        (jose_jwt, "get_unverified_claims"),
        (jose.jws, "verify"),
        (jose.jws, "_load"),
        (jose.jws, "_verify_signature"),
        (jose.jwk, "construct"),
    ]:
        monkeypatch.setattr(module, name, never)
    assert validator.validate(issuer.mint()).is_valid
    other = issuer.add_key(publish=False)
    header = {"kid": issuer.kid, "typ": "at+JWT", "alg": "RS256"}
    assert validator.validate(issuer.sign(header, issuer.claims(), key_id=other)).error is ErrorCode.INVALID_SIGNATURE
    assert validator.validate(issuer.mint(exp=[1])).error is ErrorCode.INVALID_CLAIM


# -- 2. ecdsa (CVE-2024-23342) is never imported; cryptography verifies ------------------------------

_END_TO_END = textwrap.dedent(
    """
    import json
    import sys

    if sys.argv[1] == "block-ecdsa":
        sys.modules["ecdsa"] = None  # any "import ecdsa" now raises ImportError

    import wristband_mw
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from jose.backends.cryptography_backend import CryptographyECKey, CryptographyRSAKey
    from wristband_mw.testing import LocalIssuer

    verified_by = []

    def spying(cls, key_type):
        original_verify = cls.verify

        def spy(self, msg, sig):  # counts and calls through: the real verification runs
            verified_by.append(
                [type(self).__module__ + "." + type(self).__qualname__, isinstance(self.prepared_key, key_type)]
            )
            return original_verify(self, msg, sig)

        cls.verify = spy

    spying(CryptographyRSAKey, rsa.RSAPublicKey)
    spying(CryptographyECKey, ec.EllipticCurvePublicKey)

    with LocalIssuer() as issuer:
        validator = issuer.validator(verified_token_cache_size=0)
        good = validator.validate(issuer.mint())
        other = issuer.add_key(publish=False)
        header = {"kid": issuer.kid, "typ": "at+JWT", "alg": "RS256"}
        forged = validator.validate(issuer.sign(header, issuer.claims(), key_id=other))
        key = validator.cached_key(issuer.kid)
        verifier_types = sorted({type(v).__module__ + "." + type(v).__qualname__ for v in key.verifiers.values()})
        prepared_types = sorted({type(v.prepared_key).__module__ for v in key.verifiers.values()})
        validator.close()

    # ECDSA goes through python-jose's cryptography EC backend; PS256 and EdDSA through
    # cryptography directly. None of them may pull the ecdsa package in.
    others = {}
    for alg in ("ES256", "ES384", "ES512", "PS256", "EdDSA"):
        with LocalIssuer(algorithm=alg) as issuer:
            validator = issuer.validator(verified_token_cache_size=0)
            good_other = validator.validate(issuer.mint())
            other = issuer.add_key(publish=False)
            header = {"kid": issuer.kid, "typ": "at+JWT", "alg": alg}
            forged_other = validator.validate(issuer.sign(header, issuer.claims(), key_id=other))
            others[alg] = [good_other.is_valid, str(forged_other.error)]
            validator.close()

    print(json.dumps({
        "good": [good.is_valid, str(good.error)],
        "forged": [forged.is_valid, str(forged.error)],
        "others": others,
        "verified_by": verified_by,
        "verifier_types": verifier_types,
        "prepared_types": prepared_types,
        "suspect_modules": sorted(
            name for name in sys.modules
            if sys.modules[name] is not None and (
                name == "ecdsa" or name.startswith("ecdsa.")
                or name.startswith("jose.backends.ecdsa_backend")
                or name.startswith("jose.backends.rsa_backend")
                or name == "rsa" or name.startswith("rsa.")
            )
        ),
    }))
    """
)


@pytest.mark.parametrize("mode", ["ecdsa-installed", "block-ecdsa"])
def test_ecdsa_is_never_imported_and_cryptography_verifies(mode: str) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    completed = subprocess.run(
        [sys.executable, "-c", _END_TO_END, mode],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["good"] == [True, "None"]
    assert report["forged"] == [False, "invalid_signature"]
    # Every verification (a good and a forged token per algorithm) went through cryptography:
    # RS256 and ES* through python-jose's cryptography backend, PS256 and EdDSA directly.
    rsa_key = "jose.backends.cryptography_backend.CryptographyRSAKey"
    ec_key = "jose.backends.cryptography_backend.CryptographyECKey"
    assert report["verified_by"] == [[rsa_key, True], [rsa_key, True]] + [[ec_key, True], [ec_key, True]] * 3
    assert report["others"] == {
        alg: [True, "invalid_signature"] for alg in ("ES256", "ES384", "ES512", "PS256", "EdDSA")
    }
    assert report["verifier_types"] == [rsa_key]
    assert all(module.startswith("cryptography.") for module in report["prepared_types"]), report
    assert report["suspect_modules"] == [], report


def test_ecdsa_is_still_installed_by_python_jose() -> None:
    """Why pip-audit needs its one suppression: the package is there, merely unused."""
    import importlib.util

    assert importlib.util.find_spec("ecdsa") is not None


# -- 3. claims that make python-jose 3.5.0 raise ------------------------------------------------------

_DEEP = "[" * 100_000 + "]" * 100_000

HOSTILE_CLAIMS = [
    # (raw JSON members added to the claims, what python-jose 3.5.0 raises, this package's code)
    ({"exp": "[1]"}, TypeError, ErrorCode.INVALID_CLAIM),
    ({"exp": '{"$numberLong":"1"}'}, TypeError, ErrorCode.INVALID_CLAIM),
    ({"nbf": "[1]"}, TypeError, ErrorCode.INVALID_CLAIM),
    ({"iat": '{"a":1}'}, TypeError, ErrorCode.INVALID_CLAIM),
    ({"exp": "1e400"}, OverflowError, ErrorCode.INVALID_CLAIM),
    ({"nbf": "-1e400"}, OverflowError, ErrorCode.INVALID_CLAIM),
    ({"iat": "1e400"}, OverflowError, ErrorCode.INVALID_CLAIM),
    ({"deep": _DEEP}, RecursionError, ErrorCode.MALFORMED),
]


@pytest.mark.parametrize(
    "raw, jose_raises, code",
    HOSTILE_CLAIMS,
    ids=[next(iter(raw)) + "=" + next(iter(raw.values()))[:12] for raw, _, _ in HOSTILE_CLAIMS],
)
def test_hostile_claims_are_failed_results_not_exceptions(
    issuer: LocalIssuer, raw: Dict[str, str], jose_raises: type, code: ErrorCode
) -> None:
    payload = with_members({k: v for k, v in issuer.claims().items() if k not in raw}, **raw)
    # python-jose, given the same claims under a key it trusts, raises past its own JOSEError.
    secret = b"shared-secret-for-the-demonstration"
    hs = hmac_token({"alg": "HS256", "typ": "JWT"}, payload, secret)
    if JOSE_KNOWN_AFFECTED:
        with pytest.raises(jose_raises):
            jose_jwt.decode(hs, secret, algorithms=["HS256"], options={"verify_aud": False})
    # This package, given them in a genuinely signed RS256 token, returns a failed result.
    token = issuer.sign({"kid": issuer.kid, "typ": "at+JWT", "alg": "RS256"}, payload)
    validator = issuer.validator(max_token_bytes=len(token))
    try:
        fetches = issuer.fetch_count
        result = validator.validate(token)
        assert result.error is code, (result.error, result.error_message)
        assert not result.is_valid and result.payload is None
        assert result.error_message != "Token could not be validated"
        assert issuer.fetch_count == fetches  # refused by the cheap checks, before any key
    finally:
        validator.close()

"""Proof against the outside world (issue 12 section 4): other libraries' tokens and IdPs' key sets.

* Tokens minted by PyJWT, joserfc and jwcrypto, for every supported algorithm, with
  public keys exported as JWKs by the same library, are verified through a real
  loopback JWKS endpoint; and tokens minted by :class:`~wristband_mw.testing.LocalIssuer`
  verify in PyJWT, so its keys and signatures are the standard ones.
* JWKS documents shaped like those Entra ID, Auth0, Okta, Keycloak and Google publish
  (the members, ``x5c``/``x5t``, ``use``, ``alg`` absent or present, extra members, RSA
  and EC keys mixed, Keycloak's ``RSA-OAEP`` encryption key beside its signing key),
  with key material of our own, and tokens with each IdP's header shape.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import time
import warnings
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from support.tokens import signing_input

from wristband_mw import ErrorCode, WristbandJwtValidator
from wristband_mw.jose_adapter import SUPPORTED_ALGORITHMS
from wristband_mw.testing import LocalIssuer, PrivateKey, b64url, generate_key, sign_jws

jwt = pytest.importorskip("jwt")  # PyJWT
joserfc_jwt = pytest.importorskip("joserfc.jwt")
joserfc_jwk = pytest.importorskip("joserfc.jwk")
joserfc_errors = pytest.importorskip("joserfc.errors")
jwcrypto_jwk = pytest.importorskip("jwcrypto.jwk")
jwcrypto_jwt = pytest.importorskip("jwcrypto.jwt")

ISS = "https://idp.example.com"
AUDIENCE = "orders-api"
ALL = list(SUPPORTED_ALGORITHMS)
LIBRARIES = ["pyjwt", "joserfc", "jwcrypto"]


def kind_of(alg: str) -> str:
    """One key per kind serves each algorithm: one RSA key (named RS256) for RS*/PS*, else one per curve."""
    return "RS256" if alg[:2] in ("RS", "PS") else alg


# -- each library: export a public JWK, mint a token --------------------------------------------------


def _pyjwt_jwk(key: PrivateKey, alg: str) -> Dict[str, Any]:
    exported: Dict[str, Any] = jwt.get_algorithm_by_name(alg).to_jwk(key.public_key(), as_dict=True)
    return exported


def _pyjwt_mint(key: PrivateKey, alg: str, header: Dict[str, Any], claims: Dict[str, Any]) -> str:
    token: str = jwt.encode(claims, key, algorithm=alg, headers=header)
    return token


def _joserfc_key(key: PrivateKey) -> Any:
    if isinstance(key, rsa.RSAPrivateKey):
        return joserfc_jwk.RSAKey.import_key(key)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return joserfc_jwk.ECKey.import_key(key)
    return joserfc_jwk.OKPKey.import_key(key)


def _joserfc_jwk(key: PrivateKey, alg: str) -> Dict[str, Any]:
    exported: Dict[str, Any] = _joserfc_key(key).as_dict(private=False)
    return exported


def _joserfc_mint(key: PrivateKey, alg: str, header: Dict[str, Any], claims: Dict[str, Any]) -> str:
    # joserfc refuses algorithms it does not "recommend" (PS*, EdDSA...) unless named, and
    # warns that RFC 9864 deprecates the polymorphic "EdDSA" (for "Ed25519"), which IdPs still use.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", getattr(joserfc_errors, "SecurityWarning", UserWarning))
        token: str = joserfc_jwt.encode({**header, "alg": alg}, claims, _joserfc_key(key), algorithms=[alg])
    return token


def _jwcrypto_jwk(key: PrivateKey, alg: str) -> Dict[str, Any]:
    exported: Dict[str, Any] = jwcrypto_jwk.JWK.from_pyca(key).export_public(as_dict=True)
    return exported


def _jwcrypto_mint(key: PrivateKey, alg: str, header: Dict[str, Any], claims: Dict[str, Any]) -> str:
    token = jwcrypto_jwt.JWT(header={**header, "alg": alg}, claims=claims)
    token.make_signed_token(jwcrypto_jwk.JWK.from_pyca(key))
    serialized: str = token.serialize()
    return serialized


EXPORT: Dict[str, Callable[[PrivateKey, str], Dict[str, Any]]] = {
    "pyjwt": _pyjwt_jwk,
    "joserfc": _joserfc_jwk,
    "jwcrypto": _jwcrypto_jwk,
}
MINT: Dict[str, Callable[[PrivateKey, str, Dict[str, Any], Dict[str, Any]], str]] = {
    "pyjwt": _pyjwt_mint,
    "joserfc": _joserfc_mint,
    "jwcrypto": _jwcrypto_mint,
}


class Interop:
    """One key per library and key kind, published as that library exports it, on a loopback JWKS."""

    def __init__(self, server: LocalIssuer) -> None:
        self.server = server
        self.keys: Dict[Tuple[str, str], PrivateKey] = {}
        published: List[Dict[str, Any]] = []
        for library in LIBRARIES:
            for kind in dict.fromkeys(kind_of(alg) for alg in ALL):
                key = generate_key(kind)
                self.keys[library, kind] = key
                # No alg in the JWK: one RSA key serves RS* and PS*, as at most IdPs.
                jwk = {k: v for k, v in EXPORT[library](key, kind).items() if k != "alg"}
                published.append({**jwk, "kid": f"{library}-{kind}", "use": "sig"})
        self.document = {"keys": published}
        server.jwks_override = (200, json.dumps(self.document).encode())
        self.validator = server.validator(algorithms=ALL, audience=AUDIENCE)

    def mint(self, library: str, alg: str, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISS, "sub": f"{library}-user", "aud": AUDIENCE, "iat": now, "exp": now + 600, **claims}
        header = {"kid": f"{library}-{kind_of(alg)}", "typ": "at+jwt"}
        return MINT[library](self.keys[library, kind_of(alg)], alg, header, body)


@pytest.fixture(scope="module")
def interop() -> Iterator[Interop]:
    with LocalIssuer(issuer=ISS) as server:
        state = Interop(server)
        try:
            yield state
        finally:
            state.validator.close()


@pytest.mark.parametrize("alg", ALL)
@pytest.mark.parametrize("library", LIBRARIES)
def test_tokens_minted_by_other_libraries(interop: Interop, library: str, alg: str) -> None:
    token = interop.mint(library, alg)
    result = interop.validator.validate(token)
    assert result.is_valid, (result.error, result.error_message)
    assert result.payload is not None and result.payload.sub == f"{library}-user"
    # The same library's signature over other claims: the signature is really checked.
    head, _, _ = token.partition(".")
    other_signature = interop.mint(library, alg, sub="someone-else").rsplit(".", 1)[1]
    forged = f"{head}.{token.split('.')[1]}.{other_signature}"
    assert interop.validator.validate(forged).error is ErrorCode.INVALID_SIGNATURE


def test_every_exported_key_was_usable(interop: Interop) -> None:
    interop.validator.prefetch()
    assert sorted(interop.validator.stats()["cached_kids"]) == sorted(k["kid"] for k in interop.document["keys"])


@pytest.mark.parametrize("alg", ALL)
def test_local_issuer_tokens_verify_in_pyjwt(alg: str) -> None:
    with LocalIssuer(issuer=ISS, algorithm=alg) as issuer:
        jwk = issuer.jwks()["keys"][0]
        key = jwt.PyJWK(jwk)
        claims = jwt.decode(issuer.mint(sub="local"), key, algorithms=[alg], issuer=ISS)
        assert claims["sub"] == "local"


# -- key sets shaped like the IdPs' -------------------------------------------------------------------------


def _certificate(key: PrivateKey, common_name: str) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
    )
    digest = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, digest).public_bytes(serialization.Encoding.DER)


def _rsa_members(key: rsa.RSAPrivateKey) -> Dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {"n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")), "e": "AQAB"}


def _x5(key: PrivateKey, sha256: bool = False) -> Dict[str, Any]:
    der = _certificate(key, "idp.example.com")
    members = {"x5c": [base64.b64encode(der).decode()], "x5t": b64url(hashlib.sha1(der).digest())}  # noqa: S324
    if sha256:
        members["x5t#S256"] = b64url(hashlib.sha256(der).digest())
    return members


class Shape:
    """One IdP's key set, its token header and the options a resource server sets for it."""

    def __init__(
        self,
        document: Dict[str, Any],
        signers: Mapping[str, Tuple[PrivateKey, str]],
        header: Dict[str, Any],
        options: Dict[str, Any],
        unusable: Tuple[str, ...] = (),
        thumbprint_in_header: bool = False,
    ) -> None:
        self.document = document
        self.signers = signers  # kid -> (key, alg)
        self.header = header
        self.options = options
        self.unusable = unusable
        self.thumbprint_in_header = thumbprint_in_header


def _entra() -> Shape:
    """Entra ID v2: no ``alg``, ``x5t`` and ``x5c``, extra members; tokens ``typ: JWT`` with ``x5t``."""
    tenant = "9188040d-6c67-4c5b-b112-36a304b66dad"
    keys = [generate_key("RS256") for _ in range(2)]
    entries = []
    for key in keys:
        assert isinstance(key, rsa.RSAPrivateKey)
        x5 = _x5(key)
        entries.append(
            {
                "kty": "RSA",
                "use": "sig",
                "kid": x5["x5t"],  # Entra's kid is the certificate thumbprint
                "x5t": x5["x5t"],
                **_rsa_members(key),
                "x5c": x5["x5c"],
                "cloud_instance_name": "microsoftonline.com",
                "issuer": f"https://login.microsoftonline.com/{tenant}/v2.0",
            }
        )
    signers = {entry["kid"]: (key, "RS256") for entry, key in zip(entries, keys)}
    return Shape({"keys": entries}, signers, {"typ": "JWT"}, {"token_typ": None}, thumbprint_in_header=True)


def _auth0() -> Shape:
    """Auth0: ``alg`` RS256, ``x5t`` and ``x5c``, two keys (the next one published ahead)."""
    keys = [generate_key("RS256") for _ in range(2)]
    entries = []
    for index, key in enumerate(keys):
        assert isinstance(key, rsa.RSAPrivateKey)
        x5 = _x5(key)
        entries.append({"kty": "RSA", "use": "sig", **_rsa_members(key), "kid": f"auth0-{index}", **x5, "alg": "RS256"})
    signers = {entry["kid"]: (key, "RS256") for entry, key in zip(entries, keys)}
    return Shape({"keys": entries}, signers, {"typ": "JWT"}, {"token_typ": None})


def _okta() -> Shape:
    """Okta: ``alg`` RS256, no certificate; access tokens carry no ``typ``."""
    key = generate_key("RS256")
    assert isinstance(key, rsa.RSAPrivateKey)
    entry = {"kty": "RSA", "alg": "RS256", "kid": "okta-1", "use": "sig", **_rsa_members(key)}
    return Shape({"keys": [entry]}, {"okta-1": (key, "RS256")}, {}, {"token_typ": None})


def _keycloak() -> Shape:
    """Keycloak: an RS256 signing key, an ES256 one, and the RSA-OAEP encryption key beside them."""
    signing, encrypting, elliptic = generate_key("RS256"), generate_key("RS256"), generate_key("ES256")
    assert isinstance(signing, rsa.RSAPrivateKey) and isinstance(encrypting, rsa.RSAPrivateKey)
    assert isinstance(elliptic, ec.EllipticCurvePrivateKey)
    point = elliptic.public_key().public_numbers()
    entries = [
        {
            "kid": "kc-enc",
            "kty": "RSA",
            "alg": "RSA-OAEP",
            "use": "enc",
            **_rsa_members(encrypting),
            **_x5(encrypting, sha256=True),
        },
        {"kid": "kc-rs", "kty": "RSA", "alg": "RS256", "use": "sig", **_rsa_members(signing), **_x5(signing, True)},
        {
            "kid": "kc-es",
            "kty": "EC",
            "alg": "ES256",
            "use": "sig",
            "crv": "P-256",
            "x": b64url(point.x.to_bytes(32, "big")),
            "y": b64url(point.y.to_bytes(32, "big")),
            **_x5(elliptic, sha256=True),
        },
    ]
    signers = {"kc-rs": (signing, "RS256"), "kc-es": (elliptic, "ES256"), "kc-enc": (encrypting, "RS256")}
    return Shape(
        {"keys": entries}, signers, {"typ": "JWT"}, {"token_typ": None, "algorithms": ["RS256", "ES256"]}, ("kc-enc",)
    )


def _google() -> Shape:
    """Google: members in its order (``e`` first), ``alg`` RS256, two keys, no certificate."""
    keys = [generate_key("RS256") for _ in range(2)]
    entries = []
    for index, key in enumerate(keys):
        assert isinstance(key, rsa.RSAPrivateKey)
        members = _rsa_members(key)
        entries.append(
            {"e": members["e"], "kty": "RSA", "alg": "RS256", "n": members["n"], "use": "sig", "kid": f"g{index}"}
        )
    signers = {entry["kid"]: (key, "RS256") for entry, key in zip(entries, keys)}
    return Shape({"keys": entries}, signers, {"typ": "JWT"}, {"token_typ": None})


SHAPES: Dict[str, Callable[[], Shape]] = {
    "entra-id": _entra,
    "auth0": _auth0,
    "okta": _okta,
    "keycloak": _keycloak,
    "google": _google,
}


@pytest.fixture(scope="module")
def server() -> Iterator[LocalIssuer]:
    with LocalIssuer(issuer=ISS) as local:
        yield local


def _token(shape: Shape, kid: str, aud: Any = AUDIENCE) -> str:
    key, alg = shape.signers[kid]
    now = int(time.time())
    header = {"alg": alg, "kid": kid, **shape.header}
    if shape.thumbprint_in_header:  # Entra ID's tokens repeat the key's x5t
        header["x5t"] = kid
    claims = {"iss": ISS, "sub": "user-1", "aud": aud, "iat": now, "exp": now + 300}
    si = signing_input(header, claims)
    return f"{si}.{b64url(sign_jws(key, alg, si.encode()))}"


@pytest.mark.parametrize("idp", list(SHAPES))
def test_key_sets_shaped_like_the_idps(server: LocalIssuer, idp: str) -> None:
    shape = SHAPES[idp]()
    server.jwks_override = (200, json.dumps(shape.document).encode())
    validator: Optional[WristbandJwtValidator] = None
    try:
        validator = server.validator(audience=AUDIENCE, **shape.options)
        for kid in shape.signers:
            result = validator.validate(_token(shape, kid, aud=[AUDIENCE, "https://idp.example.com/userinfo"]))
            if kid in shape.unusable:
                assert result.error is ErrorCode.UNKNOWN_KEY, (kid, result.error)
            else:
                assert result.is_valid, (idp, kid, result.error, result.error_message)
        usable = sorted(kid for kid in shape.signers if kid not in shape.unusable)
        assert sorted(validator.stats()["cached_kids"]) == usable
    finally:
        if validator is not None:
            validator.close()
        server.jwks_override = None


def test_keycloak_es256_key_unused_when_only_rs256_is_allowed(server: LocalIssuer) -> None:
    shape = _keycloak()
    server.jwks_override = (200, json.dumps(shape.document).encode())
    validator = server.validator(audience=AUDIENCE, token_typ=None)
    try:
        assert validator.validate(_token(shape, "kc-rs")).is_valid
        assert validator.validate(_token(shape, "kc-es")).error is ErrorCode.DISALLOWED_ALGORITHM
        assert validator.stats()["cached_kids"] == ["kc-rs"]
    finally:
        validator.close()
        server.jwks_override = None

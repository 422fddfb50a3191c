"""The attack catalogue extended to PS*, ES* and EdDSA (issue 12 sections 3 and 4).

Every case runs against a real issuer (real keys of every type, a real loopback JWKS
server) through ``validate`` and ``validate_async``, and, where the HTTP answer adds
something, both middlewares (see ``assert_refused`` in ``test_attacks``). Rules shown:

* a key verifies only what its type and curve allow: RSA RS*/PS*, P-256 ES256, P-384
  ES384, P-521 ES512, Ed25519 EdDSA; anything else is ``disallowed_algorithm``, even
  when every algorithm is allowed and the JWK has no ``alg``;
* a JWK's own ``alg`` still restricts it (``disallowed_algorithm``);
* a key that cannot be used at all (Ed448, X25519, a point off its curve, short
  coordinates, private material) is skipped on its own: its kid is ``unknown_key``
  and the other keys keep working;
* an ECDSA signature is the JOSE ``r || s`` of exactly 64/96/132 bytes: DER or any
  other length is ``invalid_signature`` before any key lookup;
* PS* uses a salt as long as the hash (RFC 7518 section 3.5), like PyJWT and jwcrypto.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from support.encoding import b64url_decode, json_bytes
from support.tokens import forge, signing_input
from test_attacks import assert_accepted, assert_refused, serve_jwks

from wristband_mw import ErrorCode
from wristband_mw.jose_adapter import SUPPORTED_ALGORITHMS, signature_length_bounds
from wristband_mw.testing import LocalIssuer, b64url, generate_key, sign_jws

ISS = "https://auth.example.com"
ALL = list(SUPPORTED_ALGORITHMS)
# One key of each kind the validator accepts, named by the algorithm LocalIssuer generates it for.
KEY_KINDS = {"RSA": "RS256", "P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "Ed25519": "EdDSA"}
FITS = {
    "RSA": {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"},
    "P-256": {"ES256"},
    "P-384": {"ES384"},
    "P-521": {"ES512"},
    "Ed25519": {"EdDSA"},
}
# P-256's field prime and group order.
P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@pytest.fixture(scope="module")
def issuers() -> Iterator[Dict[str, LocalIssuer]]:
    """One issuer per key kind, all claiming the same ``iss``."""
    started = {kind: LocalIssuer(issuer=ISS, algorithm=alg) for kind, alg in KEY_KINDS.items()}
    try:
        yield started
    finally:
        for issuer in started.values():
            issuer.close()


@pytest.fixture(autouse=True)
def _clean(issuers: Dict[str, LocalIssuer]) -> Iterator[None]:
    yield
    for issuer in issuers.values():
        issuer.jwks_override = None


@functools.cache
def _attacker_key(kind: str) -> Any:
    return generate_key(kind)


def attacker_key(alg: str) -> Any:
    """A key of the attacker's, fitting ``alg`` (one per kind: RSA keys are slow to make)."""
    return _attacker_key("RS256" if alg[:2] in ("RS", "PS") else alg)


def header(issuer: LocalIssuer, alg: str, **changes: Any) -> Dict[str, Any]:
    result: Dict[str, Any] = {"kid": issuer.kid, "typ": "at+JWT", "alg": alg, **changes}
    return result


def token_by(key: Any, alg: str, head: Dict[str, Any], claims: Dict[str, Any]) -> str:
    """A token signed by ``key`` with ``alg``, whatever kid the header names."""
    si = signing_input(head, claims)
    return f"{si}.{b64url(sign_jws(key, alg, si.encode('ascii')))}"


def jwk_without_alg(issuer: LocalIssuer) -> Dict[str, Any]:
    return {k: v for k, v in issuer.jwks()["keys"][0].items() if k != "alg"}


def ec_jwk(kid: str, crv: str, x: int, y: int, size: int) -> Dict[str, Any]:
    x_b64, y_b64 = b64url(x.to_bytes(size, "big")), b64url(y.to_bytes(size, "big"))
    return {"kty": "EC", "use": "sig", "kid": kid, "crv": crv, "x": x_b64, "y": y_b64}


# -- every algorithm, end to end ------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALL)
def test_local_issuer_mints_and_serves_every_algorithm(alg: str) -> None:
    expected = {"RS": ("RSA", None), "PS": ("RSA", None), "Ed": ("OKP", "Ed25519")}
    crv = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
    with LocalIssuer(issuer=ISS, algorithm=alg) as issuer:
        jwk = issuer.jwks()["keys"][0]
        kty, curve = expected.get(alg[:2], ("EC", crv.get(alg)))
        assert (jwk["kty"], jwk.get("crv"), jwk["alg"], jwk["use"]) == (kty, curve, alg, "sig")
        token = issuer.mint()
        assert_accepted(issuer, token)
        assert len(issuer.validator().config.algorithms) == 1  # validator() allows the issuer's algorithm
        # The control for every refusal below: the same token is refused when its alg is not allowed.
        other = "ES256" if alg != "ES256" else "RS256"
        assert_refused(issuer, token, ErrorCode.DISALLOWED_ALGORITHM, http=False, algorithms=[other])


def test_local_issuer_refuses_keys_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        LocalIssuer(algorithm="ES256", private_key=ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(ValueError, match="unsupported algorithm"):
        LocalIssuer(algorithm="none")
    with pytest.raises(ValueError, match="cannot sign"):
        sign_jws(generate_key("RS256"), "ES256", b"x.y")


def test_signature_length_bounds() -> None:
    assert signature_length_bounds("ES256") == (64, 64)
    assert signature_length_bounds("ES384") == (96, 96)
    assert signature_length_bounds("ES512") == (132, 132)
    assert signature_length_bounds("EdDSA") == (64, 64)
    assert signature_length_bounds("PS256") == signature_length_bounds("RS256") == (256, 2048)


# -- alg / key-type confusion in every direction ----------------------------------------------------


CONFUSION = [(kind, alg) for kind in KEY_KINDS for alg in ALL]


@pytest.mark.parametrize(("kind", "alg"), CONFUSION, ids=[f"{kind}-key-{alg}" for kind, alg in CONFUSION])
def test_a_key_verifies_only_what_its_type_and_curve_allow(
    issuers: Dict[str, LocalIssuer], kind: str, alg: str
) -> None:
    """Every algorithm allowed, the JWK without ``alg``: only the key's type and curve decide.

    The refused tokens carry a real signature by the right kind of key for their alg
    (an attacker's), so only the type check stands between them and the victim's kid.
    """
    victim = issuers[kind]
    serve_jwks(victim, [jwk_without_alg(victim)])
    claims = victim.claims()
    if alg in FITS[kind]:
        assert_accepted(victim, token_by(victim.private_key, alg, header(victim, alg), claims), algorithms=ALL)
        return
    token = token_by(attacker_key(alg), alg, header(victim, alg), claims)
    result = assert_refused(victim, token, ErrorCode.DISALLOWED_ALGORITHM, pre_key=False, http=False, algorithms=ALL)
    assert f"Algorithm {alg} not allowed for signing key" in result.error_message
    assert "it is an " in result.error_message and "key, which verifies" in result.error_message


def test_confusion_through_the_middlewares(issuers: Dict[str, LocalIssuer]) -> None:
    """One confusion case all four ways, the HTTP answers included."""
    victim = issuers["P-256"]
    serve_jwks(victim, [jwk_without_alg(victim)])
    token = token_by(attacker_key("RS256"), "RS256", header(victim, "RS256"), victim.claims())
    assert_refused(victim, token, ErrorCode.DISALLOWED_ALGORITHM, pre_key=False, algorithms=ALL)


def test_a_p256_key_with_es384_and_es512(issuers: Dict[str, LocalIssuer]) -> None:
    victim = issuers["P-256"]
    serve_jwks(victim, [jwk_without_alg(victim)])
    key = victim.private_key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    for alg, digest in (("ES384", hashes.SHA384()), ("ES512", hashes.SHA512())):
        # The right length for the claimed alg (by a key of that curve): refused by the curve rule.
        token = token_by(attacker_key(alg), alg, header(victim, alg), victim.claims())
        assert_refused(victim, token, ErrorCode.DISALLOWED_ALGORITHM, pre_key=False, http=False, algorithms=ALL)
        # The victim's own P-256 key hashing with SHA-384/512: 64 bytes, never an ES384/ES512 length.
        si = signing_input(header(victim, alg), victim.claims())
        r, s = decode_dss_signature(key.sign(si.encode(), ec.ECDSA(digest)))
        token = f"{si}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
        assert_refused(victim, token, ErrorCode.INVALID_SIGNATURE, http=False, algorithms=ALL)


def test_a_jwk_whose_alg_contradicts_its_curve(issuers: Dict[str, LocalIssuer]) -> None:
    """A P-256 JWK saying ``alg: ES384`` verifies nothing: neither ES384 nor ES256."""
    victim = issuers["P-256"]
    serve_jwks(victim, [{**jwk_without_alg(victim), "alg": "ES384"}])
    genuine = victim.mint()  # a real ES256 signature by the key
    result = assert_refused(victim, genuine, ErrorCode.DISALLOWED_ALGORITHM, pre_key=False, http=False, algorithms=ALL)
    assert "restricts it to ES384" in result.error_message
    es384 = token_by(attacker_key("ES384"), "ES384", header(victim, "ES384"), victim.claims())
    assert_refused(victim, es384, ErrorCode.DISALLOWED_ALGORITHM, pre_key=False, http=False, algorithms=ALL)


def test_ps_token_against_an_rs_only_jwk(issuers: Dict[str, LocalIssuer]) -> None:
    """The issuer's own RSA key, genuinely PSS-signing, yet its JWK says RS256."""
    victim = issuers["RSA"]
    serve_jwks(victim, [{**jwk_without_alg(victim), "alg": "RS256"}])
    allow = {"algorithms": ["RS256", "PS256"]}
    ps = token_by(victim.private_key, "PS256", header(victim, "PS256"), victim.claims())
    result = assert_refused(victim, ps, ErrorCode.DISALLOWED_ALGORITHM, pre_key=False, **allow)
    assert "restricts it to RS256" in result.error_message
    assert_accepted(victim, victim.mint(), **allow)  # the control


def test_rs_token_against_a_ps_only_jwk(issuers: Dict[str, LocalIssuer]) -> None:
    victim = issuers["RSA"]
    serve_jwks(victim, [{**jwk_without_alg(victim), "alg": "PS256"}])
    allow = {"algorithms": ["RS256", "PS256"]}
    result = assert_refused(victim, victim.mint(), ErrorCode.DISALLOWED_ALGORITHM, pre_key=False, **allow)
    assert "restricts it to PS256" in result.error_message
    ps = token_by(victim.private_key, "PS256", header(victim, "PS256"), victim.claims())
    assert_accepted(victim, ps, **allow)


@pytest.mark.parametrize("ps", ["PS256", "PS384", "PS512"])
def test_pss_with_another_salt_length_is_refused(issuers: Dict[str, LocalIssuer], ps: str) -> None:
    victim = issuers["RSA"]
    serve_jwks(victim, [jwk_without_alg(victim)])
    digest = {"PS256": hashes.SHA256(), "PS384": hashes.SHA384(), "PS512": hashes.SHA512()}[ps]
    si = signing_input(header(victim, ps), victim.claims())
    key = victim.private_key
    assert isinstance(key, rsa.RSAPrivateKey)
    for salt in (0, padding.PSS.MAX_LENGTH):
        signature = key.sign(si.encode(), padding.PSS(mgf=padding.MGF1(digest), salt_length=salt), digest)
        token = f"{si}.{b64url(signature)}"
        assert_refused(victim, token, ErrorCode.INVALID_SIGNATURE, pre_key=False, http=False, algorithms=[ps])
    # PKCS#1 v1.5 bytes under a PS header: the right length, the wrong scheme.
    pkcs1 = key.sign(si.encode(), padding.PKCS1v15(), digest)
    token = f"{si}.{b64url(pkcs1)}"
    assert_refused(victim, token, ErrorCode.INVALID_SIGNATURE, pre_key=False, http=False, algorithms=[ps])


def test_rs_bytes_under_a_ps_header_and_back(issuers: Dict[str, LocalIssuer]) -> None:
    victim = issuers["RSA"]
    serve_jwks(victim, [jwk_without_alg(victim)])
    claims = victim.claims()
    rs_signature = victim.mint(**claims).split(".")[2]
    ps_as_rs = f"{signing_input(header(victim, 'PS256'), claims)}.{rs_signature}"
    assert_refused(victim, ps_as_rs, ErrorCode.INVALID_SIGNATURE, pre_key=False, http=False, algorithms=ALL)
    si = signing_input(header(victim, "RS256"), claims)
    ps_signature = sign_jws(victim.private_key, "PS256", si.encode())
    assert_refused(
        victim, f"{si}.{b64url(ps_signature)}", ErrorCode.INVALID_SIGNATURE, pre_key=False, http=False, algorithms=ALL
    )


# -- ECDSA signature encoding ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["P-256", "P-384", "P-521"])
def test_der_encoded_ecdsa_signature_is_refused_before_the_key(issuers: Dict[str, LocalIssuer], kind: str) -> None:
    issuer = issuers[kind]
    alg = KEY_KINDS[kind]
    key = issuer.private_key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    digest = {"ES256": hashes.SHA256(), "ES384": hashes.SHA384()}.get(alg, hashes.SHA512())
    for attempt in range(100):  # DER is longer than r || s, but for vanishingly rare short r and s
        si = signing_input(header(issuer, alg), {**issuer.claims(), "n": attempt})
        der = key.sign(si.encode(), ec.ECDSA(digest))
        if len(der) != signature_length_bounds(alg)[0]:
            break
    decode_dss_signature(der)  # a genuine DER signature by the issuer's own key
    assert_refused(issuer, f"{si}.{b64url(der)}", ErrorCode.INVALID_SIGNATURE)


@pytest.mark.parametrize("kind", ["P-256", "P-384", "P-521"])
def test_ecdsa_signature_of_any_other_length_is_refused(issuers: Dict[str, LocalIssuer], kind: str) -> None:
    issuer = issuers[kind]
    alg = KEY_KINDS[kind]
    genuine = issuer.mint()
    si, _, sig = genuine.rpartition(".")
    raw = b64url_decode(sig)
    length = signature_length_bounds(alg)[0]
    assert len(raw) == length
    for wrong in (raw[:-1], raw + b"\x00", b"\x00" + raw, raw[: length // 2], raw + raw, b"", b"\x00" * 64 + raw):
        if len(wrong) == length:
            continue
        assert_refused(issuer, f"{si}.{b64url(wrong)}", ErrorCode.INVALID_SIGNATURE, http=False)


@pytest.mark.parametrize(
    "r_s",
    ["zero-r", "zero-s", "r-is-n", "s-is-n", "all-ff", "swapped"],
)
def test_ecdsa_r_s_out_of_range_or_swapped(issuers: Dict[str, LocalIssuer], r_s: str) -> None:
    issuer = issuers["P-256"]
    si, _, sig = issuer.mint().rpartition(".")
    raw = b64url_decode(sig)
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    r, s = {
        "zero-r": (0, s),
        "zero-s": (r, 0),
        "r-is-n": (P256_N, s),
        "s-is-n": (r, P256_N),
        "all-ff": (2**256 - 1, 2**256 - 1),
        "swapped": (s, r),
    }[r_s]
    forged = f"{si}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
    assert_refused(issuer, forged, ErrorCode.INVALID_SIGNATURE, pre_key=False, http=False)


def test_eddsa_signature_of_another_length_and_ed448_bytes(issuers: Dict[str, LocalIssuer]) -> None:
    issuer = issuers["Ed25519"]
    si = signing_input(header(issuer, "EdDSA"), issuer.claims())
    ed448_signature = ed448.Ed448PrivateKey.generate().sign(si.encode())  # 114 bytes
    assert_refused(issuer, f"{si}.{b64url(ed448_signature)}", ErrorCode.INVALID_SIGNATURE)
    genuine = issuer.mint()
    head, _, sig = genuine.rpartition(".")
    flipped = bytearray(b64url_decode(sig))
    flipped[10] ^= 1
    assert_refused(issuer, f"{head}.{b64url(bytes(flipped))}", ErrorCode.INVALID_SIGNATURE, pre_key=False, http=False)


# -- keys that cannot be used: skipped one by one ----------------------------------------------------------


def _unusable_keys(issuers: Dict[str, LocalIssuer]) -> List[Tuple[str, Dict[str, Any], str]]:
    """(kid, JWK, algorithm a token for it would claim): each must be skipped."""
    p256 = issuers["P-256"].jwks()["keys"][0]
    point = issuers["P-256"].private_key.public_key().public_numbers()  # type: ignore[union-attr]
    p384_point = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
    ed448_raw = (
        ed448.Ed448PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    x25519_raw = (
        x25519.X25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    ed_raw = b64url_decode(issuers["Ed25519"].jwks()["keys"][0]["x"])
    return [
        ("off-curve", ec_jwk("off-curve", "P-256", point.x, (point.y + 1) % P256_P, 32), "ES256"),
        ("origin", ec_jwk("origin", "P-256", 0, 0, 32), "ES256"),
        ("x-is-p", ec_jwk("x-is-p", "P-256", P256_P, point.y, 32), "ES256"),
        ("p384-point-as-p256", ec_jwk("p384-point-as-p256", "P-256", p384_point.x, p384_point.y, 48), "ES256"),
        ("p256-point-as-p384", ec_jwk("p256-point-as-p384", "P-384", point.x, point.y, 48), "ES384"),
        ("p256-short-x", {**p256, "kid": "p256-short-x", "x": b64url(point.x.to_bytes(32, "big")[1:])}, "ES256"),
        ("p256-no-y", {k: v for k, v in {**p256, "kid": "p256-no-y"}.items() if k != "y"}, "ES256"),
        ("secp256k1", {**p256, "kid": "secp256k1", "crv": "secp256k1", "alg": "ES256K"}, "ES256"),
        ("ec-private", {**p256, "kid": "ec-private", "d": b64url(b"\x01" * 32)}, "ES256"),
        ("ed448", {"kty": "OKP", "use": "sig", "kid": "ed448", "crv": "Ed448", "x": b64url(ed448_raw)}, "EdDSA"),
        ("x25519", {"kty": "OKP", "use": "sig", "kid": "x25519", "crv": "X25519", "x": b64url(x25519_raw)}, "EdDSA"),
        ("ed25519-long", {"kty": "OKP", "kid": "ed25519-long", "crv": "Ed25519", "x": b64url(ed_raw + b"\0")}, "EdDSA"),
        ("okp-no-crv", {"kty": "OKP", "kid": "okp-no-crv", "x": b64url(ed_raw)}, "EdDSA"),
        ("oct", {"kty": "oct", "kid": "oct", "k": b64url(b"secret" * 8)}, "ES256"),
    ]


def test_unusable_ec_and_okp_keys_are_skipped_one_by_one(
    issuers: Dict[str, LocalIssuer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="wristband_mw")
    good = issuers["P-256"]
    unusable = _unusable_keys(issuers)
    serve_jwks(good, [*(jwk for _, jwk, _ in unusable), good.jwks()["keys"][0]])
    validator = good.validator(algorithms=ALL, jwks_refresh_cooldown=3600)
    try:
        assert validator.validate(good.mint()).is_valid
        assert validator.stats()["cached_kids"] == [good.kid]
        for kid, _, alg in unusable:
            signer = issuers["P-384"] if alg == "ES384" else issuers["Ed25519"] if alg == "EdDSA" else good
            token = token_by(signer.private_key, alg, header(good, alg, kid=kid), good.claims())
            result = validator.validate(token)
            assert result.error is ErrorCode.UNKNOWN_KEY, (kid, result.error, result.error_message)
    finally:
        validator.close()
    skipped = {r.getMessage() for r in caplog.records if "skipped" in r.getMessage()}  # once per fetch
    reasons = " | ".join(sorted(skipped))
    assert len(skipped) == len(unusable), reasons
    assert "not on the P-256 curve" in reasons and "Ed448" in reasons and "32 bytes" in reasons
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_jwks_with_only_unusable_ec_keys_is_keys_unavailable(issuers: Dict[str, LocalIssuer]) -> None:
    issuer = issuers["P-256"]
    point = issuer.private_key.public_key().public_numbers()  # type: ignore[union-attr]
    serve_jwks(issuer, [ec_jwk(issuer.kid, "P-256", point.x, point.y ^ 1, 32)])
    validator = issuer.validator()
    try:
        result = validator.validate(issuer.mint())
        assert result.error is ErrorCode.KEYS_UNAVAILABLE
        assert "no usable EC signing key" in (result.error_message or "")
    finally:
        validator.close()


def test_an_ec_key_is_skipped_when_no_es_algorithm_is_allowed(issuers: Dict[str, LocalIssuer]) -> None:
    """A mixed set under the default RS256: the EC key is left out, the RSA key verifies."""
    rsa_issuer, ec_issuer = issuers["RSA"], issuers["P-256"]
    serve_jwks(rsa_issuer, [ec_issuer.jwks()["keys"][0], rsa_issuer.jwks()["keys"][0]])
    validator = rsa_issuer.validator()
    try:
        assert validator.validate(rsa_issuer.mint()).is_valid
        assert validator.stats()["cached_kids"] == [rsa_issuer.kid]
    finally:
        validator.close()


@pytest.mark.parametrize("alg", ["HS256", "none"])
def test_hmac_and_none_stay_impossible_with_every_algorithm_allowed(issuers: Dict[str, LocalIssuer], alg: str) -> None:
    issuer = issuers["P-256"]
    secret = json_bytes(issuer.jwks()["keys"][0])
    serve_jwks(issuer, [issuer.jwks()["keys"][0], {"kty": "oct", "kid": "hmac", "k": b64url(secret)}])
    for kid in (issuer.kid, "hmac"):
        si = signing_input(header(issuer, alg, kid=kid), issuer.claims())
        signature = hmac.new(secret, si.encode(), hashlib.sha256).digest() if alg == "HS256" else b""
        token = f"{si}.{b64url(signature)}" if signature else forge(header(issuer, alg, kid=kid), issuer.claims(), b"")
        assert_refused(issuer, token, ErrorCode.DISALLOWED_ALGORITHM, algorithms=ALL)


def test_ed25519_public_key_round_trip() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    with LocalIssuer(issuer=ISS, algorithm="EdDSA", private_key=key) as issuer:
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        assert issuer.jwks()["keys"][0]["x"] == b64url(raw)
        assert_accepted(issuer, issuer.mint())


def test_ec_keys_are_built_from_the_point_only(
    issuers: Dict[str, LocalIssuer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An EC verifier is python-jose's ``CryptographyECKey`` over the JWK's own point, even when
    the JWK also carries a certificate of another key, and no byte loader of python-jose runs."""
    from jose import jwk as jose_jwk
    from jose.backends import cryptography_backend
    from jose.backends.cryptography_backend import CryptographyECKey

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a key was built from bytes or from a JWK by python-jose")

    for name in ("load_pem_public_key", "load_pem_private_key", "load_pem_x509_certificate"):
        monkeypatch.setattr(cryptography_backend, name, never)
    monkeypatch.setattr(CryptographyECKey, "_process_jwk", never)
    monkeypatch.setattr(jose_jwk, "construct", never)
    issuer = issuers["P-384"]
    other = ec.generate_private_key(ec.SECP384R1())
    other_der = other.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    serve_jwks(issuer, [{**issuer.jwks()["keys"][0], "x5c": [base64.b64encode(other_der).decode()]}])
    validator = issuer.validator(algorithms=ALL)
    try:
        assert validator.validate(issuer.mint()).is_valid
        key = validator.cached_key(issuer.kid)
        assert key is not None and set(key.verifiers) == {"ES384"}
        verifier = key.verifiers["ES384"]
        assert type(verifier) is CryptographyECKey
        expected = issuer.private_key.public_key().public_numbers()  # type: ignore[union-attr]
        assert verifier.prepared_key.public_numbers() == expected
    finally:
        validator.close()

"""Coverage-guided fuzz target for ``WristbandJwtValidator.validate``.

Run (needs atheris; see README.rst in this directory)::

    python tests/fuzz/fuzz_validate.py --make-corpus tests/fuzz/corpus/validate
    python tests/fuzz/fuzz_validate.py -max_total_time=600 tests/fuzz/corpus/validate tests/fuzz/seeds/validate

The first byte of an input picks how the rest becomes a token: decoded as UTF-8,
Latin-1 or with lone surrogates; filtered to the token alphabet; three base64url
segments of raw bytes; a fuzzer-chosen payload or header really signed with a published
key (so claim handling after the signature is reached); a real token with fuzzer-chosen
edits; or a value that is not a ``str`` at all.

Every input is validated by two validators that differ only in the verified-token cache
(the second time by the cached one, to exercise a hit) and must get the same answer
all three times. Oracles, beyond "no exception escapes":

* no exception is swallowed either (``validate`` logs one and answers MALFORMED: the
  target fails on that log record);
* every result keeps its invariants (an :class:`ErrorCode` and a printable, bounded
  message on failure; claims usable by an application on success);
* an accepted token is independently verified with ``cryptography`` against the
  published keys, and carries the configured issuer and an unexpired ``exp``.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

if __name__ == "__main__" and not any(arg.startswith("--make") for arg in sys.argv[1:]):
    # A fuzzing run: instrument the package (only it: instrument_all() would take minutes)
    # before anything imports it. Imported as a module (the smoke test), atheris is not needed.
    import atheris

    with atheris.instrument_imports(include=["wristband_mw"]):
        import wristband_mw  # noqa: F401

import fuzz_common as fc

from wristband_mw import BearerTokenError, decode_unverified, extract_bearer_token
from wristband_mw.bearer import is_b64token

CACHED = fc.make_validator()
UNCACHED = fc.make_validator(verified_token_cache_size=0)
# A second configuration: no typ check, exp optional, small size limit.
LENIENT = fc.make_validator(token_typ=None, require_exp=False, audience=None, max_token_bytes=2048)
LENIENT_UNCACHED = fc.make_validator(
    token_typ=None, require_exp=False, audience=None, max_token_bytes=2048, verified_token_cache_size=0
)
WATCH = fc.error_log_watch()
_SEGMENT_ALPHABET = set(fc.TOKEN_ALPHABET.decode("ascii"))


class _StrSubclass(str):
    pass


def _decode_utf8(data: fc.Data) -> Any:
    return data.rest().decode("utf-8", "replace")


def _decode_latin1(data: fc.Data) -> Any:
    return data.rest().decode("latin-1")


def _decode_surrogates(data: fc.Data) -> Any:
    return data.rest().decode("utf-8", "surrogateescape")


def _token_alphabet(data: fc.Data) -> Any:
    return "".join(ch for ch in data.rest().decode("latin-1") if ch in _SEGMENT_ALPHABET)


def _raw_segments(data: fc.Data) -> Any:
    return ".".join(fc.b64url(data.blob()) for _ in range(3))


def signed_payload(data: fc.Data) -> Any:
    """A token validly signed over the input's bytes as its payload (public: the regression tests replay it)."""
    kid, alg = data.pick([(fc.KID_A, "RS256"), (fc.KID_B, "RS384"), (fc.KID_B, "RS512"), (fc.KID_UNKNOWN, "RS256")])
    return fc.sign(fc.header(kid, alg), data.rest(), kid=kid, alg=alg)


def _signed_header(data: fc.Data) -> Any:
    kid = data.pick([fc.KID_A, fc.KID_B])
    return fc.sign(data.blob(), data.rest() or fc.claims(), kid=kid, alg="RS256")


def _mutated(data: fc.Data) -> Any:
    seeds = fc.VALID_TOKENS + fc.INVALID_TOKENS
    return fc.mutate(seeds[data.byte() % len(seeds)], data)


def _not_a_str(data: fc.Data) -> Any:
    choice = data.byte()
    raw = data.rest()
    text = raw.decode("latin-1")
    options = [None, raw, bytearray(raw), _StrSubclass(text), len(raw), 1.5, [text], (text,), memoryview(raw)]
    return options[choice % len(options)]


MODES: List[Callable[[fc.Data], Any]] = [
    _decode_utf8,
    _decode_latin1,
    _decode_surrogates,
    _token_alphabet,
    _raw_segments,
    signed_payload,
    _signed_header,
    _mutated,
    _mutated,
    _not_a_str,
]


def _check_helpers(token: Any) -> None:
    """The public helpers beside validate(): only their documented exceptions."""
    try:
        header, claims = decode_unverified(token)
    except ValueError:
        pass
    else:
        assert type(header) is dict and type(claims) is dict
    try:
        extracted = extract_bearer_token(token)
    except BearerTokenError:
        pass
    else:
        assert isinstance(extracted, str) and extracted
    if isinstance(token, str) and is_b64token(token):  # RFC 6750: any b64token comes back as sent
        assert extract_bearer_token("Bearer " + token) == token


def _outcome(result: Any) -> Any:
    return (result.is_valid, result.error, result.error_message, result.payload)


def fuzz_one_input(buf: bytes) -> None:
    """One fuzz input: never raises unless a property is broken."""
    data = fc.Data(buf)
    mode = data.byte()
    lenient = bool(mode & 0x80)
    token = MODES[mode % len(MODES)](data)
    cached, uncached = (LENIENT, LENIENT_UNCACHED) if lenient else (CACHED, UNCACHED)

    first = fc.check_result(cached.validate(token))
    WATCH.raise_if_any()
    again = fc.check_result(cached.validate(token))  # a verified-cache hit when first was valid
    WATCH.raise_if_any()
    plain = fc.check_result(uncached.validate(token))
    WATCH.raise_if_any()
    _check_helpers(token)
    assert _outcome(first) == _outcome(again) == _outcome(plain), (first, again, plain)
    if first.is_valid:
        ok, why = fc.independently_valid(token, require_exp=not lenient)
        assert ok, f"accepted a token that does not verify independently: {why}"
        if not lenient:
            aud = first.payload.aud  # type: ignore[union-attr]
            auds = [aud] if isinstance(aud, str) else aud
            assert isinstance(auds, list) and any(a in fc.AUDIENCES for a in auds), aud


# -- seeds ---------------------------------------------------------------------------
def seed_inputs() -> Dict[str, bytes]:
    """Named seed inputs: every real token through several modes, plus structured ones."""
    seeds: Dict[str, bytes] = {}
    tokens = fc.VALID_TOKENS + fc.INVALID_TOKENS
    for i, token in enumerate(tokens):
        valid = i < len(fc.VALID_TOKENS)
        name = f"valid-{i:02d}" if valid else f"invalid-{i - len(fc.VALID_TOKENS):02d}"
        seeds[f"{name}-utf8"] = bytes([0]) + token.encode("ascii")
        seeds[f"{name}-lenient"] = bytes([0x80 + 1]) + token.encode("ascii")
        seeds[f"{name}-mutated"] = fc.Encoder().byte(7).byte(i).byte(0).byte(0).byte(0).byte(0).byte(0).done()
    payload = fc.json_bytes(fc.claims(scope="admin", aud=["api"]))
    seeds["signed-payload"] = bytes([5, 0]) + payload
    seeds["signed-payload-rs512"] = bytes([5, 2]) + payload
    seeds["signed-header"] = fc.Encoder().byte(6).byte(0).blob(fc.json_bytes(fc.header(fc.KID_A))).raw(payload).done()
    seeds["raw-segments"] = (
        fc.Encoder().byte(4).blob(fc.json_bytes(fc.header())).blob(payload).blob(b"\x00" * 256).done()
    )
    seeds["not-a-str"] = bytes([9])
    seeds["surrogates"] = bytes([2]) + fc.VALID_TOKENS[0].encode("ascii") + b"\xed\xa0\x80"
    return seeds


#: The few seeds kept in git (tests/fuzz/seeds/validate); --make-corpus writes them all.
GIT_SEEDS = ("valid-00-utf8", "valid-02-lenient", "invalid-08-mutated", "signed-payload", "raw-segments", "not-a-str")


def write_corpus(directory: str, names: Any = None) -> int:
    os.makedirs(directory, exist_ok=True)
    count = 0
    for name, content in seed_inputs().items():
        if names is None or name in names:
            with open(os.path.join(directory, name), "wb") as handle:
                handle.write(content)
            count += 1
    return count


def main(argv: List[str]) -> None:
    if len(argv) == 3 and argv[1] == "--make-corpus":
        print(f"wrote {write_corpus(argv[2])} seed inputs to {argv[2]}")
        return
    if len(argv) == 3 and argv[1] == "--make-git-seeds":
        print(f"wrote {write_corpus(argv[2], GIT_SEEDS)} seed inputs to {argv[2]}")
        return
    import atheris  # only the fuzzing run needs it

    fc.make_run_directories(argv)
    atheris.Setup(argv, fuzz_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)

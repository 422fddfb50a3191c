"""A seeded generator of raw HTTP request targets, mutated the ways routers disagree about.

Each target starts from a route of :mod:`stacks` (or a neighbour of one) and gets one to
three mutations: percent-encoding of any byte in upper or lower case, double encoding,
encoded and raw slashes and backslashes, dot segments, ``;`` parameters, trailing dots,
slashes, spaces and newlines, case changes, valid, invalid and overlong UTF-8, fullwidth
characters, absolute-form targets, ``?`` and ``#`` placement (a trailing ``#fragment``),
and text before the leading ``/``. Targets are bytes, sent
as they are: no client normalises them.
"""

from __future__ import annotations

import random
from typing import Callable, List

BASES = [
    "/api",
    "/api/me",
    "/api/admin",
    "/api/items/7",
    "/healthz",
    "/public/x",
    "/public/api/me",
    "/café/menu",
    "/données/x",
    "/apix",
    "/healthz/../api/me",
    "/x/mnt/api/me",  # Litestar strips a root_path wherever it first occurs
    "/mnt/api/admin",
]

# Overlong and invalid UTF-8, and fullwidth look-alikes, as raw bytes.
ODD_BYTES = [b"\xc0\xaf", b"\xc0\xae", b"\xe0\x80\xaf", b"\xc1\xb8", b"\xff", b"\x80", b"\xc3", b"\xed\xa0\x80"]
ODD_ESCAPES = [b"%C0%AF", b"%c0%ae", b"%E0%80%AF", b"%C1%B8", b"%FF", b"%80", b"%C3", b"%c2%85", b"%E2%80%A8"]
TAILS = [
    b".",
    b"..",
    b"/",
    b"//",
    b" ",
    b"%20",
    b"%0A",
    b"%0a",
    b"%0D",
    b"%0D%0A",
    b"%00",
    b"%09",
    b"%0B",
    b"%0C",
    b"%1F",
    b"%7F",
    b"%C2%85",
    b"%C2%A0",
    b"\t",
    b"%2F",
    b"%5C",
    b"\\",
    b";",
    b";x=1",
    b"%3B",
    b"%2e",
    b"%2E%2E",
    b"%250A",
    b"%2500",
    b"?",
    b"#",
    b"%3F",
    b"%23",
    b"?x=%0A",
]
INSERTS = [
    b"/./",
    b"//",
    b"/x/../",
    b"/%2e/",
    b"/%2E%2E/",
    b"/.%2e/",
    b"\\",
    b"%5C",
    b"%5c",
    b"%2F",
    b"%2f",
    b";p",
    b";/",
    b"/;/",
]


def _escape(byte: int, upper: bool) -> bytes:
    return (f"%{byte:02X}" if upper else f"%{byte:02x}").encode("ascii")


def _positions(target: bytes) -> List[int]:
    return list(range(1, len(target) + 1))


def _encode_one(rng: random.Random, target: bytes) -> bytes:
    at = rng.randrange(1, len(target)) if len(target) > 1 else 1
    return target[:at] + _escape(target[at], rng.random() < 0.5) + target[at + 1 :] if at < len(target) else target


def _double_encode(rng: random.Random, target: bytes) -> bytes:
    at = rng.randrange(1, len(target)) if len(target) > 1 else 1
    if at >= len(target):
        return target
    return target[:at] + b"%25" + _escape(target[at], rng.random() < 0.5)[1:] + target[at + 1 :]


def _insert(rng: random.Random, target: bytes) -> bytes:
    slashes = [i for i, byte in enumerate(target) if byte == 0x2F] or [0]
    at = rng.choice(slashes)
    return target[:at] + rng.choice(INSERTS) + target[at + 1 :]


def _tail(rng: random.Random, target: bytes) -> bytes:
    return target + rng.choice(TAILS)


def _case(rng: random.Random, target: bytes) -> bytes:
    letters = [i for i, byte in enumerate(target) if 0x61 <= byte <= 0x7A]
    if not letters:
        return target
    chosen = set(rng.sample(letters, rng.randint(1, len(letters))))
    return bytes(byte - 32 if i in chosen else byte for i, byte in enumerate(target))


def _utf8(rng: random.Random, target: bytes) -> bytes:
    at = rng.randrange(1, len(target) + 1)
    odd = rng.choice(ODD_BYTES if rng.random() < 0.5 else ODD_ESCAPES)
    return target[:at] + odd + target[at:]


def _fullwidth(rng: random.Random, target: bytes) -> bytes:
    letters = [i for i, byte in enumerate(target) if 0x61 <= byte <= 0x7A]
    if not letters:
        return target
    at = rng.choice(letters)
    wide = chr(0xFF41 + target[at] - 0x61).encode("utf-8")
    if rng.random() < 0.5:
        wide = b"".join(_escape(byte, True) for byte in wide)
    return target[:at] + wide + target[at + 1 :]


def _query_fragment(rng: random.Random, target: bytes) -> bytes:
    at = rng.randrange(1, len(target) + 1)
    return target[:at] + rng.choice([b"?", b"#", b"?q=/api/admin", b"#/api", b"?/../api"]) + target[at:]


def _leading(rng: random.Random, target: bytes) -> bytes:
    # Before the first "/": h11-based servers and daphne pass " /api/me" on, Quart
    # re-parses it through urllib.parse (which strips leading spaces).
    return rng.choice([b"%20", b"%20%20", b" ", b"x", b"%20http://x", b"%2F"]) + target


def _fragment(rng: random.Random, target: bytes) -> bytes:
    # A raw "#": h11 leaves it in the path, Sanic routes on what precedes it.
    return target + rng.choice([b"#", b"#x", b"#/../public", b"#%0A", b"%23x"])


MUTATIONS: List[Callable[[random.Random, bytes], bytes]] = [
    _encode_one,
    _encode_one,
    _encode_one,
    _case,
    _double_encode,
    _insert,
    _insert,
    _tail,
    _tail,
    _case,
    _utf8,
    _fullwidth,
    _query_fragment,
    _leading,
    _fragment,
]


def generate(seed: int, count: int, port: int) -> List[bytes]:
    """``count`` distinct raw targets, the same for the same ``seed``."""
    rng = random.Random(seed)
    targets: List[bytes] = []
    seen = set()
    while len(targets) < count:
        target = rng.choice(BASES).encode("utf-8")
        # Mostly one mutation, so that many targets still reach a handler (and test the rule).
        for _ in range(rng.choices((1, 2, 3), weights=(6, 3, 1))[0]):
            target = rng.choice(MUTATIONS)(rng, target)
        if rng.random() < 0.04:  # absolute-form (RFC 9112 3.2.2)
            target = f"http://127.0.0.1:{port}".encode("ascii") + target
        if target not in seen:
            seen.add(target)
            targets.append(target)
    return targets

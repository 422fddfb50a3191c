"""Differential test: where real routers send raw, mutated request targets vs what the middleware decided.

Every stack of :mod:`stacks` runs under its real server on 127.0.0.1, behind the same
middleware options. Thousands of seeded targets (:mod:`targets`) are sent as raw bytes
over sockets, each without a token or with a valid token that lacks the ``admin`` and
``data`` scopes. Whatever a framework makes of a target, no protected handler may run
without a token, no scoped handler without its scope, and nothing may answer 5xx.
``WRISTBAND_MW_DIFFERENTIAL_TARGETS`` sets the number of targets per stack and
``WRISTBAND_MW_DIFFERENTIAL_SEED`` the seed (to explore beyond the fixed one).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

from wristband_mw.testing import LocalIssuer

from ..support import Server, serve, server_env
from .stacks import PROTECTED, STACKS
from .targets import generate

HERE = Path(__file__).resolve().parent
TARGETS = int(os.environ.get("WRISTBAND_MW_DIFFERENTIAL_TARGETS", "2500"))
SEED = int(os.environ.get("WRISTBAND_MW_DIFFERENTIAL_SEED", "20261206"))
CLIENTS = 6
REQUEST_TIMEOUT = 10.0


@dataclass
class Outcome:
    target: bytes
    token: bool
    status: Optional[int]  # None: the server closed the connection (or timed out) without answering
    # (werkzeug's dev server does, after running the app, for absolute-form targets such as
    # "http://127.0.0.1:1%5Cx": its request log cannot parse the port)
    handler: Optional[str]  # the handler that ran, if any
    routed: str  # the path it routed on, as it reported it
    head: bytes  # the start of the response, for the failure message

    def violation(self) -> Optional[str]:
        if self.status is not None and self.status >= 500:
            return f"answered {self.status}"
        if self.handler in PROTECTED:
            if not self.token:
                return f"protected handler {self.handler!r} ran without a token"
            if PROTECTED[self.handler]:
                return f"handler {self.handler!r} ran without its scopes {PROTECTED[self.handler]}"
        return None

    def describe(self) -> str:
        credential = "token without admin/data scopes" if self.token else "no token"
        routed = f"routed to {self.handler!r} on {self.routed}" if self.handler else "no handler ran"
        decided = "the middleware let it through" if self.handler else f"answer {self.status}: {self.head[:200]!r}"
        return f"{self.violation()}: target {self.target!r} with {credential}; {routed}; {decided}"


def send(port: int, target: bytes, token: Optional[str], probe: int = -1) -> Outcome:
    request = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    request += b"X-Probe: %d\r\n" % probe
    if token is not None:
        request += b"Authorization: Bearer " + token.encode("ascii") + b"\r\n"
    chunks: List[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT) as sock:
        sock.sendall(request + b"\r\n")
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        except socket.timeout:  # a stuck server is no bypass: reported as unanswered
            chunks.append(b"")
    response = b"".join(chunks)
    status: Optional[int] = None
    if response.startswith(b"HTTP/") and len(response) >= 12:
        status = int(response[9:12])
    handler, routed = None, ""
    at = response.find(b"ran:")
    if at >= 0:
        handler_bytes, _, routed_bytes = response[at + 4 :].partition(b":")
        handler, routed = handler_bytes.decode(), routed_bytes.decode("utf-8", "replace")
    return Outcome(target, token is not None, status, handler, routed, response)


@pytest.fixture(scope="module")
def token(issuer: LocalIssuer) -> str:
    return issuer.mint(sub="user-1", scope="openid")


@dataclass
class Stack:
    name: str
    server: Server
    record: Path  # where the handlers record each run: probe, handler, routed path


@pytest.fixture(scope="module", params=sorted(STACKS))
def stack(
    request: pytest.FixtureRequest, issuer: LocalIssuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    record = tmp_path_factory.mktemp("differential") / "record.tsv"
    record.touch()
    pythonpath = os.pathsep.join(filter(None, [str(HERE), *sys.path]))
    env = server_env(issuer, {"PYTHONPATH": pythonpath, "DIFFERENTIAL_RECORD": str(record)})

    def command(port: int) -> List[str]:
        return ["stacks", request.param, str(port)]

    with serve(command, env, cwd=HERE) as server:
        yield Stack(request.param, server, record)


def test_no_protected_handler_runs_without_token_and_scope(stack: Stack, token: str) -> None:
    name, port = stack.name, stack.server.port
    targets = generate(SEED, TARGETS, port)
    # The known bypasses first: each must be refused, whatever the seed draws.
    known = [b"/api%0A", b"/api/admin%0A", b"/%61pi%0A", b"/ap%69%2fadmin%0A", b"/caf%C3%A9/menu"]
    known += [b"/donn%C3%A9es/x", b"/donn\xc3\xa9es/\xc1\xb8", b"/donn%C3%A9es/%C1%B8", b"/x/mnt/api/me"]
    targets = known + [target for target in targets if target not in known]
    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        outcomes = list(pool.map(lambda i: send(port, targets[i], token if i % 2 else None, i), range(len(targets))))
    elapsed = time.monotonic() - started
    # The handlers' own record also covers responses the server never delivered.
    for line in stack.record.read_text("utf-8").splitlines():
        probe, handler, routed = line.split("\t", 2)
        outcome = outcomes[int(probe)]
        if outcome.handler is None:
            outcome.handler, outcome.routed = handler, routed
    ran = sum(outcome.handler is not None for outcome in outcomes)
    unanswered = sum(outcome.status is None for outcome in outcomes)
    statuses = Counter(outcome.status for outcome in outcomes)
    print(f"\n{name}: {len(targets)} targets in {elapsed:.1f} s; a handler ran for {ran}, {unanswered} unanswered")
    print(f"{name}: statuses {dict(statuses.most_common())}")
    failures = [outcome.describe() for outcome in outcomes if outcome.violation()]
    assert not failures, f"{name}: {len(failures)} of {len(targets)} targets:\n" + "\n".join(failures[:25])
    assert ran > len(targets) // 50, f"{name}: handlers ran for only {ran} targets: is the stack routing at all?"

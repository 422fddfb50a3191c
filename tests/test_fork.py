"""Fork safety: a validator warmed before ``fork()`` works in every child.

Preforking servers (gunicorn ``--preload``, uWSGI without ``lazy-apps``) import the
application, and with it a prefetched validator, in a master process and fork the
workers from it. Each child must keep the cached keys, their age, the verified-token
cache and the counters, but fetch on a connection of its own and never wait on a
fetch (or a lock) of the parent's. The children here are real ``os.fork()`` children
reporting through a pipe; the JWKS server is LocalIssuer's keep-alive HTTP/1.1 server,
which counts the TCP connections it accepts.
"""

from __future__ import annotations

import json
import os
import select
import signal
import threading
import time
import warnings
from typing import Any, Callable, Dict, List, Tuple

import pytest

from wristband_mw import WristbandJwtValidator
from wristband_mw.testing import LocalIssuer

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

TIMEOUT = 2.0  # jwks_fetch_timeout, real seconds
SLACK = 1.5  # scheduling on a busy 2-core machine
CHILD_LIMIT = 20.0  # a child that has not answered by then is killed and counted as failed
CHILDREN = 4


def in_children(count: int, child: Callable[[int], Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Run ``child(i)`` in ``count`` forked children at once; their JSON answers, in order."""
    started: List[Tuple[int, int]] = []
    for index in range(count):
        read_end, write_end = os.pipe()
        with warnings.catch_warnings():
            # Python 3.12+ warns that forking a threaded process may deadlock the child:
            # what preforking servers do, and exactly what the validator must survive.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: answer through the pipe, never return into pytest
            try:
                os.close(read_end)
                answer = child(index)
            except BaseException as exc:
                answer = {"crash": f"{type(exc).__name__}: {exc}"}
            try:
                os.write(write_end, json.dumps(answer).encode())
            finally:
                os._exit(0)
        os.close(write_end)
        started.append((pid, read_end))
    deadline = time.monotonic() + CHILD_LIMIT
    answers = []
    for pid, read_end in started:
        data = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                break
            if not select.select([read_end], [], [], left)[0]:
                continue
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            data += chunk
        os.close(read_end)
        os.waitpid(pid, 0)
        answers.append(json.loads(data) if data else {"crash": "no answer within the limit (killed)"})
    return answers


def fetches(validator: WristbandJwtValidator) -> int:
    stats = validator.stats()
    return int(stats["jwks_fetches_ok"]) + int(stats["jwks_fetches_failed"])


def test_children_keep_warm_keys_and_fetch_on_their_own_connections(make_issuer: Callable[..., Any]) -> None:
    issuer: LocalIssuer = make_issuer()
    validator = issuer.validator(jwks_fetch_timeout=TIMEOUT)
    validator.prefetch()  # the master warms up, keeping a pooled keep-alive connection
    known = issuer.mint()
    assert validator.validate(known).is_valid
    assert (issuer.fetch_count, issuer.connection_count) == (1, 1)
    old_tokens = [issuer.mint() for _ in range(CHILDREN)]  # fresh: only the key can verify them
    new_kid = issuer.rotate(keep_previous=True)  # every child must fetch for this one
    new_tokens = [issuer.mint(kid=new_kid) for _ in range(CHILDREN)]

    def child(index: int) -> Dict[str, Any]:
        inherited = validator.stats()
        old = validator.validate(old_tokens[index])
        fetched_for_old = fetches(validator) - 1
        started = time.monotonic()
        new = validator.validate(new_tokens[index])
        return {
            "known": validator.validate(known).is_valid,
            "old": [old.is_valid, old.error_message],
            "fetched_for_old": fetched_for_old,
            "new": [new.is_valid, new.error_message],
            "new_seconds": time.monotonic() - started,
            "inherited_fetches_ok": inherited["jwks_fetches_ok"],
            "inherited_verified": inherited["verified_tokens_cached"],
        }

    answers = in_children(CHILDREN, child)
    for answer in answers:
        assert "crash" not in answer, answers
        assert answer["known"] and answer["old"][0], answer  # inherited keys verify...
        assert answer["fetched_for_old"] == 0, answer  # ...with no fetch
        assert answer["inherited_fetches_ok"] == 1 and answer["inherited_verified"] >= 1, answer
        assert answer["new"][0], answer
        assert answer["new_seconds"] < TIMEOUT + SLACK, answer
    # One fetch per child, each on a connection of its own (never the master's pooled one).
    assert issuer.fetch_count == 1 + CHILDREN
    assert issuer.connection_count == 1 + CHILDREN
    # The master's pool is untouched by the children: it still fetches correctly.
    assert validator.validate(issuer.mint(kid=new_kid)).is_valid
    validator.close()


@pytest.mark.parametrize("parent_fetch", ["cold start", "unknown kid"])
def test_a_child_forked_during_a_stalled_fetch_fetches_on_its_own(
    make_issuer: Callable[..., Any], parent_fetch: str
) -> None:
    issuer: LocalIssuer = make_issuer()
    validator = issuer.validator(jwks_fetch_timeout=TIMEOUT)
    if parent_fetch == "unknown kid":
        validator.prefetch()
    new_kid = issuer.rotate(keep_previous=True)
    tokens = [issuer.mint(kid=new_kid) for _ in range(2)]
    before = issuer.fetch_count
    issuer.stall_seconds = TIMEOUT * 3  # the parent's fetch hangs past its deadline...
    stalled = threading.Thread(target=validator.validate, args=(issuer.mint(kid=new_kid),), daemon=True)
    stalled.start()
    deadline = time.monotonic() + 5
    while issuer.fetch_count == before:
        assert time.monotonic() < deadline, "the parent's fetch never reached the server"
        time.sleep(0.005)
    issuer.stall_seconds = 0.0  # ...while later requests are answered at once

    def child(index: int) -> Dict[str, Any]:
        started = time.monotonic()
        result = validator.validate(tokens[index])
        return {"valid": result.is_valid, "message": result.error_message, "seconds": time.monotonic() - started}

    answers = in_children(2, child)
    for answer in answers:
        assert "crash" not in answer, answers
        assert answer["valid"], answer
        assert answer["seconds"] < TIMEOUT + SLACK, answer
    stalled.join(TIMEOUT + 5)
    assert not stalled.is_alive()
    validator.close()


def test_validate_async_works_in_a_child_after_the_parent_used_it(make_issuer: Callable[..., Any]) -> None:
    import asyncio

    issuer: LocalIssuer = make_issuer()
    validator = issuer.validator(jwks_fetch_timeout=TIMEOUT)
    assert asyncio.run(validator.validate_async(issuer.mint())).is_valid  # starts the offload pool
    new_kid = issuer.rotate(keep_previous=True)
    token = issuer.mint(kid=new_kid)

    def child(index: int) -> Dict[str, Any]:
        async def run() -> Any:
            return await asyncio.wait_for(validator.validate_async(token), TIMEOUT + SLACK)

        result = asyncio.run(run())
        return {"valid": result.is_valid, "message": result.error_message}

    answers = in_children(2, child)
    assert answers == [{"valid": True, "message": None}] * 2, answers
    validator.close()


def test_a_childs_pool_is_new_but_configured_like_the_parents() -> None:
    import urllib3

    from wristband_mw.jwks import JwksClient

    url = "https://auth.example.com/jwks"
    for pool in (
        urllib3.PoolManager(ca_certs=__file__, cert_reqs="CERT_REQUIRED"),
        urllib3.ProxyManager("http://127.0.0.1:3128", ca_certs=__file__, proxy_headers={"X-Proxy": "1"}),
    ):
        client = JwksClient(url, ["RS256"], 1.0, pool=pool)
        inherited = client.fetcher.pool
        client.after_fork_in_child()
        fresh = client.fetcher.pool
        assert fresh is not inherited and type(fresh) is type(inherited)
        assert len(fresh.pools) == 0
        assert fresh.connection_pool_kw == inherited.connection_pool_kw  # same trust store, same proxy
        assert fresh.pool_classes_by_scheme == inherited.pool_classes_by_scheme  # the deadline still applies
        if isinstance(inherited, urllib3.ProxyManager):
            assert isinstance(fresh, urllib3.ProxyManager)
            assert fresh.proxy == inherited.proxy and fresh.proxy_headers == {"X-Proxy": "1"}

"""A validator warmed before fork, under real preforking servers.

gunicorn ``--preload`` (sync and gthread workers) and uWSGI in its default mode
(without ``lazy-apps``) import preload_app.py, which calls ``prefetch()``, in the
master and fork the workers from it. Under a few seconds of load from several
clients, with the issuer's key rotated mid-run so that every worker must fetch on its
own: no 5xx at all, and every worker answers (``X-Worker-Pid``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator, List, Tuple

import pytest

from wristband_mw.testing import LocalIssuer

from ..support import Server, assert_clean_log, free_port, request, server_env, stop_server, wait_ready

HERE = Path(__file__).resolve().parent
WORKERS = 3
CLIENTS = 6
LOAD_SECONDS = 3.0
START_TIMEOUT = 30.0


def gunicorn_preload(worker: str) -> Callable[[int], List[str]]:
    def command(port: int) -> List[str]:
        argv = [sys.executable, "-m", "gunicorn", "--preload", "--bind", f"127.0.0.1:{port}"]
        argv += ["--workers", str(WORKERS), "--worker-class", worker]
        if worker == "gthread":
            argv += ["--threads", "4"]
        return [*argv, "--graceful-timeout", "2", "--timeout", "30", "preload_app:application"]

    return command


def uwsgi_default(port: int) -> List[str]:
    binary = shutil.which("uwsgi", path=str(Path(sys.executable).parent)) or shutil.which("uwsgi")
    assert binary, "uwsgi is not installed (tox -e integration-wsgi installs it)"
    return [
        binary,
        "--http-socket",
        f"127.0.0.1:{port}",
        "--master",
        "--processes",
        str(WORKERS),
        "--enable-threads",  # the validator's refresh and fetch deadline use threads
        "--home",
        sys.prefix,
        "--pythonpath",
        str(HERE),
        "--module",
        "preload_app:application",
        "--need-app",
        "--die-on-term",
        "--disable-logging",
        "--hook-master-start",
        "unix_signal:15 gracefully_kill_them_all",
    ]


SERVERS = {
    "gunicorn-preload-sync": gunicorn_preload("sync"),
    "gunicorn-preload-gthread": gunicorn_preload("gthread"),
    "uwsgi-no-lazy-apps": uwsgi_default,
}


@contextlib.contextmanager
def serve_preforked(command: Callable[[int], List[str]], issuer: LocalIssuer) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="wristband-preload-") as tmp:
        log_path = Path(tmp, "server.log")
        port = free_port()
        argv = command(port)
        env = server_env(issuer, {"PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])})
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                argv,
                cwd=HERE,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            if not wait_ready(port, process, "/healthz", 200, time.monotonic() + START_TIMEOUT):
                output = log_path.read_text("utf-8", "replace")
                raise AssertionError(f"{' '.join(argv)} did not become ready:\n{output}")
            yield Server(port, process, log_path, argv)
        finally:
            stop_server(process)


def load(port: int, tokens: Callable[[], str], seconds: float) -> List[Tuple[int, str, bytes]]:
    """``CLIENTS`` threads sending requests for ``seconds``; (status, worker pid, body) of each."""
    results: List[Tuple[int, str, bytes]] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < stop_at:
            response = request(port, "/api/me", token=tokens())
            with lock:
                results.append((response.status, response.header("X-Worker-Pid") or "", response.body))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 20)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_a_validator_warmed_before_fork_serves_every_worker(name: str) -> None:
    with LocalIssuer() as issuer, serve_preforked(SERVERS[name], issuer) as server:
        # The master fetched once at import; the workers verify with the inherited keys.
        assert issuer.fetch_count == 1
        first = load(server.port, issuer.mint, 1.0)
        assert issuer.fetch_count == 1, "a worker fetched although it inherited the keys"

        # Rotate mid-run: every worker meets the new kid and fetches on its own.
        current = {"kid": issuer.kid}

        def token() -> str:
            return issuer.mint(kid=current["kid"])

        rotated = threading.Timer(LOAD_SECONDS / 3, lambda: current.update(kid=issuer.rotate(keep_previous=True)))
        rotated.start()
        results = first + load(server.port, token, LOAD_SECONDS)
        rotated.join()

        statuses = Counter(status for status, _, _ in results)
        assert statuses == {200: len(results)}, (statuses, [body for status, _, body in results if status != 200][:3])
        pids = {pid for _, pid, _ in results}
        # A worker that lost every accept race under this short load gets more requests
        # (bounded): uWSGI's workers share one listening socket, and accepts are not fair.
        deadline = time.monotonic() + 10
        while len(pids) < WORKERS and time.monotonic() < deadline:
            extra = load(server.port, token, 0.5)
            assert all(status == 200 for status, _, _ in extra), extra[:3]
            pids |= {pid for _, pid, _ in extra}
        master = str(server.process.pid)
        assert len(pids) == WORKERS and master not in pids, (pids, master)
        # One fetch per worker for the new kid at most (each on its own connection).
        assert 1 + 1 <= issuer.fetch_count <= 1 + WORKERS, issuer.fetch_count
        assert_clean_log(server)

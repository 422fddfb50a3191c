"""The ``wristband-mw`` command line, run as a subprocess the way a user runs it."""

import http.client
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from support.net import free_port

from wristband_mw import decode_unverified
from wristband_mw.testing import LocalIssuer

CLI = [sys.executable, "-m", "wristband_mw"]


@pytest.fixture
def cli_env(tmp_path):
    env = dict(os.environ)
    env["WRISTBAND_MW_KEY_FILE"] = str(tmp_path / "key.pem")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def default_sigint():
    """In the child: SIGINT raises KeyboardInterrupt, even under a parent that ignores it.

    A process inherits an ignored SIGINT and Python then keeps it ignored, so a suite run
    from such a parent (nohup, some CI runners) could never stop the servers it starts.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)


def popen(args, env, **kwargs):
    return subprocess.Popen(CLI + args, env=env, preexec_fn=default_sigint, **kwargs)


def run(args, env, stdin=None, timeout=30):
    return subprocess.run(
        CLI + args,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        preexec_fn=default_sigint,
    )


def read_until(process, pattern, timeout=20.0):
    """Lines of ``process.stdout`` up to the first matching ``pattern``."""
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if re.search(pattern, line):
            return lines
    raise AssertionError(f"{pattern!r} never printed; got {''.join(lines)!r}")


def http_get(url, token=None):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def stop(process):
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()


# -- check ----------------------------------------------------------------------------------


def check_args(issuer):
    return ["check", "--jwks-url", issuer.jwks_url, "--issuer", issuer.issuer]


def test_check_valid_token_exits_0_and_names_the_key(issuer, cli_env):
    done = run([*check_args(issuer), issuer.mint(sub="alice")], cli_env)
    assert done.returncode == 0, done.stderr
    assert "Result:   VALID" in done.stdout
    assert issuer.kid in done.stdout and "published in the JWKS" in done.stdout
    assert re.search(r"Expires: +\d{4}-\d\d-\d\d .* \(in 29 minutes\)", done.stdout)
    assert '"sub": "alice"' in done.stdout


def test_check_expired_token_says_how_long_ago(issuer, cli_env):
    done = run([*check_args(issuer), issuer.mint(exp_in=-300)], cli_env)
    assert done.returncode == 1
    assert "INVALID (expired)" in done.stdout
    assert re.search(r"Expired 5 minutes ago \(at \d{4}-", done.stdout)


def test_check_wrong_issuer_shows_expected_and_got(issuer, cli_env):
    token = issuer.mint(iss="https://someone-else.example")
    done = run([*check_args(issuer), token], cli_env)
    assert done.returncode == 1
    assert f"Invalid issuer. Expected {issuer.issuer}, got https://someone-else.example" in done.stdout


def test_check_unknown_kid_lists_the_jwks_kids(issuer, cli_env):
    token = issuer.mint(headers={"kid": "not-published"})
    done = run([*check_args(issuer), token], cli_env)
    assert done.returncode == 1
    assert "INVALID (unknown_key)" in done.stdout
    assert f"kid 'not-published' is not among the JWKS kids: {issuer.kid}" in done.stdout


def test_check_reads_stdin_and_header_and_prints_json(issuer, cli_env):
    token = issuer.mint(sub="bob", scope="openid admin")
    from_stdin = run([*check_args(issuer), "--json"], cli_env, stdin=token + "\n")
    assert from_stdin.returncode == 0, from_stdin.stderr
    result = json.loads(from_stdin.stdout)
    assert result["valid"] is True and result["error"] is None
    assert result["claims"]["sub"] == "bob" and result["kid"] == issuer.kid and result["kid_in_jwks"] is True
    assert result["exp"]["seconds_from_now"] > 1700

    from_header = run([*check_args(issuer), "--json", "--header", f"Bearer {token}"], cli_env)
    assert json.loads(from_header.stdout)["valid"] is True

    bad_header = run([*check_args(issuer), "--json", "--header", "Basic abc"], cli_env)
    assert bad_header.returncode == 1
    assert json.loads(bad_header.stdout)["error_message"] == 'Authorization header must provide "Bearer" token'


def test_check_never_trusts_the_token_header(issuer, cli_env):
    with LocalIssuer() as attacker:
        forged = attacker.mint(iss=issuer.issuer, headers={"kid": issuer.kid, "jku": attacker.jwks_url})
        done = run([*check_args(issuer), forged], cli_env)
        assert done.returncode == 1 and "INVALID (invalid_signature)" in done.stdout
        assert attacker.fetch_count == 0


def test_check_network_error_exits_2(cli_env):
    port = free_port()  # nothing listens there
    token = (
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsiLCJ0eXAiOiJhdCtKV1QifQ.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xIiwiZXhwIjo5OTk5OTk5OTk5fQ."
        + "A" * 342
    )
    done = run(
        [
            "check",
            "--jwks-url",
            f"http://127.0.0.1:{port}/jwks",
            "--issuer",
            "http://127.0.0.1",
            "--timeout",
            "2",
            token,
        ],
        cli_env,
    )
    assert done.returncode == 2
    assert "INVALID (keys_unavailable)" in done.stdout and "Check the JWKS URL" in done.stdout


def test_check_usage_errors_exit_2(cli_env):
    missing_issuer = run(["check", "abc"], cli_env)
    assert missing_issuer.returncode == 2 and "--domain" in missing_issuer.stderr
    bad_domain = run(["check", "abc", "--domain", "https://auth.example.com/"], cli_env)
    assert bad_domain.returncode == 2 and "wristband_application_vanity_domain" in bad_domain.stderr
    no_command = run([], cli_env)
    assert no_command.returncode == 2


def test_check_takes_the_issuers_algorithm(make_issuer, cli_env):
    es256 = make_issuer(algorithm="ES256")
    args = ["check", "--issuer", es256.issuer, "--jwks-url", es256.jwks_url, es256.mint()]
    refused = run(args, cli_env)
    assert refused.returncode == 1 and "disallowed_algorithm" in refused.stdout
    assert "--algorithm ES256" in refused.stdout  # the fix names the option
    allowed = run([*args[:-1], "--algorithm", "ES256", args[-1]], cli_env)
    assert allowed.returncode == 0 and "Result:   VALID" in allowed.stdout, allowed.stdout + allowed.stderr
    unknown = run([*args[:-1], "--algorithm", "HS256", args[-1]], cli_env)
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr


def test_check_with_only_issuer_discovers_and_shows_what_it_found(local_issuer, cli_env):
    done = run(["check", "--issuer", local_issuer.issuer, local_issuer.mint(sub="carol")], cli_env)
    assert done.returncode == 0, done.stderr
    assert "Result:   VALID" in done.stdout
    assert f"Discovery: {local_issuer.discovery_url} -> jwks_uri {local_issuer.jwks_url}" in done.stdout
    assert local_issuer.discovery_count == 1 and local_issuer.fetch_count == 1
    as_json = json.loads(run(["check", "--issuer", local_issuer.issuer, "--json", local_issuer.mint()], cli_env).stdout)
    assert as_json["discovery"]["found_at"] == local_issuer.discovery_url
    assert as_json["jwks_url"] == local_issuer.jwks_url and as_json["kid_in_jwks"] is True


def test_check_discovery_failure_says_why(local_issuer, cli_env):
    local_issuer.discovery_override = (
        200,
        json.dumps({"issuer": local_issuer.issuer + "/", "jwks_uri": local_issuer.jwks_url}).encode(),
    )
    done = run(["check", "--issuer", local_issuer.issuer, local_issuer.mint()], cli_env)
    assert done.returncode == 2, done.stdout
    assert "INVALID (keys_unavailable)" in done.stdout
    assert f"not the configured issuer {local_issuer.issuer}" in done.stdout
    assert local_issuer.fetch_count == 0


def test_check_several_issuers_routes_by_iss(local_issuer, cli_env):
    with LocalIssuer() as other:
        args = ["check", "--issuer", local_issuer.issuer, "--issuer", other.issuer, "--json"]
        found = json.loads(run([*args, other.mint()], cli_env).stdout)
        assert found["valid"] is True and found["issuer"] == other.issuer
        assert found["issuers"] == [local_issuer.issuer, other.issuer]
        unknown = run([*args[:-1], local_issuer.mint(iss="https://elsewhere.example")], cli_env)
        assert unknown.returncode == 1 and "INVALID (invalid_issuer)" in unknown.stdout
        assert f"expected one of {local_issuer.issuer}, {other.issuer}" in unknown.stdout
        assert other.fetch_count == 1 and local_issuer.fetch_count == 0  # only the routed issuer's keys


# -- token and jwks ----------------------------------------------------------------------------


def test_token_mints_the_requested_claims(cli_env):
    done = run(
        [
            "token",
            "--sub",
            "svc-1",
            "--scope",
            "orders:read admin",
            "--aud",
            "orders",
            "--exp-in",
            "120",
            "--claim",
            "tier=gold",
            "--claim",
            'roles=["a","b"]',
            "--port",
            "18999",
        ],
        cli_env,
    )
    assert done.returncode == 0, done.stderr
    header, claims = decode_unverified(done.stdout.strip())
    assert header["typ"] == "at+JWT" and header["alg"] == "RS256"
    assert claims["sub"] == "svc-1" and claims["scope"] == "orders:read admin" and claims["aud"] == "orders"
    assert claims["tier"] == "gold" and claims["roles"] == ["a", "b"]
    assert claims["iss"] == "http://127.0.0.1:18999"
    assert 100 <= claims["exp"] - time.time() <= 121


def test_token_rejects_a_malformed_claim(cli_env):
    done = run(["token", "--claim", "no-equals-sign"], cli_env)
    assert done.returncode == 2 and "NAME=VALUE" in done.stderr


def test_jwks_serves_the_key_that_token_signs_with(cli_env):
    server = popen(["jwks", "--port", "0"], cli_env, stdout=subprocess.PIPE, text=True)
    try:
        banner = "".join(read_until(server, r"Press Ctrl-C"))
        port = int(re.search(r"at http://127\.0\.0\.1:(\d+)/api/v1/oauth2/jwks", banner).group(1))
        assert f'issuer="http://127.0.0.1:{port}"' in banner
        token = run(["token", "--port", str(port), "--sub", "dev"], cli_env).stdout.strip()
        status, _, body = http_get(f"http://127.0.0.1:{port}/api/v1/oauth2/jwks")
        assert status == 200 and len(json.loads(body)["keys"]) == 1
        checked = run(
            [
                "check",
                "--json",
                "--jwks-url",
                f"http://127.0.0.1:{port}/api/v1/oauth2/jwks",
                "--issuer",
                f"http://127.0.0.1:{port}",
                token,
            ],
            cli_env,
        )
        assert json.loads(checked.stdout)["valid"] is True, checked.stdout
    finally:
        assert stop(server) == 0


# -- demo ---------------------------------------------------------------------------------------


def demo_commands(lines):
    """The printed curl commands, as (url, token or None)."""
    commands = []
    for line in lines:
        match = re.match(r"\s*curl -i (\S+)(?: -H 'Authorization: Bearer (\S+)')?$", line)
        if match:
            commands.append(match.groups())
    return commands


def assert_demo_answers(lines):
    commands = demo_commands(lines)
    assert len(commands) == 5, lines
    (me, valid), (_, expired), (admin, user), (_, admin_token), (_, none) = commands
    status, _, body = http_get(me, valid)
    assert status == 200 and json.loads(body)["claims"]["sub"] == "demo-user"
    status, headers, body = http_get(me, expired)
    assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]
    assert expired not in body.decode()
    status, headers, _ = http_get(admin, user)
    assert status == 403 and 'error="insufficient_scope"' in headers["WWW-Authenticate"]
    assert http_get(admin, admin_token)[0] == 200
    status, headers, _ = http_get(me, none)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer realm=")


def test_demo_serves_the_printed_commands_and_stops_on_ctrl_c(cli_env):
    # Port 0: the demo binds any free port and prints it (no race for a "free" port).
    demo = popen(["demo", "--port", "0"], cli_env, stdout=subprocess.PIPE, text=True)
    try:
        lines = read_until(demo, r"Press Ctrl-C")
        assert re.search(r"WSGI \(wsgiref\) on http://127\.0\.0\.1:[1-9][0-9]*$", lines[0].strip()), lines[0]
        assert_demo_answers(lines)
    finally:
        assert stop(demo) == 0


@pytest.mark.skipif(importlib.util.find_spec("uvicorn") is None, reason="covered by the test below")
def test_demo_asgi_under_uvicorn(cli_env):
    demo = popen(["demo", "--asgi", "--port", "0"], cli_env, stdout=subprocess.PIPE, text=True)
    try:
        lines = read_until(demo, r"Press Ctrl-C")
        assert re.search(r"ASGI \(uvicorn\) on http://127\.0\.0\.1:[1-9][0-9]*$", lines[0].strip()), lines[0]
        assert_demo_answers(lines)  # at once: the banner comes only once the port listens
    finally:
        assert stop(demo) == 0


@pytest.mark.skipif(importlib.util.find_spec("uvicorn") is not None, reason="covered by the test above")
def test_demo_asgi_without_uvicorn_says_what_to_install(cli_env):
    done = run(["demo", "--asgi"], cli_env)
    assert done.returncode == 2
    assert "python -m pip install 'wristband-mw[demo]'" in done.stderr


# -- no tracebacks: usage errors, busy ports, closed pipes, Ctrl-C under traffic -----------------


def assert_usage_error(done, message):
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert message in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--port", "99999"], "port must be 0 to 65535, got 99999"),
        (["demo", "--port", "http"], "not a port number: 'http'"),
        (["token", "--port", "99999"], "port must be 0 to 65535, got 99999"),
        (["jwks", "--port", "-1"], "port must be 0 to 65535, got -1"),
        (["token", "--exp-in", "nan"], "must be a finite number"),
        (["check", "abc", "--domain", "auth.example.com", "--leeway", "inf"], "must be a finite number"),
    ],
)
def test_bad_arguments_are_usage_errors(args, message, cli_env):
    assert_usage_error(run(args, cli_env), message)


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
def test_demo_on_a_busy_port_fails_before_saying_ready(asgi, cli_env):
    if asgi and importlib.util.find_spec("uvicorn") is None:
        pytest.skip("needs uvicorn")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run(["demo", *(["--asgi"] if asgi else []), "--port", str(port)], cli_env)
    assert_usage_error(done, f"cannot listen on 127.0.0.1:{port}")


def run_into_closed_pipe(args, env):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written: EPIPE on the first print
    try:
        return subprocess.run(
            CLI + args,
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=30,
            preexec_fn=default_sigint,
        )
    finally:
        os.close(write_end)


def test_check_into_a_closed_pipe_exits_with_the_verdict(issuer, cli_env):
    """`wristband-mw check ... | head -3`: the reader may go early; the exit status stays the verdict."""
    for token, verdict in ((issuer.mint(), 0), (issuer.mint(exp_in=-60), 1)):
        done = run_into_closed_pipe([*check_args(issuer), token], cli_env)
        assert done.returncode == verdict and done.stderr == "", done.stderr
    for args, status in ((["--help"], 0), (["token"], 0), (["token", "--bogus"], 2)):
        done = run_into_closed_pipe(args, cli_env)
        assert done.returncode == status and "Traceback" not in done.stderr, (args, done.stderr)


def test_check_piped_into_head_prints_no_traceback(issuer, cli_env):
    """The real pipeline, through the shell: bash's PIPESTATUS holds the CLI's own exit status."""
    command = " ".join([*(f"'{part}'" for part in [*CLI, *check_args(issuer), issuer.mint()]), "| head -1"])
    done = subprocess.run(
        ["bash", "-c", command + '; exit "${PIPESTATUS[0]}"'],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        preexec_fn=default_sigint,
    )
    assert done.returncode == 0 and done.stdout == "Result:   VALID\n" and done.stderr == "", done.stderr


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
def test_demo_stops_on_the_first_ctrl_c_under_traffic(asgi, cli_env):
    if asgi and importlib.util.find_spec("uvicorn") is None:
        pytest.skip("needs uvicorn")
    demo = popen(["demo", *(["--asgi"] if asgi else []), "--port", "0"], cli_env, stdout=subprocess.PIPE, text=True)
    served, stopping = [], threading.Event()

    def traffic(url, token):
        while not stopping.is_set():
            try:
                served.append(http_get(url, token)[0])
            except (OSError, http.client.HTTPException):  # the server went away mid-request, as it stops
                return

    try:
        lines = read_until(demo, r"Press Ctrl-C")
        url, token = demo_commands(lines)[0]
        clients = [threading.Thread(target=traffic, args=(url, token), daemon=True) for _ in range(4)]
        for client in clients:
            client.start()
        deadline = time.monotonic() + 20
        while len(served) < 20:  # requests are being written when Ctrl-C comes
            assert time.monotonic() < deadline, f"only {len(served)} answers"
            time.sleep(0.01)
        demo.send_signal(signal.SIGINT)  # once
        assert demo.wait(timeout=15) == 0
        assert set(served) == {200}
    finally:
        stopping.set()
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        demo.stdout.close()

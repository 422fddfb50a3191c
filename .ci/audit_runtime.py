"""pip-audit of the runtime dependency set only (tox -e security).

Installs ``install_requires`` from setup.cfg into a private directory (so the audit
tools' own dependencies are not audited) and runs pip-audit on it with ``--strict``:
a package that cannot be audited fails the run instead of passing silently.

Some networks (this project's CI sandbox among them) serve PyPI's project JSON but not
its per-version JSON, which pip-audit asks for. There, and only for a package whose
installed version IS the latest release, the project JSON carries exactly the
vulnerabilities pip-audit wants, so the request is answered from it. An older installed
version is left unanswered, and ``--strict`` then fails the audit.

Usage: python .ci/audit_runtime.py TARGET_DIR [pip-audit options...]
"""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from typing import Any

import requests

PER_VERSION = re.compile(r"https://pypi\.org/pypi/([^/]+)/([^/]+)/json")


def runtime_requirements() -> list[str]:
    config = configparser.ConfigParser()
    config.read("setup.cfg")
    return [line.strip() for line in config["options"]["install_requires"].splitlines() if line.strip()]


def install(target: str) -> None:
    requirements = runtime_requirements()
    print("runtime requirements:", requirements)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--upgrade", "--target", target]
    subprocess.check_call([*pip, *requirements])  # noqa: S603 (our own setup.cfg)


def answer_from_project_json() -> None:
    original = requests.Session.request

    def request(self: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        response = original(self, method, url, *args, **kwargs)
        match = PER_VERSION.fullmatch(url)
        if response.status_code != 404 or match is None:
            return response
        name, version = match.groups()
        project = original(self, "GET", f"https://pypi.org/pypi/{name}/json", *args, **kwargs)
        if project.status_code == 200 and project.json()["info"]["version"] == version:
            print(f"audit: {name} {version} (latest) checked through the project JSON", file=sys.stderr)
            return project
        return response

    requests.Session.request = request  # type: ignore[method-assign]


def main() -> None:
    target, options = sys.argv[1], sys.argv[2:]
    install(target)
    answer_from_project_json()
    from pip_audit._cli import audit  # imported after the patch: it shares requests

    sys.argv = ["pip-audit", "--strict", "--path", target, *options]
    audit()


if __name__ == "__main__":
    main()

"""The README's framework recipes are the examples/ files, verbatim.

The "Recipes" section of README.rst (between the ``recipes-start`` and ``recipes-end``
comments) is generated from ``examples/*.py``; regenerate it with::

    python tests/test_readme.py

and these tests fail whenever a recipe and its example drift apart, or an example is
added without a recipe or without an integration test that runs it. The integration
tests (tox -e integration-wsgi, integration-asgi) run every example under a real server.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import List, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
README = REPO / "README.rst"
START, END = ".. recipes-start\n\n", "\n.. recipes-end\n"

# (file in examples/, section title, one line saying what it shows), in README order.
RECIPES: List[Tuple[str, str, str]] = [
    ("flask_app.py", "Flask", "``request.remote_user`` is the token's ``sub``; ``get_claims(request)`` has the rest."),
    ("django_app.py", "Django", "Django's ``RemoteUserMiddleware`` makes ``request.user`` the token's ``sub``."),
    ("fastapi_app.py", "FastAPI", "``request.user``, ``request.auth``, Starlette's ``@requires`` and a WebSocket."),
    ("starlette_app.py", "Starlette", "The middleware in Starlette's middleware list; ``@requires`` on the routes."),
    ("falcon_wsgi_app.py", "Falcon (WSGI)", "Wrap the ``falcon.App``; resources call ``get_claims(req)``."),
    ("falcon_asgi_app.py", "Falcon (ASGI)", "Wrap the ``falcon.asgi.App``; resources call ``get_claims(req)``."),
    ("wsgi_app.py", "Any WSGI application", "No framework: the claims are in the environ."),
    ("asgi_app.py", "Any ASGI application", "No framework: the claims are in the scope; keys prefetched at startup."),
]

HEADER = """\
.. Generated from examples/*.py by ``python tests/test_readme.py``: edit the examples, not this.

Recipes
-------

Each recipe is a complete file from ``examples/``, and the integration tests run every one
of them under a real server (``tox -e integration-wsgi,integration-asgi``). They read the
validator configuration from the environment: ``WRISTBAND_DOMAIN`` (your Wristband
application's vanity domain), or ``WRISTBAND_ISSUER`` and ``WRISTBAND_JWKS_URL`` for
another issuer, such as ``wristband_mw.testing.LocalIssuer``.
"""


def code_block(source: str) -> str:
    """An RST ``code-block`` holding ``source`` exactly (blank lines stay empty)."""
    return ".. code-block:: python\n\n" + textwrap.indent(source, "    ")


def recipe(filename: str, title: str, summary: str) -> str:
    source = (EXAMPLES / filename).read_text("utf-8")
    underline = "~" * len(title)
    return f"{title}\n{underline}\n\n``examples/{filename}``: {summary}\n\n{code_block(source)}"


def render() -> str:
    return "\n".join([HEADER, *(recipe(*entry) for entry in RECIPES)])


def test_every_example_has_a_recipe() -> None:
    assert sorted(path.name for path in EXAMPLES.glob("*.py")) == sorted(name for name, _, _ in RECIPES)


@pytest.mark.parametrize("filename", [name for name, _, _ in RECIPES])
def test_recipe_is_the_example_verbatim(filename: str) -> None:
    source = (EXAMPLES / filename).read_text("utf-8")
    assert code_block(source) in README.read_text("utf-8"), (
        f"the recipe for examples/{filename} differs from the file: run python {Path(__file__).relative_to(REPO)}"
    )


def readme_recipes(text: str) -> str:
    return text[text.index(START) + len(START) : text.index(END)]


def test_readme_recipes_section_is_up_to_date() -> None:
    assert readme_recipes(README.read_text("utf-8")) == render(), (
        f"the README's recipes are stale: run python {Path(__file__).relative_to(REPO)}"
    )


@pytest.mark.parametrize("filename", [name for name, _, _ in RECIPES])
def test_every_example_runs_under_a_server_in_some_test(filename: str) -> None:
    module = '"' + filename[: -len(".py")] + ":"  # as in "flask_app:app"
    tests = (REPO / "tests" / "integration").glob("*/test_*.py")
    assert any(module in path.read_text("utf-8") for path in tests), f"no integration test serves {filename}"


if __name__ == "__main__":
    text = README.read_text("utf-8")
    old = readme_recipes(text)
    README.write_text(text.replace(START + old + END, START + render() + END), "utf-8")
    sys.stdout.write(f"rewrote the recipes in {README.relative_to(REPO)}\n")

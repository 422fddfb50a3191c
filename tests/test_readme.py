"""The README's framework recipes are the examples/ files, verbatim, and every other
Python snippet of the README runs as written or says it is a fragment.

The "Recipes" section of README.rst (between the ``recipes-start`` and ``recipes-end``
comments) is generated from ``examples/*.py``; regenerate it with::

    python tests/test_readme.py

and these tests fail whenever a recipe and its example drift apart, or an example is
added without a recipe or without an integration test that runs it. The integration
tests (tox -e integration-wsgi, integration-asgi) run every example under a real server.

Outside the recipes, Python snippets are ``.. code-block:: python`` blocks, and each one
runs here, in a fresh interpreter, exactly as printed; what it prints must be what its
``# prints: ...`` comments say, in order. A snippet that cannot run on its own (it uses
your app) is marked by an RST comment on the line before the directive, saying why::

    .. fragment: app and validator are your application and validator.

    .. code-block:: python
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import List, NamedTuple, Tuple

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


# -- every other Python snippet runs as written, or is marked as a fragment ---------------------

PYTHON_BLOCK = ".. code-block:: python"
FRAGMENT = ".. fragment:"
# A literal block (after "::") whose first line reads as Python: it should be a marked snippet.
PYTHON_START = re.compile(r"(from \w+ import |import \w|def \w|class \w|@\w|\w+ = )")
PRINTS = re.compile(r"#.*\bprints: (.*)$")


class Snippet(NamedTuple):
    line: int  # of the directive in README.rst, 1-based
    fragment: bool
    source: str


def indented_block(lines: List[str], start: int) -> str:
    """The indented body that follows ``lines[start]`` (blank lines inside kept), dedented."""
    body: List[str] = []
    for line in lines[start + 1 :]:
        if line.strip() and not line.startswith((" ", "\t")):
            break
        body.append(line)
    return textwrap.dedent("\n".join(body)).strip("\n") + "\n"


def outside_recipes(text: str) -> List[str]:
    """README lines with the generated recipes blanked out (line numbers stay right)."""
    lines = text.split("\n")
    first = text[: text.index(START)].count("\n")
    last = text[: text.index(END) + 1].count("\n")
    return [("" if first <= number <= last else line) for number, line in enumerate(lines)]


def snippets(text: str) -> List[Snippet]:
    lines = outside_recipes(text)
    found = []
    for number, line in enumerate(lines):
        if line.strip() == PYTHON_BLOCK:
            before = [earlier for earlier in lines[:number] if earlier.strip()]
            fragment = bool(before) and before[-1].startswith(FRAGMENT)
            found.append(Snippet(number + 1, fragment, indented_block(lines, number)))
    return found


README_SNIPPETS = snippets(README.read_text("utf-8"))


def test_python_in_literal_blocks_is_a_marked_snippet() -> None:
    lines = outside_recipes(README.read_text("utf-8"))
    unmarked = [
        number + 1
        for number, line in enumerate(lines)
        if line.rstrip().endswith("::")
        and not line.lstrip().startswith("..")
        and PYTHON_START.match(indented_block(lines, number).lstrip())
    ]
    assert not unmarked, (
        f"README.rst lines {unmarked}: Python in a literal block; use '{PYTHON_BLOCK}' (it then runs in "
        f"tests/test_readme.py) or mark it with '{FRAGMENT} why' on the line before the directive"
    )


def test_fragments_say_why() -> None:
    lines = README.read_text("utf-8").split("\n")
    bare = [number + 1 for number, line in enumerate(lines) if line.strip() == FRAGMENT]
    assert not bare, f"README.rst lines {bare}: say why the snippet cannot run on its own"


@pytest.mark.parametrize(
    "snippet",
    [snippet for snippet in README_SNIPPETS if not snippet.fragment],
    ids=lambda snippet: f"README.rst:{snippet.line}",
)
def test_readme_snippet_runs_as_written(snippet: Snippet) -> None:
    import wristband_mw

    # A fresh interpreter, so that a snippet's logging setup or globals touch no other test;
    # it imports the same wristband_mw as this test session.
    env = dict(os.environ)
    package_root = str(Path(wristband_mw.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", snippet.source],
        env=env,
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"README.rst:{snippet.line} fails:\n{done.stderr}"
    promised = [match.group(1).strip() for match in map(PRINTS.search, snippet.source.splitlines()) if match]
    assert done.stdout.splitlines() == promised, f"README.rst:{snippet.line} prints something else than it says"


def test_the_snippet_finder_sees_every_kind() -> None:
    text = """Intro::

    from x import y

.. fragment: uses your app.

.. code-block:: python

    app = make_app()

.. code-block:: python

    print("hi")  # prints: hi
"""
    found = snippets(START + END + text)
    assert [(snippet.fragment, snippet.source) for snippet in found] == [
        (True, "app = make_app()\n"),
        (False, 'print("hi")  # prints: hi\n'),
    ]
    assert PYTHON_START.match(indented_block(text.split("\n"), 0).lstrip())


if __name__ == "__main__":
    text = README.read_text("utf-8")
    old = readme_recipes(text)
    README.write_text(text.replace(START + old + END, START + render() + END), "utf-8")
    sys.stdout.write(f"rewrote the recipes in {README.relative_to(REPO)}\n")

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
    ("django_asgi_app.py", "Django under ASGI", "``request.user`` from the token alone, under uvicorn or daphne."),
    ("fastapi_app.py", "FastAPI", "``request.user``, ``request.auth``, Starlette's ``@requires`` and a WebSocket."),
    ("starlette_app.py", "Starlette", "The middleware in Starlette's middleware list; ``@requires`` on the routes."),
    ("litestar_app.py", "Litestar", "In Litestar's ``middleware=[...]`` list or around the app; ``request.user``."),
    ("quart_app.py", "Quart", "Wrap ``app.asgi_app``; a ``before_request`` hook fills ``g.user``."),
    ("sanic_app.py", "Sanic", "Wrap the app; an ``on_request`` hook fills ``request.ctx.user``."),
    ("blacksheep_app.py", "BlackSheep", "Wrap the app; handlers call ``get_claims(request)``."),
    ("falcon_wsgi_app.py", "Falcon (WSGI)", "Wrap the ``falcon.App``; a middleware fills ``req.context.user``."),
    ("falcon_asgi_app.py", "Falcon (ASGI)", "Wrap the ``falcon.asgi.App``; a middleware fills ``req.context.user``."),
    ("pyramid_app.py", "Pyramid", "``request.remote_user``; a security policy for ``authenticated_userid``."),
    ("bottle_app.py", "Bottle", "Wrap the app; ``REMOTE_USER`` and ``get_claims(request)``."),
    ("wsgi_app.py", "Any WSGI application", "No framework: the claims are in the environ."),
    ("asgi_app.py", "Any ASGI application", "No framework: the claims are in the scope; keys prefetched at startup."),
]

HEADER = """\
.. Generated from examples/*.py by ``python tests/test_readme.py``: edit the examples, not this.

Recipes
-------

Each recipe is a complete file from ``examples/``, and the integration tests run every one
of them under a real server (``tox -e integration-wsgi,integration-asgi,integration-asgi-more``).
Run them from the ``examples/`` folder (``cd examples``, then the command in the file's
docstring). They read the validator configuration from the environment:
``WRISTBAND_DOMAIN`` (your Wristband application's vanity domain), or ``WRISTBAND_ISSUER``
and ``WRISTBAND_JWKS_URL`` for another issuer, such as ``wristband_mw.testing.LocalIssuer``;
without them a recipe stops at once and names these variables.

CORS preflights never run protected code
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

With ``cors_preflight=True`` (the default) an ``OPTIONS`` request carrying ``Origin`` and
``Access-Control-Request-Method`` passes without a token, as browsers send it without one.
The application must then answer it without running a protected view. Safe as the recipes
are: Flask, Quart, FastAPI, Starlette, Litestar, Sanic, BlackSheep, Bottle and Falcon
answer ``OPTIONS`` themselves (or 405) for routes declared per method; Pyramid with
``request_method`` on its views; Django only when each view refuses other methods
(``@require_safe``, ``@require_http_methods``, or class-based views with
``http_method_names``), since Django runs a plain function view for *every* method; a
hand-written WSGI or ASGI app only if it checks the method. Not safe: a Django function
view without such a decorator, a Pyramid view without ``request_method``, any handler that
answers every method. Where that cannot be guaranteed, put a CORS layer in front of the
middleware (it answers preflights itself), or pass ``cors_preflight=False``. Every
recipe's integration test sends preflights to ``/api/me`` and ``/api/admin`` and asserts
that no handler ran.
"""

TRAILER = """
Compatibility
~~~~~~~~~~~~~

Tested on every change, through real servers on 127.0.0.1 and real clients:

.. list-table::
   :header-rows: 1

   * - Framework
     - Servers tested
     - The user and the claims
     - Limits
   * - Flask
     - gunicorn (gthread), wsgiref
     - ``request.remote_user``, ``get_claims(request)``
     - none known
   * - Django (WSGI)
     - gunicorn (gthread)
     - ``request.user`` (``RemoteUserMiddleware``)
     - views must refuse ``OPTIONS`` (``@require_safe``): Django runs a function view for every method
   * - Django (ASGI)
     - uvicorn, daphne
     - ``request.user`` (Django 5.2+'s own ``RemoteUserMiddleware`` reads the ``Remote-User``
       header, which only the middleware sets)
     - views must refuse ``OPTIONS`` (``@require_safe``); daphne sends no lifespan scope, so
       ``prefetch_on_startup`` cannot act there and the first request fetches the keys
   * - FastAPI, Starlette
     - uvicorn (h11, httptools; WebSockets: websockets, wsproto)
     - ``request.user``, ``request.auth``, ``@requires``
     - none known
   * - Litestar
     - uvicorn, granian, hypercorn
     - ``request.user.identity``, ``request.auth.scopes``, ``request.auth.claims`` (``sub``, ``exp``, ...)
     - in ``middleware=[...]`` it runs per route, after routing: paths and methods no handler takes get
       Litestar's own 404/405, and there is no startup prefetch; Litestar strips ``root_path`` from the
       path it passes on (the middleware checks every reading)
   * - Quart
     - hypercorn (HTTP/1.1, and HTTP/2 over cleartext)
     - ``g.user`` (a two-line hook)
     - none known
   * - Sanic
     - uvicorn
     - ``request.ctx.user`` (a two-line hook)
     - ignores ``root_path`` and routes on the full path: serve it at the root
   * - BlackSheep
     - granian, uvicorn
     - ``get_claims(request)``
     - none known
   * - Falcon (WSGI)
     - gunicorn (gthread)
     - ``req.context.user`` (a small middleware)
     - none known
   * - Falcon (ASGI)
     - uvicorn
     - ``req.context.user`` (a small middleware)
     - ignores ``root_path`` and routes on the full path: serve it at the root
   * - Pyramid
     - waitress
     - ``request.remote_user``, ``request.authenticated_userid`` (the recipe's security policy)
     - views need ``request_method``, or they answer preflights
   * - Bottle
     - gunicorn (gthread), waitress
     - ``request.environ["REMOTE_USER"]``, ``get_claims(request)``
     - none known
   * - Any WSGI app
     - gunicorn (sync), granian (WSGI)
     - the ``environ``
     - granian hands a non-ASCII header to the app as ``""``
   * - Any ASGI app
     - uvicorn, hypercorn, granian
     - the ``scope``
     - none known
"""


def code_block(source: str) -> str:
    """An RST ``code-block`` holding ``source`` exactly (blank lines stay empty)."""
    return ".. code-block:: python\n\n" + textwrap.indent(source, "    ")


def recipe(filename: str, title: str, summary: str) -> str:
    source = (EXAMPLES / filename).read_text("utf-8")
    underline = "~" * len(title)
    return f"{title}\n{underline}\n\n``examples/{filename}``: {summary}\n\n{code_block(source)}"


def render() -> str:
    return "\n".join([HEADER, *(recipe(*entry) for entry in RECIPES), TRAILER])


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


MISSING_CONFIG = "Set WRISTBAND_DOMAIN, or WRISTBAND_ISSUER and WRISTBAND_JWKS_URL, in the environment"


@pytest.mark.parametrize("filename", [name for name, _, _ in RECIPES])
def test_every_recipe_names_the_environment_variables_it_needs(filename: str) -> None:
    assert f'raise SystemExit("{MISSING_CONFIG}")' in (EXAMPLES / filename).read_text("utf-8")


@pytest.mark.parametrize("module", ["wsgi_app", "asgi_app"])  # the recipes that import no framework
def test_a_recipe_without_its_environment_says_which_variables_to_set(module: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WRISTBAND_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=EXAMPLES,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == MISSING_CONFIG  # no traceback, no Python parameter names


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

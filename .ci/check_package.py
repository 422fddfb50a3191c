"""Build the sdist and the wheel as a PyPI user gets them, and check both (tox -e package).

1. ``python -m build``: fails on any warning in the build output (deprecated metadata,
   missing files...);
2. ``twine check --strict``: the README renders on PyPI and the metadata is complete;
3. the metadata: an SPDX ``License-Expression`` and no license classifier, Project-URLs;
4. the sdist runs its own tests: every test module, support module and example of the
   source tree is in it, with tox.ini;
5. the wheel installs into a fresh virtual environment, imports, and ``wristband-mw --help``
   runs.

Usage: python .ci/check_package.py WORK_DIR   (run from the project root)
"""

from __future__ import annotations

import email.parser
import re
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path
from typing import List

ROOT = Path.cwd()
# "SetuptoolsDeprecationWarning: ...", "UserWarning: ...": capitalised Python warnings only;
# lower-case "warning: build_py: byte-compiling is disabled" comes from PYTHONDONTWRITEBYTECODE.
WARNING = re.compile(r"\b[A-Za-z]*Warning\b")


def fail(message: str) -> None:
    sys.exit(f"check_package: {message}")


def run(command: List[str], **kwargs: object) -> str:
    print("+", " ".join(command), flush=True)
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)  # noqa: S603 (our own commands)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        print(output)
        fail(f"{command[0]} {command[1] if len(command) > 1 else ''} exited {done.returncode}")
    return output


def build(dist: Path) -> None:
    output = run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)])
    warnings = [line for line in output.splitlines() if WARNING.search(line)]
    if warnings:
        fail("the build warns:\n  " + "\n  ".join(warnings))


def check_metadata(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(archive.read(name).decode("utf-8"))
    if metadata.get("License-Expression") != "MIT":
        fail(f"License-Expression is {metadata.get('License-Expression')!r}, expected 'MIT'")
    if any(value.startswith("License ::") for value in metadata.get_all("Classifier") or []):
        fail("a License classifier is deprecated next to License-Expression")
    if not metadata.get_all("Project-URL"):
        fail("no Project-URL")
    relative = re.findall(r"`[^`<]*<(?!https?://|#)([^>]+)>`_", metadata.get_payload() or "")
    if relative:
        fail(f"the README links relatively, which breaks on PyPI: {relative}")


def check_sdist(sdist: Path) -> None:
    with tarfile.open(sdist) as archive:
        shipped = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    wanted = {"tox.ini", "setup.cfg", "pyproject.toml", "README.rst"}
    for folder in ("tests", "examples"):
        wanted |= {
            str(path.relative_to(ROOT))
            for path in (ROOT / folder).rglob("*.py")
            if "__pycache__" not in path.parts and not {"corpus", "artifacts"} & set(path.parts)
        }
    missing = sorted(wanted - shipped)
    if missing:
        fail(f"the sdist cannot run its tests, it lacks: {missing}")
    if any("__pycache__" in name or name.endswith(".pyc") for name in shipped):
        fail("the sdist ships compiled files")


def check_wheel_installs(wheel: Path, env_dir: Path) -> None:
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    bin_dir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    python = str(bin_dir / "python")
    run([python, "-m", "pip", "install", "--quiet", str(wheel)])
    # From outside the source tree, so the installed package is the one imported.
    version = run([python, "-c", "import wristband_mw; print(wristband_mw.__version__)"], cwd=str(env_dir)).strip()
    usage = run([str(bin_dir / "wristband-mw"), "--help"], cwd=str(env_dir))
    if "usage: wristband-mw" not in usage:
        fail(f"wristband-mw --help printed {usage!r}")
    print(f"wheel installs and runs: wristband_mw {version}")


def main() -> None:
    work = Path(sys.argv[1]).resolve()
    shutil.rmtree(work, ignore_errors=True)
    dist = work / "dist"
    build(dist)
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    run([sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)])
    check_metadata(wheel)
    check_sdist(sdist)
    check_wheel_installs(wheel, work / "venv")
    print(f"package ok: {sdist.name}, {wheel.name}")


if __name__ == "__main__":
    main()

"""tox finds every Python that pyenv has installed, with no PATH set up by hand.

pyenv's shims only answer for the selected version, so plain ``tox`` would skip the
others. This inline plugin (tox loads ``toxfile.py`` from the project root) adds the
newest installed patch release of each pyenv 3.X this package supports to tox's
``--discover`` list, the executables tox tries first for an environment's Python; an
environment still gets only an interpreter that matches it (py39 a 3.9). Older ones are
left out: discovery gives up at the first interpreter too old to query, such as a 2.7.
Without pyenv nothing is added and tox finds interpreters on PATH as usual.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from tox.config.sets import ConfigSet
from tox.plugin import impl
from tox.session.state import State

_RELEASE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")  # CPython final releases only (no -dev, t, pypy)
_OLDEST = (3, 9)  # setup.cfg's python_requires


def _pyenv_root() -> Optional[Path]:
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            done = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30, check=False)  # noqa: S603
        except (OSError, subprocess.SubprocessError):
            done = None
        if done is not None and done.returncode == 0 and done.stdout.strip():
            return Path(done.stdout.strip())
    default = Path.home() / ".pyenv"
    return default if default.is_dir() else None


def pyenv_interpreters() -> List[str]:
    """The newest installed patch release of each pyenv CPython 3.9+, as executables."""
    root = _pyenv_root()
    if root is None or not (root / "versions").is_dir():
        return []
    newest: Dict[Tuple[int, int], Tuple[int, Path]] = {}
    for version in (root / "versions").iterdir():
        match = _RELEASE.match(version.name)
        if not match:
            continue
        major, minor, patch = (int(part) for part in match.groups())
        if (major, minor) < _OLDEST:
            continue
        executable = version / "bin" / f"python{major}.{minor}"
        if executable.is_file() and patch >= newest.get((major, minor), (-1, executable))[0]:
            newest[(major, minor)] = (patch, executable)
    return [str(executable) for _, (_, executable) in sorted(newest.items())]


@impl
def tox_add_core_config(core_conf: ConfigSet, state: State) -> None:
    found = pyenv_interpreters()
    if found:
        options = state.conf.options
        options.discover = [*(getattr(options, "discover", None) or []), *found]

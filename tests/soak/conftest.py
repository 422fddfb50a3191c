"""The soak test runs only when asked for by path: ``pytest tests/soak`` (or ``tox -e soak``).

A plain ``pytest`` (the py3x tox environments, CI's unit run) skips this directory: it
starts real servers and runs for about a minute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest

HERE = Path(__file__).resolve().parent


def _requested(config: pytest.Config) -> bool:
    base = config.invocation_params.dir
    for arg in config.args:
        path = (base / arg.split("::")[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> Optional[bool]:
    if not _requested(config):
        return True
    return None

"""Smoke test of the atheris fuzz targets in tests/fuzz, without atheris.

The targets' one-input functions are plain Python: this replays the seeds kept in git,
every generated seed, and a few hundred pseudo-random inputs through them, so a change
to the package or to the targets that breaks them fails here, not in the next fuzzing
campaign.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator

import pytest

FUZZ_DIR = Path(__file__).resolve().parent / "fuzz"
TARGETS = ("validate", "middleware")


def _load(name: str) -> ModuleType:
    module_name = f"fuzz_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, FUZZ_DIR / f"{module_name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", params=TARGETS)
def target(request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    module = _load(request.param)
    yield module
    if hasattr(module, "close"):
        module.close()


def test_git_seeds_exist_and_replay(target: ModuleType) -> None:
    name = target.__name__[len("fuzz_") :]
    seeds = sorted((FUZZ_DIR / "seeds" / name).iterdir())
    assert {path.name for path in seeds} == set(target.GIT_SEEDS)
    for path in seeds:
        target.fuzz_one_input(path.read_bytes())


def test_git_seeds_are_current(target: ModuleType) -> None:
    """The seeds in git are what --make-git-seeds writes today (keys and tokens are deterministic)."""
    name = target.__name__[len("fuzz_") :]
    generated = target.seed_inputs()
    for path in (FUZZ_DIR / "seeds" / name).iterdir():
        assert generated[path.name] == path.read_bytes(), path.name


def test_every_generated_seed_replays(target: ModuleType) -> None:
    for name, data in target.seed_inputs().items():
        try:
            target.fuzz_one_input(data)
        except Exception as exc:  # pragma: no cover - the message names the seed
            raise AssertionError(f"seed {name} failed: {exc!r}") from exc


def test_pseudo_random_inputs(target: ModuleType) -> None:
    rng = random.Random(20240601)
    seeds = list(target.seed_inputs().values())
    for _ in range(400):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            if data and rng.random() < 0.7:
                data[rng.randrange(len(data))] = rng.randrange(256)
            else:
                data[rng.randrange(len(data) + 1) : 0] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        target.fuzz_one_input(bytes(data))
    for size in (0, 1, 2, 7, 64, 600):
        target.fuzz_one_input(bytes(rng.randrange(256) for _ in range(size)))


def test_reference_tokens_are_what_they_claim() -> None:
    """The targets' real tokens: the valid ones validate, the invalid ones do not."""
    _load("validate")
    import fuzz_common as fc

    validator = fc.make_validator()
    for token in fc.VALID_TOKENS:
        assert validator.validate(token).is_valid
        assert fc.independently_valid(token) == (True, "")
    for token in fc.INVALID_TOKENS:
        result = validator.validate(token)
        assert not result.is_valid and result.error is not None

"""Fixtures for the notebook toolkit: a real in-kernel sandbox on the toolkit's runtime loop."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

import buzpo_nb as bz

_numbers = itertools.count(15558000001)
_names = itertools.count(1)


@pytest.fixture(scope="module")
def sb() -> Iterator[bz.SandboxHandle]:
    handle = bz.sandbox(phones=())
    yield handle
    handle.stop()


@pytest.fixture
def number() -> str:
    return str(next(_numbers))


@pytest.fixture
def name() -> str:
    return f"nb-test-{next(_names)}"

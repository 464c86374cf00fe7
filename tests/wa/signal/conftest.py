"""Fixtures for the Signal unit tests: two fresh devices."""

from __future__ import annotations

import pytest
from signal_devices import Device


@pytest.fixture
def alice() -> Device:
    return Device("alice")


@pytest.fixture
def bob() -> Device:
    return Device("bob")

"""Test-wide fixtures: no test reads or writes the user's feature cache."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory):
    """Point ``COSTMODEL_CACHE`` at a folder of this test session (hermetic tests)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("COSTMODEL_CACHE", str(tmp_path_factory.mktemp("costmodel-cache")))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _no_shipped_profiles(tmp_path_factory, monkeypatch):
    """Shipped profiles (the default prior) come from an empty folder; tests that need some
    build them (``COSTMODEL_PROFILES``)."""
    monkeypatch.setenv("COSTMODEL_PROFILES", str(tmp_path_factory.mktemp("profiles")))

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

"""Hermetic tests: no test reads the user's shipped-profile folder unless it sets one up."""

import pytest


@pytest.fixture(autouse=True)
def _no_shipped_profiles(tmp_path_factory, monkeypatch):
    """Shipped profiles (the default prior) come from an empty folder; tests that need some
    build them (``COSTMODEL_PROFILES``)."""
    monkeypatch.setenv("COSTMODEL_PROFILES", str(tmp_path_factory.mktemp("profiles")))

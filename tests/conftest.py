"""Shared fixtures: every test that touches files gets its own project directories."""

from __future__ import annotations

import pytest


@pytest.fixture
def reveil_env(tmp_path, monkeypatch):
    """Point every path of the project into tmp_path (warehouse, landing, exports, ...)."""
    data = tmp_path / "data"
    monkeypatch.setenv("REVEIL_DATA_DIR", str(data))
    monkeypatch.setenv("REVEIL_WAREHOUSE", str(data / "warehouse" / "reveil.duckdb"))
    monkeypatch.delenv("REVEIL_LANDING_DIR", raising=False)
    monkeypatch.delenv("REVEIL_MAPPINGS_DIR", raising=False)
    monkeypatch.setenv("REVEIL_SUPPRESSION_KEY", "test-key-not-secret")
    monkeypatch.setenv("REVEIL_GX_DATA_DOCS", "0")  # ~0.3 s per gate, not needed in tests
    return data

"""Settings shared by Dagster and dbt."""

from __future__ import annotations

import os
import re

from dagster_project import settings


def test_dbt_builds_with_the_projects_duckdb_memory_limit(reveil_env, monkeypatch):
    """Runs through Dagster hand dbt the project's limit; dbt run by hand falls back to the
    profile's default, which must be the same."""
    profile = (settings.PROJECT_ROOT / "dbt" / "profiles.yml").read_text()
    default = re.search(r"env_var\('REVEIL_DUCKDB_MEMORY_LIMIT', '([^']+)'\)", profile)
    assert default and default.group(1) == settings.DEFAULT_DUCKDB_MEMORY_LIMIT

    for name in ("REVEIL_DUCKDB_MEMORY_LIMIT", "REVEIL_DUCKDB_TEMP_DIR"):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    settings.export_warehouse_env()
    assert os.environ["REVEIL_DUCKDB_MEMORY_LIMIT"] == settings.DEFAULT_DUCKDB_MEMORY_LIMIT

    monkeypatch.setenv("REVEIL_DUCKDB_MEMORY_LIMIT", "1GB")
    settings.export_warehouse_env()
    assert os.environ["REVEIL_DUCKDB_MEMORY_LIMIT"] == "1GB"

"""Settings shared by Dagster and dbt."""

from __future__ import annotations

import os
import re
import subprocess

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


def test_dbt_gets_duckdbs_threads_from_the_same_default(monkeypatch):
    """dbt's DuckDB used 2 threads whatever the machine, Dagster's connections every core.
    Both now use the cores this process may use (nproc), which the Makefile exports for
    `make manifest` too: the profile's settings are part of dbt's partial-parse hash."""
    monkeypatch.setenv("REVEIL_DUCKDB_THREADS", "1")  # so that teardown restores it
    monkeypatch.delenv("REVEIL_DUCKDB_THREADS")
    settings.export_warehouse_env()
    assert os.environ["REVEIL_DUCKDB_THREADS"] == str(len(os.sched_getaffinity(0)))
    assert settings.duckdb_config()["threads"] == len(os.sched_getaffinity(0))
    monkeypatch.setenv("REVEIL_DUCKDB_THREADS", "3")
    settings.export_warehouse_env()
    assert os.environ["REVEIL_DUCKDB_THREADS"] == "3"
    makefile = (settings.PROJECT_ROOT / "Makefile").read_text()
    assert "export REVEIL_DUCKDB_THREADS ?= $(shell nproc" in makefile


def test_makefile_puts_the_warehouse_where_settings_does(tmp_path, monkeypatch):
    """`REVEIL_DATA_DIR=… make run` wrote everything under that folder but the warehouse, which
    the Makefile pinned to the clone's data/: a user's exports went into the demo warehouse."""
    env = {k: v for k, v in os.environ.items() if k not in ("REVEIL_WAREHOUSE", "MAKEFLAGS")}
    for data_dir in (str(tmp_path / "elsewhere"), None):
        if data_dir:
            env["REVEIL_DATA_DIR"] = data_dir
            monkeypatch.setenv("REVEIL_DATA_DIR", data_dir)
        else:
            env.pop("REVEIL_DATA_DIR", None)
            monkeypatch.delenv("REVEIL_DATA_DIR", raising=False)
        monkeypatch.delenv("REVEIL_WAREHOUSE", raising=False)
        shown = subprocess.run(
            ["make", "-s", "--no-print-directory", "--eval", "where: ; @echo $(REVEIL_WAREHOUSE)"]
            + ["where"],
            cwd=settings.PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert shown == str(settings.warehouse_path())

"""Shared fixtures: every test that touches files gets its own project directories."""

from __future__ import annotations

import shutil
import sys

import pytest

from dagster_project import settings

# pytest-xdist's workers run as `python -c …` (execnet): their __main__ has neither __spec__
# nor __file__, which pyspark takes for a doctest run: importing pyspark.sql.connect (Great
# Expectations does, when the Spark extra is installed) calls sys.exit(0) and kills the
# worker. A name for the worker's __main__ tells pyspark it is not one.
_main = sys.modules["__main__"]
if getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__file__ = "<pytest-xdist worker>"


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


@pytest.fixture
def dagster_home(tmp_path, monkeypatch):
    """A DAGSTER_HOME in tmp_path with the project's dagster.yaml, as make setup installs it
    (pool duckdb_writer with one slot, run monitoring, the event log storage)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(settings.PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


# The slowest files first (seconds measured with `pytest --durations`): `make test` hands files
# to its 2 workers in collection order (pytest-xdist --dist loadfile), so a slow file collected
# late ran alone at the end while the other worker idled; CI's budget is 15 minutes.
SLOW_FILES_FIRST = (
    "tests/dbt/test_spark_parity.py",
    "tests/dbt/test_incremental_snapshots.py",
    "tests/defs/test_cli_runs.py",
    "tests/defs/test_bi_reader_during_run.py",
    "tests/defs/test_gate_failures.py",
    "tests/dbt/test_audiences.py",
    "tests/dbt/test_dbt_build.py",
    "tests/defs/test_purge_e2e.py",
    "tests/defs/test_purge_batches.py",
    "tests/defs/test_predictions.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: position for position, path in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable

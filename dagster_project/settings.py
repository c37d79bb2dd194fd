"""Paths and knobs read from the environment, in one place.

Every path the project writes is derived here so that Dagster, dbt (through
``REVEIL_WAREHOUSE``), the tests and the benchmarks never disagree.  Functions, not
module constants: tests and benchmarks point the project elsewhere by setting the
environment variables before calling them.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"


def _path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def data_dir() -> Path:
    """Root of everything the pipeline writes (ignored by git)."""
    return _path("REVEIL_DATA_DIR", PROJECT_ROOT / "data")


def landing_dir() -> Path:
    """Folder where source exports are dropped: one sub-folder per source."""
    return _path("REVEIL_LANDING_DIR", data_dir() / "landing")


def mappings_dir() -> Path:
    """Folder of the YAML mappings from users' exports to the canonical schema."""
    return _path("REVEIL_MAPPINGS_DIR", PROJECT_ROOT / "data" / "mappings")


def warehouse_path() -> Path:
    """The DuckDB warehouse file. dbt's profile reads the same variable."""
    return _path("REVEIL_WAREHOUSE", data_dir() / "warehouse" / "reveil.duckdb")


def exports_dir() -> Path:
    """Purge lists, suppression imports and audience exports."""
    return _path("REVEIL_EXPORTS_DIR", data_dir() / "exports")


def serving_dir() -> Path:
    """Read-only serving databases for BI tools, with a few versions kept for rollback."""
    return _path("REVEIL_SERVING_DIR", data_dir() / "serving")


def reports_dir() -> Path:
    return _path("REVEIL_REPORTS_DIR", data_dir() / "reports")


def duckdb_temp_dir() -> Path:
    return _path("REVEIL_DUCKDB_TEMP_DIR", data_dir() / "tmp")


# DuckDB spills what does not fit. Exported to dbt (export_warehouse_env); dbt/profiles.yml
# repeats it for dbt run by hand (tests/test_settings.py keeps the two equal). 3 GB for DuckDB
# keeps the whole process tree (Dagster, dbt and DuckDB) under 4 GB on the 1 M benchmark; the
# 10 M build completes with it, spilling (benchmarks/results/10m.md).
DEFAULT_DUCKDB_MEMORY_LIMIT = "3GB"


def duckdb_memory_limit() -> str:
    return os.environ.get("REVEIL_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT)


def duckdb_threads() -> int:
    """DuckDB's threads: ``REVEIL_DUCKDB_THREADS``, else the cores this process may use (what
    ``nproc`` prints: the Makefile exports the same default to dbt's profile)."""
    default = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return int(os.environ.get("REVEIL_DUCKDB_THREADS", str(default or 2)))


def duckdb_config() -> dict:
    """Connection config for every writing DuckDB connection of the project."""
    temp = duckdb_temp_dir()
    temp.mkdir(parents=True, exist_ok=True)
    return {
        "memory_limit": duckdb_memory_limit(),
        "threads": duckdb_threads(),
        "temp_directory": str(temp),
        "preserve_insertion_order": False,
    }


def export_warehouse_env() -> None:
    """Make the resolved warehouse path, DuckDB spill folder, memory limit and threads visible
    to dbt subprocesses (profiles.yml) and to the ``EnvVar`` of the warehouse resource; a
    value already set wins. dbt's partial parse is kept only when these render as they did
    for ``make manifest`` (they are part of the profile's hash), hence one default each."""
    os.environ["REVEIL_WAREHOUSE"] = str(warehouse_path())
    os.environ["REVEIL_DUCKDB_MEMORY_LIMIT"] = duckdb_memory_limit()
    os.environ["REVEIL_DUCKDB_THREADS"] = str(duckdb_threads())
    temp = duckdb_temp_dir()  # dbt spills where the other DuckDB connections do
    temp.mkdir(parents=True, exist_ok=True)
    os.environ["REVEIL_DUCKDB_TEMP_DIR"] = str(temp)

"""The dbt sources as Parquet folders, for the dbt ``spark`` target.

Ingestion writes the canonical raw tables into the DuckDB warehouse (write–audit–publish,
``lib/ingest.py``), and a few Python assets write optional source tables there too (CLV
predictions, the contacts matched to the suppression list). dbt's ``spark`` target cannot read
a DuckDB file, so before a Spark build every source table is exported with DuckDB's
``COPY ... (FORMAT parquet)`` to ``<spark dir>/<schema>/<table>/part-0.parquet``:

* every ``raw.<source>`` of ``lib/schema.py`` and the loader's ``raw.<source>_superseded``,
  always (an empty file with the canonical columns when the table does not exist yet);
* every other dbt source table (``predictions.customer_predictions``,
  ``audiences.suppressed_contacts``, ...) only when it exists in DuckDB. Those tables are
  optional for dbt (macro ``reveil_optional_relation``): the Spark run must see the same
  "present" or "absent" as a DuckDB run, or e.g. suppressed contacts would be woken up.

dbt's ``on-run-start`` hook (``dbt/macros/spark_raw_sources.sql``) declares each folder as an
external Spark table ``<schema>.<table>``, which is what ``source(...)`` resolves to: every raw
table, and the optional ones named in ``REVEIL_SPARK_OPTIONAL_SOURCES`` (``dbt_env``).

Paths: the Spark directory is ``REVEIL_SPARK_WAREHOUSE`` (default ``<data dir>/spark``). dbt's
profile reads the same variable for its warehouse (``<spark dir>/warehouse``) and metastore
(``<spark dir>/metastore_db``); the hook reads the source folders from
``REVEIL_SPARK_SOURCE_LOCATION`` (default: the Spark directory), e.g. object storage a cluster
can read once the folders are copied there.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

import duckdb

from dagster_project import settings
from dagster_project.lib.ingest import RAW, q, raw_columns, superseded_columns
from dagster_project.lib.schema import SOURCES

SPARK_DIR_ENV = "REVEIL_SPARK_WAREHOUSE"
OPTIONAL_SOURCES_ENV = "REVEIL_SPARK_OPTIONAL_SOURCES"
DBT_TARGET_ENV = "REVEIL_DBT_TARGET"
DEFAULT_DBT_TARGET = "duckdb"
SPARK_TARGETS = frozenset({"spark"})
PARQUET_FILE = "part-0.parquet"
# the loader's record of moved rows (raw.orders_superseded) is a raw source of dbt too
SUPERSEDED_SOURCES = {s.superseded_table: s for s in SOURCES.values() if s.superseded_table}
RAW_TABLES = tuple((RAW, name) for name in [*SOURCES, *SUPERSEDED_SOURCES])


def dbt_target() -> str:
    """The dbt target of this run: ``REVEIL_DBT_TARGET`` (``duckdb`` by default)."""
    return os.environ.get(DBT_TARGET_ENV, "").strip() or DEFAULT_DBT_TARGET


def is_spark_target(target: str | None = None) -> bool:
    return (target or dbt_target()) in SPARK_TARGETS


def spark_dir() -> Path:
    """Root of what the Spark target writes: warehouse, metastore and source folders."""
    value = os.environ.get(SPARK_DIR_ENV)
    return Path(value).expanduser().resolve() if value else settings.data_dir() / "spark"


def raw_dir(base: Path | None = None) -> Path:
    """Folder of the raw Parquet folders, one per source."""
    return (base or spark_dir()) / RAW


def source_tables(manifest_path: Path | str) -> list[tuple[str, str]]:
    """(schema, table) of every dbt source of the manifest, raw tables first."""
    manifest = json.loads(Path(manifest_path).read_text())
    tables = {
        (source["schema"], source.get("identifier") or source["name"])
        for source in manifest.get("sources", {}).values()
    }
    return [*RAW_TABLES, *sorted(tables - set(RAW_TABLES))]


def _empty_select(columns: list[tuple[str, str]]) -> str:
    """A row-less select with these (name, type) columns, for a raw table not created yet."""
    select = ", ".join(f"cast(null as {ctype}) as {q(name)}" for name, ctype in columns)
    return f"select {select} where false"


def _existing_tables(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    rows = con.execute(
        "select schema_name, table_name from duckdb_tables() "
        "where database_name = current_database() "
        "union all select schema_name, view_name from duckdb_views() "
        "where database_name = current_database() and not internal"
    ).fetchall()
    return {(schema, table) for schema, table in rows}


def _write_folder(con: duckdb.DuckDBPyConnection, query: str, final: Path) -> int:
    """Write ``query`` to ``final/part-0.parquet``: beside the old folder, then swapped in, so
    a reader sees the old or the new export, never half of one. Returns the rows written."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fresh = final.parent / f".{final.name}.{uuid.uuid4().hex}.tmp"
    fresh.mkdir()
    try:
        target = str(fresh / PARQUET_FILE).replace("'", "''")
        con.execute(f"copy ({query}) to '{target}' (format parquet)")
        rows = con.execute(f"select count(*) from read_parquet('{target}')").fetchone()[0]
        stale = final.parent / f".{final.name}.{uuid.uuid4().hex}.old"
        if final.exists():
            final.rename(stale)
        fresh.rename(final)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
        for leftover in final.parent.glob(f".{final.name}.*.old"):
            shutil.rmtree(leftover, ignore_errors=True)
    return rows


def export_sources(
    con: duckdb.DuckDBPyConnection,
    base: Path | str | None = None,
    tables: Iterable[tuple[str, str]] = RAW_TABLES,
) -> dict[str, int]:
    """Write each (schema, table) to ``base/<schema>/<table>/part-0.parquet``.

    Raw tables of ``lib/schema.py`` are always written (empty with the canonical columns when
    missing: Spark needs a file to know the schema); any other table only when it exists.
    Returns rows written per ``schema.table``.
    """
    root = Path(base) if base is not None else spark_dir()
    existing = _existing_tables(con)
    written: dict[str, int] = {}
    for schema, table in tables:
        if (schema, table) in existing:
            query = f"select * from {q(schema)}.{q(table)}"
        elif schema == RAW and table in SOURCES:
            query = _empty_select(raw_columns(SOURCES[table]))
        elif schema == RAW and table in SUPERSEDED_SOURCES:
            query = _empty_select(superseded_columns(SUPERSEDED_SOURCES[table]))
        else:
            continue
        written[f"{schema}.{table}"] = _write_folder(con, query, root / schema / table)
    return written


def export_for_spark(
    warehouse: Path | str | None = None,
    base: Path | str | None = None,
    manifest_path: Path | str | None = None,
) -> dict[str, int]:
    """Export the dbt sources of the manifest (raw only without one) from the DuckDB
    warehouse file, opened read-only. Returns rows written per ``schema.table``."""
    path = Path(warehouse) if warehouse is not None else settings.warehouse_path()
    tables = source_tables(manifest_path) if manifest_path is not None else RAW_TABLES
    with duckdb.connect(str(path), read_only=True) as con:
        return export_sources(con, base, tables)


def dbt_env(written: dict[str, int], base: Path | str | None = None) -> dict[str, str]:
    """Environment of a Spark dbt run over an export: the Spark directory, and the optional
    (non-raw) source tables that were exported, for the on-run-start hook."""
    optional = sorted(key for key in written if not key.startswith(f"{RAW}."))
    return {
        SPARK_DIR_ENV: str(Path(base).resolve() if base is not None else spark_dir()),
        OPTIONAL_SOURCES_ENV: ",".join(optional),
    }

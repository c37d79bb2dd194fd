"""The dbt project on Apache Spark gives the same marts as on DuckDB (issue #9).

The demo data (generator, ``DEMO_CONTACTS`` contacts, history up to ``DATA_END``) is ingested
into a tmp DuckDB warehouse, with the optional source tables Python assets write (CLV
predictions, suppressed contacts), and every dbt source is exported to Parquet
(``lib/spark_raw``, as the Dagster asset does on the spark target); then
the models behind the marts (``+path:models/marts``, seeds included) are built twice with the
same ``--vars`` (an explicit ``as_of_date`` ten days before the data ends, so every "up to the
snapshot" filter has rows to drop): target ``duckdb`` and target ``spark`` (dbt-spark
``method: session``, PySpark in-process). Every table of the ``marts`` schema must exist on
both, with the same columns, the same kind of type (integer / decimal / floating / text /
boolean / date / timestamp / timestamp with time zone) and the same rows: decimals exactly,
floating values within 1e-9 relative, volatile columns (build time) left out.

The Spark tables are read straight from their Parquet folders
(``<REVEIL_SPARK_WAREHOUSE>/warehouse/marts.db/<table>``) with DuckDB, so both sides are
converted to Python values by the same reader and no second JVM is started.

Skipped: dbt data tests and unit tests on both targets (``--exclude resource_type:test
resource_type:unit_test``): they test the same SQL on DuckDB in ``test_dbt_build.py``; a full
``dbt build --target spark`` runs them on Spark too (~4.5 min here). Slow (~2 min on 2 busy
cores, mostly Spark's per-model overhead): marked ``spark``, deselect with ``-m "not spark"``.
Needs the ``spark`` extra (``pip install -c constraints.txt -e '.[spark]'``) and Java 17.
"""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
import subprocess
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from dagster_project.generate import generate
from dagster_project.lib import ingest, spark_raw
from dagster_project.lib.mappings import parse_mapping
from dagster_project.lib.schema import SOURCES
from tests.dbt.raw_fixture import ensure_manifest


def _missing_requirement() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install -c constraints.txt -e '.[spark]')"
    if importlib.util.find_spec("dbt.adapters.spark") is None:
        return "dbt-spark is not installed (pip install -c constraints.txt -e '.[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and Path(java_home, "bin", "java").exists()):
        return "no Java runtime on PATH or in JAVA_HOME (Spark 4 needs Java 17+)"
    return None


_missing = _missing_requirement()
if _missing:
    pytest.skip(f"Spark parity test skipped: {_missing}", allow_module_level=True)

pytestmark = pytest.mark.spark

ensure_manifest()

from dagster_project.defs.dbt import (  # noqa: E402  (the manifest must exist first)
    DbtRunConfig,
    build_dbt_args,
    dbt_executable,
)
from dagster_project.settings import DBT_PROJECT_DIR  # noqa: E402

DEMO_CONTACTS = 500
SEED = 42
DATA_END = date(2024, 6, 30)
AS_OF_DATE = "2024-06-20"
SELECTION = ["--select", "+path:models/marts", "--exclude", "resource_type:test"]
SELECTION += ["resource_type:unit_test"]
SPARK_TIMEOUT_SECONDS = 900
REL_TOL = 1e-9
# The optional dbt sources that Python assets write into DuckDB, with made-up but
# deterministic values (the columns of defs/predictions and lib/audiences): the Spark run must
# see them too. Every 10th contact is on the suppression list.
OPTIONAL_SOURCE_TABLES = (
    "create schema predictions",
    f"""
    create table predictions.customer_predictions as
    select
        contact_id,
        cast(count(distinct cast(ordered_at as date)) - 1 as bigint) as frequency,
        date_diff('day', min(ordered_at), max(ordered_at)) / 7.0 as recency,
        date_diff('day', min(ordered_at), date '{AS_OF_DATE}') / 7.0 as "T",
        cast(avg(amount) as double) as monetary_value,
        1.0 / (2 + count(*)) as p_alive,
        0.5 / (2 + count(*)) as p_purchase_365d,
        0.25 / (2 + count(*)) as expected_purchases_90d,
        1.0 / (2 + count(*)) as expected_purchases_365d,
        cast(avg(amount) as double) as expected_avg_order_value,
        cast(avg(amount) as double) / (2 + count(*)) as clv_12m,
        'MBG/NBD + Gamma-Gamma' as model,
        timestamp '{AS_OF_DATE} 23:00:00' as fitted_at,
        date '{AS_OF_DATE}' as observation_end
    from raw.orders
    where status = 'completed' and ordered_at < date '{AS_OF_DATE}' + 1
    group by contact_id
    """,
    "create schema audiences",
    """
    create table audiences.suppressed_contacts as
    select contact_id, md5(contact_id) as email_hmac
    from (select contact_id, row_number() over (order by contact_id) as n from raw.contacts)
    where n % 10 = 0
    """,
)
# (table, column) whose values differ between any two builds: only their types are compared
VOLATILE_COLUMNS = {("rpt_base_history", "recorded_at")}


def _type_kind(sql_type: str) -> str:
    """The kind of a DuckDB type name: widths and precisions may differ between engines."""
    name = sql_type.upper()
    if name in {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}:
        return "integer"
    if name.startswith("DECIMAL"):
        return "decimal"
    if name in {"FLOAT", "DOUBLE"}:
        return "floating"
    if name == "TIMESTAMP WITH TIME ZONE":
        return "timestamp with time zone"
    if name.startswith("TIMESTAMP"):
        return "timestamp"
    if name == "VARCHAR":
        return "text"
    return name.lower()


def _ingest_demo(root: Path) -> Path:
    """Generate the demo data and load it into ``root/warehouse.duckdb`` the way ingestion
    does (stage every source through its identity mapping, publish in one transaction), plus
    the optional source tables Python assets write (CLV predictions, suppressed contacts)."""
    landing = root / "landing"
    generate(landing, contacts=DEMO_CONTACTS, seed=SEED, fmt="parquet", as_of=DATA_END)
    warehouse = root / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        for source in SOURCES:
            ingest.stage_source(con, parse_mapping({"source": source}), landing)
        ingest.publish(con, list(SOURCES), run_id="spark-parity")
        for statement in OPTIONAL_SOURCE_TABLES:
            con.execute(statement)
    return warehouse


def _dbt_command(target: str) -> list[str]:
    # unit_tests=True: no exclusion from build_dbt_args; SELECTION excludes all tests itself
    args = build_dbt_args(DbtRunConfig(as_of_date=AS_OF_DATE, unit_tests=True), target=target)
    return [dbt_executable(), *args, *SELECTION, "--profiles-dir", ".", "--project-dir", "."]


def _dbt_env(root: Path, target: str, warehouse: Path, spark_env: dict) -> dict[str, str]:
    return {
        **os.environ,
        **spark_env,
        "REVEIL_WAREHOUSE": str(warehouse),
        "REVEIL_DBT_TARGET": target,
        # artifacts and logs of these builds stay in tmp, away from dbt/target
        "DBT_TARGET_PATH": str(root / f"target_{target}"),
        "DBT_LOG_PATH": str(root / f"logs_{target}"),
    }


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """Build the marts on DuckDB and on Spark from the same raw data; yield the paths."""
    root = tmp_path_factory.mktemp("spark_parity")
    warehouse = _ingest_demo(root)
    spark_dir = root / "spark"
    written = spark_raw.export_for_spark(warehouse, spark_dir, ensure_manifest())
    assert {"predictions.customer_predictions", "audiences.suppressed_contacts"} <= set(written)
    spark_env = spark_raw.dbt_env(written, spark_dir)

    spark_log = root / "dbt_spark.out"
    with spark_log.open("w") as out:
        # Spark first, in the background: its JVM starts while DuckDB builds
        spark = subprocess.Popen(
            _dbt_command("spark"),
            cwd=DBT_PROJECT_DIR,
            env=_dbt_env(root, "spark", warehouse, spark_env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            duck = subprocess.run(
                _dbt_command("duckdb"),
                cwd=DBT_PROJECT_DIR,
                env=_dbt_env(root, "duckdb", warehouse, spark_env),
                capture_output=True,
                text=True,
                check=False,
            )
            spark_code = spark.wait(timeout=SPARK_TIMEOUT_SECONDS)
        finally:
            if spark.poll() is None:
                spark.kill()
                spark.wait()
    assert duck.returncode == 0, f"dbt build on DuckDB failed:\n{duck.stdout[-4000:]}"
    assert spark_code == 0, f"dbt build on Spark failed:\n{_tail(spark_log)}"
    yield warehouse, spark_dir / "warehouse"


@pytest.fixture(scope="module")
def marts(builds):
    """{table: (duckdb relation sql, spark relation sql)} and a connection that reads both."""
    warehouse, spark_warehouse = builds
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"attach '{warehouse}' as duck (read_only)")
    duck_tables = {
        name
        for (name,) in con.execute(
            "select table_name from duckdb_tables() "
            "where database_name = 'duck' and schema_name = 'marts'"
        ).fetchall()
    }
    spark_tables = {
        folder.name for folder in (spark_warehouse / "marts.db").iterdir() if folder.is_dir()
    }
    relations = {
        name: (
            f'duck.marts."{name}"',
            f"read_parquet('{spark_warehouse / 'marts.db' / name}/**/*.parquet', "
            "hive_partitioning = true)",
        )
        for name in duck_tables & spark_tables
    }
    yield con, duck_tables, spark_tables, relations
    con.close()


def _columns(con, relation: str) -> dict[str, str]:
    return {
        name: column_type
        for name, column_type, *_ in con.execute(f"describe select * from {relation}").fetchall()
    }


def _same_value(kind: str, duck_value, spark_value) -> bool:
    if duck_value is None or spark_value is None:
        return duck_value is None and spark_value is None
    if kind == "floating":
        return math.isclose(duck_value, spark_value, rel_tol=REL_TOL, abs_tol=1e-12)
    if isinstance(duck_value, datetime) and isinstance(spark_value, datetime):
        return duck_value.replace(tzinfo=None) == spark_value.replace(tzinfo=None)
    if isinstance(duck_value, Decimal) or isinstance(spark_value, Decimal):
        return Decimal(str(duck_value)) == Decimal(str(spark_value))
    return duck_value == spark_value


def test_every_mart_is_built_on_both_targets(marts):
    _, duck_tables, spark_tables, _ = marts
    assert "dim_contact_inactivity" in duck_tables
    assert sorted(duck_tables - spark_tables) == [], "marts missing on Spark"
    assert sorted(spark_tables - duck_tables) == [], "marts missing on DuckDB"


def test_marts_have_the_same_columns_and_kinds_of_types(marts):
    con, _, _, relations = marts
    differences = []
    for table, (duck_relation, spark_relation) in sorted(relations.items()):
        duck_columns = _columns(con, duck_relation)
        spark_columns = _columns(con, spark_relation)
        for column in sorted(duck_columns.keys() | spark_columns.keys()):
            duck_type = duck_columns.get(column)
            spark_type = spark_columns.get(column)
            if duck_type is None or spark_type is None:
                differences.append(f"{table}.{column}: duckdb {duck_type}, spark {spark_type}")
            elif _type_kind(duck_type) != _type_kind(spark_type):
                differences.append(f"{table}.{column}: duckdb {duck_type}, spark {spark_type}")
    assert differences == []


def _value_differences(con, relations) -> list[str]:
    """One line per value (or row count) that differs between the two builds."""
    differences = []
    for table, (duck_relation, spark_relation) in sorted(relations.items()):
        duck_columns = _columns(con, duck_relation)
        spark_columns = _columns(con, spark_relation)
        columns = [
            column
            for column in duck_columns
            if column in spark_columns and (table, column) not in VOLATILE_COLUMNS
        ]
        kinds = {column: _type_kind(duck_columns[column]) for column in columns}
        # exact columns first: floating values a hair apart must not reorder the rows
        order = sorted(columns, key=lambda column: kinds[column] == "floating")
        select = ", ".join(f'"{column}"' for column in order)
        order_by = ", ".join(f'"{column}" nulls last' for column in order)
        duck_rows = con.execute(f"select {select} from {duck_relation} order by {order_by}")
        duck_rows = duck_rows.fetchall()
        spark_rows = con.execute(f"select {select} from {spark_relation} order by {order_by}")
        spark_rows = spark_rows.fetchall()
        if len(duck_rows) != len(spark_rows):
            differences.append(
                f"{table}: {len(duck_rows)} rows on duckdb, {len(spark_rows)} on spark"
            )
            continue
        for duck_row, spark_row in zip(duck_rows, spark_rows, strict=True):
            for column, duck_value, spark_value in zip(order, duck_row, spark_row, strict=True):
                if not _same_value(kinds[column], duck_value, spark_value):
                    differences.append(
                        f"{table}.{column} (row {duck_row[:2]}): duckdb {duck_value!r}, "
                        f"spark {spark_value!r}"
                    )
    return differences


def test_marts_have_the_same_rows_and_values(marts):
    con, _, _, relations = marts
    differences = _value_differences(con, relations)
    per_column = Counter(line.split(" ", 1)[0] for line in differences)
    summary = ", ".join(f"{column} x{count}" for column, count in sorted(per_column.items()))
    shown = "\n".join(differences[:25])
    assert not differences, f"{len(differences)} differences ({summary}); first:\n{shown}"


def test_the_comparison_is_not_vacuous(marts):
    """The demo data and snapshot date give rows to every mart that decides something."""
    con, _, _, relations = marts
    counts = {
        table: con.execute(f"select count(*) from {duck_relation}").fetchone()[0]
        for table, (duck_relation, _) in relations.items()
    }
    for table in (
        "dim_contact_inactivity",
        "dim_customer_rfm",
        "purge_candidates",
        "bounce_reenable_list",
        "sales_handoff",
        "rpt_reactivation_kpis",
        "rpt_reactivation_ab_tests",
    ):
        assert counts[table] > 0, table

"""lib/spark_raw: the dbt sources exported to Parquet for the dbt spark target (DuckDB only,
no Spark needed), and the dbt target chosen from the environment at run time."""

from __future__ import annotations

import json

import duckdb
import pytest

from dagster_project.lib import spark_raw
from dagster_project.lib.schema import SOURCES
from tests.dbt.raw_fixture import ROWS, write_fixture


@pytest.fixture
def warehouse(tmp_path):
    return write_fixture(tmp_path / "warehouse.duckdb")


def _parquet(path) -> list[tuple]:
    return duckdb.sql(f"select * from read_parquet('{path}/*.parquet') order by all").fetchall()


def test_every_raw_table_is_exported_with_its_rows_and_columns(warehouse, tmp_path):
    base = tmp_path / "spark"

    written = spark_raw.export_for_spark(warehouse, base)

    # the loader's record of moved orders is a raw source too (empty in the fixture)
    assert written == {f"raw.{name}": len(ROWS[name]) for name in SOURCES} | {
        "raw.orders_superseded": 0
    }
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for name in SOURCES:
            assert (
                _parquet(base / "raw" / name)
                == con.execute(f"select * from raw.{name} order by all").fetchall()
            )
    # timestamps stay timestamps without time zone (Spark reads them as timestamp_ntz)
    kinds = dict(
        duckdb.sql(
            f"select name, logical_type from parquet_schema('{base}/raw/orders/part-0.parquet')"
        ).fetchall()
    )
    assert "isAdjustedToUTC=0" in kinds["ordered_at"]


def test_optional_sources_are_exported_only_when_they_exist(warehouse, tmp_path):
    manifest = tmp_path / "manifest.json"
    sources = {
        "source.reveil.raw.orders": {"schema": "raw", "name": "orders", "identifier": "orders"},
        "source.reveil.predictions.customer_predictions": {
            "schema": "predictions",
            "name": "customer_predictions",
            "identifier": "customer_predictions",
        },
        "source.reveil.clv.customer_predictions": {
            "schema": "clv",
            "name": "customer_predictions",
            "identifier": "customer_predictions",
        },
    }
    manifest.write_text(json.dumps({"sources": sources}))
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema predictions")
        con.execute(
            "create table predictions.customer_predictions as "
            "select 'c01' as contact_id, 0.5 as p_alive"
        )

    written = spark_raw.export_for_spark(warehouse, tmp_path / "spark", manifest)

    assert written["predictions.customer_predictions"] == 1
    assert "clv.customer_predictions" not in written  # absent in DuckDB: absent on Spark
    assert set(written) >= {f"raw.{name}" for name in SOURCES}
    env = spark_raw.dbt_env(written, tmp_path / "spark")
    assert env == {
        "REVEIL_SPARK_WAREHOUSE": str(tmp_path / "spark"),
        "REVEIL_SPARK_OPTIONAL_SOURCES": "predictions.customer_predictions",
    }


def test_a_new_export_replaces_the_old_one_and_leaves_no_temporary_folder(warehouse, tmp_path):
    base = tmp_path / "spark"
    spark_raw.export_for_spark(warehouse, base)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from raw.orders where order_id <> 'o01'")

    written = spark_raw.export_for_spark(warehouse, base)

    assert written["raw.orders"] == 1
    assert len(_parquet(base / "raw" / "orders")) == 1
    assert sorted(path.name for path in (base / "raw").iterdir()) == sorted(
        [*SOURCES, "orders_superseded"]
    )


def test_a_missing_superseded_table_is_exported_empty_with_its_columns(tmp_path):
    base = tmp_path / "spark"
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con:
        written = spark_raw.export_sources(con, base, [("raw", "orders_superseded")])
    assert written == {"raw.orders_superseded": 0}
    columns = duckdb.sql(
        "select column_name from (describe select * from "
        f"read_parquet('{base}/raw/orders_superseded/*.parquet'))"
    ).fetchall()
    assert [c for (c,) in columns] == ["order_id", "contact_id", "ordered_at", "_superseded_at"]


def test_a_missing_raw_table_is_exported_empty_with_the_canonical_columns(tmp_path):
    base = tmp_path / "spark"
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con:
        written = spark_raw.export_sources(con, base, [("raw", "company_registry")])

    assert written == {"raw.company_registry": 0}
    columns = [
        name
        for (name,) in duckdb.sql(
            "select column_name from (describe select * from "
            f"read_parquet('{base}/raw/company_registry/*.parquet'))"
        ).fetchall()
    ]
    assert columns == SOURCES["company_registry"].column_names + ["_source_file", "_loaded_at"]


def test_paths_and_target_come_from_the_environment_when_asked(monkeypatch, tmp_path):
    monkeypatch.setenv("REVEIL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("REVEIL_SPARK_WAREHOUSE", raising=False)
    monkeypatch.delenv("REVEIL_DBT_TARGET", raising=False)
    assert spark_raw.spark_dir() == tmp_path / "data" / "spark"
    assert spark_raw.raw_dir() == tmp_path / "data" / "spark" / "raw"
    assert spark_raw.dbt_target() == "duckdb"
    assert not spark_raw.is_spark_target()

    monkeypatch.setenv("REVEIL_SPARK_WAREHOUSE", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("REVEIL_DBT_TARGET", "spark")
    assert spark_raw.spark_dir() == tmp_path / "elsewhere"
    assert spark_raw.is_spark_target()

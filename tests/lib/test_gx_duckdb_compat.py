"""gx_duckdb_compat: each patch is needed, works, and keeps GX on the SQL route.

Each "needed" test removes one patch (``revert`` then re-apply the others) and shows the
upstream failure; the autouse fixture puts every patch back afterwards.
"""

from __future__ import annotations

import duckdb
import great_expectations as gx
import pytest
import sqlalchemy as sa
from great_expectations.execution_engine import SqlAlchemyExecutionEngine

from dagster_project.lib import gx_duckdb_compat as compat


@pytest.fixture(autouse=True)
def patched():
    compat.apply()
    yield
    compat.apply()


@pytest.fixture
def db(tmp_path):
    """raw.items (non-default schema, like the warehouse) and main.plain: 10 rows, of which
    one null code, one amount out of range, one bad code, one duplicate id, one bad status."""
    path = tmp_path / "compat.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA raw")
    con.execute(
        """CREATE TABLE raw.items AS
        SELECT * FROM (VALUES
            (1, 'AB-001', 10.0, 'completed'),
            (2, 'AB-002', 20.0, 'completed'),
            (3, 'AB-003', 30.0, 'refunded'),
            (4, 'AB-004', 40.0, 'cancelled'),
            (5, NULL,     50.0, 'completed'),
            (6, 'AB-006', 999.0, 'completed'),
            (7, 'xx-007', 70.0, 'completed'),
            (8, 'AB-008', 80.0, 'completed'),
            (8, 'AB-009', 90.0, 'completed'),
            (10, 'AB-010', 100.0, 'lost')
        ) AS t(id, code, amount, status)"""
    )
    con.execute("CREATE TABLE main.plain AS SELECT * FROM raw.items")
    con.close()
    return path


@pytest.fixture
def sql_log():
    """Every SQL statement any SQLAlchemy engine sends while the test runs."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    yield statements
    sa.event.remove(sa.Engine, "before_cursor_execute", record)


def validate(path, expectation, schema="raw", table="items"):
    """One expectation through GX's SQL datasource on a read-only DuckDB engine."""
    context = gx.get_context(mode="ephemeral")
    datasource = context.data_sources.add_sql(
        name="duck",
        connection_string=compat.duckdb_url(path),
        kwargs=compat.READ_ONLY_ENGINE_KWARGS,
    )
    asset = datasource.add_table_asset(name="items", table_name=table, schema_name=schema)
    batch = asset.add_batch_definition_whole_table("all").get_batch()
    try:
        assert isinstance(batch.data.execution_engine, SqlAlchemyExecutionEngine)
        return batch.validate(expectation, result_format="BASIC")
    finally:
        datasource.get_execution_engine().close()
        datasource.get_engine().dispose()


def error_of(result) -> str:
    """All exception messages GX caught while computing a result."""
    info = result.exception_info or {}
    infos = [info] if "raised_exception" in info else list(info.values())
    return " | ".join(str(i.get("exception_message")) for i in infos if i.get("raised_exception"))


NOT_NULL = gx.expectations.ExpectColumnValuesToNotBeNull(column="code")
REGEX = gx.expectations.ExpectColumnValuesToMatchRegex(column="code", regex=r"^AB-[0-9]{3}$")


# --- the patches are needed ----------------------------------------------------------------


def test_without_persisted_connection_every_metric_fails(db):
    compat.revert()
    compat.patch_regex()
    compat.patch_column_metadata()
    result = validate(db, NOT_NULL)
    assert not result.success
    assert "list index out of range" in error_of(result)


def test_without_regex_patch_regex_is_not_supported(db):
    compat.revert()
    compat.patch_persisted_connection()
    compat.patch_column_metadata()
    result = validate(db, REGEX)
    assert "Regex is not supported for dialect duckdb" in error_of(result)


def test_without_column_metadata_patch_tables_outside_main_fail(db):
    compat.revert()
    compat.patch_persisted_connection()
    compat.patch_regex()
    result = validate(db, NOT_NULL)
    assert "does not exist" in error_of(result)
    # the same expectation on a table in the default schema is unaffected
    plain = validate(db, NOT_NULL, schema=None, table="plain")
    assert plain.exception_info["raised_exception"] is False


# --- the patches work ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expectation", "unexpected", "sample"),
    [
        (NOT_NULL, 1, None),
        (
            gx.expectations.ExpectColumnValuesToBeBetween(
                column="amount", min_value=0, max_value=500
            ),
            1,
            999.0,
        ),
        (REGEX, 1, "xx-007"),
        (gx.expectations.ExpectColumnValuesToBeUnique(column="id"), 2, 8),
        (
            gx.expectations.ExpectColumnValuesToBeInSet(
                column="status", value_set=["completed", "refunded", "cancelled"]
            ),
            1,
            "lost",
        ),
    ],
    ids=["not_null", "between", "regex", "unique", "in_set"],
)
def test_expectations_computed_as_sql(db, sql_log, expectation, unexpected, sample):
    result = validate(db, expectation)
    assert result.exception_info["raised_exception"] is False, error_of(result)
    assert result.success is False
    assert result.result["unexpected_count"] == unexpected
    if sample is not None:
        assert sample in result.result["partial_unexpected_list"]
    # pushed down: DuckDB counted the unexpected rows, nothing was loaded into pandas
    assert any("sum(CASE WHEN" in s for s in sql_log), sql_log
    assert any('FROM "raw"."items"' in s or "FROM raw.items" in s for s in sql_log)


def test_passing_expectations_pass(db):
    result = validate(
        db, gx.expectations.ExpectColumnValuesToMatchRegex(column="status", regex="^[a-z]+$")
    )
    assert result.success is True


def test_regex_uses_regexp_matches(db, sql_log):
    validate(db, REGEX)
    assert any("regexp_matches(" in s for s in sql_log)
    not_match = gx.expectations.ExpectColumnValuesToNotMatchRegex(column="code", regex="^xx")
    result = validate(db, not_match)
    assert result.result["unexpected_count"] == 1
    assert result.result["partial_unexpected_list"] == ["xx-007"]


def test_column_metadata_of_a_query(db):
    context = gx.get_context(mode="ephemeral")
    datasource = context.data_sources.add_sql(
        name="duck",
        connection_string=compat.duckdb_url(db),
        kwargs=compat.READ_ONLY_ENGINE_KWARGS,
    )
    asset = datasource.add_query_asset(name="q", query="SELECT * FROM raw.items WHERE id <= 4")
    batch = asset.add_batch_definition_whole_table("all").get_batch()
    try:
        result = batch.validate(REGEX)
        assert result.success is True, error_of(result)
        assert result.result["element_count"] == 4
        columns = batch.data.execution_engine.resolve_metrics(
            [
                gx.validator.metric_configuration.MetricConfiguration(
                    "table.column_types", metric_domain_kwargs={"batch_id": batch.id}
                )
            ]
        )
        types = {c["name"]: str(c["type"]) for c in next(iter(columns.values()))}
        assert types == {
            "id": "INTEGER",
            "code": "VARCHAR",
            "amount": "DECIMAL(4,1)",
            "status": "VARCHAR",
        }
    finally:
        datasource.get_execution_engine().close()
        datasource.get_engine().dispose()


# --- mechanics -----------------------------------------------------------------------------


def test_apply_is_idempotent():
    assert compat.is_applied()
    assert compat.apply() == {
        "persisted_connection": False,
        "regex": False,
        "column_metadata": False,
    }
    from great_expectations.execution_engine import sqlalchemy_execution_engine as engine_module

    duckdbs = [d for d in engine_module._PERSISTED_CONNECTION_DIALECTS if d == "duckdb"]
    assert len(duckdbs) == 1


def test_apply_after_revert_patches_every_holder():
    from great_expectations.expectations.metrics import util
    from great_expectations.expectations.metrics.column_map_metrics import (
        column_values_match_regex,
    )

    compat.revert()
    assert not compat.is_applied()
    assert compat.apply() == {
        "persisted_connection": True,
        "regex": True,
        "column_metadata": True,
    }
    assert (
        column_values_match_regex.get_dialect_regex_expression is util.get_dialect_regex_expression
    )
    assert hasattr(util.get_dialect_regex_expression, "__reveil_duckdb_wraps__")


def test_other_dialects_keep_gx_behaviour():
    from great_expectations.expectations.metrics import util

    # GX passes the dialect *module* for the dialects it knows
    expression = util.get_dialect_regex_expression(sa.column("c"), "^a", sa.dialects.postgresql)
    assert "~" in str(expression.compile(dialect=sa.dialects.postgresql.dialect()))


def test_engine_is_read_only(db):
    engine = sa.create_engine(compat.duckdb_url(db), **compat.READ_ONLY_ENGINE_KWARGS)
    try:
        with engine.connect() as connection, pytest.raises(sa.exc.DBAPIError, match="read-only"):
            connection.exec_driver_sql("CREATE TABLE t AS SELECT 1")
    finally:
        engine.dispose()


def test_engine_applies_duckdb_limits(db, tmp_path):
    """The gates' engine opens DuckDB read-only with the project's memory limit, threads and
    spill directory (DuckDB's default, 80 % of the RAM, let a 500 M-row gate run out)."""
    compat.apply()
    config = {"memory_limit": "1GB", "threads": 1, "temp_directory": str(tmp_path / "spill")}
    engine = sa.create_engine(compat.duckdb_url(db), **compat.read_only_engine_kwargs(config))
    try:
        with engine.connect() as conn:
            settings = dict(
                conn.exec_driver_sql(
                    "select name, value from duckdb_settings() "
                    "where name in ('memory_limit', 'threads', 'temp_directory', 'access_mode')"
                ).fetchall()
            )
    finally:
        engine.dispose()
    assert settings["access_mode"] == "read_only"
    assert settings["threads"] == "1"
    assert settings["temp_directory"] == str(tmp_path / "spill")
    assert settings["memory_limit"].startswith(("953.6 MiB", "1.0 GiB", "1000.0 MiB", "1.0 GB"))

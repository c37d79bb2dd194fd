"""Incremental dbt builds give the same tables as a full refresh, late data included.

Through Dagster (dagster-dbt), on the hand-made fixture: build at 2024-06-30; then a day of
new rows is loaded (loaded_at one day later): a click dated the new day, a human open and an
order dated months back (late-arriving), a click dated before the backtest snapshot (late, so
the backtest snapshot changes too), a completed order re-delivered as cancelled (its
contact has no completed order left) and an order re-delivered to another contact and day
(what it left must change too). The next day's build (2024-07-01) is incremental; a
``--full-refresh`` build of the same data must then give identical tables, and the
incremental build must have left the rows it had no reason to touch alone.
"""

from __future__ import annotations

import json
from datetime import datetime

import dagster as dg
import duckdb
import pytest

from tests.dbt.raw_fixture import LOADED_AT, ensure_manifest, write_fixture

ensure_manifest()

from dagster_project.defs.dbt import (  # noqa: E402  (the manifest must exist first)
    DbtRunConfig,
    dbt_resource,
    reveil_dbt_models,
)

DAY_1, DAY_2 = "2024-06-30", "2024-07-01"
LATE_LOADED_AT = datetime(2024, 7, 1, 23, 0)
# columns that differ between builds by design: when the build ran, and the source watermark
# kept on rows an incremental build did not rewrite
VOLATILE_COLUMNS = {
    "source_loaded_through",
    "orders_loaded_through",
    "counted_as_of_date",
    "built_as_of_date",
    "recorded_at",
}
# tables kept across builds (full_refresh = false): not rebuilt by --full-refresh
ACCUMULATED_TABLES = {"marts.rpt_base_history", "marts.audience_reactivation_history"}


def _build(as_of_date: str, *, full_refresh: bool = False) -> None:
    result = dg.materialize(
        [reveil_dbt_models],
        resources={"dbt": dbt_resource},
        run_config=dg.RunConfig(
            ops={
                "reveil_dbt_models": DbtRunConfig(as_of_date=as_of_date, full_refresh=full_refresh)
            }
        ),
        raise_on_error=False,
    )
    assert result.success
    failed = [c.check_name for c in result.get_asset_check_evaluations() if not c.passed]
    assert failed == []


def _load_day_2(warehouse) -> None:
    events = """insert into raw.email_events by name
        select ? as event_id, ? as campaign_id, ? as contact_id, ? as event_type,
            cast(? as timestamp) as occurred_at, false as is_machine_open,
            'landing/email_events/day2.csv' as _source_file, ? as _loaded_at"""
    with duckdb.connect(str(warehouse)) as con:
        for row in (
            ("d2_click", "n1", "c02", "click", "2024-07-01 10:00:00"),  # new day
            ("late_open", "n1", "c05", "open", "2024-03-01 10:00:00"),  # late, current only
            ("late_click", "n1", "c04", "click", "2023-05-01 10:00:00"),  # late, backtest too
            ("late_react", "r1a", "c06", "click", "2024-05-02 10:00:00"),  # late, reactivation
        ):
            con.execute(events, [*row, LATE_LOADED_AT])
        con.execute(
            """insert into raw.orders by name
            select 'late_order' as order_id, 'c05' as contact_id,
                timestamp '2024-02-01 10:00:00' as ordered_at, 99.5 as amount,
                'EUR' as currency, 'completed' as status,
                'landing/orders/day2.csv' as _source_file, ? as _loaded_at""",
            [LATE_LOADED_AT],
        )
        # the late order's basket (shoes + bags), and a bags line added late to o08's basket
        # (ordered 2024-04-01, loaded with the first day): both dates are recounted
        con.executemany(
            """insert into raw.order_lines by name
            select ? as order_id, ? as line_number, 'p2' as product_id,
                ? as product_category, 1 as quantity, 10.0 as unit_price,
                'landing/order_lines/day2.csv' as _source_file, ? as _loaded_at""",
            [
                ("late_order", 1, "Shoes", LATE_LOADED_AT),
                ("late_order", 2, "Bags", LATE_LOADED_AT),
                ("o08", 2, "Bags", LATE_LOADED_AT),
            ],
        )
        # the loader replaces a re-delivered order (same order_id): now cancelled
        con.execute(
            "update raw.orders set status = 'cancelled', _loaded_at = ? "
            "where contact_id = 'c01' and lower(status) = 'completed'",
            [LATE_LOADED_AT],
        )
        # o09 re-delivered to another contact and day (a CRM merge, a corrected date): the
        # loader keeps the contact and date it left (ingest.publish, tested in test_ingest)
        con.execute(
            "insert into raw.orders_superseded select order_id, contact_id, ordered_at, ? "
            "from raw.orders where order_id = 'o09'",
            [LATE_LOADED_AT],
        )
        con.execute(
            "update raw.orders set contact_id = 'c10', ordered_at = timestamp "
            "'2024-03-20 12:00:00', _loaded_at = ? where order_id = 'o09'",
            [LATE_LOADED_AT],
        )


def _tables(warehouse) -> dict[str, list[str]]:
    """Every intermediate and mart table: sorted rows, volatile columns left out."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema in ('intermediate', 'marts') and table_type = 'BASE TABLE' "
            "order by 1"
        ).fetchall()
        out = {}
        for (table,) in tables:
            schema, name = table.split(".")
            columns = [
                column
                for (column,) in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = ? and table_name = ? order by ordinal_position",
                    [schema, name],
                ).fetchall()
                if column not in VOLATILE_COLUMNS
            ]
            select = ", ".join(f'"{c}"' for c in columns)
            out[table] = sorted(map(repr, con.execute(f"select {select} from {table}").fetchall()))
    return out


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("incremental")
    warehouse = write_fixture(tmp / "warehouse.duckdb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVEIL_WAREHOUSE", str(warehouse))
        patch.setenv("DBT_TARGET_PATH", str(tmp / "target"))
        _build(DAY_1)
        _load_day_2(warehouse)
        _build(DAY_2)
        with duckdb.connect(str(warehouse), read_only=True) as con:
            watermarks = dict(
                con.execute(
                    "select contact_id, source_loaded_through "
                    "from intermediate.int_contact_orders_aggregated "
                    "where as_of_date = date '2024-04-30'"  # eve of the reactivation send
                ).fetchall()
            )
            count_watermarks = dict(
                con.execute(
                    "select ordered_date, max(source_loaded_through) "
                    "from intermediate.int_category_pairs_counted group by ordered_date"
                ).fetchall()
            )
            purchase_builds = dict(
                con.execute(
                    "select contact_id, max(built_as_of_date) "
                    "from intermediate.int_contact_categories_purchased group by contact_id"
                ).fetchall()
            )
            message_watermarks = dict(
                con.execute(
                    "select campaign_id, max(source_loaded_through) "
                    "from intermediate.int_reactivation_messages_aggregated group by campaign_id"
                ).fetchall()
            )
        incremental = _tables(warehouse)
        _build(DAY_2, full_refresh=True)
        full = _tables(warehouse)
        kept = (watermarks, count_watermarks, purchase_builds, message_watermarks)
        yield incremental, full, kept, warehouse


def test_incremental_build_equals_full_refresh(builds):
    incremental, full, *_ = builds
    assert set(incremental) == set(full)
    differ = [
        table
        for table in incremental
        if table not in ACCUMULATED_TABLES and incremental[table] != full[table]
    ]
    assert differ == []
    # the snapshot-dependent intermediates are really there and non-empty
    for table in (
        "intermediate.int_contact_orders_aggregated",
        "intermediate.int_contact_engagement_aggregated",
        "intermediate.int_customer_rfm_scored",
    ):
        assert full[table], table


def test_history_rows_of_the_day_equal_too(builds):
    incremental, full, *_ = builds
    for table in ACCUMULATED_TABLES:
        assert incremental[table] == full[table], table


def test_incremental_build_rewrote_only_affected_rows(builds):
    """At a past snapshot date the late order's contact and the contact the moved order went
    to were recomputed (new watermark); the one it left had no other order by then, so its
    row is gone; the others were left as they were (watermark of the first build)."""
    _, _, (watermarks, *_), _ = builds
    recomputed = {c for c, w in watermarks.items() if w == LATE_LOADED_AT}
    assert recomputed == {"c05", "c10"}
    assert "c09" not in watermarks
    untouched = {c: w for c, w in watermarks.items() if c not in recomputed}
    assert untouched and set(untouched.values()) == {LOADED_AT}


def test_incremental_build_recounted_only_affected_basket_days(builds):
    """The daily basket counts: the late order's day, o08's day (a line loaded late) and the
    new day of the moved o09 were recounted; the days of c01's order re-delivered as cancelled
    and the one o09 left have no basket left (gone); the other days kept the first build's
    counts (its watermark)."""
    _, full, (_, count_watermarks, *_), _ = builds
    recounted = {d.isoformat() for d, w in count_watermarks.items() if w == LATE_LOADED_AT}
    assert recounted == {"2024-02-01", "2024-04-01", "2024-03-20"}
    assert not {"2024-06-20", "2024-02-15"} & {d.isoformat() for d in count_watermarks}
    kept = {w for d, w in count_watermarks.items() if d.isoformat() not in recounted}
    assert kept == {LOADED_AT}
    # the late baskets reached the rules' counts: shoes + bags is now a pair
    assert any("'shoes', 'bags'" in row for row in full["intermediate.int_category_pairs_counted"])


def test_incremental_build_recomputed_only_affected_customers_categories(builds):
    """What each customer bought: c05 (late order), c08 (a line loaded late) and both
    contacts of the moved o09 were recomputed at the new snapshot date; c01 (its only
    completed order re-delivered as cancelled) has no row left; the other customers kept the
    first build's rows."""
    *_, (_, _, purchase_builds, _), _ = builds
    recomputed = {c for c, built in purchase_builds.items() if built.isoformat() == DAY_2}
    assert recomputed == {"c05", "c08", "c09", "c10"}
    assert "c01" not in purchase_builds
    kept = {built.isoformat() for c, built in purchase_builds.items() if c not in recomputed}
    assert kept == {DAY_1}


def test_incremental_build_recounted_only_affected_reactivation_campaigns(builds):
    """The reactivation messages: r1a (a click loaded late) was recounted; r1b kept the first
    build's rows (its watermark)."""
    *_, (*_, message_watermarks), _ = builds
    assert message_watermarks == {"r1a": LATE_LOADED_AT, "r1b": LOADED_AT}


def _dbt_tests(
    warehouse, tmp_path, *, test_all_loads: bool, model: str = "stg_raw__email_events"
) -> dict[str, str]:
    """Run dbt's tests of ``model``; {test name: status}."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVEIL_WAREHOUSE", str(warehouse))
        patch.setenv("DBT_TARGET_PATH", str(tmp_path / f"target_{model}_{test_all_loads}"))
        invocation = dbt_resource.cli(
            [
                "test",
                "--select",
                model,
                "--exclude",
                "resource_type:unit_test",
                "--vars",
                json.dumps({"as_of_date": DAY_2, "test_all_loads": test_all_loads}),
            ],
            raise_on_error=False,
        )
        invocation.wait()
        results = invocation.get_artifact("run_results.json")["results"]
    return {r["unique_id"].split(".")[2]: r["status"] for r in results}


def test_event_tests_check_the_latest_load_unless_asked_for_all(builds, tmp_path):
    """A duplicated key among rows of an earlier load is not the day's business (the loader
    upserts by key; the gate checked that delivery); test_all_loads finds it."""
    *_, warehouse = builds
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "insert into raw.email_events select * from raw.email_events "
            "where event_id = (select min(event_id) from raw.email_events where _loaded_at = ?)",
            [LOADED_AT],
        )
    latest = _dbt_tests(warehouse, tmp_path, test_all_loads=False)
    every = _dbt_tests(warehouse, tmp_path, test_all_loads=True)
    name = "unique_stg_raw__email_events_event_id"
    assert latest[name] == "pass"
    assert every[name] == "fail"


def test_composite_key_test_finds_a_repeated_key(builds, tmp_path):
    """unique_combination_of_columns (hash of the key first, then the exact key) fails on a
    row repeated in a table, and passes again once it is gone."""
    *_, warehouse = builds
    name = (
        "unique_combination_of_columns_int_category_pairs_counted_"
        "ordered_date__antecedent_category__consequent_category"
    )
    table = "intermediate.int_category_pairs_counted"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"create table main.pairs_backup as select * from {table}")
        con.execute(f"insert into {table} select * from {table} limit 1")
    try:
        failing = _dbt_tests(
            warehouse, tmp_path, test_all_loads=False, model="int_category_pairs_counted"
        )
    finally:
        with duckdb.connect(str(warehouse)) as con:
            con.execute(f"delete from {table}")
            con.execute(f"insert into {table} select * from main.pairs_backup")
            con.execute("drop table main.pairs_backup")
    passing = _dbt_tests(
        warehouse, tmp_path, test_all_loads=True, model="int_category_pairs_counted"
    )
    assert [failing[t] for t in failing if t.startswith(name)] == ["fail"]
    assert [passing[t] for t in passing if t.startswith(name)] == ["pass"]


def test_snapshot_key_test_checks_the_rows_of_the_latest_build(builds, tmp_path):
    """The key test of an incremental snapshot table checks the rows its latest build wrote
    (the newest source_loaded_through): a repeated row an earlier build wrote (an older
    watermark) is found only with test_all_loads; a repeated row of the latest build fails
    the daily test."""
    *_, warehouse = builds
    table = "intermediate.int_contact_orders_aggregated"
    model = "int_contact_orders_aggregated"
    name = "unique_combination_of_columns_int_contact_orders_aggregated_as_of_date__contact_id"

    def repeat_one_row(watermark: datetime | None) -> dict[str, str]:
        """Statuses of the key test once one row (given this watermark) is repeated."""
        key = "rowid = (select min(rowid) from {0})"
        with duckdb.connect(str(warehouse)) as con:
            con.execute(f"create table main.orders_backup as select * from {table}")
            if watermark is not None:
                con.execute(
                    f"update {table} set source_loaded_through = ? where {key.format(table)}",
                    [watermark],
                )
            inserted = con.execute(
                f"insert into {table} select * from {table} where {key.format(table)}"
            ).fetchone()[0]
        try:
            assert inserted == 1
            target = tmp_path / f"repeated_{watermark is None}"
            latest = _dbt_tests(warehouse, target, test_all_loads=False, model=model)
            every = _dbt_tests(warehouse, target, test_all_loads=True, model=model)
        finally:
            with duckdb.connect(str(warehouse)) as con:
                con.execute(f"delete from {table}")
                con.execute(f"insert into {table} select * from main.orders_backup")
                con.execute("drop table main.orders_backup")
        return {
            "latest": next(s for t, s in latest.items() if t.startswith(name)),
            "every": next(s for t, s in every.items() if t.startswith(name)),
        }

    assert repeat_one_row(LOADED_AT) == {"latest": "pass", "every": "fail"}
    assert repeat_one_row(None) == {"latest": "fail", "every": "fail"}

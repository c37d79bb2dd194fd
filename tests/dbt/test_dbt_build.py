"""The dbt project built through Dagster (dagster-dbt) on the hand-made raw schema.

One ``materialize`` of every dbt asset per module (~15 s: dagster-dbt start-up and
``dbt build`` with its tests and unit tests) into a tmp DuckDB; the tests then read the
marts. Expected values are worked out in ``raw_fixture.py``'s docstring.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tests.dbt.raw_fixture import AS_OF_DATE, ensure_manifest, write_fixture

ensure_manifest()

from dagster_project.defs.dbt import (  # noqa: E402  (the manifest must exist first)
    DbtRunConfig,
    dbt_resource,
    defs,
    reveil_dbt_models,
)

Z_95 = 1.959963984540054


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Build every dbt asset once; yield (result, read-only connection to the warehouse)."""
    tmp = tmp_path_factory.mktemp("dbt_build")
    warehouse = write_fixture(tmp / "warehouse.duckdb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVEIL_WAREHOUSE", str(warehouse))
        # dbt artifacts and logs of this invocation go to tmp, not dbt/target
        patch.setenv("DBT_TARGET_PATH", str(tmp / "target"))
        result = dg.materialize(
            [reveil_dbt_models],
            resources={"dbt": dbt_resource},
            run_config=dg.RunConfig(
                ops={"reveil_dbt_models": DbtRunConfig(as_of_date=AS_OF_DATE, unit_tests=True)}
            ),
            raise_on_error=False,
        )
        with duckdb.connect(str(warehouse), read_only=True) as con:
            yield result, con


def rows(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_build_succeeds_with_every_dbt_test_passing(built):
    result, _ = built
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks, "dbt tests should be reported as asset checks"
    failed = [c.check_name for c in checks if not c.passed]
    assert failed == []


def test_models_land_in_their_layer_schemas(built):
    _, con = built
    schemas = {
        schema
        for (schema,) in rows(
            con,
            "select distinct table_schema from information_schema.tables "
            "where table_schema <> 'raw'",
        )
    }
    assert {"staging", "intermediate", "marts", "seeds"} <= schemas
    assert not any(schema.startswith("main_") for schema in schemas)


def test_marts_report_their_row_counts(built):
    result, _ = built
    counts = {
        tuple(event.asset_key.path): event.materialization.metadata["dagster/row_count"].value
        for event in result.get_asset_materialization_events()
        if "dagster/row_count" in event.materialization.metadata
    }
    assert counts[("marts", "dim_contact_inactivity")] == 12
    assert counts[("marts", "dim_customer_rfm")] == 11  # every contact but c05 bought
    assert counts[("marts", "rpt_segment_reactivation_backtest")] == 11  # one per segment
    assert all(key[0] == "marts" for key in counts)


def test_status_and_reason_of_every_contact(built):
    _, con = built
    got = {
        contact: (status, reason)
        for contact, status, reason in rows(
            con,
            "select contact_id, inactivity_status, inactivity_reason "
            "from marts.dim_contact_inactivity",
        )
    }
    assert got == {
        "c01": ("active", None),
        "c02": ("at_risk", None),
        "c03": ("inactive", "lost_interest"),
        "c04": ("lost", "dead_address"),
        "c05": ("lost", "never_engaged"),
        "c06": ("inactive", "deliverability"),  # machine opens only
        "c07": ("inactive", "company_closed"),
        "c08": ("at_risk", None),  # B2B: 90 days is half its window
        "c09": ("at_risk", None),
        "c10": ("inactive", "deliverability"),  # spam complaint
        "c11": ("inactive", "unknown"),
        "c12": ("lost", "dead_address"),
    }


def test_inactivity_details_of_c03(built):
    _, con = built
    [row] = rows(
        con,
        "select days_since_last_purchase, days_since_last_human_open, inactive_since_date, "
        "is_purchase_inactive, is_email_inactive, revenue_at_stake, average_basket_amount, "
        "lifetime_revenue, as_of_date "
        "from marts.dim_contact_inactivity where contact_id = 'c03'",
    )
    days_purchase, days_open, since, purchase_inactive, email_inactive, *money, as_of = row
    assert (days_purchase, days_open) == (121, 29)
    assert str(since) == "2024-05-30"  # 2024-03-01 + 90 days
    assert purchase_inactive and not email_inactive  # still opens, no longer buys
    # value at stake: only the order of the 12 months up to 2024-03-01 (100), not 2023-01-01
    assert [float(value) for value in money] == [100.0, 70.0, 140.0]
    assert str(as_of) == AS_OF_DATE


def test_backtest_per_segment(built):
    _, con = built
    got = {
        segment: (n, k, rate, low, high, str(backtest_date), complete)
        for segment, n, k, rate, low, high, backtest_date, complete in rows(
            con,
            "select rfm_segment, inactive_customer_count, reactivated_customer_count, "
            "reactivation_rate, reactivation_rate_lower_95, reactivation_rate_upper_95, "
            "backtest_as_of_date, is_outcome_window_complete "
            "from marts.rpt_segment_reactivation_backtest",
        )
    }
    assert got["about_to_sleep"][:3] == (1, 1, 1.0)
    assert got["at_risk"][:3] == (2, 1, 0.5)
    assert got["at_risk"][5:] == ("2023-07-01", True)
    assert got["champions"][:4] == (0, 0, None, None)
    for segment, (k, n) in {"about_to_sleep": (1, 1), "at_risk": (1, 2)}.items():
        low, high = _wilson(k, n)
        assert got[segment][3] == pytest.approx(low, abs=1e-12)
        assert got[segment][4] == pytest.approx(high, abs=1e-12)


def _wilson(k: int, n: int, z: float = Z_95) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_reactivation_kpis_of_step_1(built):
    _, con = built
    got = {
        variant: values
        for variant, *values in rows(
            con,
            "select variant, sent_count, delivered_count, human_open_count, click_count, "
            "bounce_count, complaint_count, conversion_count, attributed_revenue, message_cost, "
            "roi "
            "from marts.rpt_reactivation_kpis where aggregation_level = 'step_variant'",
        )
    }
    # A: c03 (human open), c06 (machine open only), c09 (open, click, order 45 EUR)
    sent, delivered, opens, clicks, bounces, complaints, conversions, revenue, cost, roi = got["A"]
    assert (sent, delivered, opens, clicks, bounces, complaints, conversions) == (
        3,
        3,
        2,
        1,
        0,
        0,
        1,
    )
    assert (float(revenue), float(cost)) == (45.0, 0.3)
    assert roi == pytest.approx((45 - 0.3) / 0.3)
    # B: c10 complained, c12 hard-bounced
    assert got["B"][:7] == [2, 1, 0, 0, 1, 1, 0]
    [overall] = rows(
        con,
        "select sent_count, conversion_count from marts.rpt_reactivation_kpis "
        "where aggregation_level = 'overall'",
    )
    assert overall == (5, 1)


def test_ab_test_of_step_1(built):
    _, con = built
    [row] = rows(
        con,
        "select reactivation_step, variant_a_conversion_rate, variant_b_conversion_rate, "
        "is_significant from marts.rpt_reactivation_ab_tests",
    )
    step, rate_a, rate_b, significant = row
    assert (step, float(rate_a), float(rate_b), significant) == (1, 0.333333, 0.0, False)


def test_inactive_summary(built):
    _, con = built
    got = {
        (dimension, value): (count, float(revenue))
        for dimension, value, count, revenue in rows(
            con,
            "select dimension, dimension_value, inactive_contact_count, revenue_at_stake "
            "from marts.rpt_inactive_contacts_summary",
        )
    }
    assert got[("overall", "all")] == (8, 1560.0)
    assert got[("inactivity_status", "lost")] == (3, 220.0)  # c04 200, c05 0, c12 20
    assert got[("inactivity_reason", "company_closed")] == (1, 1000.0)
    assert got[("business_cycle", "b2b_long")] == (1, 1000.0)
    assert got[("industry", "unknown")] == (1, 0.0)  # c05 has no industry


def test_asset_keys_groups_and_lineage():
    specs = {spec.key: spec for spec in reveil_dbt_models.specs}
    orders = specs[dg.AssetKey(["staging", "stg_raw__orders"])]
    assert orders.group_name == "staging"
    assert {dep.asset_key for dep in orders.deps} == {dg.AssetKey(["raw", "orders"])}
    mart = specs[dg.AssetKey(["marts", "dim_contact_inactivity"])]
    assert mart.group_name == "marts"
    assert mart.owners == ["team:analytics"]
    assert {"dbt", "duckdb"} <= set(mart.kinds)
    assert mart.description.startswith("Every contact at the current snapshot")
    assert specs[dg.AssetKey(["seeds", "rfm_segment_map"])].group_name == "seeds"
    assert {key.path[0] for key in specs} == {"staging", "intermediate", "marts", "seeds"}
    # the run config is the only way to override a threshold: one field per dbt var
    assert defs.resolve_assets_def(dg.AssetKey(["marts", "dim_customer_rfm"])) is not None


def _join_operators(con, sql: str) -> list[str]:
    """The join operators of DuckDB's physical plan of ``sql``."""
    plan = con.execute("explain (format json) " + sql).fetchall()

    def walk(node):
        name = node.get("name", "")
        if "JOIN" in name:
            yield name
        for child in node.get("children", []):
            yield from walk(child)

    return [name for _, tree in plan for root in json.loads(tree) for name in walk(root)]


@pytest.mark.parametrize(
    "model", ["int_contact_engagement_aggregated", "int_contact_orders_aggregated"]
)
def test_snapshot_date_joins_are_nested_loops(built, model):
    """The snapshot models raise DuckDB's nested-loop threshold while they build, and reset it
    after (macros/snapshot_increment.sql): their range joins to the snapshot dates then stream
    the other side instead of sorting it for a merge join."""
    _, con = built
    warehouse = con.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchone()[0]
    target = next((Path(warehouse).parent / "target").glob("*/manifest.json")).parent
    node = json.loads((target / "manifest.json").read_text())["nodes"][f"model.reveil.{model}"]
    pre_hooks = [hook["sql"] for hook in node["config"]["pre-hook"]]
    post_hooks = [hook["sql"] for hook in node["config"]["post-hook"]]
    assert pre_hooks == ["set session nested_loop_join_threshold = 64"]
    assert post_hooks[-1] == "reset session nested_loop_join_threshold"

    sql = next(target.glob(f"compiled/reveil/models/**/{model}.sql")).read_text()
    with con.cursor() as cursor:
        # below any estimate: what DuckDB does when it estimates the dates above its default
        cursor.execute("set session nested_loop_join_threshold = 0")
        unhooked = _join_operators(cursor, sql)
        cursor.execute(pre_hooks[0])
        hooked = _join_operators(cursor, sql)
    assert "PIECEWISE_MERGE_JOIN" in unhooked
    assert "PIECEWISE_MERGE_JOIN" not in hooked
    assert "NESTED_LOOP_JOIN" in hooked


def test_snapshot_counts_and_revenues_are_stored_narrow(built):
    """Running sums come out of DuckDB as HUGEINT and DECIMAL(38, 2); the snapshot models store
    them as BIGINT and DECIMAL(18, 2), which cuts the CPU of the RFM ntile sorts by ~40 %."""
    _, con = built
    types = dict(
        rows(
            con,
            "select table_name || '.' || column_name, data_type from duckdb_columns() "
            "where schema_name = 'intermediate' and table_name in ("
            "'int_contact_orders_aggregated', 'int_contact_engagement_aggregated', "
            "'int_customer_rfm_scored', 'int_contact_inactivity_classified')",
        )
    )
    assert not [c for c, t in types.items() if t == "HUGEINT" or t.startswith("DECIMAL(38")]
    assert types["int_customer_rfm_scored.frequency"] == "BIGINT"
    assert types["int_customer_rfm_scored.monetary"] == "DECIMAL(18,2)"
    assert types["int_contact_engagement_aggregated.delivered_message_count"] == "BIGINT"
    assert types["int_contact_inactivity_classified.revenue_at_stake"] == "DECIMAL(18,2)"

"""predictions/customer_predictions: the CLV scores in the warehouse, and the marts joining them.

* ``built`` (module fixture, ~40 s): 500 generated contacts whose history ends on AS_OF, then
  one Dagster ``materialize`` of the ingestion assets, the predictions asset and every dbt
  asset, with ``as_of_date`` given to dbt only (the predictions follow it). The tests read the
  table, the asset's metadata and the marts.
* Tiny data: the dbt test fixture (12 contacts) through the asset: NULL predictions, a
  warning, the run goes on.
* Pure functions: the observation-end resolution, P(purchase within t) against a simulation,
  a failed Gamma-Gamma fit.
* The report and the mart metadata with the prediction columns (hand-made marts).
"""

import datetime as dt

import dagster as dg
import duckdb
import numpy as np
import pytest

from dagster_project.defs import ingestion, predictions
from dagster_project.defs.resources import WarehouseResource
from dagster_project.generate import generate
from dagster_project.lib import clv, mart_metadata, report
from dagster_project.lib.clv.simulate import simulate_beta_geo
from tests.dbt.raw_fixture import ORDERS, ROWS, _order, ensure_manifest, write_fixture
from tests.lib.test_report import GENERATED_AT, create_marts

ensure_manifest()

from dagster_project.defs.dbt import (  # noqa: E402  (the manifest must exist first)
    DbtRunConfig,
    dbt_resource,
    reveil_dbt_models,
)

AS_OF = dt.date(2025, 6, 30)
TABLE = "predictions.customer_predictions"


def _metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    events = [
        e.materialization for e in result.get_asset_materialization_events() if e.asset_key == key
    ]
    assert len(events) == 1, key
    return events[0].metadata


def _value(metadata: dict, key: str):
    value = metadata[key]
    return value.md_str if isinstance(value, dg.MarkdownMetadataValue) else value.value


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Generated data -> raw -> predictions -> dbt, in one run; yield (result, connection)."""
    tmp = tmp_path_factory.mktemp("predictions")
    warehouse = tmp / "data" / "warehouse" / "reveil.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVEIL_DATA_DIR", str(tmp / "data"))
        patch.setenv("REVEIL_WAREHOUSE", str(warehouse))
        patch.delenv("REVEIL_LANDING_DIR", raising=False)
        patch.delenv("REVEIL_MAPPINGS_DIR", raising=False)
        patch.setenv("DBT_TARGET_PATH", str(tmp / "target"))
        generate(tmp / "data" / "landing", contacts=500, seed=11, as_of=AS_OF)
        result = dg.materialize(
            [
                *ingestion.staged_assets,
                ingestion.publish_raw,
                predictions.customer_predictions,
                reveil_dbt_models,
            ],
            resources={"duckdb": WarehouseResource(database=str(warehouse)), "dbt": dbt_resource},
            run_config=dg.RunConfig(
                ops={"reveil_dbt_models": DbtRunConfig(as_of_date=AS_OF.isoformat())}
            ),
            raise_on_error=False,
        )
        with duckdb.connect(str(warehouse), read_only=True) as con:
            yield result, con


# --- the asset on generated data ---------------------------------------------------------------


def test_the_run_succeeds(built):
    result, _ = built
    assert result.success
    failed = [c.check_name for c in result.get_asset_check_evaluations() if not c.passed]
    assert failed == []


def test_table_has_the_columns_and_one_row_per_customer(built):
    _, con = built
    columns = [row[0] for row in con.execute(f"describe {TABLE}").fetchall()]
    assert tuple(columns) == predictions.COLUMN_NAMES
    customers = con.execute(
        """
        select count(distinct contact_id) from raw.orders
        where lower(trim(status)) = 'completed' and contact_id not like 'purged:%'
            and cast(ordered_at as date) <= ?
            and contact_id in (select contact_id from raw.contacts)
        """,
        [AS_OF],
    ).fetchone()[0]
    rows, distinct, purged = con.execute(
        f"select count(*), count(distinct contact_id), "
        f"count(*) filter (where contact_id like 'purged:%') from {TABLE}"
    ).fetchone()
    assert customers > 300
    assert rows == distinct == customers
    assert purged == 0


def test_frequency_counts_repeat_purchase_days(built):
    _, con = built
    purchase_days = con.execute(
        """
        select count(distinct (contact_id, cast(ordered_at as date))) from raw.orders
        where lower(trim(status)) = 'completed' and contact_id not like 'purged:%'
            and cast(ordered_at as date) <= ?
            and contact_id in (select contact_id from raw.contacts)
        """,
        [AS_OF],
    ).fetchone()[0]
    assert con.execute(f"select sum(frequency + 1) from {TABLE}").fetchone()[0] == purchase_days


def test_scores_are_bounded_and_one_time_buyers_can_be_gone(built):
    _, con = built
    row = con.execute(
        f"""
        select
            count(*) filter (where p_alive is null or p_alive < 0 or p_alive > 1),
            count(*) filter (where p_purchase_365d > p_alive + 1e-12),
            count(*) filter (where expected_purchases_365d < expected_purchases_90d),
            count(*) filter (where clv_12m is null or clv_12m < 0),
            count(distinct observation_end), min(observation_end), any_value(model),
            count(*) filter (where frequency = 0),
            max(p_alive) filter (where frequency = 0)
        from {TABLE}
        """
    ).fetchone()
    out_of_range, purchase_above_alive, purchases_shrink, bad_clv = row[:4]
    n_dates, observation_end, model, one_time_buyers, top_one_time = row[4:]
    assert (out_of_range, purchase_above_alive, purchases_shrink, bad_clv) == (0, 0, 0, 0)
    assert (n_dates, observation_end, model) == (1, AS_OF, "MBG/NBD + Gamma-Gamma")
    assert one_time_buyers > 0
    assert top_one_time < 1  # MBG/NBD: a one-time buyer may be gone (BG/NBD would say 1)
    # among one-time buyers, the longer ago the purchase, the lower P(alive)
    ordered = con.execute(
        f"select p_alive from {TABLE} where frequency = 0 order by T, contact_id"
    ).fetchall()
    values = [p for (p,) in ordered]
    assert all(a >= b - 1e-12 for a, b in zip(values, values[1:], strict=False))


def test_metadata_has_parameters_likelihoods_and_the_holdout_table(built):
    result, con = built
    metadata = _metadata(result, predictions.PREDICTIONS_KEY)

    assert _value(metadata, "status") == "fitted"
    assert _value(metadata, "observation_end") == AS_OF.isoformat()
    assert _value(metadata, "observation_end_from") == "dbt run config"
    assert set(_value(metadata, "parameters_mbgnbd")) == {"r", "alpha", "a", "b"}
    assert set(_value(metadata, "parameters_bgnbd")) == {"r", "alpha", "a", "b"}
    assert set(_value(metadata, "parameters_gamma_gamma")) == {"p", "q", "gamma"}
    for model in ("mbgnbd", "bgnbd", "gamma_gamma"):
        assert _value(metadata, f"log_likelihood_{model}") < 0
    holdout = _value(metadata, "calibration_holdout")
    assert "**Calibration** to 2024-12-30" in holdout  # 182 days before AS_OF
    assert "| frequency (cal.) | customers | actual |" in holdout
    assert "| MBG/NBD |" in holdout and "| BG/NBD |" in holdout
    assert "| 7+ |" in holdout
    scored, mean_p_alive, total_clv = con.execute(
        f"select count(p_alive), avg(p_alive), sum(clv_12m) from {TABLE}"
    ).fetchone()
    assert _value(metadata, "customers_scored") == scored
    assert _value(metadata, "mean_p_alive") == pytest.approx(mean_p_alive, abs=1e-4)
    assert _value(metadata, "total_clv_12m_eur") == pytest.approx(total_clv, abs=0.01)
    # BG/NBD is reported, never used: its one-time buyers are all alive
    assert _value(metadata, "mean_p_alive_bgnbd") > _value(metadata, "mean_p_alive") - 0.5
    assert "one-time buyers" in _value(metadata, "p_alive_by_frequency")


# --- the marts, built by dbt in the same run ---------------------------------------------------


def test_holdout_diagnostics_run_at_most_every_n_days_of_observation_end(built, tmp_path):
    """Through Dagster, one instance: computed at AS_OF, skipped (and the date carried) the
    next day, computed again a week later, and on every run with diagnostics_every_days=0."""
    import shutil

    _, con = built
    database = con.execute(
        "select path from duckdb_databases() where database_name = current_database()"
    ).fetchone()[0]
    copy = tmp_path / "w.duckdb"
    shutil.copy(database, copy)
    instance = dg.DagsterInstance.ephemeral()

    def run(day: dt.date, every: int = 7) -> dict:
        config = predictions.PredictionsConfig(
            as_of_date=day.isoformat(), diagnostics_every_days=every
        )
        result = dg.materialize(
            [predictions.customer_predictions],
            resources={"duckdb": WarehouseResource(database=str(copy))},
            run_config=dg.RunConfig(ops={"predictions__customer_predictions": config}),
            instance=instance,
        )
        return _metadata(result, predictions.PREDICTIONS_KEY)

    first = run(AS_OF)
    assert "**Calibration**" in _value(first, "calibration_holdout")
    assert _value(first, predictions.DIAGNOSTICS_END_KEY) == AS_OF.isoformat()
    next_day = run(AS_OF + dt.timedelta(days=1))
    assert _value(next_day, "calibration_holdout").startswith("_skipped_: computed for ")
    assert "holdout_error_pct_mbgnbd" not in next_day
    assert _value(next_day, predictions.DIAGNOSTICS_END_KEY) == AS_OF.isoformat()
    week_later = run(AS_OF + dt.timedelta(days=7))
    assert "**Calibration**" in _value(week_later, "calibration_holdout")
    every_run = run(AS_OF + dt.timedelta(days=7), every=0)
    assert "**Calibration**" in _value(every_run, "calibration_holdout")


def test_diagnostics_due():
    day = dt.date(2025, 6, 30)
    assert predictions.diagnostics_due(None, day, 7) is None
    assert predictions.diagnostics_due(day, day, 0) is None
    assert "2025-06-24" in predictions.diagnostics_due(dt.date(2025, 6, 24), day, 7)
    assert predictions.diagnostics_due(dt.date(2025, 6, 23), day, 7) is None
    assert predictions.diagnostics_due(dt.date(2025, 7, 1), day, 7) is None  # a backfill


def test_dim_contact_inactivity_carries_the_predictions(built):
    _, con = built
    row = con.execute(
        """
        select
            count(*) filter (where completed_order_count > 0),
            count(p_alive) filter (where completed_order_count > 0),
            count(p_alive) filter (where completed_order_count = 0),
            count(*) filter (where is_inactive and completed_order_count > 0
                and abs(predicted_value_at_stake - p_alive * clv_12m) > 1e-6),
            count(*) filter (where not is_inactive and predicted_value_at_stake <> 0),
            count(predicted_value_at_stake),
            count(*)
        from marts.dim_contact_inactivity
        """
    ).fetchone()
    customers, scored, prospects_scored, wrong_value, awake_valued, valued, contacts = row
    assert customers > 0 and scored == customers
    assert prospects_scored == 0
    assert (wrong_value, awake_valued) == (0, 0)
    assert valued == contacts


def test_summary_and_backtest_show_the_models_view(built):
    _, con = built
    predicted, revenue, scored, mean_p_alive = con.execute(
        """
        select predicted_value_at_stake, revenue_at_stake, scored_customer_count, mean_p_alive
        from marts.rpt_inactive_contacts_summary where dimension = 'overall'
        """
    ).fetchone()
    expected = con.execute(
        """
        select sum(predicted_value_at_stake), count(p_alive), avg(p_alive)
        from marts.dim_contact_inactivity where is_inactive
        """
    ).fetchone()
    assert predicted > 0 and revenue > 0
    assert (predicted, scored) == (pytest.approx(expected[0]), expected[1])
    assert mean_p_alive == pytest.approx(expected[2])
    rows = con.execute(
        """
        select rfm_segment, current_inactive_customer_count, current_mean_p_alive,
            current_mean_p_purchase_365d
        from marts.rpt_segment_reactivation_backtest
        """
    ).fetchall()
    with_sleepers = [r for r in rows if r[1] > 0]
    assert with_sleepers
    for _, _, p_alive, p_purchase in with_sleepers:
        assert 0 <= p_purchase <= p_alive <= 1
    assert (
        sum(r[1] for r in rows)
        == con.execute(
            "select count(*) from marts.dim_contact_inactivity "
            "where is_inactive and completed_order_count > 0"
        ).fetchone()[0]
    )


def test_lineage_is_one_graph():
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    node = graph.get(predictions.PREDICTIONS_KEY)
    assert node.group_name == "predictions"
    assert node.parent_keys == {dg.AssetKey(["raw", "orders"]), dg.AssetKey(["raw", "contacts"])}
    assert dg.AssetKey(["staging", "stg_predictions__customer_predictions"]) in node.child_keys
    assert node.pools == {"duckdb_writer"}
    assert (
        "predictions__customer_predictions"
        in defs.resolve_job_def("reveil_daily").graph.node_names()
    )


# --- tiny data -----------------------------------------------------------------------------


def test_tiny_data_writes_null_predictions_with_a_warning(tmp_path):
    """The dbt fixture: 11 customers, 1 repeat customer. A purged pseudonym's order and a
    cancelled order are left out; the run succeeds."""
    rows = {**ROWS, "orders": [*ORDERS, _order("o-purged", "purged:abc", "2024-06-01 10:00", 50)]}
    warehouse = write_fixture(tmp_path / "tiny.duckdb", rows)

    result = dg.materialize(
        [predictions.customer_predictions],
        resources={"duckdb": WarehouseResource(database=str(warehouse))},
        run_config=dg.RunConfig(
            ops={
                "predictions__customer_predictions": predictions.PredictionsConfig(
                    as_of_date="2024-06-30"
                )
            }
        ),
    )

    assert result.success
    metadata = _metadata(result, predictions.PREDICTIONS_KEY)
    assert _value(metadata, "status") == "not_fitted"
    assert _value(metadata, "observation_end_from") == "config"
    assert "too little data" in _value(metadata, "warnings")
    assert _value(metadata, "customers_scored") == 0
    assert "calibration_holdout" not in metadata
    with duckdb.connect(str(warehouse), read_only=True) as con:
        table = con.execute(
            f"select contact_id, frequency, recency, T, p_alive, clv_12m, model "
            f"from {TABLE} order by contact_id"
        ).fetchall()
    ids = [row[0] for row in table]
    assert ids == ["c01", "c02", "c03", "c04", "c06", "c07", "c08", "c09", "c10", "c11", "c12"]
    assert all(row[4] is None and row[5] is None and row[6] is None for row in table)
    c11 = table[ids.index("c11")]  # bought 2022-06-01 and 2024-03-15
    first = dt.date(2022, 6, 1)
    assert c11[1:4] == (
        1,
        pytest.approx((dt.date(2024, 3, 15) - first).days / 7),
        pytest.approx((dt.date(2024, 6, 30) - first).days / 7),
    )


# --- pure functions ------------------------------------------------------------------------


def test_observation_end_follows_config_then_dbt_then_project_then_today():
    today = dt.date(2025, 1, 2)
    dbt_run = {"ops": {"reveil_dbt_models": {"config": {"as_of_date": "2024-06-30"}}}}
    resolve = predictions.resolve_observation_end

    assert resolve("2024-01-01", dbt_run, project_as_of="2023-01-01") == (
        dt.date(2024, 1, 1),
        "config",
    )
    assert resolve(None, dbt_run, project_as_of="2023-01-01") == (
        dt.date(2024, 6, 30),
        "dbt run config",
    )
    assert resolve(None, {}, project_as_of="2023-01-01") == (dt.date(2023, 1, 1), "dbt_project.yml")
    assert resolve(None, None, today=today) == (today, "today (UTC)")
    assert resolve(None, {"ops": {"reveil_dbt_models": {"config": {}}}}, today=today)[0] == today


@pytest.mark.parametrize(
    "model", [clv.MBGNBD(0.525, 6.183, 0.891, 1.614), clv.BGNBD(0.243, 4.414, 0.793, 2.426)]
)
def test_probability_of_purchase_matches_a_simulation(model):
    """Mean of P(>= 1 purchase in (T, T+t]) = mean of alive x (1 - exp(-lambda t)) of the
    simulated customers, overall and for one-time buyers."""
    rng = np.random.default_rng(3)
    ages = rng.uniform(1, 78, 200_000)
    sim = simulate_beta_geo(
        200_000,
        model.r,
        model.alpha,
        model.a,
        model.b,
        ages,
        modified=isinstance(model, clv.MBGNBD),
        rng=4,
    )
    t = 52.0
    truth = sim.alive * -np.expm1(-sim.transaction_rate * t)
    forecast = predictions.probability_of_purchase(model, sim.frequency, sim.recency, sim.T, t)

    assert np.all((forecast >= 0) & (forecast <= model.p_alive(sim.frequency, sim.recency, sim.T)))
    for mask in (np.ones_like(ages, dtype=bool), sim.frequency == 0, sim.frequency >= 3):
        assert forecast[mask].mean() == pytest.approx(truth[mask].mean(), abs=0.005)
    # no purchase possible in no time
    assert np.allclose(predictions.probability_of_purchase(model, [0, 2], [0, 5], [10, 10], 0), 0)


def test_a_failed_gamma_gamma_keeps_p_alive_and_leaves_values_null():
    """Repeat customers without any positive order value: no spend model, purchases kept."""
    sim = simulate_beta_geo(2_000, 0.525, 6.183, 0.891, 1.614, 52.0, modified=True, rng=5)
    summary = clv.RFMSummary(
        customer_id=np.array([f"c{i}" for i in range(2_000)]),
        frequency=sim.frequency.astype(np.int64),
        recency=sim.recency,
        T=sim.T,
        monetary_value=np.zeros(2_000),
        observation_end=AS_OF,
        time_unit_days=7.0,
    )

    fit = predictions.fit_and_score(summary, predictions.PredictionsConfig())
    table = predictions.predictions_table(summary, fit, dt.datetime(2025, 7, 1, 6, 0))

    assert fit.status == "fitted_without_spend_model"
    assert "Gamma-Gamma failed" in fit.warnings[-1]
    assert table["p_alive"].null_count == 0
    assert table["clv_12m"].null_count == table["expected_avg_order_value"].null_count == 2_000
    assert set(table["model"].to_pylist()) == {"MBG/NBD"}


# --- report and mart metadata with the prediction columns ---------------------------------

PREDICTION_COLUMNS_SQL = """
alter table marts.dim_contact_inactivity add column p_alive double;
alter table marts.dim_contact_inactivity add column clv_12m double;
alter table marts.dim_contact_inactivity add column predicted_value_at_stake double;
update marts.dim_contact_inactivity set
    p_alive = case when completed_order_count > 0 then 0.5 end,
    clv_12m = case when completed_order_count > 0 then 100.0 end,
    predicted_value_at_stake = case when is_inactive and completed_order_count > 0 then 50.0
        else 0 end;
alter table marts.rpt_inactive_contacts_summary add column predicted_value_at_stake double;
alter table marts.rpt_inactive_contacts_summary add column mean_p_alive double;
update marts.rpt_inactive_contacts_summary set predicted_value_at_stake = 150.0, mean_p_alive = 0.5;
insert into marts.rpt_inactive_contacts_summary values
    ('rfm_segment', 'at_risk', 2, 150.0, 0.5, 100.0, 0.5),
    ('rfm_segment', 'lost', 1, 30.0, 0.25, 50.0, 0.5),
    ('rfm_segment', 'never_purchased', 1, 0.0, 0.25, 0.0, null);
alter table marts.rpt_segment_reactivation_backtest
    add column current_inactive_customer_count bigint;
alter table marts.rpt_segment_reactivation_backtest add column current_mean_p_alive double;
alter table marts.rpt_segment_reactivation_backtest
    add column current_mean_p_purchase_365d double;
update marts.rpt_segment_reactivation_backtest set current_inactive_customer_count = 2,
    current_mean_p_alive = 0.5, current_mean_p_purchase_365d = 0.35;
"""


def test_report_shows_predicted_value_and_the_models_view(tmp_path):
    con = duckdb.connect()
    create_marts(con)
    con.execute(PREDICTION_COLUMNS_SQL)

    result = report.build_report(con, tmp_path, generated_at=GENERATED_AT)
    document = result.path.read_text(encoding="utf-8")

    # 3 sleeping customers x 50 = 150 € predicted, beside 180 € of revenue at stake
    assert result.headline["predicted_value_at_stake"] == 150.0
    assert result.headline["revenue_at_stake"] == 180.0
    headline = document[document.index('id="headline"') : document.index('id="history"')]
    assert "Predicted value at stake" in headline and ">150 €<" in headline
    assert 'data-chart="value_at_stake"' in document
    assert result.charts == 11  # the 10 of test_report + value at stake per segment
    backtest = document[document.index('id="backtest"') : document.index('id="funnel"')]
    assert "model today: mean P(alive)" in backtest
    assert "mean P(alive) today" in backtest and ">35.0 %<" in backtest
    con.close()


def test_report_without_predictions_in_the_marts_is_unchanged(tmp_path):
    con = duckdb.connect()
    create_marts(con)
    con.execute(PREDICTION_COLUMNS_SQL)
    con.execute("update marts.dim_contact_inactivity set predicted_value_at_stake = null")
    con.execute("update marts.rpt_inactive_contacts_summary set predicted_value_at_stake = null")
    con.execute("update marts.rpt_segment_reactivation_backtest set current_mean_p_alive = null")

    result = report.build_report(con, tmp_path, generated_at=GENERATED_AT)
    document = result.path.read_text(encoding="utf-8")

    assert "predicted_value_at_stake" not in result.headline
    assert "Predicted value at stake" not in document
    assert result.charts == 10
    con.close()


def test_mart_metadata_shows_predicted_value_at_stake():
    con = duckdb.connect()
    create_marts(con)
    con.execute(PREDICTION_COLUMNS_SQL)
    # columns the metadata reads that the report's hand-made summary does not carry
    con.execute(
        """
        alter table marts.rpt_inactive_contacts_summary add column average_revenue_at_stake double;
        alter table marts.rpt_inactive_contacts_summary add column share_of_revenue_at_stake double;
        """
    )

    dim = mart_metadata.for_model(con, "dim_contact_inactivity")
    summary = mart_metadata.for_model(con, "rpt_inactive_contacts_summary")
    backtest = mart_metadata.for_model(con, "rpt_segment_reactivation_backtest")

    assert dim["predicted_value_at_stake_eur"].value == 150.0
    assert dim["mean_p_alive_sleeping_customers"].value == 0.5
    assert summary["predicted_value_at_stake_eur"].value == 150.0
    assert "| predicted value at stake |" in summary["top_segments_by_value_at_stake"].md_str
    table = backtest["reactivation_by_segment"].md_str
    assert "mean P(alive) today" in table
    assert "| at_risk | 10 | 6 | 60.0 % | [31.3, 83.2] % | 2 | 50.0 % | 35.0 % |" in table
    con.close()


# --- the marts on generated data, through Dagster (issue #3's integration checks) --------------

CORE_MARTS = (
    "dim_contact_inactivity",
    "dim_customer_rfm",
    "rpt_inactive_contacts_summary",
    "rpt_segment_reactivation_backtest",
    "rpt_reactivation_kpis",
    "purge_candidates",
)


def test_core_marts_are_not_empty(built):
    _, con = built
    for mart in CORE_MARTS:
        assert con.execute(f"select count(*) from marts.{mart}").fetchone()[0] > 0, mart


def test_every_rate_of_every_mart_is_within_0_and_1(built):
    _, con = built
    columns = con.execute(
        """
        select table_name, column_name from duckdb_columns()
        where schema_name = 'marts' and data_type in ('DOUBLE', 'FLOAT')
            or (schema_name = 'marts' and data_type like 'DECIMAL%')
        """
    ).fetchall()
    rates = [
        (table, column)
        for table, column in columns
        if (column.endswith(("_rate", "_share", "_lower_95", "_upper_95")) or column == "p_alive")
        and "difference" not in column
    ]
    assert len(rates) > 10
    for table, column in rates:
        low, high = con.execute(
            f"select min({column}), max({column}) from marts.{table}"
        ).fetchone()
        if low is not None:
            assert 0 <= low and high <= 1, (table, column, low, high)


def test_rfm_monetary_reconciles_with_completed_order_revenue(built):
    _, con = built
    monetary = con.execute("select sum(monetary) from marts.dim_customer_rfm").fetchone()[0]
    revenue = con.execute(
        """
        select sum(amount) from raw.orders
        where lower(trim(status)) = 'completed' and cast(ordered_at as date) <= ?
            and contact_id in (select contact_id from raw.contacts)
        """,
        [AS_OF],
    ).fetchone()[0]
    assert float(monetary) == pytest.approx(float(revenue), rel=1e-9)


def test_each_contact_exactly_once_in_the_inactivity_mart(built):
    _, con = built
    rows, distinct = con.execute(
        "select count(*), count(distinct contact_id) from marts.dim_contact_inactivity"
    ).fetchone()
    contacts = con.execute(
        "select count(*) from raw.contacts where cast(created_at as date) <= ?", [AS_OF]
    ).fetchone()[0]
    assert rows == distinct == contacts

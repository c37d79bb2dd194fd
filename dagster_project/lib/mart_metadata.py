"""Materialisation metadata of the dbt marts: the state of the base, readable in the Dagster UI.

After ``dbt build`` the dbt asset (``dagster_project.defs.dbt``) opens the warehouse read-only
and calls :func:`for_model` for every mart it materialised. The result is attached to the
materialisation, so an analytics engineer sees in the asset's page, without writing SQL:

* numbers (``MetadataValue.int`` / ``float``): contacts, sleeping contacts, inactive share,
  revenue at stake, conversions, ROI... — the UI plots numeric metadata across
  materialisations, which gives a first "over time" view for free;
* Markdown tables (``MetadataValue.md``): contacts per status, top segments and reasons,
  the funnel per reactivation step, KPIs per channel, A/B results with their intervals.

Each mart gets a handful of set-based aggregate queries (one scan each, milliseconds on
millions of rows). Only aggregates leave the warehouse: never an email, a name or an id of a
person. A mart without a builder gets nothing here (its row count is added by the caller); a
builder that fails (a column renamed upstream, say) returns a ``metadata_error`` entry instead
of failing the build.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg
import duckdb

Metadata = dict[str, dg.MetadataValue]
Builder = Callable[[duckdb.DuckDBPyConnection, str], Metadata]

TOP_ROWS = 5


# --- formatting --------------------------------------------------------------------------


def fmt_int(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


def fmt_pct(value: Any, decimals: int = 1) -> str:
    return "–" if value is None else f"{float(value) * 100:.{decimals}f} %"


def fmt_eur(value: Any) -> str:
    return "–" if value is None else f"{float(value):,.0f} €"


def fmt_float(value: Any, decimals: int = 2) -> str:
    return "–" if value is None else f"{float(value):.{decimals}f}"


def fmt_interval(lower: Any, upper: Any, decimals: int = 1, points: bool = False) -> str:
    """``[a, b]`` in percent (``points``: percentage points, signed)."""
    if lower is None or upper is None:
        return "–"
    sign = "+" if points else ""
    unit = " pp" if points else " %"
    return (
        f"[{float(lower) * 100:{sign}.{decimals}f}, {float(upper) * 100:{sign}.{decimals}f}]{unit}"
    )


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table; numbers right-aligned (cells already formatted)."""

    def cell(value: Any) -> str:
        return str("–" if value is None else value).replace("|", "\\|").replace("\n", " ")

    if not rows:
        return "_no rows_"
    align = ["---:" if _looks_numeric(rows[0][i]) else ":---" for i in range(len(headers))]
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join(align) + " |",
        *("| " + " | ".join(cell(value) for value in row) + " |" for row in rows),
    ]
    return "\n".join(lines)


def _looks_numeric(value: Any) -> bool:
    text = str(value).replace(",", "").replace("€", "").replace("%", "").replace("pp", "")
    text = text.strip().lstrip("+-[").split(",")[0].split(" ")[0]
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(value: Any, decimals: int | None = None) -> dg.MetadataValue:
    if value is None:
        return dg.MetadataValue.null()
    if decimals is None:
        return dg.MetadataValue.int(int(value))
    return dg.MetadataValue.float(round(float(value), decimals))


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def _row(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple:
    return con.execute(sql, params or []).fetchone()


def _has_columns(con: duckdb.DuckDBPyConnection, table: str, *columns: str) -> bool:
    """The table has every one of ``columns`` (the CLV prediction columns are newer than some
    warehouses and hand-made test tables: their metadata is added only when present)."""
    present = {column[0] for column in con.execute(f"select * from {table} limit 0").description}
    return all(column in present for column in columns)


# --- contacts ----------------------------------------------------------------------------


def _dim_contact_inactivity(con: duckdb.DuckDBPyConnection, table: str) -> Metadata:
    as_of, contacts, sleeping, at_risk, at_stake, at_risk_value, customers = _row(
        con,
        f"""
        select
            max(as_of_date),
            count(*),
            count(*) filter (where is_inactive),
            count(*) filter (where inactivity_status = 'at_risk'),
            coalesce(sum(revenue_at_stake) filter (where is_inactive), 0),
            coalesce(sum(revenue_at_stake) filter (where inactivity_status = 'at_risk'), 0),
            count(*) filter (where completed_order_count > 0)
        from {table}
        """,
    )
    by_status = _rows(
        con,
        f"""
        select
            inactivity_status,
            count(*),
            count(*) / nullif(sum(count(*)) over (), 0),
            coalesce(sum(revenue_at_stake), 0)
        from {table}
        group by inactivity_status
        order by case inactivity_status
            when 'active' then 1 when 'at_risk' then 2 when 'inactive' then 3 else 4 end
        """,
    )
    by_reason = _rows(
        con,
        f"""
        select
            coalesce(inactivity_reason, 'unknown'),
            count(*),
            coalesce(sum(revenue_at_stake), 0) as at_stake
        from {table}
        where is_inactive
        group by 1
        order by 2 desc, 1
        limit {TOP_ROWS}
        """,
    )
    by_segment = _rows(
        con,
        f"""
        select rfm_segment, count(*), coalesce(sum(revenue_at_stake), 0) as at_stake
        from {table}
        where is_inactive
        group by rfm_segment
        order by at_stake desc, rfm_segment
        limit {TOP_ROWS}
        """,
    )
    share = sleeping / contacts if contacts else None
    predicted: Metadata = {}
    if _has_columns(con, table, "p_alive", "predicted_value_at_stake"):
        value, mean_p_alive = _row(
            con,
            f"""
            select sum(predicted_value_at_stake) filter (where is_inactive),
                avg(p_alive) filter (where is_inactive)
            from {table}
            """,
        )
        # P(alive) x 12-month CLV of the sleeping customers: the forward-looking value at stake
        predicted = {
            "predicted_value_at_stake_eur": _number(value, 2),
            "mean_p_alive_sleeping_customers": _number(mean_p_alive, 4),
        }
    return {
        "as_of_date": dg.MetadataValue.text(str(as_of) if as_of else "–"),
        "contacts": _number(contacts),
        "customers": _number(customers),
        "sleeping_contacts": _number(sleeping),
        "at_risk_contacts": _number(at_risk),
        "inactive_share": _number(share, 4),
        "revenue_at_stake_eur": _number(at_stake, 2),
        "at_risk_revenue_at_stake_eur": _number(at_risk_value, 2),
        **predicted,
        "contacts_by_status": dg.MetadataValue.md(
            md_table(
                ["status", "contacts", "share", "revenue at stake"],
                [(s, fmt_int(n), fmt_pct(p), fmt_eur(v)) for s, n, p, v in by_status],
            )
        ),
        "top_inactivity_reasons": dg.MetadataValue.md(
            md_table(
                ["reason (sleeping contacts)", "contacts", "revenue at stake"],
                [(r, fmt_int(n), fmt_eur(v)) for r, n, v in by_reason],
            )
        ),
        "top_segments_at_stake": dg.MetadataValue.md(
            md_table(
                ["RFM segment (sleeping contacts)", "contacts", "revenue at stake"],
                [(s, fmt_int(n), fmt_eur(v)) for s, n, v in by_segment],
            )
        ),
    }


def _dim_customer_rfm(con: duckdb.DuckDBPyConnection, table: str) -> Metadata:
    customers, median_recency, mean_frequency, mean_monetary = _row(
        con,
        f"select count(*), median(recency_days), avg(frequency), avg(monetary) from {table}",
    )
    segments = _rows(
        con,
        f"""
        select
            rfm_segment,
            count(*),
            count(*) / nullif(sum(count(*)) over (), 0),
            median(recency_days),
            avg(frequency),
            avg(monetary)
        from {table}
        group by rfm_segment
        order by 2 desc, 1
        """,
    )
    return {
        "customers": _number(customers),
        "median_recency_days": _number(median_recency, 1),
        "mean_orders_per_customer": _number(mean_frequency, 2),
        "mean_revenue_per_customer_eur": _number(mean_monetary, 2),
        "segments": dg.MetadataValue.md(
            md_table(
                ["segment", "customers", "share", "median recency (days)", "orders", "revenue"],
                [
                    (s, fmt_int(n), fmt_pct(p), fmt_float(r, 0), fmt_float(f, 1), fmt_eur(m))
                    for s, n, p, r, f, m in segments
                ],
            )
        ),
    }


def _rpt_inactive_contacts_summary(con: duckdb.DuckDBPyConnection, table: str) -> Metadata:
    overall = _row(
        con,
        f"""
        select inactive_contact_count, revenue_at_stake, average_revenue_at_stake
        from {table} where dimension = 'overall'
        """,
    )
    sleeping, at_stake, average = overall or (0, 0, None)
    # predicted value at stake (P(alive) x 12-month CLV) beside the historical one, when present
    has_predicted = _has_columns(con, table, "predicted_value_at_stake")
    predicted_column = "predicted_value_at_stake" if has_predicted else "null"

    def top(dimension: str, order_by: str = "revenue_at_stake desc") -> str:
        rows = _rows(
            con,
            f"""
            select dimension_value, inactive_contact_count, share_of_inactive_contacts,
                revenue_at_stake, share_of_revenue_at_stake, {predicted_column}
            from {table}
            where dimension = ?
            order by {order_by}, dimension_value
            limit {TOP_ROWS}
            """,
            [dimension],
        )
        headers = [dimension, "sleeping contacts", "share", "revenue at stake", "share of value"]
        cells = [
            (v, fmt_int(n), fmt_pct(s), fmt_eur(r), fmt_pct(rs), fmt_eur(p))
            for v, n, s, r, rs, p in rows
        ]
        if has_predicted:
            return md_table([*headers, "predicted value at stake"], cells)
        return md_table(headers, [cell[:-1] for cell in cells])

    predicted: Metadata = {}
    if has_predicted:
        value = _row(
            con,
            f"select predicted_value_at_stake from {table} where dimension = 'overall'",
        )
        predicted["predicted_value_at_stake_eur"] = _number(value[0] if value else None, 2)
    return {
        "sleeping_contacts": _number(sleeping),
        "revenue_at_stake_eur": _number(at_stake, 2),
        "average_revenue_at_stake_eur": _number(average, 2),
        **predicted,
        "top_segments_by_value_at_stake": dg.MetadataValue.md(top("rfm_segment")),
        "top_reasons": dg.MetadataValue.md(top("inactivity_reason", "inactive_contact_count desc")),
        "by_business_cycle": dg.MetadataValue.md(top("business_cycle")),
    }


def _rpt_segment_reactivation_backtest(con: duckdb.DuckDBPyConnection, table: str) -> Metadata:
    backtest_date, complete, trials, successes = _row(
        con,
        f"""
        select max(backtest_as_of_date), bool_and(is_outcome_window_complete),
            sum(inactive_customer_count), sum(reactivated_customer_count)
        from {table}
        """,
    )
    # today's sleepers of each segment as the CLV models see them, beside last year's outcome
    has_model = _has_columns(con, table, "current_mean_p_alive", "current_mean_p_purchase_365d")
    model_columns = (
        "current_inactive_customer_count, current_mean_p_alive, current_mean_p_purchase_365d"
        if has_model
        else "null, null, null"
    )
    rows = _rows(
        con,
        f"""
        select rfm_segment, inactive_customer_count, reactivated_customer_count,
            reactivation_rate, reactivation_rate_lower_95, reactivation_rate_upper_95,
            {model_columns}
        from {table}
        where inactive_customer_count > 0
        order by reactivation_rate desc, rfm_segment
        """,
    )
    headers = ["segment then", "sleeping customers", "came back", "rate", "95 % interval"]
    cells = [
        (s, fmt_int(n), fmt_int(k), fmt_pct(r), fmt_interval(lo, hi))
        for s, n, k, r, lo, hi, *_ in rows
    ]
    if has_model:
        headers += ["sleeping today", "mean P(alive) today", "P(buys within 365 d) today"]
        cells = [
            (*cell, fmt_int(m), fmt_pct(alive), fmt_pct(buys))
            for cell, (*_, m, alive, buys) in zip(cells, rows, strict=True)
        ]
    return {
        "backtest_as_of_date": dg.MetadataValue.text(str(backtest_date) if backtest_date else "–"),
        "is_outcome_window_complete": dg.MetadataValue.bool(bool(complete)),
        "sleeping_customers_then": _number(trials or 0),
        "reactivated_since": _number(successes or 0),
        "reactivation_rate": _number(successes / trials if trials else None, 4),
        "reactivation_by_segment": dg.MetadataValue.md(md_table(headers, cells)),
    }


def _rpt_base_history(con: duckdb.DuckDBPyConnection, table: str) -> Metadata:
    snapshots, observed, first_date, last_date = _row(
        con,
        f"""
        select count(*), count(*) filter (where not is_reconstructed),
            min(as_of_date), max(as_of_date)
        from {table}
        """,
    )
    recent = _rows(
        con,
        f"""
        select as_of_date, is_reconstructed, contact_count, sleeping_contact_count,
            inactive_share, revenue_at_stake
        from {table}
        order by as_of_date desc
        limit 10
        """,
    )
    latest_share = recent[0][4] if recent else None
    previous_share = recent[1][4] if len(recent) > 1 else None
    change = (
        latest_share - previous_share
        if latest_share is not None and previous_share is not None
        else None
    )
    return {
        "snapshots": _number(snapshots),
        "observed_snapshots": _number(observed),
        "first_as_of_date": dg.MetadataValue.text(str(first_date) if first_date else "–"),
        "last_as_of_date": dg.MetadataValue.text(str(last_date) if last_date else "–"),
        "inactive_share": _number(latest_share, 4),
        "inactive_share_change_since_previous": _number(change, 4),
        "recent_snapshots": dg.MetadataValue.md(
            md_table(
                ["as of", "kind", "contacts", "sleeping", "inactive share", "revenue at stake"],
                [
                    (
                        str(d),
                        "reconstructed" if rec else "observed",
                        fmt_int(n),
                        fmt_int(s),
                        fmt_pct(p),
                        fmt_eur(v),
                    )
                    for d, rec, n, s, p, v in recent
                ],
            )
        ),
    }


# --- reactivation ------------------------------------------------------------------------

_KPI_COLUMNS = """
    sent_count, delivered_count, human_open_count, click_count, conversion_count,
    conversion_rate, attributed_revenue, message_cost, roi
"""


def _kpi_rows(con: duckdb.DuckDBPyConnection, table: str, level: str, label: str) -> list:
    return _rows(
        con,
        f"""
        select {label}, {_KPI_COLUMNS}
        from {table}
        where aggregation_level = ?
        order by conversion_count desc, 1
        """,
        [level],
    )


def _kpi_md(first_header: str, rows: list) -> str:
    return md_table(
        [
            first_header,
            "sent",
            "delivered",
            "human opens",
            "clicks",
            "conversions",
            "conversion rate",
            "revenue",
            "ROI",
        ],
        [
            (
                str(label),
                fmt_int(sent),
                fmt_int(delivered),
                fmt_int(opens),
                fmt_int(clicks),
                fmt_int(conversions),
                fmt_pct(rate, 2),
                fmt_eur(revenue),
                fmt_float(roi, 1),
            )
            for label, sent, delivered, opens, clicks, conversions, rate, revenue, _, roi in rows
        ],
    )


def _rpt_reactivation_kpis(con: duckdb.DuckDBPyConnection, table: str) -> Metadata:
    overall = _row(
        con,
        f"""
        select sent_count, conversion_count, conversion_rate, attributed_revenue, message_cost,
            roi, cost_per_reactivated_customer, reactivation_to_acquisition_cost_ratio,
            durable_short_rate
        from {table}
        where aggregation_level = 'overall'
        """,
    )
    (sent, conversions, rate, revenue, cost, roi, cost_per, cost_ratio, durable) = overall or (
        (None,) * 9
    )
    steps = _rows(
        con,
        f"""
        select reactivation_step, {_KPI_COLUMNS}
        from {table}
        where aggregation_level = 'step'
        order by reactivation_step
        """,
    )
    return {
        "messages_sent": _number(sent or 0),
        "conversions": _number(conversions or 0),
        "conversion_rate": _number(rate, 4),
        "attributed_revenue_eur": _number(revenue, 2),
        "message_cost_eur": _number(cost, 2),
        "roi": _number(roi, 2),
        "cost_per_reactivated_customer_eur": _number(cost_per, 2),
        "reactivation_to_acquisition_cost_ratio": _number(cost_ratio, 4),
        "durable_short_rate": _number(durable, 4),
        "funnel_by_step": dg.MetadataValue.md(_kpi_md("step", steps)),
        "kpis_by_channel": dg.MetadataValue.md(
            _kpi_md("channel", _kpi_rows(con, table, "channel", "channel"))
        ),
        "top_segments_by_conversions": dg.MetadataValue.md(
            _kpi_md(
                "segment at send",
                _kpi_rows(con, table, "segment", "rfm_segment_at_send")[:TOP_ROWS],
            )
        ),
    }


def _rpt_reactivation_ab_tests(con: duckdb.DuckDBPyConnection, table: str) -> Metadata:
    rows = _rows(
        con,
        f"""
        select reactivation_step,
            variant_a_conversion_rate, variant_a_sent_count,
            variant_b_conversion_rate, variant_b_sent_count,
            conversion_rate_difference, difference_lower_95, difference_upper_95,
            p_value, is_significant
        from {table}
        order by reactivation_step
        """,
    )
    return {
        "ab_tests": _number(len(rows)),
        "significant_tests": _number(sum(1 for row in rows if row[-1])),
        "results": dg.MetadataValue.md(
            md_table(
                [
                    "step",
                    "A conversion (sent)",
                    "B conversion (sent)",
                    "B − A",
                    "95 % interval",
                    "p-value",
                    "significant",
                ],
                [
                    (
                        str(step),
                        f"{fmt_pct(rate_a, 2)} ({fmt_int(n_a)})",
                        f"{fmt_pct(rate_b, 2)} ({fmt_int(n_b)})",
                        "–" if diff is None else f"{float(diff) * 100:+.2f} pp",
                        fmt_interval(lower, upper, 2, points=True),
                        fmt_float(p, 4),
                        "yes" if significant else "no",
                    )
                    for step, rate_a, n_a, rate_b, n_b, diff, lower, upper, p, significant in rows
                ],
            )
        ),
    }


# --- purge and deliverability ------------------------------------------------------------


def _purge_candidates(con: duckdb.DuckDBPyConnection, table: str) -> Metadata:
    by_rule = _rows(
        con, f"select purge_rule, count(*) from {table} group by purge_rule order by 2 desc, 1"
    )
    batch = _row(con, f"select max(batch_id), max(as_of_date) from {table}")
    return {
        "candidates": _number(sum(n for _, n in by_rule)),
        "batch_id": dg.MetadataValue.text(batch[0] or "–"),
        **{f"candidates_{rule}": _number(n) for rule, n in by_rule},
        "candidates_by_rule": dg.MetadataValue.md(
            md_table(["purge rule", "contacts"], [(r, fmt_int(n)) for r, n in by_rule])
        ),
    }


def _hard_bounce_suppressions(con: duckdb.DuckDBPyConnection, table: str) -> Metadata:
    suppressed, eligible = _row(
        con, f"select count(*), count(*) filter (where is_reenable_eligible) from {table}"
    )
    return {
        "suppressed_addresses": _number(suppressed),
        "eligible_beyond_monthly_cap": _number(eligible),
    }


def _bounce_reenable_allowance(con: duckdb.DuckDBPyConnection, table: str) -> Metadata:
    row = _row(
        con, f"select max(reenable_month), max(monthly_cap), max(contact_count) from {table}"
    )
    month, cap, contacts = row
    return {
        "reenable_month": dg.MetadataValue.text(str(month) if month else "–"),
        "monthly_cap": _number(cap or 0),
        "contacts": _number(contacts or 0),
    }


def _rpt_campaign_complaint_rates(con: duckdb.DuckDBPyConnection, table: str) -> Metadata:
    by_status = _rows(
        con,
        f"""
        select complaint_status, count(*), max(complaint_rate)
        from {table}
        where is_in_lookback
        group by complaint_status
        order by case complaint_status when 'alert' then 1 when 'warn' then 2 else 3 end
        """,
    )
    counts = {status: n for status, n, _ in by_status}
    highest = max((rate for _, _, rate in by_status if rate is not None), default=None)
    return {
        "campaigns_in_lookback": _number(sum(counts.values())),
        "campaigns_alert": _number(counts.get("alert", 0)),
        "campaigns_warn": _number(counts.get("warn", 0)),
        "highest_complaint_rate_in_lookback": _number(highest, 6),
        "complaint_status_in_lookback": dg.MetadataValue.md(
            md_table(
                ["status", "campaigns", "highest rate"],
                [(s, fmt_int(n), fmt_pct(r, 3)) for s, n, r in by_status],
            )
        ),
    }


BUILDERS: dict[str, Builder] = {
    "dim_contact_inactivity": _dim_contact_inactivity,
    "dim_customer_rfm": _dim_customer_rfm,
    "rpt_inactive_contacts_summary": _rpt_inactive_contacts_summary,
    "rpt_segment_reactivation_backtest": _rpt_segment_reactivation_backtest,
    "rpt_base_history": _rpt_base_history,
    "rpt_reactivation_kpis": _rpt_reactivation_kpis,
    "rpt_reactivation_ab_tests": _rpt_reactivation_ab_tests,
    "purge_candidates": _purge_candidates,
    "hard_bounce_suppressions": _hard_bounce_suppressions,
    "bounce_reenable_allowance": _bounce_reenable_allowance,
    "rpt_campaign_complaint_rates": _rpt_campaign_complaint_rates,
}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def for_model(
    con: duckdb.DuckDBPyConnection, model_name: str, schema: str = "marts"
) -> dict[str, dg.MetadataValue]:
    """Metadata of the mart ``<schema>.<model_name>`` read through ``con`` (read-only is enough).

    ``{}`` for a mart without a builder; ``{"metadata_error": ...}`` when its queries fail, so
    a metadata problem never fails the build that produced the mart.
    """
    builder = BUILDERS.get(model_name)
    if builder is None:
        return {}
    try:
        return builder(con, f"{_quote(schema)}.{_quote(model_name)}")
    except duckdb.Error as exc:
        return {
            "metadata_error": dg.MetadataValue.text(
                f"metadata of {schema}.{model_name} skipped: {type(exc).__name__}: {exc}"
            )
        }

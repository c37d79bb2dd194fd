"""lib/report: the HTML report, built from a small hand-made DuckDB with the marts' shapes.

``create_marts`` writes every table the report reads (only the columns it reads), with a few
rows; ``tests/defs/test_report_chromium.py`` reuses it. The base: 8 contacts at 2024-06-30, 4
of them sleeping (inactive or lost) = 50.0 %, 180 € at stake; history 45.0 % -> 50.0 %.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from dagster_project.lib import report

AS_OF = date(2024, 6, 30)
PERSONAL = ("c7@example.com", "Dupont", "contact-0007")

MARTS_SQL = """
create schema if not exists marts;
create schema if not exists audit;
create schema if not exists suppression;
create schema if not exists meta;

create table marts.dim_contact_inactivity as
select * from (values
    (date '2024-06-30', 'contact-0001', 'active',   false, null,             3, 500, 900,
     'champions', 5, 5, 5),
    (date '2024-06-30', 'contact-0002', 'active',   false, null,             2, 200, 300,
     'loyal', 4, 4, 3),
    (date '2024-06-30', 'contact-0003', 'active',   false, null,             0,   0,   0,
     'never_purchased', null, null, null),
    (date '2024-06-30', 'contact-0004', 'at_risk',  false, null,             1,  40,  40,
     'need_attention', 3, 3, 3),
    (date '2024-06-30', 'contact-0005', 'inactive', true,  'lost_interest',  4, 100, 400,
     'at_risk', 2, 3, 3),
    (date '2024-06-30', 'contact-0006', 'inactive', true,  'deliverability', 2,  50,  80,
     'at_risk', 2, 3, 2),
    (date '2024-06-30', 'contact-0007', 'lost',     true,  'deliverability', 1,  30,  30,
     'lost', 1, 1, 1),
    (date '2024-06-30', 'contact-0008', 'lost',     true,  'never_engaged',  0,   0,   0,
     'never_purchased', null, null, null)
) as contacts(as_of_date, contact_id, inactivity_status, is_inactive, inactivity_reason,
    completed_order_count, revenue_at_stake, lifetime_revenue, rfm_segment, recency_score,
    frequency_score, monetary_score);

create table marts.dim_customer_rfm as
select contact_id, as_of_date, recency_score, frequency_score, monetary_score,
    cast(floor((frequency_score + monetary_score + 1) / 2) as bigint) as frequency_monetary_score,
    rfm_segment
from marts.dim_contact_inactivity
where completed_order_count > 0;

create table marts.rpt_inactive_contacts_summary as
select * from (values
    ('overall', 'all', 4, 180.0, 0.5),
    ('inactivity_reason', 'deliverability', 2, 80.0, 0.5),
    ('inactivity_reason', 'lost_interest', 1, 100.0, 0.25),
    ('inactivity_reason', 'never_engaged', 1, 0.0, 0.25)
) as summary(dimension, dimension_value, inactive_contact_count, revenue_at_stake,
    share_of_inactive_contacts);

create table marts.rpt_base_history as
select * from (values
    (date '2023-07-01', true, 6, 2, 0.3333, 90.0, 20.0),
    (date '2024-06-29', false, 8, 3, 0.45, 150.0, 40.0),
    (date '2024-06-30', false, 8, 4, 0.5, 180.0, 40.0)
) as history(as_of_date, is_reconstructed, contact_count, sleeping_contact_count,
    inactive_share, revenue_at_stake, at_risk_revenue_at_stake);

create table marts.rpt_segment_reactivation_backtest as
select * from (values
    ('at_risk', date '2023-07-01', 10, 6, 0.6, 0.3127, 0.8318, true),
    ('lost', date '2023-07-01', 5, 1, 0.2, 0.0362, 0.6245, true),
    ('champions', date '2023-07-01', 0, 0, null, null, null, true)
) as backtest(rfm_segment, backtest_as_of_date, inactive_customer_count,
    reactivated_customer_count, reactivation_rate, reactivation_rate_lower_95,
    reactivation_rate_upper_95, is_outcome_window_complete);

create table marts.rpt_reactivation_kpis as
select *,
    delivered_count / sent_count as delivery_rate,
    human_open_count / delivered_count as human_open_rate,
    click_count / delivered_count as click_rate,
    conversion_count / sent_count as conversion_rate,
    (attributed_revenue - message_cost) / message_cost as roi,
    message_cost / nullif(conversion_count, 0) as cost_per_reactivated_customer
from (values
    ('overall', null, null, null, 200.0, 190.0, 20.0, 10.0, 8, 900.0, 10.0),
    ('step', 1, null, null, 120.0, 115.0, 12.0, 6.0, 5, 600.0, 6.0),
    ('step', 2, null, null, 80.0, 75.0, 8.0, 4.0, 3, 300.0, 4.0),
    ('channel', null, 'email', null, 150.0, 145.0, 20.0, 9.0, 7, 800.0, 6.0),
    ('channel', null, 'sms', null, 50.0, 45.0, 0.0, 1.0, 1, 100.0, 4.0),
    ('segment', null, null, 'at_risk', 120.0, 115.0, 14.0, 7.0, 6, 700.0, 6.0),
    ('segment', null, null, 'lost', 80.0, 75.0, 6.0, 3.0, 2, 200.0, 4.0)
) as kpis(aggregation_level, reactivation_step, channel, rfm_segment_at_send, sent_count,
    delivered_count, human_open_count, click_count, conversion_count, attributed_revenue,
    message_cost);

create table marts.rpt_reactivation_ab_tests as
select * from (values
    (1, 600, 30, 0.05, 600, 48, 0.08, 0.03, 2.1538, 0.0312, 0.0021, 0.0579, true),
    (2, 400, 12, 0.03, 400, 10, 0.025, -0.005, -0.4315, 0.6661, -0.0277, 0.0177, false)
) as ab(reactivation_step, variant_a_sent_count, variant_a_conversion_count,
    variant_a_conversion_rate, variant_b_sent_count, variant_b_conversion_count,
    variant_b_conversion_rate, conversion_rate_difference, z_score, p_value,
    difference_lower_95, difference_upper_95, is_significant);

create table marts.purge_candidates as
select * from (values
    ('b1', date '2024-06-30', 'contact-0007', 'c7@example.com', 'Dupont', 'sunset_silent'),
    ('b1', date '2024-06-30', 'contact-0008', 'c8@example.com', 'Martin', 'retention_limit')
) as candidates(batch_id, as_of_date, contact_id, email, last_name, purge_rule);

create table marts.hard_bounce_suppressions as
select 'contact-0006' as contact_id, 'c6@example.com' as email, false as is_reenable_eligible;

create table marts.bounce_reenable_allowance as
select date '2024-06-30' as as_of_date, date '2024-06-01' as reenable_month,
    8 as contact_count, 10 as monthly_cap;

create table marts.bounce_reenable_list as
select 'contact-0005' as contact_id, 'c5@example.com' as email;

create table marts.rpt_campaign_complaint_rates as
select * from (values ('k1', 'ok', 0.0, true), ('k2', 'warn', 0.0015, true),
    ('k3', 'alert', 0.01, false))
as rates(campaign_id, complaint_status, complaint_rate, is_in_lookback);

create table audit.purge_batches as
select * from (values
    ('b0', date '2024-06-29', true, 2, 2, 2, timestamp '2024-06-29 06:10:00'),
    ('b1', date '2024-06-30', false, 2, 2, 2, timestamp '2024-06-30 06:10:00')
) as batches(batch_id, as_of_date, dry_run, candidate_count, suppression_added, archived,
    finished_at);

create table suppression.email_hashes as
select 'a3f1' as email_hmac, 'b1' as batch_id, timestamp '2024-06-30 06:10:00' as suppressed_at;

create table meta.publication as
select '20240630T061000000000Z_abc123' as version_id,
    timestamptz '2024-06-30 06:10:00+00' as published_at;
"""


def create_marts(con: duckdb.DuckDBPyConnection) -> None:
    """Every table the report reads, with the rows described in the module docstring."""
    con.execute(MARTS_SQL)


@pytest.fixture
def marts():
    con = duckdb.connect()
    create_marts(con)
    yield con
    con.close()


GENERATED_AT = datetime(2024, 6, 30, 7, 0, tzinfo=UTC)


@pytest.fixture
def built(marts, tmp_path):
    result = report.build_report(marts, tmp_path / "reports", generated_at=GENERATED_AT)
    return result, result.path.read_text(encoding="utf-8")


def test_report_and_latest_are_written(built, tmp_path):
    result, document = built

    assert result.path == tmp_path / "reports" / "reveil_report_2024-06-30.html"
    assert result.latest_path == tmp_path / "reports" / "latest.html"
    assert result.latest_path.read_text(encoding="utf-8") == document
    assert result.as_of_date == AS_OF
    assert result.size_bytes == result.path.stat().st_size
    assert not list((tmp_path / "reports").glob(".*.tmp"))


def test_every_section_is_there(built):
    result, document = built

    assert result.sections == report.SECTION_IDS
    for section in report.SECTION_IDS:
        assert f'id="{section}"' in document
    assert result.missing == ()
    assert "Not available" not in document


def test_one_plotly_div_per_chart(built):
    result, document = built

    divs = re.findall(r'<div class="chart" data-chart="([a-z_]+)">', document)
    # history, status, reasons, rfm_grid, segments, backtest, funnel, kpis, ab_tests, purge
    assert len(divs) == result.charts == 10
    assert len(set(divs)) == len(divs)
    assert document.count("Plotly.newPlot(") == result.charts
    assert f'<meta name="reveil-chart-count" content="{result.charts}">' in document


def test_self_contained(built):
    _, document = built
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", document, re.DOTALL)
    markup = re.sub(r"(<script\b[^>]*>).*?(</script>)", r"\1\2", document, flags=re.DOTALL)

    # plotly.js inline, once, then one small script per chart
    assert "plotly.js v" in scripts[0]
    assert sum("plotly.js v" in script for script in scripts) == 1
    assert len(scripts) == 1 + document.count("Plotly.newPlot(")
    # nothing is fetched to render: no external script, stylesheet, font, image or frame
    assert not re.search(r"<script\b[^>]*\bsrc=", markup, re.IGNORECASE)
    assert not re.search(r"<link\b", markup, re.IGNORECASE)
    assert not re.search(r"<(img|iframe|object|embed)\b", markup, re.IGNORECASE)
    assert not re.search(r"@import|url\(", markup, re.IGNORECASE)
    assert not re.search(r"https?://", markup, re.IGNORECASE)
    # the chart scripts carry data and layout only (plotly.js's own source mentions its
    # website in strings it never loads for these chart types)
    assert not any(re.search(r"https?://", script) for script in scripts[1:])


def test_headline_numbers(built):
    result, document = built

    assert result.headline == {
        "contacts": 8,
        "sleeping_contacts": 4,
        "inactive_share": 0.5,
        "revenue_at_stake": 180.0,
    }
    headline = document[document.index('id="headline"') : document.index('id="history"')]
    assert ">50.0 %<" in headline  # sleeping share
    assert "+5.0 pp since 2024-06-29" in headline  # 45 % -> 50 %
    assert ">180 €<" in headline
    assert ">8<" in headline  # reactivated (overall conversions)


def test_no_personal_data(built):
    _, document = built

    for value in PERSONAL:
        assert value not in document
    assert "@example.com" not in document


def test_footer_names_the_publication(built):
    _, document = built

    assert "20240630T061000000000Z_abc123" in document
    assert "Generated 2024-06-30 07:00 UTC" in document


def test_missing_marts_are_said_not_failed(tmp_path):
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        """
        create table marts.dim_contact_inactivity as
        select date '2024-06-30' as as_of_date, 'x' as contact_id, 'lost' as inactivity_status,
            true as is_inactive, 'unknown' as inactivity_reason,
            1 as completed_order_count, 10.0 as revenue_at_stake, 'lost' as rfm_segment
        """
    )

    result = report.build_report(con, tmp_path, generated_at=GENERATED_AT)
    document = result.path.read_text(encoding="utf-8")

    assert result.sections == report.SECTION_IDS
    assert "marts.rpt_reactivation_kpis" in result.missing
    assert "audit.purge_batches" in result.missing
    assert document.count("Not available") >= 5
    # the history falls back to today's point, from dim_contact_inactivity
    assert 'data-chart="history"' in document


def test_a_day_built_again_is_replaced(marts, tmp_path):
    first = report.build_report(marts, tmp_path, generated_at=GENERATED_AT)
    marts.execute("update marts.dim_contact_inactivity set revenue_at_stake = revenue_at_stake * 2")
    second = report.build_report(marts, tmp_path, generated_at=GENERATED_AT)

    assert first.path == second.path
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == [
        "latest.html",
        "reveil_report_2024-06-30.html",
    ]
    assert ">360 €<" in second.path.read_text(encoding="utf-8")


def test_open_sources_reads_serving_and_attaches_warehouse_read_only(tmp_path):
    serving_file = tmp_path / "serving.duckdb"
    warehouse_file = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(serving_file)) as con:
        create_marts(con)
        con.execute("drop schema audit cascade")
        con.execute("drop schema suppression cascade")
    with duckdb.connect(str(warehouse_file)) as con:
        con.execute("create schema audit")
        con.execute(
            "create table audit.purge_batches as select date '2024-06-30' as as_of_date, "
            "false as dry_run, 5 as candidate_count, 5 as suppression_added, 5 as archived, "
            "timestamp '2024-06-30 06:10:00' as finished_at"
        )

    con, notes = report.open_sources(serving_file, warehouse_file)
    try:
        result = report.build_report(con, tmp_path / "out", generated_at=GENERATED_AT)
        with pytest.raises(duckdb.Error):
            con.execute("create table warehouse.main.x (i int)")
    finally:
        con.close()

    assert notes == []
    assert "audit.purge_batches" not in result.missing  # found in the attached warehouse
    assert "suppression.email_hashes" in result.missing
    assert ">5<" in result.path.read_text(encoding="utf-8")  # contacts purged


def test_wilson_whiskers_stay_within_zero_and_one():
    """The whiskers use the Wilson formula of the backtest mart, clamped like it."""
    # unclamped, 16/16 gave 1.0000000000000002 and 0/27 gave -7e-18
    for successes, trials in ((0, 27), (16, 16), (40, 40), (0, 1), (1, 1)):
        lower, upper = report._wilson(successes, trials)
        assert 0.0 <= lower <= successes / trials <= upper <= 1.0
    assert report._wilson(0, 0) is None

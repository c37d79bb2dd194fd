"""lib/mart_metadata: the aggregates attached to the marts' materialisations, on a hand-made
DuckDB whose tables have the marts' shapes (only the columns the queries read).

The base: 8 contacts at 2024-06-30 — 3 active, 1 at_risk (40 € at stake), 2 inactive
(100 € and 50 €), 2 lost (30 € and 0 €): 4 sleeping of 8 = 0.5, 180 € at stake, 6 customers.
"""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from dagster_project.lib import mart_metadata

CONTACTS = """
    insert into marts.dim_contact_inactivity values
    ('2024-06-30', 'c1', 'active',   false, null,             3, 500, 900, 'champions'),
    ('2024-06-30', 'c2', 'active',   false, null,             2, 200, 300, 'loyal'),
    ('2024-06-30', 'c3', 'active',   false, null,             0,   0,   0, 'never_purchased'),
    ('2024-06-30', 'c4', 'at_risk',  false, null,             1,  40,  40, 'need_attention'),
    ('2024-06-30', 'c5', 'inactive', true,  'lost_interest',  4, 100, 400, 'at_risk'),
    ('2024-06-30', 'c6', 'inactive', true,  'deliverability', 2,  50,  80, 'at_risk'),
    ('2024-06-30', 'c7', 'lost',     true,  'deliverability', 1,  30,  30, 'lost'),
    ('2024-06-30', 'c8', 'lost',     true,  'never_engaged',  0,   0,   0, 'never_purchased')
"""


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        """
        create table marts.dim_contact_inactivity (
            as_of_date date, contact_id varchar, inactivity_status varchar, is_inactive boolean,
            inactivity_reason varchar, completed_order_count bigint,
            revenue_at_stake decimal(38, 2), lifetime_revenue decimal(38, 2), rfm_segment varchar
        )
        """
    )
    con.execute(CONTACTS)
    yield con
    con.close()


def md(metadata: dict, key: str) -> str:
    value = metadata[key]
    assert isinstance(value, dg.MarkdownMetadataValue)
    return value.md_str


def test_dim_contact_inactivity_numbers(con):
    metadata = mart_metadata.for_model(con, "dim_contact_inactivity")

    assert metadata["contacts"].value == 8
    assert metadata["customers"].value == 6
    assert metadata["sleeping_contacts"].value == 4
    assert metadata["at_risk_contacts"].value == 1
    assert metadata["inactive_share"].value == 0.5
    assert metadata["revenue_at_stake_eur"].value == 180.0
    assert metadata["at_risk_revenue_at_stake_eur"].value == 40.0
    assert metadata["as_of_date"].value == "2024-06-30"


def test_dim_contact_inactivity_markdown_tables(con):
    metadata = mart_metadata.for_model(con, "dim_contact_inactivity")

    status = md(metadata, "contacts_by_status").splitlines()
    assert status[0] == "| status | contacts | share | revenue at stake |"
    # status order active, at_risk, inactive, lost; shares of all contacts
    assert [line.split("|")[1].strip() for line in status[2:]] == [
        "active",
        "at_risk",
        "inactive",
        "lost",
    ]
    assert "| inactive | 2 | 25.0 % | 150 € |" in status
    reasons = md(metadata, "top_inactivity_reasons")
    assert "| deliverability | 2 | 80 € |" in reasons  # the most frequent reason first
    assert reasons.index("deliverability") < reasons.index("lost_interest")
    segments = md(metadata, "top_segments_at_stake")
    assert segments.splitlines()[2] == "| at_risk | 2 | 150 € |"  # highest value first


def test_no_personal_data_leaves_the_warehouse(con):
    metadata = mart_metadata.for_model(con, "dim_contact_inactivity")

    text = " ".join(str(value.value) for value in metadata.values())
    assert not any(f"c{i}" in text.split() for i in range(1, 9))
    assert "'c1'" not in text and "| c1 |" not in text


def test_reactivation_kpis_and_ab_tests(con):
    con.execute(
        """
        create table marts.rpt_reactivation_kpis as
        select * from (values
            ('overall', null, null, null, 200, 190, 20, 10, 8, 0.04, 900.0, 10.0, 89.0,
             1.25, 0.03, 0.5),
            ('step', 1, null, null, 120, 115, 12, 6, 5, 5 / 120, 600.0, 6.0, 99.0,
             1.2, null, null),
            ('step', 2, null, null, 80, 75, 8, 4, 3, 3 / 80, 300.0, 4.0, 74.0,
             1.33, null, null),
            ('channel', null, 'email', null, 150, 145, 20, 9, 7, 7 / 150, 800.0, 6.0, 132.3,
             0.86, null, null),
            ('channel', null, 'sms', null, 50, 45, 0, 1, 1, 0.02, 100.0, 4.0, 24.0,
             4.0, null, null),
            ('segment', null, null, 'at_risk', 200, 190, 20, 10, 8, 0.04, 900.0, 10.0, 89.0,
             1.25, null, null)
        ) as kpis(aggregation_level, reactivation_step, channel, rfm_segment_at_send,
            sent_count, delivered_count, human_open_count, click_count, conversion_count,
            conversion_rate, attributed_revenue, message_cost, roi,
            cost_per_reactivated_customer, reactivation_to_acquisition_cost_ratio,
            durable_short_rate)
        """
    )
    con.execute(
        """
        create table marts.rpt_reactivation_ab_tests as
        select 1 as reactivation_step, 0.05 as variant_a_conversion_rate,
            600 as variant_a_sent_count, 0.08 as variant_b_conversion_rate,
            600 as variant_b_sent_count, 0.03 as conversion_rate_difference,
            0.0021 as difference_lower_95, 0.0579 as difference_upper_95,
            0.0312 as p_value, true as is_significant
        """
    )

    kpis = mart_metadata.for_model(con, "rpt_reactivation_kpis")
    ab = mart_metadata.for_model(con, "rpt_reactivation_ab_tests")

    assert kpis["messages_sent"].value == 200
    assert kpis["conversions"].value == 8
    assert kpis["conversion_rate"].value == 0.04
    funnel = md(kpis, "funnel_by_step").splitlines()
    assert funnel[0].startswith("| step | sent | delivered | human opens | clicks | conversions")
    assert funnel[2].startswith("| 1 | 120 | 115 | 12 | 6 | 5 | 4.17 % |")
    assert "| email | 150 |" in md(kpis, "kpis_by_channel")
    assert ab["ab_tests"].value == 1
    assert ab["significant_tests"].value == 1
    assert "| 1 | 5.00 % (600) | 8.00 % (600) | +3.00 pp | [+0.21, +5.79] pp | 0.0312 | yes |" in (
        md(ab, "results")
    )


def test_purge_candidates_counts_by_rule_without_emails(con):
    con.execute(
        """
        create table marts.purge_candidates as
        select * from (values
            ('b1', date '2024-06-30', 'c7', 'c7@example.com', 'sunset_silent'),
            ('b1', date '2024-06-30', 'c8', 'c8@example.com', 'sunset_silent'),
            ('b1', date '2024-06-30', 'c6', 'c6@example.com', 'retention_limit')
        ) as candidates(batch_id, as_of_date, contact_id, email, purge_rule)
        """
    )

    metadata = mart_metadata.for_model(con, "purge_candidates")

    assert metadata["candidates"].value == 3
    assert metadata["candidates_sunset_silent"].value == 2
    assert metadata["candidates_retention_limit"].value == 1
    assert "@" not in " ".join(str(value.value) for value in metadata.values())


def test_base_history(con):
    con.execute(
        """
        create table marts.rpt_base_history as
        select * from (values
            (date '2023-07-01', true, 5, 2, 0.4, 90.0),
            (date '2024-06-29', false, 8, 3, 0.375, 150.0),
            (date '2024-06-30', false, 8, 4, 0.5, 180.0)
        ) as history(as_of_date, is_reconstructed, contact_count, sleeping_contact_count,
            inactive_share, revenue_at_stake)
        """
    )

    metadata = mart_metadata.for_model(con, "rpt_base_history")

    assert metadata["snapshots"].value == 3
    assert metadata["observed_snapshots"].value == 2
    assert metadata["inactive_share"].value == 0.5
    assert metadata["inactive_share_change_since_previous"].value == 0.125
    assert md(metadata, "recent_snapshots").splitlines()[2].startswith("| 2024-06-30 | observed |")


def test_a_mart_without_builder_gets_nothing(con):
    assert mart_metadata.for_model(con, "sales_handoff") == {}


def test_a_failing_query_is_reported_not_raised(con):
    con.execute("create table marts.dim_customer_rfm (contact_id varchar)")  # columns missing

    metadata = mart_metadata.for_model(con, "dim_customer_rfm")

    assert list(metadata) == ["metadata_error"]
    assert "dim_customer_rfm" in metadata["metadata_error"].value


def test_md_table_escapes_pipes_and_handles_no_rows():
    assert mart_metadata.md_table(["a"], []) == "_no rows_"
    assert "a\\|b" in mart_metadata.md_table(["x"], [("a|b",)])

"""The audiences package through Dagster, on a small hand-made warehouse (no dbt run).

The warehouse holds what the assets read: ``marts.audience_reactivation_today`` (five
contacts, one held out), ``staging.stg_raw__contacts`` (their details), ``raw.contacts`` and,
for the suppression asset, ``suppression.email_hashes``. The dbt models themselves, and the
export of the mart they build, are tested in ``tests/dbt/test_audiences.py``.
"""

from __future__ import annotations

import csv
from datetime import date

import dagster as dg
import duckdb
import pytest

from tests.dbt.raw_fixture import ensure_manifest

ensure_manifest()

from dagster_project import settings  # noqa: E402  (the manifest must exist first)
from dagster_project.defs import audiences as audience_defs  # noqa: E402
from dagster_project.lib import audiences, privacy  # noqa: E402

DAY = date(2024, 6, 30)

# contact_id, channel, is_holdout, expected_value_rank, segment, last, recommended, days,
# tier, discount, step, variant
AUDIENCE = [
    ("a1", "email", False, 2, "loyal", "shoes", "socks", 120, "gold", 15, 1, "A"),
    ("a2", "email", False, 1, "cant_lose_them", "bags", None, 200, "platinum", 20, 2, "B"),
    ("a3", "email", True, 3, "loyal", "shoes", "socks", 100, "gold", 15, 1, "A"),
    ("a4", "sms", False, 4, "at_risk", "hats", "scarves", 95, "silver", 10, 3, "B"),
    ("a5", "push", False, 5, "lost", "toys", None, 400, "content", 0, 1, "A"),
]
# contact_id, email, phone, first_name
CONTACTS = [
    ("a1", "a1@example.com", None, "Zoé"),
    ("a2", "a2@example.com", None, "Anne, Marie"),
    ("a3", "a3@example.com", None, "Hidden"),
    ("a4", "a4@example.com", "+33600000004", None),
    ("a5", "a5@example.com", None, "Léo"),
]


def _write_warehouse(path, audience=AUDIENCE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        con.execute("create schema if not exists staging")
        con.execute("create schema if not exists raw")
        con.execute(
            """create or replace table marts.audience_reactivation_today (
                audience_date date, contact_id varchar, channel varchar, is_holdout boolean,
                expected_value_rank bigint, rfm_segment varchar,
                last_purchase_category varchar, recommended_category varchar,
                days_since_last_purchase bigint, offer_tier varchar, discount_percent integer,
                sequence_step integer, variant varchar)"""
        )
        con.executemany(
            "insert into marts.audience_reactivation_today values "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(DAY, *row) for row in audience],
        )
        con.execute(
            "create or replace table marts.dim_contact_audience_eligibility "
            "(audience_date date, contact_id varchar)"
        )
        con.execute("insert into marts.dim_contact_audience_eligibility values (?, 'a1')", [DAY])
        con.execute(
            "create or replace table staging.stg_raw__contacts "
            "(contact_id varchar, email varchar, phone varchar, first_name varchar)"
        )
        con.executemany("insert into staging.stg_raw__contacts values (?, ?, ?, ?)", CONTACTS)
        con.execute(
            "create or replace table raw.contacts as "
            "select contact_id, upper(email) as email from staging.stg_raw__contacts"
        )


def _materialize(asset):
    return dg.materialize([asset], raise_on_error=False)


def _read(path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


@pytest.fixture
def warehouse(reveil_env):
    path = settings.warehouse_path()
    _write_warehouse(path)
    return path


def test_exports_one_file_per_channel_without_holdouts(warehouse):
    result = _materialize(audience_defs.audience_exports)

    assert result.success
    folder = settings.exports_dir() / "audiences" / "2024-06-30"
    assert sorted(p.name for p in folder.iterdir()) == ["email.csv", "push.csv", "sms.csv"]
    email = _read(folder / "email.csv")
    assert email[0] == list(audiences.EXPORT_COLUMNS["email"])
    assert email[0][:3] == ["email", "contact_id", "first_name"]
    # by expected value rank; a3 is held out; a comma in a name is quoted, not split
    assert email[1:] == [
        ["a2@example.com", "a2", "Anne, Marie", "cant_lose_them", "bags", "", "200",
         "platinum", "20", "2", "B", "2024-06-30"],
        ["a1@example.com", "a1", "Zoé", "loyal", "shoes", "socks", "120", "gold", "15", "1",
         "A", "2024-06-30"],
    ]  # fmt: skip
    sms = _read(folder / "sms.csv")
    assert sms[0][:2] == ["phone", "contact_id"]
    assert [row[:3] for row in sms[1:]] == [["+33600000004", "a4", ""]]
    push = _read(folder / "push.csv")
    assert push[0][:2] == ["contact_id", "first_name"]
    assert "email" not in push[0] and "phone" not in push[0]
    assert [row[:2] for row in push[1:]] == [["a5", "Léo"]]

    [materialization] = result.asset_materializations_for_node("audiences__exports")
    metadata = materialization.metadata
    assert metadata["audience_date"].value == "2024-06-30"
    assert (metadata["rows_email"].value, metadata["rows_sms"].value) == (2, 1)
    assert (metadata["holdouts"].value, metadata["dagster/row_count"].value) == (1, 4)


def test_a_rerun_of_the_same_day_overwrites_the_same_files(warehouse):
    assert _materialize(audience_defs.audience_exports).success
    folder = settings.exports_dir() / "audiences" / "2024-06-30"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    assert _materialize(audience_defs.audience_exports).success  # same audience: same bytes
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before

    _write_warehouse(warehouse, [row for row in AUDIENCE if row[0] not in {"a1", "a5"}])
    assert _materialize(audience_defs.audience_exports).success
    assert sorted(p.name for p in folder.iterdir()) == ["email.csv", "push.csv", "sms.csv"]
    assert [row[1] for row in _read(folder / "email.csv")[1:]] == ["a2"]
    assert _read(folder / "push.csv") == [list(audiences.EXPORT_COLUMNS["push"])]  # header only


def test_two_audience_dates_in_the_mart_fail_the_export(warehouse):
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update marts.audience_reactivation_today set audience_date = date '2024-06-29' "
            "where contact_id = 'a1'"
        )
    result = _materialize(audience_defs.audience_exports)
    assert not result.success
    assert not (settings.exports_dir() / "audiences").exists()


def test_suppressed_contacts_without_a_list_is_empty(warehouse, monkeypatch):
    monkeypatch.delenv(privacy.KEY_ENV)  # no list: no key needed
    result = _materialize(audience_defs.suppressed_contacts)

    assert result.success
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from audiences.suppressed_contacts").fetchone() == (0,)


def test_suppressed_contacts_are_matched_with_the_key(warehouse, monkeypatch):
    key = privacy.suppression_key()
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema suppression")
        con.execute(
            "create table suppression.email_hashes "
            "(email_hmac varchar, batch_id varchar, added_at timestamp)"
        )
        con.execute(
            f"insert into suppression.email_hashes "
            f"select {privacy.email_hmac_sql(repr(' A4@Example.com '))}, 'b1', now()",
            key.params,
        )

    result = _materialize(audience_defs.suppressed_contacts)
    assert result.success
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select contact_id from audiences.suppressed_contacts").fetchall() == [
            ("a4",)
        ]
    [materialization] = result.asset_materializations_for_node("audiences__suppressed_contacts")
    assert materialization.metadata["dagster/row_count"].value == 1

    monkeypatch.delenv(privacy.KEY_ENV)  # a list but no key: refuse, do not build unchecked
    assert not _materialize(audience_defs.suppressed_contacts).success


def test_the_daily_job_runs_the_audience_assets_around_dbt():
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    exports = graph.get(audience_defs.EXPORTS_KEY)
    assert exports.group_name == "audiences"
    assert exports.kinds >= {"csv"}
    assert audience_defs.AUDIENCE_KEY == dg.AssetKey(["marts", "audience_reactivation_today"])
    assert exports.parent_keys == {
        audience_defs.AUDIENCE_KEY,
        dg.AssetKey(["staging", "stg_raw__contacts"]),
    }
    eligibility = graph.get(dg.AssetKey(["marts", "dim_contact_audience_eligibility"]))
    assert audience_defs.SUPPRESSED_CONTACTS_KEY in eligibility.parent_keys
    daily = defs.resolve_job_def("reveil_daily")
    assert {"audiences__exports", "audiences__suppressed_contacts"} <= set(daily.graph.node_names())

"""The purge on a hand-made warehouse: dry run, real purge, erasure everywhere, re-import.

The warehouse has the raw and staged tables of the ingestion, a dbt-like intermediate table,
two marts (one with only an email column), a view, and ``marts.purge_candidates`` shaped like
the dbt model. Two people are purged (c1 sunset_silent, c2 retention_limit), c3 stays.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
from datetime import date, datetime

import duckdb
import pytest

from dagster_project.lib import ingest, privacy, purge
from dagster_project.lib.mappings import parse_mapping

KEY = "test-key-not-secret"
AS_OF = date(2024, 6, 30)
RULES = "purge-rules-v1"
BATCH = purge.batch_id("purge", AS_OF, RULES)
PEOPLE = {
    # contact id: (email as exported, first name, last name, purge rule or None)
    "c1": ("  Zelda.Quornwhistle@Example.COM ", "Zeldabeth", "Quornwhistle", "sunset_silent"),
    "c2": ("ygritte.vantablack@example.org", "Ygrittina", "Vantablack", "retention_limit"),
    "c3": ("keeper.stays@example.net", "Keeperine", "Staysworth", None),
}
PURGED = [cid for cid, person in PEOPLE.items() if person[3]]


def build_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    ingest.ensure_schemas(con)
    for cid, (email, first, last, _rule) in PEOPLE.items():
        con.execute(
            """insert into raw.contacts (contact_id, email, first_name, last_name, phone,
                business_type, created_at, email_consent, sms_consent, push_consent)
            values (?, ?, ?, ?, '+33600000000', 'B2C', '2020-01-01', true, false, false)""",
            [cid, email, first, last],
        )
        for n in range(2):
            con.execute(
                "insert into raw.email_events (event_id, campaign_id, contact_id, event_type, "
                "occurred_at) values (?, 'k1', ?, 'sent', '2024-03-01')",
                [f"e-{cid}-{n}", cid],
            )
        con.execute(
            "insert into raw.orders (order_id, contact_id, ordered_at, amount, currency, status) "
            "values (?, ?, '2021-01-01', 10, 'EUR', 'completed')",
            [f"o-{cid}", cid],
        )
        # an order once re-delivered to another contact: the loader kept the one it left
        con.execute(
            "insert into raw.orders_superseded values (?, ?, '2020-06-01', '2024-03-02')",
            [f"o-moved-from-{cid}", cid],
        )
    # staged rows are views over landing files waiting for publish: a re-delivery of a purged
    # person there is kept out by the suppression filters of publish (see the re-import test)
    for schema in ("intermediate", "marts"):
        con.execute(f"create schema {schema}")
    con.execute(
        "create table intermediate.int_people as "
        "select contact_id, lower(trim(email)) as email, first_name, last_name from raw.contacts"
    )
    con.execute(
        "create table marts.fct_orders as select order_id, contact_id, amount from raw.orders"
    )
    con.execute(
        "create table marts.mailing as "
        "select lower(trim(email)) as email, 'newsletter' as audience from raw.contacts"
    )
    con.execute("create view marts.contacts_view as select * from raw.contacts")
    con.execute(
        f"""create table marts.purge_candidates as
        select
            '{BATCH}' as batch_id, date '{AS_OF}' as as_of_date, '{RULES}' as rule_version,
            contact_id, lower(trim(email)) as email,
            case contact_id when 'c1' then 'sunset_silent' else 'retention_limit' end
                as purge_rule,
            case contact_id when 'c1' then 'sunset_silent' else 'retention_limit' end
                as matched_rules,
            date '2024-03-01' as first_touch_date, date '2024-04-19' as last_touch_date,
            3 as touch_count, 7.0 as weeks_spanned, cast(null as date) as last_engagement_date,
            date '2020-01-01' as last_contact_from_them_date
        from raw.contacts where contact_id in ('c1', 'c2')"""
    )


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    monkeypatch.setenv(privacy.KEY_ENV, KEY)
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        build_warehouse(con)
    return path


def snapshot(con) -> dict:
    """Every row of every table outside the purge's own schemas."""
    tables = con.execute(
        "select schema_name, table_name from duckdb_tables() "
        "where database_name = current_database() "
        "and schema_name not in ('audit', 'archive', 'suppression') order by all"
    ).fetchall()
    return {
        f"{s}.{t}": con.execute(f'select * from "{s}"."{t}" order by all').fetchall()
        for s, t in tables
    }


def count(con, table_and_condition: str) -> int:
    return con.execute(f"select count(*) from {table_and_condition}").fetchone()[0]


def personal_data_hits(con, people) -> list[str]:
    """Every (table or view, column) whose VARCHAR values contain a person's email or name."""
    terms = []
    for cid in people:
        email, first, last, _rule = PEOPLE[cid]
        terms += [email.strip().lower(), first.lower(), last.lower()]
    columns = con.execute(
        "select schema_name, table_name, column_name from duckdb_columns() "
        "where database_name = current_database() and data_type = 'VARCHAR'"
    ).fetchall()
    hits = []
    for schema, table, column in columns:
        condition = " or ".join(f"contains(lower(\"{column}\"), '{term}')" for term in terms)
        found = con.execute(
            f'select count(*) from "{schema}"."{table}" where {condition}'
        ).fetchone()[0]
        if found:
            hits.append(f"{schema}.{table}.{column}")
    return hits


def test_cap_arithmetic():
    assert purge.bounce_reenable_cap(100) == 10
    assert purge.bounce_reenable_cap(10_000) == 200
    assert purge.bounce_reenable_cap(1_000_000) == 1_000
    assert purge.bounce_reenable_cap(0) == 10
    assert purge.bounce_reenable_cap(501) == 11
    assert purge.bounce_reenable_cap(49_999) == 1_000


def test_batch_id_is_the_dbt_one():
    # the value the dbt unit test test_purge_batch_id_is_deterministic pins
    assert purge.batch_id("purge", date(2024, 6, 30), "purge-rules-v1") == "d8ca0d71712a10b7"
    assert purge.batch_id("purge", "2024-06-30", "purge-rules-v1") == "d8ca0d71712a10b7"


def test_mode_from_env(monkeypatch):
    monkeypatch.delenv(purge.MODE_ENV, raising=False)
    assert purge.dry_run_from_env()
    monkeypatch.setenv(purge.MODE_ENV, "dry-run")
    assert purge.dry_run_from_env()
    monkeypatch.setenv(purge.MODE_ENV, " Execute ")
    assert not purge.dry_run_from_env()


def test_dry_run_deletes_nothing(warehouse, tmp_path):
    with duckdb.connect(str(warehouse)) as con:
        before = snapshot(con)
        result = purge.run_purge(con, exports_dir=tmp_path / "exports", run_id="r1", dry_run=True)
        assert snapshot(con) == before
        assert result.dry_run and result.candidates == 2 and result.batch_id == BATCH
        assert result.by_rule == {"retention_limit": 1, "company_closed": 0, "sunset_silent": 1}
        # the preview counts what a real purge would touch
        assert result.table_counts["raw.contacts"] == 2
        assert result.table_counts["raw.email_events"] == 4
        assert result.table_counts["raw.orders"] == 2
        assert result.table_counts["marts.mailing"] == 2
        audit = con.execute("select batch_id, dry_run, run_id from audit.purge_batches").fetchall()
        assert audit == [(BATCH, True, "r1")]
        assert con.execute("select count(*) from suppression.email_hashes").fetchone()[0] == 0
        assert con.execute("select count(*) from archive.purged_contacts").fetchone()[0] == 0
    assert result.csv_path == tmp_path / "exports" / "purge" / f"2024-06-30_{BATCH}_dry_run.csv"
    assert result.csv_path.exists() and result.parquet_path.exists()


def test_real_purge_erases_everywhere_and_keeps_orders(warehouse, tmp_path):
    with duckdb.connect(str(warehouse)) as con:
        assert personal_data_hits(con, PURGED)  # the scan does find them before
        result = purge.run_purge(con, exports_dir=tmp_path / "exports", run_id="r2", dry_run=False)
        assert not result.dry_run and result.candidates == 2
        # no table or view of any schema holds their email or name any more
        assert personal_data_hits(con, PURGED) == []
        # the others are untouched
        assert count(con, "raw.contacts") == 1
        assert count(con, "marts.mailing") == 1
        assert count(con, "raw.email_events where contact_id = 'c3'") == 2
        # orders kept for accounting, contact id pseudonymised
        orders = dict(con.execute("select order_id, contact_id from raw.orders").fetchall())
        assert orders["o-c3"] == "c3"
        for cid in PURGED:
            digest = hmac.new(KEY.encode(), f"contact:{cid}".encode(), hashlib.sha256)
            assert orders[f"o-{cid}"] == "purged:" + digest.hexdigest()[:16]
        # what a moved order left is not kept for accounting: erased
        assert count(con, "raw.orders_superseded") == 1
        # derived tables lose the rows; they are rebuilt from raw on the next dbt run
        assert con.execute("select count(*) from marts.fct_orders").fetchone()[0] == 1
        # suppression list: keyed hashes of the normalised emails, nothing else
        hashes = con.execute("select email_hmac from suppression.email_hashes").fetchall()
        assert {r[0] for r in hashes} == {privacy.email_hmac_hex(KEY, PEOPLE[c][0]) for c in PURGED}
        # archive: the minimum, no email or name column
        columns = [r[0] for r in con.execute("describe archive.purged_contacts").fetchall()]
        assert "email" not in columns and "first_name" not in columns
        assert "contact_id" not in columns
        archived = con.execute(
            "select contact_pseudonym, purge_rule, batch_id from archive.purged_contacts "
            "order by purge_rule"
        ).fetchall()
        assert [(r[1], r[2]) for r in archived] == [
            ("retention_limit", BATCH),
            ("sunset_silent", BATCH),
        ]
        assert {r[0] for r in archived} == {orders["o-c1"], orders["o-c2"]}
        # audit: counts per table, no personal data
        row = con.execute(
            "select dry_run, candidate_count, table_counts, counts_by_rule, suppression_added "
            "from audit.purge_batches"
        ).fetchone()
        assert row[0] is False and row[1] == 2 and row[4] == 2
        counts = json.loads(row[2])
        assert counts["raw.contacts"] == 2 and counts["raw.email_events"] == 4
        assert counts["raw.orders"] == 2 and counts["raw.orders_superseded"] == 2
        assert json.loads(row[3])["sunset_silent"] == 1
    # the ESP list: email,reason, normalised, sorted
    with result.csv_path.open() as handle:
        assert list(csv.reader(handle)) == [
            ["email", "reason"],
            ["ygritte.vantablack@example.org", "retention_limit"],
            ["zelda.quornwhistle@example.com", "sunset_silent"],
        ]
    assert result.csv_path.name == f"2024-06-30_{BATCH}.csv"
    parquet = duckdb.sql(f"select contact_id, reason from '{result.parquet_path}' order by 1")
    assert parquet.fetchall() == [("c1", "sunset_silent"), ("c2", "retention_limit")]


def test_rewrite_removes_the_deleted_bytes(warehouse, tmp_path):
    needle = b"ygritte.vantablack"
    assert needle in warehouse.read_bytes()
    with duckdb.connect(str(warehouse)) as con:
        purge.run_purge(con, exports_dir=tmp_path / "exports", run_id="r3", dry_run=False)
    assert needle in warehouse.read_bytes()  # STACK.md trap 4: DELETE leaves the bytes
    outcome = purge.erase_deleted_bytes(warehouse, tmp_path / "serving")
    assert outcome["warehouse_rewritten"] and not outcome["serving_republished"]
    assert needle not in warehouse.read_bytes()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from raw.contacts").fetchone()[0] == 1


def test_suppression_survives_reimport(warehouse, tmp_path):
    landing = tmp_path / "landing"
    contacts = landing / "contacts" / "again.csv"
    contacts.parent.mkdir(parents=True)
    contacts.write_text(
        "contact_id,email,business_type,created_at,email_consent,sms_consent,push_consent\n"
        # c1 again under a new CRM id and another spelling of the same address
        "c1-new,zelda.QUORNWHISTLE@example.com ,B2C,2024-07-01,true,false,false\n"
        "c2,ygritte.vantablack@example.org,B2C,2020-01-01,true,false,false\n"
        "c4,new.person@example.com,B2C,2024-07-01,true,false,false\n"
    )
    events = landing / "email_events" / "old_export.csv"
    events.parent.mkdir(parents=True)
    events.write_text(
        "event_id,campaign_id,contact_id,event_type,occurred_at\n"
        "e-c2-old,k1,c2,click,2021-01-01\n"
        "e-c4-1,k1,c4,sent,2024-07-02\n"
    )
    orders = landing / "orders" / "old_export.csv"
    orders.parent.mkdir(parents=True)
    orders.write_text(
        "order_id,contact_id,ordered_at,amount,currency,status\n"
        "o-c2-redelivered,c2,2021-01-02,10,EUR,completed\n"
    )
    with duckdb.connect(str(warehouse)) as con:
        purge.run_purge(con, exports_dir=tmp_path / "exports", run_id="r4", dry_run=False)
        for source in ("contacts", "email_events", "orders"):
            ingest.stage_source(con, parse_mapping({"source": source}), landing)
        row_filter = privacy.suppression_row_filter(con)
        assert set(row_filter) == {"contacts", "email_events"}
        published = ingest.publish(
            con,
            ["contacts", "email_events", "orders"],
            run_id="again",
            row_filter=row_filter,
            column_overrides=privacy.suppression_column_overrides(con),
        )
        # the re-delivered order is kept for accounting, under the pseudonym only
        (redelivered,) = con.execute(
            "select contact_id from raw.orders where order_id = 'o-c2-redelivered'"
        ).fetchone()
        assert redelivered.startswith("purged:")
        assert published["contacts"].inserted == 1
        contact_ids = {r[0] for r in con.execute("select contact_id from raw.contacts").fetchall()}
        assert contact_ids == {"c3", "c4"}
        event_contacts = {
            r[0] for r in con.execute("select distinct contact_id from raw.email_events").fetchall()
        }
        assert event_contacts == {"c3", "c4"}
        assert personal_data_hits(con, PURGED) == []


def test_a_live_contact_re_delivered_with_a_suppressed_email_keeps_its_stored_version(
    warehouse, tmp_path
):
    """The loader deleted c3's stored row (the key matched), then the suppression filter kept
    the new one out: c3 was gone, its orders and events orphaned, every later build failed."""
    landing = tmp_path / "landing"
    update = landing / "contacts" / "crm_update.csv"
    update.parent.mkdir(parents=True)
    update.write_text(
        "contact_id,email,business_type,created_at,email_consent,sms_consent,push_consent\n"
        "c3,zelda.quornwhistle@example.com,B2C,2020-01-01,true,false,false\n"  # c1's address
    )
    with duckdb.connect(str(warehouse)) as con:
        purge.run_purge(con, exports_dir=tmp_path / "exports", run_id="r4", dry_run=False)
        ingest.stage_source(con, parse_mapping({"source": "contacts"}), landing)
        published = ingest.publish(
            con, ["contacts"], run_id="update", row_filter=privacy.suppression_row_filter(con)
        )["contacts"]
        assert (published.inserted, published.replaced, published.dropped) == (0, 0, 1)
        assert con.execute("select email from raw.contacts where contact_id = 'c3'").fetchall() == [
            (PEOPLE["c3"][0],)
        ]
        assert personal_data_hits(con, PURGED) == []


def test_real_purge_refuses_without_key(warehouse, tmp_path, monkeypatch):
    monkeypatch.delenv(privacy.KEY_ENV)
    with duckdb.connect(str(warehouse)) as con:
        before = snapshot(con)
        with pytest.raises(privacy.SuppressionKeyError):
            purge.run_purge(con, exports_dir=tmp_path, run_id="r5", dry_run=False)
        with pytest.raises(privacy.SuppressionKeyError):
            purge.run_purge(
                con,
                exports_dir=tmp_path,
                run_id="r5",
                dry_run=False,
                key=privacy.suppression_key(allow_dev_key=True),
            )
        # a dry run is fine with the labelled dev key
        result = purge.run_purge(con, exports_dir=tmp_path, run_id="r6", dry_run=True)
        assert result.uses_dev_key
        assert snapshot(con) == before
        assert con.execute("select key_kind from audit.purge_batches").fetchall() == [("dev",)]


def test_stale_batch_is_refused(warehouse, tmp_path):
    with duckdb.connect(str(warehouse)) as con:
        with pytest.raises(purge.PurgeError, match="no longer"):
            purge.run_purge(
                con, exports_dir=tmp_path, run_id="r7", dry_run=False, batch_id="0" * 16
            )
        assert con.execute("select count(*) from raw.contacts").fetchone()[0] == 3


def test_empty_candidates(warehouse, tmp_path):
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from marts.purge_candidates")
        result = purge.run_purge(con, exports_dir=tmp_path, run_id="r8", dry_run=False)
        assert result.candidates == 0 and result.csv_path is None


def test_an_export_that_cannot_be_cleaned_stops_the_purge_before_any_erasure(warehouse, tmp_path):
    exports = tmp_path / "exports"
    broken = exports / "audiences" / "2024-06-29" / "email.parquet"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"zelda.quornwhistle@example.com, not a parquet file")
    with duckdb.connect(str(warehouse)) as con:
        before = snapshot(con)
        with pytest.raises(purge.PurgeError, match="could not be read") as failure:
            purge.run_purge(con, exports_dir=exports, run_id="r9", dry_run=False)
        assert "zelda" not in str(failure.value) and failure.value.__cause__ is None
        assert snapshot(con) == before  # nobody erased
        purge_tables = "duckdb_tables() where schema_name in ('suppression', 'archive')"
        assert count(con, purge_tables) == 0  # nobody suppressed or archived
    broken.unlink()  # once the file is repaired or removed, the same batch goes through
    with duckdb.connect(str(warehouse)) as con:
        result = purge.run_purge(con, exports_dir=exports, run_id="r10", dry_run=False)
        assert result.candidates == 2 and count(con, "raw.contacts") == 1


def test_handoff_export(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        columns = ", ".join(f"cast(null as varchar) as {c}" for c in purge.HANDOFF_COLUMNS[2:])
        con.execute(
            "create table marts.sales_handoff as select 'h1' as handoff_batch_id, "
            "date '2024-06-30' as as_of_date, 'c9' as contact_id, 'x@example.com' as email, "
            f"{columns}"
        )
        export = purge.export_handoff(con, tmp_path / "exports", batch_id="h1")
        assert export.path == tmp_path / "exports" / "handoff" / "2024-06-30.csv"
        assert export.rows == 1
        with export.path.open() as handle:
            rows = list(csv.DictReader(handle))
        assert rows[0]["contact_id"] == "c9" and rows[0]["email"] == "x@example.com"
        with pytest.raises(purge.PurgeError):
            purge.export_handoff(con, tmp_path / "exports", batch_id="other")


def test_open_with_retry_waits_for_the_lock(tmp_path):
    calls = []

    def opener():
        calls.append(datetime.now())
        if len(calls) < 3:
            raise duckdb.IOException("IO Error: Could not set lock on file")
        return purge.connect(tmp_path / "w.duckdb")

    with purge.open_with_retry(opener, timeout_s=5, poll_s=0.01) as con:
        assert con.execute("select 1").fetchone() == (1,)
    assert len(calls) == 3

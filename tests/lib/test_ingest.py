"""Ingestion: mappings, idempotence, and one test per bad-input case."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest
import yaml

from dagster_project.lib import ingest
from dagster_project.lib.mappings import MappingError, load_mapping, load_mappings, parse_mapping

ORDERS_HEADER = "order_id,contact_id,ordered_at,amount,currency,status\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield connection
    connection.close()


@pytest.fixture
def landing(tmp_path):
    return tmp_path / "landing"


def identity(source: str):
    return parse_mapping({"source": source})


def stage_and_publish(con, landing, source="orders", mapping=None):
    mapping = mapping or identity(source)
    staged = ingest.stage_source(con, mapping, landing)
    published = ingest.publish(con, [source], run_id="test")
    return staged, published[source]


def raw_rows(con, source="orders"):
    return con.execute(f"select * exclude (_loaded_at) from raw.{source} order by all").fetchall()


def snapshot(con):
    """Everything in raw, to prove a failure changed nothing."""
    return {
        table: con.execute(f"select * from raw.{table} order by all").fetchall()
        for (table,) in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'raw'"
        ).fetchall()
    }


# --- happy paths ---------------------------------------------------------------------------


def test_csv_load_casts_to_canonical_types(con, landing):
    write(
        landing / "orders/o1.csv", ORDERS_HEADER + "O1,C1,2026-01-02 10:00:00,12.50,EUR,completed\n"
    )
    staged, published = stage_and_publish(con, landing)
    assert staged.rows == 1 and published.inserted == 1
    types = dict(
        con.execute(
            "select column_name, data_type from duckdb_columns() "
            "where schema_name='raw' and table_name='orders'"
        ).fetchall()
    )
    assert types["amount"] == "DECIMAL(14,2)" and types["ordered_at"] == "TIMESTAMP"
    assert raw_rows(con)[0][:6] == (
        "O1",
        "C1",
        __import__("datetime").datetime(2026, 1, 2, 10),
        __import__("decimal").Decimal("12.50"),
        "EUR",
        "completed",
    )


def test_parquet_load(con, landing, tmp_path):
    (landing / "orders").mkdir(parents=True)
    duckdb.sql(
        "copy (select 'O' || i as order_id, 'C1' as contact_id, "
        "timestamp '2026-01-01' + to_days(cast(i as integer)) as ordered_at, "
        "cast(i as decimal(14,2)) as amount, 'EUR' as currency, 'completed' as status "
        f"from range(5) t(i)) to '{landing}/orders/o.parquet'"
    )
    _, published = stage_and_publish(con, landing)
    assert published.inserted == 5


def test_files_of_one_shape_are_read_by_one_reader_and_keep_their_own_name(con, landing):
    """Parquet parts and CSV exports of one header share a reader each (a UNION of one reader
    per file ran a 535 M-row aggregate out of memory); each row still names its file."""
    (landing / "orders/parts").mkdir(parents=True)
    for part in range(3):
        duckdb.sql(
            f"copy (select 'P{part}_' || i as order_id, 'C1' as contact_id, "
            "timestamp '2026-01-01' as ordered_at, cast(i as decimal(14,2)) as amount, "
            "'EUR' as currency, 'completed' as status "
            f"from range(2) t(i)) to '{landing}/orders/parts/p{part}.parquet'"
        )
    write(landing / "orders/a.csv", ORDERS_HEADER + "A1,C1,2026-01-02 10:00:00,1,EUR,completed\n")
    write(landing / "orders/b.csv", ORDERS_HEADER + "B1,C1,2026-01-02 10:00:00,2,EUR,completed\n")
    reordered = "status,order_id,contact_id,ordered_at,amount,currency\n"
    write(landing / "orders/c.csv", reordered + "completed,C9,C1,2026-01-02 10:00:00,3,EUR\n")
    ingest.stage_source(con, identity("orders"), landing)
    view = con.execute(
        "select sql from duckdb_views() where schema_name = 'staged' and view_name = 'orders'"
    ).fetchone()[0]
    assert view.count("read_parquet(") == 1 and view.count("read_csv(") == 2
    ingest.publish(con, ["orders"], run_id="test")
    files = con.execute(
        "select order_id, _source_file from raw.orders order by order_id"
    ).fetchall()
    assert files == [
        ("A1", "orders/a.csv"),
        ("B1", "orders/b.csv"),
        ("C9", "orders/c.csv"),
        *[(f"P{p}_{i}", f"orders/parts/p{p}.parquet") for p in range(3) for i in range(2)],
    ]


def test_rerun_on_same_files_adds_nothing_and_new_file_appends_only_its_rows(con, landing):
    write(landing / "orders/o1.csv", ORDERS_HEADER + "O1,C1,2026-01-02 10:00:00,10,EUR,completed\n")
    stage_and_publish(con, landing)
    staged, published = stage_and_publish(con, landing)
    assert staged.files == [] and staged.skipped_files == 1 and published.inserted == 0
    write(landing / "orders/o2.csv", ORDERS_HEADER + "O2,C1,2026-01-03 10:00:00,20,EUR,completed\n")
    staged, published = stage_and_publish(con, landing)
    assert [f.path for f in staged.files] == ["orders/o2.csv"]
    assert published.inserted == 1 and published.total_rows == 2


def test_redelivered_order_replaces_previous_version(con, landing):
    write(landing / "orders/o1.csv", ORDERS_HEADER + "O1,C1,2026-01-02 10:00:00,10,EUR,completed\n")
    stage_and_publish(con, landing)
    write(landing / "orders/o2.csv", ORDERS_HEADER + "O1,C1,2026-01-02 10:00:00,10,EUR,refunded\n")
    _, published = stage_and_publish(con, landing)
    assert published.replaced == 1 and published.total_rows == 1
    assert raw_rows(con)[0][5] == "refunded"


def test_redelivered_order_that_moved_leaves_its_old_contact_and_date(con, landing):
    """The loader keeps what a re-delivery replaced when the contact or the date changed
    (the incremental dbt models recompute the contact and the day it left); a change of
    status alone leaves nothing."""
    write(landing / "orders/o1.csv", ORDERS_HEADER + "O1,C1,2026-01-02 10:00:00,10,EUR,completed\n")
    stage_and_publish(con, landing)
    write(landing / "orders/o2.csv", ORDERS_HEADER + "O1,C1,2026-01-02 10:00:00,10,EUR,refunded\n")
    stage_and_publish(con, landing)
    superseded = (
        "select order_id, contact_id, ordered_at, _superseded_at from raw.orders_superseded"
    )
    assert con.execute(superseded).fetchall() == []
    write(
        landing / "orders/o3.csv",
        ORDERS_HEADER
        + "O1,C2,2026-01-05 10:00:00,10,EUR,refunded\n"
        + "O2,C3,2026-01-06 10:00:00,20,EUR,completed\n",
    )
    _, published = stage_and_publish(con, landing)
    assert published.replaced == 1 and published.total_rows == 2
    loaded_at = con.execute("select _loaded_at from raw.orders where order_id = 'O1'").fetchone()
    assert con.execute(superseded).fetchall() == [
        ("O1", "C1", datetime(2026, 1, 2, 10, 0), loaded_at[0])
    ]


def test_redelivered_events_are_not_duplicated(con, landing):
    header = "event_id,campaign_id,contact_id,event_type,occurred_at,is_machine_open,user_agent\n"
    row = "E1,K1,C1,open,2026-01-02 10:00:00,false,Mozilla\n"
    write(landing / "email_events/a.csv", header + row)
    stage_and_publish(con, landing, "email_events")
    write(landing / "email_events/b.csv", header + row + "E2,K1,C1,click,2026-01-02 10:01:00,,\n")
    _, published = stage_and_publish(con, landing, "email_events")
    assert published.inserted == 1 and published.total_rows == 2


def test_mapping_with_other_names_delimiter_dates_decimals_and_encoding(con, landing, tmp_path):
    mappings_dir = tmp_path / "mappings"
    write(
        mappings_dir / "orders.yml",
        """
source: orders
folder: erp
files: "commandes_*.csv"
csv: {delimiter: ";", encoding: latin-1}
timestamp_format: ["%d/%m/%Y %H:%M", "%d/%m/%Y"]
decimal_separator: ","
thousands_separator: " "
columns:
  order_id: N° commande
  contact_id: Code client
  ordered_at: Date commande
  amount: Montant TTC
  status: Statut
defaults: {currency: EUR}
values:
  status: {Livrée: completed, Remboursée: refunded, Annulée: cancelled}
""",
    )
    write(
        landing / "erp/commandes_2026.csv",
        "N° commande;Code client;Date commande;Montant TTC;Statut;Commentaire\n"
        "A-1;C1;02/01/2026 10:30;1 234,50;Livrée;très bien\n"
        "A-2;C2;03/01/2026;12,00;Remboursée;\n",
        encoding="latin-1",
    )
    write(landing / "erp/ignored.txt", "not an export\n")
    mapping = load_mapping("orders", mappings_dir)
    staged, published = stage_and_publish(con, landing, mapping=mapping)
    assert published.inserted == 2
    rows = raw_rows(con)
    assert [r[0] for r in rows] == ["A-1", "A-2"]
    assert str(rows[0][2]) == "2026-01-02 10:30:00" and str(rows[1][2]) == "2026-01-03 00:00:00"
    assert str(rows[0][3]) == "1234.50" and rows[0][4] == "EUR"
    assert [r[5] for r in rows] == ["completed", "refunded"]


def test_optional_columns_missing_from_the_export_become_null(con, landing):
    write(
        landing / "contacts/c.csv",
        "contact_id,email,business_type,created_at,email_consent,sms_consent,push_consent\n"
        "C1,a@example.com,B2C,2024-01-01,yes,no,0\n",
    )
    stage_and_publish(con, landing, "contacts")
    row = con.execute(
        "select first_name, email_consent, sms_consent, push_consent, legal_hold from raw.contacts"
    ).fetchone()
    assert row == (None, True, False, False, None)


def test_mapping_errors_are_explicit(tmp_path):
    with pytest.raises(MappingError, match="unknown source"):
        parse_mapping({"source": "nope"})
    with pytest.raises(MappingError, match="does not have"):
        parse_mapping({"source": "orders", "columns": {"price": "Prix"}})
    write(tmp_path / "orders.yml", "source: orders\ncolumns: [unclosed\n")
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping("orders", tmp_path)


# --- bad input: each names the file, the column and the line; raw stays as it was ----------


@pytest.fixture
def loaded(con, landing):
    write(landing / "orders/o0.csv", ORDERS_HEADER + "O0,C0,2026-01-01 09:00:00,5,EUR,completed\n")
    stage_and_publish(con, landing)
    return snapshot(con)


def assert_rejected(con, landing, loaded, match, *, column=None, line=None, source="orders"):
    with pytest.raises(ingest.LandingFileError, match=match) as info:
        ingest.stage_source(con, identity(source), landing)
    error = info.value
    assert error.file.startswith(source) or source in error.file
    assert error.column == column
    assert error.line == line
    ingest.publish(con, [source])  # publishing after a failed stage must not change raw
    assert snapshot(con) == loaded
    return error


def test_empty_file(con, landing, loaded):
    write(landing / "orders/o1.csv", "")
    err = assert_rejected(con, landing, loaded, "empty")
    assert err.file == "orders/o1.csv"


def test_header_without_rows(con, landing, loaded):
    write(landing / "orders/o1.csv", ORDERS_HEADER)
    assert_rejected(con, landing, loaded, "no data rows")


def test_missing_required_column(con, landing, loaded):
    write(
        landing / "orders/o1.csv",
        "order_id,contact_id,ordered_at,currency,status\nO1,C1,2026-01-02 10:00:00,EUR,completed\n",
    )
    assert_rejected(con, landing, loaded, "required column missing", column="amount")


def test_a_data_line_taken_for_a_header_is_never_quoted(con, landing):
    """A file without its header line whose first row holds a column name (`email` is also a
    preferred channel) was read as a header: the errors quoted the row (email, name, phone)."""
    row = "C9,+33612341111,jeanne.leak@example.org,LeakDurand,email,B2C,2024-01-01,true"
    write(landing / "contacts/no_header.csv", row + "\n" + row.replace("C9", "C8") + "\n")
    with pytest.raises(ingest.LandingFileError, match="required column missing") as info:
        ingest.stage_source(con, identity("contacts"), landing)
    message = str(info.value)
    assert "'email'" in message and "shaped 'AaaaAaaaaa'" in message  # known as is, others shaped
    for leak in ("jeanne", "LeakDurand", "33612341111"):
        assert leak not in message
    twice = "jeanne.leak@example.org,contact_id,jeanne.leak@example.org\nx,y,z\n"
    write(landing / "contacts/no_header.csv", twice)
    with pytest.raises(ingest.LandingFileError, match="twice") as info:
        ingest.stage_source(con, identity("contacts"), landing)
    assert "jeanne" not in str(info.value) and "jeanne" not in (info.value.column or "")


def test_unparseable_date(con, landing, loaded):
    write(
        landing / "orders/o1.csv",
        ORDERS_HEADER
        + "O1,C1,2026-01-02 10:00:00,10,EUR,completed\nO2,C1,32/01/2026,10,EUR,completed\n",
    )
    err = assert_rejected(
        con, landing, loaded, "not a valid TIMESTAMP", column="ordered_at", line=3
    )
    assert "'99/99/9999'" in str(err)  # its shape, not the value


def test_a_bad_value_is_shown_by_its_shape_never_as_is(con, landing, loaded):
    """An email or a phone number in a column mapped wrongly never reaches the message."""
    write(
        landing / "orders/o1.csv",
        ORDERS_HEADER + "O1,C1,bob.secret@example.com,+33 6 12 34 56 78,EUR,completed\n",
    )
    err = assert_rejected(
        con, landing, loaded, "not a valid TIMESTAMP", column="ordered_at", line=2
    )
    assert "'aaa.aaaaaa@aaaaaaa.aaa'" in str(err)
    assert "bob" not in str(err) and "example" not in str(err)


def test_value_shape():
    assert ingest.value_shape("31/12/2024") == "99/99/9999"
    assert ingest.value_shape("12,50 €") == "99,99 €"
    assert ingest.value_shape("Jeanne Dupré") == "Aaaaaa Aaaaa"
    assert ingest.value_shape(None) == "NULL"
    assert ingest.value_shape("1" * 50) == "9" * 40 + "…"


def test_unparseable_number(con, landing, loaded):
    write(
        landing / "orders/o1.csv", ORDERS_HEADER + "O1,C1,2026-01-02 10:00:00,12€,EUR,completed\n"
    )
    assert_rejected(con, landing, loaded, "not a valid DECIMAL", column="amount", line=2)


def test_unparseable_boolean(con, landing, loaded):
    header = "event_id,campaign_id,contact_id,event_type,occurred_at,is_machine_open\n"
    write(landing / "email_events/e.csv", header + "E1,K1,C1,open,2026-01-02 10:00:00,maybe\n")
    with pytest.raises(ingest.LandingFileError, match="not a valid BOOLEAN") as info:
        ingest.stage_source(con, identity("email_events"), landing)
    assert (info.value.column, info.value.line) == ("is_machine_open", 2)


def test_values_translate_an_exports_words_in_a_boolean_column(con, landing):
    """`values:` was applied to text columns only: on a boolean it was ignored and every row
    failed as "not a valid BOOLEAN". A word mapped to null is NULL, not a failure."""
    header = "event_id,campaign_id,contact_id,event_type,occurred_at,is_machine_open\n"
    rows = [
        "E1,K1,C1,open,2026-01-02 10:00:00,Loaded by proxy",
        "E2,K1,C1,open,2026-01-02 11:00:00,Opened",
        "E3,K1,C1,sent,2026-01-02 09:00:00,Sent",
    ]
    write(landing / "email_events/e.csv", header + "\n".join(rows) + "\n")
    mapping = parse_mapping(
        {
            "source": "email_events",
            "values": {
                "is_machine_open": {"Loaded by proxy": "true", "Opened": "false", "Sent": None}
            },
        }
    )
    stage_and_publish(con, landing, "email_events", mapping)
    assert con.execute(
        "select event_id, is_machine_open from raw.email_events order by 1"
    ).fetchall() == [("E1", True), ("E2", False), ("E3", None)]
    # a word the mapping does not know is still a bad value, with its line
    write(landing / "email_events/e2.csv", header + "E4,K1,C1,open,2026-01-03 10:00:00,Maybe\n")
    with pytest.raises(ingest.LandingFileError, match="not a valid BOOLEAN") as info:
        ingest.stage_source(con, mapping, landing)
    assert (info.value.column, info.value.line) == ("is_machine_open", 2)


def test_a_mappings_folder_that_would_be_misread_is_refused(tmp_path):
    with pytest.raises(MappingError, match="does not exist"):
        load_mapping("orders", tmp_path / "mapping")  # a typo: the folder is "mappings"
    folder = tmp_path / "mappings"
    write(folder / "orders_shopify.yml", "source: orders\n")
    write(folder / "README.md", "notes\n")  # not a mapping: fine
    with pytest.raises(MappingError, match="orders_shopify.yml named after no source"):
        load_mapping("contacts", folder)
    (folder / "orders_shopify.yml").rename(folder / "orders.yml")
    write(folder / "orders.yaml", "source: orders\n")
    with pytest.raises(MappingError, match="two mapping files for orders"):
        load_mapping("orders", folder)
    (folder / "orders.yaml").unlink()
    assert load_mapping("orders", folder).path == folder / "orders.yml"


def test_duplicated_header_names(con, landing, loaded):
    write(
        landing / "orders/o1.csv",
        "order_id,contact_id,ordered_at,amount,amount,status\n"
        "O1,C1,2026-01-02 10:00:00,10,10,completed\n",
    )
    assert_rejected(con, landing, loaded, "twice", column="amount", line=1)


def test_header_repeated_inside_the_data(con, landing, loaded):
    row = "O1,C1,2026-01-02 10:00:00,10,EUR,completed\n"
    write(landing / "orders/o1.csv", ORDERS_HEADER + row + ORDERS_HEADER + row.replace("O1", "O2"))
    assert_rejected(con, landing, loaded, "header line is repeated", line=3)


def test_wrong_encoding(con, landing, loaded):
    write(
        landing / "orders/o1.csv", ORDERS_HEADER.replace("status", "statut_é"), encoding="latin-1"
    )
    with pytest.raises(ingest.LandingFileError, match="not valid utf-8"):
        ingest.stage_source(con, identity("orders"), landing)
    assert snapshot(con) == loaded


def test_ragged_row_names_the_file(con, landing, loaded):
    write(landing / "orders/o1.csv", ORDERS_HEADER + "O1,C1,2026-01-02 10:00:00,10,EUR\n")
    with pytest.raises(ingest.LandingFileError) as info:
        ingest.stage_source(con, identity("orders"), landing)
    assert info.value.file == "orders/o1.csv"
    assert snapshot(con) == loaded


def test_missing_files_for_a_source_never_loaded(con, landing):
    with pytest.raises(ingest.LandingFileError, match="no landing file"):
        ingest.stage_source(con, identity("campaigns"), landing)


@pytest.mark.parametrize("source", ["company_registry", "order_lines"])
def test_an_optional_source_never_delivered_stays_empty(con, landing, source):
    """A B2C shop keeps no company registry; a shop's order export may come without its
    lines: the run stopped at "no landing file" for them."""
    staged = ingest.stage_source(con, identity(source), landing)
    assert staged.never_delivered and staged.files == []
    published = ingest.publish(con, [source], run_id="test")[source]
    assert (published.inserted, published.total_rows) == (0, 0)


def test_one_bad_file_among_good_ones_stages_nothing(con, landing, loaded):
    write(landing / "orders/o1.csv", ORDERS_HEADER + "O1,C1,2026-01-02 10:00:00,10,EUR,completed\n")
    write(landing / "orders/o2.csv", ORDERS_HEADER + "O2,C1,not a date,10,EUR,completed\n")
    with pytest.raises(ingest.LandingFileError, match="o2.csv"):
        ingest.stage_source(con, identity("orders"), landing)
    assert con.execute("select count(*) from staged.orders").fetchone()[0] == 0
    # fixed file: the next run loads both
    write(landing / "orders/o2.csv", ORDERS_HEADER + "O2,C1,2026-01-03 10:00:00,10,EUR,completed\n")
    _, published = stage_and_publish(con, landing)
    assert published.inserted == 2


def test_two_deliveries_of_one_key_in_one_batch_keep_the_latest_file(con, landing):
    # the day file sorts before the history part by name: delivery time decides
    import os

    history = write(
        landing / "orders/orders_part01.csv",
        ORDERS_HEADER + "O1,C1,2026-01-02 10:00:00,10,EUR,completed\n",
    )
    day = write(
        landing / "orders/orders_20260103.csv",
        ORDERS_HEADER + "O1,C1,2026-01-02 10:00:00,10,EUR,refunded\n",
    )
    os.utime(history, ns=(1_000_000_000, 1_000_000_000))
    os.utime(day, ns=(2_000_000_000, 2_000_000_000))
    _, published = stage_and_publish(con, landing)
    assert published.total_rows == 1
    assert raw_rows(con)[0][5] == "refunded"


# --- exports of other tools: offsets, exact numbers, BOM, blank columns, gzip, archives -----

EVENTS_HEADER = "event_id,campaign_id,contact_id,event_type,occurred_at\n"


def occurred(con):
    return dict(con.execute("select event_id, occurred_at from raw.email_events").fetchall())


def test_timestamps_with_an_offset_or_a_zone_are_converted_to_utc(con, landing):
    """ISO 8601 offsets (Brevo, HubSpot), Shopify's " +0100" and zone names are converted to
    UTC; a value without one is UTC. Casting straight to TIMESTAMP kept the local time."""
    con.execute("set TimeZone = 'America/New_York'")  # the session's zone must not matter
    rows = {
        "E1": "2024-03-05T14:22:00+01:00",
        "E2": "2024-03-05T14:22:00Z",
        "E3": "2024-03-05 14:22:00 +0100",
        "E4": "2024-03-05 14:22:00-05:00",
        "E5": "2024-03-05 14:22 CET",
        "E6": "2024-03-05 14:22:00",
        "E7": "2024-03-05T14:22:00.5+01:00",
    }
    body = "".join(f"{k},K1,C1,open,{v}\n" for k, v in rows.items())
    write(landing / "email_events/e.csv", EVENTS_HEADER + body)
    stage_and_publish(con, landing, "email_events")
    utc = {k: str(v) for k, v in occurred(con).items()}
    assert utc == {
        "E1": "2024-03-05 13:22:00",
        "E2": "2024-03-05 14:22:00",
        "E3": "2024-03-05 13:22:00",
        "E4": "2024-03-05 19:22:00",
        "E5": "2024-03-05 13:22:00",
        "E6": "2024-03-05 14:22:00",
        "E7": "2024-03-05 13:22:00.500000",
    }
    types = dict(con.execute("describe staged.email_events").fetchall()[i][:2] for i in range(5))
    assert types["occurred_at"] == "TIMESTAMP"


def test_timestamp_formats_with_a_zone_give_utc_and_mix_with_formats_without(con, landing):
    mapping = parse_mapping(
        {
            "source": "email_events",
            "timestamp_format": ["%Y-%m-%dT%H:%M:%S%z", "%d/%m/%Y %H:%M"],
        }
    )
    body = "E1,K1,C1,open,2024-03-05T14:22:00+0100\nE2,K1,C1,open,05/03/2024 14:22\n"
    write(landing / "email_events/e.csv", EVENTS_HEADER + body)
    stage_and_publish(con, landing, "email_events", mapping=mapping)
    assert {k: str(v) for k, v in occurred(con).items()} == {
        "E1": "2024-03-05 13:22:00",
        "E2": "2024-03-05 14:22:00",
    }


def test_a_mappings_timezone_reads_timestamps_without_one_as_local_time(con, landing):
    """Exports in local time without an offset (an ESP's or a shop's back office in Paris):
    taken as UTC they were an hour off in winter, two in summer, and a click at 00:30 fell
    on the day before. With `timezone:`, values without offset are local time (summer and
    winter time), values with one keep theirs, in text, in formats, and in Parquet."""
    con.execute("set TimeZone = 'America/New_York'")  # the session's zone must not matter
    mapping = parse_mapping({"source": "email_events", "timezone": "europe/paris"})
    assert mapping.timezone == "Europe/Paris"
    rows = {
        "E1": "2024-01-15 00:30:00",  # winter: UTC+1, the day before in UTC
        "E2": "2024-07-15 14:00:00",  # summer: UTC+2
        "E3": "2024-07-15T14:00:00Z",  # an explicit zone wins
        "E4": "2024-07-15 14:00:00 +0100",
    }
    body = "".join(f"{k},K1,C1,open,{v}\n" for k, v in rows.items())
    write(landing / "email_events/e.csv", EVENTS_HEADER + body)
    duckdb.sql(
        "copy (select 'E5' as event_id, 'K1' as campaign_id, 'C1' as contact_id, "
        "'open' as event_type, timestamp '2024-07-15 14:00:00' as occurred_at) "
        f"to '{landing / 'email_events/p.parquet'}'"
    )
    stage_and_publish(con, landing, "email_events", mapping=mapping)
    assert {k: str(v) for k, v in occurred(con).items()} == {
        "E1": "2024-01-14 23:30:00",
        "E2": "2024-07-15 12:00:00",
        "E3": "2024-07-15 14:00:00",
        "E4": "2024-07-15 13:00:00",
        "E5": "2024-07-15 12:00:00",
    }
    formats = parse_mapping(
        {"source": "orders", "timezone": "Europe/Paris", "timestamp_format": "%d/%m/%Y %H:%M"}
    )
    write(landing / "orders/o.csv", ORDERS_HEADER + "O1,C1,15/07/2024 14:00,5.00,EUR,completed\n")
    stage_and_publish(con, landing, "orders", mapping=formats)
    assert str(con.execute("select ordered_at from raw.orders").fetchone()[0]) == (
        "2024-07-15 12:00:00"
    )


def test_an_unknown_timezone_is_a_mapping_error():
    with pytest.raises(MappingError, match=r"timezone 'Paris' is not a time zone name"):
        parse_mapping({"source": "orders", "timezone": "Paris"})


def test_parquet_timestamps_with_time_zone_are_stored_in_utc(con, landing):
    con.execute("set TimeZone = 'Europe/Paris'")
    (landing / "email_events").mkdir(parents=True)
    duckdb.sql(
        "copy (select 'E1' as event_id, 'K1' as campaign_id, 'C1' as contact_id, "
        "'open' as event_type, timestamptz '2024-03-05 14:22:00+01:00' as occurred_at) "
        f"to '{landing}/email_events/e.parquet'"
    )
    stage_and_publish(con, landing, "email_events")
    assert str(occurred(con)["E1"]) == "2024-03-05 13:22:00"


LINES_HEADER = "order_id,line_number,product_id,product_category,quantity,unit_price\n"


@pytest.mark.parametrize(
    ("row", "column", "value"),
    [
        ("O1,1,P1,shoes,2.5,10.00", "quantity", "'9.9'"),  # was loaded as 3
        ("O1,1,P1,shoes,2,10.125", "unit_price", "'99.999'"),  # was loaded as 10.13
        ("O1,1,P1,shoes,2,9.999", "unit_price", "'9.999'"),  # was loaded as 10.00
    ],
)
def test_numbers_that_would_be_rounded_are_refused(con, landing, row, column, value):
    write(landing / "order_lines/l.csv", LINES_HEADER + "O0,1,P0,hats,1,5.00\n" + row + "\n")
    with pytest.raises(ingest.LandingFileError, match="not a valid") as info:
        ingest.stage_source(con, identity("order_lines"), landing)
    assert (info.value.column, info.value.line) == (column, 3)
    assert value in str(info.value)


def test_exact_numbers_in_other_spellings_still_load(con, landing):
    write(landing / "order_lines/l.csv", LINES_HEADER + "O1,1,P1,shoes,2.0,10.10000\n")
    stage_and_publish(con, landing, "order_lines")
    assert con.execute("select quantity, unit_price from raw.order_lines").fetchone() == (
        2,
        __import__("decimal").Decimal("10.10"),
    )


def test_parquet_floats_are_refused_when_not_exact_at_the_canonical_scale(con, landing):
    (landing / "order_lines").mkdir(parents=True)
    duckdb.sql(
        "copy (select 'O1' as order_id, 1 as line_number, 'P1' as product_id, "
        "'shoes' as product_category, 2.0::double as quantity, 10.125::double as unit_price) "
        f"to '{landing}/order_lines/l.parquet'"
    )
    with pytest.raises(ingest.LandingFileError, match="not a valid DECIMAL") as info:
        ingest.stage_source(con, identity("order_lines"), landing)
    assert info.value.column == "unit_price"


def test_utf8_bom_before_a_quoted_header(con, landing):
    """Excel and HubSpot write a BOM; the first header name is quoted."""
    header = '"order_id","contact_id","ordered_at","amount","currency","status"\r\n'
    path = landing / "orders/o.csv"
    path.parent.mkdir(parents=True)
    row = '"O1","C1","2026-01-02 10:00:00","12.50","EUR","completed"\r\n'
    path.write_bytes(b"\xef\xbb\xbf" + (header + row).encode())
    _, published = stage_and_publish(con, landing)
    assert published.inserted == 1 and raw_rows(con)[0][0] == "O1"


def test_blank_header_columns_are_left_out(con, landing):
    """Excel's empty trailing columns, or one trailing delimiter on every line."""
    write(
        landing / "orders/a.csv",
        ORDERS_HEADER.strip() + ",,\n" + "O1,C1,2026-01-02 10:00:00,1,EUR,completed,,\n",
    )
    write(
        landing / "orders/b.csv",
        ORDERS_HEADER.strip() + ",\n" + "O2,C1,2026-01-02 10:00:00,2,EUR,completed,\n",
    )
    _, published = stage_and_publish(con, landing)
    assert published.inserted == 2


def test_gzipped_csv(con, landing):
    import gzip

    path = landing / "orders/o.csv.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(
        gzip.compress((ORDERS_HEADER + "O1,C1,2026-01-02 10:00:00,1,EUR,completed\n").encode())
    )
    _, published = stage_and_publish(con, landing)
    assert published.inserted == 1


def test_a_loaded_file_moved_to_an_archive_or_touched_is_not_loaded_again(con, landing):
    """Loading day 1 again after day 2 put day 1's values back (email consent withdrawn on day
    2 became true again): a delivery is its content, wherever and whenever it lies."""
    import os
    import shutil

    header = "contact_id,email,business_type,created_at,email_consent,sms_consent,push_consent\n"
    row = "C1,a@example.com,B2C,2024-01-01,{},no,no\n"
    day1 = write(landing / "contacts/day1.csv", header + row.format("yes"))
    stage_and_publish(con, landing, "contacts")
    write(landing / "contacts/day2.csv", header + row.format("no"))
    stage_and_publish(con, landing, "contacts")
    (landing / "contacts/archive").mkdir()
    shutil.copy(day1, landing / "contacts/archive/day1_copy.csv")  # a copy: new mtime
    shutil.move(day1, landing / "contacts/archive/day1.csv")
    os.utime(landing / "contacts/day2.csv")  # touched
    staged, published = stage_and_publish(con, landing, "contacts")
    assert staged.files == [] and staged.skipped_files == 3 and published.inserted == 0
    assert con.execute("select email_consent from raw.contacts").fetchone() == (False,)


def test_the_same_new_file_twice_in_one_delivery_is_loaded_once(con, landing):
    row = "O1,C1,2026-01-02 10:00:00,1,EUR,completed\n"
    write(landing / "orders/a.csv", ORDERS_HEADER + row)
    write(landing / "orders/copy/a.csv", ORDERS_HEADER + row)
    staged, _ = stage_and_publish(con, landing)
    assert [f.path for f in staged.files] == ["orders/a.csv"] and staged.skipped_files == 1


def test_mapping_yaml_words_stay_words_and_null_maps_to_null(con, landing, tmp_path):
    """PyYAML's YAML 1.1 read Yes/No/On/Off as booleans (true_values [Oui, Yes] became
    ('oui', 'true')) and null as the text 'None'."""
    write(
        tmp_path / "m/contacts.yml",
        "source: contacts\n"
        "true_values: [Oui, Yes]\n"
        "false_values: [Non, No]\n"
        "values:\n  preferred_channel: {Aucun: null, Courriel: email}\n",
    )
    mapping = load_mapping("contacts", tmp_path / "m")
    assert mapping.true_values == ("oui", "yes") and mapping.false_values == ("non", "no")
    write(
        landing / "contacts/c.csv",
        "contact_id,email,business_type,created_at,email_consent,sms_consent,push_consent,"
        "preferred_channel\n"
        "C1,a@example.com,B2C,2024-01-01,Yes,No,No,Aucun\n"
        "C2,b@example.com,B2C,2024-01-01,Non,No,No,Courriel\n",
    )
    stage_and_publish(con, landing, "contacts", mapping=mapping)
    assert con.execute(
        "select contact_id, email_consent, preferred_channel from raw.contacts order by 1"
    ).fetchall() == [("C1", True, None), ("C2", False, "email")]


# --- bad landing files: no personal data in the message, the line an editor shows ------------

CONTACTS_HEADER = (
    "contact_id,email,first_name,last_name,business_type,created_at,"
    "email_consent,sms_consent,push_consent\n"
)
CONTACT = "C1,alice.martin@example.com,Alice,Martin,B2C,2024-01-01,true,false,false\n"
SECRETS = ("bob.secret@example.com", "Bobby", "Secretname")
SECRET_CONTACT = "C2,bob.secret@example.com,Bobby,Secretname,B2C,2024-01-01,true,false,false\n"


def contacts_error(con, landing, text: str | bytes, mapping=None) -> ingest.LandingFileError:
    path = landing / "contacts/c.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ingest.LandingFileError) as info:
        ingest.stage_source(con, mapping or identity("contacts"), landing)
    error = info.value
    assert error.file == "contacts/c.csv"
    for secret in (*SECRETS, "alice.martin", "Alice", "Martin"):
        assert secret not in str(error)
    # nor in the exception chain that Dagster records with the message
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    return error


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (SECRET_CONTACT.replace(",false,false\n", "\n"), "7 field(s) where the header has 9"),
        (SECRET_CONTACT.replace("\n", ",extra\n"), "10 field(s) where the header has 9"),
        # the reader's message quoted the record over several lines
        (SECRET_CONTACT.replace(",bob", ',"bob') + CONTACT.replace("C1", "C3"), "never closed"),
    ],
)
def test_csv_reader_errors_give_the_line_and_the_kind_never_the_content(
    con, landing, row, expected
):
    error = contacts_error(con, landing, CONTACTS_HEADER + CONTACT + row)
    assert expected in str(error) and error.line == 3


def test_a_file_without_header_is_refused_without_quoting_its_first_line(con, landing):
    error = contacts_error(con, landing, SECRET_CONTACT + CONTACT)
    assert "not a header line" in str(error) and "csv.header: false" in str(error)
    assert error.line == 1


def test_a_wrong_delimiter_is_named_without_quoting_the_line(con, landing):
    semicolons = CONTACTS_HEADER.replace(",", ";") + SECRET_CONTACT.replace(",", ";")
    error = contacts_error(con, landing, semicolons)
    assert "';' 8 time(s): set csv.delimiter" in str(error) and error.line == 1
    # header-less and ;-delimited: the first "name" was a whole data line
    error = contacts_error(con, landing, SECRET_CONTACT.replace(",", ";"))
    assert "set csv.delimiter" in str(error)


def test_encoding_errors_give_the_physical_line(con, landing):
    """The header read decodes a whole buffer: a bad byte on line 4 was reported at line 1."""
    latin1 = SECRET_CONTACT.replace("Bobby", "Zoë").encode("latin-1")
    error = contacts_error(con, landing, (CONTACTS_HEADER + CONTACT * 2).encode() + latin1)
    assert "not valid utf-8" in str(error) and error.line == 4
    assert f"byte offset {len(CONTACTS_HEADER) + 2 * len(CONTACT) + 28} in the file" in str(error)
    assert "character 29 of the line" in str(error)
    # far into the file, found by DuckDB's reader: the same physical line
    rows = "".join(CONTACT.replace("C1", f"C{i}") for i in range(3000))
    error = contacts_error(con, landing, (CONTACTS_HEADER + rows).encode() + latin1)
    assert "not valid utf-8" in str(error) and error.line == 3002
    assert "Zo" not in str(error)


QUOTED_NEWLINE = 'C0,a@example.com,"Ann\nMarie",Lee,B2C,2024-01-01,true,false,false\n'


def test_lines_are_the_physical_lines_after_quoted_line_breaks_and_blank_lines(con, landing):
    """Records were numbered, not lines: a value over two lines and a blank line shifted the
    line reported by one each."""
    bad_date = CONTACT.replace("C1", "C9").replace("2024-01-01", "someday")
    error = contacts_error(con, landing, CONTACTS_HEADER + QUOTED_NEWLINE + "\n" + bad_date)
    assert error.column == "created_at" and error.line == 5
    repeated = CONTACTS_HEADER + QUOTED_NEWLINE + "\n" + CONTACTS_HEADER + CONTACT
    assert contacts_error(con, landing, repeated).line == 5
    # DuckDB's own errors number records too (with blank lines): the same physical line
    ragged = CONTACTS_HEADER + QUOTED_NEWLINE + "\n" + SECRET_CONTACT.replace(",true", "")
    error = contacts_error(con, landing, ragged)
    assert "8 field(s)" in str(error) and error.line == 5
    banner = parse_mapping({"source": "contacts", "csv": {"skip_rows": 2}})
    error = contacts_error(con, landing, "Export\n\n" + ragged, mapping=banner)
    assert error.line == 7


def test_a_parquet_file_with_damaged_data_pages_is_refused_while_staging(con, landing, loaded):
    """count(*) came from the metadata: the file staged, then the gate failed on an error
    that named no file. The values of the damaged page are not quoted either."""
    path = landing / "orders/o.parquet"
    duckdb.sql(
        "copy (select 'O' || i as order_id, 'bob' || i || '@example.com' as contact_id, "
        "timestamp '2026-01-01' as ordered_at, cast(i as decimal(14,2)) as amount, "
        "'EUR' as currency, 'completed' as status from range(20000) t(i)) "
        f"to '{path}' (compression uncompressed)"
    )
    # a connection of its own: fetchone() leaves a result open, which on duckdb's default
    # connection breaks the next test that uses it (DuckDB 2.0)
    with duckdb.connect() as mem:
        offset, size = mem.execute(
            "select data_page_offset, total_compressed_size from parquet_metadata(?) "
            "where path_in_schema = 'contact_id'",
            [str(path)],
        ).fetchone()
        with path.open("r+b") as handle:  # the middle of the contact_id pages
            handle.seek(offset + size // 2)
            handle.write(b"\xff" * 64)
        assert mem.execute(f"select count(*) from '{path}'").fetchone()[0] == 20000  # metadata
    error = assert_rejected(con, landing, loaded, "cannot be read as parquet")
    assert error.file == "orders/o.parquet" and "@example.com" not in str(error)


# --- what is not an export: skipped by name; a name without a format -------------------------

NOT_EXPORTS = [
    "orders/~$orders.csv",  # Excel's owner file while the export is open
    "orders/.~lock.orders.csv#",  # LibreOffice's lock file
    "orders/README.txt",
    "orders/Read_me.csv",
    "orders/Thumbs.db",
    "orders/desktop.ini",
    "orders/export.tmp",
    "orders/orders2.csv.part",  # downloads in progress
    "orders/orders3.csv.crdownload",
    "orders/.hidden/o9.csv",
]


@pytest.mark.parametrize("pattern", [None, "*"])
def test_lock_temporary_system_and_readme_files_are_skipped_by_name(con, landing, pattern):
    good = ORDERS_HEADER + "O1,C1,2026-01-02 10:00:00,1,EUR,completed\n"
    write(landing / "orders/orders.csv", good)
    write(landing / "orders/readmissions.csv", good.replace("O1", "O2"))  # an export
    for name in NOT_EXPORTS:
        write(landing / name, "Exported by Bob Secretname, do not edit\n")
    mapping = parse_mapping(
        {"source": "orders", "files": pattern} if pattern else {"source": "orders"}
    )
    staged = ingest.stage_source(con, mapping, landing)
    assert [f.path for f in staged.files] == ["orders/orders.csv", "orders/readmissions.csv"]
    assert sorted(staged.not_exports) == sorted(NOT_EXPORTS)


def test_only_files_that_are_not_exports_is_no_landing_file(con, landing):
    write(landing / "orders/~$orders.csv", "x")
    with pytest.raises(ingest.LandingFileError, match=r"no landing file.*1 temporary, lock"):
        ingest.stage_source(con, identity("orders"), landing)


def test_a_name_without_a_format_suffix_names_the_file_and_the_fix(con, landing, loaded):
    import gzip

    path = landing / "orders/orders.gz"
    path.write_bytes(gzip.compress(ORDERS_HEADER.encode()))
    error = assert_rejected(con, landing, loaded, r"cannot tell the format.*\.csv\.gz.*format:")
    assert error.file == "orders/orders.gz"


# --- where a staged row comes from (a gate's failure message) --------------------------------


def test_staged_rows_are_located_in_their_files_and_lines_through_the_mapping(con, landing):
    """The key read through the mapping (renamed column, value as staged), a line break inside
    a quoted value and a blank line before the row, a key repeated in two files, a Parquet
    file, a key staged nowhere."""
    mapping = parse_mapping(
        {"source": "orders", "columns": {"order_id": "Ref", "contact_id": "Client"}}
    )
    header = "Ref,Client,ordered_at,amount,currency,status\n"
    row = "{ref},C1,2026-01-02 10:00:00,{amount},EUR,completed\n"
    write(
        landing / "orders/a.csv",
        header
        + row.format(ref="A1", amount="5.00").replace(",C1,", ',"C\n1",')
        + "\n"
        + row.format(ref=" A2 ", amount="-5.00")
        + row.format(ref="DUP", amount="1.00"),
    )
    write(landing / "orders/b.csv", header + row.format(ref="DUP", amount="2.00"))
    duckdb.sql(
        "copy (select 'P' || i as Ref, 'C1' as Client, timestamp '2026-01-01' as ordered_at, "
        "cast(i as decimal(14,2)) as amount, 'EUR' as currency, 'completed' as status "
        f"from range(10) t(i)) to '{landing / 'orders/c.parquet'}'"
    )
    ingest.stage_source(con, mapping, landing)
    rows = [
        {"order_id": " A2 ", "_source_file": "orders/a.csv"},  # file known (a column check)
        {"order_id": "DUP"},  # file looked up in the staged view (a SQL rule's sample)
        {"order_id": "P7"},
        {"order_id": "nowhere"},
        {"contact_id": "C1"},  # no key: cannot be located
        {"order_id": None, "_source_file": "orders/b.csv"},  # a null key: the file alone
    ]
    found = ingest.locate_staged_rows(con, mapping, landing, rows)
    assert found == [
        [("orders/a.csv", 5)],
        [("orders/a.csv", 6), ("orders/b.csv", 2)],
        [("orders/c.parquet", 8)],
        [],
        [],
        [("orders/b.csv", None)],
    ]


# --- exports that point to contacts by email ------------------------------------------------


def _contacts(landing, name: str, rows: list[str]) -> None:
    write(landing / f"contacts/{name}.csv", CONTACTS_HEADER + "".join(rows))


def test_events_and_orders_keyed_by_email_get_the_contact_id(con, landing):
    """An ESP's export (Brevo, Mailchimp) and a shop's orders (Shopify) name the contact by
    email, not by the CRM's id. With `contact_match: email` the email (any case, spaces) is
    replaced by the contact's id; rows of an address the CRM does not hold are left out and
    counted; a contact of the same delivery is found; no email reaches raw."""
    _contacts(landing, "c1", [CONTACT])  # C1 alice.martin@example.com, loaded before
    stage_and_publish(con, landing, "contacts")
    _contacts(landing, "c2", [SECRET_CONTACT])  # C2 bob.secret@example.com, this delivery
    ingest.stage_source(con, identity("contacts"), landing)
    events = parse_mapping(
        {
            "source": "email_events",
            "columns": {"contact_id": "Email", "occurred_at": "Date", "event_type": "Event"},
            "contact_match": "email",
        }
    )
    write(
        landing / "email_events/brevo.csv",
        "event_id,campaign_id,Email,Event,Date\n"
        "E1,K1, Alice.Martin@Example.com ,open,2024-03-05 10:00:00\n"
        "E2,K1,bob.secret@example.com,click,2024-03-05 11:00:00\n"
        "E3,K1,test-seed@agency.example,open,2024-03-05 12:00:00\n",
    )
    staged = ingest.stage_source(con, events, landing)
    assert staged.rows == 3 and staged.unmatched_rows == 1
    assert con.execute(
        "select event_id, contact_id from staged.email_events order by 1"
    ).fetchall() == [("E1", "C1"), ("E2", "C2")]
    published = ingest.publish(con, ["contacts", "email_events"], run_id="test")
    assert published["email_events"].inserted == 2
    assert con.execute(
        "select count(*) from raw.email_events where contact_id like '%@%'"
    ).fetchone() == (0,)


def test_a_contact_created_twice_with_one_email_gets_the_events_of_the_newest(con, landing):
    older = CONTACT
    newer = CONTACT.replace("C1,", "C7,").replace("2024-01-01", "2025-06-01")
    _contacts(landing, "c", [older, newer])
    stage_and_publish(con, landing, "contacts")
    mapping = parse_mapping(
        {"source": "orders", "columns": {"contact_id": "email"}, "contact_match": "email"}
    )
    write(
        landing / "orders/shop.csv",
        "order_id,email,ordered_at,amount,currency,status\n"
        "S1,alice.martin@example.com,2025-07-01,5.00,EUR,completed\n",
    )
    stage_and_publish(con, landing, "orders", mapping=mapping)
    assert con.execute("select contact_id from raw.orders").fetchall() == [("C7",)]


def test_a_delivery_whose_emails_match_no_contact_is_refused(con, landing):
    """The wrong column mapped (the campaign's sender address), or events before contacts:
    every row would be left out without a word."""
    _contacts(landing, "c", [CONTACT])
    stage_and_publish(con, landing, "contacts")
    mapping = parse_mapping(
        {"source": "email_events", "columns": {"contact_id": "From"}, "contact_match": "email"}
    )
    write(
        landing / "email_events/e.csv",
        "event_id,campaign_id,From,event_type,occurred_at\n"
        "E1,K1,news@shop.example,open,2024-03-05 10:00:00\n",
    )
    with pytest.raises(ingest.LandingFileError) as caught:
        ingest.stage_source(con, mapping, landing)
    error = caught.value
    assert error.file == "email_events/e.csv" and error.column == "From"
    assert "none of the 1 row(s) holds the email of a contact" in str(error)
    assert "news@shop.example" not in str(error)


def test_contact_match_is_checked_when_the_mapping_loads():
    with pytest.raises(MappingError, match="contact_match must be one of"):
        parse_mapping({"source": "orders", "contact_match": "phone"})
    with pytest.raises(MappingError, match="not to contacts"):
        parse_mapping({"source": "contacts", "contact_match": "email"})
    with pytest.raises(MappingError, match="not to campaigns"):
        parse_mapping({"source": "campaigns", "contact_match": "email"})


def test_an_export_without_event_ids_gets_ids_made_from_its_columns(con, landing):
    """An ESP's export has no event id: `ids_from` makes it from the row's own columns, so
    the next export, overlapping the last one, adds only its new rows."""
    _contacts(landing, "c", [CONTACT])
    stage_and_publish(con, landing, "contacts")
    mapping = parse_mapping(
        {
            "source": "email_events",
            "contact_match": "email",
            "columns": {"contact_id": "Email", "campaign_id": "Campaign", "event_type": "Event"},
            "ids_from": {"event_id": ["Email", "Campaign", "Event", "occurred_at"]},
        }
    )
    header = "Email,Campaign,Event,occurred_at\n"
    first = "alice.martin@example.com,K1,open,2024-03-05 10:00:00\n"
    second = "alice.martin@example.com,K1,click,2024-03-05 10:01:00\n"
    write(landing / "email_events/monday.csv", header + first)
    stage_and_publish(con, landing, "email_events", mapping=mapping)
    write(landing / "email_events/tuesday.csv", header + first + second)
    _, published = stage_and_publish(con, landing, "email_events", mapping=mapping)
    assert published.inserted == 1
    ids = con.execute("select event_id, event_type from raw.email_events order by 2").fetchall()
    assert [t for _, t in ids] == ["click", "open"] and len({i for i, _ in ids}) == 2
    assert all(len(i) == 32 and "@" not in i for i, _ in ids)  # a hash, never the email


def test_ids_from_names_the_missing_column_and_is_checked_when_the_mapping_loads(con, landing):
    mapping = parse_mapping(
        {"source": "email_events", "ids_from": {"event_id": ["contact_id", "Timestamp"]}}
    )
    write(landing / "email_events/e.csv", "campaign_id,contact_id,event_type,occurred_at\n")
    with open(landing / "email_events/e.csv", "a") as handle:
        handle.write("K1,C1,open,2024-03-05 10:00:00\n")
    with pytest.raises(ingest.LandingFileError) as caught:
        ingest.stage_source(con, mapping, landing)
    assert caught.value.column == "Timestamp" and "ids_from.event_id" in str(caught.value)
    with pytest.raises(MappingError, match="only text columns"):
        parse_mapping({"source": "email_events", "ids_from": {"occurred_at": ["a"]}})
    with pytest.raises(MappingError, match="both in ids_from and in columns"):
        parse_mapping(
            {"source": "orders", "columns": {"order_id": "N"}, "ids_from": {"order_id": ["a"]}}
        )


SHOPIFY_ORDERS = (
    "Name,Email,Financial Status,Paid at,Currency,Total,Lineitem quantity,Lineitem name,"
    "Created at\n"
    "#1001,alice.martin@example.com,paid,2024-03-05 14:25:00 +0100,EUR,59.90,1,Mug,"
    "2024-03-05 14:22:00 +0100\n"
    "#1001,alice.martin@example.com,,,,,2,Tea,\n"
    "#1002,alice.martin@example.com,refunded,,EUR,12.00,1,Tea,2024-03-06 09:00:00 +0100\n"
)
# the example of data/mappings/README.md, as users copy it
SHOPIFY = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "data" / "mappings" / "README.md")
    .read_text()
    .split("## Example: Shopify's orders export")[1]
    .split("```yaml")[1]
    .split("```")[0]
)


def test_a_shopify_export_with_a_row_per_line_item_is_one_order_per_name(con, landing):
    """Shopify writes one row per line item; the order's totals, status and date are on its
    first row only. `repeated_keys: merge` makes the rows of one order one record."""
    _contacts(landing, "c", [CONTACT])
    stage_and_publish(con, landing, "contacts")
    write(landing / "shopify/orders_export_1.csv", SHOPIFY_ORDERS)
    staged, published = stage_and_publish(con, landing, "orders", mapping=parse_mapping(SHOPIFY))
    assert staged.rows == 3 and published.inserted == 2
    rows = con.execute(
        "select order_id, contact_id, ordered_at, amount, currency, status from raw.orders "
        "order by 1"
    ).fetchall()
    assert [(r[0], r[1], str(r[2]), str(r[3]), r[4], r[5]) for r in rows] == [
        ("#1001", "C1", "2024-03-05 13:22:00", "59.90", "EUR", "completed"),
        ("#1002", "C1", "2024-03-06 08:00:00", "12.00", "EUR", "refunded"),
    ]


def test_merged_rows_giving_a_column_two_values_are_refused(con, landing):
    _contacts(landing, "c", [CONTACT])
    stage_and_publish(con, landing, "contacts")
    conflicting = SHOPIFY_ORDERS.replace(
        "#1001,alice.martin@example.com,,,,,2,Tea,",
        ("#1001,alice.martin@example.com,,,,60.00,2,Tea,"),
    )
    write(landing / "shopify/orders_export_1.csv", conflicting)
    with pytest.raises(ingest.LandingFileError) as caught:
        ingest.stage_source(con, parse_mapping(SHOPIFY), landing)
    assert caught.value.column == "Total" and caught.value.line == 2
    assert "two different values" in str(caught.value)
    with pytest.raises(MappingError, match="repeated_keys must be one of"):
        parse_mapping({"source": "orders", "repeated_keys": "last"})


# --- JSON exports (an API's dump) ------------------------------------------------------------


def test_json_lines_and_json_arrays_load_through_the_mapping(con, landing):
    """An API's export as JSON Lines or one array: fields read as text and parsed like a
    CSV's (a number in one record and a string in another, nested objects left out)."""
    mapping = parse_mapping(
        {
            "source": "orders",
            "columns": {"order_id": "id", "contact_id": "customer", "ordered_at": "created"},
            "decimal_separator": ".",
        }
    )
    write(
        landing / "orders/page1.jsonl",
        '{"id": "O1", "customer": "C1", "created": "2024-03-05T14:22:00+01:00", '
        '"amount": 12.5, "currency": "EUR", "status": "completed", "meta": {"a": 1}}\n'
        "\n"
        '{"id": "O2", "customer": "C1", "created": "2024-03-06 10:00:00", '
        '"amount": "7", "currency": "EUR", "status": "refunded"}\n',
    )
    write(
        landing / "orders/page2.json",
        '[{"id": "O3", "customer": "C2", "created": "2024-03-07 10:00:00", "amount": 1, '
        '"currency": "EUR", "status": "completed"}]',
    )
    staged, published = stage_and_publish(con, landing, mapping=mapping)
    assert published.inserted == 3
    rows = {r[0]: (str(r[2]), str(r[3])) for r in raw_rows(con)}
    assert rows == {
        "O1": ("2024-03-05 13:22:00", "12.50"),
        "O2": ("2024-03-06 10:00:00", "7.00"),
        "O3": ("2024-03-07 10:00:00", "1.00"),
    }


def test_a_malformed_json_lines_file_names_its_line_without_quoting_it(con, landing, loaded):
    write(
        landing / "orders/bad.jsonl",
        '{"order_id": "O9", "contact_id": "C1"}\n{"order_id": "O10", bob.secret@example.com}\n',
    )
    error = assert_rejected(con, landing, loaded, "cannot be read as JSON", line=2)
    assert "bob.secret" not in str(error)


def test_a_json_value_that_does_not_parse_names_the_field_and_record(con, landing, loaded):
    body = (
        '{"order_id": "O9", "contact_id": "C1", "ordered_at": "2024-03-05", "amount": 1, '
        '"currency": "EUR", "status": "completed"}\n'
        '{"order_id": "O10", "contact_id": "C1", "ordered_at": "yesterday", "amount": 1, '
        '"currency": "EUR", "status": "completed"}\n'
    )
    write(landing / "orders/o.ndjson", body)
    assert_rejected(con, landing, loaded, "not a valid TIMESTAMP", column="ordered_at", line=2)


def test_exclude_rows_leaves_out_an_exports_other_rows_keeping_line_numbers(con, landing):
    """An ESP's export holds event types reveil does not use (`deferred`, `request`): they
    would fail the gate's event types. `exclude_rows` leaves them out (case and spaces
    ignored), before any check, so a bad date on such a row is no error, and a later row's
    error still names its own line; a file of excluded rows only is loaded as empty."""
    mapping = parse_mapping(
        {
            "source": "email_events",
            "columns": {"event_type": "Event"},
            "values": {"event_type": {"opened": "open"}},
            "exclude_rows": {"Event": ["deferred", "Request"]},
        }
    )
    header = "event_id,campaign_id,contact_id,Event,occurred_at\n"
    write(
        landing / "email_events/a.csv",
        header + "E1,K1,C1,opened,2024-03-05 10:00:00\n"
        "E2,K1,C1, Deferred ,not a date\n"
        "E3,K1,C1,request,2024-03-05 10:00:00\n",
    )
    write(landing / "email_events/b.csv", header + "E4,K1,C1,deferred,2024-03-05 10:00:00\n")
    staged, published = stage_and_publish(con, landing, "email_events", mapping=mapping)
    assert (staged.rows, staged.excluded_rows, published.inserted) == (1, 3, 1)
    assert con.execute("select event_id, event_type from raw.email_events").fetchall() == [
        ("E1", "open")
    ]
    assert len(con.execute(f"select * from {ingest.LOAD_LOG}").fetchall()) == 2  # both files
    write(
        landing / "email_events/c.csv",
        header + "E5,K1,C1,deferred,2024-03-05\nE6,K1,C1,opened,yesterday\n",
    )
    with pytest.raises(ingest.LandingFileError) as caught:
        ingest.stage_source(con, mapping, landing)
    assert caught.value.column == "occurred_at" and caught.value.line == 3
    with pytest.raises(MappingError, match="exclude_rows maps your column"):
        parse_mapping({"source": "orders", "exclude_rows": ["test"]})
    typo = parse_mapping({"source": "email_events", "exclude_rows": {"Evnt": ["deferred"]}})
    with pytest.raises(ingest.LandingFileError, match="exclude_rows names a column") as caught:
        ingest.stage_source(con, typo, landing)
    assert caught.value.column == "Evnt"


# --- several mappings of one source (two systems feeding it) --------------------------------


def test_two_systems_feeding_one_source_each_read_through_its_own_mapping(con, landing, tmp_path):
    """The ESP's email events and the SMS provider's events both feed `email_events`:
    `email_events.yml` and `email_events.sms.yml`, each export in its own folder, staged
    into one view; a failed gate's rows are found in the right file through the right
    mapping; a file both mappings would read is refused."""
    folder = tmp_path / "mappings"
    write(folder / "email_events.yml", "source: email_events\n")
    write(
        folder / "email_events.sms.yml",
        "folder: sms\n"
        "columns: {event_id: MessageId, campaign_id: Campaign, contact_id: Customer,\n"
        "          event_type: Status, occurred_at: Time}\n"
        "values: {event_type: {DELIVERED: delivered, CLICKED: click}}\n",
    )
    mappings = load_mappings("email_events", folder)
    assert [m.folder for m in mappings] == ["email_events", "sms"]
    write(landing / "email_events/e.csv", EVENTS_HEADER + "E1,K1,C1,open,2024-03-05 10:00\n")
    write(
        landing / "sms/s.csv",
        "Time,MessageId,Customer,Campaign,Status\n"
        "2024-03-05 11:00,S1,C1,K2,DELIVERED\n"
        "2024-03-05 11:05,S2,C1,K2,CLICKED\n",
    )
    staged = ingest.stage_source(con, mappings, landing)
    assert staged.rows == 3 and {f.path for f in staged.files} == {
        "email_events/e.csv",
        "sms/s.csv",
    }
    rows = con.execute(
        "select event_id, event_type, _source_file from staged.email_events order by 1"
    ).fetchall()
    assert rows == [
        ("E1", "open", "email_events/e.csv"),
        ("S1", "delivered", "sms/s.csv"),
        ("S2", "click", "sms/s.csv"),
    ]
    located = ingest.locate_staged_rows(con, mappings, landing, [{"event_id": "S2"}])
    assert located == [[("sms/s.csv", 3)]]
    ingest.publish(con, ["email_events"], run_id="test")
    assert con.execute("select count(*) from raw.email_events").fetchone() == (3,)

    write(folder / "email_events.sms.yml", "folder: email_events\n")  # the same folder
    write(landing / "email_events/f.csv", EVENTS_HEADER + "E2,K1,C1,open,2024-03-06 10:00\n")
    with pytest.raises(ingest.LandingFileError, match="matched by two mappings of email_events"):
        ingest.stage_source(con, load_mappings("email_events", folder), landing)
    write(folder / "email_events_sms.yml", "source: email_events\n")
    with pytest.raises(MappingError, match=r"<source>.<name>.yml"):
        load_mappings("email_events", folder)

"""Ingestion: mappings, idempotence, and one test per bad-input case."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from dagster_project.lib import ingest
from dagster_project.lib.mappings import MappingError, load_mapping, parse_mapping

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


def test_unparseable_date(con, landing, loaded):
    write(
        landing / "orders/o1.csv",
        ORDERS_HEADER
        + "O1,C1,2026-01-02 10:00:00,10,EUR,completed\nO2,C1,32/01/2026,10,EUR,completed\n",
    )
    err = assert_rejected(
        con, landing, loaded, "not a valid TIMESTAMP", column="ordered_at", line=3
    )
    assert "'32/01/2026'" in str(err)


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

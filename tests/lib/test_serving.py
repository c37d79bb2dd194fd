"""Serving files for BI tools: publish, versions, rollback, 1.5 file format, byte-clean erasure."""

from __future__ import annotations

import struct
from pathlib import Path

import duckdb
import pytest

from dagster_project.lib import serving

ERASED_EMAIL = "erase.me.4242@example.org"
# Header of a DuckDB file: 8-byte checksum, b"DUCK", then the storage version number (uint64).
# DuckDB 1.5.x reads version numbers 64..68 ("we can only read versions between 64 and 68");
# DuckDB 2.0 writes 69 (999 in the header) unless told otherwise.
MAX_VERSION_NUMBER_READ_BY_DUCKDB_1_5 = 68


def write_warehouse(path: Path, batch: int, people: int = 3) -> None:
    """A warehouse whose marts hold ``batch`` everywhere and ``batch``-dependent row counts."""
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists raw")
        con.execute("create schema if not exists staging")
        con.execute("create schema if not exists marts")
        con.execute(
            "create or replace table raw.contacts as "
            "select range as contact_id, 'person' || range || '@example.org' as email "
            f"from range({people})"
        )
        con.execute("create or replace view staging.stg_contacts as select * from raw.contacts")
        con.execute(
            "create or replace table marts.dim_contacts as "
            f"select contact_id, email, email as customer_key, {batch} as batch from raw.contacts"
        )
        con.execute(
            "create or replace table marts.rpt_status as "
            f"select range as status_id, {batch} as batch from range({batch} + 1)"
        )
        con.execute("comment on table marts.rpt_status is 'Contacts per status.'")
    finally:
        con.close()


def read(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def files_containing(folder: Path, needle: bytes) -> list[Path]:
    """Every file under ``folder`` (databases, WALs, temporary files) holding ``needle``."""
    return [p for p in sorted(folder.rglob("*")) if p.is_file() and needle in p.read_bytes()]


@pytest.fixture
def warehouse(tmp_path) -> Path:
    path = tmp_path / "warehouse" / "reveil.duckdb"
    path.parent.mkdir()
    write_warehouse(path, batch=1)
    return path


@pytest.fixture
def serving_dir(tmp_path) -> Path:
    return tmp_path / "serving"


def test_publish_twice_keeps_two_versions_and_serves_the_newest(warehouse, serving_dir):
    first = serving.publish_serving(warehouse, serving_dir, run_id="run-1")
    write_warehouse(warehouse, batch=2)
    second = serving.publish_serving(warehouse, serving_dir, run_id="run-2")

    assert [v.version_id for v in serving.list_versions(serving_dir)] == [
        first.version_id,
        second.version_id,
    ]
    assert second.path == serving_dir / "reveil.duckdb"
    assert serving.current_version(serving_dir) == second.version_id
    assert read(second.path, "select distinct batch from marts.dim_contacts") == [(2,)]
    assert second.row_counts == {"marts.dim_contacts": 3, "marts.rpt_status": 3}
    assert first.row_counts["marts.rpt_status"] == 2
    assert second.elapsed_seconds > 0
    # only the served schemas, plus meta; no WAL, no temporary file left behind
    schemas = read(second.path, "select distinct schema_name from duckdb_tables() order by 1")
    assert schemas == [("marts",), ("meta",)]
    assert sorted(p.name for p in serving_dir.iterdir()) == ["reveil.duckdb", "versions"]


def test_meta_publication_describes_the_version(warehouse, serving_dir):
    info = serving.publish_serving(warehouse, serving_dir, run_id="run-7")
    rows = read(
        info.path,
        "select version_id, run_id, source_warehouse, storage_version, schema_name, table_name, "
        "row_count from meta.publication order by table_name",
    )
    assert rows == [
        (info.version_id, "run-7", str(warehouse.resolve()), "v1.5.0", "marts", "dim_contacts", 3),
        (info.version_id, "run-7", str(warehouse.resolve()), "v1.5.0", "marts", "rpt_status", 2),
    ]
    assert read(
        info.path, "select comment from duckdb_tables() where table_name = 'rpt_status'"
    ) == [("Contacts per status.",)]


def test_published_file_opens_read_only_in_duckdb_1_5_format(warehouse, serving_dir):
    info = serving.publish_serving(warehouse, serving_dir)
    con = duckdb.connect(str(info.path), read_only=True)
    try:
        tags, readonly = con.execute(
            "select tags, readonly from duckdb_databases() where database_name = current_database()"
        ).fetchone()
        assert readonly
        assert tags["storage_version"] == "v1.5.0+"
        with pytest.raises(duckdb.Error):
            con.execute("create table marts.x as select 1")
    finally:
        con.close()
    header = info.path.read_bytes()[:20]
    assert header[8:12] == b"DUCK"
    assert struct.unpack_from("<Q", header, 12)[0] <= MAX_VERSION_NUMBER_READ_BY_DUCKDB_1_5
    # and the header check can fail: a file in DuckDB 2.0's own format
    native = serving_dir / "native.duckdb"
    duckdb.connect(str(native)).close()
    native_version = struct.unpack_from("<Q", native.read_bytes(), 12)[0]
    assert native_version > MAX_VERSION_NUMBER_READ_BY_DUCKDB_1_5


def test_rollback_restores_the_previous_version_then_a_named_one(warehouse, serving_dir):
    first = serving.publish_serving(warehouse, serving_dir)
    write_warehouse(warehouse, batch=2)
    second = serving.publish_serving(warehouse, serving_dir)
    write_warehouse(warehouse, batch=3)
    third = serving.publish_serving(warehouse, serving_dir)

    assert serving.rollback(serving_dir).version_id == second.version_id
    assert read(third.path, "select distinct batch from marts.dim_contacts") == [(2,)]
    assert serving.rollback(serving_dir).version_id == first.version_id  # one further back
    assert serving.current_version(serving_dir) == first.version_id
    with pytest.raises(serving.ServingError, match="nothing to roll back to"):
        serving.rollback(serving_dir)

    serving.rollback(serving_dir, to_version=third.version_id)
    assert read(third.path, "select distinct batch from marts.dim_contacts") == [(3,)]
    with pytest.raises(serving.ServingError, match="no version"):
        serving.rollback(serving_dir, to_version="20000101T000000000000Z_000000")
    assert len(serving.list_versions(serving_dir)) == 3  # rollbacks delete nothing


def test_keep_prunes_the_oldest_versions(warehouse, serving_dir):
    published = []
    for batch in range(1, 5):
        write_warehouse(warehouse, batch=batch)
        published.append(serving.publish_serving(warehouse, serving_dir, keep=2))
    kept = [v.version_id for v in serving.list_versions(serving_dir)]
    assert kept == [published[2].version_id, published[3].version_id]
    assert published[3].pruned == [published[1].version_id]
    with pytest.raises(ValueError):
        serving.publish_serving(warehouse, serving_dir, keep=0)


def test_a_publication_removes_the_partial_files_of_a_killed_one(warehouse, serving_dir):
    """A publication killed before its rename left a full copy of the marts behind
    (versions/.reveil_serving_*.partial, its .wal); only the purge removed them."""
    serving.publish_serving(warehouse, serving_dir)
    folder = serving.versions_dir(serving_dir)
    killed = [
        folder / ".reveil_serving_x.duckdb.partial",
        folder / ".reveil_serving_x.duckdb.partial.wal",
    ]
    for path in killed:
        path.write_bytes(b"a killed copy")
    serving.publish_serving(warehouse, serving_dir)
    assert not any(path.exists() for path in killed)
    assert len(serving.list_versions(serving_dir)) == 2


def test_nothing_to_publish_leaves_the_served_file_alone(warehouse, serving_dir):
    info = serving.publish_serving(warehouse, serving_dir)
    with pytest.raises(serving.ServingError, match="nothing to publish"):
        serving.publish_serving(warehouse, serving_dir, schemas=("no_such_schema",))
    assert serving.current_version(serving_dir) == info.version_id
    assert len(serving.list_versions(serving_dir)) == 1
    assert sorted(p.name for p in (serving_dir / "versions").iterdir()) == [info.version_path.name]


def _warehouse_with_erased_person(path: Path, leave_wal: bool = False) -> None:
    con = duckdb.connect(str(path))
    try:
        if leave_wal:
            con.execute("pragma disable_checkpoint_on_shutdown")
            con.execute("set checkpoint_threshold = '1GB'")
        con.execute(f"insert into raw.contacts values (4242, '{ERASED_EMAIL}')")
        if not leave_wal:
            con.execute("checkpoint")
        con.execute("delete from raw.contacts where contact_id = 4242")
        con.execute("create macro raw.domain(email) as split_part(email, '@', 2)")
        if not leave_wal:
            con.execute("checkpoint")
            con.execute("vacuum")
            con.execute("checkpoint")
    finally:
        con.close()


@pytest.mark.parametrize("leave_wal", [False, True], ids=["checkpointed", "with-wal"])
def test_rewrite_database_removes_the_bytes_of_deleted_rows(warehouse, leave_wal):
    _warehouse_with_erased_person(warehouse, leave_wal=leave_wal)
    needle = ERASED_EMAIL.encode()
    # the test can fail: the deleted email is still in the files before the rewrite
    assert files_containing(warehouse.parent, needle)
    if leave_wal:
        assert Path(f"{warehouse}.wal").exists()

    info = serving.rewrite_database(warehouse)

    assert files_containing(warehouse.parent, needle) == []
    assert sorted(p.name for p in warehouse.parent.iterdir()) == ["reveil.duckdb"]
    assert info.storage_version == "v2.0.0"
    assert read(warehouse, "select count(*) from raw.contacts") == [(3,)]
    # views and macros survive
    assert read(warehouse, "select count(*) from staging.stg_contacts") == [(3,)]
    assert read(warehouse, "select raw.domain(email) from raw.contacts limit 1") == [
        ("example.org",)
    ]
    assert read(warehouse, "select count(*) from marts.dim_contacts") == [(3,)]


def test_rewrite_database_keeps_the_storage_version(serving_dir, warehouse):
    info = serving.publish_serving(warehouse, serving_dir)
    result = serving.rewrite_database(info.version_path)
    assert result.storage_version == "v1.5.0"
    tags = read(
        info.version_path,
        "select tags from duckdb_databases() where database_name = current_database()",
    )
    assert tags[0][0]["storage_version"] == "v1.5.0+"


def test_republish_after_erasure_leaves_no_file_with_the_person(warehouse, serving_dir):
    con = duckdb.connect(str(warehouse))
    # customer_key: an identifying value in a column the serving copy keeps
    con.execute(
        f"insert into marts.dim_contacts values (4242, '{ERASED_EMAIL}', '{ERASED_EMAIL}', 1)"
    )
    con.close()
    for _ in range(3):
        serving.publish_serving(warehouse, serving_dir)
    needle = ERASED_EMAIL.encode()
    assert len(files_containing(serving_dir, needle)) == 4  # 3 versions + the served file

    con = duckdb.connect(str(warehouse))
    con.execute("delete from marts.dim_contacts where contact_id = 4242")
    con.close()
    serving.rewrite_database(warehouse)
    info = serving.republish_after_erasure(warehouse, serving_dir, run_id="purge")

    assert files_containing(serving_dir, needle) == []
    assert files_containing(warehouse.parent, needle) == []
    assert [v.version_id for v in serving.list_versions(serving_dir)] == [info.version_id]
    with pytest.raises(serving.ServingError):
        serving.rollback(serving_dir)  # nothing from before the purge can come back


def test_scrub_serving_versions_deletes_versions_and_leftovers(warehouse, serving_dir):
    first = serving.publish_serving(warehouse, serving_dir)
    second = serving.publish_serving(warehouse, serving_dir)
    leftover = serving_dir / ".reveil.duckdb.tmp"
    leftover.write_bytes(b"interrupted copy")
    deleted = serving.scrub_serving_versions(serving_dir, keep_version=second.version_id)
    assert set(deleted) == {first.version_path, leftover}
    assert [v.version_id for v in serving.list_versions(serving_dir)] == [second.version_id]


def test_failed_republish_after_erasure_still_deletes_the_old_versions(warehouse, serving_dir):
    serving.publish_serving(warehouse, serving_dir)
    serving.publish_serving(warehouse, serving_dir)
    with pytest.raises(serving.ServingError):
        serving.republish_after_erasure(warehouse, serving_dir, schemas=("no_such_schema",))
    assert serving.list_versions(serving_dir) == []
    assert (serving_dir / "reveil.duckdb").exists()  # replaced by the next publication


def test_personal_columns_are_never_published(warehouse, serving_dir):
    info = serving.publish_serving(warehouse, serving_dir)
    columns = [
        c
        for (c,) in read(
            info.path, "select column_name from duckdb_columns() where table_name = 'dim_contacts'"
        )
    ]
    assert "email" not in columns and "customer_key" in columns
    assert files_containing(serving_dir, b"person1@example.org") != []  # via customer_key

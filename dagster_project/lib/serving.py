"""Read-only serving databases for BI tools, and byte-clean rewrites of DuckDB files.

Why a separate file (STACK.md traps 3–6)
----------------------------------------
DuckDB allows one writing process, and a process that holds a file read-only blocks writers
too: a BI tool connected to the warehouse would break the pipeline, and the pipeline would
lock the BI tool out. BI tools therefore never see the warehouse. They query
``<serving_dir>/reveil.duckdb``, a separate file that the pipeline never opens for writing:

1. ``publish_serving`` copies the mart tables of the warehouse (opened read-only) into a NEW
   file ``versions/reveil_serving_<UTC timestamp>_<id>.duckdb`` written with
   ``STORAGE_VERSION 'v1.5.0'`` (DuckDB 2.0's own format cannot be read by DuckDB <= 1.5, the
   version most BI drivers bundle), plus ``meta.publication``. The file is checkpointed and
   closed, so it has no WAL.
2. The version is copied to ``<serving_dir>/.reveil.duckdb.tmp`` (same folder, same
   filesystem), fsynced, and moved onto ``reveil.duckdb`` with ``os.replace``: an atomic
   rename. A reader opening the path gets either the whole old file or the whole new one,
   never a mix, and is never blocked: nobody ever holds a write lock on it.
3. The last ``keep`` versions stay in ``versions/`` for ``rollback``.

How BI tools must connect
-------------------------
* Open ``<serving_dir>/reveil.duckdb`` **read-only** (``duckdb.connect(path, read_only=True)``,
  JDBC ``jdbc:duckdb:/path/reveil.duckdb?duckdb.read_only=true``, ``duckdb -readonly``). The
  data is only ever changed by replacing the file; a read-write connection would create a WAL
  next to the file and could be clobbered by the next publication.
* A connection keeps the snapshot it opened: ``os.replace`` unlinks the old file, but a
  process that has it open keeps reading it (POSIX semantics) until it closes it. Reconnect
  (or let the connection pool recycle connections) to see a new publication. Within one Python
  process, ``duckdb.connect(path)`` reuses an already open database instance of the same path,
  so a new connection sees the old snapshot while any connection of that process is open;
  ``duckdb.connect()`` + ``ATTACH '<path>' (READ_ONLY)`` always opens the current file.
* ``meta.publication`` says which version a reader sees (``version_id``, ``published_at``,
  ``run_id``) and how many rows each table had when it was published.

Erasure (STACK.md trap 4)
-------------------------
A deleted row's bytes survive ``DELETE``, ``CHECKPOINT`` and ``VACUUM``; only writing a new
file removes them. ``rewrite_database`` rewrites a DuckDB file with ``COPY FROM DATABASE``
(tables, views, macros, sequences, types, indexes and comments are copied — verified on DuckDB
2.0) and replaces it. Old serving versions still hold the erased people, so after a purge
``republish_after_erasure`` publishes the rewritten warehouse and then DELETES every other
version (``scrub_serving_versions``): rewriting them would keep rollbacks, but a rollback must
never resurrect erased people, and a version from before the purge is exactly that. The cost
is that there is nothing to roll back to right after a purge. A reader that still has an old
file open keeps its snapshot until it disconnects; the filesystem frees the blocks then (and
does not overwrite them: wiping free space is the storage layer's job, not this module's).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

SERVING_FILE = "reveil.duckdb"
VERSIONS_DIR = "versions"
VERSION_PREFIX = "reveil_serving_"
STORAGE_VERSION = "v1.5.0"
META_SCHEMA = "meta"
PUBLICATION_TABLE = f"{META_SCHEMA}.publication"
_TMP_SUFFIX = ".tmp"
_PARTIAL_SUFFIX = ".partial"
_VERSION_RE = re.compile(
    rf"^{VERSION_PREFIX}(?P<id>(?P<ts>\d{{8}}T\d{{12}}Z)_(?P<rand>[0-9a-f]+))\.duckdb$"
)
_SOURCE_ALIAS = "reveil_serving_source"
_TARGET_ALIAS = "reveil_serving_target"


class ServingError(RuntimeError):
    """Publishing, rolling back or rewriting could not be done; nothing was changed."""


@dataclass(frozen=True)
class ServingVersion:
    """One published version kept in ``<serving_dir>/versions``."""

    version_id: str
    path: Path
    published_at: datetime

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


@dataclass(frozen=True)
class PublishInfo:
    """What ``publish_serving`` did."""

    path: Path  # <serving_dir>/reveil.duckdb, the file BI tools open
    version_id: str
    version_path: Path
    published_at: datetime
    row_counts: dict[str, int]  # "schema.table" -> rows
    elapsed_seconds: float
    size_bytes: int
    storage_version: str
    pruned: list[str] = field(default_factory=list)  # version ids deleted by ``keep``


@dataclass(frozen=True)
class RewriteInfo:
    """What ``rewrite_database`` did."""

    path: Path
    bytes_before: int
    bytes_after: int
    storage_version: str
    elapsed_seconds: float


# --- paths -------------------------------------------------------------------------------


def current_path(serving_dir: Path | str) -> Path:
    """The file BI tools open (read-only)."""
    return Path(serving_dir) / SERVING_FILE


def versions_dir(serving_dir: Path | str) -> Path:
    return Path(serving_dir) / VERSIONS_DIR


def _version_path(serving_dir: Path | str, version_id: str) -> Path:
    return versions_dir(serving_dir) / f"{VERSION_PREFIX}{version_id}.duckdb"


def _new_version_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%S%fZ}_{secrets.token_hex(3)}"


def _sql_string(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- versions ----------------------------------------------------------------------------


def list_versions(serving_dir: Path | str) -> list[ServingVersion]:
    """The versions kept for rollback, oldest first."""
    folder = versions_dir(serving_dir)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _VERSION_RE.match(path.name)
        if match and path.is_file():
            published_at = datetime.strptime(match["ts"], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
            found.append(ServingVersion(match["id"], path, published_at))
    return sorted(found, key=lambda v: v.version_id)


def current_version(serving_dir: Path | str) -> str | None:
    """The version id BI tools see now (from ``meta.publication``), None if nothing is published.

    Opened through ``ATTACH ... (READ_ONLY)`` on an in-memory connection, so it reads the file
    that is at the path now even if this process holds an older snapshot open elsewhere.
    """
    path = current_path(serving_dir)
    if not path.exists():
        return None
    con = duckdb.connect()
    try:
        con.execute(f"attach {_sql_string(path)} as {_TARGET_ALIAS} (read_only)")
        row = con.execute(
            f"select max(version_id) from {_TARGET_ALIAS}.{PUBLICATION_TABLE}"
        ).fetchone()
        return row[0] if row else None
    finally:
        con.close()


# --- atomic file moves -------------------------------------------------------------------


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # not supported on every platform; the rename is atomic anyway
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _install(version_path: Path, serving_dir: Path) -> Path:
    """Copy a version next to the serving file, then atomically rename it onto it.

    The copy keeps the versions immutable: whatever happens to the live file (a BI tool
    opening it read-write by mistake), the rollback copies stay as published.
    """
    target = current_path(serving_dir)
    tmp = target.with_name(f".{target.name}{_TMP_SUFFIX}")
    try:
        shutil.copyfile(version_path, tmp)
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return target


# --- publish -----------------------------------------------------------------------------


def _serving_objects(con: duckdb.DuckDBPyConnection, schemas: Sequence[str]) -> list[tuple]:
    """(schema, name, comment) of every table and view of ``schemas`` in the source."""
    return con.execute(
        f"""
        select schema_name, table_name, comment from duckdb_tables()
        where database_name = '{_SOURCE_ALIAS}' and not internal and list_contains(?, schema_name)
        union all
        select schema_name, view_name, comment from duckdb_views()
        where database_name = '{_SOURCE_ALIAS}' and not internal and list_contains(?, schema_name)
        order by 1, 2
        """,
        [list(schemas), list(schemas)],
    ).fetchall()


# Personal data BI does not need: never copied into the serving database (privacy by default;
# the purge and audience exports that do need them are files written for their platforms).
PERSONAL_COLUMNS = ("email", "email_normalised", "first_name", "last_name", "phone")


def _kept_columns(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> list[str]:
    columns = con.execute(
        f"""
        select column_name from duckdb_columns()
        where database_name = '{_SOURCE_ALIAS}' and schema_name = ? and table_name = ?
        order by column_index
        """,
        [schema, name],
    ).fetchall()
    return [c for (c,) in columns if c.lower() not in PERSONAL_COLUMNS]


def _copy_comments(con: duckdb.DuckDBPyConnection, schema: str, name: str, comment) -> None:
    target = f"{_TARGET_ALIAS}.{_ident(schema)}.{_ident(name)}"
    if comment:
        con.execute(f"comment on table {target} is {_sql_string(comment)}")
    columns = con.execute(
        f"""
        select column_name, comment from duckdb_columns()
        where database_name = '{_SOURCE_ALIAS}' and schema_name = ? and table_name = ?
          and comment is not null
        """,
        [schema, name],
    ).fetchall()
    for column, column_comment in columns:
        if column.lower() in PERSONAL_COLUMNS:
            continue
        con.execute(f"comment on column {target}.{_ident(column)} is {_sql_string(column_comment)}")


def publish_serving(
    warehouse_path: Path | str,
    serving_dir: Path | str,
    schemas: Sequence[str] = ("marts",),
    keep: int = 5,
    storage_version: str = STORAGE_VERSION,
    *,
    run_id: str | None = None,
    config: dict | None = None,
) -> PublishInfo:
    """Publish every table (and view, materialised) of ``schemas`` for BI tools.

    The warehouse is attached read-only: the caller must make sure no other process writes it
    meanwhile (in Dagster: the ``duckdb_writer`` pool). Raises ``ServingError`` — and leaves
    the published file as it was — when the schemas hold no table. ``config`` is passed to
    DuckDB (memory limit, threads, spill directory: ``settings.duckdb_config()``).
    """
    if keep < 1:
        raise ValueError("keep must be at least 1: the published version itself is kept")
    started = time.perf_counter()
    warehouse_path = Path(warehouse_path)
    serving_dir = Path(serving_dir)
    if not warehouse_path.exists():
        raise ServingError(f"no warehouse at {warehouse_path}")
    versions_dir(serving_dir).mkdir(parents=True, exist_ok=True)
    published_at = datetime.now(UTC)
    version_id = _new_version_id(published_at)
    version_path = _version_path(serving_dir, version_id)
    partial = version_path.with_name(f".{version_path.name}{_PARTIAL_SUFFIX}")

    row_counts: dict[str, int] = {}
    con = duckdb.connect(config=config or {})
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"attach {_sql_string(warehouse_path)} as {_SOURCE_ALIAS} (read_only)")
        objects = _serving_objects(con, schemas)
        if not objects:
            raise ServingError(
                f"nothing to publish: no table in schema(s) {', '.join(schemas)} of "
                f"{warehouse_path}; the published file was left as it was"
            )
        con.execute(
            f"attach {_sql_string(partial)} as {_TARGET_ALIAS} "
            f"(storage_version {_sql_string(storage_version)})"
        )
        for schema in sorted({schema for schema, _, _ in objects}):
            con.execute(f"create schema {_TARGET_ALIAS}.{_ident(schema)}")
        for schema, name, comment in objects:
            source = f"{_SOURCE_ALIAS}.{_ident(schema)}.{_ident(name)}"
            target = f"{_TARGET_ALIAS}.{_ident(schema)}.{_ident(name)}"
            kept = ", ".join(_ident(c) for c in _kept_columns(con, schema, name))
            con.execute(f"create table {target} as select {kept} from {source}")
            row_counts[f"{schema}.{name}"] = con.execute(
                f"select count(*) from {target}"
            ).fetchone()[0]
            _copy_comments(con, schema, name, comment)
        con.execute(f"create schema {_TARGET_ALIAS}.{META_SCHEMA}")
        con.execute(
            f"""
            create table {_TARGET_ALIAS}.{PUBLICATION_TABLE} (
                version_id varchar not null,
                published_at timestamptz not null,
                run_id varchar,
                source_warehouse varchar not null,
                storage_version varchar not null,
                schema_name varchar not null,
                table_name varchar not null,
                row_count bigint not null
            )
            """
        )
        con.executemany(
            f"insert into {_TARGET_ALIAS}.{PUBLICATION_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    version_id,
                    published_at,
                    run_id,
                    str(warehouse_path.resolve()),
                    storage_version,
                    *key.split(".", 1),
                    rows,
                ]
                for key, rows in row_counts.items()
            ],
        )
        con.execute(
            f"comment on table {_TARGET_ALIAS}.{PUBLICATION_TABLE} is "
            "'Which publication this file is: one row per published table, same version_id.'"
        )
        con.execute(f"checkpoint {_TARGET_ALIAS}")
        con.execute(f"detach {_TARGET_ALIAS}")
        con.execute(f"detach {_SOURCE_ALIAS}")
    except BaseException:
        con.close()
        partial.unlink(missing_ok=True)
        Path(f"{partial}.wal").unlink(missing_ok=True)
        raise
    con.close()
    if Path(f"{partial}.wal").exists():  # never ship a file whose data is partly in a WAL
        raise ServingError(f"{partial}.wal left after checkpoint; not publishing")
    _fsync_file(partial)
    os.replace(partial, version_path)
    _install(version_path, serving_dir)
    pruned = prune_versions(serving_dir, keep=keep)
    return PublishInfo(
        path=current_path(serving_dir),
        version_id=version_id,
        version_path=version_path,
        published_at=published_at,
        row_counts=row_counts,
        elapsed_seconds=time.perf_counter() - started,
        size_bytes=version_path.stat().st_size,
        storage_version=storage_version,
        pruned=pruned,
    )


def prune_versions(serving_dir: Path | str, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` versions (never the one being served), and the
    partial files of publications that were killed before their rename (each a full copy of
    the marts; publications never overlap: the ``duckdb_writer`` pool). Ids deleted."""
    for leftover in versions_dir(serving_dir).glob(f".*{_PARTIAL_SUFFIX}*"):
        leftover.unlink(missing_ok=True)
    current = current_version(serving_dir)
    versions = list_versions(serving_dir)
    pruned = []
    for version in versions[: max(len(versions) - keep, 0)]:
        if version.version_id == current:
            continue
        version.path.unlink(missing_ok=True)
        pruned.append(version.version_id)
    return pruned


# --- rollback ----------------------------------------------------------------------------


def rollback(serving_dir: Path | str, to_version: str | None = None) -> ServingVersion:
    """Serve an earlier version again, atomically. Returns the version now served.

    Without ``to_version``: the newest kept version older than the one served now (calling it
    again goes one further back). ``to_version``: a version id or its file name.
    """
    serving_dir = Path(serving_dir)
    versions = list_versions(serving_dir)
    if to_version is not None:
        wanted = to_version.removeprefix(VERSION_PREFIX).removesuffix(".duckdb")
        chosen = next((v for v in versions if v.version_id == wanted), None)
        if chosen is None:
            known = ", ".join(v.version_id for v in versions) or "none"
            raise ServingError(
                f"no version {to_version!r} in {versions_dir(serving_dir)} (kept: {known})"
            )
    else:
        current = current_version(serving_dir)
        older = [v for v in versions if current is None or v.version_id < current]
        if not older:
            raise ServingError(
                f"no version older than {current or 'the served file'} is kept in "
                f"{versions_dir(serving_dir)}: nothing to roll back to"
            )
        chosen = older[-1]
    _install(chosen.path, serving_dir)
    return chosen


# --- erasure -----------------------------------------------------------------------------


def _storage_version_of(con: duckdb.DuckDBPyConnection, alias: str) -> str:
    row = con.execute(
        "select tags['storage_version'] from duckdb_databases() where database_name = ?", [alias]
    ).fetchone()
    value = row[0] if row else None
    if isinstance(value, list):  # MAP subscript returned a list in older DuckDB versions
        value = value[0] if value else None
    return (value or "latest").rstrip("+")


def rewrite_database(
    path: Path | str, storage_version: str | None = None, *, config: dict | None = None
) -> RewriteInfo:
    """Rewrite a DuckDB file into a fresh one and atomically replace it (trap 4).

    ``COPY FROM DATABASE`` streams every schema, table, view, macro, sequence (with its
    current value), type, index and comment into ``<path>.rewrite.tmp``, which then replaces
    the file: the bytes of deleted rows, which survive DELETE/CHECKPOINT/VACUUM, are gone. The
    copy goes table by table through DuckDB's buffer manager (``config``: memory limit and
    spill directory), so a file larger than memory works. The storage version of the file is
    kept unless ``storage_version`` is given.

    The file is attached read-write (after a CHECKPOINT that folds its WAL in and removes it),
    so no other process can write it during the rewrite; the caller must be the only writer
    (in Dagster: the ``duckdb_writer`` pool).
    """
    started = time.perf_counter()
    path = Path(path)
    if not path.exists():
        raise ServingError(f"no database at {path}")
    bytes_before = path.stat().st_size
    tmp = path.with_name(f"{path.name}.rewrite{_TMP_SUFFIX}")
    tmp.unlink(missing_ok=True)
    Path(f"{tmp}.wal").unlink(missing_ok=True)
    con = duckdb.connect(config=config or {})
    try:
        con.execute(f"attach {_sql_string(path)} as {_SOURCE_ALIAS}")
        con.execute(f"checkpoint {_SOURCE_ALIAS}")
        version = storage_version or _storage_version_of(con, _SOURCE_ALIAS)
        con.execute(
            f"attach {_sql_string(tmp)} as {_TARGET_ALIAS} (storage_version {_sql_string(version)})"
        )
        con.execute(f"copy from database {_SOURCE_ALIAS} to {_TARGET_ALIAS}")
        con.execute(f"checkpoint {_TARGET_ALIAS}")
        con.execute(f"detach {_TARGET_ALIAS}")
        con.execute(f"detach {_SOURCE_ALIAS}")
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
        raise
    con.close()
    for leftover in (Path(f"{tmp}.wal"), Path(f"{path}.wal")):
        if leftover.exists():
            tmp.unlink(missing_ok=True)
            raise ServingError(f"{leftover} left after checkpoint; {path} was not replaced")
    _fsync_file(tmp)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return RewriteInfo(
        path=path,
        bytes_before=bytes_before,
        bytes_after=path.stat().st_size,
        storage_version=version,
        elapsed_seconds=time.perf_counter() - started,
    )


def scrub_serving_versions(serving_dir: Path | str, keep_version: str | None = None) -> list[Path]:
    """Delete every kept version except ``keep_version``, and leftover temporary files.

    Deleted, not rewritten: each old version is a snapshot from before the erasure, and a
    rollback must never bring erased people back. Call it right after publishing the rewritten
    warehouse (``republish_after_erasure`` does both); the served file itself is only cleaned
    by that publication. Returns the files deleted.
    """
    serving_dir = Path(serving_dir)
    deleted: list[Path] = []
    candidates: Iterable[Path] = [
        *(v.path for v in list_versions(serving_dir) if v.version_id != keep_version),
        *versions_dir(serving_dir).glob(f".*{_PARTIAL_SUFFIX}*"),
        *serving_dir.glob(f".{SERVING_FILE}{_TMP_SUFFIX}"),
    ]
    for path in candidates:
        if path.exists():
            path.unlink()
            deleted.append(path)
    return deleted


def republish_after_erasure(
    warehouse_path: Path | str,
    serving_dir: Path | str,
    schemas: Sequence[str] = ("marts",),
    storage_version: str = STORAGE_VERSION,
    *,
    run_id: str | None = None,
    config: dict | None = None,
) -> PublishInfo:
    """After people were erased from the (rewritten) warehouse: publish it, then delete every
    older serving version, so no file in ``serving_dir`` holds them any more.

    If publishing fails the older versions are deleted all the same (they hold the erased
    people) and the error is raised: the served file then still holds them until the next
    successful publication.
    """
    try:
        info = publish_serving(
            warehouse_path,
            serving_dir,
            schemas=schemas,
            keep=1,
            storage_version=storage_version,
            run_id=run_id,
            config=config,
        )
    except BaseException:
        scrub_serving_versions(serving_dir)
        raise
    scrub_serving_versions(serving_dir, keep_version=info.version_id)
    return info

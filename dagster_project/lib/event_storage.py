"""Dagster's SQLite event log, without a new database engine for every event.

``SqliteEventLogStorage`` (the event log of a ``DAGSTER_HOME`` without a database server)
creates a SQLAlchemy engine, opens the SQLite file, and disposes of both for every event it
stores, and again for every ``has_table`` it asks on the way. A daily run stores ~1,100 events
(dbt alone: an output, a materialisation or a check result, and their planned events, for each
of ~290 nodes), and Dagster stores each one on the thread that runs the step. Measured on
this machine: 10.9 ms per stored event with Dagster's class, 2.9 ms with one engine kept per
database file; a daily run of the 10 k-contact demo went from 67.5 s to 53–56 s, the 1 M
one from 121.5 s to 108.8 s (with the dbt adapter change of the same day; same hour).

``ReveilSqliteEventLogStorage`` is that class with two changes, nothing else: the engine of a
database file (a run's shard, or the index) is kept, up to ``MAX_ENGINES`` of them (least
recently used first out), and a table found once is not looked up again. The files, the
schema, the journal mode (WAL, Dagster's) and the durability (SQLite's default ``synchronous``)
are Dagster's, so a ``DAGSTER_HOME`` can switch to it and back with its history intact.
``dagster.yaml`` selects it (``event_log_storage``).

Drop it when Dagster's own SQLite storage reuses its engines. It overrides the private
``_connect`` of the exact Dagster version pinned in ``pyproject.toml``;
``tests/lib/test_event_storage.py`` runs it through a real Dagster instance and job, so an
upgrade that changes that method fails there, not in production.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as db
from dagster import Field, StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.pool import QueuePool

# open database files at most: a run's shard and the index are what a run writes; the
# webserver reads a few runs at a time
MAX_ENGINES = 16


def default_base_dir() -> str:
    """Where Dagster's default SQLite storage keeps its event logs:
    ``$DAGSTER_HOME/history/runs/``."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise ValueError("DAGSTER_HOME is not set: the event log needs a folder")
    return os.path.join(home, "history", "runs", "")


class ReveilSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log with one engine per database file (see the module)."""

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, db.engine.Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        self._tables_found: set[str] = set()
        super().__init__(base_dir or default_base_dir(), inst_data=inst_data)

    @classmethod
    def config_type(cls) -> dict:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> ReveilSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> db.engine.Engine:
        if self._engines_pid != os.getpid():  # a forked child never shares its parent's files
            self._engines = OrderedDict()
            self._engines_pid = os.getpid()
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        # one connection stays open; a second is opened only for Dagster's schema check of a
        # new file (_initdb inspects while it holds one)
        engine = create_engine(
            self.conn_string_for_shard(shard),
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=2,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        )
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        self._engines[shard] = engine
        while len(self._engines) > MAX_ENGINES:
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.engine.Connection]:
        # Dagster's lock: one connection of this storage at a time, across threads
        with self._db_lock:
            with self._engine(shard).connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        if table_name in self._tables_found:
            return True
        found = super().has_table(table_name)
        if found:
            self._tables_found.add(table_name)
        return found

    def _dispose_engines(self) -> None:
        with self._db_lock:
            while self._engines:
                _, engine = self._engines.popitem()
                engine.dispose()

    def wipe(self) -> None:
        self._dispose_engines()  # the run files are deleted: no connection may stay on them
        self._tables_found = set()
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()

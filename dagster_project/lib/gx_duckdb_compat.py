"""Make Great Expectations' SQL route work on DuckDB (GX 1.24.1, duckdb-engine 0.17.0,
SQLAlchemy 2.1.9).

Why this module exists
----------------------
GX validates a database through its ``SqlAlchemyExecutionEngine`` (``context.data_sources
.add_sql("duckdb:///…")``), which pushes every metric down as SQL. GX has no DuckDB support
yet (upstream issue great-expectations/great_expectations#11579, closed by a change that
only makes the error clearer; a native ``DuckDBExecutionEngine`` is pull request #12084, not
merged when this was written), and out of the box:

1. **Every metric fails** with ``MetricResolutionError: list index out of range``. GX runs a
   query inside ``with engine.connect()`` and fetches the rows *after* the block, i.e. after
   the connection went back to the SQLAlchemy pool, whose reset-on-return ``ROLLBACK``
   discards DuckDB's pending result. GX already keeps one persisted connection (a
   ``StaticPool`` plus a kept reference) for the dialects listed in
   ``sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS`` (sqlite, mssql, …):
   :func:`patch_persisted_connection` adds ``duckdb`` to that list.
2. **Regex expectations fail** with ``Regex is not supported for dialect duckdb``: GX's
   ``get_dialect_regex_expression`` has no DuckDB branch. :func:`patch_regex` adds one that
   uses DuckDB's ``regexp_matches(column, pattern)`` (a *search*, like GX's other backends).
3. **Column expectations on a table outside DuckDB's default schema fail** (e.g.
   ``raw.orders``: ``Catalog Error: Table with name orders does not exist``). Every column
   expectation first resolves ``table.column_types``; SQLAlchemy 2.1's PostgreSQL reflection,
   which duckdb-engine inherits, queries ``pg_collation`` (absent from DuckDB), and GX's
   fallback then selects from the bare table name, dropping the schema (so a same-named
   table in ``main`` would silently lend its columns instead). For a query asset
   the fallback even executes the whole query once. :func:`patch_column_metadata` makes GX
   read DuckDB's ``information_schema.columns`` (tables) or ``DESCRIBE <query>`` (queries).

The patches are small, idempotent, reversible (for tests) and applied together by
:func:`apply`, which must run before GX validates anything (``gates.run_suite`` calls it).
Open DuckDB read-only (:data:`READ_ONLY_ENGINE_KWARGS`), otherwise GX takes the file's write
lock and blocks the pipeline's writer.

**Drop this module** once GX ships native DuckDB support (watch #11579 / #12084): delete it,
its call sites and ``tests/lib/test_gx_duckdb_compat.py``, and check that the tests of
``gates`` still pass.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import sqlalchemy as sa

logger = logging.getLogger(__name__)

DUCKDB_DIALECT = "duckdb"

# kwargs for SQLAlchemy's create_engine (GX's SQL datasource ``kwargs=``): read-only, so a
# validation never takes DuckDB's write lock.
READ_ONLY_ENGINE_KWARGS: dict[str, Any] = {"connect_args": {"read_only": True}}


def read_only_engine_kwargs(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """SQLAlchemy engine kwargs opening the file read-only with DuckDB settings ``config``
    (memory_limit, threads, temp_directory): without them DuckDB takes 80 % of the RAM and
    a gate on 500 M rows ran out of memory instead of spilling."""
    connect_args = dict(READ_ONLY_ENGINE_KWARGS["connect_args"])
    if config:
        connect_args["config"] = dict(config)
    return {**READ_ONLY_ENGINE_KWARGS, "connect_args": connect_args}


_ENGINE_MODULE = "great_expectations.execution_engine.sqlalchemy_execution_engine"
_METRICS_UTIL_MODULE = "great_expectations.expectations.metrics.util"
_REGEX_FUNCTION = "get_dialect_regex_expression"
_COLUMN_METADATA_FUNCTION = "get_sqlalchemy_column_metadata"
# attribute set on our wrappers, holding the GX function they wrap
_WRAPPED = "__reveil_duckdb_wraps__"


def duckdb_url(database_path: Any) -> str:
    """SQLAlchemy URL of a DuckDB file, for ``context.data_sources.add_sql``."""
    return f"duckdb:///{database_path}"


def _is_duckdb_dialect(dialect: Any) -> bool:
    """GX hands metrics a dialect module, class or instance; duckdb-engine has no module."""
    for candidate in (dialect, getattr(dialect, "dialect", None)):
        if getattr(candidate, "name", None) == DUCKDB_DIALECT:
            return True
    return False


# --- helpers: replace a GX function in every module that imported it by name ----------------


def _holders(function_name: str) -> Iterator[ModuleType]:
    for name, module in list(sys.modules.items()):
        if name.startswith("great_expectations.") and callable(
            getattr(module, function_name, None)
        ):
            yield module


def _is_wrapped(module_name: str, function_name: str) -> bool:
    module = sys.modules.get(module_name)
    return hasattr(getattr(module, function_name, None), _WRAPPED)


def _wrap_everywhere(
    module_name: str, function_name: str, make_wrapper: Callable[[Callable], Callable]
) -> bool:
    """Replace ``module_name.function_name`` with ``make_wrapper(original)`` there and in every
    GX module that imported it by name (GX's metric modules do ``from … import name``).
    Modules imported later pick the wrapper up from ``module_name``. Idempotent."""
    home = importlib.import_module(module_name)
    current = getattr(home, function_name)
    original = getattr(current, _WRAPPED, current)
    wrapper = current if hasattr(current, _WRAPPED) else None
    changed = False
    for module in _holders(function_name):
        found = getattr(module, function_name)
        if found is not original:
            continue  # already wrapped, or an unrelated function of the same name
        if wrapper is None:
            wrapper = make_wrapper(original)
            setattr(wrapper, _WRAPPED, original)
        setattr(module, function_name, wrapper)
        changed = True
    return changed


def _unwrap_everywhere(function_name: str) -> None:
    for module in _holders(function_name):
        found = getattr(module, function_name)
        if hasattr(found, _WRAPPED):
            setattr(module, function_name, getattr(found, _WRAPPED))


# --- patch 1: one persisted connection for duckdb -------------------------------------------


class _DialectName(str):
    """A dialect name that GX's persisted-connection list accepts next to its enum members.

    GX compares the list's items with ``==`` against a dialect name string and reads their
    ``.value`` (``_dialect_requires_persisted_connection``); ``GXSqlDialect`` has no duckdb
    member, so a ``str`` with a ``value`` property stands in for one.
    """

    @property
    def value(self) -> str:
        return str(self)


def persisted_connection_patched() -> bool:
    """True when GX keeps one persisted connection for duckdb engines."""
    module = importlib.import_module(_ENGINE_MODULE)
    return any(d == DUCKDB_DIALECT for d in module._PERSISTED_CONNECTION_DIALECTS)


def patch_persisted_connection() -> bool:
    """Add duckdb to GX's persisted-connection dialects. Returns True if it changed anything.

    Takes effect for execution engines built afterwards (the pool class is chosen when GX
    creates the engine)."""
    if persisted_connection_patched():
        return False
    module = importlib.import_module(_ENGINE_MODULE)
    module._PERSISTED_CONNECTION_DIALECTS = (
        *module._PERSISTED_CONNECTION_DIALECTS,
        _DialectName(DUCKDB_DIALECT),
    )
    return True


def unpatch_persisted_connection() -> None:
    module = importlib.import_module(_ENGINE_MODULE)
    module._PERSISTED_CONNECTION_DIALECTS = tuple(
        d for d in module._PERSISTED_CONNECTION_DIALECTS if d != DUCKDB_DIALECT
    )


# --- patch 2: regex expectations through regexp_matches() -----------------------------------


def _make_regex_wrapper(original: Callable) -> Callable:
    def get_dialect_regex_expression(column, regex, dialect, positive=True):
        """GX's regex expression builder, plus a DuckDB branch (reveil gx_duckdb_compat)."""
        if _is_duckdb_dialect(dialect):
            matches = sa.func.regexp_matches(column, sa.literal(regex))
            return matches if positive else sa.not_(matches)
        return original(column, regex, dialect, positive)

    return get_dialect_regex_expression


def regex_patched() -> bool:
    return _is_wrapped(_METRICS_UTIL_MODULE, _REGEX_FUNCTION)


def patch_regex() -> bool:
    """Give GX's regex expectations a DuckDB branch. Returns True if it changed anything."""
    return _wrap_everywhere(_METRICS_UTIL_MODULE, _REGEX_FUNCTION, _make_regex_wrapper)


def unpatch_regex() -> None:
    _unwrap_everywhere(_REGEX_FUNCTION)


# --- patch 3: column metadata from DuckDB's catalog -----------------------------------------


def _quote(identifier: str) -> str:
    return '"' + str(identifier).replace('"', '""') + '"'


def duckdb_column_metadata(
    connection: sa.Connection, table_selectable: Any, schema_name: str | None = None
) -> list[dict[str, Any]]:
    """Columns (``name``, ``type`` as DuckDB spells it) of a table or of a query."""
    if isinstance(table_selectable, sa.TextClause):
        # DESCRIBE binds the query without running it. exec_driver_sql: no bind parsing.
        rows = connection.exec_driver_sql(f"DESCRIBE {table_selectable.text}").fetchall()
        return [{"name": row[0], "type": row[1]} for row in rows]
    table_name = getattr(table_selectable, "name", None) or str(table_selectable)
    rows = connection.execute(
        sa.text(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = current_database() "
            "AND table_schema = coalesce(:schema, current_schema()) "
            "AND table_name = :table ORDER BY ordinal_position"
        ),
        {"schema": schema_name, "table": str(table_name)},
    ).fetchall()
    if not rows:
        # Same outcome as a missing table elsewhere: the metric fails with this message.
        qualified = ".".join(_quote(p) for p in (schema_name, table_name) if p)
        raise sa.exc.NoSuchTableError(f"DuckDB table {qualified} not found")
    return [{"name": row[0], "type": row[1]} for row in rows]


def _make_column_metadata_wrapper(original: Callable) -> Callable:
    def get_sqlalchemy_column_metadata(execution_engine, table_selectable, schema_name=None):
        """GX's column reflection, reading DuckDB's catalog on DuckDB (reveil gx_duckdb_compat)."""
        if getattr(execution_engine.dialect, "name", None) != DUCKDB_DIALECT:
            return original(execution_engine, table_selectable, schema_name)
        util = sys.modules[_METRICS_UTIL_MODULE]
        with execution_engine.get_connection() as connection:
            columns = duckdb_column_metadata(connection, table_selectable, schema_name)
        return util._build_column_metadata_result(columns, set(), execution_engine)

    return get_sqlalchemy_column_metadata


def column_metadata_patched() -> bool:
    return _is_wrapped(_METRICS_UTIL_MODULE, _COLUMN_METADATA_FUNCTION)


def patch_column_metadata() -> bool:
    """Make GX reflect DuckDB columns from DuckDB's catalog. True if it changed anything."""
    return _wrap_everywhere(
        _METRICS_UTIL_MODULE, _COLUMN_METADATA_FUNCTION, _make_column_metadata_wrapper
    )


def unpatch_column_metadata() -> None:
    _unwrap_everywhere(_COLUMN_METADATA_FUNCTION)


# --- entry points ---------------------------------------------------------------------------


def apply() -> dict[str, bool]:
    """Apply every patch (idempotent). Call before any GX use on DuckDB.

    Returns, per patch, whether this call applied it (False: it was already in place).
    """
    # Import GX's metric modules first so that every by-name import of a wrapped function
    # exists when it is replaced (importing great_expectations registers them all).
    importlib.import_module("great_expectations")
    applied = {
        "persisted_connection": patch_persisted_connection(),
        "regex": patch_regex(),
        "column_metadata": patch_column_metadata(),
    }
    if any(applied.values()):
        logger.debug("GX DuckDB compatibility patches applied: %s", applied)
    return applied


def is_applied() -> bool:
    return persisted_connection_patched() and regex_patched() and column_metadata_patched()


def revert() -> None:
    """Remove every patch (tests use it to prove each patch is needed)."""
    unpatch_persisted_connection()
    unpatch_regex()
    unpatch_column_metadata()

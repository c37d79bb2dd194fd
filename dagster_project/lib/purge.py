"""The purge of a batch of candidates, set-based in DuckDB, and the sales hand-off export.

``marts.purge_candidates`` (dbt) holds one batch: the contacts selected by the purge rules at
one snapshot date, under one rule version; after a real purge, the next build's candidates of
the same day are the next batch (:func:`batch_id`), so an executed batch's list is never
written again. :func:`run_purge` acts on it:

* **always** — writes the purge list for the ESP's suppression import,
  ``<exports>/purge/<as_of_date>_<batch>.csv`` (``email,reason``) and the same list with its
  evidence as Parquet (suffix ``_dry_run`` in a dry run), each written to a temporary name and
  renamed, and an audit row in ``audit.purge_batches`` (no personal data: ids of the batch and
  run, rule version, counts per rule and per table, dry-run flag, times);
* **real purge only** — first removes the batch's people from every list written earlier
  under ``<exports>`` (:func:`scrub_exports`: dry-run lists, audience and hand-off lists; a
  dry-run list left without a row is deleted), so the only file still naming them is the
  batch's own list for the ESP; then, in ONE transaction: adds the keyed hashes of the emails to
  ``suppression.email_hashes``, archives the minimum (pseudonym, rule, dates, batch; no email,
  no name) in ``archive.purged_contacts``, and erases the people from every table of the
  warehouse (:func:`erasure_plan`): rows holding their ``contact_id`` or ``email`` are deleted
  everywhere, except ``raw.orders`` / ``staged.orders``, kept for accounting with the contact
  id replaced by its pseudonym. Views hold no data; dbt rebuilds its tables from ``raw`` on the
  next run, so deleting their rows now only closes the gap until then.

Deleted rows survive in the DuckDB file until it is rewritten (STACK.md trap 4):
:func:`erase_deleted_bytes` rewrites it and republishes the serving copy after the commit.

The list is written, and the earlier exports cleaned, before the transaction: if the
transaction fails, a re-run rewrites the same files (and finds nothing left to clean); the
reverse order could erase people whose list never reached the ESP, or leave their emails in an
export once the batch is gone from ``marts.purge_candidates``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.lib import privacy
from dagster_project.lib.ingest import lit, q

logger = logging.getLogger(__name__)

CANDIDATES_TABLE = "marts.purge_candidates"
HANDOFF_TABLE = "marts.sales_handoff"
AUDIT_SCHEMA = "audit"
AUDIT_TABLE = f"{AUDIT_SCHEMA}.purge_batches"
PURGE_RULES = ("retention_limit", "company_closed", "sunset_silent")  # precedence order
MODE_ENV = "REVEIL_PURGE_MODE"
EXECUTE_MODE = "execute"
# schemas the purge writes and that hold no personal data: never erased from
PURGE_OWNED_SCHEMAS = (privacy.ARCHIVE_SCHEMA, privacy.SUPPRESSION_SCHEMA, AUDIT_SCHEMA)
# kept for accounting, contact id pseudonymised
PSEUDONYMISED_TABLES = (("raw", "orders"), ("staged", "orders"))
IDENTIFYING_COLUMNS = ("contact_id", "email")
_BATCH = "_reveil_purge_batch"
# files under <exports> a real purge cleans (the formats the pipeline writes), and the stem
# suffix of a dry-run list (deleted once it names nobody any more)
EXPORT_SUFFIXES = (".csv", ".parquet")
DRY_RUN_SUFFIX = "_dry_run"


class PurgeError(RuntimeError):
    """The purge cannot run as asked; nothing was changed."""


# --- small pure helpers ---------------------------------------------------------------------


def bounce_reenable_cap(
    contact_count: int, share: Decimal | str = "0.02", minimum: int = 10, maximum: int = 1000
) -> int:
    """Monthly cap of re-enabled hard-bounced addresses, like the dbt macro
    ``bounce_reenable_cap``: ``least(greatest(ceil(share * n), minimum), maximum)``, in exact
    decimal arithmetic. 100 -> 10, 10,000 -> 200, 1,000,000 -> 1,000."""
    wanted = math.ceil(Decimal(str(share)) * contact_count)
    return min(max(wanted, minimum), maximum)


def batch_id(kind: str, as_of: date | str, rule_version: str, sequence: int = 0) -> str:
    """Python twin of the dbt macro ``reveil_batch_id``: 16 hex digits of
    md5('<kind>|<as_of_date>|<rule_version>'), with '|<sequence>' appended when sequence > 0
    (for purge batches: how many batches of that day a real purge already executed)."""
    as_of_text = as_of.isoformat() if isinstance(as_of, date) else str(as_of)
    text = f"{kind}|{as_of_text}|{rule_version}" + (f"|{sequence}" if sequence > 0 else "")
    return hashlib.md5(text.encode()).hexdigest()[:16]


def dry_run_from_env() -> bool:
    """``REVEIL_PURGE_MODE``: a dry run unless it is exactly ``execute`` (case-insensitive)."""
    return os.environ.get(MODE_ENV, "dry-run").strip().lower() != EXECUTE_MODE


@contextmanager
def open_with_retry(
    open_connection: Callable[[], Any], *, timeout_s: float = 120.0, poll_s: float = 1.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Enter the context manager ``open_connection()`` returns, retrying while another process
    holds the DuckDB file's lock (a run of another job finishing), up to ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        stack = ExitStack()
        try:
            con = stack.enter_context(open_connection())
        except duckdb.IOException as exc:
            stack.close()
            if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(poll_s)
            continue
        with stack:
            yield con
        return


@contextmanager
def connect(path: Path | str, *, read_only: bool = False, config: dict | None = None):
    """A DuckDB connection closed on exit (for :func:`open_with_retry`)."""
    con = duckdb.connect(str(path), read_only=read_only, config=config or {})
    try:
        yield con
    finally:
        con.close()


def _table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, table = qualified.split(".")
    return bool(
        con.execute(
            "select count(*) from duckdb_tables() where database_name = current_database() "
            "and schema_name = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


# --- the batch ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CandidateBatch:
    batch_id: str
    as_of_date: date
    rule_version: str
    candidates: int


def candidate_batches(con: duckdb.DuckDBPyConnection) -> list[CandidateBatch]:
    """The batches in ``marts.purge_candidates`` (one after a normal dbt build)."""
    if not _table_exists(con, CANDIDATES_TABLE):
        raise PurgeError(
            f"{CANDIDATES_TABLE} does not exist: build the dbt models (the daily job) first"
        )
    rows = con.execute(
        f"""select batch_id, as_of_date, rule_version, count(*)
        from {CANDIDATES_TABLE} group by all order by as_of_date, batch_id"""
    ).fetchall()
    return [CandidateBatch(*row) for row in rows]


def counts_by_rule(con: duckdb.DuckDBPyConnection, table: str = CANDIDATES_TABLE) -> dict:
    rows = con.execute(f"select purge_rule, count(*) from {table} group by all").fetchall()
    found = dict(rows)
    return {rule: int(found.get(rule, 0)) for rule in PURGE_RULES}


# --- erasure plan ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TableAction:
    schema: str
    table: str
    action: str  # "delete" or "pseudonymise"
    columns: tuple[str, ...]  # identifying columns present

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def qualified(self) -> str:
        return f"{q(self.schema)}.{q(self.table)}"

    def predicate(self, alias: str = "t") -> str:
        """Rows of the batch's people (needs the temporary batch table)."""
        parts = []
        if "contact_id" in self.columns:
            parts.append(f"{alias}.contact_id in (select contact_id from {_BATCH})")
        if "email" in self.columns:
            parts.append(
                f"{privacy.normalised_email_sql(f'{alias}.email')} in "
                f"(select email from {_BATCH} where email is not null)"
            )
        return " or ".join(parts)


def erasure_plan(con: duckdb.DuckDBPyConnection) -> list[TableAction]:
    """Every base table of the warehouse holding a ``contact_id`` or ``email`` column, with
    what the purge does to it. Discovered from the catalog, so a table added later by anyone
    is covered without changing this module."""
    rows = con.execute(
        """select tables.schema_name, tables.table_name,
            list(columns.column_name order by columns.column_index) as column_names
        from duckdb_tables() as tables
        inner join duckdb_columns() as columns
            on tables.database_name = columns.database_name
            and tables.schema_name = columns.schema_name
            and tables.table_name = columns.table_name
        where tables.database_name = current_database()
            and not tables.internal and not tables.temporary
        group by all
        order by all"""
    ).fetchall()
    plan = []
    for schema, table, columns in rows:
        if schema in PURGE_OWNED_SCHEMAS:
            continue
        present = tuple(c for c in IDENTIFYING_COLUMNS if c in {n.lower() for n in columns})
        if not present:
            continue
        action = "pseudonymise" if (schema, table) in PSEUDONYMISED_TABLES else "delete"
        plan.append(TableAction(schema, table, action, present))
    return plan


# --- the purge ------------------------------------------------------------------------------


@dataclass
class PurgeResult:
    batch_id: str | None
    as_of_date: date | None
    rule_version: str | None
    dry_run: bool
    candidates: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    table_counts: dict[str, int] = field(default_factory=dict)
    suppression_added: int = 0
    archived: int = 0
    csv_path: Path | None = None
    parquet_path: Path | None = None
    uses_dev_key: bool = False
    # real purge: earlier exports (path relative to <exports>) the people were removed from,
    # with the rows removed, and the dry-run lists deleted because they named nobody else
    exports_rewritten: dict[str, int] = field(default_factory=dict)
    exports_deleted: list[str] = field(default_factory=list)

    @property
    def rows_erased(self) -> int:
        return sum(self.table_counts.values())


def list_paths(exports_dir: Path, batch: CandidateBatch, dry_run: bool) -> tuple[Path, Path]:
    """``<exports>/purge/<as_of_date>_<batch>[_dry_run].csv|.parquet``."""
    stem = f"{batch.as_of_date.isoformat()}_{batch.batch_id}" + (DRY_RUN_SUFFIX if dry_run else "")
    folder = Path(exports_dir) / "purge"
    return folder / f"{stem}.csv", folder / f"{stem}.parquet"


def _stage_batch(con, batch: CandidateBatch, key: privacy.HmacKey) -> None:
    con.execute(
        f"""create or replace temp table {_BATCH} as
        select
            candidates.contact_id,
            {privacy.normalised_email_sql("candidates.email")} as email,
            candidates.purge_rule,
            candidates.matched_rules,
            candidates.first_touch_date,
            candidates.last_touch_date,
            candidates.touch_count,
            candidates.weeks_spanned,
            candidates.last_engagement_date,
            candidates.last_contact_from_them_date,
            candidates.as_of_date,
            candidates.batch_id,
            candidates.rule_version,
            {privacy.email_hmac_sql("candidates.email")} as email_hmac,
            {privacy.contact_pseudonym_sql("candidates.contact_id")} as contact_pseudonym
        from {CANDIDATES_TABLE} as candidates
        where candidates.batch_id = $batch_id""",
        {**key.params, "batch_id": batch.batch_id},
    )


def _copy_atomically(con, select_sql: str, path: Path, options: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    con.execute(f"copy ({select_sql}) to {lit(str(tmp))} ({options})")
    os.replace(tmp, path)


def _write_lists(con, csv_path: Path, parquet_path: Path) -> None:
    # ESP import: one line per address, the reason of highest precedence
    precedence = " ".join(f"when {lit(rule)} then {i}" for i, rule in enumerate(PURGE_RULES))
    _copy_atomically(
        con,
        f"""select email, arg_min(purge_rule, case purge_rule {precedence} end) as reason
        from {_BATCH} where email is not null group by email order by email""",
        csv_path,
        "format csv, header true, delimiter ','",
    )
    _copy_atomically(
        con,
        f"""select contact_id, email, purge_rule as reason, matched_rules, first_touch_date,
            last_touch_date, touch_count, weeks_spanned, last_engagement_date,
            last_contact_from_them_date, as_of_date, batch_id, rule_version
        from {_BATCH} order by contact_id""",
        parquet_path,
        "format parquet",
    )


def _export_files(exports_dir: Path, keep: set[Path]) -> list[Path]:
    if not exports_dir.is_dir():
        return []
    return sorted(
        path
        for path in exports_dir.rglob("*")
        if path.suffix in EXPORT_SUFFIXES
        and not path.name.startswith(".")  # a temporary file of an atomic write
        and path.is_file()
        and path.stat().st_size > 0
        and path.resolve() not in keep
    )


def _export_reader(path: Path) -> str:
    if path.suffix == ".parquet":
        return f"read_parquet({lit(str(path))})"
    # as the pipeline writes them; every value as text, so a rewrite changes no other row
    return (
        f"read_csv({lit(str(path))}, header = true, delim = ',', quote = '\"', all_varchar = true)"
    )


def _export_predicate(columns: list[str]) -> str | None:
    """Rows of an export that name one of the batch's people (by contact id or email)."""
    by_name = {column.lower(): column for column in columns}
    parts = []
    if "contact_id" in by_name:
        contact_id = f"cast({q(by_name['contact_id'])} as varchar)"
        parts.append(f"coalesce({contact_id} in (select contact_id from {_BATCH}), false)")
    if "email" in by_name:
        email = privacy.normalised_email_sql(f"cast({q(by_name['email'])} as varchar)")
        parts.append(
            f"coalesce({email} in (select email from {_BATCH} where email is not null), false)"
        )
    return " or ".join(parts) or None


def scrub_exports(
    con: duckdb.DuckDBPyConnection, exports_dir: Path, keep: tuple[Path, ...] = ()
) -> tuple[dict[str, int], list[str]]:
    """Remove the staged batch's people from every CSV / Parquet file under ``exports_dir``
    but ``keep`` (the batch's own list for the ESP): dry-run purge lists, audience lists,
    sales hand-off lists. A file is matched by its ``contact_id`` and ``email`` columns
    (emails normalised); files with neither are left alone. A file with such rows is
    rewritten without them (atomically); a dry-run list that named only them is deleted.

    Returns (rows removed per rewritten file, deleted files), paths relative to
    ``exports_dir``. A :class:`PurgeError` (naming the file, never its content) when a file
    cannot be read: the purge must not erase people it cannot clean from the exports.
    """
    exports_dir = Path(exports_dir)
    kept = {Path(path).resolve() for path in keep}
    rewritten: dict[str, int] = {}
    deleted: list[str] = []
    for path in _export_files(exports_dir, kept):
        source = _export_reader(path)
        try:
            columns = [row[0] for row in con.execute(f"describe select * from {source}").fetchall()]
            predicate = _export_predicate(columns)
            if predicate is None:
                continue
            matched, total = con.execute(
                f"select count(*) filter (where {predicate}), count(*) from {source}"
            ).fetchone()
        except duckdb.Error as exc:  # its message may quote a line of the file
            raise PurgeError(
                f"export {path} could not be read ({type(exc).__name__}) to remove the batch's "
                "people from it; nothing was erased: repair or remove the file, then re-run"
            ) from None
        if not matched:
            continue
        name = path.relative_to(exports_dir).as_posix()
        if matched == total and path.stem.endswith(DRY_RUN_SUFFIX):
            path.unlink()
            deleted.append(name)
            continue
        options = (
            "format parquet"
            if path.suffix == ".parquet"
            else "format csv, header true, delimiter ','"
        )
        _copy_atomically(con, f"select * from {source} where not ({predicate})", path, options)
        rewritten[name] = matched
    return rewritten, deleted


def _ensure_purge_tables(con: duckdb.DuckDBPyConnection) -> None:
    for schema in PURGE_OWNED_SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    con.execute(
        f"""create table if not exists {privacy.SUPPRESSION_TABLE} (
            email_hmac varchar primary key,  -- HMAC-SHA256(key, lower(trim(email))), hex
            batch_id varchar,
            suppressed_at timestamp)"""
    )
    con.execute(
        f"""create table if not exists {privacy.ARCHIVE_TABLE} (
            contact_pseudonym varchar,  -- 'purged:' || HMAC(key, 'contact:' || contact_id)
            purge_rule varchar,
            first_touch_date date,
            last_touch_date date,
            touch_count bigint,
            last_contact_from_them_date date,
            as_of_date date,
            batch_id varchar,
            rule_version varchar,
            purged_at timestamp)"""
    )
    con.execute(
        f"""create table if not exists {AUDIT_TABLE} (
            batch_id varchar,
            run_id varchar,
            rule_version varchar,
            as_of_date date,
            dry_run boolean,
            candidate_count bigint,
            counts_by_rule varchar,   -- JSON {{rule: contacts}}
            table_counts varchar,     -- JSON {{schema.table: rows deleted or pseudonymised}}
            suppression_added bigint,
            archived bigint,
            list_file varchar,
            key_kind varchar,         -- configured, or dev (dry runs without a key)
            started_at timestamp,
            finished_at timestamp)"""
    )


def _insert_audit(con, result: PurgeResult, run_id: str, started_at: datetime) -> None:
    con.execute(
        f"insert into {AUDIT_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            result.batch_id,
            run_id,
            result.rule_version,
            result.as_of_date,
            result.dry_run,
            result.candidates,
            json.dumps(result.by_rule, sort_keys=True),
            json.dumps(result.table_counts, sort_keys=True),
            result.suppression_added,
            result.archived,
            result.csv_path.name if result.csv_path else None,
            "dev" if result.uses_dev_key else "configured",
            started_at,
            datetime.now(UTC).replace(tzinfo=None),
        ],
    )


def run_purge(
    con: duckdb.DuckDBPyConnection,
    *,
    exports_dir: Path | str,
    run_id: str,
    dry_run: bool,
    batch_id: str | None = None,
    key: privacy.HmacKey | None = None,
) -> PurgeResult:
    """Purge (or, in a dry run, preview the purge of) the batch in ``marts.purge_candidates``.

    ``batch_id``: the batch the caller expects; a :class:`PurgeError` if the table holds
    another one (the candidates were rebuilt since the request), or, in a real purge, if the
    audit shows the batch executed already (its list is never overwritten). ``key``: the
    suppression key
    (default: ``REVEIL_SUPPRESSION_KEY``; the labelled dev key is accepted in a dry run only).
    """
    started_at = datetime.now(UTC).replace(tzinfo=None)
    batches = candidate_batches(con)
    if len(batches) > 1:
        raise PurgeError(
            f"{CANDIDATES_TABLE} holds {len(batches)} batches; it must hold one (rebuild it)"
        )
    if not batches:
        if batch_id:
            raise PurgeError(
                f"batch {batch_id} is not in {CANDIDATES_TABLE} (empty: already purged?)"
            )
        return PurgeResult(None, None, None, dry_run)
    batch = batches[0]
    if batch_id and batch_id != batch.batch_id:
        raise PurgeError(
            f"batch {batch_id} is no longer in {CANDIDATES_TABLE} (it holds {batch.batch_id} "
            f"of {batch.as_of_date}): the candidates were rebuilt; purge the current batch"
        )
    if not dry_run:
        _refuse_executed_batch(con, batch)
    key = key or privacy.suppression_key(allow_dev_key=dry_run)
    if key.is_dev_key and not dry_run:
        raise privacy.SuppressionKeyError("the dev key cannot be used for a real purge")

    csv_path, parquet_path = list_paths(Path(exports_dir), batch, dry_run)
    result = PurgeResult(
        batch.batch_id,
        batch.as_of_date,
        batch.rule_version,
        dry_run,
        candidates=batch.candidates,
        by_rule=counts_by_rule(con),
        csv_path=csv_path,
        parquet_path=parquet_path,
        uses_dev_key=key.is_dev_key,
    )
    _stage_batch(con, batch, key)
    try:
        _write_lists(con, csv_path, parquet_path)
        plan = erasure_plan(con)
        if dry_run:
            for action in plan:
                result.table_counts[action.name] = con.execute(
                    f"select count(*) from {action.qualified} as t where {action.predicate()}"
                ).fetchone()[0]
            result.suppression_added = con.execute(
                f"select count(distinct email_hmac) from {_BATCH}"
            ).fetchone()[0]
            result.archived = batch.candidates
            con.execute("begin transaction")
            try:
                _ensure_purge_tables(con)
                _insert_audit(con, result, run_id, started_at)
                con.execute("commit")
            except Exception:
                con.execute("rollback")
                raise
        else:
            result.exports_rewritten, result.exports_deleted = scrub_exports(
                con, Path(exports_dir), keep=(csv_path, parquet_path)
            )
            _execute(con, plan, result, run_id, started_at)
    finally:
        con.execute(f"drop table if exists {_BATCH}")
    logger.info(
        "purge batch %s (%s): %s candidates, %s rows %s; earlier exports: %s rewritten, %s deleted",
        result.batch_id,
        "dry run" if dry_run else "executed",
        result.candidates,
        result.rows_erased,
        "would be erased" if dry_run else "erased",
        len(result.exports_rewritten),
        len(result.exports_deleted),
    )
    return result


def _refuse_executed_batch(con, batch: CandidateBatch) -> None:
    """A batch a real purge executed is never executed again: its list for the ESP (the only
    readable copy of its addresses) would be overwritten by whoever the table holds now. dbt
    numbers the next batch of the day after an executed one (``reveil_purge_batches_executed``),
    so this only trips on a table not rebuilt by the current models."""
    if not _table_exists(con, AUDIT_TABLE):
        return
    done = con.execute(
        f"""select run_id, list_file from {AUDIT_TABLE}
        where batch_id = ? and not dry_run and candidate_count > 0
        order by finished_at limit 1""",
        [batch.batch_id],
    ).fetchone()
    if done:
        raise PurgeError(
            f"batch {batch.batch_id} was already purged by run {done[0]} (list {done[1]}, kept "
            f"as it is); {CANDIDATES_TABLE} holds it again: rebuild the candidates (the daily "
            "run) so that they form the next batch, then purge that one"
        )


def _execute(con, plan: list[TableAction], result: PurgeResult, run_id: str, started_at):
    now = datetime.now(UTC).replace(tzinfo=None)
    con.execute("begin transaction")
    try:
        _ensure_purge_tables(con)
        result.suppression_added = con.execute(
            f"""insert into {privacy.SUPPRESSION_TABLE}
            select distinct email_hmac, batch_id, ?::timestamp from {_BATCH}
            where email_hmac is not null
                and email_hmac not in (select email_hmac from {privacy.SUPPRESSION_TABLE})""",
            [now],
        ).fetchone()[0]
        result.archived = con.execute(
            f"""insert into {privacy.ARCHIVE_TABLE}
            select contact_pseudonym, purge_rule, first_touch_date, last_touch_date, touch_count,
                last_contact_from_them_date, as_of_date, batch_id, rule_version, ?::timestamp
            from {_BATCH}""",
            [now],
        ).fetchone()[0]
        for action in plan:
            if action.action == "pseudonymise":
                sql = (
                    f"update {action.qualified} as t set contact_id = b.contact_pseudonym "
                    f"from {_BATCH} as b where t.contact_id = b.contact_id"
                )
            else:
                sql = f"delete from {action.qualified} as t where {action.predicate()}"
            result.table_counts[action.name] = con.execute(sql).fetchone()[0]
        _insert_audit(con, result, run_id, started_at)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def erase_deleted_bytes(
    warehouse_path: Path | str,
    serving_dir: Path | str,
    *,
    run_id: str | None = None,
    config: dict | None = None,
) -> dict[str, Any]:
    """After a real purge committed (and every connection to the warehouse is closed): rewrite
    the warehouse file so the deleted rows' bytes are gone, then, if a serving copy exists,
    republish it from the rewritten warehouse and delete the older serving versions."""
    from dagster_project.lib import serving  # written by the serving package

    info = serving.rewrite_database(warehouse_path, config=config)
    outcome: dict[str, Any] = {
        "warehouse_rewritten": True,
        "warehouse_bytes_before": getattr(info, "bytes_before", None),
        "warehouse_bytes_after": getattr(info, "bytes_after", None),
        "serving_republished": False,
    }
    if serving.current_path(serving_dir).exists():
        serving.republish_after_erasure(warehouse_path, serving_dir, run_id=run_id, config=config)
        outcome["serving_republished"] = True
    return outcome


# --- sales hand-off -------------------------------------------------------------------------

HANDOFF_COLUMNS = (
    "contact_id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "company_name",
    "business_type",
    "campaign_name",
    "reactivation_step",
    "channel",
    "touched_date",
    "click_count",
    "human_open_count",
    "completed_order_count",
    "reengagement_score",
    "handoff_date",
)


@dataclass(frozen=True)
class HandoffExport:
    batch_id: str | None
    as_of_date: date | None
    rows: int
    path: Path | None


def export_handoff(
    con: duckdb.DuckDBPyConnection, exports_dir: Path | str, *, batch_id: str | None = None
) -> HandoffExport:
    """Write ``marts.sales_handoff`` to ``<exports>/handoff/<as_of_date>.csv`` for sales."""
    if not _table_exists(con, HANDOFF_TABLE):
        raise PurgeError(f"{HANDOFF_TABLE} does not exist: build the dbt models first")
    batches = con.execute(
        f"select handoff_batch_id, as_of_date, count(*) from {HANDOFF_TABLE} group by all"
    ).fetchall()
    if len(batches) > 1:
        raise PurgeError(f"{HANDOFF_TABLE} holds several batches; rebuild it")
    if not batches:
        if batch_id:
            raise PurgeError(f"hand-off batch {batch_id} is not in {HANDOFF_TABLE} (empty)")
        return HandoffExport(None, None, 0, None)
    found, as_of, rows = batches[0]
    if batch_id and batch_id != found:
        raise PurgeError(
            f"hand-off batch {batch_id} is no longer in {HANDOFF_TABLE} (it holds {found})"
        )
    path = Path(exports_dir) / "handoff" / f"{as_of.isoformat()}.csv"
    _copy_atomically(
        con,
        f"select {', '.join(HANDOFF_COLUMNS)} from {HANDOFF_TABLE} "
        "order by handoff_date desc, reengagement_score desc, contact_id",
        path,
        "format csv, header true, delimiter ','",
    )
    return HandoffExport(found, as_of, rows, path)

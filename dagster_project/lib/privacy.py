"""Keyed hashes of personal identifiers, computed set-based inside DuckDB.

The suppression list keeps no email address, only ``HMAC-SHA256(key, lower(trim(email)))``:
enough to recognise a purged person if an export brings them back, useless to anyone without
the key (a plain hash of an email is reversed by hashing a list of addresses). The key comes
from ``REVEIL_SUPPRESSION_KEY``; a real purge refuses to run without it. Losing or changing the
key makes the existing suppression list useless: keep it in the secret store with the backups.

HMAC in SQL
-----------
DuckDB has ``sha256`` but no ``hmac``. HMAC is two hashes (RFC 2104)::

    HMAC(K, m) = H((K' xor opad) || H((K' xor ipad) || m))

where ``K'`` is the key padded with zeros to the 64-byte block of SHA-256 (hashed first when
longer). The two padded keys are computed once here, in Python, and passed as hex parameters;
DuckDB then hashes every row in one set-based statement::

    sha256(unhex($hmac_opad) || unhex(sha256(unhex($hmac_ipad) || encode(email))))

which equals ``hmac.new(key, email.encode(), hashlib.sha256).hexdigest()`` (tested).

Purged contacts are also given a pseudonym, ``'purged:' || <16 hex digits of
HMAC(key, 'contact:' || contact_id)>``: it replaces their id on the orders kept for accounting
and names them in ``archive.purged_contacts``, and lets ingestion recognise their re-imported
events without keeping their CRM id.

Late rows of purged contacts
----------------------------
A delivery may still hold events and orders of contacts purged since (an old export, a late
order). They are not orphans: their events are never published, their orders are published
under the pseudonym. :func:`withhold_purged_rows` applies that when the rows are staged, so the
landing gates validate the rows as they will be published (write–audit–publish) and never
see a purged contact's id. The gates' connection cannot do it itself: it has no key, and the
key must never be written into a suite, a query or the Data Docs.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import duckdb

from dagster_project.lib.ingest import STAGED, lit, q

KEY_ENV = "REVEIL_SUPPRESSION_KEY"
# Used ONLY for dry runs without a configured key: it never protects anything.
DEV_KEY = b"reveil-DEV-ONLY-suppression-key:NOT-SECRET:never-use-for-a-real-purge"
SUPPRESSION_SCHEMA = "suppression"
SUPPRESSION_TABLE = f"{SUPPRESSION_SCHEMA}.email_hashes"
ARCHIVE_SCHEMA = "archive"
ARCHIVE_TABLE = f"{ARCHIVE_SCHEMA}.purged_contacts"
PSEUDONYM_PREFIX = "purged:"
PSEUDONYM_HEX_DIGITS = 16
CONTACT_ID_DOMAIN = "contact:"
_BLOCK_SIZE = 64  # bytes, SHA-256

# Temporary tables (per connection) of the staged rows that ingestion must not publish.
SUPPRESSED_STAGED_CONTACTS = "_reveil_suppressed_staged_contacts"
PURGED_STAGED_EVENT_CONTACTS = "_reveil_purged_staged_event_contacts"
# What staging does with the rows of a purged contact, per source (withhold_purged_rows), and
# the staged ids of purged contacts with their pseudonyms, kept from staging to publish only.
PURGED_ROWS = {"email_events": "drop", "orders": "pseudonymise"}
_STAGED_PURGED_TABLE = "_purged_contacts"
STAGED_PURGED_CONTACTS = f"{STAGED}.{_STAGED_PURGED_TABLE}"


class SuppressionKeyError(RuntimeError):
    """No suppression key where one is required (real purge, or applying the list)."""


@dataclass(frozen=True)
class HmacKey:
    """The padded inner and outer keys of HMAC-SHA256, as hex, ready to bind as parameters."""

    ipad_hex: str = field(repr=False)
    opad_hex: str = field(repr=False)
    is_dev_key: bool = False

    @property
    def params(self) -> dict[str, str]:
        """Named parameters of :func:`hmac_sql` expressions."""
        return {"hmac_ipad": self.ipad_hex, "hmac_opad": self.opad_hex}


def hmac_key(key: bytes | str, *, is_dev_key: bool = False) -> HmacKey:
    """Precompute the HMAC-SHA256 pads of ``key`` (RFC 2104)."""
    raw = key.encode() if isinstance(key, str) else bytes(key)
    if not raw:
        raise SuppressionKeyError("the suppression key is empty")
    if len(raw) > _BLOCK_SIZE:
        raw = hashlib.sha256(raw).digest()
    padded = raw.ljust(_BLOCK_SIZE, b"\0")
    ipad = bytes(b ^ 0x36 for b in padded)
    opad = bytes(b ^ 0x5C for b in padded)
    return HmacKey(ipad.hex(), opad.hex(), is_dev_key)


def suppression_key(*, allow_dev_key: bool = False) -> HmacKey:
    """The key of ``REVEIL_SUPPRESSION_KEY``; without it, the labelled dev key if allowed
    (dry runs only), else :class:`SuppressionKeyError`."""
    value = os.environ.get(KEY_ENV, "")
    if value.strip():
        return hmac_key(value)
    if allow_dev_key:
        return hmac_key(DEV_KEY, is_dev_key=True)
    raise SuppressionKeyError(
        f"{KEY_ENV} is not set: a real purge and the suppression of re-imported contacts need "
        "the secret key of the suppression list (e.g. `openssl rand -hex 32`, kept in your "
        "secret store). Dry runs work without it."
    )


def normalise_email(email: str) -> str:
    """Python twin of :func:`normalised_email_sql` (DuckDB's trim removes spaces only)."""
    return email.strip(" ").lower()


def normalised_email_sql(expression: str) -> str:
    """SQL normalising an email expression: ``lower(trim(expression))``."""
    return f"lower(trim({expression}))"


def hmac_sql(expression: str) -> str:
    """SQL of the hex HMAC-SHA256 of a VARCHAR expression; bind :attr:`HmacKey.params`."""
    return f"sha256(unhex($hmac_opad) || unhex(sha256(unhex($hmac_ipad) || encode({expression}))))"


def email_hmac_sql(email_expression: str) -> str:
    """SQL of the suppression hash of an email: HMAC of the normalised address."""
    return hmac_sql(normalised_email_sql(email_expression))


def contact_pseudonym_sql(contact_id_expression: str) -> str:
    """SQL of the pseudonym of a contact id: ``'purged:' || 16 hex digits of its HMAC``."""
    digest = hmac_sql(f"'{CONTACT_ID_DOMAIN}' || {contact_id_expression}")
    return f"'{PSEUDONYM_PREFIX}' || substring({digest}, 1, {PSEUDONYM_HEX_DIGITS})"


def email_hmac_hex(key: bytes | str, email: str) -> str:
    """Python computation of the suppression hash (tests, one-off look-ups)."""
    import hmac

    raw = key.encode() if isinstance(key, str) else key
    return hmac.new(raw, normalise_email(email).encode(), hashlib.sha256).hexdigest()


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """A table or a view (the staged rows are views) of the current database."""
    row = con.execute(
        "select count(*) from information_schema.tables where table_catalog = "
        "current_database() and table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row[0])


def _suppressed_staged_contacts_sql() -> str:
    """SQL (bind :attr:`HmacKey.params`) of the staged contacts whose normalised email is on
    the suppression list, with the batch that suppressed it: ``(contact_id, batch_id)``."""
    return f"""select distinct staged_contacts.contact_id, suppressed.batch_id
        from {STAGED}.contacts as staged_contacts
        inner join {SUPPRESSION_TABLE} as suppressed
            on suppressed.email_hmac = {email_hmac_sql("staged_contacts.email")}"""


def _has_rows(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, table = qualified.split(".")
    if not _table_exists(con, schema, table):
        return False
    return con.execute(f"select exists (select 1 from {qualified})").fetchone()[0]


def purged_staged_contacts_sql(relation: str) -> str:
    """SQL (bind :attr:`HmacKey.params`) of the contact ids of ``relation`` (staged rows) whose
    pseudonym is in the archive, with the pseudonym: ``(contact_id, contact_pseudonym)``."""
    return f"""with staged_ids as (
            select distinct contact_id from {relation} where contact_id is not null
        ),
        pseudonyms as (
            select contact_id, {contact_pseudonym_sql("contact_id")} as contact_pseudonym
            from staged_ids
        )
        select contact_id, contact_pseudonym from pseudonyms
        where contact_pseudonym in (select contact_pseudonym from {ARCHIVE_TABLE})"""


def _staged_view_body(con: duckdb.DuckDBPyConnection, source: str) -> str:
    """The SELECT of the view ``staged.<source>`` (as DuckDB stores it)."""
    (sql,) = con.execute(
        "select sql from duckdb_views() where database_name = current_database() "
        "and schema_name = ? and view_name = ?",
        [STAGED, source],
    ).fetchone()
    head = f"CREATE VIEW {STAGED}.{source} AS "
    if not sql.startswith(head):
        raise RuntimeError(f"unexpected definition of the view {STAGED}.{source}: {sql[:80]!r}")
    return sql[len(head) :].rstrip().removesuffix(";")


def withhold_purged_rows(con: duckdb.DuckDBPyConnection, source: str) -> int:
    """Make the view ``staged.<source>`` the rows publish will publish: events of a contact
    whose pseudonym is in the archive left out, orders of such a contact under the pseudonym
    (:data:`PURGED_ROWS`). Called right after staging, before the landing gates.

    The staged ids of purged contacts are listed, with their pseudonyms, in
    :data:`STAGED_PURGED_CONTACTS` (the gates' read-only connection has no key to compute
    them), which the view reads until :func:`release_staged` drops it after publish.
    Returns the number of rows left out or pseudonymised; raises :class:`SuppressionKeyError`
    when something was purged but the key is not set.
    """
    action = PURGED_ROWS.get(source)
    if action is None:
        return 0
    if _table_exists(con, STAGED, _STAGED_PURGED_TABLE):
        con.execute(f"delete from {STAGED_PURGED_CONTACTS} where source = ?", [source])
    if not _has_rows(con, ARCHIVE_TABLE):
        return 0
    key = suppression_key(allow_dev_key=False)
    view = f"{STAGED}.{q(source)}"
    con.execute("begin transaction")
    try:
        con.execute(
            f"""create table if not exists {STAGED_PURGED_CONTACTS} (
                source varchar, contact_id varchar, contact_pseudonym varchar)"""
        )
        con.execute(
            f"insert into {STAGED_PURGED_CONTACTS} select {lit(source)}, * "
            f"from ({purged_staged_contacts_sql(view)})",
            key.params,
        )
        purged = f"(select * from {STAGED_PURGED_CONTACTS} where source = {lit(source)})"
        (rows,) = con.execute(
            f"select count(*) from {view} as s where s.contact_id in "
            f"(select contact_id from {purged})"
        ).fetchone()
        if rows:
            body = _staged_view_body(con, source)
            if action == "drop":
                select = (
                    f"select s.* from ({body}) as s where not exists "
                    f"(select 1 from {purged} as p where p.contact_id = s.contact_id)"
                )
            else:
                select = (
                    "select s.* replace (coalesce(p.contact_pseudonym, s.contact_id) as "
                    f"contact_id) from ({body}) as s left join {purged} as p "
                    "on p.contact_id = s.contact_id"
                )
            con.execute(f"create or replace view {view} as {select}")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return rows


def release_staged(con: duckdb.DuckDBPyConnection) -> None:
    """Forget the staged ids of purged contacts (:func:`withhold_purged_rows`) once published."""
    con.execute(f"drop table if exists {STAGED_PURGED_CONTACTS}")


# archive.purged_contacts.purge_rule of a purged person delivered again under a new CRM id
RETURNED_UNDER_NEW_ID = "returned_under_new_id"


def archive_returning_people(con: duckdb.DuckDBPyConnection) -> int:
    """Archive the staged contacts whose normalised email is suppressed and whose id is not
    in ``raw.contacts``: a purged person delivered again under a new CRM id. Call before
    :func:`suppression_row_filter`.

    Publish keeps such a contact out (by email), but its events and orders carry the new id,
    which no filter knew: they were published as orphans, in this delivery and every later
    one. Archived (pseudonym of the new id, rule :data:`RETURNED_UNDER_NEW_ID`, the batch
    that suppressed the email, the day), the new id is handled as a purged contact's from now
    on: events left out, orders under the pseudonym, here (publish's filters) and in later
    deliveries (:func:`withhold_purged_rows`). A live contact whose email changed to a
    suppressed one keeps its stored version and its id (``ingest.publish``). Idempotent;
    returns how many ids were archived."""
    if not _has_rows(con, SUPPRESSION_TABLE) or not _table_exists(con, "raw", "contacts"):
        return 0
    if not _table_exists(con, STAGED, "contacts"):  # the view ingest.stage_source writes
        return 0
    key = suppression_key(allow_dev_key=False)
    (archived,) = con.execute(
        f"""insert into {ARCHIVE_TABLE}
        (contact_pseudonym, purge_rule, touch_count, as_of_date, batch_id, purged_at)
        with returning_people as (
            select contact_id, batch_id from ({_suppressed_staged_contacts_sql()})
            where contact_id is not null
                and contact_id not in (select contact_id from raw.contacts)
        ),
        pseudonyms as (
            select {contact_pseudonym_sql("contact_id")} as contact_pseudonym,
                min(batch_id) as batch_id
            from returning_people group by all
        )
        select contact_pseudonym, {lit(RETURNED_UNDER_NEW_ID)}, 0, current_date, batch_id,
            now()::timestamp
        from pseudonyms
        where contact_pseudonym not in (select contact_pseudonym from {ARCHIVE_TABLE})""",
        key.params,
    ).fetchone()
    return archived


def suppression_row_filter(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Row filters for :func:`dagster_project.lib.ingest.publish` that keep purged people out.

    * ``contacts``: a staged contact whose normalised email is on the suppression list is not
      published (by email, so a new CRM id does not bring the person back);
    * ``email_events``: events of a contact id whose pseudonym is in the archive are not
      published (an old export re-delivered after the purge; staging already left them out,
      :func:`withhold_purged_rows`, unless the rows were staged without it).

    Orders are kept for accounting: see :func:`suppression_column_overrides`, which publishes a
    re-delivered order of a purged contact under the contact's pseudonym.

    The staged rows to drop are listed in temporary tables of ``con`` first, so the filters
    are plain SQL without key material. Returns ``{}`` when nothing was ever purged; raises
    :class:`SuppressionKeyError` when something was but the key is not set.
    """
    has_suppressions = _has_rows(con, SUPPRESSION_TABLE)
    has_archive = _has_rows(con, ARCHIVE_TABLE)
    if not (has_suppressions or has_archive):
        return {}
    key = suppression_key(allow_dev_key=False)
    filters: dict[str, str] = {}
    if has_suppressions:
        con.execute(
            f"create or replace temp table {SUPPRESSED_STAGED_CONTACTS} as "
            f"select distinct contact_id from ({_suppressed_staged_contacts_sql()})",
            key.params,
        )
        filters["contacts"] = (
            f"not exists (select 1 from {SUPPRESSED_STAGED_CONTACTS} as suppressed "
            "where suppressed.contact_id = s.contact_id)"
        )
    if has_archive:
        con.execute(
            f"create or replace temp table {PURGED_STAGED_EVENT_CONTACTS} as select contact_id "
            f"from ({purged_staged_contacts_sql(f'{STAGED}.email_events')})",
            key.params,
        )
        filters["email_events"] = (
            f"not exists (select 1 from {PURGED_STAGED_EVENT_CONTACTS} as purged "
            "where purged.contact_id = s.contact_id)"
        )
    return filters


PURGED_STAGED_ORDER_CONTACTS = "purged_staged_order_contacts"


def suppression_column_overrides(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    """Column overrides for :func:`dagster_project.lib.ingest.publish`: a re-delivered order of
    a purged contact is published under the contact's pseudonym, never its CRM id (staging
    already put it there, :func:`withhold_purged_rows`, unless the rows were staged without it).

    Like the row filters, the mapping is computed first into a temporary table of ``con``, so
    the override is plain SQL without key material. ``{}`` when nothing was ever purged.
    """
    if not _has_rows(con, ARCHIVE_TABLE):
        return {}
    key = suppression_key(allow_dev_key=False)
    con.execute(
        f"create or replace temp table {PURGED_STAGED_ORDER_CONTACTS} as "
        f"{purged_staged_contacts_sql(f'{STAGED}.orders')}",
        key.params,
    )
    return {
        "orders": {
            "contact_id": (
                f"coalesce((select purged.contact_pseudonym from {PURGED_STAGED_ORDER_CONTACTS} "
                "as purged where purged.contact_id = s.contact_id), s.contact_id)"
            )
        }
    }

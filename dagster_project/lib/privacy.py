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
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import duckdb

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
    row = con.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row[0])


def _has_rows(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, table = qualified.split(".")
    if not _table_exists(con, schema, table):
        return False
    return con.execute(f"select exists (select 1 from {qualified})").fetchone()[0]


def suppression_row_filter(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Row filters for :func:`dagster_project.lib.ingest.publish` that keep purged people out.

    * ``contacts``: a staged contact whose normalised email is on the suppression list is not
      published (by email, so a new CRM id does not bring the person back);
    * ``email_events``: events of a contact id whose pseudonym is in the archive are not
      published (an old export re-delivered after the purge).

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
            f"""create or replace temp table {SUPPRESSED_STAGED_CONTACTS} as
            select distinct staged_contacts.contact_id
            from staged.contacts as staged_contacts
            inner join {SUPPRESSION_TABLE} as suppressed
                on suppressed.email_hmac = {email_hmac_sql("staged_contacts.email")}""",
            key.params,
        )
        filters["contacts"] = (
            f"not exists (select 1 from {SUPPRESSED_STAGED_CONTACTS} as suppressed "
            "where suppressed.contact_id = s.contact_id)"
        )
    if has_archive:
        con.execute(
            f"""create or replace temp table {PURGED_STAGED_EVENT_CONTACTS} as
            with staged_ids as (select distinct contact_id from staged.email_events)
            select staged_ids.contact_id
            from staged_ids
            inner join {ARCHIVE_TABLE} as archived
                on archived.contact_pseudonym = {contact_pseudonym_sql("staged_ids.contact_id")}
            """,
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
    a purged contact is published under the contact's pseudonym, never its CRM id.

    Like the row filters, the mapping is computed first into a temporary table of ``con``, so
    the override is plain SQL without key material. ``{}`` when nothing was ever purged.
    """
    if not _has_rows(con, ARCHIVE_TABLE):
        return {}
    key = suppression_key(allow_dev_key=False)
    con.execute(
        f"""create or replace temp table {PURGED_STAGED_ORDER_CONTACTS} as
        with staged_ids as (select distinct contact_id from staged.orders),
        pseudonyms as (
            select contact_id, {contact_pseudonym_sql("contact_id")} as contact_pseudonym
            from staged_ids
        )
        select pseudonyms.contact_id, pseudonyms.contact_pseudonym
        from pseudonyms
        inner join {ARCHIVE_TABLE} as archived
            on archived.contact_pseudonym = pseudonyms.contact_pseudonym""",
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

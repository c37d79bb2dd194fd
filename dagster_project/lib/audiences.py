"""The reactivation audience outside dbt: suppression matching, dated exports, the hash twin.

The rules of the audience live in dbt (``dbt/models/*/audiences``); this module does what dbt
cannot or should not:

* :func:`match_suppressed_contacts` — the suppression list (``suppression.email_hashes``) holds
  keyed HMACs of purged addresses; only a process holding ``REVEIL_SUPPRESSION_KEY`` can match
  contacts against it. The contacts of ``raw.contacts`` that match are written, ids only, to
  ``audiences.suppressed_contacts``, which the dbt model ``dim_contact_audience_eligibility``
  reads (an optional source: absent means nobody is suppressed).
* :func:`write_exports` — the treated contacts of ``marts.audience_reactivation_today`` as one
  CSV per channel, ``<exports>/audiences/<audience_date>/<channel>.csv``, the contact details
  (email, phone, first name) joined from ``staging.stg_raw__contacts`` at export time so they
  are never copied into a mart. Every file is written to a temporary file beside it, then
  renamed over it (atomic): a re-run of the same day replaces the same files, and every
  channel file is written, header only when empty, so a file never outlives its audience.
* :func:`hash_fraction` — the Python twin of the dbt macros ``reveil_hash_prefix`` +
  ``reveil_hex_fraction`` (hold-out and variant draws), for tests and one-off look-ups.

Export layout (UTF-8, comma-separated, header row, RFC 4180 quoting, ISO dates, empty cell for
null, rows in expected-value order): the address column first (``email`` / ``phone`` /
``contact_id`` for push), then ``contact_id`` (email, sms), ``first_name``, the
personalisation fields, the offer, the sequence step, the variant and the audience date; see
:data:`EXPORT_COLUMNS`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from dagster_project.lib import privacy

AUDIENCE_TABLE = "marts.audience_reactivation_today"
ELIGIBILITY_TABLE = "marts.dim_contact_audience_eligibility"
CONTACTS_VIEW = "staging.stg_raw__contacts"
RAW_CONTACTS_TABLE = "raw.contacts"
SUPPRESSED_SCHEMA = "audiences"
SUPPRESSED_TABLE = f"{SUPPRESSED_SCHEMA}.suppressed_contacts"
EXPORT_FOLDER = "audiences"
CHANNELS = ("email", "sms", "push")

# Address column of each channel: what the sending tool imports the contact by.
ADDRESS_COLUMN = {"email": "email", "sms": "phone", "push": "contact_id"}
# Columns after the address, in file order.
_COMMON_COLUMNS = (
    "first_name",
    "rfm_segment",
    "last_purchase_category",
    "recommended_category",
    "days_since_last_purchase",
    "offer_tier",
    "discount_percent",
    "sequence_step",
    "variant",
    "audience_date",
)
EXPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    channel: (ADDRESS_COLUMN[channel],)
    + (() if ADDRESS_COLUMN[channel] == "contact_id" else ("contact_id",))
    + _COMMON_COLUMNS
    for channel in CHANNELS
}
# Where each column comes from: the contact details from staging, the rest from the mart.
_CONTACT_COLUMNS = frozenset({"email", "phone", "first_name"})


class AudienceExportError(RuntimeError):
    """The audience mart cannot be exported as it is (missing, or several audience dates)."""


# --- the hash twin ----------------------------------------------------------------------------


def hash_fraction(value: str) -> float:
    """Number in [0, 1) of a string: the first 8 hex digits of its md5 / 16^8 (dbt twin)."""
    return int(hashlib.md5(value.encode()).hexdigest()[:8], 16) / 16**8


def holdout_fraction(contact_id: str, salt: str) -> float:
    """The hold-out draw of a contact: ``hash_fraction('<salt>|<contact_id>')``."""
    return hash_fraction(f"{salt}|{contact_id}")


def is_holdout(contact_id: str, salt: str, share: float) -> bool:
    """In the control group: the draw falls below the hold-out share."""
    return holdout_fraction(contact_id, salt) < share


# --- suppression ------------------------------------------------------------------------------


def _table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, table = qualified.split(".")
    row = con.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row[0])


def match_suppressed_contacts(con: duckdb.DuckDBPyConnection) -> int:
    """(Re)write ``audiences.suppressed_contacts``: the contacts of ``raw.contacts`` whose
    normalised email is on the suppression list. Returns how many matched.

    Nothing on the list (or no list yet): an empty table, no key needed. Otherwise the key
    comes from ``REVEIL_SUPPRESSION_KEY`` (:class:`privacy.SuppressionKeyError` without it:
    the audience must not be built unchecked).
    """
    has_list = (
        _table_exists(con, privacy.SUPPRESSION_TABLE)
        and con.execute(f"select exists (select 1 from {privacy.SUPPRESSION_TABLE})").fetchone()[0]
    )
    has_contacts = _table_exists(con, RAW_CONTACTS_TABLE)
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {SUPPRESSED_SCHEMA}")
        con.execute(
            f"create or replace table {SUPPRESSED_TABLE} (contact_id varchar, email_hmac varchar)"
        )
        if has_list and has_contacts:
            key = privacy.suppression_key(allow_dev_key=False)
            con.execute(
                f"""insert into {SUPPRESSED_TABLE}
                select distinct contacts.contact_id, suppressed.email_hmac
                from {RAW_CONTACTS_TABLE} as contacts
                inner join {privacy.SUPPRESSION_TABLE} as suppressed
                    on suppressed.email_hmac = {privacy.email_hmac_sql("contacts.email")}
                where contacts.email is not null""",
                key.params,
            )
        matched = con.execute(f"select count(*) from {SUPPRESSED_TABLE}").fetchone()[0]
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return matched


# --- exports ----------------------------------------------------------------------------------


@dataclass
class ExportResult:
    audience_date: date | None
    folder: Path | None
    paths: dict[str, Path] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    holdouts: int = 0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def export_path(exports_dir: Path | str, audience_date: date, channel: str) -> Path:
    """``<exports>/audiences/<YYYY-MM-DD>/<channel>.csv``."""
    return Path(exports_dir) / EXPORT_FOLDER / audience_date.isoformat() / f"{channel}.csv"


def _audience_date(con: duckdb.DuckDBPyConnection) -> date | None:
    dates = [
        row[0]
        for row in con.execute(
            f"select distinct audience_date from {AUDIENCE_TABLE} order by 1"
        ).fetchall()
    ]
    if len(dates) > 1:
        raise AudienceExportError(
            f"{AUDIENCE_TABLE} holds {len(dates)} audience dates ({dates[0]} .. {dates[-1]}); "
            "it must hold one: rebuild it"
        )
    if dates:
        return dates[0]
    # an empty audience still has a date: the snapshot of the eligibility mart
    if _table_exists(con, ELIGIBILITY_TABLE):
        return con.execute(f"select max(audience_date) from {ELIGIBILITY_TABLE}").fetchone()[0]
    return None


def _select_sql(channel: str) -> str:
    columns = ",\n    ".join(
        f"contacts.{column}" if column in _CONTACT_COLUMNS else f"audience.{column}"
        for column in EXPORT_COLUMNS[channel]
    )
    address = ADDRESS_COLUMN[channel]
    address_expression = (
        f"contacts.{address}" if address in _CONTACT_COLUMNS else f"audience.{address}"
    )
    return f"""select
    {columns}
from {AUDIENCE_TABLE} as audience
left join {CONTACTS_VIEW} as contacts
    on audience.contact_id = contacts.contact_id
where not audience.is_holdout
    and audience.channel = '{channel}'
    and coalesce({address_expression}, '') <> ''
order by audience.expected_value_rank, audience.contact_id"""


def _write_atomically(con: duckdb.DuckDBPyConnection, sql: str, path: Path) -> int:
    """COPY the query to a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    target = str(tmp).replace("'", "''")
    try:
        [(rows,)] = con.execute(
            f"copy ({sql}) to '{target}' (format csv, header true, delimiter ',')"
        ).fetchall()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return rows


def write_exports(con: duckdb.DuckDBPyConnection, exports_dir: Path | str) -> ExportResult:
    """Write the treated contacts of today's audience, one CSV per channel (see the module
    docstring). Idempotent: the same audience gives the same files, replaced atomically."""
    if not _table_exists(con, AUDIENCE_TABLE):
        raise AudienceExportError(f"{AUDIENCE_TABLE} does not exist: build the dbt models first")
    audience_date = _audience_date(con)
    if audience_date is None:
        return ExportResult(None, None)
    folder = export_path(exports_dir, audience_date, CHANNELS[0]).parent
    result = ExportResult(audience_date, folder)
    for channel in CHANNELS:
        path = export_path(exports_dir, audience_date, channel)
        result.rows[channel] = _write_atomically(con, _select_sql(channel), path)
        result.paths[channel] = path
    result.holdouts = con.execute(
        f"select count(*) from {AUDIENCE_TABLE} where is_holdout"
    ).fetchone()[0]
    return result

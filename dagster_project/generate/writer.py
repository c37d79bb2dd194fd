"""Turn the integer-coded arrays into the canonical columns and write them with DuckDB COPY.

Every output column is ``CAST(<expression> AS <type from schema.py>)`` in schema order, so the
files carry exactly the canonical columns and types.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from dagster_project.generate import reference as ref
from dagster_project.lib.schema import SOURCES

CSV_OPTIONS = (
    "FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', NULLSTR '', "
    "TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S', DATEFORMAT '%Y-%m-%d'"
)
PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION zstd"


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_list(values) -> str:
    return "[" + ", ".join(sql_str(v) for v in values) + "]"


def ts(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Epoch seconds as an Arrow timestamp[s] array (DuckDB reads it as a TIMESTAMP)."""
    arr = np.asarray(values, dtype=np.int64).astype("datetime64[s]")
    return pa.array(arr, mask=null) if null is not None else pa.array(arr)


def dates(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    arr = (np.asarray(values, dtype=np.int64) // 86_400).astype("datetime64[D]")
    return pa.array(arr, mask=null)


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(
        config={
            "threads": max(1, os.cpu_count() or 1),
            "memory_limit": "2GB",
            "preserve_insertion_order": True,
        }
    )
    con.execute("SET enable_progress_bar = false")
    return con


def copy(
    con: duckdb.DuckDBPyConnection,
    source: str,
    table: pa.Table,
    exprs: dict[str, str],
    path: Path,
    fmt: str,
    prelude: str = "",
    tail: str = "",
) -> None:
    """COPY (SELECT <canonical columns> FROM src) TO path. `prelude`: WITH clause defining
    `rows` from `src`; `tail`: WHERE/ORDER BY."""
    columns = SOURCES[source].columns
    select = ",\n  ".join(f"CAST({exprs[c.name]} AS {c.type}) AS {c.name}" for c in columns)
    relation = "rows" if prelude else "src"
    query = f"{prelude}\nSELECT\n  {select}\nFROM {relation} {tail}"
    options = PARQUET_OPTIONS if fmt == "parquet" else CSV_OPTIONS
    path.parent.mkdir(parents=True, exist_ok=True)
    con.register("src", table)
    try:
        con.execute(f"COPY ({query}) TO {sql_str(str(path))} ({options})")
    finally:
        con.unregister("src")


def padded(prefix: str, column: str, width: int) -> str:
    """prefix + the number zero-padded to `width` digits (faster than lpad in DuckDB)."""
    return f"'{prefix}' || substr(({column} + {10**width})::VARCHAR, 2)"


def contact_id(column: str, width: int) -> str:
    return padded("C", column, width)


# --- contacts ------------------------------------------------------------------------------

MALFORMED_EMAIL = {
    1: "replace(email0, '@', '@@')",
    2: "replace(email0, '@', ' ')",
    3: "regexp_replace(email0, '\\.[a-z]+$', '')",
    4: "email0 || '.'",
    5: "split_part(email0, '@', 1) || '@'",
}


def contacts_query(width: int) -> tuple[str, dict[str, str], str]:
    domain = (
        f"CASE WHEN domain >= 0 THEN list_extract({sql_list(ref.DOMAINS)}, domain + 1) "
        f"ELSE list_extract({sql_list(ref.COMPANY_PREFIX_SLUG)}, cprefix + 1) || '-' || "
        f"list_extract({sql_list(ref.LAST_ASCII)}, clast + 1) || "
        f"list_extract({sql_list(ref.COMPANY_TLDS)}, ctld + 1) END"
    )
    prelude = f"""
WITH named AS (
  SELECT *,
    list_extract({sql_list(ref.FIRST_ASCII)}, first + 1) AS fa,
    list_extract({sql_list(ref.LAST_ASCII)}, last + 1) AS la,
    {domain} AS dom
  FROM src
), candidates AS (
  SELECT *, CASE pattern
      WHEN 0 THEN fa || '.' || la
      WHEN 1 THEN fa || '.' || la || number::VARCHAR
      WHEN 2 THEN fa || la || number::VARCHAR
      WHEN 3 THEN left(fa, 1) || '.' || la
      ELSE fa || '_' || la END AS local
  FROM named
), unique_emails AS (
  -- the first contact keeps the address, later homonyms get '.<number>' (no other pattern
  -- ends with a dot and digits, so the result stays unique)
  SELECT *, CASE WHEN row_number() OVER (PARTITION BY local, dom ORDER BY idx) > 1
      THEN local || '.' || idx::VARCHAR ELSE local END || '@' || dom AS email0
  FROM candidates
), rows AS (
  SELECT unique_emails.*, copy_no FROM unique_emails
  JOIN range(2) AS copies(copy_no) ON copy_no < unique_emails.copies
  WHERE emit
)"""
    malformed = " ".join(f"WHEN {code} THEN {expr}" for code, expr in MALFORMED_EMAIL.items())
    exprs = {
        "contact_id": contact_id("idx", width),
        "email": f"CASE defect {malformed} ELSE email0 END",
        "first_name": f"list_extract({sql_list(ref.FIRST_NAMES)}, first + 1)",
        "last_name": f"list_extract({sql_list(ref.LAST_NAMES)}, last + 1)",
        "phone": (
            f"CASE WHEN has_phone THEN list_extract("
            f"{sql_list(ref.PHONE_PREFIX + ref.PHONE_ALT_PREFIX)}, phone_prefix + 1) || "
            f"lpad(phone_number::VARCHAR, list_extract({list(ref.PHONE_DIGITS * 2)}, "
            f"phone_prefix + 1), '0') END"
        ),
        "country": f"list_extract({sql_list(ref.COUNTRIES)}, country + 1)",
        "business_type": "CASE WHEN is_b2b THEN 'B2B' ELSE 'B2C' END",
        "company_name": (
            f"CASE WHEN is_b2b THEN list_extract({sql_list(ref.COMPANY_PREFIX_DISPLAY)}, "
            f"cprefix + 1) || ' ' || list_extract({sql_list(ref.LAST_NAMES)}, clast + 1) || "
            f"list_extract({sql_list(ref.COMPANY_SUFFIXES)}, csuffix + 1) END"
        ),
        "siret": "CASE WHEN is_b2b THEN lpad(siret::VARCHAR, 14, '0') END",
        "industry": (
            f"CASE WHEN industry >= 0 THEN list_extract({sql_list(ref.INDUSTRIES)}, "
            f"industry + 1) END"
        ),
        "acquisition_source": (
            f"list_extract({sql_list(ref.ACQUISITION_SOURCES)}, acquisition + 1)"
        ),
        "created_at": "created_at",
        "email_consent": "email_consent",
        "email_consent_at": "email_consent_at",
        "sms_consent": "sms_consent",
        "sms_consent_at": "sms_consent_at",
        "push_consent": "push_consent",
        "push_consent_at": "push_consent_at",
        "preferred_channel": f"list_extract({sql_list(ref.CHANNELS)}, preferred + 1)",
        "legal_hold": "legal_hold",
    }
    return prelude, exprs, "ORDER BY idx, copy_no"


# --- the other sources -----------------------------------------------------------------------


def events_exprs(width: int) -> dict[str, str]:
    types = ref.EVENT_TYPES + ref.UNKNOWN_EVENT_TYPES
    return {
        "event_id": padded("E", "event_no", 12),
        "campaign_id": padded("CMP", "campaign + 1", 5),
        "contact_id": contact_id("contact_no", width),
        "event_type": f"list_extract({sql_list(types)}, event_type + 1)",
        "occurred_at": "occurred_at",
        "is_machine_open": "is_machine_open",
        "user_agent": (
            f"CASE WHEN ua >= 0 THEN list_extract({sql_list(ref.USER_AGENTS)}, ua + 1) END"
        ),
    }


def order_id(column: str) -> str:
    return padded("O", column, 10)


def orders_exprs(width: int) -> dict[str, str]:
    return {
        "order_id": order_id("order_no"),
        "contact_id": contact_id("contact_no", width),
        "ordered_at": "ordered_at",
        # cents / 100 is exact to the cent once rounded to DECIMAL(14,2)
        "amount": "amount_cents / 100",
        "currency": "'EUR'",
        "status": f"list_extract({sql_list(ref.ORDER_STATUSES)}, status + 1)",
    }


def order_lines_exprs() -> dict[str, str]:
    return {
        "order_id": order_id("order_no"),
        "line_number": "line_number",
        "product_id": (
            f"list_extract({sql_list(ref.CATEGORY_CODES)}, category + 1) || '-' || "
            f"lpad((product + 1)::VARCHAR, 4, '0')"
        ),
        "product_category": f"list_extract({sql_list(ref.CATEGORY_NAMES)}, category + 1)",
        "quantity": "quantity",
        "unit_price": "unit_cents / 100",
    }


def campaigns_exprs() -> dict[str, str]:
    channel_suffix = "CASE channel WHEN 1 THEN ' (SMS)' WHEN 2 THEN ' (push)' ELSE '' END"
    return {
        "campaign_id": padded("CMP", "campaign + 1", 5),
        "campaign_name": (
            "CASE kind "
            "WHEN 0 THEN 'Newsletter ' || strftime(sent_at, '%Y-%m-%d') "
            f"WHEN 1 THEN list_extract({sql_list(ref.PROMO_THEMES)}, month(sent_at)) || ' ' "
            f"|| strftime(sent_at, '%Y-%m-%d') || {channel_suffix} "
            "ELSE 'Réactivation vague ' || wave::VARCHAR || ' - étape ' || step::VARCHAR "
            f"|| {channel_suffix} END "
            "|| CASE variant WHEN 0 THEN ' - A' WHEN 1 THEN ' - B' ELSE '' END"
        ),
        "campaign_kind": f"list_extract({sql_list(ref.KINDS)}, kind + 1)",
        "reactivation_step": "CASE WHEN step > 0 THEN step END",
        "channel": f"list_extract({sql_list(ref.CHANNELS)}, channel + 1)",
        "sent_at": "sent_at",
        "cost_per_message": "cost",
        "variant": "CASE variant WHEN 0 THEN 'A' WHEN 1 THEN 'B' END",
    }


def registry_exprs() -> dict[str, str]:
    return {
        "siret": "lpad(siret::VARCHAR, 14, '0')",
        "administrative_status": "CASE WHEN closed THEN 'closed' ELSE 'active' END",
        "closed_at": "CASE WHEN closed THEN event_date END",
        "is_moved": "moved",
        "moved_at": "CASE WHEN moved THEN event_date END",
        "is_acquired": "acquired",
        "acquired_at": "CASE WHEN acquired THEN event_date END",
    }

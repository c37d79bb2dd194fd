"""A small, hand-checkable raw schema for the dbt tests.

``create_raw_tables`` builds the ``raw`` tables exactly as ``dagster_project.lib.schema``
declares them (plus the loader's ``_source_file`` and ``_loaded_at``); ``write_fixture``
fills them with the rows below. Every expected answer of ``test_dbt_build.py`` can be worked
out from this file with a calendar: the snapshot is taken at ``AS_OF_DATE`` (2024-06-30), the
backtest one year earlier (2023-07-01, 2024 being a leap year).

Contacts (B2C window 90 days, B2B 180; at risk from half the window, lost from twice it):

======  ====  ========================================================  ========================
id      type  story                                                     expected
======  ====  ========================================================  ========================
c01     B2C   bought 2024-06-20 (10 days); a cancelled order never counts  active
c02     B2C   bought 2024-05-01 (60 days)                               at_risk
c03     B2C   bought 2024-03-01 (121 d), human open 2024-06-01          inactive, lost_interest
c04     B2C   bought 2023-06-01 (395 d), hard bounce after last delivery  lost, dead_address
c05     B2C   created 2023-01-01, never bought, no event                lost, never_engaged
c06     B2C   bought 2024-01-10 (172 d), 6 deliveries, machine opens    inactive, deliverability
c07     B2B   bought 2023-10-01 (273 d), company closed 2024-01-15      inactive, company_closed
c08     B2B   bought 2024-04-01 (90 d = half the B2B window)            at_risk
c09     B2C   clicked r1a 2024-05-01, bought 2024-05-10 (51 d)          at_risk
c10     B2C   bought 2024-02-01 (150 d), spam complaint                 inactive, deliverability
c11     B2C   bought 2022-06-01 and 2024-03-15 (107 d), no event        inactive, unknown
c12     B2C   bought 2022-12-01 (577 d), its only message hard-bounced  lost, dead_address
======  ====  ========================================================  ========================

Backtest at 2023-07-01: the customers then were c03 (181 d: lost), c04 (30 d: active),
c11 (395 d: lost) and c12 (212 d: lost). Their RFM then: c03 R3 F1 M2 -> FM 2,
about_to_sleep; c04 R4; c11 R1 F3 M3 -> FM 3, at_risk; c12 R2 F4 M1 -> FM 3, at_risk.
c03 and c11 bought again within the year: about_to_sleep 1/1, at_risk 1/2.

Reactivation step 1 was A/B tested on 2024-05-01 09:00 (r1a: c03, c06, c09; r1b: c10, c12);
c09 ordered 2024-05-10 (9 days after r1a: converted) and c12's r1b message hard-bounced.
A newsletter (n1) went to c03, c04 and c06.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb

from dagster_project.lib import ingest
from dagster_project.lib.schema import SOURCES

AS_OF_DATE = "2024-06-30"
LOADED_AT = datetime(2024, 6, 30, 23, 0)


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _contact(contact_id, business_type, created_at, **extra):
    row = {
        "contact_id": contact_id,
        "email": f"  {contact_id.upper()}@Example.com ",
        "first_name": "Ann",
        "last_name": contact_id,
        "country": "fr",
        "business_type": business_type,
        "industry": "retail" if business_type == "B2C" else "Manufacturing",
        "acquisition_source": "newsletter_signup" if business_type == "B2C" else "trade_show",
        "created_at": _ts(created_at),
        "email_consent": True,
        "sms_consent": False,
        "push_consent": False,
    }
    row.update(extra)
    return row


CONTACTS = [
    _contact("c01", "B2C", "2022-01-01 10:00"),
    _contact("c02", "B2C", "2022-01-01 10:00"),
    _contact("c03", "B2C", "2022-01-01 10:00"),
    _contact("c04", "B2C", "2022-01-01 10:00", acquisition_source="paid_search"),
    _contact("c05", "B2C", "2023-01-01 10:00", industry=None, acquisition_source=None),
    _contact("c06", "B2C", "2022-01-01 10:00"),
    _contact("c07", "B2B", "2022-01-01 10:00", company_name="Acme", siret="12345678900011"),
    _contact("c08", "B2B", "2022-01-01 10:00", company_name="Beta", siret="98765432100022"),
    _contact("c09", "B2C", "2022-01-01 10:00"),
    _contact("c10", "B2C", "2022-01-01 10:00"),
    _contact("c11", "B2C", "2022-01-01 10:00"),
    _contact("c12", "B2C", "2022-01-01 10:00"),
]

COMPANY_REGISTRY = [
    {
        "siret": "12345678900011",
        "administrative_status": "closed",
        "closed_at": date(2024, 1, 15),
        "is_moved": False,
        "is_acquired": False,
    },
    {
        "siret": "98765432100022",
        "administrative_status": "active",
        "is_moved": False,
        "is_acquired": False,
    },
]


def _order(order_id, contact_id, ordered_at, amount, status="completed"):
    return {
        "order_id": order_id,
        "contact_id": contact_id,
        "ordered_at": _ts(ordered_at),
        "amount": amount,
        "currency": "EUR",
        "status": status,
    }


ORDERS = [
    _order("o01", "c01", "2024-06-20 12:00", 50.00),
    _order("o02", "c02", "2024-05-01 12:00", 80.00),
    _order("o03", "c03", "2024-03-01 12:00", 100.00),
    _order("o04", "c03", "2023-01-01 12:00", 40.00),  # 14 months before c03's last order
    _order("o05", "c04", "2023-06-01 12:00", 200.00),
    _order("o06", "c06", "2024-01-10 12:00", 60.00),
    _order("o07", "c07", "2023-10-01 12:00", 1000.00),
    _order("o08", "c08", "2024-04-01 12:00", 500.00),
    _order("o09", "c09", "2024-02-15 12:00", 30.00),
    _order("o10", "c09", "2024-05-10 12:00", 45.00),  # 9 days after r1a: attributed
    _order("o11", "c10", "2024-02-01 12:00", 70.00),
    _order("o12", "c11", "2022-06-01 12:00", 90.00),
    _order("o13", "c11", "2024-03-15 12:00", 110.00),
    _order("o14", "c12", "2022-12-01 12:00", 20.00),
    _order("o15", "c01", "2024-06-25 12:00", 999.00, status="cancelled"),  # never counts
]

ORDER_LINES = [
    {
        "order_id": o["order_id"],
        "line_number": 1,
        "product_id": "p1",
        "product_category": "Shoes",
        "quantity": 1,
        "unit_price": o["amount"],
    }
    for o in ORDERS
]

CAMPAIGNS = [
    {
        "campaign_id": "n1",
        "campaign_name": "Spring newsletter",
        "campaign_kind": "newsletter",
        "channel": "email",
        "sent_at": _ts("2024-01-20 09:00"),
        "cost_per_message": 0.01,
    },
    {
        "campaign_id": "r1a",
        "campaign_name": "Win-back step 1 A",
        "campaign_kind": "reactivation",
        "reactivation_step": 1,
        "channel": "email",
        "sent_at": _ts("2024-05-01 09:00"),
        "cost_per_message": 0.10,
        "variant": "A",
    },
    {
        "campaign_id": "r1b",
        "campaign_name": "Win-back step 1 B",
        "campaign_kind": "reactivation",
        "reactivation_step": 1,
        "channel": "email",
        "sent_at": _ts("2024-05-01 09:00"),
        "cost_per_message": 0.10,
        "variant": "b",
    },
    # c06's four older newsletters: with n1 and r1a, six deliveries, all opened by a machine
    *[
        {
            "campaign_id": f"n0{i}",
            "campaign_name": f"Newsletter {i}",
            "campaign_kind": "newsletter",
            "channel": "email",
            "sent_at": _ts(f"2024-02-0{i} 09:00"),
            "cost_per_message": 0.01,
        }
        for i in range(1, 5)
    ],
]

_event_counter = iter(range(1, 1000))


def _event(campaign_id, contact_id, event_type, occurred_at, **extra):
    return {
        "event_id": f"e{next(_event_counter):03d}",
        "campaign_id": campaign_id,
        "contact_id": contact_id,
        "event_type": event_type,
        "occurred_at": _ts(occurred_at),
        **extra,
    }


def _delivered(campaign_id, contact_id, day):
    return [
        _event(campaign_id, contact_id, "sent", f"{day} 09:00"),
        _event(campaign_id, contact_id, "delivered", f"{day} 09:01"),
    ]


EMAIL_EVENTS = [
    # newsletter n1 (2024-01-20)
    *_delivered("n1", "c03", "2024-01-20"),
    *_delivered("n1", "c04", "2024-01-20"),  # c04's last delivery
    *_delivered("n1", "c06", "2024-01-20"),
    _event("n1", "c06", "open", "2024-01-20 09:02", is_machine_open=True),
    # c06: older newsletters, machine opens only
    *[e for i in range(1, 5) for e in _delivered(f"n0{i}", "c06", f"2024-02-0{i}")],
    *[
        _event(f"n0{i}", "c06", "Opened", f"2024-02-0{i} 09:02", is_machine_open=True)
        for i in range(1, 5)
    ],
    # c04: a later message hard-bounced: dead address
    _event("n04", "c04", "sent", "2024-02-04 09:00"),
    _event("n04", "c04", "Hard-Bounce", "2024-02-04 09:01"),
    # reactivation step 1, variant A
    *_delivered("r1a", "c03", "2024-05-01"),
    _event("r1a", "c03", "open", "2024-06-01 20:00", is_machine_open=False),  # human
    *_delivered("r1a", "c06", "2024-05-01"),
    _event("r1a", "c06", "open", "2024-05-01 09:02", is_machine_open=True),
    *_delivered("r1a", "c09", "2024-05-01"),
    _event("r1a", "c09", "open", "2024-05-01 19:00", is_machine_open=False),
    _event("r1a", "c09", "click", "2024-05-01 19:01"),
    # reactivation step 1, variant B
    *_delivered("r1b", "c10", "2024-05-01"),
    _event("r1b", "c10", "spam_complaint", "2024-05-01 10:00"),
    _event("r1b", "c12", "sent", "2024-05-01 09:00"),
    _event("r1b", "c12", "hard_bounce", "2024-05-01 09:01"),
]

ROWS = {
    "contacts": CONTACTS,
    "campaigns": CAMPAIGNS,
    "email_events": EMAIL_EVENTS,
    "orders": ORDERS,
    "order_lines": ORDER_LINES,
    "company_registry": COMPANY_REGISTRY,
}


def create_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every raw table of the canonical schema, empty."""
    con.execute("create schema if not exists raw")
    for source in SOURCES.values():
        columns = ", ".join(f"{name} {ctype}" for name, ctype in ingest.raw_columns(source))
        con.execute(f"create or replace table raw.{source.name} ({columns})")
        if source.superseded_table:  # the loader's record of moved rows, empty
            con.execute(f"drop table if exists raw.{source.superseded_table}")
            con.execute(ingest.superseded_ddl(source))


def write_fixture(path: Path | str, rows: dict[str, list[dict]] | None = None) -> Path:
    """Create the raw schema in the DuckDB file ``path`` and insert the fixture rows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = ROWS if rows is None else rows
    with duckdb.connect(str(path)) as con:
        create_raw_tables(con)
        for name, table_rows in rows.items():
            columns = SOURCES[name].column_names + ["_source_file", "_loaded_at"]
            values = [
                [row.get(c) for c in SOURCES[name].column_names]
                + [f"landing/{name}/fixture.csv", LOADED_AT]
                for row in table_rows
            ]
            if values:
                placeholders = ", ".join("?" for _ in columns)
                con.executemany(
                    f"insert into raw.{name} ({', '.join(columns)}) values ({placeholders})",
                    values,
                )
    return path


def ensure_manifest() -> Path:
    """Write dbt's manifest (``make manifest``) when missing or older than a dbt source file.

    dagster-dbt reads the manifest when ``dagster_project.defs.dbt`` is imported; the project
    never parses at import time, so the tests make sure the file matches the models first.
    """
    import os
    import subprocess
    import sys

    from dagster_project import settings

    project_dir = settings.DBT_PROJECT_DIR
    manifest = project_dir / "target" / "manifest.json"
    sources = [
        path
        for folder in ("models", "macros", "seeds", "tests")
        for path in (project_dir / folder).rglob("*")
        if path.is_file()
    ] + [project_dir / "dbt_project.yml"]
    newest = max(path.stat().st_mtime for path in sources)
    if manifest.exists() and manifest.stat().st_mtime >= newest:
        return manifest
    dbt = Path(sys.executable).parent / "dbt"
    env = {**os.environ, "REVEIL_WAREHOUSE": os.environ.get("REVEIL_WAREHOUSE", "unused.duckdb")}
    subprocess.run(
        [str(dbt), "parse", "--quiet", "--profiles-dir", ".", "--project-dir", "."],
        cwd=project_dir,
        env=env,
        check=True,
    )
    return manifest


if __name__ == "__main__":  # pragma: no cover - manual use: build a fixture warehouse
    import sys

    write_fixture(sys.argv[1] if len(sys.argv) > 1 else "/tmp/reveil_fixture.duckdb")

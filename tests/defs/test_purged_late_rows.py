"""Late events and orders of a purged contact, through ingestion, the landing gates and publish.

A first delivery is ingested through Dagster; ``purge_job`` then purges one contact for real
(``marts.purge_candidates`` is a hand-made stand-in of the dbt model). Later deliveries hold
only that contact's rows (an old events export, a late order): they are not orphans. Staging
leaves the events out and puts the order under the contact's pseudonym, so the landing gates
validate the rows as publish takes them, the run goes on, and the purged contact's id reaches
no gate sample, no event of Dagster's event log and no table.
"""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import duckdb
from dagster_shared.serdes import serialize_value

from dagster_project import settings
from dagster_project.definitions import defs
from dagster_project.defs import purge as purge_defs
from dagster_project.defs.purge.assets import PURGE_OP
from dagster_project.lib import privacy
from dagster_project.lib.schema import SOURCES

PURGED = "crm-zq-4711"  # a contact id found nowhere else in a log
KEPT = "crm-kept-0001"
DAY = (date.today() - timedelta(days=1)).isoformat()  # fresh enough for the gates
EVENTS = "event_id,campaign_id,contact_id,event_type,occurred_at\n"
ORDERS = "order_id,contact_id,ordered_at,amount,currency,status\n"
FIRST = {
    "contacts": [
        f"{PURGED},zq.gone@example.com,B2C,2020-01-01,true,false,false",
        f"{KEPT},kept@example.com,B2C,2020-01-01,true,false,false",
    ],
    "campaigns": [f"K1,Newsletter,newsletter,email,{DAY},0.002"],
    "email_events": [f"E1,K1,{PURGED},sent,{DAY}", f"E2,K1,{KEPT},open,{DAY}"],
    "orders": [f"O1,{PURGED},2021-01-01,10.5,EUR,completed", f"O2,{KEPT},{DAY},12,EUR,completed"],
}


def _deliver(landing, path: str, header: str, rows: list[str]) -> None:
    (landing / path).write_text(header + "".join(f"{row}\n" for row in rows))


def _first_delivery(landing) -> None:
    for name, rows in FIRST.items():  # order_lines and company_registry are optional
        (landing / name).mkdir(parents=True)
        lines = [",".join(SOURCES[name].required_columns), *rows]
        (landing / name / f"{name}.csv").write_text("\n".join(lines) + "\n")


def _ingest(instance) -> dg.ExecuteInProcessResult:
    selection = dg.AssetSelection.groups("ingestion").resolve(defs.resolve_asset_graph())
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        asset_selection=list(selection), instance=instance, raise_on_error=False
    )


def _purge(instance) -> None:
    with duckdb.connect(str(settings.warehouse_path())) as con:
        con.execute("create schema marts")
        con.execute(
            """create table marts.purge_candidates as
            select 'batch-1' as batch_id, date '2024-06-30' as as_of_date,
                'purge-rules-v1' as rule_version, contact_id, email,
                'retention_limit' as purge_rule, 'retention_limit' as matched_rules,
                cast(null as date) as first_touch_date, cast(null as date) as last_touch_date,
                0 as touch_count, cast(null as double) as weeks_spanned,
                cast(null as date) as last_engagement_date,
                date '2021-01-01' as last_contact_from_them_date
            from raw.contacts where contact_id = ?""",
            [PURGED],
        )
    job = purge_defs.defs.resolve_job_def(purge_defs.purge_job.name)
    run = job.execute_in_process(
        instance=instance, run_config={"ops": {PURGE_OP: {"config": {"dry_run": False}}}}
    )
    assert run.success


def _gates(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {
        e.asset_key.to_user_string(): e
        for e in result.get_asset_check_evaluations()
        if e.asset_check_key.name == "gx_landing_gate"
    }


def _logged(instance, result) -> str:
    """Every event of the run, serialised (messages, metadata, check samples)."""
    records = instance.get_records_for_run(result.run_id, limit=100_000).records
    return "\n".join(serialize_value(record.event_log_entry) for record in records)


def _tables_naming(con, term: str) -> list[str]:
    columns = con.execute(
        "select schema_name, table_name, column_name from duckdb_columns() "
        "where database_name = current_database() and data_type = 'VARCHAR'"
    ).fetchall()
    return [
        f"{schema}.{table}.{column}"
        for schema, table, column in columns
        if con.execute(
            f'select count(*) from "{schema}"."{table}" where contains("{column}", ?)', [term]
        ).fetchone()[0]
    ]


def test_late_rows_of_a_purged_contact_pass_the_gates_and_never_show_their_id(reveil_env):
    landing = settings.landing_dir()
    _first_delivery(landing)
    with dg.DagsterInstance.ephemeral() as instance:
        assert _ingest(instance).success
        _purge(instance)
        with duckdb.connect(str(settings.warehouse_path()), read_only=True) as con:
            (pseudonym,) = con.execute(
                "select contact_id from raw.orders where order_id = 'O1'"
            ).fetchone()
        assert pseudonym.startswith(privacy.PSEUDONYM_PREFIX)

        # an old events export and a late order, naming only the purged contact
        late_events = [f"E9,K1,{PURGED},click,{DAY}", f"E1,K1,{PURGED},sent,{DAY}"]
        _deliver(landing, "email_events/old_export.csv", EVENTS, late_events)
        _deliver(landing, "orders/late.csv", ORDERS, [f"O3,{PURGED},{DAY},30,EUR,completed"])
        late = _ingest(instance)
        assert late.success
        gates = _gates(late)
        assert gates["staged/email_events"].passed and gates["staged/orders"].passed
        staged = {
            e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
            for e in late.get_asset_materialization_events()
        }
        assert staged["staged/email_events"]["rows_of_purged_contacts"].value == 2
        assert staged["staged/orders"]["rows_of_purged_contacts"].value == 1
        assert PURGED not in _logged(instance, late)
        with duckdb.connect(str(settings.warehouse_path()), read_only=True) as con:
            events = con.execute("select event_id from raw.email_events order by 1").fetchall()
            assert events == [("E2",)]  # the purged contact's events never published
            orders = con.execute(
                "select order_id, contact_id from raw.orders order by 1"
            ).fetchall()
            assert orders == [("O1", pseudonym), ("O2", KEPT), ("O3", pseudonym)]
            assert _tables_naming(con, PURGED) == []  # the staged ids are forgotten

        # a bad late order of the purged contact (its id twice): the gate fails, and its
        # samples name the pseudonym, never the id
        _deliver(
            landing,
            "orders/later.csv",
            ORDERS,
            [f"O4,{PURGED},{DAY},30,EUR,completed", f"O4,{PURGED},{DAY},31,EUR,completed"],
        )
        bad = _ingest(instance)
        assert not bad.success
        gate = _gates(bad)["staged/orders"]
        assert not gate.passed
        [duplicate] = [
            o for o in gate.metadata["outcomes"].value if o["label"].endswith("(unique_order_id)")
        ]
        assert duplicate["samples"] and all(pseudonym in s for s in duplicate["samples"])
        assert PURGED not in _logged(instance, bad)


def test_a_purged_person_delivered_again_under_a_new_crm_id_stays_out_with_their_rows(
    reveil_env,
):
    """The CRM re-creates the purged person under a new id, with the same email (another
    case and spaces). The contact was kept out by its suppressed email, but its events and
    orders carry the new id, which no filter knew: they were published as orphans, in that
    delivery and every later one."""
    landing = settings.landing_dir()
    _first_delivery(landing)
    new_id = "crm-new-8086"
    with dg.DagsterInstance.ephemeral() as instance:
        assert _ingest(instance).success
        _purge(instance)

        _deliver(
            landing,
            "contacts/recreated.csv",
            ",".join(SOURCES["contacts"].required_columns) + "\n",
            [f"{new_id}, ZQ.Gone@Example.com ,B2C,{DAY},true,false,false"],
        )
        _deliver(landing, "email_events/new.csv", EVENTS, [f"E20,K1,{new_id},click,{DAY}"])
        _deliver(landing, "orders/new.csv", ORDERS, [f"O20,{new_id},{DAY},30,EUR,completed"])
        same_day = _ingest(instance)
        assert same_day.success
        # later deliveries still name the new id: left out at staging, the gates pass
        _deliver(landing, "email_events/later.csv", EVENTS, [f"E21,K1,{new_id},open,{DAY}"])
        _deliver(landing, "orders/later.csv", ORDERS, [f"O21,{new_id},{DAY},9,EUR,completed"])
        later = _ingest(instance)
        assert later.success
        assert all(gate.passed for gate in _gates(later).values())
        for result in (same_day, later):
            assert new_id not in _logged(instance, result)

        with duckdb.connect(str(settings.warehouse_path()), read_only=True) as con:
            archived = con.execute(
                f"select contact_pseudonym, batch_id from {privacy.ARCHIVE_TABLE} "
                "where purge_rule = ?",
                [privacy.RETURNED_UNDER_NEW_ID],
            ).fetchall()
            assert len(archived) == 1 and archived[0][1] == "batch-1"
            pseudonym = archived[0][0]
            assert con.execute("select count(*) from raw.contacts").fetchone() == (1,)  # KEPT
            events = con.execute("select event_id from raw.email_events order by 1").fetchall()
            assert events == [("E2",)]
            orders = con.execute(
                "select order_id, contact_id from raw.orders where order_id in ('O20', 'O21') "
                "order by 1"
            ).fetchall()
            assert orders == [("O20", pseudonym), ("O21", pseudonym)]
            assert _tables_naming(con, new_id) == []

"""Ingestion through Dagster: staged assets, then one publish step into raw."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb

from dagster_project.definitions import defs
from dagster_project.lib.schema import SOURCES

ROOT = Path(__file__).resolve().parents[2]
ORDERS = "order_id,contact_id,ordered_at,amount,currency,status\n"


def _landing(data):
    landing = data / "landing"
    for source in SOURCES.values():
        folder = landing / source.name
        folder.mkdir(parents=True)
        (folder / f"{source.name}.csv").write_text(",".join(source.required_columns) + "\n")
    return landing


def _fill(landing):
    day = (date.today() - timedelta(days=1)).isoformat()  # fresh enough for the gates
    rows = {
        "contacts": "C1,a@example.com,B2C,2024-01-01,true,false,false",
        "campaigns": f"K1,Newsletter,newsletter,email,{day},0.002",
        "email_events": f"E1,K1,C1,open,{day}",
        "orders": f"O1,C1,{day},10.5,EUR,completed",
        "order_lines": "O1,1,P1,books,1,10.5",
        "company_registry": "12345678900017,active",
    }
    for name, row in rows.items():
        with (landing / name / f"{name}.csv").open("a") as handle:
            handle.write(row + "\n")


def _ingestion_assets():
    graph = defs.resolve_asset_graph()
    return dg.AssetSelection.groups("ingestion").resolve(graph)


def test_materialize_ingestion_through_dagster(reveil_env):
    landing = _landing(reveil_env)
    _fill(landing)
    # an export open in Excel, and a note: skipped by name, logged, never read
    (landing / "orders" / "~$orders.csv").write_text("Bob Secretname\n")
    (landing / "orders" / "README.txt").write_text("orders from the shop, by Bob Secretname\n")
    job = defs.resolve_implicit_global_asset_job_def()
    instance = dg.DagsterInstance.ephemeral()
    result = job.execute_in_process(asset_selection=list(_ingestion_assets()), instance=instance)
    assert result.success
    mats = {
        e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert mats["staged/orders"]["rows"].value == 1
    skipped = ["orders/README.txt", "orders/~$orders.csv"]
    assert mats["staged/orders"]["files_skipped_not_exports"].value == skipped
    logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any("not exports" in m and ", ".join(skipped) in m for m in logs)
    assert not any("Secretname" in m for m in logs)
    assert mats["raw/orders"]["dagster/row_count"].value == 1
    with duckdb.connect(str(reveil_env / "warehouse" / "reveil.duckdb"), read_only=True) as con:
        for source in SOURCES:
            assert con.execute(f"select count(*) from raw.{source}").fetchone()[0] == 1
    # idempotent: a second run adds nothing
    assert job.execute_in_process(asset_selection=list(_ingestion_assets())).success
    with duckdb.connect(str(reveil_env / "warehouse" / "reveil.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from raw.email_events").fetchone()[0] == 1


def test_bad_file_fails_the_staged_step_and_publishes_nothing(reveil_env):
    landing = _landing(reveil_env)
    _fill(landing)
    (landing / "orders" / "late.csv").write_text(ORDERS + "O2,C1,yesterday,10,EUR,completed\n")
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(asset_selection=list(_ingestion_assets()), raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    by_step = {e.step_key: e for e in failures}
    assert "staged__orders" in by_step and "publish_raw" not in by_step
    message = by_step["staged__orders"].step_failure_data.user_failure_data.description
    assert "orders/late.csv" in message and "'ordered_at'" in message and "line 2" in message
    with duckdb.connect(str(reveil_env / "warehouse" / "reveil.duckdb"), read_only=True) as con:
        # publish never ran: nothing of any source reached raw
        for source in SOURCES:
            assert con.execute(f"select count(*) from raw.{source}").fetchone()[0] == 0


def test_a_malformed_line_reaches_no_dagster_event(reveil_env):
    """DuckDB's CSV errors quote the whole line ("Original Line: …"): the step failure says
    which file, which line and what is wrong, and no event (nor its error chain) holds the
    line's email or name."""
    from dagster_shared.serdes import serialize_value

    landing = _landing(reveil_env)
    _fill(landing)
    header = "contact_id,email,first_name,business_type,created_at,email_consent,sms_consent,"
    header += "push_consent\n"
    row = "C2,bob.secret@example.com,Secretname,B2C,2024-01-01,true\n"  # one field short
    (landing / "contacts" / "late.csv").write_text(header + row)
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        asset_selection=[dg.AssetKey(["staged", "contacts"])], raise_on_error=False
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.user_failure_data.description
    assert "contacts/late.csv" in message and "line 2" in message and "6 field(s)" in message
    events = " ".join(serialize_value(e) for e in result.all_events)
    assert "bob.secret" not in events and "Secretname" not in events


def test_an_esp_export_keyed_by_email_goes_through_its_gate_with_contact_ids(
    reveil_env, monkeypatch
):
    """The mapping of data/mappings/README.md's ESP example (emails, the ESP's words, Paris
    time) through the staged asset, its gate and publish: the events land under the contact
    ids of the contacts delivered with them; the unknown address is left out and counted."""
    landing = _landing(reveil_env)
    _fill(landing)
    readme = (ROOT / "data" / "mappings" / "README.md").read_text()
    example = readme.split("## Example: an ESP's events keyed by email")[1]
    mappings = reveil_env / "mappings"
    mappings.mkdir()
    (mappings / "email_events.yml").write_text(example.split("```yaml")[1].split("```")[0])
    monkeypatch.setenv("REVEIL_MAPPINGS_DIR", str(mappings))
    (landing / "email_events" / "email_events.csv").unlink()
    day = date.today() - timedelta(days=1)
    (landing / "esp_events").mkdir()
    (landing / "esp_events" / "export.csv").write_text(
        "Event ID,Campaign ID,Email,Event,Date\n"
        f"X1,K1,A@Example.com,opened,{day} 00:30:00\n"
        f"X2,K1,a@example.com,clicked,{day} 09:00:00\n"
        f"X3,K1,seed-list@agency.example,opened,{day} 09:00:00\n"
    )
    job = defs.resolve_implicit_global_asset_job_def()
    instance = dg.DagsterInstance.ephemeral()
    result = job.execute_in_process(
        asset_selection=list(_ingestion_assets()), instance=instance, raise_on_error=False
    )
    assert result.success
    mats = {
        e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert mats["staged/email_events"]["rows_matching_no_contact"].value == 1
    logs = "\n".join(entry.user_message for entry in instance.all_logs(result.run_id))
    assert "1 row(s) left out: their email" in logs and "seed-list" not in logs
    with duckdb.connect(str(reveil_env / "warehouse" / "reveil.duckdb"), read_only=True) as con:
        rows = con.execute(
            "select event_id, contact_id, event_type, occurred_at from raw.email_events order by 1"
        ).fetchall()
    paris = datetime.combine(day, time(0, 30), ZoneInfo("Europe/Paris"))
    assert [r[:3] for r in rows] == [("X1", "C1", "open"), ("X2", "C1", "click")]
    assert rows[0][3] == paris.astimezone(UTC).replace(tzinfo=None)  # the day before, in UTC

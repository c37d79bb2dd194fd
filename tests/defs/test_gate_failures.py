"""A bad delivery stops the run at its gate; raw, the marts and the served file stay as they were.

One generated world (300 contacts) goes through the whole daily job once (dbt included): the
baseline. Then each defect arrives as a new landing file, one at a time. The run fails at the
landing gate of the file's source (``staged/<source>:gx_landing_gate``, blocking), so neither
``publish_raw`` nor dbt nor ``serving/marts`` runs; the checksums of ``raw.*`` and ``marts.*``
and the published serving file are unchanged; then the file is replaced by a good one and the
next run publishes it. The first case goes through the whole daily job; the others, to save a
dbt build each, through the ingestion assets and their gates only (the failure stops before
dbt anyway). Plus: a gate that cannot run (the warehouse locked by another process) is a step
failure with an infrastructure message, not a failed expectation; and a mart gate (inactive
share band set to something impossible) blocks ``serving/marts``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project import cli, settings
from dagster_project.definitions import defs
from dagster_project.defs.quality.checks import INFRASTRUCTURE_PREFIX, LANDING_CHECK, MART_CHECK
from dagster_project.lib import serving

pytestmark = pytest.mark.integration

DAILY = "reveil_daily"
CONTACTS = 300
SEED = 11
HISTORY_DAYS = 400


# --- the world ------------------------------------------------------------------------------


@dataclass
class World:
    data: Path
    warehouse: Path
    landing: Path
    instance: dg.DagsterInstance
    contact_id: str  # a contact created long ago
    campaign_id: str


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from dagster_project.generate import generate

    data = tmp_path_factory.mktemp("gates") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REVEIL_DATA_DIR", str(data))
        mp.setenv("REVEIL_WAREHOUSE", str(data / "warehouse" / "reveil.duckdb"))
        for var in ("REVEIL_LANDING_DIR", "REVEIL_MAPPINGS_DIR", "REVEIL_SERVING_DIR"):
            mp.delenv(var, raising=False)
        mp.setenv("REVEIL_SUPPRESSION_KEY", "test-key-not-secret")
        mp.setenv("REVEIL_GX_DATA_DOCS", "0")  # Data Docs are tested in test_quality_gates
        landing = settings.landing_dir()
        generate(landing, contacts=CONTACTS, seed=SEED, history_days=HISTORY_DAYS)
        instance = dg.DagsterInstance.ephemeral()
        result = defs.resolve_job_def(DAILY).execute_in_process(
            instance=instance, raise_on_error=False
        )
        assert result.success, _failures(result)
        assert _served(settings.serving_dir())[1], "the baseline run published nothing"
        with duckdb.connect(str(settings.warehouse_path()), read_only=True) as con:
            contact_id = con.execute(
                "select contact_id from raw.contacts "
                "where created_at < now()::timestamp - interval 30 day order by 1 limit 1"
            ).fetchone()[0]
            campaign_id = con.execute("select min(campaign_id) from raw.campaigns").fetchone()[0]
        yield World(data, settings.warehouse_path(), landing, instance, contact_id, campaign_id)


def _failures(result) -> str:
    lines = []
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            user = data.user_failure_data
            text = (user.description if user else None) or (
                data.error.message if data.error else ""
            )
            lines.append(f"{event.step_key}: {text}")
    return "\n".join(lines)


def _snapshot(warehouse: Path) -> dict[str, tuple]:
    """Row count and an order-independent checksum of every raw and mart table."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where database_name = current_database() and schema_name in ('raw', 'marts')"
        ).fetchall()
        return {
            f"{schema}.{table}": con.execute(
                f"select count(*), md5(coalesce(string_agg(cast(t as varchar), '|' "
                f'order by cast(t as varchar)), \'\')) from "{schema}"."{table}" as t'
            ).fetchone()
            for schema, table in tables
        }


def _served(folder: Path) -> tuple[int | None, str | None]:
    path = serving.current_path(folder)
    return (path.stat().st_mtime_ns if path.exists() else None, serving.current_version(folder))


def _started_steps(result) -> set[str]:
    return {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}


def _evaluation(result, asset: list[str], check: str):
    key = dg.AssetCheckKey(dg.AssetKey(asset), check)
    found = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.asset_check_key == key
    ]
    return found[-1] if found else None


def _ingestion_and_gates(instance: dg.DagsterInstance, **kwargs):
    graph = defs.resolve_asset_graph()
    selection = dg.AssetSelection.groups("ingestion").resolve(graph)
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        asset_selection=list(selection), instance=instance, raise_on_error=False, **kwargs
    )


# --- the defects ----------------------------------------------------------------------------

EVENTS_HEADER = "event_id,campaign_id,contact_id,event_type,occurred_at"
ORDERS_HEADER = "order_id,contact_id,ordered_at,amount,currency,status"


def _ts(delta: timedelta = timedelta(days=-1)) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Defect:
    name: str
    source: str
    failed: str  # the failed expectation, as in the check's failed_expectations
    sample: str  # shown in the check's Markdown

    def rows(self, world: World, bad: bool) -> list[str]:
        c, k, n = world.contact_id, world.campaign_id, self.name
        if self.source == "orders":
            header = ORDERS_HEADER
            amount = "-5.00" if bad and n == "negative_amount" else "5.00"
            second = f"{n}_o1" if bad and n == "duplicate_ids" else f"{n}_o2"
            body = [
                f"{n}_o1,{c},{_ts()},{amount},EUR,completed",
                f"{second},{c},{_ts()},7.50,EUR,completed",
            ]
        else:
            header = EVENTS_HEADER
            when = _ts(timedelta(days=30)) if bad and n == "future_date" else _ts()
            kind = "forward" if bad and n == "unknown_event_type" else "open"
            owner = "ghost_contact" if bad and n == "orphan_events" else c
            body = [f"{n}_e{i},{k},{owner},{kind},{when}" for i in range(3)]
        return [header, *body]


DEFECTS = [
    Defect("negative_amount", "orders", "expect_column_values_to_be_between(amount)", "-5.0"),
    Defect(
        "future_date",
        "email_events",
        "expect_column_values_to_be_between(occurred_at)",
        (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d"),
    ),
    Defect(
        "unknown_event_type",
        "email_events",
        "expect_column_values_to_be_in_set(event_type)",
        "forward",
    ),
    Defect(
        "duplicate_ids",
        "orders",
        "expect_no_unexpected_rows(unique_order_id)",
        "order_id=duplicate_ids_o1",
    ),
    Defect(
        "orphan_events",
        "email_events",
        "expect_no_unexpected_rows(known_contacts)",
        "contact_id=ghost_contact",
    ),
]


@pytest.mark.parametrize("defect", DEFECTS, ids=[d.name for d in DEFECTS])
def test_a_bad_file_is_stopped_at_its_gate_and_the_fixed_file_goes_through(world, defect):
    warehouse, serving_dir = world.warehouse, world.data / "serving"
    before, served = _snapshot(warehouse), _served(serving_dir)
    path = world.landing / defect.source / f"gate_{defect.name}.csv"
    path.write_text("\n".join(defect.rows(world, bad=True)) + "\n")
    try:
        whole_job = defect is DEFECTS[0]  # one case through the whole daily job
        if whole_job:
            result = defs.resolve_job_def(DAILY).execute_in_process(
                instance=world.instance, raise_on_error=False
            )
        else:
            result = _ingestion_and_gates(world.instance)
        assert not result.success

        # the gate of the file's source failed, naming the expectation, with samples
        evaluation = _evaluation(result, ["staged", defect.source], LANDING_CHECK)
        assert evaluation is not None and not evaluation.passed
        assert evaluation.severity == dg.AssetCheckSeverity.ERROR
        assert defect.failed in evaluation.metadata["failed_expectations"].value
        outcome = next(
            o for o in evaluation.metadata["outcomes"].value if o["label"] == defect.failed
        )
        assert not outcome["success"]
        assert any(defect.sample in sample for sample in outcome["samples"]), outcome
        markdown = evaluation.metadata["result"].value
        assert "❌" in markdown and defect.failed.split("(")[0].removeprefix("expect_") in markdown
        assert defect.failed in evaluation.description
        # ... and where the failing rows are: the file and the line an editor shows
        found_at = f"{defect.source}/gate_{defect.name}.csv line 2"
        assert found_at in outcome["found_at"], outcome
        assert f"{defect.failed} (in {found_at}" in evaluation.description
        assert found_at in markdown
        if defect.name == "duplicate_ids":  # both rows of the repeated key
            assert outcome["found_at"][:2] == [found_at, found_at.replace("line 2", "line 3")]
        if whole_job:  # what `make run` prints: the gate, the expectation, the file and line
            lines = cli.failure_lines(result)
            assert any(f"staged/{defect.source}:{LANDING_CHECK}" in line for line in lines)
            assert any(defect.failed in line and found_at in line for line in lines), lines
        # every other source's gate passed: only this file is to blame
        for source in {"contacts", "orders", "email_events"} - {defect.source}:
            assert _evaluation(result, ["staged", source], LANDING_CHECK).passed

        # nothing after the gates ran, nothing changed
        started = _started_steps(result)
        assert "publish_raw" not in started
        assert "reveil_dbt_models" not in started
        assert "serving__marts" not in started
        if whole_job:
            assert {f"staged__{defect.source}_{LANDING_CHECK}", "staged__orders"} <= started
        assert _snapshot(warehouse) == before
        assert _served(serving_dir) == served

        # the source sends the corrected file: the next run publishes it
        path.write_text("\n".join(defect.rows(world, bad=False)) + "\n")
        fixed = _ingestion_and_gates(world.instance)
        assert fixed.success, _failures(fixed)
        assert _evaluation(fixed, ["staged", defect.source], LANDING_CHECK).passed
        after = _snapshot(warehouse)
        added = after[f"raw.{defect.source}"][0] - before[f"raw.{defect.source}"][0]
        assert added == len(defect.rows(world, bad=False)) - 1
    except BaseException:
        path.unlink(missing_ok=True)  # leave the next case a clean landing folder
        raise


def test_a_gate_that_cannot_run_fails_the_step_as_infrastructure(world):
    """Another process holds the warehouse (a BI tool opened it read-write): the gate cannot
    open it; the step fails with an infrastructure message, and no verdict is recorded."""
    key = dg.AssetCheckKey(dg.AssetKey(["staged", "orders"]), LANDING_CHECK)
    gate_only = dg.define_asset_job("gate_only", selection=dg.AssetSelection.checks(key))
    job = dg.Definitions.merge(defs, dg.Definitions(jobs=[gate_only])).resolve_job_def("gate_only")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time\n"
            f"con = duckdb.connect({str(world.warehouse)!r})\n"
            "print('locked', flush=True)\n"
            "time.sleep(120)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = job.execute_in_process(instance=world.instance, raise_on_error=False)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert [e.step_key for e in failures] == [f"staged__orders_{LANDING_CHECK}"]
    description = failures[0].step_failure_data.user_failure_data.description
    assert description.startswith(INFRASTRUCTURE_PREFIX)
    assert "lock" in description.lower()
    assert _evaluation(result, ["staged", "orders"], LANDING_CHECK) is None


def test_a_failed_mart_gate_blocks_serving(world):
    """The inactive-share band set to something impossible for one run: dbt rebuilds the mart,
    its gate fails, serving/marts does not run and BI keeps the previous file."""
    served = _served(world.data / "serving")
    mart = dg.AssetKey(["marts", "dim_contact_inactivity"])
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        asset_selection=[mart, dg.AssetKey(["serving", "marts"])],
        instance=world.instance,
        run_config={
            "resources": {
                "quality_gates": {
                    "config": {"inactive_share_min": 0.999, "inactive_share_max": 1.0}
                }
            }
        },
        raise_on_error=False,
    )
    assert not result.success
    assert "reveil_dbt_models" in _started_steps(result)
    evaluation = _evaluation(result, ["marts", "dim_contact_inactivity"], MART_CHECK)
    assert evaluation is not None and not evaluation.passed
    assert evaluation.metadata["failed_expectations"].value == [
        "expect_column_proportion_of_non_null_values_to_be_between(inactive_since_date)"
    ]
    assert "serving__marts" not in _started_steps(result)
    assert _served(world.data / "serving") == served

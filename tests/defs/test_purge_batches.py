"""Two real purges on the same day: each batch keeps its own list for the ESP.

The dbt test fixture (snapshot 2024-06-30: one candidate, c07, whose company closed) is built
through Dagster (dbt + ``purge_batch_gate``), the sensor requests ``purge_job`` and the real
purge runs. Then the registry closes c08's company the same day: the rebuilt candidates are
the next batch (another id, another list), the executed list stays as it was, and relaunching
the executed batch changes nothing.
"""

from __future__ import annotations

import csv

import dagster as dg
import duckdb
import pytest

from dagster_project import settings
from dagster_project.lib import purge
from tests.dbt.raw_fixture import AS_OF_DATE, ensure_manifest, write_fixture

ensure_manifest()

from dagster_project.defs import dbt as dbt_defs  # noqa: E402  (the manifest must exist first)
from dagster_project.defs import purge as purge_defs  # noqa: E402
from dagster_project.defs.purge.assets import PURGE_CANDIDATES_KEY, PURGE_OP  # noqa: E402
from dagster_project.defs.purge.sensors import purge_candidates_sensor  # noqa: E402

RULES = "purge-rules-v1"
DEFS = dg.Definitions.merge(dbt_defs.defs, purge_defs.defs)


@pytest.fixture
def instance(reveil_env, tmp_path, monkeypatch):
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    # a subset build must not run tests whose other parents are not built
    monkeypatch.setenv("DBT_INDIRECT_SELECTION", "cautious")
    monkeypatch.setenv("REVEIL_DUCKDB_THREADS", "1")
    write_fixture(settings.warehouse_path())
    with dg.DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def build_candidates(instance) -> tuple[str, int]:
    """marts/purge_candidates and its upstream dbt models, with the gate; (batch, candidates)."""
    selection = dg.AssetSelection.assets(PURGE_CANDIDATES_KEY).upstream()
    selection = selection - dg.AssetSelection.key_prefixes(["raw"])
    build = DEFS.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=list(selection.resolve(DEFS.resolve_asset_graph())),
        run_config={"ops": {"reveil_dbt_models": {"config": {"as_of_date": AS_OF_DATE}}}},
    )
    [gate] = [
        evaluation
        for evaluation in build.get_asset_check_evaluations()
        if evaluation.asset_check_key.name == "purge_batch_gate"
    ]
    assert gate.passed
    return gate.metadata["batch_id"].value, gate.metadata["candidates"].value


def requested(instance, cursor=None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=DEFS)
    return purge_candidates_sensor(context)


def purge_run(instance, batch_id: str) -> dg.ExecuteInProcessResult:
    job = purge_defs.defs.resolve_job_def(purge_defs.purge_job.name)
    return job.execute_in_process(
        instance=instance,
        run_config={"ops": {PURGE_OP: {"config": {"batch_id": batch_id, "dry_run": False}}}},
        raise_on_error=False,
    )


def failure(result: dg.ExecuteInProcessResult) -> str:
    [event] = [e for e in result.all_events if e.is_step_failure]
    return event.step_failure_data.user_failure_data.description


def rows(path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def test_a_second_purge_the_same_day_is_another_batch_and_never_rewrites_the_first_list(
    instance, reveil_env
):
    exports = reveil_env / "exports" / "purge"
    first, candidates = build_candidates(instance)
    assert (first, candidates) == (purge.batch_id("purge", AS_OF_DATE, RULES), 1)
    tick = requested(instance)
    assert [r.run_key for r in tick.run_requests] == [first]
    assert purge_run(instance, first).success
    first_list = exports / f"{AS_OF_DATE}_{first}.csv"
    assert rows(first_list) == [["email", "reason"], ["c07@example.com", "company_closed"]]
    first_bytes = first_list.read_bytes(), first_list.with_suffix(".parquet").read_bytes()

    # a registry file delivered the same afternoon closes c08's company; the daily run again
    with duckdb.connect(str(settings.warehouse_path())) as con:
        con.execute(
            "update raw.company_registry set administrative_status = 'closed', "
            "closed_at = date '2024-06-01' where siret = '98765432100022'"
        )
    second, candidates = build_candidates(instance)
    assert (second, candidates) == (purge.batch_id("purge", AS_OF_DATE, RULES, 1), 1)
    assert second != first
    # the sensor requests the new batch the same day (its own run key)
    assert [r.run_key for r in requested(instance, tick.cursor).run_requests] == [second]

    # the executed batch launched again (the tester's repro): refused, its list untouched
    again = purge_run(instance, first)
    assert not again.success and "no longer in marts.purge_candidates" in failure(again)
    assert purge_run(instance, second).success
    second_list = exports / f"{AS_OF_DATE}_{second}.csv"
    assert rows(second_list) == [["email", "reason"], ["c08@example.com", "company_closed"]]
    assert (first_list.read_bytes(), first_list.with_suffix(".parquet").read_bytes()) == (
        first_bytes
    )

    with duckdb.connect(str(settings.warehouse_path())) as con:
        audit = con.execute(
            "select batch_id, dry_run, candidate_count, list_file from audit.purge_batches "
            "order by started_at"
        ).fetchall()
        assert audit == [
            (first, False, 1, first_list.name),
            (second, False, 1, second_list.name),
        ]
        for table in ("archive.purged_contacts", "suppression.email_hashes"):
            batches = con.execute(f"select batch_id, count(*) from {table} group by all")
            assert sorted(batches.fetchall()) == sorted([(first, 1), (second, 1)])
        # a table still holding an executed batch (not rebuilt by these models): refused
        con.execute(
            "insert into marts.purge_candidates (batch_id, as_of_date, rule_version, contact_id, "
            "email, purge_rule) values (?, date '2024-06-30', ?, 'c01', 'c01@example.com', "
            "'sunset_silent')",
            [second, RULES],
        )
    stale = purge_run(instance, second)
    assert not stale.success and f"batch {second} was already purged" in failure(stale)
    assert rows(second_list) == [["email", "reason"], ["c08@example.com", "company_closed"]]

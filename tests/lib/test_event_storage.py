"""The event log of dagster.yaml: Dagster's SQLite files, one engine per file."""

from __future__ import annotations

import dagster as dg
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from dagster_project.lib import event_storage
from dagster_project.lib.event_storage import ReveilSqliteEventLogStorage


@dg.asset(pool="duckdb_writer")
def numbers() -> int:
    return 1


@dg.asset_check(asset=numbers, blocking=True)
def numbers_positive() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@dg.asset(deps=[numbers])
def doubled() -> None:
    return None


def test_project_instance_stores_events_in_dagsters_files(dagster_home):
    """A run through the project's dagster.yaml is stored where Dagster's default storage
    keeps it, readable by Dagster's own class (a DAGSTER_HOME can switch back)."""
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, ReveilSqliteEventLogStorage)
        result = dg.materialize([numbers, numbers_positive, doubled], instance=instance)
        assert result.success
        stored = instance.all_logs(result.run_id)
    assert (dagster_home / "history" / "runs" / f"{result.run_id}.db").exists()
    plain = SqliteEventLogStorage(str(dagster_home / "history" / "runs"))
    again = plain.get_logs_for_run(result.run_id)
    assert [e.dagster_event_type for e in again] == [e.dagster_event_type for e in stored]
    assert plain.get_latest_materialization_events([dg.AssetKey("doubled")])[dg.AssetKey("doubled")]
    check = plain.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("numbers"), "numbers_positive")]
    )
    assert len(check) == 1


def test_one_engine_per_database_file(tmp_path, monkeypatch):
    created = []
    real = event_storage.create_engine

    def counting(*args, **kwargs):
        created.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(event_storage, "create_engine", counting)
    with dg.DagsterInstance.ephemeral() as base:  # only for its run; events go to `storage`
        storage = ReveilSqliteEventLogStorage(str(tmp_path / "runs"))
        storage.register_instance(base)
        result = dg.materialize([numbers, numbers_positive, doubled], instance=base)
        records = base.all_logs(result.run_id)
        for record in records:
            storage.store_event(record)
    # ~20 events, each stored in the run's file, most mirrored in the index
    assert sorted(created) == sorted(
        {storage.conn_string_for_shard(result.run_id), storage.conn_string_for_shard("index")}
    )
    assert len(storage.get_logs_for_run(result.run_id)) == len(records)


def test_engines_are_bounded_and_released(tmp_path, monkeypatch):
    monkeypatch.setattr(event_storage, "MAX_ENGINES", 3)
    storage = ReveilSqliteEventLogStorage(str(tmp_path / "runs"))
    for run in range(6):
        with storage.run_connection(f"run{run}") as conn:
            conn.exec_driver_sql("select 1")
    assert list(storage._engines) == ["run3", "run4", "run5"]
    storage.wipe()  # deletes the run files: no engine may stay on them
    assert set(storage._engines) <= {"index"}  # wipe empties the index through it
    assert not list((tmp_path / "runs").glob("run*.db"))
    with storage.run_connection("run0") as conn:  # and works again afterwards
        assert conn.exec_driver_sql("select 1").scalar() == 1

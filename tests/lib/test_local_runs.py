"""Runs of the CLI whose process died: who is alive, what recovery marks and frees; the run
monitoring of dagster.yaml for runs of ``dagster dev``; what a failed run says it published.

The real processes (a ``make run`` killed with SIGKILL, then the next one) are in
``tests/defs/test_cli_runs.py``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from types import SimpleNamespace

import dagster as dg
import pytest

from dagster_project import cli
from dagster_project.lib import local_runs

POOL = "duckdb_writer"


@pytest.fixture
def instance(dagster_home):
    """An instance of the project's dagster.yaml (pool limit 1, run monitoring) in tmp_path."""
    with dg.DagsterInstance.get() as instance:
        yield instance


def _dead_process_tags() -> dict[str, str]:
    """Tags naming a process that has exited (started and reaped here)."""
    child = subprocess.Popen(["true"])
    child.wait()
    tags = local_runs.process_tags()
    return {**tags, local_runs.TAG_PID: str(child.pid)}


def _run(instance, tags: dict[str, str], status=dg.DagsterRunStatus.STARTED) -> dg.DagsterRun:
    run = dg.DagsterRun(job_name="reveil_daily", run_id=str(uuid.uuid4()), status=status, tags=tags)
    instance.add_run(run)
    return run


def _claim(instance, run: dg.DagsterRun, step: str) -> None:
    status = instance.event_log_storage.claim_concurrency_slot(POOL, run.run_id, step)
    assert status.is_claimed


def _holders(instance) -> set[str]:
    info = instance.event_log_storage.get_concurrency_info(POOL)
    return {slot.run_id for slot in info.claimed_slots} | {s.run_id for s in info.pending_steps}


def test_owner_alive():
    mine = local_runs.process_tags()
    assert local_runs.owner_alive(mine) is True
    assert local_runs.owner_alive(_dead_process_tags()) is False
    # the pid of a live process, but not the process that started the run (pid reused)
    reused = {**mine, local_runs.TAG_PROCESS_STARTED: "1000.0"}
    assert local_runs.owner_alive(reused) is False
    assert local_runs.owner_alive({**mine, local_runs.TAG_HOST: "another-host"}) is None
    assert local_runs.owner_alive({}) is None  # e.g. a run launched by dagster dev


def test_recovery_fails_dead_runs_and_frees_their_slots(instance):
    instance.event_log_storage.set_concurrency_slots(POOL, 3)
    dead = _run(instance, _dead_process_tags())
    live = _run(instance, local_runs.process_tags())
    elsewhere = _run(instance, {**_dead_process_tags(), local_runs.TAG_HOST: "another-host"})
    finished = _run(instance, {})
    _claim(instance, dead, "publish_raw")
    _claim(instance, live, "staged__orders")
    _claim(instance, finished, "serving__marts")
    instance.report_run_failed(finished)  # e.g. marked failed in the UI: its slot stays taken

    lines = local_runs.recover_dead_runs(instance)

    assert len(lines) == 2, lines
    assert lines[0].startswith(f"recovered run {dead.run_id} (reveil_daily, started ")
    assert lines[0].endswith(f"marked FAILED, freed its slot in pool {POOL}")
    assert (
        lines[1] == f"freed the slot in pool {POOL} still held by run {finished.run_id} (FAILURE)"
    )
    status = {run.run_id: instance.get_run_by_id(run.run_id).status for run in (dead, live)}
    assert status == {
        dead.run_id: dg.DagsterRunStatus.FAILURE,
        live.run_id: dg.DagsterRunStatus.STARTED,
    }
    assert instance.get_run_by_id(elsewhere.run_id).status == dg.DagsterRunStatus.STARTED
    assert _holders(instance) == {live.run_id}
    assert local_runs.recover_dead_runs(instance) == []  # nothing left to recover


def _fake_dbt(tmp_path, run_id: str, ignore_sigint: bool = False) -> subprocess.Popen:
    """A process with the environment dagster-dbt gives dbt for a run (``run_id``)."""
    code = "import os, signal, time\n"
    # SIGINT ignored, or answered at once (a traceback's unwinding took over the grace of
    # 1 s on a loaded CI machine: the process got SIGKILL)
    handler = "signal.SIG_IGN" if ignore_sigint else "lambda *_: os._exit(130)"
    code += f"signal.signal(signal.SIGINT, {handler})\n"
    code += "print('ready', flush=True)\ntime.sleep(120)\n"
    target = tmp_path / "target" / f"reveil_dbt_models-{run_id[:7]}-{uuid.uuid4().hex[:7]}"
    env = {**os.environ, "DAGSTER_DBT_CLI": "true", "DBT_TARGET_PATH": str(target)}
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline() == "ready\n"  # its SIGINT handler is set
    return process


def test_recovery_stops_the_dbt_processes_a_dead_run_left_running(instance, tmp_path, monkeypatch):
    """dbt outlives a `make run` killed with SIGKILL and keeps the warehouse locked: the next
    `make run` stops it (SIGINT, then SIGKILL) before it frees the slot and runs."""
    monkeypatch.setattr(local_runs, "LEFTOVER_GRACE_SECONDS", 3.0)
    instance.event_log_storage.set_concurrency_slots(POOL, 1)
    dead = _run(instance, _dead_process_tags())
    _claim(instance, dead, "reveil_dbt_models")
    live = _run(instance, local_runs.process_tags())
    polite = _fake_dbt(tmp_path, dead.run_id)
    stubborn = _fake_dbt(tmp_path, dead.run_id, ignore_sigint=True)
    of_live_run = _fake_dbt(tmp_path, live.run_id)
    try:
        lines = local_runs.recover_dead_runs(instance)
        assert polite.wait(timeout=1) == 130  # gone when recovery returns (reaped here)
        assert stubborn.wait(timeout=1) == -9
        assert of_live_run.poll() is None
    finally:
        for process in (polite, stubborn, of_live_run):
            process.kill()
            process.wait()
    assert lines[0].startswith(f"recovered run {dead.run_id} (reveil_daily, started ")
    stopped = {
        pid: line
        for line in lines[1:]
        for pid in (polite.pid, stubborn.pid)
        if line.startswith(f"  process {pid} left running by run {dead.run_id} (python")
    }
    assert len(lines) == 3 and len(stopped) == 2, lines
    assert stopped[polite.pid].endswith("…): stopped by SIGINT")  # the command line, cut
    assert stopped[stubborn.pid].endswith(": killed: still running 3 s after SIGINT")
    assert _holders(instance) == set()


def test_run_monitoring_frees_the_slots_of_runs_that_ended(instance, monkeypatch):
    """A run of `dagster dev` whose worker died is marked failed by its code server; with the
    run monitoring of dagster.yaml, the daemon's next iteration frees the slots it held."""
    # Dagster's own daemon iteration (private module: what `dagster dev`'s daemon runs)
    from dagster._daemon.monitoring import concurrency

    assert instance.run_monitoring_enabled
    instance.event_log_storage.set_concurrency_slots(POOL, 1)
    run = _run(instance, {})
    _claim(instance, run, "reveil_dbt_models")
    instance.report_run_failed(run)
    after = instance.run_monitoring_settings["free_slots_after_run_end_seconds"] + 5
    now = concurrency.get_current_datetime()
    monkeypatch.setattr(concurrency, "get_current_datetime", lambda: now + timedelta(seconds=after))
    workspace = SimpleNamespace(instance=instance)  # the iteration only reads the instance
    list(concurrency.execute_concurrency_slots_iteration(workspace, logging.getLogger(__name__)))
    assert _holders(instance) == set()


def test_publication_lines():
    assert cli.publication_lines({("staged", "orders"): {}}) == [
        "Nothing was published: raw, the dbt models and the served marts are as they were."
    ]
    after_publish = {
        ("staged", "orders"): {},
        ("raw", "orders"): {"rows_inserted": dg.MetadataValue.int(120), "rows_replaced": 3},
        ("raw", "contacts"): {"rows_inserted": dg.MetadataValue.int(5)},
        ("raw", "orders_superseded"): {"dagster/row_count": 3},
        ("predictions", "customer_predictions"): {},
        ("staging", "stg_raw__orders"): {},
        ("marts", "dim_contact_inactivity"): {},
    }
    assert cli.publication_lines(after_publish) == [
        "What this run changed before it stopped:",
        "  raw: published (125 rows inserted, 3 replaced)",
        "  dbt: 2 models and seeds rebuilt in the warehouse, the others unchanged",
        "  also written: predictions/customer_predictions",
        "  served marts: unchanged (BI tools still see the previous publication)",
    ]
    served = cli.publication_lines({("raw", "orders"): {}, ("serving", "marts"): {}})
    assert served[1:3] == ["  raw: unchanged (no new rows to publish)", "  dbt: no model rebuilt"]
    assert served[-1] == "  served marts: published (BI tools see this run's marts)"

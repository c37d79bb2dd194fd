"""``make run`` as real processes (``python -m dagster_project.cli run``) against one Dagster
instance whose pool ``duckdb_writer`` has one slot (the project's dagster.yaml):

* killed with SIGKILL while it holds the slot, the next ``make run`` marks the dead run FAILED,
  frees the slot and completes (it used to wait forever, silently);
* waiting for a slot a live run holds, it says which run holds it, and Ctrl-C stops it;
* SIGTERM while dbt builds: dbt is stopped with it, the exit code is 143, the warehouse is not
  left locked, and it says what was published (raw) and what was not (the served marts);
* SIGKILL while dbt builds: no dbt of that run outlives the next ``make run``'s start (it used
  to keep the warehouse locked, and every step of the next run failed), which succeeds;
* another process holding the warehouse (a BI tool pointed at it): the summary says which
  process, once, and where BI tools must connect (it said "Error occurred while executing op"
  under each step).

The first two run the ingestion assets only (``--select group:ingestion``): the pool and the
recovery are the same for every step, and the whole job takes ~80 s more per run.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import duckdb
import psutil
import pytest

from dagster_project import settings
from dagster_project.generate import generate
from dagster_project.lib import local_runs
from tests.lib.test_warehouse_lock import hold

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
POOL = "duckdb_writer"
INGESTION = ["--select", "group:ingestion"]


@pytest.fixture
def instance(dagster_home, reveil_env, monkeypatch):
    monkeypatch.setenv("REVEIL_LOG_LEVEL", "WARNING")
    with dg.DagsterInstance.get() as instance:
        yield instance


def _start(log: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dagster_project.cli", "run", "--no-demo", *args],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # signals reach only the process the test addresses
    )


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _wait_for_a_dbt_model(instance, run_id: str) -> None:
    """Until dbt streams a built model into the run: dbt is running and writing."""
    _wait_for(
        lambda: any(
            record.asset_key.path[0] in ("staging", "seeds", "intermediate")
            for record in instance.get_records_for_run(
                run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            ).records
        ),
        timeout=120,
        what="a dbt model built",
    )


def _slots(instance) -> list:
    return instance.event_log_storage.get_concurrency_info(POOL).claimed_slots


def _cli_runs(instance, pid: int) -> list[dg.DagsterRun]:
    return instance.get_runs(filters=dg.RunsFilter(tags={local_runs.TAG_PID: str(pid)}))


def test_a_run_killed_holding_the_slot_is_recovered_by_the_next(instance, reveil_env, tmp_path):
    generate(reveil_env / "landing", contacts=150, seed=5)
    first = _start(tmp_path / "first.log", *INGESTION)
    try:
        # a landing gate holds the slot for ~0.5 s: time to kill the run while it holds it
        held = _wait_for(
            lambda: [s for s in _slots(instance) if s.step_key.endswith("_gx_landing_gate")],
            timeout=120,
            what="a landing gate holding the slot",
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    dead = held[0].run_id
    assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.STARTED
    assert dead in {slot.run_id for slot in _slots(instance)}

    second = subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", "run", "--no-demo", *INGESTION],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,  # the old code waited forever
        check=False,
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"recovered run {dead} (reveil_daily, started " in second.stdout
    assert f"freed its slot in pool {POOL}" in second.stdout
    assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
    assert _slots(instance) == []
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as con:
        assert con.execute("select count(*) from raw.contacts").fetchone()[0] == 150


def test_a_run_waiting_for_a_live_runs_slot_says_so_and_stops_on_ctrl_c(instance, tmp_path):
    # the holder: a run of this (live) test process that holds the only slot
    holder = dg.DagsterRun(
        job_name="reveil_daily",
        run_id=str(uuid.uuid4()),
        status=dg.DagsterRunStatus.STARTED,
        tags=local_runs.process_tags(),
    )
    instance.add_run(holder)
    instance.event_log_storage.set_concurrency_slots(POOL, 1)
    assert instance.event_log_storage.claim_concurrency_slot(POOL, holder.run_id, "x").is_claimed
    log = tmp_path / "waiting.log"
    waiting = _start(log, *INGESTION)  # no landing file: its steps never get to run
    try:
        line = _wait_for(
            lambda: [x for x in log.read_text().splitlines() if x.startswith("waiting for pool")],
            timeout=120,
            what="the waiting message",
        )
        assert line == [
            f"waiting for pool {POOL}: its slot is held by run {holder.run_id} (reveil_daily, "
            f"make run pid {os.getpid()} on {local_runs.process_tags()[local_runs.TAG_HOST]}); "
            "Ctrl-C stops waiting"
        ]
        time.sleep(2)  # it keeps waiting, and says it once
        assert len([x for x in log.read_text().splitlines() if x.startswith("waiting")]) == 1
        waiting.send_signal(signal.SIGINT)
        code = waiting.wait(timeout=60)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    output = log.read_text()
    assert code == 130, output[-3000:]
    assert "stopped by SIGINT" in output
    [run] = _cli_runs(instance, waiting.pid)
    assert run.status == dg.DagsterRunStatus.FAILURE
    info = instance.event_log_storage.get_concurrency_info(POOL)
    assert {step.run_id for step in info.pending_steps} == {holder.run_id}  # its queue is gone
    assert [slot.run_id for slot in info.claimed_slots] == [holder.run_id]


def test_sigterm_while_dbt_builds_stops_dbt_and_says_what_was_published(
    instance, reveil_env, tmp_path
):
    counts = generate(reveil_env / "landing", contacts=150, seed=6)
    log = tmp_path / "term.log"
    cli = _start(log)  # the whole daily job
    dbt = None
    try:
        dbt = _wait_for(lambda: local_runs.dbt_children(cli.pid), timeout=180, what="dbt to start")[
            0
        ]
        run = _wait_for(lambda: instance.get_runs(limit=1), timeout=30, what="the run")[0]
        # dbt is streaming its results into Dagster (the old code orphaned dbt then)
        _wait_for_a_dbt_model(instance, run.run_id)
        cli.send_signal(signal.SIGTERM)
        code = cli.wait(timeout=90)
    finally:
        if cli.poll() is None:
            cli.kill()
    output = log.read_text()
    assert code == 143, output[-3000:]
    assert not (dbt.is_running() and dbt.status() != psutil.STATUS_ZOMBIE), "dbt outlived the CLI"
    assert "stopped by SIGTERM" in output
    assert "left as they were" not in output
    published = re.search(r"^  raw: published \(([\d,]+) rows inserted", output, re.MULTILINE)
    assert published and int(published[1].replace(",", "")) >= sum(counts.values()) // 2
    assert "  served marts: unchanged (BI tools still see the previous publication)" in output
    # dbt's line per model and test went to a file, not to the screen
    assert "(dbt's progress per model and test: " in output
    assert not re.search(r"^\d+ of \d+ (START|OK|PASS)\b", output, re.MULTILINE)
    progress = (settings.data_dir() / "logs" / "dbt_progress.log").read_text()
    assert re.search(r"^\d+ of \d+ OK created", progress, re.MULTILINE), progress[-2000:]
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    # nobody holds the warehouse: it opens for writing, raw as published
    with duckdb.connect(str(settings.warehouse_path())) as con:
        assert con.execute("select count(*) from raw.contacts").fetchone()[0] == 150
    assert not (settings.serving_dir() / "reveil.duckdb").exists()


def test_a_run_killed_while_dbt_builds_leaves_no_dbt_writing_the_warehouse(
    instance, reveil_env, tmp_path
):
    generate(reveil_env / "landing", contacts=150, seed=7)
    first = _start(tmp_path / "first.log")  # the whole daily job
    try:
        dbt = _wait_for(
            lambda: local_runs.dbt_children(first.pid), timeout=180, what="dbt to start"
        )[0]
        [run] = _cli_runs(instance, first.pid)
        _wait_for_a_dbt_model(instance, run.run_id)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    if shutil.which("setpriv"):  # dbt was started to die with its parent (PR_SET_PDEATHSIG)
        _wait_for(
            lambda: not dbt.is_running() or dbt.status() == psutil.STATUS_ZOMBIE,
            timeout=5,
            what="dbt to die with the killed CLI",
        )
    log = tmp_path / "second.log"
    second = _start(log)
    try:
        _wait_for(lambda: "recovered run" in log.read_text(), timeout=120, what="the recovery")
        assert not local_runs.leftovers(run.run_id), "a dbt of the killed run still runs"
        assert not (dbt.is_running() and dbt.status() != psutil.STATUS_ZOMBIE)
        code = second.wait(timeout=600)
    finally:
        if second.poll() is None:
            second.kill()
    output = log.read_text()
    assert code == 0, output[-3000:]
    assert f"recovered run {run.run_id} (reveil_daily, started " in output
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE


@pytest.mark.parametrize(
    ("select", "read_only", "failed"),
    [
        ("group:ingestion", True, "staged__"),  # a BI tool reading the warehouse
        ("key:staging/stg_raw__orders", False, "reveil_dbt_models"),  # dbt can't start
    ],
    ids=["ingestion-reader", "dbt-writer"],
)
def test_a_warehouse_held_by_another_process_is_said_once(
    instance, reveil_env, tmp_path, select, read_only, failed
):
    generate(reveil_env / "landing", contacts=150, seed=8)
    warehouse = settings.warehouse_path()
    warehouse.parent.mkdir(parents=True)
    duckdb.connect(str(warehouse)).close()
    holder = hold(warehouse, read_only)
    try:
        cli = subprocess.run(
            [sys.executable, "-m", "dagster_project.cli", "run", "--no-demo", "--select", select],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        holder.kill()
        holder.wait()
    output = cli.stdout
    assert cli.returncode == 1, output[-3000:] + cli.stderr[-3000:]
    summary = output[output.index(" FAILED after ") :]
    [line] = [x for x in summary.splitlines() if "in use" in x]
    assert line.startswith(f"  step{'s' if failed == 'staged__' else ''} {failed}"), line
    assert (
        f": the warehouse {warehouse} is in use by process {holder.pid} ({sys.executable} -c "
        "import duckdb, sys, time con = duckdb.connect(sys.argv[1], read_only="
    ) in line
    assert line.endswith(
        f"A BI tool must open the served copy {settings.serving_dir() / 'reveil.duckdb'} "
        'instead (README, "Connect a BI tool").'
    )
    assert "Error occurred while executing op" not in summary

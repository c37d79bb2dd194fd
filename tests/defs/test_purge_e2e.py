"""End to end: the real webserver and daemon, the sensor, a real purge run, the list on disk.

1. A temporary DAGSTER_HOME and project data folder; the dbt test fixture as raw data (its
   snapshot 2024-06-30 has one purge candidate: c07, whose company closed).
2. ``dagster-daemon run`` and ``dagster-webserver`` start on 127.0.0.1 (random free port), each
   in its own process group (STACK.md trap 10), on a code location that is the project's
   Definitions plus, until definitions.py lists them, the dbt and purge packages.
3. Meanwhile the test builds ``marts/purge_candidates`` (dbt, through Dagster) in-process,
   recorded in the same instance; its ``purge_batch_gate`` check passes.
4. The daemon's sensor requests ``purge_job`` for the batch; the run (``REVEIL_PURGE_MODE=
   execute``) writes the list and erases c07. The test waits for it (bounded), asks the
   webserver's GraphQL for the run, and checks the list and the warehouse.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tests.dbt.raw_fixture import AS_OF_DATE, write_fixture

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
WAIT_FOR_PURGE_S = 120
WAIT_FOR_WEBSERVER_S = 60
SENSOR_INTERVAL_S = 2

LOCATION = '''
"""Code location of the purge end-to-end test: the project's Definitions, plus the dbt and
purge packages when definitions.py does not list them yet."""
import dagster as dg

from dagster_project.definitions import defs as project_defs
from dagster_project.defs import dbt as dbt_defs
from dagster_project.defs import purge as purge_defs

extra = []
keys = project_defs.resolve_asset_graph().get_all_asset_keys()
if dg.AssetKey(["marts", "purge_candidates"]) not in keys:
    extra.append(dbt_defs.defs)
if not any(s.name == "purge_candidates_sensor" for s in project_defs.sensors or []):
    extra.append(purge_defs.defs)
defs = dg.Definitions.merge(project_defs, *extra)
'''

PROJECT_DAGSTER_YAML = Path(__file__).resolve().parents[2] / "dagster.yaml"
# the project's instance config (one writer pool, queued runs) plus threaded sensors
SENSORS_YAML = """
sensors:
  use_threads: true
  num_workers: 2
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(args: list[str], env: dict, log: Path, stack: ExitStack) -> subprocess.Popen:
    handle = log.open("w")
    stack.callback(handle.close)
    process = subprocess.Popen(
        args, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    stack.callback(_stop, process)
    return process


def _stop(process: subprocess.Popen) -> None:
    """Stop the whole process group (code servers and run workers included)."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _graphql(port: int, query: str) -> dict:
    import json

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def _tail(path: Path, lines: int = 40) -> str:
    return (
        "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
    )


def _build_candidates(instance: dg.DagsterInstance) -> str:
    """Build marts/purge_candidates and its upstream dbt models in-process, recorded in the
    instance the daemon watches; return the batch id its gate recorded."""
    from dagster_project.defs import dbt as dbt_defs
    from dagster_project.defs import purge as purge_defs
    from dagster_project.defs.purge.assets import PURGE_CANDIDATES_KEY

    defs = dg.Definitions.merge(dbt_defs.defs, purge_defs.defs)
    selection = dg.AssetSelection.assets(PURGE_CANDIDATES_KEY).upstream()
    selection = selection - dg.AssetSelection.key_prefixes(["raw"])
    build = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=list(selection.resolve(defs.resolve_asset_graph())),
        run_config={"ops": {"reveil_dbt_models": {"config": {"as_of_date": AS_OF_DATE}}}},
    )
    assert build.success
    [gate] = [
        evaluation
        for evaluation in build.get_asset_check_evaluations()
        if evaluation.asset_check_key.name == "purge_batch_gate"
    ]
    assert gate.passed and gate.metadata["candidates"].value == 1
    return gate.metadata["batch_id"].value


def _wait_for_purge_run(instance, daemon: subprocess.Popen, log: Path) -> dg.DagsterRun:
    deadline = time.monotonic() + WAIT_FOR_PURGE_S
    while time.monotonic() < deadline:
        assert daemon.poll() is None, _tail(log)
        runs = instance.get_runs(dg.RunsFilter(job_name="purge_job"))
        if runs and runs[0].is_finished:
            return runs[0]
        time.sleep(1)
    raise AssertionError(f"no finished purge run after {WAIT_FOR_PURGE_S} s\n{_tail(log)}")


def _graphql_runs(port: int, job: str, webserver: subprocess.Popen, log: Path) -> list[dict]:
    deadline = time.monotonic() + WAIT_FOR_WEBSERVER_S
    query = (
        f'{{ runsOrError(filter: {{pipelineName: "{job}"}}) '
        "{ ... on Runs { results { runId status } } } }"
    )
    while time.monotonic() < deadline:
        assert webserver.poll() is None, _tail(log)
        try:
            return _graphql(port, query)["data"]["runsOrError"]["results"]
        except OSError:
            time.sleep(1)
    raise AssertionError(f"the webserver did not answer in {WAIT_FOR_WEBSERVER_S} s\n{_tail(log)}")


@pytest.mark.skipif(
    shutil.which("dagster-daemon", path=str(BIN)) is None, reason="dagster-daemon not installed"
)
def test_sensor_requests_the_purge_run_and_the_list_lands_on_disk(tmp_path, monkeypatch):
    data = tmp_path / "data"
    warehouse = data / "warehouse" / "reveil.duckdb"
    home = tmp_path / "dagster_home"
    home.mkdir()
    project_yaml = PROJECT_DAGSTER_YAML.read_text() if PROJECT_DAGSTER_YAML.exists() else ""
    (home / "dagster.yaml").write_text(project_yaml + SENSORS_YAML)
    location = tmp_path / "e2e_location.py"
    location.write_text(LOCATION)
    write_fixture(warehouse)
    # lists written before the purge that name c07: yesterday's dry run and audience
    exports = data / "exports"
    earlier = [exports / "purge" / "2024-06-29_0123456789abcdef_dry_run.csv"]
    earlier.append(exports / "audiences" / "2024-06-29" / "email.csv")
    for path in earlier:
        path.parent.mkdir(parents=True, exist_ok=True)
    earlier[0].write_text("email,reason\nc07@example.com,company_closed\n")
    earlier[1].write_text("email,contact_id\nc07@example.com,c07\nc01@example.com,c01\n")
    env_overrides = {
        "DAGSTER_HOME": str(home),
        "REVEIL_DATA_DIR": str(data),
        "REVEIL_WAREHOUSE": str(warehouse),
        "REVEIL_SUPPRESSION_KEY": "e2e-test-key-not-secret",
        "REVEIL_PURGE_MODE": "execute",
        "REVEIL_SENSOR_INTERVAL_SECONDS": str(SENSOR_INTERVAL_S),
        "REVEIL_DUCKDB_THREADS": "1",
        # a subset build must not run tests whose other parents are not built (dbt's default
        # "eager" indirect selection runs relationships tests towards unbuilt marts)
        "DBT_INDIRECT_SELECTION": "cautious",
    }
    for name, value in env_overrides.items():
        monkeypatch.setenv(name, value)
    for name in ("REVEIL_LANDING_DIR", "REVEIL_EXPORTS_DIR", "DAGSTER_IS_DEV_CLI"):
        monkeypatch.delenv(name, raising=False)
    env = dict(os.environ)
    port = _free_port()
    daemon_log, web_log = tmp_path / "daemon.log", tmp_path / "webserver.log"
    started = time.monotonic()

    with ExitStack() as stack:
        # create the instance's storage first: three processes initialising the same SQLite
        # files at once race on their schema version
        instance = stack.enter_context(dg.DagsterInstance.get())
        location_args = ["-f", str(location), "-a", "defs"]
        daemon = _start(
            [str(BIN / "dagster-daemon"), "run", *location_args], env, daemon_log, stack
        )
        webserver = _start(
            [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), *location_args],
            env,
            web_log,
            stack,
        )

        batch_id = _build_candidates(instance)
        purge_run = _wait_for_purge_run(instance, daemon, daemon_log)
        assert purge_run.status == dg.DagsterRunStatus.SUCCESS, _tail(daemon_log)
        assert purge_run.tags["dagster/run_key"] == batch_id
        assert purge_run.tags["dagster/sensor_name"] == "purge_candidates_sensor"
        # the webserver answers and knows the run
        runs = _graphql_runs(port, "purge_job", webserver, web_log)
        assert runs == [{"runId": purge_run.run_id, "status": "SUCCESS"}]

    # the list is on disk, and the person is gone from the warehouse
    listed = data / "exports" / "purge" / f"{AS_OF_DATE}_{batch_id}.csv"
    assert listed.read_text().splitlines() == ["email,reason", "c07@example.com,company_closed"]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from raw.contacts").fetchone()[0] == 11
        gone = con.execute("select count(*) from raw.contacts where contact_id = 'c07'")
        assert gone.fetchone()[0] == 0
        audit = con.execute("select batch_id, dry_run from audit.purge_batches").fetchall()
        assert audit == [(batch_id, False)]
    assert b"c07@example.com" not in warehouse.read_bytes()  # rewritten after the purge
    # no file under the exports but the batch's list for the ESP names c07 any more: the dry
    # run that named only c07 is deleted, the audience list keeps c01
    naming = {p for p in exports.rglob("*") if p.is_file() and b"c07@" in p.read_bytes().lower()}
    assert listed in naming and naming <= {listed, listed.with_suffix(".parquet")}
    assert not earlier[0].exists()
    assert earlier[1].read_text() == "email,contact_id\nc01@example.com,c01\n"
    elapsed = time.monotonic() - started
    print(f"end-to-end purge in {elapsed:.0f} s")  # noqa: T201 - shown with pytest -s

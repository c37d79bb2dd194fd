"""The purge and hand-off sensors, evaluated with build_sensor_context on a real (ephemeral)
instance holding materialisations of stand-ins of the dbt marts.

The stand-in of ``marts/purge_candidates`` writes a table shaped like the dbt model with the
batch id and number of candidates given in its run config; the real ``purge_batch_gate``
check then runs on it, as in the daily job.
"""

import dagster as dg
import duckdb
import pytest

from dagster_project import settings
from dagster_project.defs import purge as purge_defs
from dagster_project.defs.purge.assets import (
    COMPLAINT_RATES_KEY,
    PURGE_CANDIDATES_KEY,
    PURGE_OP,
    SALES_HANDOFF_KEY,
)
from dagster_project.defs.purge.sensors import (
    FORCE_RERUN_TAG,
    BatchCursor,
    purge_candidates_sensor,
    sales_handoff_sensor,
)


class StandInConfig(dg.Config):
    batch_id: str = "batch-a"
    candidates: int = 2
    contacts: int = 10
    fail_downstream: bool = False


@dg.asset(key=PURGE_CANDIDATES_KEY, group_name="marts")
def purge_candidates_stand_in(config: StandInConfig) -> None:
    path = settings.warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists raw")
        con.execute("create schema if not exists marts")
        con.execute(
            "create or replace table raw.contacts as "
            f"select 'c' || i as contact_id from range({config.contacts}) r(i)"
        )
        con.execute(
            f"""create or replace table marts.purge_candidates as
            select '{config.batch_id}' as batch_id, date '2024-06-30' as as_of_date,
                'purge-rules-v1' as rule_version, 'c' || i as contact_id,
                'sunset_silent' as purge_rule
            from range({config.candidates}) r(i)"""
        )


@dg.asset(key=SALES_HANDOFF_KEY, group_name="marts")
def sales_handoff_stand_in() -> None:
    settings.warehouse_path().parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path())) as con:
        con.execute("create schema if not exists marts")
        con.execute(
            "create or replace table marts.sales_handoff as select 'handoff-1' as "
            "handoff_batch_id, date '2024-06-30' as as_of_date, 'c1' as contact_id"
        )


@dg.asset(key=COMPLAINT_RATES_KEY, group_name="marts")
def complaint_rates_stand_in() -> None:
    """Never materialised here: only so that the complaint check has its target."""


@dg.asset(key=["marts", "after_candidates"], deps=[PURGE_CANDIDATES_KEY], group_name="marts")
def after_candidates(config: StandInConfig) -> None:
    """A later step of the same run: failing it fails the run after the candidates were built."""
    if config.fail_downstream:
        raise RuntimeError("a later step of the daily run failed")


STAND_INS = [
    purge_candidates_stand_in,
    sales_handoff_stand_in,
    complaint_rates_stand_in,
    after_candidates,
]
only_candidates_job = dg.define_asset_job(
    "only_candidates_no_checks",
    selection=dg.AssetSelection.assets(PURGE_CANDIDATES_KEY).without_checks(),
)
DEFS = dg.Definitions.merge(
    purge_defs.defs, dg.Definitions(assets=STAND_INS, jobs=[only_candidates_job])
)


@pytest.fixture
def instance(reveil_env):
    with dg.DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def build_candidates(
    instance, *, tags=None, raise_on_error=True, **config
) -> dg.ExecuteInProcessResult:
    job = DEFS.resolve_implicit_global_asset_job_def()
    stand_in_config = {"config": config}
    return job.execute_in_process(
        instance=instance,
        asset_selection=[PURGE_CANDIDATES_KEY, dg.AssetKey(["marts", "after_candidates"])],
        run_config={
            "ops": {
                "marts__purge_candidates": stand_in_config,
                "marts__after_candidates": stand_in_config,
            }
        },
        tags=tags,
        raise_on_error=raise_on_error,
    )


def tick(sensor, instance, cursor=None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=DEFS)
    return sensor(context)


def test_new_batch_requests_one_run_then_nothing(instance):
    assert tick(purge_candidates_sensor, instance).run_requests == []  # nothing built yet
    run = build_candidates(instance, batch_id="batch-a")
    first = tick(purge_candidates_sensor, instance)
    assert len(first.run_requests) == 1
    request = first.run_requests[0]
    assert request.run_key == "batch-a"
    assert request.job_name == "purge_job"
    assert request.run_config == {"ops": {PURGE_OP: {"config": {"batch_id": "batch-a"}}}}
    assert request.tags["reveil/source_run_id"] == run.run_id
    cursor = BatchCursor.parse(first.cursor)
    assert cursor.run_keys == ["batch-a"] and cursor.storage_id is not None

    # ticking again with the saved cursor: no new materialisation, nothing requested
    again = tick(purge_candidates_sensor, instance, first.cursor)
    assert again.run_requests == [] and "no new materialisation" in again.skip_reason.skip_message

    # the same day's batch rebuilt (a second daily run): still nothing, cursor moves on
    build_candidates(instance, batch_id="batch-a")
    rebuilt = tick(purge_candidates_sensor, instance, first.cursor)
    assert rebuilt.run_requests == []
    assert "already requested" in rebuilt.skip_reason.skip_message
    moved = BatchCursor.parse(rebuilt.cursor)
    assert moved.storage_id > cursor.storage_id and moved.run_keys == ["batch-a"]

    # the next day's batch: one request
    build_candidates(instance, batch_id="batch-b")
    next_day = tick(purge_candidates_sensor, instance, rebuilt.cursor)
    assert [r.run_key for r in next_day.run_requests] == ["batch-b"]
    assert BatchCursor.parse(next_day.cursor).run_keys == ["batch-a", "batch-b"]


def test_only_the_newest_materialisation_counts(instance):
    build_candidates(instance, batch_id="old")
    build_candidates(instance, batch_id="new")
    result = tick(purge_candidates_sensor, instance)
    assert [r.run_key for r in result.run_requests] == ["new"]


def test_failed_run_is_not_gated(instance):
    result = build_candidates(
        instance, batch_id="batch-f", fail_downstream=True, raise_on_error=False
    )
    assert not result.success
    evaluation = tick(purge_candidates_sensor, instance)
    assert evaluation.run_requests == []
    assert "did not succeed" in evaluation.skip_reason.skip_message
    assert BatchCursor.parse(evaluation.cursor).storage_id is not None


def test_run_without_the_gate_requests_nothing(instance):
    DEFS.resolve_job_def("only_candidates_no_checks").execute_in_process(
        instance=instance,
        run_config={"ops": {"marts__purge_candidates": {"config": {"batch_id": "ungated"}}}},
    )
    evaluation = tick(purge_candidates_sensor, instance)
    assert evaluation.run_requests == []
    assert "purge_batch_gate did not pass" in evaluation.skip_reason.skip_message


def test_tripped_guard_requests_nothing(instance, monkeypatch):
    monkeypatch.setenv("REVEIL_PURGE_MAX_SHARE", "0.1")
    result = build_candidates(instance, batch_id="too-many", candidates=5, contacts=10)
    assert result.success  # the gate is not blocking: the daily run goes on
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and "above REVEIL_PURGE_MAX_SHARE" in check.description
    assert tick(purge_candidates_sensor, instance).run_requests == []


def test_empty_batch_requests_nothing(instance):
    build_candidates(instance, batch_id="empty", candidates=0)
    evaluation = tick(purge_candidates_sensor, instance)
    assert evaluation.run_requests == [] and "empty" in evaluation.skip_reason.skip_message


def test_force_rerun_tag_changes_the_run_key(instance):
    build_candidates(instance, batch_id="batch-r")
    first = tick(purge_candidates_sensor, instance)
    assert [r.run_key for r in first.run_requests] == ["batch-r"]
    build_candidates(instance, batch_id="batch-r", tags={FORCE_RERUN_TAG: "retry-1"})
    forced = tick(purge_candidates_sensor, instance, first.cursor)
    assert [r.run_key for r in forced.run_requests] == ["batch-r:retry-1"]
    assert forced.run_requests[0].run_config["ops"][PURGE_OP]["config"]["batch_id"] == "batch-r"


def test_handoff_sensor_one_run_per_batch(instance):
    job = DEFS.resolve_implicit_global_asset_job_def()
    job.execute_in_process(instance=instance, asset_selection=[SALES_HANDOFF_KEY])
    first = tick(sales_handoff_sensor, instance)
    assert [r.run_key for r in first.run_requests] == ["handoff-1"]
    assert first.run_requests[0].job_name == "handoff_job"
    job.execute_in_process(instance=instance, asset_selection=[SALES_HANDOFF_KEY])
    assert tick(sales_handoff_sensor, instance, first.cursor).run_requests == []


def test_sensors_are_running_by_default():
    for sensor in (purge_candidates_sensor, sales_handoff_sensor):
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_definitions_with_the_purge_package():
    from dagster_project.definitions import defs as project_defs

    has_purge = any(s.name == "purge_candidates_sensor" for s in project_defs.sensors or [])
    merged = project_defs if has_purge else dg.Definitions.merge(project_defs, purge_defs.defs)
    dg.Definitions.validate_loadable(merged)
    assert PURGE_CANDIDATES_KEY == dg.AssetKey(["marts", "purge_candidates"])
    daily = merged.resolve_job_def("reveil_daily").graph.node_names()
    assert "marts__purge_candidates_purge_batch_gate" in daily
    assert "marts__rpt_campaign_complaint_rates_complaint_rate_ceiling" in daily
    assert PURGE_OP not in daily and "handoff__sales_handoff_export" not in daily
    for name in ("purge_job", "handoff_job"):
        assert merged.resolve_job_def(name).executor_def.name == "in_process"
    graph = merged.resolve_asset_graph()
    assert graph.get(dg.AssetKey(["purge", "purge_list"])).group_name == "purge"
    assert graph.get(PURGE_CANDIDATES_KEY).group_name != "purge"  # built by the daily job
    checks = {k.name: graph.get_check_spec(k) for k in graph.asset_check_keys}
    assert not checks["complaint_rate_ceiling"].blocking
    assert not checks["purge_batch_gate"].blocking


def test_cli_dry_run_helper_lists_and_deletes_nothing(reveil_env, instance):
    from tests.lib.test_purge import BATCH, build_warehouse, snapshot

    warehouse = settings.warehouse_path()
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse)) as con:
        build_warehouse(con)
        before = snapshot(con)
    lines = purge_defs.run_purge_dry_run(instance)
    assert lines[0].startswith(f"purge dry run of batch {BATCH}: 2 candidate(s)")
    listed = reveil_env / "exports" / "purge" / f"2024-06-30_{BATCH}_dry_run.csv"
    assert str(listed) in lines[1] and listed.exists()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert snapshot(con) == before
        assert con.execute("select dry_run from audit.purge_batches").fetchall() == [(True,)]


def _plant_csv(path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header)] + [",".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def _files_naming(exports, terms: list[str]) -> list[str]:
    """Files under ``exports`` whose bytes (or, for Parquet, decoded values) hold a term."""
    hits = []
    for path in sorted(p for p in exports.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", "replace").lower()
        if path.suffix == ".parquet":
            text += str(duckdb.sql(f"select * from '{path}'").fetchall()).lower()
        if any(term in text for term in terms):
            hits.append(path.relative_to(exports).as_posix())
    return hits


def test_real_purge_removes_the_people_from_earlier_exports(reveil_env, instance):
    """A dry run (the CLI's), then the real purge through purge_job: no file under the exports
    names a purged person any more, except the batch's own list for the ESP."""
    from tests.lib.test_purge import BATCH, PEOPLE, PURGED, build_warehouse

    exports = reveil_env / "exports"
    warehouse = settings.warehouse_path()
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse)) as con:
        build_warehouse(con)
    assert purge_defs.run_purge_dry_run(instance)[0].startswith("purge dry run of batch")
    dry_run_csv = exports / "purge" / f"2024-06-30_{BATCH}_dry_run.csv"
    assert dry_run_csv.exists() and dry_run_csv.with_suffix(".parquet").exists()
    # earlier exports naming c1 and c2 next to c3, who stays (c1's email as exported: mixed case)
    c1_email, c2_email, c3_email = (PEOPLE[c][0].strip() for c in ("c1", "c2", "c3"))
    older_dry_run = exports / "purge" / "2024-06-01_0123456789abcdef_dry_run.csv"
    _plant_csv(
        older_dry_run,
        ["email", "reason"],
        [[c1_email.lower(), "sunset_silent"], [c3_email, "sunset_silent"]],
    )
    audience = exports / "audiences" / "2024-06-29"
    _plant_csv(
        audience / "email.csv",
        ["email", "contact_id", "first_name"],
        [[c1_email, "c1", "Zeldabeth"], [c3_email, "c3", "Keeperine"]],
    )
    _plant_csv(audience / "push.csv", ["contact_id", "first_name"], [["c2", "Ygrittina"]])
    _plant_csv(
        exports / "handoff" / "2024-06-20.csv",
        ["contact_id", "email", "last_name", "phone"],
        [["c2", c2_email, "Vantablack", "+33600000000"], ["c3", c3_email, "Staysworth", ""]],
    )
    unrelated = exports / "notes" / "segments.csv"
    _plant_csv(unrelated, ["segment", "contacts"], [["loyal", "2"]])
    before = unrelated.read_bytes()
    terms = [t.lower() for c in PURGED for t in (PEOPLE[c][0].strip(), *PEOPLE[c][1:3])]
    assert len(_files_naming(exports, terms)) == 6  # four planted, the dry run's two lists

    job = purge_defs.defs.resolve_job_def(purge_defs.purge_job.name)
    result = job.execute_in_process(
        instance=instance, run_config={"ops": {PURGE_OP: {"config": {"dry_run": False}}}}
    )
    assert result.success

    # only the batch's list for the ESP still names them (it is what the ESP imports)
    esp_list = [f"purge/2024-06-30_{BATCH}.csv", f"purge/2024-06-30_{BATCH}.parquet"]
    assert _files_naming(exports, terms) == esp_list
    assert not dry_run_csv.exists() and not dry_run_csv.with_suffix(".parquet").exists()
    # the others keep their rows, byte for byte
    assert older_dry_run.read_text() == f"email,reason\n{c3_email},sunset_silent\n"
    assert (
        audience / "email.csv"
    ).read_text() == f"email,contact_id,first_name\n{c3_email},c3,Keeperine\n"
    assert (audience / "push.csv").read_text() == "contact_id,first_name\n"
    assert (exports / "handoff" / "2024-06-20.csv").read_text() == (
        f"contact_id,email,last_name,phone\nc3,{c3_email},Staysworth,\n"
    )
    assert unrelated.read_bytes() == before
    [listed] = [
        e.step_materialization_data.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "purge/purge_list"
    ]
    assert listed["exports_rewritten"].value == {
        "audiences/2024-06-29/email.csv": 1,
        "audiences/2024-06-29/push.csv": 1,
        "handoff/2024-06-20.csv": 1,
        "purge/2024-06-01_0123456789abcdef_dry_run.csv": 1,
    }
    assert sorted(listed["exports_deleted"].value) == [
        f"purge/2024-06-30_{BATCH}_dry_run.csv",
        f"purge/2024-06-30_{BATCH}_dry_run.parquet",
    ]

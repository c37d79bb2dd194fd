"""The Definitions load, with the expected assets, groups, jobs and schedules."""

from __future__ import annotations

import dagster as dg

from dagster_project.definitions import defs
from dagster_project.lib.schema import SOURCES


def test_definitions_load_and_validate():
    dg.Definitions.validate_loadable(defs)


def test_ingestion_assets_and_groups():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for source in SOURCES:
        assert f"staged/{source}" in keys
        assert f"raw/{source}" in keys
        assert graph.get(dg.AssetKey(["raw", source])).group_name == "ingestion"


def test_daily_job_and_schedule():
    job = defs.resolve_job_def("reveil_daily")
    assert job.executor_def.name == "in_process"
    schedule = defs.resolve_schedule_def("reveil_daily_schedule")
    assert schedule.cron_schedule == "0 6 * * *"
    assert schedule.execution_timezone == "Europe/Paris"

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


def test_rows_pointing_to_other_rows_are_staged_after_them():
    """A landing gate reading staged.<other> (known contacts, known orders; contact_match:
    email) runs after <other> was staged in the same run: every staged.<other> a committed
    landing suite reads is a dependency of its staged asset."""
    import re

    from dagster_project.lib import gates

    graph = defs.resolve_asset_graph()
    for source in SOURCES:
        suite = (gates.suites_dir() / f"landing_{source}.json").read_text()
        read = set(re.findall(r"staged\.([a-z_]+)", suite)) - {source}
        parents = {key.path[-1] for key in graph.get(dg.AssetKey(["staged", source])).parent_keys}
        assert read <= parents, (source, read, parents)
    contacts = dg.AssetKey(["staged", "contacts"])
    assert contacts in graph.get(dg.AssetKey(["staged", "email_events"])).parent_keys

"""The daily job that materialises everything, and its schedule."""

from __future__ import annotations

import os

import dagster as dg

DAILY_JOB_NAME = "reveil_daily"

# Everything except the asset groups that act on people (purge runs are requested by sensors).
daily_selection = dg.AssetSelection.all() - dg.AssetSelection.groups("purge")

reveil_daily = dg.define_asset_job(
    name=DAILY_JOB_NAME,
    selection=daily_selection,
    description=(
        "Ingest the new landing files, gate them, publish raw, build the dbt models and marts, "
        "gate the marts and publish them for BI."
    ),
    executor_def=dg.in_process_executor,
)

reveil_daily_schedule = dg.ScheduleDefinition(
    name="reveil_daily_schedule",
    job=reveil_daily,
    cron_schedule=os.environ.get("REVEIL_SCHEDULE_CRON", "0 6 * * *"),
    execution_timezone=os.environ.get("REVEIL_SCHEDULE_TIMEZONE", "Europe/Paris"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="The whole pipeline every morning (06:00 Europe/Paris unless configured).",
)

defs = dg.Definitions(jobs=[reveil_daily], schedules=[reveil_daily_schedule])

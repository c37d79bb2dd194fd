"""Purge and hand-off: the runs that act on people, requested by sensors.

The rules live in dbt (``dbt/models/marts/purge``): ``purge_candidates`` (sunset_silent,
retention_limit, company_closed), the deliverability guardrails and ``sales_handoff``. This
package adds the checks on those marts, the ``purge_job`` and ``handoff_job`` runs (group
``purge``, left out of the daily job) and the two sensors that request them, one run per batch
(see ``sensors.py`` for the run-key design and how to re-request a failed batch).

``defs`` needs no resource: like the serving package, it opens the warehouse at
``settings.warehouse_path()`` (``REVEIL_WAREHOUSE``), the same file dbt and the ingestion
resource use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

from dagster_project.defs.purge.assets import (
    PURGE_OP,
    complaint_rate_ceiling,
    handoff_batch_gate,
    handoff_job,
    purge_batch,
    purge_batch_gate,
    purge_job,
    sales_handoff_export,
)
from dagster_project.defs.purge.sensors import purge_candidates_sensor, sales_handoff_sensor

defs = dg.Definitions(
    assets=[purge_batch, sales_handoff_export],
    asset_checks=[purge_batch_gate, handoff_batch_gate, complaint_rate_ceiling],
    jobs=[purge_job, handoff_job],
    sensors=[purge_candidates_sensor, sales_handoff_sensor],
)


def run_purge_dry_run(
    instance: dg.DagsterInstance, tags: Mapping[str, str] | None = None
) -> list[str]:
    """Execute ``purge_job`` in-process in DRY-RUN mode for the batch now in
    ``marts.purge_candidates`` (what ``make run`` does after the daily job), with ``tags``
    added to the run's. Returns the lines to print: where the list is, or why there is none.
    Never deletes anything."""
    job = dg.Definitions.merge(defs).resolve_job_def(purge_job.name)
    result = job.execute_in_process(
        instance=instance,
        run_config={
            "ops": {PURGE_OP: {"config": {"dry_run": True}}},
            # the console at the daily run's level (DEBUG by default: a dozen engine lines
            # printed under make run's summary)
            "loggers": {
                "console": {"config": {"log_level": os.environ.get("REVEIL_LOG_LEVEL", "INFO")}}
            },
        },
        tags={**(tags or {}), "reveil/trigger": "cli"},
        raise_on_error=False,
    )
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        reason = ""
        if failures and failures[0].step_failure_data:
            data = failures[0].step_failure_data
            user = data.user_failure_data
            reason = (user.description if user else None) or (
                data.error.message.strip() if data.error else ""
            )
        return [f"purge dry run {result.run_id} FAILED: {reason}"]
    metadata = {
        event.asset_key.to_user_string(): event.step_materialization_data.materialization.metadata
        for event in result.get_asset_materialization_events()
    }
    listed = metadata.get("purge/purge_list", {})
    candidates = listed["candidates"].value if "candidates" in listed else 0
    if not candidates:
        return ["purge dry run: no purge candidates in this batch, nothing listed"]
    by_rule = ", ".join(
        f"{name.removeprefix('candidates_')} {value.value}"
        for name, value in listed.items()
        if name.startswith("candidates_")
    )
    return [
        f"purge dry run of batch {listed['batch_id'].value}: {candidates} candidate(s) "
        f"({by_rule}); nothing was deleted",
        f"  list:  {listed['csv'].value}",
        "  purge for real: REVEIL_PURGE_MODE=execute (and REVEIL_SUPPRESSION_KEY), then "
        "let the sensor or the Launchpad run purge_job",
    ]

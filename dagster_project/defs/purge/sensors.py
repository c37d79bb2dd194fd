"""Sensors that request one purge run (and one hand-off export) per batch.

The sensors only decide; the runs do the work (``purge_job``, ``handoff_job``).

How ``purge_candidates_sensor`` decides, each tick
--------------------------------------------------
1. It looks at the NEWEST materialisation of ``marts/purge_candidates`` after the one in its
   cursor. Older new ones are superseded: the table holds only the newest build.
2. If that materialisation's run has not finished, it waits (cursor unchanged) — the run may
   still be building or publishing, and it holds the DuckDB file.
3. The run must have succeeded, and be *gated*: every blocking asset check defined on the
   asset (whoever defined it) and the ``purge_batch_gate`` check must have a passing
   evaluation in that run. ``purge_batch_gate`` records the batch id (md5 of the as-of date,
   the rule version and, once a real purge executed batches of that day, their number: see
   ``purge_candidates.sql``) and the number of candidates.
4. An empty batch requests nothing. Otherwise it yields ONE ``RunRequest`` of ``purge_job``
   with ``run_key`` = the batch id and config ``batch_id`` (the run refuses to act if the table
   holds another batch by then).
5. The cursor records the materialisation handled and the run keys already requested (the
   last 200). Ticking again, the same day's rebuild (same batch) or a daemon restart never
   requests the batch twice: the cursor skips it, and Dagster itself never launches two runs
   with the same run key for a sensor (the cursor is saved with the tick; if the daemon died
   between launching and saving, the run key still deduplicates). The candidates a rebuild
   finds after a real purge of the day are the next batch (new id, new run key, own list).

Re-requesting a failed batch deliberately
-----------------------------------------
A failed purge run is never requested again by the sensor (same run key). Either:

* re-execute the failed run from the UI (Runs → the run → Re-execute): same config, same
  batch; or launch ``purge_job`` from the Launchpad / CLI with the batch id::

      dagster job launch -m dagster_project.definitions -j purge_job \\
          --config-json '{"ops": {"purge_batch": {"config": {"batch_id": "<batch>"}}}}'

  (``"dry_run": false`` in the same config forces a real purge whatever REVEIL_PURGE_MODE);
* or re-materialise ``marts/purge_candidates`` with the run tag
  ``reveil/force_rerun=<anything new>``: the sensor then uses the run key
  ``<batch>:<tag value>``, which has not been used yet, and requests the batch again.

``sales_handoff_sensor`` does the same for ``marts/sales_handoff`` (check
``handoff_batch_gate``, job ``handoff_job``, run key = hand-off batch id).
Both sensors are RUNNING by default, so the daemon of ``make dev`` evaluates them every
``REVEIL_SENSOR_INTERVAL_SECONDS`` (default 30).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import dagster as dg

from dagster_project.defs.purge.assets import (
    HANDOFF_BATCH_CHECK,
    HANDOFF_OP,
    PURGE_BATCH_CHECK,
    PURGE_CANDIDATES_KEY,
    PURGE_OP,
    SALES_HANDOFF_KEY,
    handoff_job,
    purge_job,
)

INTERVAL_ENV = "REVEIL_SENSOR_INTERVAL_SECONDS"
FORCE_RERUN_TAG = "reveil/force_rerun"
BATCH_TAG = "reveil/batch_id"
SOURCE_RUN_TAG = "reveil/source_run_id"
KEPT_RUN_KEYS = 200

_UNFINISHED = {
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
    dg.DagsterRunStatus.MANAGED,
}


def sensor_interval_seconds() -> int:
    return int(os.environ.get(INTERVAL_ENV, "30"))


@dataclass
class BatchCursor:
    """Sensor state: the last materialisation handled and the run keys requested."""

    storage_id: int | None = None
    run_keys: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | None) -> BatchCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(data.get("storage_id"), list(data.get("run_keys", [])))

    def dump(self) -> str:
        return json.dumps(
            {"storage_id": self.storage_id, "run_keys": self.run_keys[-KEPT_RUN_KEYS:]},
            sort_keys=True,
        )


def _check_evaluations(instance: dg.DagsterInstance, run_id: str) -> dict:
    """The last evaluation of each asset check in a run."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    evaluations = {}
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        evaluations[evaluation.asset_check_key] = evaluation
    return evaluations


def _blocking_checks(context: dg.SensorEvaluationContext, asset_key: dg.AssetKey) -> set:
    repository = context.repository_def
    if repository is None:
        return set()
    graph = repository.asset_graph
    return {
        key
        for key in graph.get_check_keys_for_assets({asset_key})
        if graph.get_check_spec(key).blocking
    }


def _metadata_value(evaluation, name: str, default=None):
    value = evaluation.metadata.get(name)
    return default if value is None else value.value


def evaluate_batch_sensor(
    context: dg.SensorEvaluationContext,
    *,
    asset_key: dg.AssetKey,
    batch_check_name: str,
    job_name: str,
    op_name: str,
) -> dg.SensorResult:
    """One tick of a batch sensor (see the module docstring)."""
    cursor = BatchCursor.parse(context.cursor)
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, after_storage_id=cursor.storage_id),
        limit=1,
        ascending=False,
    ).records
    if not records:
        return dg.SensorResult(
            skip_reason=f"no new materialisation of {asset_key.to_user_string()}"
        )
    record = records[0]
    run = context.instance.get_run_by_id(record.run_id)
    if run is not None and run.status in _UNFINISHED:
        return dg.SensorResult(skip_reason=f"waiting for run {record.run_id} to finish")

    def skip(reason: str) -> dg.SensorResult:
        return dg.SensorResult(skip_reason=reason, cursor=cursor.dump())

    cursor.storage_id = record.storage_id
    if run is None or run.status != dg.DagsterRunStatus.SUCCESS:
        status = run.status.value if run else "unknown"
        return skip(f"run {record.run_id} did not succeed ({status}): nothing requested")
    evaluations = _check_evaluations(context.instance, run.run_id)
    batch_check = dg.AssetCheckKey(asset_key, batch_check_name)
    required = _blocking_checks(context, asset_key) | {batch_check}
    not_passed = sorted(
        key.to_user_string()
        for key in required
        if key not in evaluations or not evaluations[key].passed
    )
    if not_passed:
        return skip(f"run {run.run_id} is not gated: {', '.join(not_passed)} did not pass")
    gate = evaluations[batch_check]
    batch_id = _metadata_value(gate, "batch_id", "")
    rows = _metadata_value(gate, "candidates", 0)
    if not batch_id or not rows:
        return skip(f"run {run.run_id}: empty batch, nothing to request")
    force = run.tags.get(FORCE_RERUN_TAG)
    run_key = f"{batch_id}:{force}" if force else batch_id
    if run_key in cursor.run_keys:
        return skip(f"batch {run_key} already requested")
    cursor.run_keys.append(run_key)
    context.log.info(f"requesting {job_name} for batch {run_key} ({rows} rows)")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=run_key,
                job_name=job_name,
                run_config={"ops": {op_name: {"config": {"batch_id": batch_id}}}},
                tags={BATCH_TAG: batch_id, SOURCE_RUN_TAG: run.run_id},
            )
        ],
        cursor=cursor.dump(),
    )


@dg.sensor(
    name="purge_candidates_sensor",
    job=purge_job,
    minimum_interval_seconds=sensor_interval_seconds(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "One purge_job run per batch of marts/purge_candidates, once the run that built it "
        "succeeded and its gates passed (run key = batch id)."
    ),
)
def purge_candidates_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    return evaluate_batch_sensor(
        context,
        asset_key=PURGE_CANDIDATES_KEY,
        batch_check_name=PURGE_BATCH_CHECK,
        job_name=purge_job.name,
        op_name=PURGE_OP,
    )


@dg.sensor(
    name="sales_handoff_sensor",
    job=handoff_job,
    minimum_interval_seconds=sensor_interval_seconds(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "One handoff_job run per batch of marts/sales_handoff (run key = hand-off batch id), "
        "once the run that built it succeeded and its gates passed."
    ),
)
def sales_handoff_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    return evaluate_batch_sensor(
        context,
        asset_key=SALES_HANDOFF_KEY,
        batch_check_name=HANDOFF_BATCH_CHECK,
        job_name=handoff_job.name,
        op_name=HANDOFF_OP,
    )

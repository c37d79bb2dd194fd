"""The purge run, the sales hand-off export and the guardrail checks.

Assets of group ``purge`` (left out of the daily job; runs are requested by the sensors):

* ``purge_batch`` (one step, four assets): the purge list (``purge/purge_list``: CSV for the
  ESP + Parquet under ``<exports>/purge/``; a real purge also removes its people from every
  earlier export), the suppression list (``suppression/email_hashes``),
  the archive (``archive/purged_contacts``) and the audit (``audit/purge_batches``), written by
  :func:`dagster_project.lib.purge.run_purge` — in a real purge, with the erasure of the people
  from every table, all in one DuckDB transaction, then a byte-clean rewrite of the file.
  ``dry_run`` (run config) defaults to ``REVEIL_PURGE_MODE``: a dry run unless ``execute``.
* ``handoff/sales_handoff_export``: ``marts.sales_handoff`` as ``<exports>/handoff/<date>.csv``.

Checks on the dbt marts (they run in the daily job, right after dbt):

* ``purge_batch_gate`` on ``marts/purge_candidates``: one batch in the table, and candidates
  at most ``REVEIL_PURGE_MAX_SHARE`` (default 0.5) of the contact base — a guard against a
  broken input (say, the events export missing) making everybody look silent. Its metadata
  carries the batch id the purge sensor uses as run key; the sensor requests nothing unless it
  passed. Not blocking: a tripped guard stops the purge, not the marts and their publication.
* ``handoff_batch_gate`` on ``marts/sales_handoff``: one batch; its id for the hand-off sensor.
* ``complaint_rate_ceiling`` on ``marts/rpt_campaign_complaint_rates`` (non-blocking): fails
  with severity WARN when a campaign of the lookback period reached the warning rate (0.1 %),
  ERROR at the bulk-sender ceiling (0.3 %). It never stops a run: it tells someone to look.
"""

import os

import dagster as dg
from dagster_dbt import get_asset_key_for_model
from pydantic import Field

from dagster_project import settings
from dagster_project.defs.dbt import reveil_dbt_models
from dagster_project.lib import privacy, purge

GROUP = "purge"
OWNERS = ["team:analytics-engineering"]
# Every step that opens the warehouse queues in the same pool (STACK.md trap 3).
POOL = "duckdb_writer"
# How long a step waits for another process (a run of another job) to release the DuckDB
# file before failing: a purge or a rewrite of a large warehouse takes minutes.
LOCK_WAIT_SECONDS = 600
MAX_SHARE_ENV = "REVEIL_PURGE_MAX_SHARE"
DEFAULT_MAX_SHARE = 0.5

# The dbt models this package acts on, keyed as the dbt package's translator keys them
# (one place: the manifest + translator of dagster_project.defs.dbt).
PURGE_CANDIDATES_KEY = get_asset_key_for_model([reveil_dbt_models], "purge_candidates")
SALES_HANDOFF_KEY = get_asset_key_for_model([reveil_dbt_models], "sales_handoff")
COMPLAINT_RATES_KEY = get_asset_key_for_model([reveil_dbt_models], "rpt_campaign_complaint_rates")

PURGE_LIST_KEY = dg.AssetKey(["purge", "purge_list"])
SUPPRESSION_LIST_KEY = dg.AssetKey(["suppression", "email_hashes"])
ARCHIVE_KEY = dg.AssetKey(["archive", "purged_contacts"])
AUDIT_KEY = dg.AssetKey(["audit", "purge_batches"])
HANDOFF_EXPORT_KEY = dg.AssetKey(["handoff", "sales_handoff_export"])

PURGE_OP = "purge_batch"
HANDOFF_OP = "handoff__sales_handoff_export"  # op name Dagster derives from the key
PURGE_BATCH_CHECK = "purge_batch_gate"
HANDOFF_BATCH_CHECK = "handoff_batch_gate"
COMPLAINT_CHECK = "complaint_rate_ceiling"


def _warehouse():
    """A connection to the warehouse, waiting (bounded) while another run holds its lock."""
    return purge.open_with_retry(
        lambda: purge.connect(settings.warehouse_path(), config=settings.duckdb_config()),
        timeout_s=LOCK_WAIT_SECONDS,
    )


def _warehouse_read_only():
    return purge.open_with_retry(
        lambda: purge.connect(settings.warehouse_path(), read_only=True),
        timeout_s=LOCK_WAIT_SECONDS,
    )


def max_candidate_share() -> float:
    return float(os.environ.get(MAX_SHARE_ENV, DEFAULT_MAX_SHARE))


# --- the purge run ----------------------------------------------------------------------------


class PurgeConfig(dg.Config):
    """Run config of ``purge_job`` (op ``purge_batch``)."""

    dry_run: bool | None = Field(
        default=None,
        description=(
            "True: write the list and the audit preview, delete nothing. False: purge. "
            "Null: REVEIL_PURGE_MODE of the run's environment (a dry run unless 'execute')."
        ),
    )
    batch_id: str | None = Field(
        default=None,
        description=(
            "Batch expected in marts.purge_candidates (the sensor sets it); the run fails if "
            "the table holds another one. Null: whatever batch the table holds."
        ),
    )


@dg.multi_asset(
    name=PURGE_OP,
    specs=[
        dg.AssetSpec(
            PURGE_LIST_KEY,
            deps=[PURGE_CANDIDATES_KEY],
            group_name=GROUP,
            owners=OWNERS,
            kinds={"duckdb", "csv", "parquet"},
            description=(
                "Purge list of the batch for the ESP's suppression import: "
                "`<exports>/purge/<as_of_date>_<batch>.csv` (email,reason) and `.parquet` "
                "(with the evidence); `_dry_run` files in a dry run. A real purge first removes "
                "its people from every earlier file under `<exports>` (dry-run, audience and "
                "hand-off lists; a dry-run list left empty is deleted)."
            ),
        ),
        dg.AssetSpec(
            SUPPRESSION_LIST_KEY,
            deps=[PURGE_LIST_KEY],
            group_name=GROUP,
            owners=OWNERS,
            kinds={"duckdb"},
            skippable=True,
            description=(
                "`suppression.email_hashes`: HMAC-SHA256(REVEIL_SUPPRESSION_KEY, "
                "lower(trim(email))) of every purged address; ingestion drops re-imported "
                "contacts that match. Written by real purges only."
            ),
        ),
        dg.AssetSpec(
            ARCHIVE_KEY,
            deps=[PURGE_LIST_KEY],
            group_name=GROUP,
            owners=OWNERS,
            kinds={"duckdb"},
            skippable=True,
            description=(
                "`archive.purged_contacts`: pseudonym, rule, touch and contact dates, batch of "
                "every purged contact; no email, no name. Written by real purges only."
            ),
        ),
        dg.AssetSpec(
            AUDIT_KEY,
            deps=[PURGE_LIST_KEY],
            group_name=GROUP,
            owners=OWNERS,
            kinds={"duckdb"},
            description=(
                "`audit.purge_batches`: one row per purge run (batch, run id, rule version, "
                "counts per rule and per table, dry-run flag, times); no personal data."
            ),
        ),
    ],
    can_subset=False,
    pool=POOL,
)
def purge_batch(context: dg.AssetExecutionContext, config: PurgeConfig):
    """Purge the batch of ``marts.purge_candidates`` (or preview it in a dry run)."""
    dry_run = purge.dry_run_from_env() if config.dry_run is None else config.dry_run
    try:
        key = privacy.suppression_key(allow_dev_key=dry_run)
    except privacy.SuppressionKeyError as exc:
        raise dg.Failure(description=str(exc)) from exc
    with _warehouse() as con:
        try:
            result = purge.run_purge(
                con,
                exports_dir=settings.exports_dir(),
                run_id=context.run.run_id,
                dry_run=dry_run,
                batch_id=config.batch_id,
                key=key,
            )
        except purge.PurgeError as exc:
            raise dg.Failure(description=str(exc)) from exc
    mode = "dry run" if dry_run else "purge"
    context.log.info(
        f"{mode} of batch {result.batch_id}: {result.candidates} candidate(s) "
        f"{result.by_rule}, {result.rows_erased} row(s) "
        f"{'would be' if dry_run else 'were'} erased or pseudonymised"
    )
    common = {
        "batch_id": result.batch_id or "",
        "as_of_date": result.as_of_date.isoformat() if result.as_of_date else "",
        "rule_version": result.rule_version or "",
        "dry_run": dry_run,
        "candidates": result.candidates,
    }
    yield dg.MaterializeResult(
        asset_key=PURGE_LIST_KEY,
        metadata={
            **common,
            **{f"candidates_{rule}": n for rule, n in result.by_rule.items()},
            "csv": dg.MetadataValue.path(str(result.csv_path or "")),
            "parquet": dg.MetadataValue.path(str(result.parquet_path or "")),
            "dagster/row_count": result.candidates,
            "dev_key": result.uses_dev_key,
            **(
                {}
                if dry_run
                else {
                    "exports_rewritten": dg.MetadataValue.json(result.exports_rewritten),
                    "exports_deleted": dg.MetadataValue.json(result.exports_deleted),
                }
            ),
        },
    )
    if not dry_run:
        yield dg.MaterializeResult(
            asset_key=SUPPRESSION_LIST_KEY,
            metadata={**common, "hashes_added": result.suppression_added},
        )
        yield dg.MaterializeResult(
            asset_key=ARCHIVE_KEY, metadata={**common, "contacts_archived": result.archived}
        )
    yield dg.MaterializeResult(
        asset_key=AUDIT_KEY,
        metadata={
            **common,
            "rows_per_table": dg.MetadataValue.json(result.table_counts),
            "rows_erased": result.rows_erased,
        },
    )
    if not dry_run and result.candidates:
        # the transaction committed and the connection is closed: rewrite the file so the
        # deleted rows' bytes are gone, and republish the serving copy (STACK.md trap 4)
        try:
            outcome = purge.erase_deleted_bytes(
                settings.warehouse_path(),
                settings.serving_dir(),
                run_id=context.run.run_id,
                config=settings.duckdb_config(),
            )
        except Exception as exc:
            raise dg.Failure(
                description=(
                    f"Batch {result.batch_id} was purged and committed, but the warehouse file "
                    f"could not be rewritten ({type(exc).__name__}: {exc}): the deleted rows' "
                    "bytes are still in it. Re-run `serving.rewrite_database` on the warehouse "
                    "(and republish serving) once nothing else holds the file."
                )
            ) from exc
        context.log.info(f"byte-clean rewrite after the purge: {outcome}")


# --- the sales hand-off -------------------------------------------------------------------------


class HandoffConfig(dg.Config):
    """Run config of ``handoff_job`` (op ``sales_handoff_export``)."""

    batch_id: str | None = Field(
        default=None,
        description="Hand-off batch expected in marts.sales_handoff (null: the current one).",
    )


@dg.asset(
    key=HANDOFF_EXPORT_KEY,
    deps=[SALES_HANDOFF_KEY],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"csv"},
    pool=POOL,
    description="`marts.sales_handoff` for the sales team: `<exports>/handoff/<as_of_date>.csv`.",
)
def sales_handoff_export(
    context: dg.AssetExecutionContext, config: HandoffConfig
) -> dg.MaterializeResult:
    with _warehouse_read_only() as con:
        try:
            export = purge.export_handoff(con, settings.exports_dir(), batch_id=config.batch_id)
        except purge.PurgeError as exc:
            raise dg.Failure(description=str(exc)) from exc
    context.log.info(f"hand-off batch {export.batch_id}: {export.rows} contact(s)")
    return dg.MaterializeResult(
        metadata={
            "batch_id": export.batch_id or "",
            "as_of_date": export.as_of_date.isoformat() if export.as_of_date else "",
            "path": dg.MetadataValue.path(str(export.path or "")),
            "dagster/row_count": export.rows,
        }
    )


# --- checks on the dbt marts --------------------------------------------------------------------


@dg.asset_check(
    asset=PURGE_CANDIDATES_KEY,
    name=PURGE_BATCH_CHECK,
    blocking=False,
    description=(
        "One batch in purge_candidates, and at most REVEIL_PURGE_MAX_SHARE (default 0.5) of the "
        "contacts in it. Records the batch id the purge sensor requests a run for; the sensor "
        "requests nothing unless this check passed."
    ),
)
def purge_batch_gate() -> dg.AssetCheckResult:
    with _warehouse_read_only() as con:
        batches = purge.candidate_batches(con)
        by_rule = purge.counts_by_rule(con)
        contacts = con.execute("select count(*) from raw.contacts").fetchone()[0]
    candidates = sum(b.candidates for b in batches)
    share = candidates / contacts if contacts else 0.0
    ceiling = max_candidate_share()
    problems = []
    if len(batches) > 1:
        problems.append(f"{len(batches)} batches in the table (expected one)")
    if share > ceiling:
        problems.append(
            f"{candidates} candidates are {share:.1%} of {contacts} contacts, above "
            f"{MAX_SHARE_ENV}={ceiling:.0%}: check the inputs (a missing events or orders "
            "export makes everybody look silent) before raising it"
        )
    batch = batches[0] if len(batches) == 1 else None
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems) or f"batch {batch.batch_id if batch else '(empty)'}",
        metadata={
            "batch_id": batch.batch_id if batch else "",
            "as_of_date": batch.as_of_date.isoformat() if batch else "",
            "rule_version": batch.rule_version if batch else "",
            "candidates": candidates,
            **{f"candidates_{rule}": n for rule, n in by_rule.items()},
            "contacts": contacts,
            "candidate_share": round(share, 6),
            "max_share": ceiling,
        },
    )


@dg.asset_check(
    asset=SALES_HANDOFF_KEY,
    name=HANDOFF_BATCH_CHECK,
    blocking=False,
    description="One batch in sales_handoff; records its id for the hand-off sensor.",
)
def handoff_batch_gate() -> dg.AssetCheckResult:
    with _warehouse_read_only() as con:
        batches = con.execute(
            f"select handoff_batch_id, as_of_date, count(*) from {purge.HANDOFF_TABLE} group by all"
        ).fetchall()
    batch_id, as_of, rows = batches[0] if len(batches) == 1 else ("", None, 0)
    return dg.AssetCheckResult(
        passed=len(batches) <= 1,
        metadata={
            "batch_id": batch_id,
            "as_of_date": as_of.isoformat() if as_of else "",
            "candidates": sum(r[2] for r in batches),
            "batches": len(batches),
        },
    )


@dg.asset_check(
    asset=COMPLAINT_RATES_KEY,
    name=COMPLAINT_CHECK,
    blocking=False,
    description=(
        "Spam complaint rate of the campaigns of the lookback period (dbt var "
        "complaint_rate_lookback_days) under the bulk-sender ceiling: WARN from 0.1 %, ERROR "
        "from 0.3 % (vars complaint_rate_warn / _alert). Never blocks a run."
    ),
)
def complaint_rate_ceiling() -> dg.AssetCheckResult:
    with _warehouse_read_only() as con:
        rows = con.execute(
            """select campaign_id, campaign_name, complaint_status, complaint_rate,
                complaint_count, complaint_base_count
            from marts.rpt_campaign_complaint_rates
            where is_in_lookback
            order by complaint_rate desc nulls last, campaign_id"""
        ).fetchall()
    alerts = [r for r in rows if r[2] == "alert"]
    warnings = [r for r in rows if r[2] == "warn"]
    flagged = alerts + warnings
    table = "\n".join(
        ["| campaign | name | status | complaints | base | rate |", "|---|---|---|---|---|---|"]
        + [f"| {r[0]} | {r[1]} | {r[2]} | {r[4]} | {r[5]} | {r[3]:.3%} |" for r in flagged[:20]]
    )
    return dg.AssetCheckResult(
        passed=not flagged,
        severity=dg.AssetCheckSeverity.ERROR if alerts else dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(alerts)} campaign(s) at or above the alert rate, {len(warnings)} at or above "
            f"the warning rate, of {len(rows)} in the lookback period"
        ),
        metadata={
            "campaigns_checked": len(rows),
            "alert_campaigns": len(alerts),
            "warn_campaigns": len(warnings),
            "worst_rate": float(rows[0][3]) if rows and rows[0][3] is not None else 0.0,
            "flagged": dg.MetadataValue.md(table if flagged else "none"),
        },
    )


purge_job = dg.define_asset_job(
    name="purge_job",
    selection=dg.AssetSelection.assets(
        PURGE_LIST_KEY, SUPPRESSION_LIST_KEY, ARCHIVE_KEY, AUDIT_KEY
    ),
    executor_def=dg.in_process_executor,
    description=(
        "Purge one batch of marts.purge_candidates: list, suppression hashes, archive, audit "
        "and erasure in one transaction (dry run unless REVEIL_PURGE_MODE=execute or "
        "dry_run: false). Requested by the sensor purge_candidates_sensor, one run per batch."
    ),
)

handoff_job = dg.define_asset_job(
    name="handoff_job",
    selection=dg.AssetSelection.assets(HANDOFF_EXPORT_KEY),
    executor_def=dg.in_process_executor,
    description="Export the day's sales hand-off list (requested by sales_handoff_sensor).",
)

"""Audiences: who to wake today, checked against the suppression list, exported per channel.

The rules are dbt models (``dbt/models/intermediate/audiences``, ``dbt/models/marts/audiences``:
eligibility, channel, offer, sequence step, A/B variant, hold-out, budget, lift). This package
adds the two steps dbt cannot do (``dagster_project.lib.audiences``), both in group
``audiences``, so the daily job (everything but group ``purge``) runs them:

* ``audiences/suppressed_contacts`` — before dbt: the contacts of ``raw.contacts`` whose email
  is on the keyed suppression list ``suppression.email_hashes`` (it needs
  ``REVEIL_SUPPRESSION_KEY`` once the list holds anything), as ids in
  ``audiences.suppressed_contacts``. It is the dbt source ``audiences.suppressed_contacts``,
  so ``marts/dim_contact_audience_eligibility`` (and the whole dbt step) waits for it.
* ``audiences/exports`` — after ``marts/audience_reactivation_today`` (so only once its checks,
  blocking, have passed): the treated contacts as ``<exports>/audiences/<date>/<channel>.csv``
  (email.csv, sms.csv, push.csv), replaced atomically on a re-run of the same day.

Like the purge and serving packages, ``defs`` needs no resource: the assets open the warehouse
at ``settings.warehouse_path()`` (``REVEIL_WAREHOUSE``), the file dbt writes.
"""

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from dagster_project import settings
from dagster_project.defs.dbt import reveil_dbt_models
from dagster_project.lib import audiences, privacy, warehouse_lock
from dagster_project.lib.purge import open_with_retry

GROUP = "audiences"
OWNERS = ["team:analytics-engineering"]
# Every step that opens the warehouse queues in the same pool (STACK.md trap 3).
POOL = "duckdb_writer"
# How long a step waits for another process to release the DuckDB file before failing.
LOCK_WAIT_SECONDS = 600

AUDIENCE_KEY = get_asset_key_for_model([reveil_dbt_models], "audience_reactivation_today")
# the exports join the contact details (first name, email, phone) from the staging view
CONTACTS_KEY = get_asset_key_for_model([reveil_dbt_models], "stg_raw__contacts")
RAW_CONTACTS_KEY = dg.AssetKey(["raw", "contacts"])
SUPPRESSION_LIST_KEY = dg.AssetKey(["suppression", "email_hashes"])
SUPPRESSED_CONTACTS_KEY = dg.AssetKey(["audiences", "suppressed_contacts"])
EXPORTS_KEY = dg.AssetKey(["audiences", "exports"])


@dg.asset(
    key=SUPPRESSED_CONTACTS_KEY,
    deps=[RAW_CONTACTS_KEY, SUPPRESSION_LIST_KEY],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"duckdb"},
    pool=POOL,
    description=(
        "`audiences.suppressed_contacts`: ids of the contacts whose normalised email is on "
        "the suppression list (HMAC with REVEIL_SUPPRESSION_KEY); the audience leaves them "
        "out. Empty while the list is."
    ),
)
def suppressed_contacts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    with open_with_retry(
        lambda: warehouse_lock.connect(settings.warehouse_path(), config=settings.duckdb_config()),
        timeout_s=LOCK_WAIT_SECONDS,
    ) as con:
        try:
            matched = audiences.match_suppressed_contacts(con)
        except privacy.SuppressionKeyError as exc:
            raise dg.Failure(description=str(exc)) from exc
    if matched:
        context.log.warning(
            f"{matched} contact(s) of raw.contacts are on the suppression list: they stay out "
            "of every audience (ingestion should have dropped them: check the loads)"
        )
    return dg.MaterializeResult(metadata={"dagster/row_count": matched})


@dg.asset(
    key=EXPORTS_KEY,
    deps=[AUDIENCE_KEY, CONTACTS_KEY],
    group_name=GROUP,
    owners=OWNERS,
    kinds={"csv"},
    pool=POOL,
    description=(
        "Today's audience for the sending tools, hold-outs left out: "
        "`<exports>/audiences/<audience_date>/{email,sms,push}.csv` (address, contact_id, "
        "first name, personalisation, offer, step, variant), replaced atomically on a re-run."
    ),
)
def audience_exports(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    with open_with_retry(
        lambda: warehouse_lock.connect(settings.warehouse_path(), read_only=True),
        timeout_s=LOCK_WAIT_SECONDS,
    ) as con:
        try:
            result = audiences.write_exports(con, settings.exports_dir())
        except audiences.AudienceExportError as exc:
            raise dg.Failure(description=str(exc)) from exc
    if result.audience_date is None:
        context.log.info("no audience date in the marts: nothing exported")
    else:
        context.log.info(
            f"audience of {result.audience_date}: "
            + ", ".join(f"{channel} {rows}" for channel, rows in result.rows.items())
            + f" contact(s) exported to {result.folder}, {result.holdouts} held out"
        )
    return dg.MaterializeResult(
        metadata={
            "audience_date": result.audience_date.isoformat() if result.audience_date else "",
            "folder": dg.MetadataValue.path(str(result.folder or "")),
            **{f"rows_{channel}": rows for channel, rows in result.rows.items()},
            "holdouts": result.holdouts,
            "dagster/row_count": result.total_rows,
        }
    )


defs = dg.Definitions(assets=[suppressed_contacts, audience_exports])

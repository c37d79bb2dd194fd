"""Report: the HTML report of a successful run (``dagster_project.lib.report``).

``report/html_report`` runs after ``serving/marts``, so only once the mart gates passed and
the marts were published; a failed gate stops the run before it and the last report stays
as it was. It reads the **published serving database** read-only — exactly what BI tools
see, tied to one publication version, and a file nobody ever locks — and, for the purge log
and the suppression list (not published), attaches the warehouse read-only when it can. It
writes ``<reports_dir>/reveil_report_<as_of_date>.html`` (a run of the same day replaces it)
and ``latest.html``; both open offline (plotly.js inline).
"""

from typing import Any

import dagster as dg

from dagster_project import settings
from dagster_project.defs.serving import SERVING_KEY
from dagster_project.lib import report, serving

REPORT_KEY = dg.AssetKey(["report", "html_report"])
GROUP = "serving"
OWNERS = ["team:analytics-engineering"]
# Attaching the warehouse read-only blocks writers of other processes: queue with them.
POOL = "duckdb_writer"


@dg.asset(
    key=REPORT_KEY,
    deps=[SERVING_KEY],
    group_name=GROUP,
    kinds={"html", "plotly"},
    owners=OWNERS,
    pool=POOL,
    description=(
        "A self-contained HTML report of the run (plotly.js inline, opens offline): headline "
        "numbers, inactive share and revenue at stake over time, the RFM grid, the backtest, "
        "the reactivation funnel, KPIs by segment and channel, A/B tests with their intervals, "
        "purge and suppression counts. Built from the published serving database, aggregates "
        "only. `<reports_dir>/reveil_report_<as_of_date>.html` and `latest.html`."
    ),
)
def html_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    serving_path = serving.current_path(settings.serving_dir())
    if not serving_path.exists():
        raise dg.Failure(
            description=f"no published serving database at {serving_path}: nothing to report"
        )
    warehouse = settings.warehouse_path()
    con, notes = report.open_sources(serving_path, warehouse if warehouse.exists() else None)
    for note in notes:
        context.log.warning(f"report without the purge log: {note}")
    try:
        result = report.build_report(
            con,
            settings.reports_dir(),
            source_label="the published serving database"
            + ("" if notes or not warehouse.exists() else " and the warehouse's purge log"),
        )
    finally:
        con.close()
    context.log.info(
        f"report of {result.as_of_date}: {len(result.sections)} sections, {result.charts} "
        f"charts, {result.size_bytes:,} bytes -> {result.path}"
    )
    marts_missing = [name for name in result.missing if name.startswith("marts.")]
    if marts_missing:
        context.log.warning(f"marts missing from the report: {', '.join(marts_missing)}")
    if len(marts_missing) < len(result.missing):  # the purge log: none before a first purge
        others = [name for name in result.missing if name not in marts_missing]
        context.log.info(f"not in the report (not found): {', '.join(others)}")
    metadata: dict[str, Any] = {
        "path": dg.MetadataValue.path(str(result.path)),
        "url": dg.MetadataValue.url(result.path.as_uri()),
        "latest": dg.MetadataValue.path(str(result.latest_path)),
        "as_of_date": str(result.as_of_date) if result.as_of_date else "",
        "sections": dg.MetadataValue.json(list(result.sections)),
        "charts": result.charts,
        "missing_tables": dg.MetadataValue.json(list(result.missing)),
        "size_bytes": result.size_bytes,
    }
    if result.headline.get("inactive_share") is not None:
        metadata["inactive_share"] = dg.MetadataValue.float(
            round(result.headline["inactive_share"], 4)
        )
    if result.headline.get("revenue_at_stake") is not None:
        metadata["revenue_at_stake_eur"] = dg.MetadataValue.float(
            round(result.headline["revenue_at_stake"], 2)
        )
    return dg.MaterializeResult(metadata=metadata)


def report_lines(result: dg.ExecuteInProcessResult) -> list[str]:
    """What ``make run`` prints about the report of a finished run ([] if none was written)."""
    for event in result.get_asset_materialization_events():
        if event.asset_key == REPORT_KEY:
            metadata = event.step_materialization_data.materialization.metadata
            return [
                f"report:    {metadata['path'].value}",
                f"           (newest always at {metadata['latest'].value})",
            ]
    return []


defs = dg.Definitions(assets=[html_report])

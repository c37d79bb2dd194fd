"""Ingestion: landing files → ``staged.<source>`` (one asset per source) → ``raw`` (one step).

Write–audit–publish. Each ``staged/<source>`` asset loads the new landing files of its source
through the source's YAML mapping (late events and orders of purged contacts left out or put
under their pseudonym, as publish takes them); the quality gates (blocking asset checks)
validate the staged rows; ``publish_raw`` then merges every source into ``raw`` in a single
transaction. A bad file or a failed gate therefore leaves ``raw`` — and everything built from
it — exactly as it was. The ``raw/<source>`` keys are what dbt's ``source('raw', ...)`` map to.
"""

import time

import dagster as dg

from dagster_project import settings
from dagster_project.defs.resources import WarehouseResource, warehouse
from dagster_project.lib import ingest, privacy
from dagster_project.lib.mappings import MappingError, load_mappings
from dagster_project.lib.schema import SOURCES

GROUP = "ingestion"
OWNERS = ["team:analytics-engineering"]
POOL = "duckdb_writer"


# Rows pointing to rows of another source are staged after that source: their gate's rule
# "points to known contacts / orders" reads staged.<other> (the same delivery's rows), and so
# does `contact_match: email`. Without it, a gate could run before the other source was staged
# in the same run and count the rows pointing to it as orphans.
STAGED_AFTER = {
    "email_events": ("contacts",),
    "orders": ("contacts",),
    "order_lines": ("orders",),
}


def staged_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["staged", source])


def raw_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", source])


def _staged_asset(source_name: str) -> dg.AssetsDefinition:
    source = SOURCES[source_name]

    @dg.asset(
        key=staged_key(source_name),
        deps=[staged_key(name) for name in STAGED_AFTER.get(source_name, ())],
        group_name=GROUP,
        kinds={"duckdb", "csv", "parquet"},
        owners=OWNERS,
        pool=POOL,
        description=(
            f"New landing files of `{source_name}` read through its mapping into "
            f"`staged.{source_name}`, waiting for the quality gate. {source.description}"
        ),
    )
    def staged(
        context: dg.AssetExecutionContext, duckdb: WarehouseResource
    ) -> dg.MaterializeResult:
        landing = settings.landing_dir()
        try:
            mappings = load_mappings(source_name, settings.mappings_dir())
        except MappingError as exc:
            raise dg.Failure(description=str(exc)) from exc
        folders = ", ".join(str(landing / m.folder) for m in mappings)
        with duckdb.get_connection() as con:
            try:
                result = ingest.stage_source(con, mappings, landing)
            except ingest.LandingFileError as exc:
                raise dg.Failure(
                    description=f"Bad landing file for {source_name}: {exc}",
                    metadata={"file": exc.file, "column": exc.column or "", "line": exc.line or 0},
                ) from exc
            # late rows of purged contacts, as publish will take them: the gate validates those
            try:
                purged_rows = privacy.withhold_purged_rows(con, source_name)
            except privacy.SuppressionKeyError as exc:
                raise dg.Failure(description=str(exc)) from exc
        if result.excluded_rows:
            context.log.info(
                f"{source_name}: {result.excluded_rows} row(s) left out by the mapping's "
                "exclude_rows"
            )
        if result.unmatched_rows:
            context.log.warning(
                f"{source_name}: {result.unmatched_rows} row(s) left out: their email "
                "(contact_match: email, in the column mapped to contact_id) is "
                "no contact's (addresses the CRM does not hold, or people purged)"
            )
        if purged_rows:
            done = (
                "left out (never published)"
                if privacy.PURGED_ROWS[source_name] == "drop"
                else "kept under the contact's pseudonym"
            )
            context.log.info(f"{source_name}: {purged_rows} row(s) of purged contacts {done}")
        if result.never_delivered:
            context.log.info(
                f"{source_name}: no file delivered yet in {folders}; an "
                "optional source, so it stays empty (the marts leave out what it feeds)"
            )
        if result.not_exports:
            context.log.info(
                f"{source_name}: skipped {len(result.not_exports)} file(s) that are not exports "
                f"(temporary, lock, system or README files): {', '.join(result.not_exports)}"
            )
        context.log.info(
            f"{source_name}: {len(result.files)} new file(s), {result.rows} row(s) staged, "
            f"{result.skipped_files} file(s) already loaded"
        )
        return dg.MaterializeResult(
            metadata={
                "files_read": [f.path for f in result.files],
                "files_skipped_already_loaded": result.skipped_files,
                "files_skipped_not_exports": result.not_exports,
                "rows": result.rows,
                "rows_of_purged_contacts": purged_rows,
                "rows_matching_no_contact": result.unmatched_rows,
                "rows_excluded_by_mapping": result.excluded_rows,
                "bytes": result.bytes,
                "mapping": ", ".join(
                    str(m.path) if m.path else "identity (canonical names)" for m in mappings
                ),
                "landing_folder": folders,
                "dagster/row_count": result.rows,
            }
        )

    return staged


staged_assets = [_staged_asset(name) for name in SOURCES]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            raw_key(name),
            deps=[staged_key(name)],
            group_name=GROUP,
            kinds={"duckdb"},
            owners=OWNERS,
            description=f"`raw.{name}`: {SOURCES[name].description}",
        )
        for name in SOURCES
    ]
    + [
        dg.AssetSpec(
            raw_key(source.superseded_table),
            deps=[staged_key(name)],
            group_name=GROUP,
            kinds={"duckdb"},
            owners=OWNERS,
            description=(
                f"`raw.{source.superseded_table}`: old {', '.join(source.superseded_columns)} "
                f"of `{name}` rows a re-delivery replaced with other values (so the "
                "incremental dbt models recompute what a row moved away from)."
            ),
        )
        for name, source in SOURCES.items()
        if source.superseded_table
    ],
    can_subset=False,
    pool=POOL,
    name="publish_raw",
)
def publish_raw(context: dg.AssetExecutionContext, duckdb: WarehouseResource):
    """Merge every staged source into ``raw`` in one transaction, once all gates passed."""
    with duckdb.get_connection() as con:
        # purged people stay out: suppressed emails (contacts), archived ids (email events;
        # orders under the pseudonym), a purged person's new CRM id archived first
        try:
            returned = privacy.archive_returning_people(con)
            row_filter = privacy.suppression_row_filter(con)
            overrides = privacy.suppression_column_overrides(con)
        except privacy.SuppressionKeyError as exc:
            raise dg.Failure(description=str(exc)) from exc
        try:
            results = ingest.publish(
                con,
                SOURCES,
                run_id=context.run.run_id,
                row_filter=row_filter,
                column_overrides=overrides,
                landing_dir=settings.landing_dir(),
            )
        except ingest.LandingFileError as exc:
            raise dg.Failure(description=str(exc)) from exc
        privacy.release_staged(con)  # the staged ids of purged contacts, no longer needed
        superseded_counts = {
            source.superseded_table: con.execute(
                f"select count(*) from {ingest.RAW}.{ingest.q(source.superseded_table)}"
            ).fetchone()[0]
            for source in SOURCES.values()
            if source.superseded_table
        }
    for name, count in superseded_counts.items():
        yield dg.MaterializeResult(asset_key=raw_key(name), metadata={"dagster/row_count": count})
    if returned:
        context.log.warning(
            f"contacts: {returned} purged person(s) delivered again under a new CRM id "
            f"(suppressed email): the new id is archived ({privacy.ARCHIVE_TABLE}, rule "
            f"{privacy.RETURNED_UNDER_NEW_ID}); its events are kept out and its orders kept "
            "under a pseudonym, now and in later deliveries"
        )
    for name, res in results.items():
        if res.dropped:
            context.log.warning(
                f"{name}: {res.dropped} staged row(s) of purged or suppressed people kept out "
                "(a purged person's old export, or a contact re-delivered with a suppressed "
                "email: its stored version is kept)"
            )
        extra = {"ids_archived_as_returning": returned} if name == "contacts" else {}
        yield dg.MaterializeResult(
            asset_key=raw_key(name),
            metadata={
                **extra,
                "files_published": res.files,
                "rows_staged": res.staged_rows,
                "rows_inserted": res.inserted,
                "rows_replaced": res.replaced,
                "rows_kept_out": res.dropped,
                "dagster/row_count": res.total_rows,
                "loaded_at": dg.MetadataValue.timestamp(time.time()),
            },
        )


defs = dg.Definitions(
    assets=[*staged_assets, publish_raw],
    resources={"duckdb": warehouse()},
)

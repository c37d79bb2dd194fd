"""Serving: the gated marts, published as a read-only DuckDB file for BI tools.

``serving/marts`` copies every table of the ``marts`` schema into a new file and atomically
swaps it in as ``<serving_dir>/reveil.duckdb`` (``dagster_project.lib.serving``). BI tools open
that file read-only; they never block the pipeline and the pipeline never blocks them.

It runs after the marts, and only if their gates passed: it depends on every mart asset, and
the mart gates are blocking asset checks, which stop downstream steps of the run when they
fail. The dependency must therefore name every mart. The dbt assets live in another package,
so the keys are passed in:

* ``build_defs(mart_keys(dbt_defs))`` — preferred, in ``definitions.py``: the keys of every
  asset of the dbt package in group ``marts``, whatever the dbt translator names them;
* ``defs`` — the default, built from the dbt manifest (``dbt/target/manifest.json``) if one
  exists: models under ``models/marts`` with the key ``marts/<model>`` (dagster-dbt's default
  key, from the configured ``+schema``). Without a manifest it is EMPTY: a serving asset that
  waits for nothing would publish before the marts are built and gated.

``tests/defs/test_serving_reader.py`` checks, once ``serving/marts`` is in ``definitions.py``,
that it depends on every asset of group ``marts``.
"""

import json
from collections.abc import Iterable
from pathlib import Path

import dagster as dg

from dagster_project import settings
from dagster_project.lib import serving, warehouse_lock

GROUP = "serving"
OWNERS = ["team:analytics-engineering"]
# Publishing reads the warehouse (read-only), which blocks writers of other processes: it
# queues behind the DuckDB writers (STACK.md trap 3).
POOL = "duckdb_writer"
SERVING_KEY = dg.AssetKey(["serving", "marts"])
MARTS_GROUP = "marts"
SERVED_SCHEMAS = ("marts",)


def build_serving_asset(mart_keys: Iterable[dg.AssetKey | str]) -> dg.AssetsDefinition:
    """The ``serving/marts`` asset, downstream of ``mart_keys`` (every mart asset)."""
    deps = sorted(
        {dg.AssetKey.from_user_string(k) if isinstance(k, str) else k for k in mart_keys},
        key=lambda k: k.to_user_string(),
    )

    @dg.asset(
        key=SERVING_KEY,
        deps=deps,
        group_name=GROUP,
        kinds={"duckdb"},
        owners=OWNERS,
        pool=POOL,
        description=(
            "The gated marts, published for BI tools as a read-only DuckDB file "
            "(`<serving_dir>/reveil.duckdb`, DuckDB 1.5 file format) swapped in atomically; the "
            "last versions are kept for `python -m dagster_project.cli rollback`. Open it "
            "read-only; a reconnect sees the newest publication."
        ),
    )
    def serving_marts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        try:
            with warehouse_lock.plain_lock_errors():  # it attaches the warehouse read-only
                info = serving.publish_serving(
                    settings.warehouse_path(),
                    settings.serving_dir(),
                    schemas=SERVED_SCHEMAS,
                    run_id=context.run.run_id,
                    config=settings.duckdb_config(),
                )
        except serving.ServingError as exc:
            raise dg.Failure(description=str(exc)) from exc
        context.log.info(
            f"published {len(info.row_counts)} table(s) as version {info.version_id} "
            f"to {info.path} in {info.elapsed_seconds:.2f} s"
            + (f"; pruned {', '.join(info.pruned)}" if info.pruned else "")
        )
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(info.path)),
                "version": info.version_id,
                "version_path": dg.MetadataValue.path(str(info.version_path)),
                "row_counts": dg.MetadataValue.json(info.row_counts),
                "tables": len(info.row_counts),
                "dagster/row_count": sum(info.row_counts.values()),
                "size_bytes": info.size_bytes,
                "storage_version": info.storage_version,
                "elapsed_seconds": round(info.elapsed_seconds, 3),
                "versions_kept": len(serving.list_versions(settings.serving_dir())),
                "pruned_versions": dg.MetadataValue.json(info.pruned),
            }
        )

    return serving_marts


def build_defs(mart_keys: Iterable[dg.AssetKey | str]) -> dg.Definitions:
    return dg.Definitions(assets=[build_serving_asset(mart_keys)])


def mart_keys(defs: dg.Definitions, group: str = MARTS_GROUP) -> list[dg.AssetKey]:
    """Keys of the assets of ``defs`` in ``group`` (the dbt marts)."""
    graph = defs.resolve_asset_graph()
    return sorted(
        (key for key in graph.get_all_asset_keys() if graph.get(key).group_name == group),
        key=lambda k: k.to_user_string(),
    )


def mart_keys_from_manifest(
    manifest_path: Path = settings.DBT_PROJECT_DIR / "target" / "manifest.json",
) -> list[dg.AssetKey]:
    """``marts/<model>`` for every dbt model under ``models/marts``; [] without a manifest."""
    if not manifest_path.exists():
        return []
    manifest = json.loads(manifest_path.read_text())
    return sorted(
        (
            dg.AssetKey(["marts", node["name"]])
            for node in manifest.get("nodes", {}).values()
            if node.get("resource_type") == "model"
            and node.get("fqn", [None, None])[1:2] == ["marts"]
        ),
        key=lambda k: k.to_user_string(),
    )


_manifest_mart_keys = mart_keys_from_manifest()
defs = build_defs(_manifest_mart_keys) if _manifest_mart_keys else dg.Definitions()

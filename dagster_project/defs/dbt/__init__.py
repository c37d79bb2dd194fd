"""The dbt project (``dbt/``) as Dagster assets.

Asset keys: a dbt source ``raw.<table>`` is ``["raw", "<table>"]``, the key of the ingestion
asset that writes it, so lineage is one graph. A model is ``[<layer>, <model name>]`` where the
layer is its top folder under ``dbt/models`` and also its DuckDB schema: e.g.
``["staging", "stg_raw__orders"]``, ``["marts", "dim_contact_inactivity"]``; a seed is
``["seeds", <name>]``. The key therefore names the table a BI tool queries (``marts.<model>``).
Groups are the same layer names (staging / intermediate / marts / seeds).

Every dbt var that holds a business threshold can be overridden for one run through the run
config ``DbtRunConfig``; ``build_dbt_args`` turns it into the dbt CLI arguments. The manifest
is never parsed at import time: ``make manifest`` (``dbt parse``) writes it, and
``prepare_if_dev`` refreshes it under ``dagster dev``.
"""

import importlib.metadata
import json
import os
import shutil
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from packaging.version import Version

from dagster_project import settings
from dagster_project.lib import mart_metadata, spark_raw, warehouse_lock

# One writer at a time on the DuckDB file (STACK.md trap 3): the same pool as ingestion.
POOL = "duckdb_writer"
DEFAULT_OWNER = "team:analytics"

dbt_project = DbtProject(
    project_dir=settings.DBT_PROJECT_DIR,
    profiles_dir=settings.DBT_PROJECT_DIR,
)
dbt_project.prepare_if_dev()


class DbtRunConfig(dg.Config):
    """Per-run overrides of the dbt vars of ``dbt/dbt_project.yml`` (None: the project default).

    Units and reasons are documented next to each var in ``dbt_project.yml``.
    """

    full_refresh: bool = False
    # dbt unit tests check the SQL logic on fixed fixtures, not the day's data: CI and
    # development runs turn them on; the daily runs skip them (~10 s saved).
    unit_tests: bool = False

    as_of_date: str | None = None  # YYYY-MM-DD, snapshot date (default: today, UTC)
    # inactivity
    inactivity_window_days_b2c: int | None = None
    inactivity_window_days_b2b: int | None = None
    inactivity_window_days_annual: int | None = None
    annual_cycle_industries: list[str] | None = None
    at_risk_window_ratio: float | None = None
    lost_window_multiple: float | None = None
    deliverability_unopened_sends: int | None = None
    value_at_stake_months: int | None = None
    tenure_band_bounds_days: list[int] | None = None
    # RFM and backtest
    rfm_score_buckets: int | None = None
    backtest_lookback_days: int | None = None
    backtest_outcome_days: int | None = None
    # reactivation campaigns
    attribution_window_days: int | None = None
    attribution_model: str | None = None  # last_touch or first_touch
    durable_reengagement_days_short: int | None = None
    durable_reengagement_days_long: int | None = None
    new_customer_acquisition_cost: float | None = None
    confidence_z: float | None = None
    ab_test_alpha: float | None = None
    # purge (sunset policy, retention limit)
    purge_rule_version: str | None = None
    purge_min_touches: int | None = None
    purge_min_weeks: int | None = None
    purge_max_weeks: int | None = None
    purge_response_days: int | None = None
    retention_limit_days: int | None = None
    # deliverability guardrails
    bounce_reenable_share: float | None = None
    bounce_reenable_min: int | None = None
    bounce_reenable_max: int | None = None
    bounce_reenable_min_days: int | None = None
    complaint_rate_warn: float | None = None
    complaint_rate_alert: float | None = None
    complaint_rate_lookback_days: int | None = None
    # sales hand-off
    handoff_order_points: int | None = None
    handoff_click_points: int | None = None
    handoff_human_open_points: int | None = None
    handoff_window_days: int | None = None
    handoff_score_threshold: int | None = None
    handoff_lookback_days: int | None = None
    # audiences (who to wake, channel, hold-out, budget)
    audience_target_statuses: list[str] | None = None
    audience_cheapest_channel_statuses: list[str] | None = None
    audience_low_probability_threshold: float | None = None
    reactivation_sequence_steps: int | None = None
    audience_running_sequence_days: int | None = None
    audience_sequence_restart_days: int | None = None
    audience_holdout_share: float | None = None
    audience_holdout_salt: str | None = None
    audience_variants: list[str] | None = None
    audience_variant_salt: str | None = None
    audience_daily_budget: float | None = None  # EUR per day; None here = the project default
    # complementary categories (association rules)
    association_lookback_days: int | None = None
    association_min_support: float | None = None
    association_min_confidence: float | None = None
    association_min_lift: float | None = None
    # dbt tests of events, orders and order lines: all rows instead of the latest load
    test_all_loads: bool | None = None


# Run-config fields that are dbt flags, not vars.
_FLAG_FIELDS = frozenset({"full_refresh", "unit_tests"})


def build_dbt_args(config: DbtRunConfig, target: str | None = None) -> list[str]:
    """The dbt CLI arguments of one run: ``build``, then ``--vars`` with only the vars set, then
    ``--target`` when a target other than the profile's default (duckdb) is given. The default
    is not named: dbt reuses a saved parse only for the same command-line target and vars, and
    ``make manifest`` parses without them (naming it cost every run a full parse, ~3 s)."""
    overrides = {
        name: value
        for name, value in config.model_dump().items()
        if name not in _FLAG_FIELDS and value is not None
    }
    if "as_of_date" in overrides:
        date.fromisoformat(overrides["as_of_date"])  # fail before dbt starts, with a clear error
    args = ["build"]
    if overrides:
        args += ["--vars", json.dumps(overrides, sort_keys=True)]
    if config.full_refresh:
        args.append("--full-refresh")
    if not config.unit_tests:
        args += ["--exclude", "resource_type:unit_test"]
    if target and target != spark_raw.DEFAULT_DBT_TARGET:
        args += ["--target", target]
    # a subset run (e.g. only the marts) must not run tests on models it didn't build
    return [*args, "--indirect-selection", "cautious"]


def _layer(dbt_resource_props: Mapping[str, Any]) -> str:
    """staging / intermediate / marts for a model (its top folder), seeds for a seed."""
    if dbt_resource_props["resource_type"] == "seed":
        return "seeds"
    fqn = dbt_resource_props.get("fqn") or []
    return fqn[1] if len(fqn) > 2 else "models"


class ReveilDbtTranslator(DagsterDbtTranslator):
    """Keys ``[layer, name]``, sources ``[source, table]``, groups by layer, owners from meta."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return dg.AssetKey([_layer(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return _layer(dbt_resource_props)

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        return (dbt_resource_props.get("description") or "").strip() or (
            f"dbt {dbt_resource_props['resource_type']} {dbt_resource_props['name']}"
        )

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        meta = (dbt_resource_props.get("config") or {}).get("meta") or {}
        return [meta.get("owner") or DEFAULT_OWNER]


translator = ReveilDbtTranslator()


def _row_counts(tables: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Row count and the aggregates of ``lib/mart_metadata`` of (schema, table) pairs,
    read-only, once dbt has released the file."""
    if not tables:
        return {}
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as con:
        return {
            (schema, table): {
                "dagster/row_count": dg.MetadataValue.int(
                    con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
                ),
                **mart_metadata.for_model(con, table, schema),
            }
            for schema, table in tables
        }


def _event_key(event: Any, keys_by_output_name: Mapping[str, dg.AssetKey]) -> dg.AssetKey | None:
    """The asset an event of dagster-dbt is about (a check result: the asset it checks)."""
    if isinstance(event, dg.Output):
        return keys_by_output_name.get(event.output_name)
    if isinstance(event, dg.AssetMaterialization | dg.AssetCheckResult | dg.AssetCheckEvaluation):
        return event.asset_key
    return None


def _is_mart(key: dg.AssetKey | None) -> bool:
    return key is not None and key.path[0] == "marts"


def _stream_with_mart_row_counts(
    events: Iterable[Any],
    keys_by_output_name: Mapping[str, dg.AssetKey],
    log: dg.DagsterLogManager,
) -> Iterator[Any]:
    """The events of a dbt invocation as they stream, the marts' with their row count.

    Dagster stores every event as it is yielded (~600 for a build: outputs, materialisations,
    one check result per dbt test), which took ~20 s at the end of a build when all of them
    were yielded after dbt exited. They are yielded as dbt emits them, so the storage works
    while dbt builds; only the marts' outputs and check results wait: DuckDB lets one process
    open the file for writing and dbt holds it for the whole build, so their row counts can
    only be read once dbt has exited.
    """
    marts: list[Any] = []
    for event in events:
        if _is_mart(_event_key(event, keys_by_output_name)):
            marts.append(event)
        else:
            yield event
    yield from _with_mart_row_counts(marts, keys_by_output_name, log)


def _with_mart_row_counts(
    events: list[Any],
    keys_by_output_name: Mapping[str, dg.AssetKey],
    log: dg.DagsterLogManager,
) -> Iterator[Any]:
    """Events of marts, materialisations with their row count and ``lib/mart_metadata``
    aggregates, read after dbt has exited (read-only)."""
    keys = [_event_key(event, keys_by_output_name) for event in events]
    marts = list(
        dict.fromkeys(
            tuple(key.path)
            for event, key in zip(events, keys, strict=True)
            if _is_mart(key) and isinstance(event, dg.Output | dg.AssetMaterialization)
        )
    )
    try:
        counts = _row_counts(marts)
    except duckdb.Error as error:  # e.g. another process holds the file: counts are optional
        log.warning(
            f"Row counts of the marts skipped: {warehouse_lock.in_use_message(str(error)) or error}"
        )
        counts = {}
    for event, key in zip(events, keys, strict=True):
        if (
            isinstance(event, dg.Output | dg.AssetMaterialization)
            and key is not None
            and tuple(key.path) in counts
        ):
            event = event.with_metadata({**event.metadata, **counts[tuple(key.path)]})
        yield event


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    pool=POOL,
)
def reveil_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtRunConfig):
    """``dbt build`` of the selected models, seeds and tests (tests become asset checks).

    The dbt target is read when the run starts (``REVEIL_DBT_TARGET``, default ``duckdb``). On
    ``spark`` the dbt sources (raw tables, optional tables of Python assets) are first exported
    from the DuckDB warehouse to the Parquet folders the Spark run reads (``lib/spark_raw``),
    and the marts' row counts, read from DuckDB, are left out.
    """
    settings.export_warehouse_env()
    target = spark_raw.dbt_target()
    on_spark = spark_raw.is_spark_target(target)
    if on_spark:
        written = spark_raw.export_for_spark(manifest_path=dbt_project.manifest_path)
        os.environ.update(spark_raw.dbt_env(written))
        context.log.info(f"dbt sources exported for Spark to {spark_raw.spark_dir()}: {written}")
    else:
        # a process holding the file: said plainly here, rather than in dbt's error
        warehouse_lock.check_writable(settings.warehouse_path())
    invocation = dbt.cli(
        build_dbt_args(config, target=target), context=context, raise_on_error=False
    )
    if on_spark:
        yield from invocation.stream()
    else:
        yield from _stream_with_mart_row_counts(
            invocation.stream(), context.assets_def.keys_by_output_name, context.log
        )
    target_path = Path(invocation.target_path)
    if not target_path.is_absolute():
        target_path = Path(invocation.project_dir) / target_path
    removed = prune_invocation_dirs(target_path.parent, keep=KEEP_INVOCATION_DIRS)
    if removed:
        context.log.debug(f"removed {removed} old dbt invocation folder(s)")
    error = invocation.get_error()
    if error is not None:
        raise error


# dagster-dbt gives every invocation its own target folder (manifest, compiled SQL, logs:
# several MB each); the newest are kept for debugging, the others removed.
KEEP_INVOCATION_DIRS = 10


def prune_invocation_dirs(target_dir: Path, keep: int) -> int:
    """Remove all but the ``keep`` newest ``reveil_dbt_models-*`` folders of ``target_dir``
    (dagster-dbt's per-invocation target paths); returns how many were removed."""
    folders = sorted(
        (p for p in target_dir.glob("reveil_dbt_models-*") if p.is_dir()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for folder in folders[keep:]:
        shutil.rmtree(folder, ignore_errors=True)
    return len(folders[keep:])


def dbt_executable() -> str:
    """dbt of this interpreter's virtualenv (PATH may not include it), else dbt on PATH."""
    candidates = (
        Path(sys.executable).parent / "dbt",
        Path(sys.prefix) / "bin" / "dbt",
        settings.PROJECT_ROOT / ".venv" / "bin" / "dbt",
    )
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    return shutil.which("dbt") or "dbt"


# Runs dbt so that it dies with the process that started it (see the script).
DBT_LAUNCHER = Path(__file__).with_name("dbt_dies_with_parent")
LAUNCHED_DBT_ENV = "REVEIL_LAUNCHED_DBT"


class ReveilDbtCliResource(DbtCliResource):
    """dagster-dbt's resource

    - with dbt started through a launcher when ``launched_dbt`` is set: ``dbt_executable`` is
      then ``DBT_LAUNCHER``, which runs ``launched_dbt`` so that the kernel kills it if the
      process that started it dies (dagster-dbt has no hook to pass Popen a ``preexec_fn``);
    - without two start-up costs paid before every invocation:

      - ``dbt --version`` in a subprocess (~2 s: a full dbt start-up) to choose between dbt
        Core and dbt Fusion. When the executable is this virtualenv's dbt, its version is the
        installed dbt-core package's: read that instead. Any other executable is still asked.
      - a dbt adapter in Dagster's own process (see ``_initialize_dbt_core_adapter``).
    """

    launched_dbt: str | None = None

    def cli(self, args, **kwargs):
        self._export_launched_dbt()
        return super().cli(args, **kwargs)

    def _export_launched_dbt(self) -> None:
        """The launcher finds dbt in the environment, which dagster-dbt passes to dbt."""
        if self.launched_dbt:
            os.environ[LAUNCHED_DBT_ENV] = self.launched_dbt

    @cached_property
    def _cli_version(self) -> Version:
        if Path(self.launched_dbt or self.dbt_executable).parent == Path(sys.prefix) / "bin":
            return Version(importlib.metadata.version("dbt-core"))
        self._export_launched_dbt()
        return super()._cli_version

    def _initialize_dbt_core_adapter(self, args):
        """None: no read-only dbt adapter in Dagster's process. dagster-dbt opens one before
        every invocation (loading the profile and parsing dbt's macros: ~1.5 s) only for
        ``fetch_row_counts()`` / ``fetch_column_metadata()``, which reveil doesn't call: the
        marts' row counts are read by ``_row_counts`` once dbt has released the file."""
        return None


def dbt_cli_resource() -> ReveilDbtCliResource:
    """The resource running this virtualenv's dbt, through ``DBT_LAUNCHER`` on Linux."""
    if sys.platform == "linux" and os.access(DBT_LAUNCHER, os.X_OK):
        return ReveilDbtCliResource(
            project_dir=dbt_project,
            dbt_executable=str(DBT_LAUNCHER),
            launched_dbt=dbt_executable(),
        )
    return ReveilDbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())


dbt_resource = dbt_cli_resource()

defs = dg.Definitions(assets=[reveil_dbt_models], resources={"dbt": dbt_resource})

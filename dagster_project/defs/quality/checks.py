"""The quality gates as Dagster blocking asset checks: one Great Expectations suite each.

Two kinds of gate, both ``blocking=True`` so nothing downstream runs when one fails:

* **landing gates** (check ``gx_landing_gate`` on ``staged/<source>``) validate the rows that
  this run is about to publish (``staged.<source>``, i.e. the new landing files only, with the
  rows of purged contacts already left out or pseudonymised as publish takes them:
  ``privacy.withhold_purged_rows``) with the suite ``landing_<source>``. ``publish_raw``
  depends on every staged asset, so a failed gate leaves ``raw`` — and everything built from
  it — as it was (write–audit–publish).
* **mart gates** (check ``gx_mart_gate`` on ``marts/<model>``) validate a mart after dbt built
  it with the suite ``mart_<model>``. ``serving/marts`` depends on every mart, and the purge
  and hand-off sensors only act on a successful run, so a failed mart gate publishes nothing
  and purges no one.

Outcomes, kept apart on purpose:

* data that fails an expectation -> ``AssetCheckResult(passed=False, severity=ERROR)`` with the
  verdict of every expectation, unexpected counts and a few (masked) sample values; for a
  landing gate, the files and lines the sample rows come from (:func:`locate`), also in the
  check's description that ``make run`` prints;
* a gate that cannot run (locked or missing file, missing table, broken suite, …:
  :class:`~dagster_project.lib.gates.GateInfrastructureError`) -> the step fails with a
  ``dg.Failure`` whose description starts with :data:`INFRASTRUCTURE_PREFIX`. Not a verdict on
  the data: re-run once the infrastructure is fixed.

Run-time values (the run's start, the previous load's size, the number of contacts, the
configured bands) are GX suite parameters computed here; the knobs are read when the run
starts from the ``quality_gates`` resource (:class:`QualityGateConfig`, editable per run in
the Launchpad), falling back to ``REVEIL_GATE_*`` environment variables, then to defaults.
"""

import dataclasses
import math
import os
import re
import shutil
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from dagster_project import settings
from dagster_project.lib import gates, ingest
from dagster_project.lib.gates import GateInfrastructureError, GateResult
from dagster_project.lib.ingest import LOAD_LOG, RAW, STAGED, q
from dagster_project.lib.mappings import load_mappings
from dagster_project.lib.schema import SOURCES

# Gates read the warehouse, and a reader blocks writers of other processes (STACK.md trap 3):
# they queue in the same pool as the DuckDB writers.
POOL = "duckdb_writer"
LANDING_CHECK = "gx_landing_gate"
MART_CHECK = "gx_mart_gate"
LANDING_SUITE_PREFIX = "landing_"
MART_SUITE_PREFIX = "mart_"
INFRASTRUCTURE_PREFIX = "Quality gate could not run (infrastructure error, not a data failure)"
RESOURCE_KEY = "quality_gates"
# the landing source whose newest timestamp must be recent (freshness)
FRESHNESS_SOURCE = "email_events"
FRESHNESS_COLUMN = "occurred_at"
# personal columns of any source: masked in samples whatever the table (staged, marts)
PII_COLUMNS = frozenset(c.name for s in SOURCES.values() for c in s.columns if c.pii)


# --- configuration --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GateSettings:
    """The knobs of the gates, resolved (resource config > environment > default)."""

    volume_min_ratio: float = 0.2
    volume_max_ratio: float = 5.0
    volume_min_baseline_rows: int = 100
    freshness_days: int = 3
    future_tolerance_hours: float = 6.0
    # ISO 4217 code of every amount: the marts add amounts up (revenue at stake, RFM monetary,
    # KPIs) and the dbt vars' costs are in it; orders in another currency are refused
    currency: str = "EUR"
    inactive_share_min: float = 0.05
    inactive_share_max: float = 0.80
    data_docs: bool = True
    data_docs_dir: Path | None = None  # None: settings.data_dir() / quality / data_docs
    data_docs_keep: int = 20
    sample_limit: int = gates.DEFAULT_SAMPLE_LIMIT

    def docs_dir(self) -> Path | None:
        if not self.data_docs:
            return None
        return self.data_docs_dir or settings.data_dir() / "quality" / "data_docs"


# field -> environment variable
ENV_VARS: dict[str, str] = {
    "volume_min_ratio": "REVEIL_GATE_VOLUME_MIN_RATIO",
    "volume_max_ratio": "REVEIL_GATE_VOLUME_MAX_RATIO",
    "volume_min_baseline_rows": "REVEIL_GATE_VOLUME_MIN_BASELINE_ROWS",
    "freshness_days": "REVEIL_GATE_FRESHNESS_DAYS",
    "future_tolerance_hours": "REVEIL_GATE_FUTURE_TOLERANCE_HOURS",
    "currency": "REVEIL_CURRENCY",
    "inactive_share_min": "REVEIL_GATE_INACTIVE_SHARE_MIN",
    "inactive_share_max": "REVEIL_GATE_INACTIVE_SHARE_MAX",
    "data_docs": "REVEIL_GX_DATA_DOCS",
    "data_docs_dir": "REVEIL_GX_DATA_DOCS_DIR",
    "data_docs_keep": "REVEIL_GX_DATA_DOCS_KEEP",
}
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _parse(name: str, text: str) -> Any:
    default = getattr(GateSettings, name, None)
    if name == "data_docs":
        return text.strip().lower() not in _FALSE
    if name == "data_docs_dir":
        return Path(text).expanduser().resolve()
    if name == "currency":
        code = text.strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", code):
            raise ValueError(f"an ISO 4217 code of 3 letters, got {text!r}")
        return code
    if isinstance(default, int):
        return int(text)
    return float(text)


def resolve_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> GateSettings:
    """Settings from ``overrides`` (non-None values), else the environment, else defaults."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name, var in ENV_VARS.items():
        override = (overrides or {}).get(name)
        try:
            if override is not None:
                values[name] = _parse(name, str(override)) if name != "data_docs" else override
            elif var in environ:
                values[name] = _parse(name, environ[var])
        except ValueError as exc:
            raise GateInfrastructureError(f"invalid {var}: {exc}") from exc
    resolved = GateSettings(**values)
    if not 0 <= resolved.inactive_share_min <= resolved.inactive_share_max <= 1:
        raise GateInfrastructureError(
            "inactive share band must satisfy 0 <= min <= max <= 1, got "
            f"[{resolved.inactive_share_min}, {resolved.inactive_share_max}]"
        )
    if not 0 <= resolved.volume_min_ratio <= resolved.volume_max_ratio:
        raise GateInfrastructureError(
            "volume band must satisfy 0 <= min ratio <= max ratio, got "
            f"[{resolved.volume_min_ratio}, {resolved.volume_max_ratio}]"
        )
    return resolved


class QualityGateConfig(dg.ConfigurableResource):
    """Knobs of the quality gates. Unset fields fall back to the environment variable named in
    ``ENV_VARS`` (``REVEIL_GATE_*``, ``REVEIL_GX_DATA_DOCS*``), then to the default."""

    volume_min_ratio: float | None = None
    volume_max_ratio: float | None = None
    volume_min_baseline_rows: int | None = None
    freshness_days: int | None = None
    future_tolerance_hours: float | None = None
    currency: str | None = None
    inactive_share_min: float | None = None
    inactive_share_max: float | None = None
    data_docs: bool | None = None
    data_docs_dir: str | None = None
    data_docs_keep: int | None = None

    def resolve(self) -> GateSettings:
        return resolve_settings(self.model_dump())


# --- run-time parameters --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Load:
    """One earlier publication of a source (all its files of one run), from raw._load_log."""

    run_id: str
    rows: int
    loaded_at: datetime


def volume_band(
    previous_loads: list[Load], cfg: GateSettings
) -> tuple[tuple[int, int] | None, str]:
    """(min, max) rows allowed for this load, or None with the reason the band is skipped.

    The baseline is the newest earlier load. The first load of a source is its initial
    backfill (the whole history): it is never a baseline, so the band starts with the third
    load. A baseline below ``volume_min_baseline_rows`` is too small to compare (a few rows
    more or less would breach any ratio)."""
    if not previous_loads:
        return None, "first load of this source: no previous load to compare with"
    if len(previous_loads) < 2:
        return None, "the only previous load is the initial backfill, not a daily volume"
    previous = _newest(previous_loads)
    if previous.rows < cfg.volume_min_baseline_rows:
        return None, (
            f"previous load has {previous.rows} rows, below the minimum baseline of "
            f"{cfg.volume_min_baseline_rows}"
        )
    low = int(previous.rows * cfg.volume_min_ratio)
    high = int(previous.rows * cfg.volume_max_ratio + 0.999999)
    return (low, high), (
        f"previous load {previous.run_id[:8]} had {previous.rows} rows: band "
        f"{cfg.volume_min_ratio:g}x-{cfg.volume_max_ratio:g}x"
    )


def _newest(loads: list[Load]) -> Load:
    """The volume band's baseline: the newest earlier load."""
    return max(loads, key=lambda load: load.loaded_at)


VOLUME_LABEL = "expect_table_row_count_to_be_between()"


def volume_hint(rows: int, previous_loads: list[Load], cfg: GateSettings) -> str:
    """What the volume gate's failure says: the rows against the previous load, and how to
    let a legitimate change through once (a full re-export after daily deltas, a new feed)."""
    if not previous_loads:
        return ""
    previous = _newest(previous_loads)
    if previous.rows <= 0:
        return ""
    ratio = rows / previous.rows
    if ratio > cfg.volume_max_ratio:
        knob, env, value = "volume_max_ratio", ENV_VARS["volume_max_ratio"], math.ceil(ratio)
    else:
        knob, env = "volume_min_ratio", ENV_VARS["volume_min_ratio"]
        value = math.floor(ratio * 100) / 100
    return (
        f" ({rows:,} rows staged, {ratio:.2g}x the {previous.rows:,} of the previous load, "
        f"band {cfg.volume_min_ratio:g}x-{cfg.volume_max_ratio:g}x; if this delivery is "
        f"right, e.g. a full re-export, let it through once: {env}={value:g} make run, or "
        f"{knob} of the {RESOURCE_KEY} resource in the Launchpad)"
    )


def future_cutoff(run_started_at: datetime, cfg: GateSettings) -> datetime:
    """No landing timestamp may be later than this (UTC, naive like DuckDB's TIMESTAMP)."""
    return run_started_at + timedelta(hours=cfg.future_tolerance_hours)


def freshness_cutoff(run_started_at: datetime, cfg: GateSettings) -> datetime:
    """The newest event of a delivery must not be older than this: the run date - N days."""
    day: date = run_started_at.date() - timedelta(days=cfg.freshness_days)
    return datetime.combine(day, datetime.min.time())


def run_started_at(context: dg.AssetCheckExecutionContext) -> datetime:
    """When the run started (UTC, naive); now if the instance does not know."""
    started = None
    try:
        record = context.instance.get_run_record_by_id(context.run_id)
        started = record.start_time if record is not None else None
    except Exception:  # an instance without run records (e.g. in unit tests)
        started = None
    moment = datetime.fromtimestamp(started, UTC) if started else datetime.now(UTC)
    return moment.replace(tzinfo=None)


def _read_only(database: Path) -> duckdb.DuckDBPyConnection:
    if not database.is_file():
        raise GateInfrastructureError(f"DuckDB file {database} does not exist")
    try:
        return duckdb.connect(str(database), read_only=True)
    except duckdb.Error as exc:
        raise GateInfrastructureError(
            f"cannot open {database} read-only (is a writer holding it?): {exc}"
        ) from exc


@dataclasses.dataclass(frozen=True)
class LandingFacts:
    staged_rows: int
    previous_loads: list[Load]
    raw_newest: datetime | None  # newest FRESHNESS_COLUMN in raw (freshness source only)


def landing_facts(database: Path, source: str) -> LandingFacts:
    con = _read_only(database)
    try:
        staged_rows = con.execute(f"select count(*) from {STAGED}.{q(source)}").fetchone()[0]
        loads = [
            Load(run_id or "", int(rows or 0), loaded_at)
            for run_id, rows, loaded_at in con.execute(
                f"select run_id, sum(row_count), max(loaded_at) from {LOAD_LOG} "
                "where source = ? group by run_id order by 3",
                [source],
            ).fetchall()
        ]
        raw_newest = None
        if source == FRESHNESS_SOURCE:
            raw_newest = con.execute(
                f"select max({q(FRESHNESS_COLUMN)}) from {RAW}.{q(source)}"
            ).fetchone()[0]
    except duckdb.Error as exc:
        raise GateInfrastructureError(f"cannot read the load facts of {source}: {exc}") from exc
    finally:
        con.close()
    return LandingFacts(staged_rows, loads, raw_newest)


def raw_contact_count(database: Path, snapshot_table: str = "marts.dim_contact_inactivity") -> int:
    """Contacts of ``raw.contacts`` that exist at the snapshot date of ``snapshot_table`` (its
    ``as_of_date``): a snapshot of a past date leaves out the contacts created after it."""
    con = _read_only(database)
    try:
        return con.execute(
            f"select count(*) from {RAW}.contacts where cast(created_at as date) <= "
            f"coalesce((select max(as_of_date) from {_quoted_table(snapshot_table)}), "
            "cast(created_at as date))"
        ).fetchone()[0]
    except duckdb.Error as exc:
        raise GateInfrastructureError(f"cannot count raw.contacts: {exc}") from exc
    finally:
        con.close()


# --- suites ---------------------------------------------------------------------------------


def landing_suite_name(source: str) -> str:
    return f"{LANDING_SUITE_PREFIX}{source}"


def mart_suite_name(model: str) -> str:
    return f"{MART_SUITE_PREFIX}{model}"


def committed_suites(prefix: str, directory: Path | None = None) -> list[str]:
    """Names of the committed suites starting with ``prefix`` (sorted)."""
    folder = directory or gates.suites_dir()
    return sorted(p.stem for p in folder.glob(f"{prefix}*.json"))


def _uses(expectation, names: Iterable[str]) -> set[str]:
    """Which of ``names`` an expectation takes as ``{"$PARAMETER": …}``."""
    wanted = set(names)
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            if value.get("$PARAMETER") in wanted:
                found.add(value["$PARAMETER"])
            for v in value.values():
                walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)

    walk(expectation.configuration.kwargs)
    return found


def prepare_suite(suite, parameters: Mapping[str, Any], skip_reasons: Mapping[str, str]):
    """The suite's expectations minus those taking a parameter that is None (with why), and
    the parameters the remaining ones take."""
    absent = {name for name, value in parameters.items() if value is None}
    kept, skipped = [], []
    for expectation in suite.expectations:
        missing = _uses(expectation, absent)
        if missing:
            name = sorted(missing)[0]
            skipped.append(
                f"{expectation.expectation_type}: {skip_reasons.get(name, f'no {name}')}"
            )
        else:
            kept.append(expectation)
    used = set().union(*(_uses(e, parameters) for e in kept)) if kept else set()
    values = {k: v for k, v in parameters.items() if v is not None and k in used}
    return kept, values, skipped


# --- presentation ---------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON- and Markdown-friendly scalar."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _quoted_table(table: str) -> str:
    return ".".join(q(part) for part in table.split("."))


def unexpected_row_samples(
    database: Path, table: str, query: str, limit: int, pii: Iterable[str]
) -> tuple[tuple[str, ...], tuple[dict[str, Any], ...]]:
    """A few rows an ``expect_no_unexpected_rows`` query returns: shown (``column=value``,
    personal values masked) and as they are (to find where they come from).

    GX reports only how many rows such a query returns; the samples are read here, once the
    gate has failed (read-only, ``limit`` rows)."""
    masked = set(pii)
    con = _read_only(database)
    try:
        sql = query.format(batch=_quoted_table(table))
        cursor = con.execute(f"select * from ({sql}) as unexpected limit {int(limit)}")
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    except duckdb.Error as exc:
        raise GateInfrastructureError(f"cannot read the unexpected rows of {table}: {exc}") from exc
    finally:
        con.close()
    samples = []
    for row in rows:
        cells = []
        for column, value in zip(columns, row, strict=True):
            shown = gates.mask_value(value) if column in masked else _plain(value)
            cells.append(f"{column}={shown}")
        samples.append(" ".join(cells))
    return tuple(samples), tuple(dict(zip(columns, row, strict=True)) for row in rows)


def present(
    result: GateResult,
    suite_expectations: Iterable,
    *,
    database: Path,
    pii: Iterable[str],
    sample_limit: int,
) -> GateResult:
    """The result with each SQL expectation shown by its description (not its long query)
    and, when it failed, its row count and sample rows."""
    rules = {
        e.configuration.kwargs.get("unexpected_rows_query"): {
            "rule_id": (e.meta or {}).get("rule_id", "sql_rule"),
            "rule": e.description or "custom SQL rule",
        }
        for e in suite_expectations
        if e.expectation_type in gates.SQL_RULE_TYPES
    }
    outcomes = []
    for outcome in result.expectations:
        query = outcome.kwargs.get("unexpected_rows_query")
        if outcome.expectation_type not in gates.SQL_RULE_TYPES or query is None:
            outcomes.append(outcome)
            continue
        samples: tuple[str, ...] = ()
        rows: tuple[dict[str, Any], ...] = ()
        count = outcome.observed_value if isinstance(outcome.observed_value, int) else None
        if not outcome.success:
            try:
                samples, rows = unexpected_row_samples(
                    database, result.table, query, sample_limit, pii
                )
            except GateInfrastructureError:  # the verdict stands; only the samples are lost
                samples = ()
        outcomes.append(
            dataclasses.replace(
                outcome,
                kwargs=rules.get(query, {"rule_id": "sql_rule", "rule": "custom SQL rule"}),
                unexpected_count=count,
                observed_value=None,
                sample_unexpected=samples,
                sample_rows=rows,
            )
        )
    return dataclasses.replace(result, expectations=tuple(outcomes))


def locate(result: GateResult, source: str, database: Path) -> GateResult:
    """The failed expectations of a landing gate with the landing files and lines their
    sample rows come from (``ExpectationOutcome.locations``), found by the source's key
    (``ingest.locate_staged_rows``). Only after a failure; a row that cannot be found (no
    key in the sample, a file gone) has no location, and a failure to look is no verdict:
    the result is returned as it was."""
    failed = [e for e in result.failed if e.sample_rows]
    if not failed:
        return result
    try:
        mappings = load_mappings(source, settings.mappings_dir())
        rows = [row for e in failed for row in e.sample_rows]
        con = _read_only(database)
        try:
            found = ingest.locate_staged_rows(con, mappings, settings.landing_dir(), rows)
        finally:
            con.close()
    except Exception:  # noqa: BLE001 - where the rows are only helps: the verdict stands
        return result
    located = iter(found)  # one list of (file, line) per sample row, in the order of `rows`
    wanted = {id(e) for e in failed}
    outcomes = []
    for e in result.expectations:
        if id(e) in wanted:
            places = [
                rel if line is None else f"{rel} line {line}"
                for _row in e.sample_rows
                for rel, line in next(located)
            ]
            e = dataclasses.replace(e, locations=tuple(dict.fromkeys(places)))  # deduplicated
        outcomes.append(e)
    return dataclasses.replace(result, expectations=tuple(outcomes))


def outcome_label(outcome: gates.ExpectationOutcome) -> str:
    """``expect_…(column)``; a SQL rule is named by its ``meta.rule_id`` instead."""
    return f"{outcome.expectation_type}({outcome.column or outcome.kwargs.get('rule_id', '')})"


def check_result(
    result: GateResult,
    *,
    skipped: list[str],
    extra: Mapping[str, Any] | None = None,
    data_docs_page: Path | None = None,
    hints: Mapping[str, str] | None = None,
) -> dg.AssetCheckResult:
    """The Dagster verdict of a gate: passed, or failed with severity ERROR (blocking)."""
    stats = result.statistics
    failed = [outcome_label(e) for e in result.failed]
    metadata: dict[str, Any] = {
        "result": dg.MetadataValue.md(result.to_markdown()),
        "suite": result.suite_name,
        "table": result.table,
        "expectations_evaluated": stats["evaluated"],
        "expectations_failed": stats["failed"],
        "failed_expectations": dg.MetadataValue.json(failed),
        "unexpected_rows": sum(e.unexpected_count or 0 for e in result.expectations),
        "rows_validated": result.rows_validated,
        "outcomes": dg.MetadataValue.json(
            [
                {
                    "label": outcome_label(e),
                    "expectation": e.expectation_type,
                    "column": e.column,
                    "checks": e.kwargs_summary,
                    "success": e.success,
                    "unexpected_count": e.unexpected_count,
                    "samples": [str(s) for s in e.sample_unexpected],
                    "found_at": list(e.locations),
                }
                for e in result.expectations
            ]
        ),
        "skipped_expectations": dg.MetadataValue.json(skipped),
        "parameters": dg.MetadataValue.json(
            {k: str(_plain(v)) for k, v in sorted(result.parameters.items())}
        ),
        "elapsed_seconds": result.elapsed_seconds,
        **(extra or {}),
    }
    if result.data_docs_path is not None:
        metadata["data_docs"] = dg.MetadataValue.path(str(result.data_docs_path))
    if data_docs_page is not None:
        metadata["data_docs_validation"] = dg.MetadataValue.path(str(data_docs_page))
    if result.success:
        description = f"{result.suite_name}: all {stats['evaluated']} expectations passed"
    else:
        description = (
            f"{result.suite_name}: {stats['failed']} of {stats['evaluated']} expectations "
            f"failed on {result.table}: "
            + ", ".join(
                outcome_label(e) + _found_at(e) + (hints or {}).get(outcome_label(e), "")
                for e in result.failed
            )
        )
    return dg.AssetCheckResult(
        passed=result.success,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata=metadata,
    )


def _found_at(outcome: gates.ExpectationOutcome, shown: int = 3) -> str:
    """`` (in orders/a.csv line 2, orders/b.csv line 7; 12 rows in all)``, or nothing."""
    if not outcome.locations:
        return ""
    text = ", ".join(outcome.locations[:shown])
    if len(outcome.locations) > shown:
        text += ", …"
    count = outcome.unexpected_count
    if count is not None and count > min(shown, len(outcome.locations)):
        text += f"; {count} rows in all"
    return f" (in {text})"


def infrastructure_failure(suite: str, table: str, exc: Exception) -> dg.Failure:
    return dg.Failure(
        description=f"{INFRASTRUCTURE_PREFIX}: gate {suite} on {table}: {exc}",
        metadata={"gate_error": "infrastructure", "suite": suite, "table": table},
    )


# --- Data Docs housekeeping -----------------------------------------------------------------


def prune_data_docs(docs_dir: Path, suite_name: str, keep: int) -> int:
    """Keep the newest ``keep`` validation results of a suite (stored JSON and rendered page):
    GX rebuilds every stored result's page on each build, so the cost grows with them.
    Returns how many were removed."""
    removed = 0
    store = docs_dir / "validations" / suite_name
    if not store.is_dir():
        return 0
    site = docs_dir / gates.DATA_DOCS_SITE_NAME / "validations" / suite_name
    for run_name in (p for p in store.iterdir() if p.is_dir()):
        runs = sorted((p for p in run_name.iterdir() if p.is_dir()), key=lambda p: p.name)
        for old in runs[: max(len(runs) - keep, 0)]:
            shutil.rmtree(old, ignore_errors=True)
            shutil.rmtree(site / run_name.name / old.name, ignore_errors=True)
            removed += 1
    return removed


def newest_validation_page(docs_dir: Path, suite_name: str) -> Path | None:
    site = docs_dir / gates.DATA_DOCS_SITE_NAME / "validations" / suite_name
    pages = sorted(site.glob("*/*/*.html"), key=lambda p: p.parent.name)
    return pages[-1] if pages else None


# --- running one gate -----------------------------------------------------------------------


def run_gate(
    *,
    suite_name: str,
    table: str,
    parameters: Mapping[str, Any],
    skip_reasons: Mapping[str, str],
    cfg: GateSettings,
    extra_metadata: Mapping[str, Any] | None = None,
    database: Path | None = None,
    source: str | None = None,
    hints: Mapping[str, str] | None = None,
) -> dg.AssetCheckResult:
    """Validate ``table`` with the committed suite; raise ``dg.Failure`` if the gate cannot
    run, return the check verdict otherwise. ``source``: ``table`` holds that landing
    source's staged rows, and a failure names the files and lines of its sample rows.
    ``hints``: what to do when the expectation of that label (``outcome_label``) fails."""
    database = database or settings.warehouse_path()
    started = time.perf_counter()
    try:
        suite = gates.load_suite(suite_name)
        expectations, values, skipped = prepare_suite(suite, parameters, skip_reasons)
        docs_dir = cfg.docs_dir()
        if docs_dir is not None:
            prune_data_docs(docs_dir, suite_name, max(cfg.data_docs_keep - 1, 0))
        result = gates.run_suite(
            database,
            table,
            suite_name,
            expectations,
            parameters=values,
            pii_columns=PII_COLUMNS,
            sample_limit=cfg.sample_limit,
            data_docs_dir=docs_dir,
            index_columns=(*SOURCES[source].key, "_source_file") if source else (),
        )
        result = present(
            result, expectations, database=database, pii=PII_COLUMNS, sample_limit=cfg.sample_limit
        )
        if source and not result.success:
            result = locate(result, source, database)
    except GateInfrastructureError as exc:
        raise infrastructure_failure(suite_name, table, exc) from exc
    page = newest_validation_page(docs_dir, suite_name) if docs_dir is not None else None
    extra = {**(extra_metadata or {}), "gate_seconds": round(time.perf_counter() - started, 3)}
    return check_result(result, skipped=skipped, extra=extra, data_docs_page=page, hints=hints)


def landing_gate(
    source: str, cfg: GateSettings, started_at: datetime, database: Path | None = None
) -> dg.AssetCheckResult:
    """The landing gate of one source (see the module docstring)."""
    database = database or settings.warehouse_path()
    suite_name = landing_suite_name(source)
    table = f"{STAGED}.{source}"
    try:
        facts = landing_facts(database, source)
    except GateInfrastructureError as exc:
        raise infrastructure_failure(suite_name, table, exc) from exc
    if facts.staged_rows == 0:
        return no_new_rows(source, facts, cfg, started_at)
    band, band_reason = volume_band(facts.previous_loads, cfg)
    parameters = {
        # the reporting currency, whatever the case and spaces (dbt's staging normalises them)
        "currency_pattern": rf"^\s*(?i:{cfg.currency})\s*$",
        "future_cutoff": future_cutoff(started_at, cfg),
        "freshness_cutoff": freshness_cutoff(started_at, cfg),
        "volume_min_rows": band[0] if band else None,
        "volume_max_rows": band[1] if band else None,
    }
    return run_gate(
        suite_name=suite_name,
        table=table,
        parameters=parameters,
        skip_reasons={"volume_min_rows": band_reason, "volume_max_rows": band_reason},
        cfg=cfg,
        database=database,
        source=source,
        hints={VOLUME_LABEL: volume_hint(facts.staged_rows, facts.previous_loads, cfg)},
        extra_metadata={
            "rows_validated": facts.staged_rows,
            "volume_baseline": band_reason,
            "dagster/row_count": facts.staged_rows,
        },
    )


def no_new_rows(
    source: str, facts: LandingFacts, cfg: GateSettings, started_at: datetime
) -> dg.AssetCheckResult:
    """No new file for this source: nothing to audit, raw stays as it is. For the freshness
    source, a feed whose newest event in raw is older than the freshness cutoff is reported
    as a WARN (not blocking: no bad row can reach raw, and a day without a delivery is
    normal; the marts are rebuilt on unchanged data)."""
    metadata: dict[str, Any] = {
        "suite": landing_suite_name(source),
        "table": f"{STAGED}.{source}",
        "rows_validated": 0,
        "dagster/row_count": 0,
    }
    if source == FRESHNESS_SOURCE:
        cutoff = freshness_cutoff(started_at, cfg)
        newest = facts.raw_newest
        metadata["raw_newest_event"] = str(newest) if newest else "none"
        metadata["freshness_cutoff"] = str(cutoff)
        if newest is None or newest < cutoff:
            return dg.AssetCheckResult(
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description=(
                    f"no new {source} file, and the newest event in raw ({newest}) is older "
                    f"than {cfg.freshness_days} days: the feed looks stale"
                ),
                metadata=metadata,
            )
    return dg.AssetCheckResult(
        passed=True,
        description=f"no new {source} rows in this run: nothing to validate, raw unchanged",
        metadata=metadata,
    )


def mart_gate(model: str, cfg: GateSettings, database: Path | None = None) -> dg.AssetCheckResult:
    """The gate of one mart (see the module docstring)."""
    database = database or settings.warehouse_path()
    suite_name = mart_suite_name(model)
    table = f"marts.{model}"
    try:
        needed = gates.suite_parameter_names(gates.load_suite(suite_name))
        parameters: dict[str, Any] = {}
        if "raw_contact_count" in needed:
            parameters["raw_contact_count"] = raw_contact_count(database)
        if "inactive_share_min" in needed:
            parameters["inactive_share_min"] = cfg.inactive_share_min
        if "inactive_share_max" in needed:
            parameters["inactive_share_max"] = cfg.inactive_share_max
    except GateInfrastructureError as exc:
        raise infrastructure_failure(suite_name, table, exc) from exc
    return run_gate(
        suite_name=suite_name,
        table=table,
        parameters=parameters,
        skip_reasons={},
        cfg=cfg,
        database=database,
    )


# --- check factories ------------------------------------------------------------------------


def landing_check(source: str) -> dg.AssetChecksDefinition:
    suite = landing_suite_name(source)

    @dg.asset_check(
        asset=dg.AssetKey([STAGED, source]),
        name=LANDING_CHECK,
        blocking=True,
        pool=POOL,
        description=(
            f"Great Expectations suite `{suite}` on the rows new to this run "
            f"(`staged.{source}`); blocking: `publish_raw` runs only if it passes."
        ),
        metadata={"suite": suite, "suite_file": f"expectations/expectations/{suite}.json"},
    )
    def gate(
        context: dg.AssetCheckExecutionContext, quality_gates: QualityGateConfig
    ) -> dg.AssetCheckResult:
        try:
            cfg = quality_gates.resolve()
        except GateInfrastructureError as exc:
            raise infrastructure_failure(suite, f"staged.{source}", exc) from exc
        result = landing_gate(source, cfg, run_started_at(context))
        _log(context, result)
        return result

    return gate


def mart_check(asset_key: dg.AssetKey) -> dg.AssetChecksDefinition:
    model = asset_key.path[-1]
    suite = mart_suite_name(model)

    @dg.asset_check(
        asset=asset_key,
        name=MART_CHECK,
        blocking=True,
        pool=POOL,
        description=(
            f"Great Expectations suite `{suite}` on `marts.{model}` after dbt built it; "
            "blocking: the marts are not published (serving/marts) if it fails."
        ),
        metadata={"suite": suite, "suite_file": f"expectations/expectations/{suite}.json"},
    )
    def gate(
        context: dg.AssetCheckExecutionContext, quality_gates: QualityGateConfig
    ) -> dg.AssetCheckResult:
        try:
            cfg = quality_gates.resolve()
        except GateInfrastructureError as exc:
            raise infrastructure_failure(suite, f"marts.{model}", exc) from exc
        result = mart_gate(model, cfg)
        _log(context, result)
        return result

    return gate


def _log(context: dg.AssetCheckExecutionContext, result: dg.AssetCheckResult) -> None:
    message = result.description or ""
    if result.passed:
        context.log.info(message)
    else:
        context.log.warning(f"quality gate failed ({result.severity.value}): {message}")

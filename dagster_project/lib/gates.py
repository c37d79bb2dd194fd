"""Quality gates: run a Great Expectations suite on a DuckDB table, as SQL, and summarise it.

``run_suite`` validates one table (or only the rows a ``row_filter`` selects, e.g. the rows
new to an incremental run) of a DuckDB file with GX's SQL datasource, so every metric is
pushed down to DuckDB (see ``gx_duckdb_compat`` for the patches this needs). It returns a
:class:`GateResult` whose Markdown rendering goes into Dagster metadata; personal data in
sample values is masked. A failing expectation is a *data* failure (``success=False``);
anything that prevents a verdict (missing file or table, lock, unknown column, broken suite,
missing parameter) raises :class:`GateInfrastructureError` instead.

Where suites live
-----------------
Suites are committed as GX 1.x suite JSON under ``expectations/expectations/<name>.json``
(the layout of a GX file context rooted at ``expectations/``), and loaded by name with
:func:`load_suite`. Values known only at run time (run timestamp, previous row count, …)
are GX suite parameters, written ``{"$PARAMETER": "name"}`` in the suite and supplied as
``run_suite(..., parameters={"name": value})`` (GX's ``expectation_parameters``).

The validation itself runs in an **ephemeral** GX context, not a file context: a file
context rooted at ``expectations/`` rewrites ``great_expectations.yml`` (datasource with the
database path and fresh ids) and ``validation_definitions/*.json`` on every run, i.e. it
writes to the committed folder and races with concurrent gate runs. When Data Docs are
asked for, the ephemeral context stores validation results on disk under the docs folder
(git-ignored ``expectations/uncommitted/``) so the site index keeps every run.

The DuckDB file is opened read-only and released (engines disposed) before returning.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster_project import settings
from dagster_project.lib import gx_duckdb_compat
from dagster_project.lib.schema import SOURCES

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite
    from great_expectations.expectations import Expectation

logger = logging.getLogger(__name__)

DEFAULT_SAMPLE_LIMIT = 5
DATA_DOCS_SITE_NAME = "local_site"
# Validation results the Data Docs index lists (the newest; older pages stay on disk). The
# index reads each listed result on every gate: unbounded, a year of daily runs (19 gates a
# day) would make every gate read ~7,000 files.
DATA_DOCS_INDEX_LIMIT = 100
# kwargs that say how to run an expectation rather than what it checks
_NOISE_KWARGS = frozenset(
    {"column", "result_format", "catch_exceptions", "include_config", "meta", "batch_id"}
)


class GateInfrastructureError(RuntimeError):
    """The gate could not reach a verdict: not a data failure, do not treat it as one."""


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's verdict, with sample values masked when the column is personal."""

    expectation_type: str
    column: str | None
    kwargs: dict[str, Any]  # what it checks (column and run options left out)
    success: bool
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    element_count: int | None = None
    observed_value: Any = None
    sample_unexpected: tuple[Any, ...] = ()
    # the index columns (``run_suite(index_columns=)``) of the failing sample rows, to find
    # where they come from; never the checked value itself
    sample_rows: tuple[dict[str, Any], ...] = ()
    # where the failing rows come from ("orders/2026-12-07.csv line 3"), filled by the caller
    locations: tuple[str, ...] = ()

    @property
    def kwargs_summary(self) -> str:
        return ", ".join(f"{k}={_short(v)}" for k, v in self.kwargs.items())


@dataclass(frozen=True)
class GateResult:
    suite_name: str
    table: str
    success: bool
    expectations: tuple[ExpectationOutcome, ...]
    elapsed_seconds: float
    row_filter: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    data_docs_path: Path | None = None
    rows_validated: int | None = None

    @property
    def failed(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(e for e in self.expectations if not e.success)

    @property
    def statistics(self) -> dict[str, int]:
        failed = len(self.failed)
        return {
            "evaluated": len(self.expectations),
            "successful": len(self.expectations) - failed,
            "failed": failed,
        }

    def summary(self) -> dict[str, Any]:
        """Plain, JSON-friendly figures (for Dagster metadata next to the Markdown)."""
        return {
            "suite": self.suite_name,
            "table": self.table,
            "success": self.success,
            **self.statistics,
            "unexpected_rows": sum(e.unexpected_count or 0 for e in self.expectations),
            "failed_expectations": [f"{e.expectation_type}({e.column or ''})" for e in self.failed],
            "elapsed_seconds": self.elapsed_seconds,
            "row_filter": self.row_filter,
            "rows_validated": self.rows_validated,
            "data_docs_path": str(self.data_docs_path) if self.data_docs_path else None,
        }

    def to_markdown(self, *, max_sample_chars: int = 80) -> str:
        """A compact Markdown table of the verdicts (for ``MetadataValue.md``)."""
        stats = self.statistics
        scope = f" where `{self.row_filter}`" if self.row_filter else ""
        if self.rows_validated is not None:
            scope += f", {self.rows_validated:,} rows"
        lines = [
            f"**{self.suite_name}** on `{self.table}`{scope}: "
            f"{'passed' if self.success else 'FAILED'} "
            f"({stats['successful']}/{stats['evaluated']} expectations, "
            f"{self.elapsed_seconds:.2f} s)",
            "",
            "| | expectation | column | checks | unexpected | % | samples |",
            "|---|---|---|---|---:|---:|---|",
        ]
        located = any(e.locations for e in self.expectations)
        if located:
            lines[-2:] = [lines[-2] + " found at |", lines[-1] + "---|"]
        for e in self.expectations:
            samples = ", ".join(_short(v) for v in e.sample_unexpected)
            if len(samples) > max_sample_chars:
                samples = samples[: max_sample_chars - 1] + "…"
            observed = "" if e.observed_value is None else f"observed={_short(e.observed_value)}"
            checks = "; ".join(x for x in (e.kwargs_summary, observed) if x)
            cells = [
                "✅" if e.success else "❌",
                e.expectation_type.removeprefix("expect_"),
                e.column or "",
                checks,
                "" if e.unexpected_count is None else str(e.unexpected_count),
                "" if e.unexpected_percent is None else f"{e.unexpected_percent:.3g}",
                samples,
            ]
            if located:
                cells.append(", ".join(e.locations))
            lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
        if self.data_docs_path:
            lines += ["", f"Data Docs: `{self.data_docs_path}`"]
        return "\n".join(lines)


# --- masking --------------------------------------------------------------------------------


def mask_value(value: Any) -> Any:
    """Mask one personal value: ``john.doe@gmail.com`` -> ``j***@g***.com``, ``Jeanne`` ->
    ``J***``, anything else non-null -> ``***``."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return value
        if "@" in text:
            local, _, domain = text.rpartition("@")
            head, dot, tld = domain.rpartition(".")
            masked_domain = f"{head[:1]}***.{tld}" if dot and head else f"{domain[:1]}***"
            return f"{local[:1]}***@{masked_domain}"
        return f"{text[0]}***"
    return "***"


_EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE_LIKE = re.compile(r"^\s*\+\d[\d .\-()]{6,}$")  # the international form: +33 6 12…


def looks_personal(value: Any) -> bool:
    """An email address or an international phone number, whatever the column: an export
    mapped wrongly puts them in ``status`` or ``currency``, whose samples are not masked by
    column. (A name in such a column can't be told from a word: the column mapping is the
    defence there.)"""
    if isinstance(value, Mapping):
        return any(looks_personal(v) for v in value.values())
    if not isinstance(value, str):
        return False
    return bool(_EMAIL_LIKE.search(value) or _PHONE_LIKE.match(value))


def pii_columns_for(table: str) -> frozenset[str]:
    """Personal columns of ``raw.<source>`` tables according to ``schema.py``."""
    schema_name, _, name = table.rpartition(".")
    source = SOURCES.get(name)
    if source is None or schema_name not in ("", "raw"):
        return frozenset()
    return frozenset(c.name for c in source.columns if c.pii)


# --- suites ---------------------------------------------------------------------------------


def suites_dir() -> Path:
    """Committed suites: ``expectations/expectations/`` (GX file-context layout)."""
    return settings.EXPECTATIONS_DIR / "expectations"


def default_data_docs_dir() -> Path:
    return settings.EXPECTATIONS_DIR / "uncommitted" / "data_docs"


# expectation types whose ``unexpected_rows_query`` returns the unexpected rows: GX's, and
# ours that runs the query once when it finds nothing (``gx_no_unexpected_rows``)
NO_UNEXPECTED_ROWS_TYPE = "expect_no_unexpected_rows"
SQL_RULE_TYPES = frozenset({"unexpected_rows_expectation", NO_UNEXPECTED_ROWS_TYPE})

# ``unexpected_rows_query`` of a committed suite's key check: the query is written by
# :func:`unique_key_query` from the expectation's ``meta`` (``unique_key``, ``shown_columns``)
UNIQUE_KEY_QUERY = "$UNIQUE_KEY"


def unique_key_query(key: Sequence[str], shown: Sequence[str] | None = None) -> str:
    """An ``expect_no_unexpected_rows`` query: the rows of ``{batch}`` whose ``key`` (one or
    more columns, none null) repeats, with the ``shown`` columns (default: the key).

    Not GX's uniqueness expectation: it groups the key strings themselves, which ran DuckDB out
    of memory at 4 GB on 535 M events (benchmarks/results/10m.md). This groups a 64-bit hash
    of the key (which spills to disk), then re-checks the exact keys behind a repeated hash,
    so a hash collision is never reported (dbt's ``unique`` does the same:
    ``dbt/macros/unique_tests.sql``)."""
    shown = list(shown or key)
    if not key or not set(key) <= set(shown):
        raise ValueError(f"the shown columns {shown} must include the key {list(key)}")
    columns, keys = ", ".join(shown), ", ".join(key)
    not_null = " and ".join(f"{column} is not null" for column in key)
    return (
        f"with repeated_hashes as (select hash({keys}) as key_hash from {{batch}} "
        f"where {not_null} group by key_hash having count(*) > 1), "
        f"candidates as (select {columns} from {{batch}} where {not_null} "
        f"and hash({keys}) in (select key_hash from repeated_hashes)) "
        f"select {columns} from candidates where ({keys}) in (select ({keys}) from candidates "
        f"group by {keys} having count(*) > 1) order by {keys}"
    )


def _expand_unique_key_queries(path: Path, expectations: list[dict]) -> None:
    for e in expectations:
        kwargs = e.get("kwargs") or {}
        if kwargs.get("unexpected_rows_query") != UNIQUE_KEY_QUERY:
            continue
        meta = e.get("meta") or {}
        try:
            kwargs["unexpected_rows_query"] = unique_key_query(
                meta["unique_key"], meta.get("shown_columns")
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise GateInfrastructureError(
                f"suite {path}: a {UNIQUE_KEY_QUERY} query needs meta.unique_key (a list of "
                f"columns) and optionally meta.shown_columns including them: {exc!r}"
            ) from exc


def load_suite(name: str, directory: str | Path | None = None) -> ExpectationSuite:
    """Load the committed suite ``<directory>/<name>.json`` (default :func:`suites_dir`);
    ``"$UNIQUE_KEY"`` queries are written by :func:`unique_key_query`.

    Strict, unlike GX, which logs and drops an expectation it cannot parse."""
    import great_expectations as gx

    from dagster_project.lib import gx_no_unexpected_rows  # noqa: F401  registers the type

    path = Path(directory or suites_dir()) / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise GateInfrastructureError(f"no suite {name!r}: {path} does not exist") from exc
    except json.JSONDecodeError as exc:
        raise GateInfrastructureError(f"suite {path} is not valid JSON: {exc}") from exc
    if data.get("name", name) != name:
        raise GateInfrastructureError(f"suite {path} is named {data['name']!r}, not {name!r}")
    data["name"] = name
    data.pop("id", None)  # ids belong to a store; the ephemeral one assigns its own
    raw_expectations = data.get("expectations", [])
    for e in raw_expectations:
        e.pop("id", None)
    _expand_unique_key_queries(path, raw_expectations)
    try:
        suite = gx.ExpectationSuite(**data)
    except Exception as exc:
        raise GateInfrastructureError(f"suite {path} is invalid: {exc}") from exc
    if len(suite.expectations) != len(raw_expectations):
        raise GateInfrastructureError(
            f"suite {path}: {len(raw_expectations) - len(suite.expectations)} expectation(s) "
            "could not be parsed (see the great_expectations log)"
        )
    return suite


def suite_parameter_names(suite: ExpectationSuite) -> set[str]:
    """Names of the ``{"$PARAMETER": name}`` values a suite needs at run time."""
    names: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            if "$PARAMETER" in value:
                names.add(str(value["$PARAMETER"]))
            for v in value.values():
                walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)

    for expectation in suite.expectations:
        walk(expectation.configuration.kwargs)
    return names


def _as_suite(
    suite_name: str, expectations: ExpectationSuite | Sequence[Expectation] | None
) -> ExpectationSuite:
    import great_expectations as gx

    if expectations is None:
        return load_suite(suite_name)
    source = (
        expectations.expectations
        if isinstance(expectations, gx.ExpectationSuite)
        else list(expectations)
    )
    meta = expectations.meta if isinstance(expectations, gx.ExpectationSuite) else None
    # copies without id, so the caller's objects stay usable elsewhere; the constructor,
    # unlike add_expectation, needs no active context
    copies = [e.copy(update={"id": None}) for e in source]
    return gx.ExpectationSuite(name=suite_name, expectations=copies, meta=meta)


# --- running --------------------------------------------------------------------------------


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _split_table(table: str) -> tuple[str | None, str]:
    parts = table.split(".")
    if len(parts) > 2 or not all(parts):
        raise GateInfrastructureError(f"table must be 'schema.table' or 'table', got {table!r}")
    return (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])


def _preflight(
    database_path: Path, schema_name: str | None, table_name: str, row_filter: str | None
) -> int:
    """Open the file read-only once, directly, for clear errors: GX reports a lock as a
    failed "test connection" and a missing table as a missing schema (duckdb-engine lists
    schemas as ``db.schema``). Also binds ``row_filter``. Returns the number of rows the
    suite validates (GX reports it only when it collects samples, i.e. on failure)."""
    import duckdb

    try:
        con = duckdb.connect(str(database_path), read_only=True)
    except duckdb.Error as exc:
        raise GateInfrastructureError(
            f"cannot open {database_path} read-only (is a writer holding it, or is it open "
            f"read-write in this process?): {exc}"
        ) from exc
    try:
        found = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_catalog = current_database() "
            "AND table_schema = coalesce(?, current_schema()) AND table_name = ?",
            [schema_name, table_name],
        ).fetchone()[0]
        qualified = ".".join(_quote(p) for p in (schema_name, table_name) if p)
        if not found:
            raise GateInfrastructureError(f"table {qualified} not found in {database_path}")
        if row_filter:
            try:
                con.execute(f"DESCRIBE SELECT * FROM {qualified} WHERE {row_filter}")
            except duckdb.Error as exc:
                raise GateInfrastructureError(f"invalid row_filter {row_filter!r}: {exc}") from exc
        where = f" WHERE {row_filter}" if row_filter else ""
        return con.execute(f"SELECT count(*) FROM {qualified}{where}").fetchone()[0]
    finally:
        con.close()


def _context(data_docs_dir: Path | None):
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    from dagster_project.lib import gx_data_docs_views

    defaults = InMemoryStoreBackendDefaults(init_temp_docs_sites=False)
    stores = dict(defaults.stores)
    sites: dict[str, Any] = {}
    if data_docs_dir is not None:
        stores[defaults.validation_results_store_name] = {
            "class_name": "ValidationResultsStore",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(data_docs_dir / "validations"),
            },
        }
        sites[DATA_DOCS_SITE_NAME] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(data_docs_dir / DATA_DOCS_SITE_NAME),
            },
            "site_index_builder": {
                "class_name": "DefaultSiteIndexBuilder",
                "view": gx_data_docs_views.view_config(index=True),
                "validation_results_limit": DATA_DOCS_INDEX_LIMIT,
            },
            # templates compiled once per process (gx_data_docs_views)
            "site_section_builders": {
                section: {"view": gx_data_docs_views.view_config()}
                for section in ("expectations", "validations", "profiling")
            },
        }
    config = DataContextConfig(
        store_backend_defaults=defaults,
        stores=stores,
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _release(datasource) -> None:
    """Close every connection GX opened on the DuckDB file."""
    execution_engine = getattr(datasource, "_execution_engine", None)
    if execution_engine is not None:
        connection = getattr(execution_engine, "_connection", None)
        if connection is not None:
            connection.close()
        execution_engine.close()  # disposes its SQLAlchemy engine
    engine = getattr(datasource, "_engine", None)
    if engine is not None:
        engine.dispose()


def _raised(exception_info: Any) -> str | None:
    """The message of an exception GX caught while computing an expectation, if any."""
    if not exception_info:
        return None
    infos = [exception_info]
    if "raised_exception" not in exception_info:  # keyed by metric id
        infos = [v for v in exception_info.values() if isinstance(v, Mapping)]
    for info in infos:
        if info.get("raised_exception"):
            return str(info.get("exception_message") or "unknown error")
    return None


def run_suite(
    database_path: str | Path,
    table: str,
    suite_name: str,
    expectations: ExpectationSuite | Sequence[Expectation] | None = None,
    *,
    parameters: Mapping[str, Any] | None = None,
    pii_columns: Iterable[str] = (),
    sample_limit: int = DEFAULT_SAMPLE_LIMIT,
    data_docs_dir: str | Path | bool | None = None,
    row_filter: str | None = None,
    index_columns: Sequence[str] = (),
) -> GateResult:
    """Validate ``table`` (``schema.table``) of the DuckDB file at ``database_path``.

    Args:
        suite_name: name of the suite; loaded from ``expectations/expectations/<name>.json``
            when ``expectations`` is None.
        expectations: a suite or a list of GX expectation objects to run instead.
        parameters: values of the suite's ``{"$PARAMETER": name}`` placeholders.
        pii_columns: columns whose sample values are masked, on top of the personal columns
            ``schema.py`` declares for ``raw.<source>`` tables.
        sample_limit: how many unexpected values to report per expectation.
        data_docs_dir: build GX Data Docs there (``True``: ``expectations/uncommitted/
            data_docs``); the result's ``data_docs_path`` is the site's ``index.html``.
        row_filter: SQL condition; only rows satisfying it are validated (a query asset).
            Trusted pipeline code only: it is pasted into the query.
        index_columns: columns identifying a row (key, source file): when the suite fails,
            each failing column expectation also returns them for its sample rows
            (``ExpectationOutcome.sample_rows``), so the caller can say where they come from.

    Raises:
        GateInfrastructureError: no verdict could be reached (see module docstring).
    """
    started = time.perf_counter()
    database_path = Path(database_path)
    if not database_path.is_file():
        raise GateInfrastructureError(f"DuckDB file {database_path} does not exist")
    schema_name, table_name = _split_table(table)
    suite = _as_suite(suite_name, expectations)
    parameters = dict(parameters or {})
    missing = suite_parameter_names(suite) - parameters.keys()
    if missing:
        raise GateInfrastructureError(
            f"suite {suite_name!r} needs parameter(s) {sorted(missing)}: pass them in parameters="
        )
    docs_dir: Path | None
    if data_docs_dir is True:
        docs_dir = default_data_docs_dir()
    elif data_docs_dir:
        docs_dir = Path(data_docs_dir)
    else:
        docs_dir = None
    masked = set(pii_columns) | pii_columns_for(table)

    rows_validated = _preflight(database_path, schema_name, table_name, row_filter)
    gx_duckdb_compat.apply()
    import great_expectations as gx
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    datasource = None
    try:
        context = _context(docs_dir)
        datasource = context.data_sources.add_sql(
            name="duckdb",
            connection_string=gx_duckdb_compat.duckdb_url(database_path.resolve()),
            kwargs=gx_duckdb_compat.read_only_engine_kwargs(settings.duckdb_config()),
        )
        asset_name = table.replace(".", "__")
        if row_filter:
            qualified = ".".join(_quote(p) for p in (schema_name, table_name) if p)
            asset = datasource.add_query_asset(
                name=asset_name, query=f"SELECT * FROM {qualified} WHERE {row_filter}"
            )
        else:
            with warnings.catch_warnings():
                # schema_name is deprecated in favour of a per-datasource schema; one
                # datasource per run makes that equivalent, but the argument still works.
                warnings.simplefilter("ignore", DeprecationWarning)
                asset = datasource.add_table_asset(
                    name=asset_name, table_name=table_name, schema_name=schema_name
                )
        batch_definition = asset.add_batch_definition_whole_table("all")
        suite = context.suites.add(suite)
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(
                name=f"{suite_name}:{table}", data=batch_definition, suite=suite
            )
        )
        # A pass needs only the verdicts: BOOLEAN_ONLY skips the per-expectation queries for
        # unexpected samples (a full scan each when nothing is wrong, a third of the time on
        # 50 M rows). Only when something failed is the suite run again for counts and samples.
        result = validation.run(
            expectation_parameters=parameters or None,
            result_format={"result_format": "BOOLEAN_ONLY"},
        )
        if not result.success:
            result_format: dict[str, Any] = {
                "result_format": "BASIC",
                "partial_unexpected_count": sample_limit,
            }
            if index_columns:
                # SUMMARY: BASIC's samples, with the index columns of their rows
                result_format |= {
                    "result_format": "SUMMARY",
                    "unexpected_index_column_names": list(index_columns),
                }
            result = validation.run(
                expectation_parameters=parameters or None, result_format=result_format
            )
        outcomes = [_outcome(r, masked, sample_limit, index_columns) for r in result.results]
        docs_path = None
        if docs_dir is not None:
            stored_keys = _stored_result_keys(context, result)
            _mask_stored_result(context, result, masked, stored_keys)
            # only this run's pages (and the index): by default GX renders a page again for
            # every validation result in the store, so each gate would cost more every day
            sites = context.build_data_docs(
                site_names=[DATA_DOCS_SITE_NAME],
                resource_identifiers=[
                    *stored_keys,
                    ExpectationSuiteIdentifier(name=result.suite_name),
                ],
            )
            docs_path = docs_dir / DATA_DOCS_SITE_NAME / "index.html"
            logger.debug("data docs built: %s", sites)
    except GateInfrastructureError:
        raise
    except Exception as exc:
        raise GateInfrastructureError(
            f"gate {suite_name!r} on {table} in {database_path} could not run: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    finally:
        if datasource is not None:
            _release(datasource)

    return GateResult(
        suite_name=suite_name,
        table=table,
        success=bool(result.success),
        expectations=tuple(outcomes),
        elapsed_seconds=round(time.perf_counter() - started, 3),
        row_filter=row_filter,
        parameters=parameters,
        data_docs_path=docs_path,
        rows_validated=rows_validated,
    )


def _stored_result_keys(context, result) -> list:
    """The store keys of ``result`` (this suite, this run) in the validation results store."""
    run_id = result.meta["run_id"]
    return [
        key
        for key in context.validation_results_store.list_keys()
        if key.expectation_suite_identifier.name == result.suite_name
        and key.run_id.to_tuple() == run_id.to_tuple()
    ]


def _mask_stored_result(context, result, masked_columns: set[str], stored_keys: list) -> None:
    """Mask personal values in the stored validation result that Data Docs render: files
    under ``uncommitted/`` are out of reach of the pipeline's erasure."""
    changed = False
    for r in result.results:
        details = r.result
        if not details:
            continue
        personal = r.expectation_config.kwargs.get("column") in masked_columns

        def masked(value: Any, personal: bool = personal) -> Any:
            nonlocal changed
            if personal or looks_personal(value):
                changed = True
                return mask_value(value)
            return value

        for key in ("partial_unexpected_list", "unexpected_list"):
            if details.get(key):
                details[key] = [masked(v) for v in details[key]]
        column = r.expectation_config.kwargs.get("column")
        for key in ("partial_unexpected_index_list", "unexpected_index_list"):
            if details.get(key):  # the index columns, and the checked value under its column
                details[key] = [
                    {k: masked(v) if k == column else v for k, v in row.items()}
                    if isinstance(row, Mapping)
                    else row
                    for row in details[key]
                ]
        if details.get("partial_unexpected_counts"):
            details["partial_unexpected_counts"] = [
                {**c, "value": masked(c.get("value"))} for c in details["partial_unexpected_counts"]
            ]
        observed = details.get("observed_value")
        if observed is not None and personal:
            details["observed_value"] = (
                None if isinstance(observed, Mapping | list) else mask_value(observed)
            )
            changed = True
        elif observed is not None and not isinstance(observed, Mapping | list):
            details["observed_value"] = masked(observed)
    if not changed:
        return
    for key in stored_keys:
        context.validation_results_store.set(key, result)


def _outcome(
    r, masked_columns: set[str], sample_limit: int, index_columns: Sequence[str] = ()
) -> ExpectationOutcome:
    config = r.expectation_config
    kwargs = dict(config.kwargs)
    column = kwargs.get("column")
    error = _raised(r.exception_info)
    if error is not None:
        raise GateInfrastructureError(
            f"{config.type}({_short(column) if column else ''}) could not be computed: {error}"
        )
    details = r.result or {}
    personal = column in masked_columns

    def shown(value: Any) -> Any:
        return mask_value(value) if personal or looks_personal(value) else _plain(value)

    samples = tuple(shown(v) for v in (details.get("partial_unexpected_list") or [])[:sample_limit])
    rows = tuple(
        {c: _plain(row.get(c)) for c in index_columns if not (c == column and personal)}
        for row in (details.get("partial_unexpected_index_list") or [])[:sample_limit]
        if isinstance(row, Mapping)
    )
    observed = details.get("observed_value")
    percent = details.get("unexpected_percent")
    return ExpectationOutcome(
        expectation_type=config.type,
        column=column,
        kwargs={k: _plain(v) for k, v in kwargs.items() if k not in _NOISE_KWARGS},
        success=bool(r.success),
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=None if percent is None or math.isnan(percent) else float(percent),
        element_count=details.get("element_count"),
        observed_value=shown(observed) if not isinstance(observed, Mapping | list) else None,
        sample_unexpected=samples,
        sample_rows=rows,
    )


# --- formatting -----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON-friendly version of a value GX returned."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return value


def _short(value: Any, limit: int = 6) -> str:
    if isinstance(value, Mapping) and "$PARAMETER" in value:
        return f"${value['$PARAMETER']}"
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        shown = ", ".join(_short(v) for v in items[:limit])
        more = f", … +{len(items) - limit}" if len(items) > limit else ""
        return f"[{shown}{more}]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")

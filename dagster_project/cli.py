"""Command line used by the Makefile: ``python -m dagster_project.cli <command>``.

``run`` executes the same Definitions the UI loads, through Dagster, recording the run in the
Dagster instance of ``DAGSTER_HOME`` (so ``make dev`` shows it), then prints a summary.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from dagster_project import settings

LAYERS = ("raw", "staging", "intermediate", "predictions", "marts")


def _landing_is_empty(landing: Path) -> bool:
    return not landing.exists() or not any(p.is_file() for p in landing.rglob("*"))


def demo_data(contacts: int, seed: int, force: bool = False) -> bool:
    """Generate the demo dataset into the landing folder when it is empty. True if generated."""
    landing = settings.landing_dir()
    if not force and not _landing_is_empty(landing):
        return False
    from dagster_project.generate import generate

    # the history ends yesterday (23:59:59 UTC, the generator's default): nothing is in the
    # future when the gates run
    counts = generate(landing, contacts=contacts, seed=seed, fmt="parquet")
    _out(f"demo data generated into {landing} (seed {seed}):")
    for source, rows in counts.items():
        _out(f"  {source:<18} {rows:>12,} rows")
    return True


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _out_now(line: str) -> None:
    """A line written at once (from the run guard's thread, while the run goes on)."""
    _out(line)
    sys.stdout.flush()


def summary() -> None:
    """Rows per table and layer, read from the warehouse (read-only)."""
    import duckdb

    path = settings.warehouse_path()
    if not path.exists():
        _out(f"no warehouse at {path}")
        return
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where database_name = current_database() and not internal "
            "union all select schema_name, view_name from duckdb_views() "
            "where database_name = current_database() and not internal "
            "order by 1, 2"
        ).fetchall()
        _out()
        _out(f"{'layer':<14}{'table':<44}{'rows':>14}")
        for schema, table in tables:
            if schema not in LAYERS or table.startswith("_"):
                continue
            rows = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
            _out(f"{schema:<14}{table:<44}{rows:>14,}")
    finally:
        con.close()
    _out()
    _out(f"warehouse: {path}")
    _out(f"exports:   {settings.exports_dir()}")
    _out(f"serving:   {settings.serving_dir()}  (read-only copies for BI tools)")
    _out("UI:        make dev, then open http://127.0.0.1:3000")


def run(args: argparse.Namespace) -> int:
    import dagster as dg

    from dagster_project.lib import local_runs

    settings.export_warehouse_env()
    if not args.no_demo:
        demo_data(args.demo_contacts, args.seed)
    from dagster_project.definitions import defs
    from dagster_project.defs.pipeline import DAILY_JOB_NAME

    instance = dg.DagsterInstance.get() if _has_dagster_home() else dg.DagsterInstance.ephemeral()
    # runs left in progress by a `make run` that was killed hold the warehouse's pool slot
    for line in local_runs.recover_dead_runs(instance):
        _out(line)
    job = defs.resolve_job_def(DAILY_JOB_NAME)
    selection = None
    if args.select:
        selection = _asset_selection(defs, job, args.select)
        if not selection:
            _out(f"--select {args.select!r} selects no asset of the job {DAILY_JOB_NAME}")
            return 2
    with local_runs.RunGuard(instance, _out_now) as guard:
        try:
            return _execute(job, instance, guard, selection)
        except KeyboardInterrupt:  # a signal between runs (during a run, Dagster handles it)
            guard.sync()
            signum = guard.signum or signal.SIGINT
            _out(f"stopped by {signal.Signals(signum).name}")
            return 128 + signum


# dbt's line per node that went well (dagster-dbt echoes dbt's log to stdout): ~580 lines of a
# `make run`, kept in a file; warnings, errors, failures, skips and the totals stay on screen
_DBT_PROGRESS = re.compile(r"^\s*\d+ of \d+ (START|OK|PASS)\b")
DBT_VERBOSE_ENV = "REVEIL_DBT_VERBOSE"


class DbtProgressFilter(io.TextIOBase):
    """A stdout that writes every line to ``log`` and shows the others than dbt's progress
    lines (``n of N START|OK|PASS …``); the first one kept off screen says where they are."""

    def __init__(self, screen, log: Path):
        self.screen, self.log = screen, log
        self._buffer = ""
        self._lock = threading.Lock()
        self._file = None
        self.hidden = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._buffer += text
            *lines, self._buffer = self._buffer.split("\n")
            for line in lines:
                self._line(line)
        return len(text)

    def _line(self, line: str) -> None:
        if self._file is None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.log.open("w", encoding="utf-8")
        self._file.write(line + "\n")
        if _DBT_PROGRESS.match(line):
            if not self.hidden:
                self.screen.write(
                    f"(dbt's progress per model and test: {self.log}; "
                    f"{DBT_VERBOSE_ENV}=1 shows it here)\n"
                )
            self.hidden += 1
            return
        self.screen.write(line + "\n")

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()
            self.screen.flush()

    def close(self) -> None:
        with self._lock:
            if self._buffer:
                self._line(self._buffer)
                self._buffer = ""
            if self._file is not None:
                self._file.close()
                self._file = None
        self.screen.flush()


@contextlib.contextmanager
def _quiet_dbt_progress():
    if os.environ.get(DBT_VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes"):
        yield
        return
    log = settings.data_dir() / "logs" / "dbt_progress.log"
    stream = DbtProgressFilter(sys.stdout, log)
    try:
        with contextlib.redirect_stdout(stream):
            yield
    finally:
        stream.close()


def _execute(job, instance, guard, selection) -> int:
    started = datetime.now(UTC)
    log_level = os.environ.get("REVEIL_LOG_LEVEL", "INFO")
    with _quiet_dbt_progress():
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            asset_selection=selection,
            tags=guard.tags,  # the process that runs it, for recover_dead_runs
        )
    elapsed = (datetime.now(UTC) - started).total_seconds()
    _out()
    if not result.success:
        guard.sync()
        _out(f"run {result.run_id} FAILED after {elapsed:.1f} s:")
        for line in failure_lines(result):
            _out(line)
        for line in publication_lines(materializations(instance, result.run_id)):
            _out(line)
        if guard.signum is not None:
            _out(f"stopped by {signal.Signals(guard.signum).name}")
            return 128 + guard.signum
        return 1
    _out(f"run {result.run_id} succeeded in {elapsed:.1f} s")
    # the purge of today's batch, as a DRY RUN: the list to review, nothing deleted
    from dagster_project.defs.purge import run_purge_dry_run

    if PURGE_CANDIDATES_KEY in materializations(instance, result.run_id):
        for line in run_purge_dry_run(instance, tags=guard.tags):
            _out(line)
    summary()
    from dagster_project.defs.report import report_lines

    for line in report_lines(result):
        _out(line)
    return 0


def _asset_selection(defs, job, text: str) -> list:
    """The assets of the job that a Dagster selection string (``group:ingestion``,
    ``key:publish_raw+``...) selects."""
    import warnings

    import dagster as dg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        keys = dg.AssetSelection.from_string(text).resolve(defs.resolve_asset_graph())
    return sorted(keys & set(job.asset_layer.executable_asset_keys))


PURGE_CANDIDATES_KEY = ("marts", "purge_candidates")
SERVING_KEY = ("serving", "marts")
DBT_LAYERS = ("seeds", "staging", "intermediate", "marts")


def materializations(instance, run_id: str) -> dict[tuple[str, ...], dict]:
    """Asset key path -> metadata of each asset the run materialised, from the event log (the
    in-process result leaves out those of a step that failed after yielding them)."""
    import dagster as dg

    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=100_000
    ).records
    return {
        tuple(record.asset_key.path): dict(record.asset_materialization.metadata)
        for record in records
    }


def publication_lines(materialized: dict[tuple[str, ...], dict]) -> list[str]:
    """What a run that did not succeed changed, from the assets it materialised: raw published
    or not, dbt models rebuilt, other outputs written, marts served to BI or not.
    ``staged/<source>`` is not a publication (write-audit-publish scratch tables)."""
    written = [key for key in materialized if key[0] != "staged"]
    if not written:
        return ["Nothing was published: raw, the dbt models and the served marts are as they were."]
    raw = [meta for key, meta in materialized.items() if key[0] == "raw"]
    rebuilt = sum(1 for key in written if key[0] in DBT_LAYERS)
    others = sorted("/".join(k) for k in written if k[0] not in ("raw", "serving", *DBT_LAYERS))
    lines = ["What this run changed before it stopped:"]
    inserted = sum(_int(meta.get("rows_inserted")) for meta in raw)
    replaced = sum(_int(meta.get("rows_replaced")) for meta in raw)
    if inserted or replaced:
        lines.append(f"  raw: published ({inserted:,} rows inserted, {replaced:,} replaced)")
    else:
        lines.append("  raw: unchanged" + (" (no new rows to publish)" if raw else ""))
    if rebuilt:
        lines.append(
            f"  dbt: {rebuilt} models and seeds rebuilt in the warehouse, the others unchanged"
        )
    else:
        lines.append("  dbt: no model rebuilt")
    if others:
        lines.append(f"  also written: {', '.join(others)}")
    if SERVING_KEY in materialized:
        lines.append("  served marts: published (BI tools see this run's marts)")
    else:
        lines.append("  served marts: unchanged (BI tools still see the previous publication)")
    return lines


def _int(value) -> int:
    value = getattr(value, "value", value)
    return int(value) if isinstance(value, int | float) else 0


def failure_lines(result) -> list[str]:
    """What stopped a run: each failed step with its error, each failed gate with the
    expectations that failed (the check's description, e.g. "landing_orders: 1 of 12
    expectations failed on staged.orders: expect_column_values_to_not_be_null(amount)").
    Steps that failed with the same message share one line (e.g. every step that found the
    warehouse held by another process)."""
    entries: list[tuple[list[str], str] | str] = []
    steps_by_message: dict[str, list[str]] = {}
    for event in result.all_events:
        if event.is_step_failure:
            message = _step_failure_message(event.step_failure_data)
            if message in steps_by_message:
                steps_by_message[message].append(event.step_key)
            else:
                steps_by_message[message] = [event.step_key]
                entries.append((steps_by_message[message], message))
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                entries.append(f"  gate failed: {evaluation.asset_check_key.to_user_string()}")
                if evaluation.description:
                    entries.append(f"    {evaluation.description}")
    lines = []
    for entry in entries:
        if isinstance(entry, str):
            lines.append(entry)
        else:
            steps, message = entry
            lines.append(f"  step{'s' if len(steps) > 1 else ''} {', '.join(steps)}: {message}")
    return lines


def _step_failure_message(data) -> str:
    """A failed step's description (``dg.Failure``), else the line saying that another
    process holds the warehouse if that is the error or one of its causes, else the error."""
    if data is None:
        return ""
    if data.user_failure_data and data.user_failure_data.description:
        return data.user_failure_data.description.strip()
    if data.error is None:
        return ""
    from dagster_project.lib import warehouse_lock

    error = data.error
    while error is not None:  # Dagster's "Error occurred while executing op", its causes
        if error.cls_name == warehouse_lock.WarehouseInUseError.__name__:
            return error.message.split(": ", 1)[-1].strip()
        plain = warehouse_lock.in_use_message(error.message)
        if plain:
            return plain
        error = error.cause or error.context
    return data.error.message.strip()


def _has_dagster_home() -> bool:
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return False
    Path(home).mkdir(parents=True, exist_ok=True)
    return True


def rollback(args: argparse.Namespace) -> int:
    """Serve an earlier published version to BI tools again (atomic file swap)."""
    from dagster_project.lib import serving

    folder = settings.serving_dir()
    if args.list:
        current = serving.current_version(folder)
        for version in serving.list_versions(folder):
            mark = "*" if version.version_id == current else " "
            _out(f"{mark} {version.version_id}  {version.size_bytes:>14,} bytes")
        _out(f"(* = served now from {serving.current_path(folder)})")
        return 0
    try:
        version = serving.rollback(folder, to_version=args.to)
    except serving.ServingError as exc:
        _out(f"rollback failed: {exc}")
        return 1
    _out(f"now serving {version.version_id} at {serving.current_path(folder)}")
    _out("BI connections opened before keep their snapshot until they reconnect.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dagster_project.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="generate demo data if needed and run the daily job")
    p_run.add_argument("--demo-contacts", type=int, default=2000)
    p_run.add_argument("--seed", type=int, default=42)
    p_run.add_argument("--no-demo", action="store_true", help="never generate demo data")
    p_run.add_argument(
        "--select",
        metavar="SELECTION",
        help="only these assets of the daily job, a Dagster selection (e.g. 'group:ingestion')",
    )
    p_demo = sub.add_parser("demo-data", help="generate the demo dataset into the landing folder")
    p_demo.add_argument("--contacts", type=int, default=2000)
    p_demo.add_argument("--seed", type=int, default=42)
    p_demo.add_argument("--force", action="store_true", help="even if the folder is not empty")
    sub.add_parser("summary", help="rows per table and layer")
    p_rollback = sub.add_parser("rollback", help="serve the previous published marts to BI again")
    p_rollback.add_argument("--to", metavar="VERSION", help="a version id (see --list)")
    p_rollback.add_argument("--list", action="store_true", help="list the kept versions")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args)
    if args.command == "demo-data":
        if not demo_data(args.contacts, args.seed, force=args.force):
            _out(f"{settings.landing_dir()} is not empty: nothing generated (use --force)")
        return 0
    if args.command == "summary":
        summary()
        return 0
    if args.command == "rollback":
        return rollback(args)
    return 2


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is written and every connection closed by now. Skip the interpreter teardown,
    # where DuckDB 2.0's bindings print dozens of harmless "nanobind: leaked ..." lines under
    # the summary (STACK.md trap 12).
    os._exit(code)

"""A BI-like reader of the serving database, run as a separate process by the tests.

    python tests/defs/serving_reader.py <serving db> --duration 5 --output result.json
        [--schema marts] [--marker-column batch] [--ready-file path] [--stop-file path]

For ``--duration`` seconds it opens the serving file read-only, runs ONE query and closes it,
again and again, the way a BI tool that reconnects would. Each query counts the rows of every
table of ``--schema`` and reads ``meta.publication`` in the same statement, so it can tell a
file that mixes two publications: the counted rows must equal the counts recorded by the
publication, and ``meta.publication`` must hold one version id. With ``--marker-column`` every
table must also hold one single value of that column (tests write the same marker into every
table of a publication). Beside it, one connection opened at the start (``ATTACH ...
READ_ONLY`` on an in-memory connection, like a BI tool that never reconnects) must keep
seeing the version it opened with.

Nothing is raised: every error is recorded. The JSON written to ``--output``::

    {"queries": n, "errors": [...], "mixed": [...], "versions_seen": [...],
     "snapshot_version": v, "snapshot_changed": [...], "snapshot_errors": [...],
     "max_open_seconds": s, "max_query_seconds": s, "elapsed_seconds": s}
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import duckdb


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _consistency_query(
    con: duckdb.DuckDBPyConnection, catalog: str, schema: str, marker: str | None
) -> tuple[str, list[str]]:
    tables = [
        row[0]
        for row in con.execute(
            "select table_name from duckdb_tables() where database_name = ? and schema_name = ? "
            "order by 1",
            [catalog, schema],
        ).fetchall()
    ]
    parts = []
    for table in tables:
        ref = f"{_ident(catalog)}.{_ident(schema)}.{_ident(table)}"
        parts.append(f"(select count(*) from {ref})")
        if marker:
            parts.append(f"(select list(distinct {_ident(marker)}) from {ref})")
    publication = f"{_ident(catalog)}.meta.publication"
    parts.append(f"(select list(distinct version_id) from {publication})")
    parts.append(
        f"(select map(list(table_name), list(row_count)) from {publication} "
        f"where schema_name = '{schema}')"
    )
    return "select " + ", ".join(parts), tables


def check(
    con: duckdb.DuckDBPyConnection, catalog: str, schema: str, marker: str | None
) -> tuple[str | None, list[str]]:
    """(version id, problems) of what ``con`` sees, in one statement."""
    sql, tables = _consistency_query(con, catalog, schema, marker)
    row = list(con.execute(sql).fetchone())
    recorded = row.pop()
    versions = row.pop()
    problems = []
    if len(versions) != 1:
        problems.append(f"meta.publication holds {len(versions)} version ids: {versions}")
    markers = set()
    for table in tables:
        counted = row.pop(0)
        if recorded.get(table) != counted:
            problems.append(f"{table}: {counted} rows, publication recorded {recorded.get(table)}")
        if marker:
            values = row.pop(0)
            markers.update(values)
            if len(values) != 1:
                problems.append(f"{table}: {marker} values {values}")
    if marker and len(markers) > 1:
        problems.append(f"tables disagree on {marker}: {sorted(markers)}")
    if set(recorded) != set(tables):
        problems.append(f"tables {tables} but publication lists {sorted(recorded)}")
    return (versions[0] if versions else None), problems


def run(
    db: Path,
    duration: float,
    schema: str = "marts",
    marker: str | None = None,
    ready_file: Path | None = None,
    stop_file: Path | None = None,
) -> dict:
    result: dict = {
        "queries": 0,
        "errors": [],
        "mixed": [],
        "versions_seen": [],
        "snapshot_version": None,
        "snapshot_changed": [],
        "snapshot_errors": [],
        "max_open_seconds": 0.0,
        "max_query_seconds": 0.0,
    }
    started = time.monotonic()
    snapshot = duckdb.connect()
    snapshot.execute(f"attach '{db}' as snapshot (read_only)")
    result["snapshot_version"], _ = check(snapshot, "snapshot", schema, marker)
    if ready_file:
        ready_file.write_text("ready")
    while time.monotonic() - started < duration and not (stop_file and stop_file.exists()):
        t0 = time.monotonic()
        try:
            con = duckdb.connect(str(db), read_only=True)
        except Exception as exc:  # noqa: BLE001 - every failure is a finding
            result["errors"].append(f"open: {type(exc).__name__}: {exc}")
            continue
        t1 = time.monotonic()
        try:
            catalog = con.execute("select current_database()").fetchone()[0]
            version, problems = check(con, catalog, schema, marker)
            result["queries"] += 1
            if version not in result["versions_seen"]:
                result["versions_seen"].append(version)
            if problems:
                result["mixed"].append({"version": version, "problems": problems})
        except Exception as exc:  # noqa: BLE001
            result["errors"].append(f"query: {type(exc).__name__}: {exc}")
        finally:
            con.close()
        result["max_open_seconds"] = max(result["max_open_seconds"], t1 - t0)
        result["max_query_seconds"] = max(result["max_query_seconds"], time.monotonic() - t1)
        try:
            version, problems = check(snapshot, "snapshot", schema, marker)
            if version != result["snapshot_version"] or problems:
                result["snapshot_changed"].append({"version": version, "problems": problems})
        except Exception as exc:  # noqa: BLE001
            result["snapshot_errors"].append(f"{type(exc).__name__}: {exc}")
    snapshot.close()
    result["elapsed_seconds"] = time.monotonic() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--schema", default="marts")
    parser.add_argument("--marker-column")
    parser.add_argument("--ready-file", type=Path)
    parser.add_argument("--stop-file", type=Path, help="stop early once this file exists")
    args = parser.parse_args(argv)
    result = run(
        args.db, args.duration, args.schema, args.marker_column, args.ready_file, args.stop_file
    )
    args.output.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

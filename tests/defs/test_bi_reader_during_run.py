"""A BI reader querying the serving database in a loop during a full pipeline run; then a
real purge, after which no file the pipeline wrote holds a purged email.

Real processes: the pipeline is ``python -m dagster_project.cli run`` (what ``make run``
does), the reader is ``tests/defs/serving_reader.py``. The reader must never error (no lock
error, no torn file) and never see two publications mixed in one query; the pipeline must
never fail because of the reader.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dagster_project.generate import generate, generate_day

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
READER = ROOT / "tests" / "defs" / "serving_reader.py"


def _pipeline(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", "run", "--no-demo"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_reader_during_a_full_pipeline_run(tmp_path, reveil_env, dagster_home):
    # the instance make run uses: the project's dagster.yaml (pool, event log storage)
    env = {**os.environ, "REVEIL_LOG_LEVEL": "WARNING", "DAGSTER_HOME": str(dagster_home)}
    landing = reveil_env / "landing"
    yesterday = datetime.now(UTC).date() - timedelta(days=2)
    generate(landing, contacts=400, seed=11, as_of=yesterday)

    first = _pipeline(env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    served = reveil_env / "serving" / "reveil.duckdb"
    assert served.exists()

    # a new day of data, so the second run publishes a new version while the reader reads
    generate_day(landing, yesterday + timedelta(days=1), contacts=400, seed=11, as_of=yesterday)
    out, ready, stop = tmp_path / "reader.json", tmp_path / "ready", tmp_path / "stop"
    reader = subprocess.Popen(
        [
            sys.executable,
            str(READER),
            str(served),
            "--duration",
            "900",
            "--output",
            str(out),
            "--ready-file",
            str(ready),
            "--stop-file",
            str(stop),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(300):
            if ready.exists() or reader.poll() is not None:
                break
            __import__("time").sleep(0.1)
        second = _pipeline(env)
        __import__("time").sleep(1.0)  # a few more queries on the new version
    finally:
        stop.write_text("stop")
        _, stderr = reader.communicate(timeout=60)
    assert reader.returncode == 0, stderr.decode()[-2000:]
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["errors"] == []
    assert result["mixed"] == []
    assert result["snapshot_errors"] == [] and result["snapshot_changed"] == []
    assert result["queries"] > 10
    assert len(result["versions_seen"]) >= 2  # it saw the publication of the second run

    _purge_leaves_no_bytes_behind(reveil_env, dagster_home)


def _files_containing(roots: list[Path], needles: list[bytes], skip: list[Path]) -> dict:
    """Files holding one of the emails as a whole address (i.morin@x is not remi.morin@x)."""
    import re

    patterns = [
        (n, re.compile(rb"(?<![A-Za-z0-9._%+-])" + re.escape(n) + rb"(?![A-Za-z0-9._-])"))
        for n in needles
    ]
    hits: dict[str, list[str]] = {}
    for root in roots:
        for path in root.rglob("*"):
            if not path.is_file() or any(path.is_relative_to(s) for s in skip):
                continue
            data = path.read_bytes()
            found = [n.decode() for n, pattern in patterns if n in data and pattern.search(data)]
            if found:
                hits[str(path)] = found[:3]
    return hits


def _purge_leaves_no_bytes_behind(data: Path, dagster_home: Path) -> None:
    """A real purge through Dagster, then a byte search of every file the project wrote."""
    import dagster as dg

    from dagster_project.definitions import defs

    result = defs.resolve_job_def("purge_job").execute_in_process(
        run_config={"ops": {"purge_batch": {"config": {"dry_run": False}}}},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    lists = sorted((data / "exports" / "purge").glob("*.csv"))
    purge_list = [p for p in lists if not p.name.endswith("_dry_run.csv")]
    assert purge_list, lists
    emails = [
        line.split(",")[0].encode()
        for line in purge_list[0].read_text().splitlines()[1:]
        if line.strip()
    ]
    assert len(emails) > 5
    # the search finds plain occurrences (the lists hold them; compressed storage may not
    # show them verbatim: tests/lib/test_purge.py proves a warehouse file holds deleted bytes
    # until it is rewritten)
    assert _files_containing([data / "exports" / "purge"], emails, skip=[])
    # everything reveil wrote: warehouse, serving versions, reports, quality docs, other
    # exports, spill files, Dagster's run history. The purge list itself is the one deliberate
    # exception: it is the hand-off for the email platform's suppression import.
    hits = _files_containing(
        [data, dagster_home], emails, skip=[data / "landing", data / "exports" / "purge"]
    )
    assert hits == {}

"""Another process holding the warehouse file (a BI tool pointed at it, a leftover): DuckDB's
lock error becomes one plain line naming the process and where BI tools must connect."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

from dagster_project import settings
from dagster_project.lib import warehouse_lock


def hold(path, read_only: bool) -> subprocess.Popen:
    """A second process that opens ``path`` and keeps it open (until killed)."""
    code = (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect(sys.argv[1], read_only={read_only})\n"
        "print('holding', flush=True)\n"
        "time.sleep(600)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline() == "holding\n"
    return holder


@pytest.fixture
def warehouse(reveil_env):
    path = settings.warehouse_path()
    path.parent.mkdir(parents=True)
    duckdb.connect(str(path)).close()
    return path


@pytest.mark.parametrize("read_only", [True, False], ids=["read-only", "read-write"])
def test_a_warehouse_held_by_another_process_is_said_plainly(warehouse, read_only):
    holder = hold(warehouse, read_only)
    try:
        with pytest.raises(warehouse_lock.WarehouseInUseError) as raised:
            warehouse_lock.connect(warehouse)
        with pytest.raises(warehouse_lock.WarehouseInUseError):
            warehouse_lock.check_writable(warehouse)
        if not read_only:  # a writer locks readers out too
            with pytest.raises(warehouse_lock.WarehouseInUseError):
                warehouse_lock.connect(warehouse, read_only=True)
    finally:
        holder.kill()
        holder.wait()
    served = settings.serving_dir() / "reveil.duckdb"
    message = str(raised.value)
    # the process's command line (shortened to 160 characters)
    assert message.startswith(
        f"the warehouse {warehouse} is in use by process {holder.pid} ({sys.executable} -c "
        "import duckdb, sys, time con = duckdb.connect(sys.argv[1], read_only="
    )
    assert message.endswith(
        "…), which holds its lock: a run needs the file to itself. A BI tool must open the "
        f'served copy {served} instead (README, "Connect a BI tool").'
    )
    assert isinstance(raised.value, duckdb.IOException)  # lib.purge.open_with_retry waits
    assert "lock" in str(raised.value)
    warehouse_lock.check_writable(warehouse)  # released


def test_other_errors_and_other_files_are_left_as_they_are(warehouse, tmp_path):
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    holder = hold(other, read_only=False)
    try:
        with pytest.raises(duckdb.IOException) as raised:
            warehouse_lock.connect(other)
    finally:
        holder.kill()
        holder.wait()
    assert not isinstance(raised.value, warehouse_lock.WarehouseInUseError)
    assert "Could not set lock" in str(raised.value)
    assert warehouse_lock.in_use_message("Catalog Error: Table x does not exist") is None
    # a holder that is gone: the executable DuckDB named
    raw = (
        f'IO Error: Could not set lock on file "{warehouse}": Conflicting lock is held in '
        f"/usr/bin/duckdb (PID {holder.pid}). However, you would be able to open…"
    )
    assert f"in use by process {holder.pid} (/usr/bin/duckdb)" in warehouse_lock.in_use_message(raw)

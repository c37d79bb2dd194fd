"""The warehouse file held by another process (STACK.md trap 3), said plainly.

While a process has the DuckDB file open read-write, no other can open it; while one has it
open read-only, none can open it for writing. DuckDB then says
``IO Error: Could not set lock on file "<path>": Conflicting lock is held in <executable>
(PID n)…``, which a run showed as a traceback per step. Where the warehouse is opened, that
error becomes ``WarehouseInUseError``: the process (its command line when readable) and
where BI tools must connect instead (README, "Connect a BI tool"). ``in_use_message`` also
translates the raw error wherever it surfaces (the CLI's summary, steps that open the file
themselves).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psutil

from dagster_project import settings
from dagster_project.lib import serving

LOCK_CONFLICT = re.compile(
    r'Could not set lock on file "(?P<path>[^"]*)": '
    r"Conflicting lock is held in (?P<program>.*?) \(PID (?P<pid>\d+)\)"
)


class WarehouseInUseError(duckdb.IOException):
    """Another process holds the warehouse file. A ``duckdb.IOException`` whose message says
    "lock", so that code waiting for a lock to be released (``lib.purge.open_with_retry``)
    still waits."""


def in_use_message(text: str) -> str | None:
    """One line for DuckDB's lock conflict on the warehouse in ``text``; None when ``text``
    holds none, or one on another file."""
    match = LOCK_CONFLICT.search(text)
    if match is None or not _same_file(match["path"], settings.warehouse_path()):
        return None
    pid = int(match["pid"])
    served = serving.current_path(settings.serving_dir())
    return (
        f"the warehouse {match['path']} is in use by process {pid} "
        f"({_command(pid) or match['program']}), which holds its lock: a run needs the file to "
        f"itself. A BI tool must open the served copy {served} instead "
        '(README, "Connect a BI tool").'
    )


@contextlib.contextmanager
def plain_lock_errors() -> Iterator[None]:
    """Re-raise DuckDB's lock conflict on the warehouse as ``WarehouseInUseError``."""
    try:
        yield
    except duckdb.IOException as error:
        message = None if isinstance(error, WarehouseInUseError) else in_use_message(str(error))
        if message is None:
            raise
        raise WarehouseInUseError(message) from None  # the raw error says nothing more


def connect(
    path: Path | str, *, read_only: bool = False, config: dict | None = None
) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect`` raising ``WarehouseInUseError`` when another process holds the file.
    The connection is a context manager that closes it."""
    with plain_lock_errors():
        return duckdb.connect(str(path), read_only=read_only, config=config or {})


def check_writable(path: Path | str) -> None:
    """Raise ``WarehouseInUseError`` if the warehouse cannot be opened for writing now (before
    a subprocess such as dbt opens it, whose own error would be DuckDB's)."""
    if Path(path).exists():
        connect(path).close()


def _same_file(a: str, b: Path) -> bool:
    try:
        return Path(a).resolve() == b.resolve()
    except OSError:
        return False


def _command(pid: int, limit: int = 160) -> str | None:
    """The command line of process ``pid``, on one line; None when unreadable."""
    try:
        args = psutil.Process(pid).cmdline()
    except psutil.Error:
        return None
    text = " ".join(" ".join(args).split())
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"

"""Resources shared by every domain."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from dagster_project import settings
from dagster_project.lib import warehouse_lock


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse. Same path as dbt's profile: the ``REVEIL_WAREHOUSE`` variable.

    Unlike the stock resource, the connection is always closed (also when the step fails), so
    the next writer — dbt runs in a subprocess — never finds the file locked; the memory
    limit, thread count and spill directory from ``settings`` are applied when it opens; and
    a file held by another process fails with ``WarehouseInUseError`` (which process, where
    BI tools must connect), not DuckDB's lock error.
    """

    @contextmanager
    def get_connection(self):
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        config = {**settings.duckdb_config(), **self.connection_config}
        conn = warehouse_lock.connect(self.database, config=config)
        try:
            conn.execute("set TimeZone = 'UTC'")
            yield conn
        finally:
            conn.close()


def warehouse() -> WarehouseResource:
    """The warehouse resource; its path is read from the environment when a run starts."""
    return WarehouseResource(database=dg.EnvVar("REVEIL_WAREHOUSE"))

"""Resources shared by every domain."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from dagster_project import settings


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse. Same path as dbt's profile: the ``REVEIL_WAREHOUSE`` variable.

    Unlike the stock resource, the connection is always closed (also when the step fails), so
    the next writer — dbt runs in a subprocess — never finds the file locked; and the memory
    limit, thread count and spill directory from ``settings`` are applied when it opens.
    """

    @contextmanager
    def get_connection(self):
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        config = {**settings.duckdb_config(), **self.connection_config}
        conn = duckdb.connect(self.database, config=config)
        try:
            conn.execute("set TimeZone = 'UTC'")
            yield conn
        finally:
            conn.close()


def warehouse() -> WarehouseResource:
    """The warehouse resource; its path is read from the environment when a run starts."""
    return WarehouseResource(database=dg.EnvVar("REVEIL_WAREHOUSE"))

"""The single Dagster entry point: the UI, `make run`, the daemon and the tests load this.

Each domain package under ``dagster_project/defs`` exposes a ``defs`` object; they are merged
here so a new domain is one import and one name in the list.
"""

from __future__ import annotations

import dagster as dg

from dagster_project import settings
from dagster_project.defs import (
    audiences,
    ingestion,
    pipeline,
    predictions,
    purge,
    quality,
    report,
    serving,
)
from dagster_project.defs import dbt as dbt_models

# dbt's profile and the warehouse resource read the same variable; give it its default here.
settings.export_warehouse_env()

defs = dg.Definitions.merge(
    ingestion.defs,
    quality.defs,
    predictions.defs,  # predictions/customer_predictions, after raw, before dbt
    dbt_models.defs,
    serving.build_defs(serving.mart_keys(dbt_models.defs)),
    report.defs,  # report/html_report, after serving/marts
    purge.defs,
    audiences.defs,  # audiences/suppressed_contacts before dbt, audiences/exports after
    pipeline.defs,
    # in-process: the multiprocess executor re-imports the code for every step (STACK.md)
    dg.Definitions(executor=dg.in_process_executor),
)

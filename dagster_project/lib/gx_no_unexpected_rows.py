"""``expect_no_unexpected_rows``: GX's ``unexpected_rows_expectation`` that runs its query once
when the query finds nothing.

GX's ``UnexpectedRowsExpectation`` resolves two metrics from the same query, its row count
(``SELECT COUNT(*) FROM (query)``) and its first rows (the query itself), and DuckDB computes
the whole query for each. The queries of the gates are the heavy ones (the key's repeats, the
events of unknown contacts, … over the whole batch): on the first load of 1 M contacts the
three of the email-event gate ran twice over 53 M rows, ~9 s of its 20 s.

This subclass (GX's documented way to write a custom SQL expectation: subclass
``UnexpectedRowsExpectation``) asks for the count, and for the rows through
``reveil_unexpected_rows_query.sample``, a query metric that depends on the count and returns
no row without querying when the count is 0 — the normal case of a passing gate. A failing
query still runs twice (count, then rows), like GX's. Verdict, observed value, result details
and Data Docs rendering are the parent's.

Importing this module registers both with GX; :func:`gates.load_suite` does it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations.core.unexpected_rows_expectation import (
    UnexpectedRowsExpectation,
)
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.query_metrics.query_table.unexpected_rows_query_table import (  # noqa: E501
    UnexpectedRowsQueryTable,
)
from great_expectations.validator.metric_configuration import MetricConfiguration

from dagster_project.lib.gates import NO_UNEXPECTED_ROWS_TYPE

ROW_COUNT_METRIC = "unexpected_rows_query.row_count"
TABLE_METRIC = "unexpected_rows_query.table"
SAMPLE_METRIC = "reveil_unexpected_rows_query.sample"


class UnexpectedRowsQuerySample(UnexpectedRowsQueryTable):
    """``unexpected_rows_query.table``, but empty without a query when the count is 0."""

    metric_name = SAMPLE_METRIC

    @classmethod
    def _get_evaluation_dependencies(
        cls,
        metric: MetricConfiguration,
        configuration=None,
        execution_engine=None,
        runtime_configuration=None,
    ) -> dict:
        dependencies = dict(
            super()._get_evaluation_dependencies(
                metric=metric,
                configuration=configuration,
                execution_engine=execution_engine,
                runtime_configuration=runtime_configuration,
            )
        )
        # the same metric (name and kwargs) the expectation asks for: GX resolves it once
        dependencies[ROW_COUNT_METRIC] = MetricConfiguration(
            metric_name=ROW_COUNT_METRIC,
            metric_domain_kwargs=metric.metric_domain_kwargs,
            metric_value_kwargs={
                "unexpected_rows_query": metric.metric_value_kwargs["unexpected_rows_query"]
            },
        )
        return dependencies

    @metric_value(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(
        cls,
        execution_engine: SqlAlchemyExecutionEngine,
        metric_domain_kwargs: dict,
        metric_value_kwargs: dict,
        metrics: dict[str, Any],
        runtime_configuration: dict,
    ) -> list[dict]:
        if metrics[ROW_COUNT_METRIC] == 0:
            return []
        # GX calls metric functions with cls= as a keyword (they are not classmethods)
        return UnexpectedRowsQueryTable._sqlalchemy(
            cls=cls,
            execution_engine=execution_engine,
            metric_domain_kwargs=metric_domain_kwargs,
            metric_value_kwargs=metric_value_kwargs,
            metrics=metrics,
            runtime_configuration=runtime_configuration,
        )


class ExpectNoUnexpectedRows(UnexpectedRowsExpectation):
    """The rows ``unexpected_rows_query`` returns are the unexpected ones; none expected.

    Same kwargs and result as ``unexpected_rows_expectation``; the query runs once when it
    returns no row (see the module docstring)."""

    metric_dependencies: ClassVar[tuple[str, ...]] = (ROW_COUNT_METRIC, SAMPLE_METRIC)

    class Config:
        title = "No unexpected rows (custom SQL, counted first)"

    def _validate(
        self,
        metrics: dict,
        runtime_configuration: dict | None = None,
        execution_engine=None,
    ):
        metrics = {**metrics, TABLE_METRIC: metrics[SAMPLE_METRIC]}
        return super()._validate(
            metrics,
            runtime_configuration=runtime_configuration,
            execution_engine=execution_engine,
        )


assert ExpectNoUnexpectedRows.expectation_type == NO_UNEXPECTED_ROWS_TYPE

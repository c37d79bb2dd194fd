"""Quality gates: every run is gated; bad data never reaches raw, a mart or a published file.

One blocking asset check per committed Great Expectations suite
(``expectations/expectations/*.json``, run as SQL in DuckDB by ``lib/gates.py``):

* ``staged/<source>:gx_landing_gate`` — suite ``landing_<source>`` on the rows new to this run;
  ``publish_raw`` (and so dbt, the marts, serving and the sensors) waits for all six;
* ``marts/<model>:gx_mart_gate`` — suite ``mart_<model>`` on a mart after dbt built it;
  ``serving/marts`` waits for them, and the purge/hand-off sensors act only on successful runs.

Rules, thresholds, knobs and what happens on a day without a delivery: ``checks.py`` and the
README section "Quality gates". Keys, relations and accepted values of the dbt models are dbt
tests (asset checks of the dbt assets), never repeated here.
"""

from __future__ import annotations

import logging

import dagster as dg

from dagster_project.defs import dbt as dbt_models
from dagster_project.defs.quality.checks import (
    LANDING_CHECK,
    MART_CHECK,
    MART_SUITE_PREFIX,
    RESOURCE_KEY,
    QualityGateConfig,
    committed_suites,
    landing_check,
    mart_check,
)
from dagster_project.defs.serving import mart_keys
from dagster_project.lib.schema import SOURCES

logger = logging.getLogger(__name__)

__all__ = [
    "LANDING_CHECK",
    "MART_CHECK",
    "build_defs",
    "defs",
    "gated_mart_keys",
    "landing_checks",
]


def gated_mart_keys(available: list[dg.AssetKey]) -> list[dg.AssetKey]:
    """Mart asset keys that have a committed suite ``mart_<model>``, among ``available``.

    A suite whose mart is not among ``available`` (renamed model, stale manifest) is left out
    with a warning; ``tests/defs/test_quality_gates.py`` requires every suite to be wired."""
    by_model = {key.path[-1]: key for key in available}
    keys = []
    for suite in committed_suites(MART_SUITE_PREFIX):
        model = suite.removeprefix(MART_SUITE_PREFIX)
        if model in by_model:
            keys.append(by_model[model])
        else:
            logger.warning("suite %s has no mart asset marts/%s: gate not wired", suite, model)
    return keys


landing_checks = [landing_check(source) for source in SOURCES]


def build_defs(available_marts: list[dg.AssetKey]) -> dg.Definitions:
    mart_checks = [mart_check(key) for key in gated_mart_keys(available_marts)]
    return dg.Definitions(
        asset_checks=[*landing_checks, *mart_checks],
        resources={RESOURCE_KEY: QualityGateConfig()},
    )


defs = build_defs(mart_keys(dbt_models.defs))

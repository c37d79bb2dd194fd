"""Buy-till-you-die customer-lifetime-value models, written with numpy/scipy.

* :mod:`~dagster_project.lib.clv.summary`: RFM summaries from transactions, set-based in DuckDB
  (``rfm_summary``, ``rfm_calibration_holdout``).
* :mod:`~dagster_project.lib.clv.purchase`: BG/NBD and MBG/NBD (``BGNBD``, ``MBGNBD``):
  MLE fit, P(alive), conditional and unconditional expected purchases.
* :mod:`~dagster_project.lib.clv.spend`: Gamma-Gamma order-value model (``GammaGamma``).
* :mod:`~dagster_project.lib.clv.scoring`: ``fit_clv_models``, ``score_customers``,
  ``score_summary`` (p_alive, expected_purchases_90d/365d, expected_avg_order_value, clv_12m).
* :mod:`~dagster_project.lib.clv.diagnostics`: ``calibration_holdout_diagnostics``.

See ``benchmarks/CLV.md`` for the validation on CDNOW, speed and why not pymc-marketing.
"""

from dagster_project.lib.clv._fit import FitInfo
from dagster_project.lib.clv.diagnostics import calibration_holdout_diagnostics
from dagster_project.lib.clv.purchase import BGNBD, MBGNBD
from dagster_project.lib.clv.scoring import (
    SCORE_COLUMNS,
    CLVModels,
    discounted_expected_purchases,
    fit_clv_models,
    score_customers,
    score_summary,
)
from dagster_project.lib.clv.spend import GammaGamma, frequency_value_correlation
from dagster_project.lib.clv.summary import (
    CalibrationHoldout,
    RFMSummary,
    rfm_calibration_holdout,
    rfm_summary,
    time_unit_days,
)

__all__ = [
    "BGNBD",
    "MBGNBD",
    "SCORE_COLUMNS",
    "CLVModels",
    "CalibrationHoldout",
    "FitInfo",
    "GammaGamma",
    "RFMSummary",
    "calibration_holdout_diagnostics",
    "discounted_expected_purchases",
    "fit_clv_models",
    "frequency_value_correlation",
    "rfm_calibration_holdout",
    "rfm_summary",
    "score_customers",
    "score_summary",
    "time_unit_days",
]

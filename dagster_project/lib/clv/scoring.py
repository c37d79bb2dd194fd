"""Per-customer scores: P(alive), expected purchases, expected order value and 12-month CLV.

Purchases and P(alive) come from MBG/NBD (``P(alive)`` is meaningful for one-time buyers),
order value from Gamma-Gamma. BG/NBD is fitted alongside as a diagnostic reference.

``clv_12m`` is the expected value of the purchases of the next 365 days:

* undiscounted (``annual_discount_rate = 0``, the default):
  ``E[purchases in 365 days] * E[order value]``;
* discounted: the year is cut in 12 months of 365/12 days; the purchases expected in month
  ``k`` are discounted by ``(1 + d)^(-k/12)`` where ``d`` is the annual rate, i.e. at the
  equivalent monthly rate ``(1 + d)^(1/12) - 1``, cash flows counted at the end of each month.

The value is revenue (whatever ``amount`` holds); apply a margin upstream or downstream to
get profit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike

from dagster_project.lib.clv._fit import FloatArray, check_rft
from dagster_project.lib.clv.purchase import BGNBD, MBGNBD, _BetaGeoModel
from dagster_project.lib.clv.spend import GammaGamma
from dagster_project.lib.clv.summary import RFMSummary

SCORE_COLUMNS = (
    "p_alive",
    "expected_purchases_90d",
    "expected_purchases_365d",
    "expected_avg_order_value",
    "clv_12m",
)


@dataclass(frozen=True)
class CLVModels:
    """The three fitted models and the time unit they were fitted in."""

    bgnbd: BGNBD
    mbgnbd: MBGNBD
    gamma_gamma: GammaGamma
    time_unit_days: float

    def summary(self) -> dict[str, dict[str, object]]:
        return {
            "bgnbd": self.bgnbd.summary(),
            "mbgnbd": self.mbgnbd.summary(),
            "gamma_gamma": self.gamma_gamma.summary(),
            "time_unit_days": {"value": self.time_unit_days},
        }


def fit_clv_models(summary: RFMSummary, *, penalizer: float = 0.0) -> CLVModels:
    """Fit BG/NBD, MBG/NBD and Gamma-Gamma on one RFM summary."""
    x, t_x, T = summary.frequency, summary.recency, summary.T
    return CLVModels(
        bgnbd=BGNBD.fit(x, t_x, T, penalizer=penalizer),
        mbgnbd=MBGNBD.fit(x, t_x, T, penalizer=penalizer),
        gamma_gamma=GammaGamma.fit(x, summary.monetary_value, penalizer=penalizer),
        time_unit_days=summary.time_unit_days,
    )


def discounted_expected_purchases(
    model: _BetaGeoModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    time_unit_days: float,
    annual_discount_rate: float,
    months: int = 12,
) -> FloatArray:
    """Sum over ``months`` months of the expected purchases of month k times (1+d)^(-k/12)."""
    x, t_x, age = check_rft(frequency, recency, T)
    month = 365.0 / 12.0 / time_unit_days
    total = np.zeros_like(x)
    previous = np.zeros_like(x)
    for k in range(1, months + 1):
        cumulative = model.conditional_expected_purchases(k * month, x, t_x, age)
        total += (cumulative - previous) * (1.0 + annual_discount_rate) ** (-k / 12.0)
        previous = cumulative
    return total


def score_customers(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    *,
    purchase_model: _BetaGeoModel,
    spend_model: GammaGamma,
    time_unit_days: float,
    annual_discount_rate: float = 0.0,
) -> dict[str, FloatArray]:
    """Scores of each customer, keyed by ``SCORE_COLUMNS``.

    ``purchase_model`` should be the MBG/NBD (a BG/NBD gives P(alive) = 1 to every customer
    without repeat purchase). ``time_unit_days`` is the unit of recency/T and of the model.
    """
    if annual_discount_rate < 0:
        raise ValueError("annual_discount_rate must be >= 0")
    x, t_x, age = check_rft(frequency, recency, T)
    day = 1.0 / time_unit_days
    purchases_365 = purchase_model.conditional_expected_purchases(365.0 * day, x, t_x, age)
    aov = spend_model.conditional_expected_average_value(x, monetary_value)
    if annual_discount_rate == 0:
        clv_purchases = purchases_365
    else:
        clv_purchases = discounted_expected_purchases(
            purchase_model,
            x,
            t_x,
            age,
            time_unit_days=time_unit_days,
            annual_discount_rate=annual_discount_rate,
        )
    return {
        "p_alive": purchase_model.p_alive(x, t_x, age),
        "expected_purchases_90d": purchase_model.conditional_expected_purchases(
            90.0 * day, x, t_x, age
        ),
        "expected_purchases_365d": purchases_365,
        "expected_avg_order_value": aov,
        "clv_12m": clv_purchases * aov,
    }


def score_summary(
    summary: RFMSummary, models: CLVModels, *, annual_discount_rate: float = 0.0
) -> pa.Table:
    """Arrow table: the summary's columns followed by ``SCORE_COLUMNS``, one row per customer."""
    if abs(summary.time_unit_days - models.time_unit_days) > 1e-12:
        raise ValueError("summary and models use different time units")
    scores = score_customers(
        summary.frequency,
        summary.recency,
        summary.T,
        summary.monetary_value,
        purchase_model=models.mbgnbd,
        spend_model=models.gamma_gamma,
        time_unit_days=summary.time_unit_days,
        annual_discount_rate=annual_discount_rate,
    )
    table = summary.to_arrow()
    for name in SCORE_COLUMNS:
        table = table.append_column(name, pa.array(scores[name]))
    return table

"""Predictions: who will come back — P(alive), expected purchases and 12-month CLV per customer.

One asset, ``predictions/customer_predictions`` (group ``predictions``), between ingestion and
dbt: it reads the completed orders of ``raw.orders``, fits the buy-till-you-die models of
``dagster_project.lib.clv`` and writes one row per customer to
``predictions.customer_predictions``. dbt declares that table as the source
``predictions.customer_predictions`` (key ``["predictions", "customer_predictions"]``, this
asset's key), reads it through ``staging.stg_predictions__customer_predictions`` and the marts
join it (``dim_contact_inactivity.p_alive`` / ``clv_12m`` / ``predicted_value_at_stake``, the
summary and the backtest), so lineage is one graph and the daily job runs it before dbt.

Choices
-------
* **Orders.** Completed orders (``lower(trim(status)) = 'completed'``, the rule of
  ``stg_raw__orders``) of contacts present in ``raw.contacts``, up to the observation end
  (inclusive). Orders kept under a pseudonym after a purge (``contact_id like 'purged:%'``)
  are left out: nobody can be woken behind them. The RFM summary is computed in DuckDB
  (``lib.clv.rfm_summary``): orders of one day are one purchase, ``frequency`` counts the
  repeat purchase days.
* **Observation end** = the run's as-of date, resolved in this order: this asset's config
  ``as_of_date``; the dbt step's ``as_of_date`` in the same run's config (so a run with
  ``DbtRunConfig(as_of_date=...)`` scores the same snapshot dbt builds); the ``as_of_date``
  var of ``dbt/dbt_project.yml`` when set; today (UTC). The marts only join predictions whose
  ``observation_end`` is their snapshot date: predictions of another date read as null.
* **Time unit: weeks** (days / 7), as in the literature (CDNOW); ``recency`` and ``T`` are in
  weeks, the horizons (90 and 365 days) are converted.
* **Models.** MBG/NBD gives P(alive) and the expected purchases: unlike BG/NBD it lets a
  one-time buyer be gone, so an old one-time buyer gets a low P(alive). BG/NBD is fitted on
  the same data and reported (parameters, log-likelihood, mean P(alive), holdout), never used
  to score. Gamma-Gamma gives the expected order value; ``clv_12m`` = expected purchases of the
  next 365 days x expected order value, undiscounted revenue (config ``annual_discount_rate``).
* **P(purchase in 365 days)** (``p_purchase_365d``): the model's counterpart of the
  backtest's reactivation rate (at least one order in the next 365 days),
  ``P(alive) x (1 - ((alpha + T) / (alpha + T + t))^(r + x))`` — an alive customer's rate
  is Gamma(r + x, alpha + T) given its history, and a customer drops out only right after a
  purchase, so without purchase in (T, T + t] it is still alive (checked by simulation in the
  tests).
* **Calibration / holdout.** The models are fitted again on the orders up to
  ``observation end - holdout_days`` (26 weeks) and their predictions of the holdout's repeat
  purchases compared with what happened, in total and per calibration frequency
  (``lib.clv.calibration_holdout_diagnostics``), in the metadata. Diagnostics never block.
  They cost more than the scoring (a second fit; ~6 s of a 9 s step on 1 M contacts) and
  move slowly, so a daily run computes them at most every ``diagnostics_every_days`` days of
  observation end (default 7; 0: every run): the latest materialisation's
  ``calibration_holdout_observation_end`` tells when they were last computed.
* **Tiny or degenerate data.** With fewer than ``min_customers`` customers or
  ``min_repeat_customers`` repeat customers, or when a fit fails (exception, non-finite
  likelihood or scores), the table is still written — every customer with its RFM summary —
  but with NULL predictions, ``model`` NULL, and a warning in the log and the metadata
  (``status``). The daily job carries on: the marts read null predictions, the rest of the
  base (inactivity, purge, audiences) does not depend on them. When only Gamma-Gamma fails
  (e.g. ``q <= 1``: infinite mean value), P(alive) and purchases are written and the value
  columns are NULL.
* **Write.** One transaction, ``create or replace table``: readers see the old table or the
  new one, never half of one.
"""

# no `from __future__ import annotations`: Dagster reads the config annotation at import
import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa
import yaml

from dagster_project import settings
from dagster_project.defs.resources import WarehouseResource
from dagster_project.lib import clv
from dagster_project.lib.mart_metadata import md_table

GROUP = "predictions"
OWNERS = ["team:analytics-engineering"]
POOL = "duckdb_writer"  # one DuckDB writer at a time (STACK.md trap 3)

SCHEMA = "predictions"
TABLE = "customer_predictions"
PREDICTIONS_KEY = dg.AssetKey([SCHEMA, TABLE])
ORDERS_KEY = dg.AssetKey(["raw", "orders"])
CONTACTS_KEY = dg.AssetKey(["raw", "contacts"])
DBT_OP_NAME = "reveil_dbt_models"  # the dbt step whose as_of_date this asset follows

TIME_UNIT = "weeks"
PURCHASE_MODEL = "MBG/NBD"
SPEND_MODEL = "Gamma-Gamma"
PURCHASE_HORIZON_DAYS = 365.0  # horizon of p_purchase_365d (backtest_outcome_days default)

# completed orders of known contacts, pseudonymised (purged) orders excluded
ORDERS_SQL = """
select orders.contact_id, orders.ordered_at, orders.amount
from raw.orders as orders
where lower(trim(orders.status)) = 'completed'
    and not coalesce(orders.contact_id like 'purged:%', false)
    and orders.contact_id in (select contacts.contact_id from raw.contacts as contacts)
"""

COLUMNS = (
    ("contact_id", pa.string()),
    ("frequency", pa.int64()),
    ("recency", pa.float64()),
    ("T", pa.float64()),
    ("monetary_value", pa.float64()),
    ("p_alive", pa.float64()),
    ("p_purchase_365d", pa.float64()),
    ("expected_purchases_90d", pa.float64()),
    ("expected_purchases_365d", pa.float64()),
    ("expected_avg_order_value", pa.float64()),
    ("clv_12m", pa.float64()),
    ("model", pa.string()),
    ("fitted_at", pa.timestamp("us")),
    ("observation_end", pa.date32()),
)
COLUMN_NAMES = tuple(name for name, _ in COLUMNS)
PURCHASE_COLUMNS = (
    "p_alive",
    "p_purchase_365d",
    "expected_purchases_90d",
    "expected_purchases_365d",
)
VALUE_COLUMNS = ("expected_avg_order_value", "clv_12m")


class PredictionsConfig(dg.Config):
    """Run config of ``predictions/customer_predictions`` (every field has a default)."""

    # YYYY-MM-DD, observation end (inclusive). None: the dbt step's as_of_date in this run,
    # else dbt_project.yml's as_of_date var, else today (UTC).
    as_of_date: str | None = None
    # days before the observation end where the calibration period of the diagnostics ends
    holdout_days: int = 182
    # calibration/holdout diagnostics at most every this many days of observation end (0: every
    # run); a run whose latest diagnostics are fresher skips them (a note in the metadata)
    diagnostics_every_days: int = 7
    # below these counts no model is fitted: the predictions are written NULL, with a warning
    min_customers: int = 50
    min_repeat_customers: int = 20
    # annual discount rate of clv_12m (0: undiscounted); L2 penalty of the fits (0: plain MLE)
    annual_discount_rate: float = 0.0
    penalizer: float = 0.0


# --- observation end -----------------------------------------------------------------------


def _dbt_project_as_of() -> str | None:
    path = settings.DBT_PROJECT_DIR / "dbt_project.yml"
    try:
        project = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    value = (project.get("vars") or {}).get("as_of_date")
    return str(value) if value not in (None, "") else None


def resolve_observation_end(
    configured: str | None,
    run_config: Mapping[str, Any] | None,
    *,
    project_as_of: str | None = None,
    today: dt.date | None = None,
) -> tuple[dt.date, str]:
    """The observation end and where it came from (``config``, ``dbt run config``,
    ``dbt_project.yml`` or ``today (UTC)``)."""
    dbt_config = (((run_config or {}).get("ops") or {}).get(DBT_OP_NAME) or {}).get("config")
    candidates = (
        (configured, "config"),
        ((dbt_config or {}).get("as_of_date"), "dbt run config"),
        (project_as_of, "dbt_project.yml"),
    )
    for value, origin in candidates:
        if value not in (None, ""):
            return dt.date.fromisoformat(str(value)[:10]), origin
    return today or dt.datetime.now(dt.UTC).date(), "today (UTC)"


# --- models ----------------------------------------------------------------------------------


def probability_of_purchase(
    model: clv.MBGNBD | clv.BGNBD,
    frequency: np.ndarray,
    recency: np.ndarray,
    T: np.ndarray,
    t: float,
) -> np.ndarray:
    """P(at least one purchase in (T, T + t] | x, t_x, T), BG/NBD or MBG/NBD.

    ``P(alive) * (1 - ((alpha + T) / (alpha + T + t))^(r + x))``: given the history and alive,
    the purchase rate is Gamma(r + x, alpha + T); dropout happens only right after a purchase,
    so an alive customer stays alive until it buys.
    """
    x = np.asarray(frequency, dtype=np.float64)
    age = np.asarray(T, dtype=np.float64)
    log_none = (model.r + x) * (np.log(model.alpha + age) - np.log(model.alpha + age + t))
    return model.p_alive(x, recency, age) * -np.expm1(log_none)


@dataclass
class Fit:
    """What one fit produced: the models (None when not fitted), scores and notes."""

    status: str  # fitted / fitted_without_spend_model / not_fitted / no_customers
    bgnbd: clv.BGNBD | None = None
    mbgnbd: clv.MBGNBD | None = None
    gamma_gamma: clv.GammaGamma | None = None
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def model_label(self) -> str | None:
        if self.mbgnbd is None:
            return None
        return PURCHASE_MODEL + (f" + {SPEND_MODEL}" if self.gamma_gamma is not None else "")


def _finite_fit(model: Any) -> bool:
    info = model.fit_info
    return (
        all(np.isfinite(v) and v > 0 for v in model.params.values())
        and info is not None
        and np.isfinite(info.log_likelihood)
    )


def fit_and_score(summary: clv.RFMSummary, config: PredictionsConfig) -> Fit:
    """Fit BG/NBD, MBG/NBD and Gamma-Gamma on ``summary`` and score every customer (MBG/NBD).

    Never raises on data: too little data or a failed fit gives ``status`` not_fitted (or
    fitted_without_spend_model) and the reasons in ``warnings``.
    """
    n = len(summary)
    if n == 0:
        return Fit("no_customers", warnings=["no customer with a completed order: nothing scored"])
    repeat = int((summary.frequency > 0).sum())
    if n < config.min_customers or repeat < config.min_repeat_customers:
        return Fit(
            "not_fitted",
            warnings=[
                f"too little data to fit the CLV models: {n} customer(s), {repeat} repeat "
                f"customer(s) (minimum {config.min_customers} and {config.min_repeat_customers});"
                " predictions written NULL"
            ],
        )
    fit = Fit("fitted")
    x, t_x, age = summary.frequency, summary.recency, summary.T
    try:
        with np.errstate(all="ignore"):
            fit.mbgnbd = clv.MBGNBD.fit(x, t_x, age, penalizer=config.penalizer)
            fit.bgnbd = clv.BGNBD.fit(x, t_x, age, penalizer=config.penalizer)
    except (ValueError, FloatingPointError, ArithmeticError) as exc:
        return Fit("not_fitted", warnings=[f"BG/NBD or MBG/NBD fit failed: {exc}"])
    for model in (fit.mbgnbd, fit.bgnbd):
        if not _finite_fit(model):
            return Fit("not_fitted", warnings=[f"{model.name} fit is degenerate: {model.params}"])
        if not model.fit_info.converged:
            fit.warnings.append(f"{model.name} optimiser: {model.fit_info.message}")
    day = 1.0 / clv.time_unit_days(TIME_UNIT)
    with np.errstate(all="ignore"):
        model = fit.mbgnbd
        scores = {
            "p_alive": model.p_alive(x, t_x, age),
            "p_purchase_365d": probability_of_purchase(
                model, x, t_x, age, PURCHASE_HORIZON_DAYS * day
            ),
            "expected_purchases_90d": model.conditional_expected_purchases(90 * day, x, t_x, age),
            "expected_purchases_365d": model.conditional_expected_purchases(365 * day, x, t_x, age),
        }
    if not all(np.all(np.isfinite(v)) for v in scores.values()) or not np.all(
        (scores["p_alive"] >= 0) & (scores["p_alive"] <= 1)
    ):
        return Fit("not_fitted", warnings=["MBG/NBD scores are not finite probabilities"])
    fit.scores = scores
    try:
        with np.errstate(all="ignore"):
            spend = clv.GammaGamma.fit(x, summary.monetary_value, penalizer=config.penalizer)
            values = clv.score_customers(
                x,
                t_x,
                age,
                summary.monetary_value,
                purchase_model=model,
                spend_model=spend,
                time_unit_days=summary.time_unit_days,
                annual_discount_rate=config.annual_discount_rate,
            )
        if not _finite_fit(spend):
            raise ValueError(f"degenerate fit {spend.params}")
        if not all(np.all(np.isfinite(values[c])) for c in VALUE_COLUMNS):
            raise ValueError(
                f"expected order value undefined (p={spend.p:.3g}, q={spend.q:.3g}: q <= 1?)"
            )
    except (ValueError, FloatingPointError, ArithmeticError) as exc:
        fit.status = "fitted_without_spend_model"
        fit.warnings.append(
            f"Gamma-Gamma failed ({exc}): expected_avg_order_value and clv_12m written NULL"
        )
    else:
        fit.gamma_gamma = spend
        scores.update({c: values[c] for c in VALUE_COLUMNS})
    return fit


def predictions_table(summary: clv.RFMSummary, fit: Fit, fitted_at: dt.datetime) -> pa.Table:
    """The rows of ``predictions.customer_predictions``, NULL where nothing was predicted."""
    n = len(summary)
    data: dict[str, Any] = {
        "contact_id": pa.array(summary.customer_id.astype(str), pa.string()),
        "frequency": pa.array(summary.frequency, pa.int64()),
        "recency": pa.array(summary.recency, pa.float64()),
        "T": pa.array(summary.T, pa.float64()),
        "monetary_value": pa.array(summary.monetary_value, pa.float64()),
    }
    for name in (*PURCHASE_COLUMNS, *VALUE_COLUMNS):
        values = fit.scores.get(name)
        data[name] = pa.nulls(n, pa.float64()) if values is None else pa.array(values, pa.float64())
    data["model"] = pa.array([fit.model_label] * n, pa.string())
    data["fitted_at"] = pa.array([fitted_at.replace(tzinfo=None)] * n, pa.timestamp("us"))
    data["observation_end"] = pa.array([summary.observation_end] * n, pa.date32())
    return pa.table(data, schema=pa.schema(list(COLUMNS)))


def write_predictions(con: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    """Replace ``predictions.customer_predictions`` with ``table``, in one transaction."""
    view = "__reveil_customer_predictions"
    con.register(view, table)
    try:
        con.execute("begin transaction")
        try:
            con.execute(f"create schema if not exists {SCHEMA}")
            columns = ", ".join(f'"{name}"' for name in COLUMN_NAMES)
            con.execute(f"create or replace table {SCHEMA}.{TABLE} as select {columns} from {view}")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    finally:
        con.unregister(view)


# --- diagnostics and metadata ----------------------------------------------------------------


DIAGNOSTICS_END_KEY = "calibration_holdout_observation_end"


def diagnostics_due(
    last_end: dt.date | None, observation_end: dt.date, every_days: int
) -> str | None:
    """None when the calibration/holdout diagnostics are due at ``observation_end``, else why
    not: they were computed for ``last_end``, less than ``every_days`` days earlier (a run
    for an earlier date than the last one, a backfill, computes them)."""
    if every_days <= 0 or last_end is None:
        return None
    age = (observation_end - last_end).days
    if 0 <= age < every_days:
        return (
            f"computed for observation end {last_end.isoformat()}, less than {every_days} "
            "day(s) ago (config diagnostics_every_days; 0: every run)"
        )
    return None


def last_diagnostics_end(context: dg.AssetExecutionContext) -> dt.date | None:
    """Observation end of the latest diagnostics, from the asset's latest materialisation."""
    event = context.instance.get_latest_materialization_event(PREDICTIONS_KEY)
    materialization = event.asset_materialization if event is not None else None
    value = materialization.metadata.get(DIAGNOSTICS_END_KEY) if materialization else None
    try:
        return dt.date.fromisoformat(value.value) if value is not None else None
    except (TypeError, ValueError):
        return None


def holdout_diagnostics(
    con: duckdb.DuckDBPyConnection, observation_end: dt.date, config: PredictionsConfig
) -> tuple[dict[str, Any] | None, str | None]:
    """Calibration/holdout comparison of models fitted up to ``observation_end -
    holdout_days``; (None, reason) when there is too little data before that date."""
    calibration_end = observation_end - dt.timedelta(days=config.holdout_days)
    data = clv.rfm_calibration_holdout(
        con,
        ORDERS_SQL,
        calibration_end,
        observation_end,
        time_unit=TIME_UNIT,
        customer_col="contact_id",
    )
    calibration = fit_and_score(data.calibration, config)
    if calibration.mbgnbd is None or calibration.bgnbd is None:
        reason = "; ".join(calibration.warnings) or "no fit"
        return None, f"calibration period to {calibration_end}: {reason}"
    diagnostics = clv.calibration_holdout_diagnostics(
        {"BG/NBD": calibration.bgnbd, "MBG/NBD": calibration.mbgnbd},
        data,
        spend_model=calibration.gamma_gamma,
    )
    return diagnostics, None


def _mean(values: np.ndarray | None, mask: np.ndarray | None = None) -> float | None:
    if values is None:
        return None
    picked = values if mask is None else values[mask]
    return float(picked.mean()) if len(picked) else None


def _models_markdown(fit: Fit) -> str:
    rows = []
    for model, role in (
        (fit.mbgnbd, "scores P(alive) and purchases"),
        (fit.bgnbd, "reference only"),
        (fit.gamma_gamma, "scores order value"),
    ):
        if model is None:
            continue
        params = ", ".join(f"{k}={v:.4g}" for k, v in model.params.items())
        info = model.fit_info
        rows.append(
            (
                model.name,
                role,
                params,
                f"{info.log_likelihood:,.1f}",
                f"{info.n_customers:,}",
                "yes" if info.converged else "no",
            )
        )
    return md_table(
        ["model", "role", f"parameters (time unit: {TIME_UNIT})", "log-likelihood", "n", "conv."],
        rows,
    )


def _by_frequency_markdown(summary: clv.RFMSummary, fit: Fit) -> str:
    bands = ((0, 0, "0 (one-time buyers)"), (1, 1, "1"), (2, 3, "2-3"), (4, 7, "4-7"))
    bands += ((8, None, "8+"),)
    rows = []
    for low, high, label in bands:
        mask = summary.frequency >= low
        if high is not None:
            mask &= summary.frequency <= high
        count = int(mask.sum())
        if not count:
            continue
        p_alive = _mean(fit.scores.get("p_alive"), mask)
        clv_12m = _mean(fit.scores.get("clv_12m"), mask)
        rows.append(
            (
                label,
                f"{count:,}",
                "–" if p_alive is None else f"{p_alive:.3f}",
                "–" if clv_12m is None else f"{clv_12m:,.0f} €",
            )
        )
    return md_table(["repeat purchase days", "customers", "mean P(alive)", "mean CLV 12 m"], rows)


def _number(value: float | None, digits: int = 4) -> dg.MetadataValue:
    return (
        dg.MetadataValue.null() if value is None else dg.MetadataValue.float(round(value, digits))
    )


def build_metadata(
    summary: clv.RFMSummary,
    fit: Fit,
    *,
    origin: str,
    diagnostics: dict[str, Any] | None,
    diagnostics_note: str | None,
) -> dict[str, Any]:
    """Materialisation metadata: counts, means, parameters, log-likelihoods, holdout table."""
    one_time = summary.frequency == 0
    p_alive = fit.scores.get("p_alive")
    clv_12m = fit.scores.get("clv_12m")
    metadata: dict[str, Any] = {
        "status": dg.MetadataValue.text(fit.status),
        "observation_end": dg.MetadataValue.text(summary.observation_end.isoformat()),
        "observation_end_from": dg.MetadataValue.text(origin),
        "time_unit": dg.MetadataValue.text(f"{TIME_UNIT} (days / 7)"),
        "model": dg.MetadataValue.text(fit.model_label or "none"),
        "customers_scored": dg.MetadataValue.int(len(summary) if p_alive is not None else 0),
        "customers": dg.MetadataValue.int(len(summary)),
        "repeat_customers": dg.MetadataValue.int(int((~one_time).sum())),
        "one_time_buyers": dg.MetadataValue.int(int(one_time.sum())),
        "mean_p_alive": _number(_mean(p_alive)),
        "mean_p_alive_one_time_buyers": _number(_mean(p_alive, one_time)),
        "mean_p_purchase_365d": _number(_mean(fit.scores.get("p_purchase_365d"))),
        "total_clv_12m_eur": _number(None if clv_12m is None else float(clv_12m.sum()), 2),
        "total_expected_purchases_365d": _number(
            None
            if "expected_purchases_365d" not in fit.scores
            else float(fit.scores["expected_purchases_365d"].sum()),
            1,
        ),
        "dagster/row_count": dg.MetadataValue.int(len(summary)),
    }
    if fit.warnings:
        metadata["warnings"] = dg.MetadataValue.md("\n".join(f"- {w}" for w in fit.warnings))
    if fit.mbgnbd is not None:
        metadata["models"] = dg.MetadataValue.md(_models_markdown(fit))
        metadata["p_alive_by_frequency"] = dg.MetadataValue.md(_by_frequency_markdown(summary, fit))
    for key, model in (
        ("mbgnbd", fit.mbgnbd),
        ("bgnbd", fit.bgnbd),
        ("gamma_gamma", fit.gamma_gamma),
    ):
        if model is None:
            continue
        metadata[f"parameters_{key}"] = dg.MetadataValue.json(
            {k: float(v) for k, v in model.params.items()}
        )
        metadata[f"log_likelihood_{key}"] = _number(model.fit_info.log_likelihood, 3)
    if fit.bgnbd is not None:
        # BG/NBD's P(alive) of one-time buyers is 1 by construction: shown, never used
        metadata["mean_p_alive_bgnbd"] = _number(
            _mean(fit.bgnbd.p_alive(summary.frequency, summary.recency, summary.T))
        )
    if diagnostics is not None:
        metadata["calibration_holdout"] = dg.MetadataValue.md(diagnostics["markdown"])
        for name, stats in diagnostics["models"].items():
            error = stats["holdout_error_pct"]
            key = name.lower().replace("/", "")
            metadata[f"holdout_error_pct_{key}"] = _number(error, 2)
    elif diagnostics_note:
        metadata["calibration_holdout"] = dg.MetadataValue.md(f"_skipped_: {diagnostics_note}")
    return metadata


# --- the asset -------------------------------------------------------------------------------


@dg.asset(
    key=PREDICTIONS_KEY,
    deps=[ORDERS_KEY, CONTACTS_KEY],
    group_name=GROUP,
    kinds={"python", "duckdb", "scipy"},
    owners=OWNERS,
    pool=POOL,
    description=(
        "`predictions.customer_predictions`: one row per customer (completed orders of "
        "`raw.orders`, purged pseudonyms excluded) with its RFM summary in weeks, P(alive) and "
        "P(purchase in 365 days) and expected purchases over 90/365 days from MBG/NBD, "
        "expected order value from Gamma-Gamma and 12-month CLV, as of the run's as-of date. "
        "BG/NBD is fitted alongside for reference. The marts join it (dbt source "
        "`predictions.customer_predictions`). Too little data: NULL predictions and a warning."
    ),
)
def customer_predictions(
    context: dg.AssetExecutionContext, config: PredictionsConfig, duckdb: WarehouseResource
) -> dg.MaterializeResult:
    observation_end, origin = resolve_observation_end(
        config.as_of_date, context.run.run_config, project_as_of=_dbt_project_as_of()
    )
    fitted_at = dt.datetime.now(dt.UTC)
    # seconds per phase, in the metadata: where the time of this step goes at scale
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[phase] = round(now - clock, 2)
        clock = now

    with duckdb.get_connection() as con:
        lap("connect")
        summary = clv.rfm_summary(
            con, ORDERS_SQL, observation_end, time_unit=TIME_UNIT, customer_col="contact_id"
        )
        lap("summary")
        fit = fit_and_score(summary, config)
        lap("fit_and_score")
        write_predictions(con, predictions_table(summary, fit, fitted_at))
        lap("write")
        diagnostics, note, diagnostics_end = None, None, None
        if fit.mbgnbd is not None:
            last_end = last_diagnostics_end(context)
            note = diagnostics_due(last_end, observation_end, config.diagnostics_every_days)
            diagnostics_end = last_end if note else None  # carried until they are due again
        if fit.mbgnbd is not None and note is None:
            try:
                diagnostics, note = holdout_diagnostics(con, observation_end, config)
            except (ValueError, ArithmeticError, duckdb.Error) as exc:
                note = f"failed: {exc}"
        lap("holdout_diagnostics")
    lap("close")
    context.log.info(f"customer predictions, seconds per phase: {seconds}")
    for warning in fit.warnings:
        context.log.warning(f"customer predictions: {warning}")
    if note:
        context.log.info(f"calibration/holdout diagnostics skipped: {note}")
    context.log.info(
        f"{len(summary):,} customer(s) as of {observation_end} ({origin}): status {fit.status}"
    )
    metadata = build_metadata(
        summary, fit, origin=origin, diagnostics=diagnostics, diagnostics_note=note
    )
    metadata["seconds_by_phase"] = dg.MetadataValue.json(seconds)
    if diagnostics is not None:
        diagnostics_end = observation_end
    if diagnostics_end is not None:
        metadata[DIAGNOSTICS_END_KEY] = dg.MetadataValue.text(diagnostics_end.isoformat())
    return dg.MaterializeResult(metadata=metadata)


# The ``duckdb`` resource (WarehouseResource) is the one ``ingestion.defs`` binds: binding a
# second instance here would clash when definitions.py merges the domains.
defs = dg.Definitions(assets=[customer_predictions])

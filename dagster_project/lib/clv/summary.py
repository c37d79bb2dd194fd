"""RFM summaries (frequency, recency, T, monetary value) computed set-based in DuckDB.

Definitions follow lifetimes' ``summary_data_from_transaction_data`` with ``freq='D'``:

* transactions are truncated to their calendar day and each customer's transactions of one
  day are merged into one purchase whose value is their sum;
* ``frequency`` = number of distinct purchase days - 1 (repeat purchases);
* ``recency`` = days between the first and the last purchase day, in the time unit;
* ``T`` = days between the first purchase day and the observation end, in the time unit;
* ``monetary_value`` = mean value of the repeat purchase days (the first day excluded),
  0 for customers without repeat purchase.

Transactions after the observation end are ignored; the observation end day is included.
Timestamps are cast to DATE by DuckDB (``TIMESTAMPTZ`` in the session time zone); NULL
amounts count as 0 and rows with a NULL customer or timestamp are dropped.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from dagster_project.lib.clv._fit import FloatArray

TIME_UNITS: dict[str, float] = {"days": 1.0, "weeks": 7.0}

# a table or view name, optionally qualified (catalog.schema.table), plain or "quoted"
_NAME_PART = r'(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")'
_IDENTIFIER = re.compile(rf"^{_NAME_PART}(?:\.{_NAME_PART}){{0,2}}$")


@dataclass(frozen=True)
class RFMSummary:
    """One row per customer, as numpy arrays in the order of ``customer_id``."""

    customer_id: np.ndarray
    frequency: np.ndarray  # int64: repeat purchase days
    recency: FloatArray  # time unit
    T: FloatArray  # time unit
    monetary_value: FloatArray  # mean value of repeat purchase days; 0 if frequency == 0
    observation_end: dt.date
    time_unit_days: float

    def __len__(self) -> int:
        return len(self.customer_id)

    def to_arrow(self) -> pa.Table:
        return pa.table(
            {
                "customer_id": self.customer_id,
                "frequency": self.frequency,
                "recency": self.recency,
                "T": self.T,
                "monetary_value": self.monetary_value,
            }
        )


@dataclass(frozen=True)
class CalibrationHoldout:
    """Calibration-period summary plus what each of its customers did in the holdout period.

    Only customers whose first purchase falls in the calibration period are included.
    ``frequency_holdout`` counts purchase days in (calibration_end, observation_end];
    ``monetary_value_holdout`` is their mean value (0 without purchase).
    """

    calibration: RFMSummary
    frequency_holdout: np.ndarray
    monetary_value_holdout: FloatArray
    calibration_end: dt.date
    observation_end: dt.date
    duration_holdout: float  # time unit

    def __len__(self) -> int:
        return len(self.calibration)

    def to_arrow(self) -> pa.Table:
        table = self.calibration.to_arrow()
        table = table.append_column("frequency_holdout", pa.array(self.frequency_holdout))
        table = table.append_column("monetary_value_holdout", pa.array(self.monetary_value_holdout))
        return table.append_column(
            "duration_holdout", pa.array(np.full(len(self), self.duration_holdout))
        )


def time_unit_days(time_unit: str | float) -> float:
    """Length of a time unit in days: ``"days"`` -> 1, ``"weeks"`` -> 7, or a positive number."""
    if isinstance(time_unit, str):
        try:
            return TIME_UNITS[time_unit]
        except KeyError:
            raise ValueError(f"time_unit must be one of {sorted(TIME_UNITS)} or a number") from None
    value = float(time_unit)
    if not value > 0:
        raise ValueError("time_unit must be positive")
    return value


def _as_date(value: dt.date | dt.datetime | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _source_sql(con: duckdb.DuckDBPyConnection, transactions: Any) -> tuple[str, str | None]:
    """SQL naming the transactions, and the temporary view to drop afterwards (if any).

    ``transactions`` is a table/view name, a SELECT query, or any object DuckDB can register
    (DuckDB relation, Arrow table, pandas DataFrame).
    """
    if isinstance(transactions, str):
        text = transactions.strip().rstrip(";")
        if _IDENTIFIER.match(text):
            return text, None
        return f"({text})", None
    view = f"__reveil_clv_tx_{uuid.uuid4().hex}"
    con.register(view, transactions)
    return _quote(view), view


def _days_cte(source: str, customer_col: str, time_col: str, amount_col: str) -> str:
    cust, ts, amt = _quote(customer_col), _quote(time_col), _quote(amount_col)
    return f"""
    days AS (
        SELECT {cust} AS customer_id,
               CAST({ts} AS DATE) AS day,
               SUM(COALESCE(CAST({amt} AS DOUBLE), 0.0)) AS value
        FROM {source} AS src
        WHERE {cust} IS NOT NULL AND {ts} IS NOT NULL
          AND CAST({ts} AS DATE) <= $observation_end
        GROUP BY 1, 2
    )"""


_RFM_SELECT = """
        SELECT customer_id,
               COUNT(*) - 1 AS frequency,
               date_diff('day', MIN(day), MAX(day)) / $unit AS recency,
               date_diff('day', MIN(day), {end}) / $unit AS T,
               CASE WHEN COUNT(*) > 1
                    THEN (SUM(value) - arg_min(value, day)) / (COUNT(*) - 1)
                    ELSE 0.0 END AS monetary_value
        FROM days
        {where}
        GROUP BY customer_id"""


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: dict, view: str | None) -> dict:
    try:
        result = con.execute(sql, params).fetchnumpy()
    finally:
        if view is not None:
            con.unregister(view)
    return {
        name: np.ma.filled(col, 0) if isinstance(col, np.ma.MaskedArray) else col
        for name, col in result.items()
    }


def rfm_summary(
    con: duckdb.DuckDBPyConnection,
    transactions: Any,
    observation_end: dt.date | dt.datetime | str,
    *,
    time_unit: str | float = "weeks",
    customer_col: str = "customer_id",
    time_col: str = "ordered_at",
    amount_col: str = "amount",
) -> RFMSummary:
    """RFM summary of every customer with a purchase on or before ``observation_end``."""
    unit = time_unit_days(time_unit)
    end = _as_date(observation_end)
    source, view = _source_sql(con, transactions)
    sql = (
        "WITH"
        + _days_cte(source, customer_col, time_col, amount_col)
        + _RFM_SELECT.format(end="$observation_end", where="")
        + "\n        ORDER BY customer_id"
    )
    cols = _fetch(con, sql, {"observation_end": end, "unit": unit}, view)
    return RFMSummary(
        customer_id=cols["customer_id"],
        frequency=cols["frequency"].astype(np.int64),
        recency=cols["recency"].astype(np.float64),
        T=cols["T"].astype(np.float64),
        monetary_value=cols["monetary_value"].astype(np.float64),
        observation_end=end,
        time_unit_days=unit,
    )


def rfm_calibration_holdout(
    con: duckdb.DuckDBPyConnection,
    transactions: Any,
    calibration_end: dt.date | dt.datetime | str,
    observation_end: dt.date | dt.datetime | str,
    *,
    time_unit: str | float = "weeks",
    customer_col: str = "customer_id",
    time_col: str = "ordered_at",
    amount_col: str = "amount",
) -> CalibrationHoldout:
    """Calibration summary up to ``calibration_end`` and holdout purchases after it."""
    unit = time_unit_days(time_unit)
    cal_end, obs_end = _as_date(calibration_end), _as_date(observation_end)
    if obs_end <= cal_end:
        raise ValueError("observation_end must be after calibration_end")
    source, view = _source_sql(con, transactions)
    sql = (
        "WITH"
        + _days_cte(source, customer_col, time_col, amount_col)
        + ",\n    cal AS ("
        + _RFM_SELECT.format(end="$calibration_end", where="WHERE day <= $calibration_end")
        + "\n    ),\n"
        + """    hold AS (
        SELECT customer_id, COUNT(*) AS frequency_holdout, AVG(value) AS monetary_value_holdout
        FROM days WHERE day > $calibration_end GROUP BY customer_id
    )
    SELECT cal.*,
           COALESCE(hold.frequency_holdout, 0) AS frequency_holdout,
           COALESCE(hold.monetary_value_holdout, 0.0) AS monetary_value_holdout
    FROM cal LEFT JOIN hold USING (customer_id)
    ORDER BY customer_id"""
    )
    params = {"observation_end": obs_end, "calibration_end": cal_end, "unit": unit}
    cols = _fetch(con, sql, params, view)
    calibration = RFMSummary(
        customer_id=cols["customer_id"],
        frequency=cols["frequency"].astype(np.int64),
        recency=cols["recency"].astype(np.float64),
        T=cols["T"].astype(np.float64),
        monetary_value=cols["monetary_value"].astype(np.float64),
        observation_end=cal_end,
        time_unit_days=unit,
    )
    return CalibrationHoldout(
        calibration=calibration,
        frequency_holdout=cols["frequency_holdout"].astype(np.int64),
        monetary_value_holdout=cols["monetary_value_holdout"].astype(np.float64),
        calibration_end=cal_end,
        observation_end=obs_end,
        duration_holdout=(obs_end - cal_end).days / unit,
    )

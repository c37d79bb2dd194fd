"""What an analyst would otherwise write: pandas over the same files, same core marts.

The RFM summary uses lifetimes' ``summary_data_from_transaction_data`` when it runs on this
pandas (it is unmaintained and parts of it fail on pandas 3); otherwise the same summary
by groupby, and the fallback is reported.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def read(landing: Path, source: str, columns=None) -> pd.DataFrame:
    return pd.read_parquet(landing / source, columns=columns)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pandas_baseline")
    parser.add_argument("--landing", type=Path, required=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    today = pd.Timestamp.now().normalize()

    contacts = read(args.landing, "contacts", ["contact_id", "business_type", "created_at"])
    orders = read(
        args.landing, "orders", ["order_id", "contact_id", "ordered_at", "amount", "status"]
    )
    events = read(
        args.landing,
        "email_events",
        ["campaign_id", "contact_id", "event_type", "occurred_at", "is_machine_open"],
    )
    campaigns = read(args.landing, "campaigns")
    completed = orders[orders["status"] == "completed"].copy()
    completed["amount"] = completed["amount"].astype(float)

    # RFM summary: lifetimes if it works here, else groupby
    rfm_tool = "lifetimes.summary_data_from_transaction_data"
    try:
        from lifetimes.utils import summary_data_from_transaction_data

        summary = summary_data_from_transaction_data(
            completed,
            "contact_id",
            "ordered_at",
            monetary_value_col="amount",
            observation_period_end=today,
            freq="D",
        )
    except Exception as exc:  # noqa: BLE001 - report whatever broke
        rfm_tool = f"groupby (lifetimes failed: {type(exc).__name__}: {str(exc)[:120]})"
        summary = completed.groupby("contact_id").agg(
            frequency=("order_id", "count"),
            last=("ordered_at", "max"),
            monetary_value=("amount", "mean"),
        )
    by_contact = completed.groupby("contact_id").agg(
        last_order_at=("ordered_at", "max"),
        frequency=("order_id", "count"),
        monetary=("amount", "sum"),
    )
    by_contact["r_score"] = (
        pd.qcut(by_contact["last_order_at"].rank(method="first"), 5, labels=False) + 1
    )
    by_contact["f_score"] = (
        pd.qcut(by_contact["frequency"].rank(method="first"), 5, labels=False) + 1
    )
    by_contact["m_score"] = (
        pd.qcut(by_contact["monetary"].rank(method="first"), 5, labels=False) + 1
    )

    human = events[(events["event_type"] == "open") & ~events["is_machine_open"].fillna(False)]
    last_open = human.groupby("contact_id")["occurred_at"].max().rename("last_human_open_at")
    clicks = events[events["event_type"] == "click"]
    last_click = clicks.groupby("contact_id")["occurred_at"].max().rename("last_click_at")
    activity = (
        contacts.set_index("contact_id")
        .join(by_contact[["last_order_at"]])
        .join(last_click)
        .join(last_open)
    )
    activity["last_activity_at"] = activity[["last_order_at", "last_click_at", "created_at"]].max(
        axis=1
    )
    window = np.where(activity["business_type"] == "B2B", 180, 90)
    days = (today - activity["last_activity_at"]).dt.days
    activity["status"] = np.select(
        [days >= 2 * window, days >= window, days >= 0.5 * window],
        ["lost", "inactive", "at_risk"],
        "active",
    )

    # reactivation KPIs with a 14-day attribution window
    reactivation = campaigns.loc[campaigns["campaign_kind"] == "reactivation", "campaign_id"]
    sent = events[(events["event_type"] == "sent") & events["campaign_id"].isin(reactivation)]
    touches = sent[["campaign_id", "contact_id", "occurred_at"]]
    joined = touches.merge(
        completed[["contact_id", "order_id", "ordered_at", "amount"]], on="contact_id"
    )
    delta = joined["ordered_at"] - joined["occurred_at"]
    attributed = joined[(delta > pd.Timedelta(0)) & (delta <= pd.Timedelta(days=14))]
    kpis = events[events["campaign_id"].isin(reactivation)].pivot_table(
        index="campaign_id",
        columns="event_type",
        values="contact_id",
        aggfunc="count",
        fill_value=0,
    )
    conversions = attributed.groupby("campaign_id")["order_id"].nunique()
    kpis = kpis.join(conversions.rename("conversions"))
    sys.stdout.write(
        f"rfm via {rfm_tool}: {len(summary)} customers; {len(activity)} contacts; "
        f"{len(kpis)} campaigns in {time.perf_counter() - started:.1f} s\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

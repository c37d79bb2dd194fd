"""The HTML report of a run: one self-contained file people would rather look at than read.

``build_report(con, reports_dir)`` reads the marts through ``con`` and writes
``<reports_dir>/reveil_report_<as_of_date>.html`` and a copy ``latest.html``. The file carries
plotly.js inline (once, in the head) and uses no web font, image or stylesheet from the
network: it opens offline, from a mail attachment or a file share.

What it reads
-------------
In the pipeline (``dagster_project.defs.report``) ``con`` is the **published serving
database** (``<serving_dir>/reveil.duckdb``), read-only: the report shows exactly the gated
tables BI tools see, a version id ties it to one publication, and reading it never takes the
warehouse lock a writer might need. The purge log (``audit.purge_batches``) and the
suppression list (``suppression.email_hashes``) are not published; when the warehouse is
attached read-only under another name they are found there (any attached catalog is
searched), else that part says it is not available. Every section copes with a missing mart
the same way, so a project without the purge marts still gets a report.

Only aggregates are read and shown: counts, sums, rates. No query selects an email, a name or
a contact id.

CLV predictions (``predictions/customer_predictions`` joined by the marts) add, when the marts
carry their columns and hold values: a "Predicted value at stake" headline card (P(alive) x
12-month CLV of the sleeping customers) next to the historical revenue at stake, a chart of
both per RFM segment in ``base``, and the models' forecast for today's sleepers beside the
backtested reactivation rate in ``backtest``. Marts without those columns (older builds,
hand-made test tables) or without predictions give the report as before.

Sections (ids are the anchors in the page): ``headline``, ``history``, ``base``, ``rfm``,
``backtest``, ``funnel``, ``kpis``, ``ab_tests``, ``purge``.
"""

from __future__ import annotations

import html
import os
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from dagster_project.lib.mart_metadata import fmt_eur, fmt_float, fmt_int, fmt_pct

TEMPLATE_PATH = Path(__file__).with_name("report_template.html")
REPORT_PREFIX = "reveil_report_"
LATEST_NAME = "latest.html"
SECTION_IDS = (
    "headline",
    "history",
    "base",
    "rfm",
    "backtest",
    "funnel",
    "kpis",
    "ab_tests",
    "purge",
)

# --- one palette for the whole report ----------------------------------------------------

ACCENT = "#264653"
MUTED = "#8d99ae"
GRID = "#e4e7eb"
GOOD = "#2a9d8f"
BAD = "#d1495b"
STATUS_ORDER = ("active", "at_risk", "inactive", "lost")
STATUS_COLORS = {
    "active": "#2a9d8f",
    "at_risk": "#e9c46a",
    "inactive": "#f4a261",
    "lost": "#d1495b",
}
STATUS_LABELS = {"active": "active", "at_risk": "at risk", "inactive": "inactive", "lost": "lost"}
# healthiest first; never_purchased last (prospects)
SEGMENT_ORDER = (
    "champions",
    "loyal",
    "potential_loyalists",
    "new_customers",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cant_lose_them",
    "hibernating",
    "lost",
    "never_purchased",
)
SEGMENT_COLORS = {
    "champions": "#1b7f5b",
    "loyal": "#2a9d8f",
    "potential_loyalists": "#57b8a6",
    "new_customers": "#8ecae6",
    "promising": "#6aa9d8",
    "need_attention": "#e9c46a",
    "about_to_sleep": "#f1b45b",
    "at_risk": "#f4a261",
    "cant_lose_them": "#e76f51",
    "hibernating": "#c8553d",
    "lost": "#9d2f3d",
    "never_purchased": "#adb5bd",
}
CHANNEL_COLORS = {"email": ACCENT, "sms": "#6aa9d8", "push": "#e9c46a"}
FUNNEL_STAGES = (
    ("sent_count", "sent"),
    ("delivered_count", "delivered"),
    ("human_open_count", "human open"),
    ("click_count", "click"),
    ("conversion_count", "conversion"),
)
STEP_COLORS = ("#264653", "#2a9d8f", "#6aa9d8", "#e9c46a", "#f4a261", "#d1495b")
# no mode bar: the report is for reading (zoom by dragging, double-click to reset still work)
PLOTLY_CONFIG = {"displaylogo": False, "displayModeBar": False, "responsive": True}
Z_95 = 1.959963984540054
# cell labels of the RFM grid, broken over two lines to fit
SEGMENT_SHORT = {
    "potential_loyalists": "potential<br>loyalists",
    "new_customers": "new<br>customers",
    "need_attention": "need<br>attention",
    "about_to_sleep": "about to<br>sleep",
    "cant_lose_them": "can't lose<br>them",
}
FONT = '-apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'


def _label(value: Any) -> str:
    """``cant_lose_them`` -> ``cant lose them``."""
    return str(value).replace("_", " ")


def _short_eur(value: Any) -> str:
    """1261110 -> ``1.26 M€``, 406435 -> ``406 k€``."""
    if value is None:
        return "–"
    amount = float(value)
    if abs(amount) >= 1e6:
        return f"{amount / 1e6:.2f} M€"
    if abs(amount) >= 1e3:
        return f"{amount / 1e3:.0f} k€"
    return f"{amount:.0f} €"


def _count_ticks(largest: float) -> dict[str, Any]:
    """Axis properties for counts: whole numbers only (no "0.5 contacts" on a small base)."""
    return {"tickformat": ",d", **({"dtick": 1} if largest <= 8 else {})}


def _wilson(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson score interval of successes / trials (the formula of the dbt macro, clamped to
    [0, 1] as it is: 0/5 gives -3e-17 in floating point)."""
    if not trials:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z / denominator * (p * (1 - p) / trials + z * z / (4 * trials * trials)) ** 0.5
    return max(0.0, centre - half), min(1.0, centre + half)


def _layout(fig: go.Figure, height: int = 360, **kwargs: Any) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 10, "r": 10, "t": 36, "b": 10},
        font={"family": FONT, "size": 13, "color": "#1f2933"},
        hoverlabel={"font": {"family": FONT}},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        **kwargs,
    )
    fig.update_xaxes(gridcolor=GRID, zerolinecolor=GRID, automargin=True)
    fig.update_yaxes(gridcolor=GRID, zerolinecolor=GRID, automargin=True)
    return fig


# --- reading -----------------------------------------------------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Source:
    """The marts behind ``con``: finds tables in any attached catalog, remembers what's missing."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.missing: list[str] = []
        self._found: dict[str, str | None] = {}

    def table(self, schema: str, name: str, *, optional: bool = False) -> str | None:
        """Qualified name of ``schema.name`` (the default catalog first), None if absent
        (then listed in ``missing`` unless ``optional``)."""
        key = f"{schema}.{name}"
        if key not in self._found:
            row = self.con.execute(
                """
                select database_name from (
                    select database_name from duckdb_tables()
                    where schema_name = ? and table_name = ?
                    union all
                    select database_name from duckdb_views()
                    where schema_name = ? and view_name = ? and not internal
                )
                order by database_name = current_database() desc, database_name
                limit 1
                """,
                [schema, name, schema, name],
            ).fetchone()
            self._found[key] = f"{_quote(row[0])}.{_quote(schema)}.{_quote(name)}" if row else None
            if row is None and not optional:
                self.missing.append(key)
        return self._found[key]

    def columns(self, table: str | None) -> set[str]:
        """Column names of a table found by ``table()`` (empty when None)."""
        if table is None:
            return set()
        return {
            column[0] for column in self.con.execute(f"select * from {table} limit 0").description
        }

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.con.execute(sql, list(params))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any]:
        rows = self.rows(sql, params)
        return rows[0] if rows else {}


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


# --- sections ----------------------------------------------------------------------------


@dataclass
class Section:
    id: str
    title: str
    caption: str
    body: str
    charts: int = 0


@dataclass
class _Page:
    """Charts rendered so far; each chart becomes one ``<div>`` with its plotly call."""

    charts: list[str] = field(default_factory=list)

    def chart(self, name: str, fig: go.Figure, title: str = "") -> str:
        div = pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=False,
            config=PLOTLY_CONFIG,
            div_id=f"chart-{name}",
            default_height=f"{fig.layout.height or 360}px",
            validate=True,
        )
        self.charts.append(name)
        heading = f'<h3 class="chart-title">{html.escape(title)}</h3>' if title else ""
        return f'{heading}<div class="chart" data-chart="{html.escape(name)}">{div}</div>'


def _missing(what: str) -> str:
    return f'<div class="missing">Not available: {html.escape(what)} is not in this database.</div>'


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[bool] | None = None
) -> str:
    numeric = numeric or [False] + [True] * (len(headers) - 1)
    head = "".join(
        f'<th class="{"num" if n else ""}">{html.escape(h)}</th>'
        for h, n in zip(headers, numeric, strict=True)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"num" if n else ""}">{cell}</td>'
            for cell, n in zip(row, numeric, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return f'<table class="kpi"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _card(label: str, value: str, note: str = "", tone: str = "") -> str:
    return (
        f'<div class="card {tone}"><div class="label">{html.escape(label)}</div>'
        f'<div class="value">{html.escape(value)}</div>'
        f'<div class="note">{html.escape(note)}</div></div>'
    )


def _base_totals(src: _Source) -> dict[str, Any]:
    table = src.table("marts", "dim_contact_inactivity")
    if table is None:
        return {}
    # null when the mart has no prediction column or no prediction of its snapshot date
    predicted = (
        "sum(predicted_value_at_stake) filter (where is_inactive)"
        if "predicted_value_at_stake" in src.columns(table)
        else "null"
    )
    return src.one(
        f"""
        select
            max(as_of_date) as as_of_date,
            count(*) as contacts,
            count(*) filter (where completed_order_count > 0) as customers,
            count(*) filter (where is_inactive) as sleeping,
            count(*) filter (where inactivity_status = 'at_risk') as at_risk,
            coalesce(sum(revenue_at_stake) filter (where is_inactive), 0) as revenue_at_stake,
            coalesce(sum(revenue_at_stake) filter (where inactivity_status = 'at_risk'), 0)
                as at_risk_value,
            {predicted} as predicted_value_at_stake
        from {table}
        """
    )


def _history_rows(src: _Source, totals: dict[str, Any]) -> list[dict[str, Any]]:
    table = src.table("marts", "rpt_base_history")
    if table is not None:
        return src.rows(
            f"""
            select as_of_date, is_reconstructed, contact_count, sleeping_contact_count,
                inactive_share, revenue_at_stake, at_risk_revenue_at_stake
            from {table}
            order by as_of_date
            """
        )
    if totals.get("contacts"):  # no history mart: today's point only
        return [
            {
                "as_of_date": totals["as_of_date"],
                "is_reconstructed": False,
                "contact_count": totals["contacts"],
                "sleeping_contact_count": totals["sleeping"],
                "inactive_share": totals["sleeping"] / totals["contacts"],
                "revenue_at_stake": totals["revenue_at_stake"],
                "at_risk_revenue_at_stake": totals["at_risk_value"],
            }
        ]
    return []


def _headline(src: _Source, totals: dict[str, Any], history: list[dict[str, Any]]) -> Section:
    cards = []
    if totals:
        contacts = totals["contacts"] or 0
        share = totals["sleeping"] / contacts if contacts else None
        change_note = ""
        observed = [row for row in history if not row["is_reconstructed"]]
        earlier = [row for row in history if row["as_of_date"] < totals["as_of_date"]]
        if len(observed) > 1 or earlier:
            previous = (earlier or observed[:-1])[-1]
            if previous["inactive_share"] is not None and share is not None:
                delta = (share - float(previous["inactive_share"])) * 100
                change_note = f"{delta:+.1f} pp since {previous['as_of_date']}"
        cards += [
            _card("Contacts", fmt_int(contacts), f"{fmt_int(totals['customers'])} customers"),
            _card(
                "Sleeping contacts",
                fmt_pct(share),
                f"{fmt_int(totals['sleeping'])} inactive or lost"
                + (f" · {change_note}" if change_note else ""),
                "bad",
            ),
            _card(
                "Revenue at stake",
                fmt_eur(totals["revenue_at_stake"]),
                "12 months of revenue of the sleeping contacts",
                "bad",
            ),
        ]
        if totals.get("predicted_value_at_stake") is not None:
            cards.append(
                _card(
                    "Predicted value at stake",
                    fmt_eur(totals["predicted_value_at_stake"]),
                    "next 12 months × P(alive), sleeping customers",
                    "bad",
                )
            )
        cards += [
            _card(
                "At risk",
                fmt_int(totals["at_risk"]),
                f"{fmt_eur(totals['at_risk_value'])} about to fall asleep",
                "warn",
            ),
        ]
    kpis = src.table("marts", "rpt_reactivation_kpis")
    if kpis is not None:
        overall = src.one(
            f"""
            select sent_count, conversion_count, conversion_rate, attributed_revenue, roi
            from {kpis} where aggregation_level = 'overall'
            """
        )
        if overall:
            cards.append(
                _card(
                    "Reactivated",
                    fmt_int(overall["conversion_count"]),
                    f"{fmt_pct(overall['conversion_rate'], 2)} of {fmt_int(overall['sent_count'])}"
                    f" messages · {fmt_eur(overall['attributed_revenue'])} won back",
                    "good",
                )
            )
    candidates = src.table("marts", "purge_candidates")
    if candidates is not None:
        count = src.one(f"select count(*) as n from {candidates}")["n"]
        cards.append(_card("Purge candidates", fmt_int(count), "silent contacts in today's batch"))
    body = (
        f'<div class="cards">{"".join(cards)}</div>'
        if cards
        else _missing("marts.dim_contact_inactivity")
    )
    as_of = totals.get("as_of_date")
    return Section(
        "headline",
        "Headline" + (f" — as of {as_of}" if as_of else ""),
        "Sleeping = status inactive or lost (no order or click within the business cycle's "
        "window). Revenue at stake = their revenue of the 12 months before their last activity"
        + (
            "; predicted value at stake = what the CLV models expect them to spend in the next "
            "12 months, weighted by the chance they are still customers."
            if totals.get("predicted_value_at_stake") is not None
            else "."
        ),
        body,
    )


def _history(page: _Page, history: list[dict[str, Any]]) -> Section:
    title = "Inactive share and revenue at stake over time"
    caption = (
        "One point per snapshot the pipeline has built (mart rpt_base_history). Hollow points "
        "are reconstructed afterwards from the backtest snapshot; filled points were observed "
        "on their day."
    )
    if not history:
        return Section("history", title, caption, _missing("marts.rpt_base_history"))
    dates = [row["as_of_date"] for row in history]
    reconstructed = [bool(row["is_reconstructed"]) for row in history]
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.13,
        row_heights=[0.5, 0.5],
        subplot_titles=("Inactive share of the base", "Revenue at stake (€)"),
    )
    fig.add_trace(
        go.Scatter(
            x=dates,
            y=[_f(row["inactive_share"]) for row in history],
            mode="lines+markers",
            name="inactive share",
            line={"color": BAD, "width": 2.5},
            marker={
                "size": 9,
                "color": ["#ffffff" if r else BAD for r in reconstructed],
                "line": {"color": BAD, "width": 2},
            },
            customdata=[
                [
                    "reconstructed" if r else "observed",
                    fmt_int(row["sleeping_contact_count"]),
                    fmt_int(row["contact_count"]),
                ]
                for r, row in zip(reconstructed, history, strict=True)
            ],
            hovertemplate=(
                "%{x|%Y-%m-%d} (%{customdata[0]})<br>%{y:.1%} sleeping"
                "<br>%{customdata[1]} of %{customdata[2]} contacts<extra></extra>"
            ),
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=dates,
            y=[_f(row["revenue_at_stake"]) for row in history],
            mode="lines+markers",
            name="revenue at stake",
            line={"color": ACCENT, "width": 2.5},
            fill="tozeroy",
            fillcolor="rgba(38, 70, 83, 0.12)",
            marker={
                "size": 9,
                "color": ["#ffffff" if r else ACCENT for r in reconstructed],
                "line": {"color": ACCENT, "width": 2},
            },
            hovertemplate="%{x|%Y-%m-%d}<br>%{y:,.0f} € at stake<extra></extra>",
        ),
        row=2,
        col=1,
    )
    # a little room on both sides, also when there is a single snapshot
    span = max((max(dates) - min(dates)).days, 60)
    pad = timedelta(days=max(round(span * 0.05), 7))
    fig.update_xaxes(range=[min(dates) - pad, max(dates) + pad])
    _layout(fig, height=440, showlegend=False)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(tickformat=",.0f", rangemode="tozero", row=2, col=1)
    fig.update_annotations(font={"size": 13, "color": "#616e7c"}, x=0, xanchor="left")
    return Section("history", title, caption, page.chart("history", fig), 1)


def _base(page: _Page, src: _Source) -> Section:
    title = "Where the base stands"
    caption = (
        "Left: contacts per inactivity status and the revenue at stake behind each. Right: why "
        "the sleeping contacts sleep (first matching reason: closed company, dead address, "
        "never engaged, deliverability, lost interest), with the value each reason holds."
    )
    table = src.table("marts", "dim_contact_inactivity")
    if table is None:
        return Section("base", title, caption, _missing("marts.dim_contact_inactivity"))
    status = {
        row["inactivity_status"]: row
        for row in src.rows(
            f"""
            select inactivity_status, count(*) as contacts,
                coalesce(sum(revenue_at_stake), 0) as revenue_at_stake
            from {table} group by inactivity_status
            """
        )
    }
    statuses = [s for s in STATUS_ORDER if s in status]
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Contacts", "Revenue at stake (€)"),
        horizontal_spacing=0.14,
    )
    for col, measure, text in (
        (1, "contacts", fmt_int),
        (2, "revenue_at_stake", _short_eur),
    ):
        values = [_f(status[s][measure]) for s in statuses]
        fig.add_trace(
            go.Bar(
                x=[STATUS_LABELS[s] for s in statuses],
                y=values,
                marker={"color": [STATUS_COLORS[s] for s in statuses]},
                text=[text(status[s][measure]) for s in statuses],
                textposition="outside",
                constraintext="none",
                cliponaxis=False,
                hovertemplate="%{x}: %{y:,.0f}<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=col,
        )
        fig.update_yaxes(range=[0, max(values + [1]) * 1.15], row=1, col=col)
    _layout(fig, height=340)
    fig.update_yaxes(_count_ticks(max(_f(status[s]["contacts"]) for s in statuses)), col=1)
    fig.update_yaxes(tickformat="~s", col=2)
    fig.update_annotations(font={"size": 13, "color": "#616e7c"})
    charts = [page.chart("status", fig, "Contacts and value at stake per status")]

    summary = src.table("marts", "rpt_inactive_contacts_summary")
    if summary is not None:
        reasons = src.rows(
            f"""
            select dimension_value as reason, inactive_contact_count as contacts,
                revenue_at_stake
            from {summary}
            where dimension = 'inactivity_reason'
            order by inactive_contact_count, dimension_value desc
            """
        )
        fig = go.Figure(
            go.Bar(
                orientation="h",
                y=[_label(row["reason"]) for row in reasons],
                x=[row["contacts"] for row in reasons],
                marker={"color": STATUS_COLORS["lost"]},
                text=[
                    f"{fmt_int(row['contacts'])} · {_short_eur(row['revenue_at_stake'])}"
                    for row in reasons
                ],
                textposition="outside",
                constraintext="none",
                cliponaxis=False,
                hovertemplate="%{y}: %{x:,} sleeping contacts<extra></extra>",
            )
        )
        _layout(fig, height=320)
        largest = max([r["contacts"] for r in reasons] + [1])
        fig.update_xaxes(range=[0, largest * 1.35], **_count_ticks(largest))
        charts.append(page.chart("reasons", fig, "Sleeping contacts by reason · value at stake"))
        if "predicted_value_at_stake" in src.columns(summary):
            charts += _value_at_stake_by_segment(page, src, summary)
    else:
        charts.append(_missing("marts.rpt_inactive_contacts_summary"))
    body = f'<div class="grid2">{"".join(f"<div>{c}</div>" for c in charts)}</div>'
    return Section("base", title, caption, body, sum("data-chart" in c for c in charts))


def _value_at_stake_by_segment(page: _Page, src: _Source, summary: str) -> list[str]:
    """Historical revenue at stake beside predicted value at stake (P(alive) x 12-month CLV)
    per RFM segment of the sleeping contacts; nothing when no prediction is in the mart."""
    rows = src.rows(
        f"""
        select dimension_value as segment, inactive_contact_count as contacts,
            revenue_at_stake, predicted_value_at_stake, mean_p_alive
        from {summary}
        where dimension = 'rfm_segment' and dimension_value <> 'never_purchased'
        """
    )
    if not rows or all(row["predicted_value_at_stake"] is None for row in rows):
        return []
    order = {segment: index for index, segment in enumerate(SEGMENT_ORDER)}
    rows.sort(key=lambda row: order.get(row["segment"], len(order)), reverse=True)
    labels = [_label(row["segment"]) for row in rows]
    fig = go.Figure()
    for measure, name, color in (
        ("revenue_at_stake", "last 12 months (revenue at stake)", MUTED),
        ("predicted_value_at_stake", "next 12 months (P(alive) × CLV)", BAD),
    ):
        fig.add_trace(
            go.Bar(
                orientation="h",
                name=name,
                y=labels,
                x=[_f(row[measure]) for row in rows],
                marker={"color": color},
                customdata=[
                    [fmt_int(row["contacts"]), fmt_float(row["mean_p_alive"], 2)] for row in rows
                ],
                hovertemplate=(
                    "%{y}: %{x:,.0f} €<br>%{customdata[0]} sleeping, mean P(alive) "
                    "%{customdata[1]}<extra></extra>"
                ),
            )
        )
    _layout(fig, height=max(300, 48 * len(rows) + 110), barmode="group")
    fig.update_xaxes(tickformat="~s", title="€", rangemode="tozero")
    return [
        page.chart(
            "value_at_stake",
            fig,
            "Sleeping customers per segment: revenue at stake vs predicted value at stake",
        )
    ]


def _cell_label(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return ""
    name = SEGMENT_SHORT.get(cell["segment"], _label(cell["segment"]))
    return f"{name}<br><b>{fmt_int(cell['customers'])}</b>"


def _rfm(page: _Page, src: _Source) -> Section:
    title = "RFM grid and segments"
    caption = (
        "Left: customers by recency score (rows, 5 = bought most recently) and combined "
        "frequency-monetary score (columns, 5 = buys most often and most); each cell is "
        "labelled with its named segment. Right: the size of each segment, split by "
        "inactivity status — the orange and red parts are the customers to win back."
    )
    rfm = src.table("marts", "dim_customer_rfm")
    if rfm is None:
        return Section("rfm", title, caption, _missing("marts.dim_customer_rfm"))
    cells = src.rows(
        f"""
        select recency_score, frequency_monetary_score, mode(rfm_segment) as segment,
            count(*) as customers
        from {rfm}
        group by recency_score, frequency_monetary_score
        """
    )
    top_score = max(
        [c["recency_score"] for c in cells] + [c["frequency_monetary_score"] for c in cells] + [5]
    )
    scores = range(1, top_score + 1)
    by_cell = {(c["recency_score"], c["frequency_monetary_score"]): c for c in cells}
    z, text = [], []
    for r in scores:
        z.append([by_cell.get((r, fm), {}).get("customers") for fm in scores])
        text.append([_cell_label(by_cell.get((r, fm))) for fm in scores])
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[str(s) for s in scores],
            y=[str(s) for s in scores],
            text=text,
            texttemplate="%{text}",
            textfont={"size": 11},
            colorscale=[[0, "#e8f0f3"], [1, ACCENT]],
            showscale=False,  # every cell is labelled with its count
            xgap=3,
            ygap=3,
            hovertemplate="R %{y} × FM %{x}<br>%{z:,} customers<extra></extra>",
        )
    )
    _layout(fig, height=430)
    fig.update_xaxes(title="frequency-monetary score →", showgrid=False)
    fig.update_yaxes(title="recency score →", showgrid=False)
    charts = [page.chart("rfm_grid", fig, "Customers per R × FM cell")]

    contacts = src.table("marts", "dim_contact_inactivity")
    if contacts is not None:
        rows = src.rows(
            f"""
            select rfm_segment, inactivity_status, count(*) as contacts
            from {contacts}
            where rfm_segment <> 'never_purchased'
            group by rfm_segment, inactivity_status
            """
        )
        counts = {(row["rfm_segment"], row["inactivity_status"]): row["contacts"] for row in rows}
        segments = [s for s in SEGMENT_ORDER if any(k[0] == s for k in counts)]
        segments += sorted({k[0] for k in counts} - set(segments))
        segments.reverse()  # healthiest at the top of a horizontal bar chart
        fig = go.Figure()
        for status in STATUS_ORDER:
            fig.add_trace(
                go.Bar(
                    orientation="h",
                    name=STATUS_LABELS[status],
                    y=[_label(s) for s in segments],
                    x=[counts.get((s, status), 0) for s in segments],
                    marker={"color": STATUS_COLORS[status]},
                    hovertemplate="%{y}: %{x:,} " + STATUS_LABELS[status] + "<extra></extra>",
                )
            )
        _layout(fig, height=430, barmode="stack")
        fig.update_layout(legend={"traceorder": "normal"})
        largest = max(
            [sum(counts.get((s, status), 0) for status in STATUS_ORDER) for s in segments] + [1]
        )
        fig.update_xaxes(title="customers", **_count_ticks(largest))
        charts.append(page.chart("segments", fig, "Customers per segment, by status"))
    body = f'<div class="grid2">{"".join(f"<div>{c}</div>" for c in charts)}</div>'
    return Section("rfm", title, caption, body, sum("data-chart" in c for c in charts))


def _backtest(page: _Page, src: _Source) -> Section:
    title = "Will they come back? The backtest"
    table = src.table("marts", "rpt_segment_reactivation_backtest")
    caption = (
        "Customers who were sleeping one backtest period ago, by their segment then: the share "
        "who ordered again within the outcome window. Whiskers show the 95 % Wilson interval — "
        "wide ones mean few customers, read them with care."
    )
    if table is None:
        return Section(
            "backtest", title, caption, _missing("marts.rpt_segment_reactivation_backtest")
        )
    model_columns = ("current_inactive_customer_count", "current_mean_p_alive")
    model_columns += ("current_mean_p_purchase_365d",)
    has_model = set(model_columns) <= src.columns(table)
    rows = src.rows(
        f"""
        select rfm_segment, backtest_as_of_date, inactive_customer_count,
            reactivated_customer_count, reactivation_rate, reactivation_rate_lower_95,
            reactivation_rate_upper_95, is_outcome_window_complete,
            {", ".join(model_columns) if has_model else "null as current_mean_p_alive"}
        from {table}
        where inactive_customer_count > 0
        order by reactivation_rate
        """
    )
    if not rows:
        return Section("backtest", title, caption, _missing("a backtested segment"))
    complete = all(r["is_outcome_window_complete"] for r in rows)
    caption += f" Backtest date: {rows[0]['backtest_as_of_date']}" + (
        "." if complete else " (outcome window not complete yet)."
    )
    rates = [_f(r["reactivation_rate"]) for r in rows]
    fig = go.Figure(
        go.Bar(
            orientation="h",
            y=[
                f"{_label(r['rfm_segment'])} · {fmt_int(r['reactivated_customer_count'])}"
                f" of {fmt_int(r['inactive_customer_count'])}"
                for r in rows
            ],
            x=rates,
            marker={"color": [SEGMENT_COLORS.get(r["rfm_segment"], MUTED) for r in rows]},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [
                    _f(r["reactivation_rate_upper_95"]) - x
                    for r, x in zip(rows, rates, strict=True)
                ],
                "arrayminus": [
                    x - _f(r["reactivation_rate_lower_95"])
                    for r, x in zip(rows, rates, strict=True)
                ],
                "color": "#3e4c59",
                "thickness": 1.5,
                "width": 5,
            },
            hovertemplate="%{y} came back: %{x:.1%}<extra></extra>",
            name="backtest: came back within the outcome window",
        )
    )
    predicted = has_model and any(r["current_mean_p_alive"] is not None for r in rows)
    table_html = ""
    if predicted:
        labels = list(fig.data[0].y)
        for measure, name, symbol in (
            ("current_mean_p_purchase_365d", "model today: P(buys within 365 days)", "diamond"),
            ("current_mean_p_alive", "model today: mean P(alive)", "circle-open"),
        ):
            fig.add_trace(
                go.Scatter(
                    x=[_f(r[measure]) for r in rows],
                    y=labels,
                    mode="markers",
                    name=name,
                    marker={"symbol": symbol, "size": 11, "color": ACCENT, "line": {"width": 2}},
                    hovertemplate="%{y}: " + name + " %{x:.1%}<extra></extra>",
                )
            )
        caption += (
            " Markers: what the CLV models (MBG/NBD) forecast for the customers sleeping today in "
            "the same segment — their mean probability of buying within 365 days (the like-for-"
            "like forecast of the bar) and their mean P(alive), which is higher by construction "
            "(alive does not mean buying within the year). Different people and dates: the bar "
            "is last year's sleepers, the markers are today's."
        )
        table_html = _table(
            [
                "segment",
                "backtest: came back (n)",
                "95 % interval",
                "sleeping today",
                "P(buys within 365 d) today",
                "mean P(alive) today",
            ],
            [
                (
                    html.escape(_label(r["rfm_segment"])),
                    f"{fmt_pct(r['reactivation_rate'])} ({fmt_int(r['inactive_customer_count'])})",
                    f"[{fmt_pct(r['reactivation_rate_lower_95'])}, "
                    f"{fmt_pct(r['reactivation_rate_upper_95'])}]",
                    fmt_int(r["current_inactive_customer_count"]),
                    fmt_pct(r["current_mean_p_purchase_365d"]),
                    fmt_pct(r["current_mean_p_alive"]),
                )
                for r in reversed(rows)
            ],
        )
    _layout(fig, height=max(260, 42 * len(rows) + 90), showlegend=predicted)
    fig.update_xaxes(tickformat=".0%", range=[0, 1.02], title="reactivation rate")
    body = page.chart("backtest", fig) + table_html
    return Section("backtest", title, caption, body, 1)


def _funnel(page: _Page, src: _Source) -> Section:
    title = "Reactivation funnel per step"
    caption = (
        "Each reactivation step's messages: sent → delivered → opened by a person (machine "
        "opens excluded) → clicked → converted (a completed order attributed to the message "
        "within the attribution window, clicked or not — so conversions can exceed clicks). "
        "The chart shows each stage as a share of the messages sent, on a log scale so the "
        "small stages stay readable; the table gives the counts."
    )
    table = src.table("marts", "rpt_reactivation_kpis")
    if table is None:
        return Section("funnel", title, caption, _missing("marts.rpt_reactivation_kpis"))
    steps = src.rows(
        f"""
        select reactivation_step, {", ".join(column for column, _ in FUNNEL_STAGES)}
        from {table}
        where aggregation_level = 'step'
        order by reactivation_step
        """
    )
    if not steps:
        return Section("funnel", title, caption, _missing("a reactivation step"))
    stages = [label for _, label in FUNNEL_STAGES]
    fig = go.Figure()
    for index, step in enumerate(steps):
        sent = step["sent_count"] or 0
        counts = [step[column] or 0 for column, _ in FUNNEL_STAGES]
        shares = [count / sent if sent else None for count in counts]
        fig.add_trace(
            go.Scatter(
                name=f"step {step['reactivation_step']}",
                x=stages,
                y=[share if share else None for share in shares],  # log axis: no zeros
                mode="lines+markers",
                line={"color": STEP_COLORS[index % len(STEP_COLORS)], "width": 2.5},
                marker={"size": 9},
                customdata=[fmt_int(count) for count in counts],
                hovertemplate="step "
                + str(step["reactivation_step"])
                + " · %{x}: %{customdata} (%{y:.1%} of sent)<extra></extra>",
            )
        )
    _layout(fig, height=360)
    fig.update_yaxes(
        type="log",
        tickvals=[0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
        ticktext=["0.5%", "1%", "2%", "5%", "10%", "20%", "50%", "100%"],
        title="share of messages sent (log scale)",
    )
    counts_table = _table(
        ["step", *stages, "conversion / sent"],
        [
            (
                fmt_int(step["reactivation_step"]),
                *(fmt_int(step[column]) for column, _ in FUNNEL_STAGES),
                fmt_pct(
                    step["conversion_count"] / step["sent_count"] if step["sent_count"] else None,
                    2,
                ),
            )
            for step in steps
        ],
        numeric=[True] * (len(FUNNEL_STAGES) + 2),
    )
    return Section("funnel", title, caption, page.chart("funnel", fig) + counts_table, 1)


def _kpi_table(rows: list[dict[str, Any]], first: str, key: str) -> str:
    return _table(
        [
            first,
            "sent",
            "delivery",
            "human open",
            "click",
            "reactivated",
            "conversion",
            "revenue won back",
            "cost per reactivated",
        ],
        [
            (
                html.escape(_label(row[key])),
                fmt_int(row["sent_count"]),
                fmt_pct(row["delivery_rate"]),
                fmt_pct(row["human_open_rate"]),
                fmt_pct(row["click_rate"]),
                fmt_int(row["conversion_count"]),
                fmt_pct(row["conversion_rate"], 2),
                fmt_eur(row["attributed_revenue"]),
                "–"
                if row["cost_per_reactivated_customer"] is None
                else fmt_float(row["cost_per_reactivated_customer"], 2) + " €",
            )
            for row in rows
        ],
    )


def _kpis(page: _Page, src: _Source) -> Section:
    title = "KPIs by segment and channel"
    caption = (
        "Conversion rate of reactivation messages (conversions / messages sent) by the RFM "
        "segment the contact had when the message went out, and by channel. Human open and "
        "click rates are of delivered messages. Small segments swing: check the counts."
    )
    table = src.table("marts", "rpt_reactivation_kpis")
    if table is None:
        return Section("kpis", title, caption, _missing("marts.rpt_reactivation_kpis"))
    columns = """sent_count, delivered_count, conversion_count, delivery_rate, human_open_rate,
        click_rate, conversion_rate, attributed_revenue, message_cost,
        cost_per_reactivated_customer"""
    segments = src.rows(
        f"""
        select rfm_segment_at_send, {columns} from {table}
        where aggregation_level = 'segment' order by conversion_rate desc nulls last
        """
    )
    channels = src.rows(
        f"""
        select channel, {columns} from {table}
        where aggregation_level = 'channel' order by sent_count desc
        """
    )
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.7, 0.3],
        horizontal_spacing=0.08,
        subplot_titles=("By segment at send", "By channel"),
    )
    for col, rows, key, colors in (
        (1, segments, "rfm_segment_at_send", SEGMENT_COLORS),
        (2, channels, "channel", CHANNEL_COLORS),
    ):
        fig.add_trace(
            go.Bar(
                x=[_label(r[key]) for r in rows],
                y=[_f(r["conversion_rate"]) for r in rows],
                marker={"color": [colors.get(r[key], MUTED) for r in rows]},
                text=[fmt_pct(r["conversion_rate"]) for r in rows],
                textposition="outside",
                constraintext="none",
                cliponaxis=False,
                customdata=[
                    [fmt_int(r["conversion_count"]), fmt_int(r["sent_count"])] for r in rows
                ],
                hovertemplate="%{x}: %{y:.2%}<br>%{customdata[0]} of %{customdata[1]} sent"
                "<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=col,
        )
    top = max([_f(r["conversion_rate"]) or 0 for r in segments + channels] + [0.01])
    _layout(fig, height=360)
    fig.update_yaxes(tickformat=".0%", range=[0, top * 1.18])
    fig.update_yaxes(title="conversion rate", col=1)
    fig.update_xaxes(tickangle=-30, col=1)
    fig.update_annotations(font={"size": 13, "color": "#616e7c"})
    body = (
        page.chart("kpis", fig)
        + _kpi_table(channels, "channel", "channel")
        + _kpi_table(segments, "segment at send", "rfm_segment_at_send")
    )
    return Section("kpis", title, caption, body, 1)


def _ab_tests(page: _Page, src: _Source) -> Section:
    title = "A/B tests"
    caption = (
        "Left: conversion rate of each variant per tested step, with its 95 % Wilson interval. "
        "Right: the difference B − A with its 95 % Newcombe interval; one that crosses the "
        "dotted zero line means the test cannot tell the variants apart. Green: significant by "
        "the two-proportion z-test (near the threshold the two can disagree)."
    )
    table = src.table("marts", "rpt_reactivation_ab_tests")
    if table is None:
        return Section("ab_tests", title, caption, _missing("marts.rpt_reactivation_ab_tests"))
    rows = src.rows(f"select * from {table} order by reactivation_step")
    if not rows:
        return Section(
            "ab_tests", title, caption, '<div class="missing">No step sent both variants yet.</div>'
        )
    labels = [f"step {r['reactivation_step']}" for r in rows]
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.06,
        subplot_titles=("Conversion rate per variant", "Difference B − A"),
    )
    for variant, color in (("a", MUTED), ("b", ACCENT)):
        rates, lower, upper = [], [], []
        for r in rows:
            rate = _f(r[f"variant_{variant}_conversion_rate"])
            bounds = _wilson(
                int(r[f"variant_{variant}_conversion_count"] or 0),
                int(r[f"variant_{variant}_sent_count"] or 0),
            )
            rates.append(rate)
            lower.append(rate - bounds[0] if bounds and rate is not None else None)
            upper.append(bounds[1] - rate if bounds and rate is not None else None)
        fig.add_trace(
            go.Scatter(
                name=f"variant {variant.upper()}",
                x=rates,
                y=labels,
                mode="markers",
                marker={"size": 12, "color": color},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": upper,
                    "arrayminus": lower,
                    "color": color,
                    "thickness": 2,
                    "width": 6,
                },
                customdata=[
                    [
                        fmt_int(r[f"variant_{variant}_conversion_count"]),
                        fmt_int(r[f"variant_{variant}_sent_count"]),
                    ]
                    for r in rows
                ],
                hovertemplate=f"variant {variant.upper()} · "
                + "%{y}: %{x:.2%}<br>%{customdata[0]} of %{customdata[1]} sent<extra></extra>",
                orientation="h",
                offsetgroup=variant,
            ),
            row=1,
            col=1,
        )
    diffs = [_f(r["conversion_rate_difference"]) for r in rows]
    fig.add_trace(
        go.Scatter(
            name="B − A",
            x=diffs,
            y=labels,
            mode="markers",
            marker={
                "size": 13,
                "symbol": "diamond",
                "color": [GOOD if r["is_significant"] else ACCENT for r in rows],
            },
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [
                    _f(r["difference_upper_95"]) - d for r, d in zip(rows, diffs, strict=True)
                ],
                "arrayminus": [
                    d - _f(r["difference_lower_95"]) for r, d in zip(rows, diffs, strict=True)
                ],
                "color": "#3e4c59",
                "thickness": 2,
                "width": 8,
            },
            customdata=[[fmt_float(r["p_value"], 4)] for r in rows],
            hovertemplate="%{y}: B − A = %{x:+.2%}<br>p = %{customdata[0]}<extra></extra>",
            showlegend=False,
        ),
        row=1,
        col=2,
    )
    fig.add_vline(x=0, line={"color": BAD, "dash": "dot", "width": 1.5}, row=1, col=2)
    bounds = ("difference_lower_95", "difference_upper_95")
    reach = max([abs(_f(r[bound]) or 0) for r in rows for bound in bounds] + [0.005])
    _layout(fig, height=max(240, 70 * len(rows) + 150), scattermode="group")
    fig.update_layout(legend={"y": -0.25, "yanchor": "top"})
    fig.update_xaxes(tickformat=".1%", rangemode="tozero", col=1)
    fig.update_xaxes(tickformat="+.1%", range=[-reach * 1.25, reach * 1.25], col=2)
    fig.update_yaxes(autorange="reversed")  # step 1 at the top
    fig.update_annotations(font={"size": 13, "color": "#616e7c"})
    table_html = _table(
        [
            "step",
            "A: conversion (sent)",
            "B: conversion (sent)",
            "B − A",
            "95 % interval",
            "p-value",
            "significant",
        ],
        [
            (
                fmt_int(r["reactivation_step"]),
                f"{fmt_pct(r['variant_a_conversion_rate'], 2)} "
                f"({fmt_int(r['variant_a_sent_count'])})",
                f"{fmt_pct(r['variant_b_conversion_rate'], 2)} "
                f"({fmt_int(r['variant_b_sent_count'])})",
                f"{_f(r['conversion_rate_difference']) * 100:+.2f} pp",
                f"[{_f(r['difference_lower_95']) * 100:+.2f}, "
                f"{_f(r['difference_upper_95']) * 100:+.2f}] pp",
                fmt_float(r["p_value"], 4),
                '<span class="pill yes">yes</span>'
                if r["is_significant"]
                else '<span class="pill">no</span>',
            )
            for r in rows
        ],
        numeric=[True, True, True, True, True, True, False],
    )
    return Section("ab_tests", title, caption, page.chart("ab_tests", fig) + table_html, 1)


def _purge(page: _Page, src: _Source) -> Section:
    title = "Purge and suppression"
    caption = (
        "Today's purge candidates by rule (retention limit, closed company, silent after the "
        "sunset sequence), the deliverability guardrails, and the purges logged so far (a dry "
        "run only lists; it suppresses and archives nothing). Counts only: the lists "
        "themselves stay in the exports folder."
    )
    parts: list[str] = []
    cards: list[str] = []
    charts = 0
    candidates = src.table("marts", "purge_candidates")
    if candidates is not None:
        by_rule = src.rows(
            f"""
            select purge_rule, count(*) as contacts from {candidates}
            group by purge_rule order by contacts
            """
        )
        cards.append(
            _card(
                "Purge candidates", fmt_int(sum(r["contacts"] for r in by_rule)), "in today's batch"
            )
        )
        if by_rule:
            fig = go.Figure(
                go.Bar(
                    orientation="h",
                    y=[_label(r["purge_rule"]) for r in by_rule],
                    x=[r["contacts"] for r in by_rule],
                    marker={"color": STATUS_COLORS["lost"]},
                    text=[fmt_int(r["contacts"]) for r in by_rule],
                    textposition="outside",
                    cliponaxis=False,
                    hovertemplate="%{y}: %{x:,} contacts<extra></extra>",
                )
            )
            _layout(
                fig,
                height=max(200, 56 * len(by_rule) + 90),
                title={
                    "text": "Purge candidates by rule",
                    "x": 0,
                    "font": {"size": 13, "color": "#616e7c"},
                },
            )
            largest = max(r["contacts"] for r in by_rule)
            fig.update_xaxes(range=[0, largest * 1.2], **_count_ticks(largest))
            parts.append(page.chart("purge", fig))
            charts += 1
    else:
        parts.append(_missing("marts.purge_candidates"))
    bounces = src.table("marts", "hard_bounce_suppressions")
    if bounces is not None:
        n = src.one(f"select count(*) as n from {bounces}")["n"]
        cards.append(_card("Hard-bounce suppressions", fmt_int(n), "addresses not mailed"))
    allowance = src.table("marts", "bounce_reenable_allowance")
    reenabled = src.table("marts", "bounce_reenable_list")
    if allowance is not None and reenabled is not None:
        cap = src.one(f"select max(monthly_cap) as cap from {allowance}")["cap"]
        n = src.one(f"select count(*) as n from {reenabled}")["n"]
        cards.append(_card("Re-enabled this month", fmt_int(n), f"cap {fmt_int(cap)}"))
    complaints = src.table("marts", "rpt_campaign_complaint_rates")
    if complaints is not None:
        row = src.one(
            f"""
            select count(*) filter (where complaint_status = 'alert') as alert,
                count(*) filter (where complaint_status = 'warn') as warn,
                count(*) as campaigns
            from {complaints} where is_in_lookback
            """
        )
        flagged = (row.get("alert") or 0) + (row.get("warn") or 0)
        cards.append(
            _card(
                "Complaint-rate flags",
                fmt_int(flagged),
                f"of {fmt_int(row.get('campaigns'))} recent campaigns",
                "bad" if row.get("alert") else ("warn" if flagged else "good"),
            )
        )
    suppression = src.table("suppression", "email_hashes")
    if suppression is not None:
        n = src.one(f"select count(*) as n from {suppression}")["n"]
        cards.append(_card("Suppression list", fmt_int(n), "purged addresses, hashed"))
    audit = src.table("audit", "purge_batches")
    if audit is not None:
        batches = src.rows(
            f"""
            select as_of_date, dry_run, candidate_count, suppression_added, archived,
                finished_at
            from {audit}
            order by finished_at desc nulls last
            limit 8
            """
        )
        real = src.one(
            f"select count(*) as n, coalesce(sum(candidate_count), 0) as purged "
            f"from {audit} where not dry_run"
        )
        cards.append(
            _card(
                "Contacts purged",
                fmt_int(real["purged"]),
                f"in {fmt_int(real['n'])} executed batch(es)",
            )
        )
        log = (
            _table(
                ["as of", "mode", "candidates", "suppressed", "archived", "finished (UTC)"],
                [
                    (
                        html.escape(str(b["as_of_date"])[:10]),
                        "dry run" if b["dry_run"] else "<b>executed</b>",
                        fmt_int(b["candidate_count"]),
                        "–" if b["dry_run"] else fmt_int(b["suppression_added"]),
                        "–" if b["dry_run"] else fmt_int(b["archived"]),
                        html.escape(str(b["finished_at"])[:16]),
                    )
                    for b in batches
                ],
                numeric=[False, False, True, True, True, False],
            )
            if batches
            else '<div class="missing">No purge batch logged yet.</div>'
        )
        parts.append(f"<div><h3 style='font-size:14px;margin:6px 0'>Purge log</h3>{log}</div>")
    else:
        parts.append(_missing("the purge log (audit.purge_batches, in the warehouse)"))
    body = f'<div class="cards">{"".join(cards)}</div>' if cards else ""
    body += f'<div class="grid2">{"".join(parts)}</div>'
    return Section("purge", title, caption, body, charts)


# --- page --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportResult:
    path: Path  # <reports_dir>/reveil_report_<as_of_date>.html
    latest_path: Path  # <reports_dir>/latest.html, a copy
    as_of_date: date | None
    sections: tuple[str, ...]
    charts: int
    missing: tuple[str, ...]  # "schema.table" not found (their parts say so in the page)
    size_bytes: int
    headline: dict[str, Any] = field(default_factory=dict)


def _publication(src: _Source) -> dict[str, Any]:
    table = src.table("meta", "publication", optional=True)  # only a serving file has it
    if table is None:
        return {}
    return src.one(
        f"select max(version_id) as version_id, max(published_at) as published_at from {table}"
    )


def render(
    con: duckdb.DuckDBPyConnection, *, source_label: str = "", generated_at: datetime | None = None
) -> tuple[str, ReportResult]:
    """The report's HTML and what it holds (``path`` fields empty: nothing is written)."""
    generated_at = generated_at or datetime.now(UTC)
    src = _Source(con)
    page = _Page()
    totals = _base_totals(src)
    history = _history_rows(src, totals)
    builders: list[Callable[[], Section]] = [
        lambda: _headline(src, totals, history),
        lambda: _history(page, history),
        lambda: _base(page, src),
        lambda: _rfm(page, src),
        lambda: _backtest(page, src),
        lambda: _funnel(page, src),
        lambda: _kpis(page, src),
        lambda: _ab_tests(page, src),
        lambda: _purge(page, src),
    ]
    sections = [build() for build in builders]
    publication = _publication(src)
    as_of = totals.get("as_of_date")
    sections_html = "\n".join(
        f'<section class="block" id="{s.id}" data-section="{s.id}">'
        f"<h2>{html.escape(s.title)}</h2>"
        f'<p class="caption">{html.escape(s.caption)}</p>{s.body}</section>'
        for s in sections
    )
    toc = " ".join(
        f'<a href="#{s.id}">{html.escape(s.title.split(" — ")[0])}</a>' for s in sections
    )
    footer = [
        f"Generated {generated_at:%Y-%m-%d %H:%M} UTC by reveil from "
        f"{html.escape(source_label or 'the marts')}.",
    ]
    if publication.get("version_id"):
        footer.append(
            f"Serving version {html.escape(str(publication['version_id']))}, published "
            f"{html.escape(str(publication['published_at'])[:16])} UTC."
        )
    footer.append("Aggregates only: no contact, email or name appears in this report.")
    missing = sorted(set(src.missing))
    if missing:
        footer.append("Not available here: " + html.escape(", ".join(missing)) + ".")
    template = string.Template(TEMPLATE_PATH.read_text(encoding="utf-8"))
    document = template.substitute(
        version="report-1",
        chart_count=len(page.charts),
        title="reveil — sleeping customers report",
        subtitle=(
            f"State of the contact base as of {as_of}" if as_of else "State of the contact base"
        ),
        plotlyjs=get_plotlyjs(),
        toc=toc,
        sections=sections_html,
        footer="<br>".join(footer),
    )
    headline = {}
    if totals:
        headline = {
            "contacts": int(totals["contacts"]),
            "sleeping_contacts": int(totals["sleeping"]),
            "inactive_share": (
                totals["sleeping"] / totals["contacts"] if totals["contacts"] else None
            ),
            "revenue_at_stake": float(totals["revenue_at_stake"]),
        }
        if totals.get("predicted_value_at_stake") is not None:
            headline["predicted_value_at_stake"] = float(totals["predicted_value_at_stake"])
    result = ReportResult(
        path=Path(),
        latest_path=Path(),
        as_of_date=as_of,
        sections=tuple(s.id for s in sections),
        charts=len(page.charts),
        missing=tuple(missing),
        size_bytes=len(document.encode("utf-8")),
        headline=headline,
    )
    return document, result


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def report_path(reports_dir: Path | str, as_of_date: date | None) -> Path:
    stamp = as_of_date.isoformat() if as_of_date else datetime.now(UTC).date().isoformat()
    return Path(reports_dir) / f"{REPORT_PREFIX}{stamp}.html"


def build_report(
    con: duckdb.DuckDBPyConnection,
    reports_dir: Path | str,
    *,
    source_label: str = "",
    generated_at: datetime | None = None,
) -> ReportResult:
    """Write ``reveil_report_<as_of_date>.html`` (replacing that day's) and ``latest.html``."""
    document, result = render(con, source_label=source_label, generated_at=generated_at)
    folder = Path(reports_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = report_path(folder, result.as_of_date)
    latest = folder / LATEST_NAME
    _write_atomically(path, document)
    _write_atomically(latest, document)
    return ReportResult(
        path=path,
        latest_path=latest,
        as_of_date=result.as_of_date,
        sections=result.sections,
        charts=result.charts,
        missing=result.missing,
        size_bytes=path.stat().st_size,
        headline=result.headline,
    )


def open_sources(
    serving_path: Path | str, warehouse_path: Path | str | None = None
) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """An in-memory connection with the serving file attached read-only as the default catalog
    and, if given and openable, the warehouse attached read-only as ``warehouse`` (for the
    purge log and the suppression list). Returns it and the notes of what could not be opened.

    ``ATTACH`` always opens the file now at the path, even if this process holds an older
    publication open elsewhere (see ``dagster_project.lib.serving``).
    """
    notes: list[str] = []
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"attach '{_sql_path(serving_path)}' as serving (read_only)")
        con.execute("use serving")
        if warehouse_path is not None:
            try:
                con.execute(f"attach '{_sql_path(warehouse_path)}' as warehouse (read_only)")
            except duckdb.Error as exc:
                notes.append(f"warehouse not attached ({type(exc).__name__}: {exc})")
    except BaseException:
        con.close()
        raise
    return con, notes


def _sql_path(path: Path | str) -> str:
    return str(path).replace("'", "''")

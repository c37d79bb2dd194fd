"""Seeded, vectorised generator of the six reveil sources.

A *world* (contacts, companies, campaigns, product catalogue) is built from (seed, contacts,
as_of, history_days) and simulated chunk by chunk of contacts from the start of the history to
``FUTURE_DAYS`` after as_of. What is written is a *window* of that world:

- ``generate``: the history, everything that happened (and arrived) up to the end of as_of;
- ``generate_day``: the delivery of one later day D of the same world: events arriving on D
  (a few of them happened on D-1/D-2 and arrive late), orders placed on D, orders refunded on
  D (status update), contacts created or changed on D, campaigns sent on D, registry changes.
  Its ids are those of the same world, so they never collide with the history's.

Same inputs, same data: every random draw comes from ``np.random.default_rng`` seeded by the
seed and a fixed stream key (population, calendar, catalogue, chunk number, defects).

Defects (``defect_rate`` R > 0; each kind hits each applicable row with probability R):

- email_events: unknown ``event_type`` (opened, bounce, CLICK, forward, deferred),
  ``occurred_at`` 1-400 days after the end of the window (future), orphan ``contact_id``
  (a well-formed id of no contact), duplicated rows (same ``event_id``);
- orders: negative ``amount`` (the lines stay positive), future ``ordered_at``, orphan
  ``contact_id``, duplicated rows (same ``order_id``);
- contacts: malformed ``email`` ('@@', no '@', no TLD, trailing dot, no domain), duplicated
  rows (same ``contact_id``).

Always there, whatever R: ~5 % of SIRETs fail the Luhn checksum (and are never found in the
registry), hard bounces of abandoned addresses, spam-filtered and Apple-MPP mailboxes.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from dagster_project.generate import reference as ref
from dagster_project.generate import writer
from dagster_project.generate.campaigns import CampaignPlan, build_plan
from dagster_project.generate.population import Population, build_population
from dagster_project.generate.simulate import ChunkResult, ChunkSimulation, product_catalog
from dagster_project.generate.timeline import (
    DAY,
    DEFAULT_HISTORY_DAYS,
    FUTURE_DAYS,
    INF,
    NEG_INF,
    Timeline,
    epoch,
    to_date,
)
from dagster_project.lib.schema import SOURCES

log = logging.getLogger(__name__)

SOURCE_NAMES = tuple(SOURCES)
FORMATS = ("parquet", "csv")
CHUNK_CONTACTS = 100_000  # contacts simulated together: bounds memory (~1 GB at 50 events each)


class GeneratorInputError(ValueError):
    """Invalid arguments (contacts, format, day, defect rate...)."""


def _check(contacts: int, fmt: str, history_days: int, defect_rate: float) -> None:
    if contacts < 1:
        raise GeneratorInputError("contacts must be at least 1")
    if fmt not in FORMATS:
        raise GeneratorInputError(f"format must be one of {FORMATS}, not {fmt!r}")
    if history_days < 120:
        raise GeneratorInputError("history_days must be at least 120")
    if not 0.0 <= defect_rate <= 0.5:
        raise GeneratorInputError("defect_rate must be between 0 and 0.5")


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


@dataclass
class World:
    seed: int
    tl: Timeline
    pop: Population
    plan: CampaignPlan
    catalog: tuple[np.ndarray, np.ndarray]

    @classmethod
    def build(
        cls, contacts: int, seed: int, as_of=None, history_days: int = DEFAULT_HISTORY_DAYS
    ) -> World:
        tl = Timeline.build(as_of, history_days)
        return cls(
            seed=seed,
            tl=tl,
            pop=build_population(contacts, tl, _rng(seed, 1)),
            plan=build_plan(tl, _rng(seed, 2)),
            catalog=product_catalog(_rng(seed, 3)),
        )

    def chunks(self) -> list[tuple[int, int]]:
        n = self.pop.n_total
        return [(lo, min(lo + CHUNK_CONTACTS, n)) for lo in range(0, n, CHUNK_CONTACTS)]


@dataclass(frozen=True)
class Window:
    """What to write: rows that arrived in [lo, hi); snapshots (contacts, statuses) at hi."""

    lo: int
    hi: int
    tag: str | None = None  # YYYYMMDD of a daily delivery, None for the history
    key: int = 0  # stream key of the defects

    @property
    def history(self) -> bool:
        return self.tag is None


# --- public API -------------------------------------------------------------------------------


def generate(
    out_dir,
    contacts: int,
    seed: int,
    fmt: str = "parquet",
    as_of=None,
    history_days: int = DEFAULT_HISTORY_DAYS,
    defect_rate: float = 0.0,
) -> dict[str, int]:
    """Write the history of a world of `contacts` contacts into out_dir/<source>/.

    Files: ``<source>.<fmt>``, or ``<source>_partNN.<fmt>`` for the chunked sources (events,
    orders, order lines) above CHUNK_CONTACTS contacts; a source without rows gets no file.
    Earlier generator files of the source folders (history and daily) are removed first.
    Returns rows written per source.
    """
    _check(contacts, fmt, history_days, defect_rate)
    world = World.build(contacts, seed, as_of, history_days)
    window = Window(lo=int(NEG_INF), hi=world.tl.end)
    return _write_window(world, Path(out_dir), fmt, window, defect_rate)


def generate_day(
    out_dir,
    day,
    contacts: int,
    seed: int,
    fmt: str = "parquet",
    as_of=None,
    history_days: int = DEFAULT_HISTORY_DAYS,
    defect_rate: float = 0.0,
) -> dict[str, int]:
    """Write the delivery of `day` (files ``<source>_<YYYYMMDD>.<fmt>``) that follows the
    history generated with the same seed, contacts, history_days and `as_of` (default: the day
    before). Deliveries of several consecutive days follow the same history when they are given
    its as_of, up to FUTURE_DAYS days after it."""
    _check(contacts, fmt, history_days, defect_rate)
    day = to_date(day)
    as_of = to_date(as_of) if as_of is not None else day - timedelta(days=1)
    if not as_of < day <= as_of + timedelta(days=FUTURE_DAYS):
        raise GeneratorInputError(
            f"day {day} must be within 1..{FUTURE_DAYS} days after the history's as_of {as_of}"
        )
    world = World.build(contacts, seed, as_of, history_days)
    lo = epoch(day)
    window = Window(lo=lo, hi=lo + DAY, tag=day.strftime("%Y%m%d"), key=day.toordinal())
    return _write_window(world, Path(out_dir), fmt, window, defect_rate)


# --- writing a window ---------------------------------------------------------------------------


def _file(out: Path, source: str, fmt: str, window: Window, part: str | None = None) -> Path:
    if window.tag:
        name = f"{source}_{window.tag}"
    elif part is not None:
        name = f"{source}_part{part}"
    else:
        name = source
    return out / source / f"{name}.{fmt}"


def _clean(out: Path, window: Window) -> None:
    """Remove the generator's earlier files that this run replaces (never other files)."""
    for source in SOURCE_NAMES:
        folder = out / source
        if not folder.is_dir():
            continue
        if window.history:
            pattern = re.compile(rf"^{source}(_part\d+|_\d{{8}})?\.(parquet|csv)$")
        else:
            pattern = re.compile(rf"^{source}_{window.tag}\.(parquet|csv)$")
        for path in folder.iterdir():
            if path.is_file() and pattern.match(path.name):
                path.unlink()


def _write_window(
    world: World, out: Path, fmt: str, window: Window, defect_rate: float
) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    _clean(out, window)
    con = writer.connect()
    # chunk files are written by DuckDB in a background thread while numpy simulates the next
    # chunk; at most one chunk waits, which bounds memory
    try:
        with ThreadPoolExecutor(max_workers=1) as background:
            counts = _write_chunks(world, out, fmt, window, defect_rate, con, background)
        _write_snapshots(world, out, fmt, window, defect_rate, con, counts)
    finally:
        con.close()
    return counts


def _write_chunks(world, out, fmt, window, defect_rate, con, background) -> dict[str, int]:
    """Simulate chunk after chunk; write events, orders and lines (per chunk for a big history,
    in one file otherwise). Fills world.pop.unsub for the contacts snapshot."""
    pending_write: Future | None = None
    counts = dict.fromkeys(SOURCE_NAMES, 0)
    chunks = world.chunks()
    split = window.history and len(chunks) > 1
    digits = max(2, len(str(len(chunks) - 1)))
    pending: dict[str, list[pa.Table]] = {s: [] for s in ("email_events", "orders", "order_lines")}
    width = world.pop.contact_width
    exprs = {
        "email_events": writer.events_exprs(width),
        "orders": writer.orders_exprs(width),
        "order_lines": writer.order_lines_exprs(),
    }
    event_offset = order_offset = 0
    for c, (lo, hi) in enumerate(chunks):
        result = ChunkSimulation(
            world.pop, lo, hi, world.plan, world.tl, world.catalog, _rng(world.seed, 4, c)
        ).run()
        world.pop.unsub[lo:hi] = result.unsub
        defects = _rng(world.seed, 5, window.key, c)
        tables = {
            "email_events": _events_table(
                world, result, window, event_offset, defect_rate, defects
            ),
            **_orders_tables(world, result, window, order_offset, defect_rate, defects),
        }
        event_offset += len(result.events.time)
        order_offset += len(result.order_time)
        for source, table in tables.items():
            counts[source] += table.num_rows
            if not split:
                pending[source].append(table)
        if split:
            if pending_write is not None:
                pending_write.result()
            jobs = [
                (
                    source,
                    table,
                    exprs[source],
                    _file(out, source, fmt, window, part=f"{c:0{digits}d}"),
                )
                for source, table in tables.items()
                if table.num_rows
            ]
            pending_write = background.submit(_copy_all, con, jobs, fmt)
        log.info(
            "chunk %d/%d: contacts %d-%d, %d events, %d orders",
            c + 1,
            len(chunks),
            lo,
            hi,
            len(result.events.time),
            len(result.order_time),
        )
        del result, tables
    if pending_write is not None:
        pending_write.result()
    for source, parts in pending.items():
        if parts and counts[source]:  # no header-only file: a day without orders has none
            writer.copy(
                con,
                source,
                pa.concat_tables(parts),
                exprs[source],
                _file(out, source, fmt, window),
                fmt,
            )
    return counts


def _write_snapshots(world, out, fmt, window, defect_rate, con, counts) -> None:
    """Contacts (after the simulation: unsubscribes change consents), campaigns, registry."""
    table, counts["contacts"] = _contacts_table(world, window, defect_rate)
    if counts["contacts"]:
        prelude, cexprs, tail = writer.contacts_query(world.pop.contact_width)
        path = _file(out, "contacts", fmt, window)
        writer.copy(con, "contacts", table, cexprs, path, fmt, prelude=prelude, tail=tail)
    for source, table, exprs in (
        ("campaigns", _campaigns_table(world, window), writer.campaigns_exprs()),
        ("company_registry", _registry_table(world, window), writer.registry_exprs()),
    ):
        counts[source] = table.num_rows
        if table.num_rows:
            writer.copy(con, source, table, exprs, _file(out, source, fmt, window), fmt)


def _copy_all(con, jobs, fmt: str) -> None:
    cursor = con.cursor()
    try:
        for source, table, exprs, path in jobs:
            writer.copy(cursor, source, table, exprs, path, fmt)
    finally:
        cursor.close()


# --- per-source selection and defects ------------------------------------------------------------


def _pick(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    return rng.random(n) < rate


def _orphans(rng: np.random.Generator, world: World, k: int) -> np.ndarray:
    """Contact numbers that belong to nobody (above every generated contact)."""
    n = world.pop.n_total
    return n + 1 + rng.integers(0, n + 9, k)


def _future(rng: np.random.Generator, window: Window, k: int) -> np.ndarray:
    return window.hi + rng.integers(DAY, 400 * DAY, k)


def _events_table(
    world: World,
    res: ChunkResult,
    window: Window,
    offset: int,
    defect_rate: float,
    rng: np.random.Generator,
) -> pa.Table:
    ev = res.events
    arrival = ev.time + res.event_lag.astype(np.int64) * DAY
    idx = np.flatnonzero((arrival >= window.lo) & (arrival < window.hi))
    cols = {
        "event_no": offset + idx + 1,
        "campaign": ev.campaign[idx],
        "contact_no": res.lo + ev.contact[idx].astype(np.int64) + 1,
        "event_type": ev.type[idx],
        "occurred_at": ev.time[idx],
        "machine": ev.machine[idx],
        "ua": ev.ua[idx],
    }
    if defect_rate > 0 and len(idx):
        n = len(idx)
        m = _pick(rng, n, defect_rate)
        cols["event_type"][m] = len(ref.EVENT_TYPES) + rng.integers(
            0, len(ref.UNKNOWN_EVENT_TYPES), int(m.sum())
        )
        m = _pick(rng, n, defect_rate)
        cols["occurred_at"][m] = _future(rng, window, int(m.sum()))
        m = _pick(rng, n, defect_rate)
        cols["contact_no"][m] = _orphans(rng, world, int(m.sum()))
        dup = np.flatnonzero(_pick(rng, n, defect_rate))
        cols = {k: np.concatenate([v, v[dup]]) for k, v in cols.items()}
    machine = cols.pop("machine")
    return pa.table(
        {
            **{k: v for k, v in cols.items() if k != "occurred_at"},
            "occurred_at": writer.ts(cols["occurred_at"]),
            "is_machine_open": pa.array(machine == 1, mask=machine < 0),
        }
    )


def _orders_tables(
    world: World,
    res: ChunkResult,
    window: Window,
    offset: int,
    defect_rate: float,
    rng: np.random.Generator,
) -> dict[str, pa.Table]:
    t, refund = res.order_time, res.refund_time
    new = (t >= window.lo) & (t < window.hi)
    refunded_now = (refund >= window.lo) & (refund < window.hi) & (t < window.lo)
    idx = np.flatnonzero(new | refunded_now)
    status = res.order_status[idx]
    # the snapshot shows a refund only once it happened
    status = np.where(
        (status == ref.ST_REFUNDED) & (refund[idx] >= window.hi), ref.ST_COMPLETED, status
    ).astype(np.int8)
    cols = {
        "order_no": offset + idx + 1,
        "contact_no": res.lo + res.order_contact[idx] + 1,
        "ordered_at": t[idx].copy(),
        "amount_cents": res.order_amount[idx].copy(),
        "status": status,
    }
    if defect_rate > 0 and len(idx):
        n = len(idx)
        m = _pick(rng, n, defect_rate)
        cols["amount_cents"][m] *= -1
        m = _pick(rng, n, defect_rate)
        cols["ordered_at"][m] = _future(rng, window, int(m.sum()))
        m = _pick(rng, n, defect_rate)
        cols["contact_no"][m] = _orphans(rng, world, int(m.sum()))
        dup = np.flatnonzero(_pick(rng, n, defect_rate))
        cols = {k: np.concatenate([v, v[dup]]) for k, v in cols.items()}
    orders = pa.table(
        {
            **{k: v for k, v in cols.items() if k != "ordered_at"},
            "ordered_at": writer.ts(cols["ordered_at"]),
        }
    )
    li = np.flatnonzero(new[res.line_order])
    lines = pa.table(
        {
            "order_no": offset + res.line_order[li] + 1,
            "line_number": res.line_number[li],
            "category": res.line_cat[li],
            "product": res.line_product[li],
            "quantity": res.line_qty[li],
            "unit_cents": res.line_unit[li],
        }
    )
    return {"orders": orders, "order_lines": lines}


def _consent(start: np.ndarray, stop: np.ndarray, at: int):
    """(consent, consent_at, consent_at is null) of a consent given at start, withdrawn at stop
    (INF: never), as of `at`."""
    consent = (start < at) & (stop >= at)
    when = np.where(stop < at, stop, start)
    return consent, when, start >= at


def _contacts_table(world: World, window: Window, defect_rate: float) -> tuple[pa.Table, int]:
    pop, hi, lo = world.pop, window.hi, window.lo
    n = pop.n_total
    created = pop.created
    if window.history:
        emit = created < hi
    else:
        changed = np.zeros(n, dtype=bool)
        for t in (
            pop.unsub,
            pop.sms_at,
            pop.sms_out,
            pop.push_at,
            pop.push_out,
            pop.phone_changed_at,
        ):
            changed |= (t >= lo) & (t < hi)
        emit = ((created >= lo) & (created < hi)) | ((created < lo) & changed)
    email_given = np.where(pop.email_ok, pop.email_consent_at, INF)
    email, email_at, email_null = _consent(email_given, pop.unsub, hi)
    sms, sms_at, sms_null = _consent(pop.sms_at, pop.sms_out, hi)
    push, push_at, push_null = _consent(pop.push_at, pop.push_out, hi)
    defect = np.zeros(n, dtype=np.int8)
    copies = np.ones(n, dtype=np.int8)
    if defect_rate > 0:
        rng = _rng(world.seed, 6, window.key)
        m = _pick(rng, n, defect_rate)
        defect[m] = rng.integers(1, len(writer.MALFORMED_EMAIL) + 1, int(m.sum()))
        copies[_pick(rng, n, defect_rate)] = 2
    comp = np.maximum(pop.company, 0)
    companies = pop.companies
    table = pa.table(
        {
            "idx": np.arange(1, n + 1, dtype=np.int64),
            "emit": emit,
            "copies": copies,
            "defect": defect,
            "is_b2b": pop.is_b2b,
            "country": pop.country,
            "first": pop.first,
            "last": pop.last,
            "pattern": pop.pattern,
            "number": pop.number,
            "domain": pop.domain,
            "cprefix": companies.prefix[comp] if len(companies.prefix) else np.zeros(n, np.int64),
            "clast": companies.last[comp] if len(companies.last) else np.zeros(n, np.int64),
            "csuffix": companies.suffix[comp] if len(companies.suffix) else np.zeros(n, np.int64),
            "ctld": companies.tld[comp] if len(companies.tld) else np.zeros(n, np.int64),
            "siret": companies.siret[comp] if len(companies.siret) else np.zeros(n, np.int64),
            "has_phone": pop.has_phone,
            "phone_prefix": pop.phone_prefix,
            "phone_number": np.where(
                pop.phone_changed_at < hi, pop.new_phone_number, pop.phone_number
            ),
            "acquisition": pop.acquisition,
            "industry": pop.industry,
            "created_at": writer.ts(created),
            "email_consent": email,
            "email_consent_at": writer.ts(np.minimum(email_at, hi), email_null),
            "sms_consent": sms,
            "sms_consent_at": writer.ts(np.minimum(sms_at, hi), sms_null),
            "push_consent": push,
            "push_consent_at": writer.ts(np.minimum(push_at, hi), push_null),
            "preferred": pop.preferred,
            "legal_hold": pop.legal_hold,
        }
    )
    return table, int((emit * copies).sum())


def _campaigns_table(world: World, window: Window) -> pa.Table:
    plan = world.plan
    idx = np.flatnonzero((plan.sent_at >= window.lo) & (plan.sent_at < window.hi))
    return pa.table(
        {
            "campaign": idx,
            "sent_at": writer.ts(plan.sent_at[idx]),
            "kind": plan.kind[idx],
            "step": plan.step[idx],
            "channel": plan.channel[idx],
            "cost": plan.cost[idx],
            "variant": plan.variant[idx],
            "wave": plan.wave[idx],
        }
    )


def _registry_table(world: World, window: Window) -> pa.Table:
    comp = world.pop.companies
    lo, hi = window.lo, window.hi
    found = (comp.status != ref.REG_NOT_FOUND) & (comp.first_ref < INF)
    changes = comp.status != ref.REG_ACTIVE
    if window.history:
        emit = found & (comp.first_ref < hi)
    else:
        emit = found & (
            ((comp.first_ref >= lo) & (comp.first_ref < hi))
            | ((comp.first_ref < lo) & changes & (comp.event_day >= lo) & (comp.event_day < hi))
        )
    idx = np.flatnonzero(emit)
    happened = comp.event_day[idx] < hi
    status = comp.status[idx]
    return pa.table(
        {
            "siret": comp.siret[idx],
            "closed": (status == ref.REG_CLOSED) & happened,
            "moved": (status == ref.REG_MOVED) & happened,
            "acquired": (status == ref.REG_ACQUIRED) & happened,
            "event_date": writer.dates(comp.event_day[idx]),
        }
    )

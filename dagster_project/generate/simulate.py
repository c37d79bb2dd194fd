"""Behaviour of one chunk of contacts over the whole simulated time: sends, engagement events,
orders and order lines. Vectorised over the contacts of the chunk.

The calendar is cut at the start of each reactivation wave. Regular sends of a segment are
simulated first, then the wave that opens the next segment: it targets the contacts that look
asleep (no order, click or human open in the last 90 days, 180 for B2B) from what was
simulated so far, and its responses (clicks, orders, revivals) shape everything after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dagster_project.generate import reference as ref
from dagster_project.generate.campaigns import CampaignPlan
from dagster_project.generate.population import Population, cond_choice
from dagster_project.generate.timeline import DAY, INF, NEG_INF, YEAR, Timeline

HOUR = 3600
SOFT_BOUNCE = 0.02
MOBILE_DELIVERY = 0.965
MACHINE_OPEN = 0.92  # share of delivered emails an MPP mailbox prefetches
CLICK_GIVEN_OPEN = 0.20
REOPEN = 0.25
UNSUBSCRIBE = 0.0018  # per delivered email (regular sends)
UNSUBSCRIBE_REACTIVATION = 0.004
COMPLAINT = 0.0003
RESPONSE = 0.025  # base chance a sleeper clicks a reactivation message (x value, recency)
SUPPRESS_HARD_BOUNCE = 0.4  # chance the ESP stops emailing an address after a hard bounce
ASLEEP_ENGAGEMENT = 0.05  # engagement multiplier once the contact has churned
LATE_ARRIVAL = (0.994, 0.004, 0.002)  # events arriving 0, 1, 2 days after they happened

# slots of the per-send event matrix
_SLOT_TYPE = np.array(
    [
        ref.EV_SENT,
        ref.EV_DELIVERED,
        ref.EV_SOFT,
        ref.EV_HARD,
        ref.EV_OPEN,
        ref.EV_OPEN,
        ref.EV_OPEN,
        ref.EV_CLICK,
        ref.EV_UNSUB,
        ref.EV_COMPLAINT,
    ],
    dtype=np.int8,
)
_SLOT_MACHINE = np.array([-1, -1, -1, -1, 1, 0, 0, -1, -1, -1], dtype=np.int8)


@dataclass
class Events:
    contact: np.ndarray  # local index in the chunk
    campaign: np.ndarray
    type: np.ndarray
    time: np.ndarray
    machine: np.ndarray  # -1 null, 0 false, 1 true
    ua: np.ndarray  # -1 null

    @classmethod
    def concat(cls, parts: list[Events]) -> Events:
        if not parts:
            e = np.empty(0, dtype=np.int64)
            return cls(
                e.astype(np.int32),
                e.astype(np.int32),
                e.astype(np.int8),
                e,
                e.astype(np.int8),
                e.astype(np.int8),
            )
        return cls(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("contact", "campaign", "type", "time", "machine", "ua")
            )
        )


@dataclass
class ChunkResult:
    lo: int
    events: Events
    event_lag: np.ndarray
    # orders
    order_contact: np.ndarray  # local index
    order_time: np.ndarray
    order_status: np.ndarray  # ST_COMPLETED / ST_CANCELLED / ST_REFUNDED (final)
    refund_time: np.ndarray  # INF unless refunded
    order_amount: np.ndarray  # cents
    order_nlines: np.ndarray
    # order lines (order position in the chunk's orders, in order)
    line_order: np.ndarray
    line_number: np.ndarray
    line_cat: np.ndarray
    line_product: np.ndarray
    line_qty: np.ndarray
    line_unit: np.ndarray  # cents
    unsub: np.ndarray


@dataclass
class _Sent:
    """Per-send outcome arrays of one batch of sends (after unsubscribe truncation)."""

    contact: np.ndarray
    campaign: np.ndarray
    alive: np.ndarray
    click: np.ndarray
    t_click: np.ndarray
    stop: np.ndarray


def product_catalog(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Unit prices (cents) of every product, flat, and the offset of each category in it."""
    offsets = np.concatenate([[0], np.cumsum(ref.CATEGORY_SIZES)[:-1]])
    cat = np.repeat(np.arange(len(ref.CATEGORIES)), ref.CATEGORY_SIZES)
    price = ref.CATEGORY_PRICES[cat] * rng.lognormal(0.0, 0.45, len(cat))
    ending = rng.choice(np.array([1, 10, 50]), len(cat), p=(0.7, 0.2, 0.1))
    cents = np.maximum(np.round(price).astype(np.int64) * 100 - ending, 99)
    return cents, offsets


class ChunkSimulation:
    def __init__(
        self,
        pop: Population,
        lo: int,
        hi: int,
        plan: CampaignPlan,
        tl: Timeline,
        catalog: tuple[np.ndarray, np.ndarray],
        rng: np.random.Generator,
    ):
        self.lo, self.n = lo, hi - lo
        self.plan, self.tl, self.rng, self.catalog = plan, tl, rng, catalog
        sl = slice(lo, hi)
        self.created = pop.created[sl]
        self.is_b2b = pop.is_b2b[sl]
        self.email_ok = pop.email_ok[sl]
        self.sms_at, self.sms_out = pop.sms_at[sl], pop.sms_out[sl]
        self.push_at, self.push_out = pop.push_at[sl], pop.push_out[sl]
        self.engagement = pop.engagement[sl]
        self.reach = pop.reach[sl].astype(np.float32)
        self.spam = pop.spam_filtered[sl]
        self.mpp = pop.mpp[sl]
        self.addr = pop.addr_change[sl]
        self.death = pop.death[sl]
        self.lam = pop.lam[sl]
        self.basket = pop.basket[sl]
        self.fav_cat = pop.fav_cat[sl]
        self.unsub = np.full(self.n, INF, dtype=np.int64)
        # no more email after: unsubscribe, complaint, or the ESP suppressing a hard bounce
        self.blocked = np.full(self.n, INF, dtype=np.int64)
        self.rev_start = np.full(self.n, INF, dtype=np.int64)
        self.rev_end = np.full(self.n, INF, dtype=np.int64)
        self.events: list[Events] = []
        self.orders: list[tuple[np.ndarray, np.ndarray]] = []
        self.activity: list[tuple[np.ndarray, np.ndarray]] = []
        self.waves: dict[int, dict[str, np.ndarray]] = {}  # state of each wave's sequence

    # --- helpers ----------------------------------------------------------------------------

    def alive(self, i: np.ndarray, t: np.ndarray) -> np.ndarray:
        return (t < self.death[i]) | ((t >= self.rev_start[i]) & (t < self.rev_end[i]))

    def _lognormal(self, median: float, sigma: float, size: int, cap: float) -> np.ndarray:
        x = self.rng.lognormal(np.log(median), sigma, size)
        return np.minimum(x, cap).astype(np.int64)

    def _poisson_orders(
        self, i: np.ndarray, start: np.ndarray, end: np.ndarray, rate: np.ndarray
    ) -> None:
        """Orders of contacts `i` at `rate` per year, uniformly between start and end."""
        dur = np.maximum(end - start, 0)
        count = self.rng.poisson(rate * dur / YEAR)
        who = np.repeat(i, count)
        t = np.repeat(start, count) + (self.rng.random(len(who)) * np.repeat(dur, count))
        self.orders.append((who, t.astype(np.int64)))

    # --- the whole life of the chunk ----------------------------------------------------------

    def run(self) -> ChunkResult:
        tl, plan = self.tl, self.plan
        everyone = np.arange(self.n)
        # base purchases while alive, plus a first order at sign-up for many buyers
        self._poisson_orders(
            everyone,
            np.maximum(self.created, tl.start),
            np.minimum(self.death, tl.sim_end),
            self.lam,
        )
        first = (self.created >= tl.start) & (self.lam > 0) & (self.rng.random(self.n) < 0.7)
        i = np.flatnonzero(first)
        self.orders.append((i, self.created[i] + self.rng.integers(60, 3600, len(i))))

        # regular sends between consecutive reactivation steps, then the step: each send sees
        # the unsubscribes, suppressions and revivals of everything sent before it
        regular = np.flatnonzero(plan.kind != ref.REACTIVATION)
        steps = sorted(
            (int(plan.sent_at[plan.wave_steps[w, s, 0]]), w, s)
            for w in range(len(plan.wave_start))
            for s in range(4)
        )
        previous = tl.start
        for when, w, s in [*steps, (tl.sim_end, -1, -1)]:
            sent_at = plan.sent_at[regular]
            self._regular_sends(regular[(sent_at >= previous) & (sent_at < when)])
            if w >= 0:
                self._reactivation_step(w, s)
            previous = when
        return self._finish()

    # --- sends --------------------------------------------------------------------------------

    def _regular_sends(self, ks: np.ndarray) -> None:
        """Newsletters, promotions and push/SMS sends `ks`: each eligible contact gets each
        campaign with probability reach x campaign scale (A/B halves share one draw)."""
        if len(ks) == 0:
            return
        plan = self.plan
        t = plan.sent_at[ks]
        ch = plan.channel[ks]
        pairs = []
        for code, audience, start, stop in (
            (ref.EMAIL, self.email_ok, self.created, self.blocked),
            (ref.SMS, self.sms_at < INF, self.sms_at, self.sms_out),
            (ref.PUSH, self.push_at < INF, self.push_at, self.push_out),
        ):
            cols = np.flatnonzero(ch == code)
            rows = np.flatnonzero(audience)
            if len(cols) == 0 or len(rows) == 0:
                continue
            tc = t[cols][None, :]
            elig = (start[rows, None] <= tc) & (tc < stop[rows, None])
            kk = ks[cols]
            groups, inverse = np.unique(plan.draw[kk], return_inverse=True)
            u = self.rng.random((len(rows), len(groups)), dtype=np.float32)[:, inverse]
            p = self.reach[rows, None] * plan.scale[kk].astype(np.float32)[None, :]
            elig &= u >= plan.lo[kk].astype(np.float32) * p
            elig &= u < plan.hi[kk].astype(np.float32) * p
            del u, p
            r, c = np.nonzero(elig)
            pairs.append((rows[r], cols[c]))
        ci = np.concatenate([p[0] for p in pairs]) if pairs else np.empty(0, np.int64)
        kj = np.concatenate([p[1] for p in pairs]) if pairs else np.empty(0, np.int64)
        order = np.lexsort((kj, ci))  # by contact, then in send order
        ci, kj = ci[order], kj[order]
        sent = self._send(ci, ks[kj], respond=None)
        # a click on a promotion sometimes ends in an order within hours
        kind = plan.kind[sent.campaign]
        p_buy = np.where(kind == ref.PROMOTION, 0.12, 0.05) * np.where(sent.alive, 1.0, 0.3)
        p_buy = p_buy * np.where(self.lam[sent.contact] > 0, 1.0, 0.25)
        buy = sent.click & (self.rng.random(len(p_buy)) < p_buy)
        delay = self._lognormal(6 * HOUR, 1.0, int(buy.sum()), 3 * DAY)
        self.orders.append((sent.contact[buy], sent.t_click[buy] + delay))

    def _send(self, ci: np.ndarray, k: np.ndarray, respond: np.ndarray | None) -> _Sent:
        """Simulate the sends of campaigns `k` to local contacts `ci` (grouped by contact, in
        time order within a contact). `respond`: response probability of reactivation sends."""
        rng, plan = self.rng, self.plan
        size = len(ci)
        t0 = plan.sent_at[k] + rng.integers(0, 1800, size)
        is_email = plan.channel[k] == ref.EMAIL
        alive = self.alive(ci, t0)
        u = rng.random((size, 6))
        hard = is_email & (t0 >= self.addr[ci])
        soft = is_email & ~hard & (u[:, 0] < SOFT_BOUNCE)
        deliv = np.where(is_email, ~hard & ~soft, u[:, 0] < MOBILE_DELIVERY)
        inbox = is_email & deliv & ~self.spam[ci]
        eng = self.engagement[ci]
        if respond is None:
            decay = np.exp(-(t0 - self.created[ci]) / (8 * YEAR))
            p_open = eng * plan.appeal[k] * np.where(alive, 1.0, ASLEEP_ENGAGEMENT) * decay
            p_click_open = CLICK_GIVEN_OPEN * np.where(alive, 1.0, 0.3)
            p_click_mobile = 0.15 * eng * plan.appeal[k] * np.where(alive, 1.0, 0.1)
            p_unsub = UNSUBSCRIBE * np.where(alive, 1.0, 1.5)
        else:
            p_open = respond + (1.0 - respond) * 0.03 * eng
            p_click_open = respond / np.maximum(p_open, 1e-9)
            p_click_mobile = respond
            p_unsub = np.full(size, UNSUBSCRIBE_REACTIVATION)
        human = inbox & (u[:, 1] < p_open)
        machine = inbox & self.mpp[ci] & (u[:, 2] < MACHINE_OPEN)
        click = np.where(
            is_email, human & (u[:, 3] < p_click_open), deliv & (u[:, 3] < p_click_mobile)
        )
        unsub = is_email & deliv & (u[:, 4] < p_unsub)
        complaint = is_email & deliv & ~unsub & (u[:, 4] > 1.0 - COMPLAINT)
        reopen = human & (u[:, 5] < REOPEN)
        suppress = hard & (u[:, 5] < SUPPRESS_HARD_BOUNCE)  # u[:, 5] is free when bounced
        stop = unsub | complaint | suppress

        # nothing is emailed to a contact after they unsubscribed or complained
        if respond is None and stop.any():
            cs = np.cumsum(stop)
            prior = cs - stop
            starts = np.flatnonzero(np.r_[True, ci[1:] != ci[:-1]])
            base = np.repeat(prior[starts], np.diff(np.r_[starts, size]))
            keep = ~is_email | (prior == base)
            if not keep.all():
                (
                    ci,
                    k,
                    t0,
                    is_email,
                    alive,
                    u,
                    hard,
                    soft,
                    deliv,
                    human,
                    machine,
                    click,
                    unsub,
                    complaint,
                    reopen,
                    stop,
                ) = (
                    a[keep]
                    for a in (
                        ci,
                        k,
                        t0,
                        is_email,
                        alive,
                        u,
                        hard,
                        soft,
                        deliv,
                        human,
                        machine,
                        click,
                        unsub,
                        complaint,
                        reopen,
                        stop,
                    )
                )
                suppress = suppress[keep]
                size = len(ci)

        t_del = t0 + rng.integers(1, 90, size)
        t_bounce = t0 + rng.integers(1, 300, size)
        t_machine = t_del + rng.integers(20, 900, size)
        t_open = t_del + self._lognormal(3 * HOUR, 1.3, size, 6 * DAY)
        t_reopen = t_open + self._lognormal(6 * HOUR, 1.2, size, 10 * DAY)
        t_click = np.where(
            is_email,
            t_open + rng.integers(3, 600, size),
            t_del + self._lognormal(15 * 60, 1.2, size, 2 * DAY),
        )
        t_unsub = np.where(human, t_open, t_del + self._lognormal(2 * HOUR, 1.0, size, 3 * DAY))
        t_unsub = t_unsub + rng.integers(5, 300, size)
        t_complaint = t_del + self._lognormal(5 * HOUR, 1.0, size, 4 * DAY)

        flags = np.column_stack(
            [
                np.ones(size, dtype=bool),
                deliv,
                soft,
                hard,
                machine,
                human,
                reopen,
                click,
                unsub,
                complaint,
            ]
        )
        times = np.column_stack(
            [
                t0,
                t_del,
                t_bounce,
                t_bounce,
                t_machine,
                t_open,
                t_reopen,
                t_click,
                t_unsub,
                t_complaint,
            ]
        )
        ua_open = rng.choice(len(ref.UA_OPEN_P), size, p=ref.UA_OPEN_P).astype(np.int8)
        ua_click = np.where(
            is_email,
            rng.choice(ref.UA_CLICK_CODES, size, p=ref.UA_CLICK_P),
            ref.UA_MOBILE_CLICK_CODES[rng.integers(0, 2, size)],
        ).astype(np.int8)
        r, s = np.nonzero(flags)
        ua = np.full(len(r), -1, dtype=np.int8)
        ua[s == 4] = ref.UA_MPP
        opens = (s == 5) | (s == 6)
        ua[opens] = ua_open[r[opens]]
        clicks = s == 7
        ua[clicks] = ua_click[r[clicks]]
        self.events.append(
            Events(
                contact=ci[r].astype(np.int32),
                campaign=k[r].astype(np.int32),
                type=_SLOT_TYPE[s],
                time=times[r, s],
                machine=_SLOT_MACHINE[s],
                ua=ua,
            )
        )

        if stop.any():
            t_stop = np.where(unsub, t_unsub, np.where(complaint, t_complaint, t_bounce))
            np.minimum.at(self.blocked, ci[stop], t_stop[stop])
            left = unsub | complaint
            np.minimum.at(self.unsub, ci[left], t_stop[left])
        act = human | click
        self.activity.append((ci[act], np.where(click, t_click, t_open)[act]))
        return _Sent(contact=ci, campaign=k, alive=alive, click=click, t_click=t_click, stop=stop)

    # --- reactivation -----------------------------------------------------------------------

    def _last_before(self, parts: list[tuple[np.ndarray, np.ndarray]], when: int) -> np.ndarray:
        last = np.full(self.n, NEG_INF, dtype=np.int64)
        for who, t in parts:
            m = t < when
            np.maximum.at(last, who[m], t[m])
        return last

    def _reactivation_step(self, w: int, step: int) -> None:
        """Step `step` (0-3) of wave `w`. Step 0 picks the sleepers: email consent, no order,
        click or human open in the last 90 days (180 for B2B). A contact leaves the sequence
        once active again (responders included), unsubscribed or suppressed."""
        plan, rng, n = self.plan, self.rng, self.n
        start = int(plan.wave_start[w])
        if step == 0:
            last_order = self._last_before(self.orders, start)
            last = np.maximum(last_order, self._last_before(self.activity, start))
            window = np.where(self.is_b2b, 180 * DAY, 90 * DAY)
            eligible = self.email_ok & (self.created < start - 60 * DAY) & (self.blocked > start)
            bought = last_order > NEG_INF
            self.waves[w] = {
                "in_sequence": eligible
                & (last < start - window)
                & (bought | (rng.random(n) < 0.3)),
                "variant_b": rng.random(n) < 0.5,
                "value": np.clip(0.35 + self.lam / 2.5, 0.25, 2.0) * np.where(bought, 1.0, 0.35),
                "recency": np.where(last > NEG_INF, np.exp(-(start - last) / (2 * YEAR)), 0.25),
            }
        state = self.waves[w]
        in_sequence = state["in_sequence"]
        first, second = plan.wave_steps[w, step]
        if step > 0:
            now = int(plan.sent_at[first])
            since = np.maximum(
                self._last_before(self.orders, now), self._last_before(self.activity, now)
            )
            in_sequence &= since < start
        if step == 0:
            k_of = np.where(state["variant_b"], second, first)
        elif second >= 0:  # the SMS alternative of step 3
            t2 = plan.sent_at[second]
            k_of = np.where((self.sms_at <= t2) & (t2 < self.sms_out), second, first)
        else:
            k_of = np.full(n, first)
        t_of = plan.sent_at[k_of]
        ok = in_sequence & ((plan.channel[k_of] != ref.EMAIL) | (self.blocked > t_of))
        ci = np.flatnonzero(ok)
        k = k_of[ci]
        alive = self.alive(ci, plan.sent_at[k])
        p = (
            RESPONSE
            * state["value"][ci]
            * state["recency"][ci]
            * np.where(alive, 1.8, 0.6)
            * plan.appeal[k]
        )
        sent = self._send(ci, k, respond=np.clip(p, 0.0, 0.6))
        in_sequence[sent.contact[sent.click | sent.stop]] = False
        resp = np.flatnonzero(sent.click)
        who, t_click = sent.contact[resp], sent.t_click[resp]
        buys = rng.random(len(resp)) < 0.65
        delay = (rng.exponential(1.5, int(buys.sum())) * DAY).astype(np.int64)
        self.orders.append((who[buys], t_click[buys] + np.minimum(delay, 12 * DAY)))
        # about half of the responders come back for good, for a while
        revive = rng.random(len(resp)) < 0.5
        rw, rt = who[revive], t_click[revive]
        length = (30 * DAY + rng.exponential(300, len(rw)) * DAY).astype(np.int64)
        self.rev_start[rw] = rt
        self.rev_end[rw] = rt + length
        self._poisson_orders(
            rw,
            rt + 10 * DAY,
            np.minimum(rt + length, self.tl.sim_end),
            np.maximum(self.lam[rw], 1.5),
        )

    # --- orders and lines -----------------------------------------------------------------------

    def _finish(self) -> ChunkResult:
        rng = self.rng
        who = np.concatenate([o[0] for o in self.orders]).astype(np.int64)
        t = np.concatenate([o[1] for o in self.orders]).astype(np.int64)
        m = (t >= self.tl.start) & (t < self.tl.sim_end)
        who, t = who[m], t[m]
        order = np.lexsort((t, who))
        who, t = who[order], t[order]
        n_orders = len(who)

        u = rng.random(n_orders)
        status = np.where(
            u < 0.05, ref.ST_CANCELLED, np.where(u < 0.10, ref.ST_REFUNDED, ref.ST_COMPLETED)
        ).astype(np.int8)
        refund = np.where(
            status == ref.ST_REFUNDED, t + rng.integers(2 * DAY, 30 * DAY, n_orders), INF
        )
        b2b = self.is_b2b[who]
        nlines = (
            np.where(
                b2b,
                rng.choice(4, n_orders, p=(0.35, 0.30, 0.20, 0.15)),
                rng.choice(4, n_orders, p=(0.55, 0.27, 0.12, 0.06)),
            )
            + 1
        )
        starts = np.cumsum(nlines) - nlines
        n_lines = int(nlines.sum())
        line_order = np.repeat(np.arange(n_orders), nlines)
        line_number = np.arange(n_lines) - starts[line_order] + 1
        cat = np.empty(n_lines, dtype=np.int64)
        fav = rng.random(n_orders) < 0.5
        pop_cat = np.where(
            b2b,
            rng.choice(len(ref.CATEGORIES), n_orders, p=ref.CATEGORY_P_B2B),
            rng.choice(len(ref.CATEGORIES), n_orders, p=ref.CATEGORY_P_B2C),
        )
        cat[starts] = np.where(fav, self.fav_cat[who], pop_cat)
        cum_aff = np.cumsum(ref.AFFINITY, axis=1)
        for line in range(2, 5):
            pos = starts[nlines >= line] + line - 1
            cat[pos] = cond_choice(rng, cum_aff, cat[pos - 1])
        prices, offsets = self.catalog
        product = (ref.CATEGORY_SIZES[cat] * rng.random(n_lines) ** 2).astype(np.int64)
        unit = prices[offsets[cat] + product]
        line_b2b = b2b[line_order]
        bulk = np.isin(cat, (1, 2)) * 1.0 + 1.0  # ink and office supplies go by the box
        qty = 1 + rng.poisson(np.where(line_b2b, 3.0, 0.25) * self.basket[who][line_order] * bulk)
        amount = np.add.reduceat(qty * unit, starts) if n_lines else np.zeros(0, np.int64)

        events = Events.concat(self.events)
        u = rng.random(len(events.time))
        lag = (u >= LATE_ARRIVAL[0]).astype(np.int8) + (u >= LATE_ARRIVAL[0] + LATE_ARRIVAL[1])
        return ChunkResult(
            lo=self.lo,
            events=events,
            event_lag=lag,
            order_contact=who,
            order_time=t,
            order_status=status,
            refund_time=refund,
            order_amount=amount.astype(np.int64),
            order_nlines=nlines,
            line_order=line_order,
            line_number=line_number.astype(np.int32),
            line_cat=cat.astype(np.int8),
            line_product=product,
            line_qty=qty.astype(np.int32),
            line_unit=unit,
            unsub=self.unsub,
        )

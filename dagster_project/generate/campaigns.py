"""The marketing calendar: newsletters, promotions, push/SMS sends and reactivation waves.

Campaign ``k`` (0-based, in send order) is ``CMP{k+1:05d}``. Reactivation waves are four
steps spread over 6-12 weeks; step 1 is always A/B tested, step 3 of every other wave goes by
SMS to contacts who accept it. The last wave ends a few days before as_of, so the purge rules
("3+ touches over 6-12 weeks, silent") find candidates on the day of the history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dagster_project.generate import reference as ref
from dagster_project.generate.timeline import DAY, Timeline

NEWSLETTER_REACH = 0.36  # share of a contact's reach propensity used by each newsletter
PROMO_EMAIL_REACH = 0.09
PROMO_SMS_REACH = 0.40
PUSH_REACH = 0.05
COST = {ref.EMAIL: 0.002, ref.SMS: 0.06, ref.PUSH: 0.001}


@dataclass
class CampaignPlan:
    sent_at: np.ndarray
    kind: np.ndarray
    step: np.ndarray  # 0: not a reactivation step
    channel: np.ndarray
    cost: np.ndarray
    variant: np.ndarray  # -1 none, 0 A, 1 B
    wave: np.ndarray  # -1 none, else wave number (1-based)
    appeal: np.ndarray  # multiplies open/click/response probabilities
    scale: np.ndarray  # reach multiplier of regular sends (0 for reactivation steps)
    lo: np.ndarray  # A/B split: contact drawn u in [lo*p, hi*p) gets this campaign
    hi: np.ndarray
    draw: np.ndarray  # campaigns of one A/B test share one uniform draw per contact
    wave_start: np.ndarray  # (m,)
    wave_steps: np.ndarray  # (m, 4, 2) campaign index of [A or email, B or sms], -1: none

    def __len__(self) -> int:
        return len(self.sent_at)


def _weekday_at(t: np.ndarray, hour: int) -> np.ndarray:
    """Move each time to `hour`:00 UTC of its day, then Saturdays/Sundays to the Monday."""
    day = t // DAY
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    day = day + np.where(weekday == 5, 2, np.where(weekday == 6, 1, 0))
    return day * DAY + hour * 3600


def build_plan(tl: Timeline, rng: np.random.Generator) -> CampaignPlan:
    rows: dict[str, list] = {
        k: []
        for k in (
            "sent_at",
            "kind",
            "step",
            "channel",
            "variant",
            "wave",
            "appeal",
            "scale",
            "lo",
            "hi",
            "draw",
            "slot",
        )
    }
    next_draw = [0]

    def add(
        sent_at,
        kind,
        channel,
        scale,
        step=0,
        variant=-1,
        wave=-1,
        appeal=None,
        lo=0.0,
        hi=1.0,
        draw=None,
        slot=-1,
    ):
        sent_at = np.asarray(sent_at, dtype=np.int64)
        k = len(sent_at)
        if draw is None:
            draw = np.arange(next_draw[0], next_draw[0] + k)
            next_draw[0] += k
        if appeal is None:
            appeal = rng.lognormal(0.0, 0.15, k)
        for name, value in (
            ("sent_at", sent_at),
            ("kind", kind),
            ("step", step),
            ("channel", channel),
            ("variant", variant),
            ("wave", wave),
            ("appeal", appeal),
            ("scale", scale),
            ("lo", lo),
            ("hi", hi),
            ("draw", draw),
            ("slot", slot),
        ):
            rows[name].append(np.broadcast_to(np.asarray(value), (k,)).copy())
        return draw

    span = tl.sim_end - tl.start
    # weekly newsletter on Tuesdays ~08:00 UTC, a few weeks skipped (holidays)
    first_tuesday = tl.start + ((1 - ((tl.start // DAY) + 3) % 7) % 7) * DAY
    weeks = np.arange(first_tuesday, tl.sim_end, 7 * DAY)
    weeks = weeks[rng.random(len(weeks)) >= 0.06]
    add(
        weeks // DAY * DAY + 8 * 3600 + rng.integers(0, 1800, len(weeks)),
        ref.NEWSLETTER,
        ref.EMAIL,
        NEWSLETTER_REACH,
    )

    # email promotions every ~3 days (weekends included), 30 % of them A/B tested
    promo = tl.start + np.arange(2 * DAY, span, 3 * DAY) + rng.integers(0, 3, 1) * DAY
    promo = promo + rng.integers(-1, 2, len(promo)) * DAY
    promo = promo // DAY * DAY + 10 * 3600 + rng.integers(0, 1800, len(promo))
    promo = promo[(promo >= tl.start) & (promo < tl.sim_end)]
    ab = rng.random(len(promo)) < 0.3
    add(promo[~ab], ref.PROMOTION, ref.EMAIL, PROMO_EMAIL_REACH)
    n_ab = int(ab.sum())
    appeal_a = rng.lognormal(0.0, 0.15, n_ab)
    draw = add(
        promo[ab], ref.PROMOTION, ref.EMAIL, PROMO_EMAIL_REACH, variant=0, appeal=appeal_a, hi=0.5
    )
    add(
        promo[ab] + 60,
        ref.PROMOTION,
        ref.EMAIL,
        PROMO_EMAIL_REACH,
        variant=1,
        appeal=appeal_a * rng.uniform(0.85, 1.3, n_ab),
        lo=0.5,
        draw=draw,
    )

    # SMS promotions every three weeks, a push notification every day
    sms = _weekday_at(tl.start + np.arange(5 * DAY, span, 21 * DAY), 16)
    sms = sms[sms < tl.sim_end] + rng.integers(0, 900, 1)
    add(sms, ref.PROMOTION, ref.SMS, PROMO_SMS_REACH)
    push = tl.start + np.arange(0, span, DAY) + 12 * 3600
    push = push[push < tl.sim_end] + rng.integers(0, 900, 1)
    add(push, ref.PROMOTION, ref.PUSH, PUSH_REACH)

    # reactivation waves, built backwards from the last one (ending a few days before as_of)
    durations, starts = [], []
    t = tl.end - int(rng.integers(4, 9)) * DAY
    while True:
        duration = int(rng.integers(42, 85)) * DAY
        start = t - duration
        if start < tl.start + 100 * DAY:
            break
        durations.append(duration)
        starts.append(start)
        t = start - int(rng.integers(60, 100)) * DAY
    durations, starts = durations[::-1], starts[::-1]
    m = len(starts)
    for w in range(m):
        wave = w + 1
        days = durations[w] // DAY
        offsets = np.array([0, days // 3, 2 * days // 3, days]) * DAY
        offsets[1:3] += rng.integers(-2, 3, 2) * DAY
        times = starts[w] // DAY * DAY + offsets + 9 * 3600 + rng.integers(0, 1800, 4)
        base = rng.lognormal(0.0, 0.1, 4)
        # step 1: A/B (B better in every other wave)
        lift = 1.3 if w % 2 == 0 else 1.0
        draw = add(
            times[0:1],
            ref.REACTIVATION,
            ref.EMAIL,
            0.0,
            step=1,
            variant=0,
            wave=wave,
            appeal=base[0:1],
            slot=(w * 4) * 2,
        )
        add(
            times[0:1] + 60,
            ref.REACTIVATION,
            ref.EMAIL,
            0.0,
            step=1,
            variant=1,
            wave=wave,
            appeal=base[0:1] * lift,
            draw=draw,
            slot=(w * 4) * 2 + 1,
        )
        add(
            times[1:2],
            ref.REACTIVATION,
            ref.EMAIL,
            0.0,
            step=2,
            wave=wave,
            appeal=base[1:2],
            slot=(w * 4 + 1) * 2,
        )
        add(
            times[2:3],
            ref.REACTIVATION,
            ref.EMAIL,
            0.0,
            step=3,
            wave=wave,
            appeal=base[2:3],
            slot=(w * 4 + 2) * 2,
        )
        if w % 2 == 1:
            add(
                times[2:3] + 7 * 3600,
                ref.REACTIVATION,
                ref.SMS,
                0.0,
                step=3,
                wave=wave,
                appeal=base[2:3] * 1.2,
                slot=(w * 4 + 2) * 2 + 1,
            )
        add(
            times[3:4],
            ref.REACTIVATION,
            ref.EMAIL,
            0.0,
            step=4,
            wave=wave,
            appeal=base[3:4],
            slot=(w * 4 + 3) * 2,
        )

    cols = {k: np.concatenate(v) for k, v in rows.items()}
    order = np.lexsort((cols["kind"], cols["sent_at"]))
    cols = {k: v[order] for k, v in cols.items()}
    k = len(order)
    channel = cols["channel"].astype(np.int8)
    base_cost = np.array([COST[c] for c in range(3)])[channel]
    cost = np.round(base_cost * rng.uniform(0.85, 1.2, k), 5)
    wave_steps = np.full(m * 4 * 2, -1, dtype=np.int64)
    slots = cols["slot"]
    wave_steps[slots[slots >= 0]] = np.flatnonzero(slots >= 0)
    return CampaignPlan(
        sent_at=cols["sent_at"].astype(np.int64),
        kind=cols["kind"].astype(np.int8),
        step=cols["step"].astype(np.int8),
        channel=channel,
        cost=cost,
        variant=cols["variant"].astype(np.int8),
        wave=cols["wave"].astype(np.int16),
        appeal=cols["appeal"].astype(np.float64),
        scale=cols["scale"].astype(np.float64),
        lo=cols["lo"].astype(np.float64),
        hi=cols["hi"].astype(np.float64),
        draw=cols["draw"].astype(np.int64),
        wave_start=np.array(starts, dtype=np.int64).reshape(m),
        wave_steps=wave_steps.reshape(m, 4, 2),
    )

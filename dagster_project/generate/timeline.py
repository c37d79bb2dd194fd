"""Time axis of one simulated world. Every time is an int64 count of seconds since the epoch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

DAY = 86_400
YEAR = int(365.25 * DAY)
# "never": far in the future, yet safe to add durations to without overflowing int64
INF = np.int64(2**62)
NEG_INF = np.int64(-(2**62))

DEFAULT_HISTORY_DAYS = 1095  # ~3 years of events and orders
CONTACT_SPAN_DAYS = 5 * 365  # contacts were created over ~5 years
# The world is simulated this many days past as_of, so that `--day` deliveries of the following
# days continue it exactly (same ids, same people, same campaigns).
FUTURE_DAYS = 45


def default_as_of() -> date:
    """Yesterday (UTC), the last complete day: a history ending with today would hold events
    later than now, which the landing gates rightly reject as future (the demo data of a
    run shortly after midnight did)."""
    return datetime.now(UTC).date() - timedelta(days=1)


def to_date(value: date | str | None) -> date:
    if value is None:
        return default_as_of()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def epoch(day: date) -> int:
    """Seconds since the epoch of midnight UTC starting `day`."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class Timeline:
    as_of: date
    history_days: int
    end: int  # exclusive end of the history: as_of + 1 day, 00:00 UTC
    start: int  # first instant of the history of events and orders
    contacts_start: int  # first contact creation
    sim_end: int  # exclusive end of the simulated world (end + FUTURE_DAYS)

    @classmethod
    def build(cls, as_of: date | str | None, history_days: int = DEFAULT_HISTORY_DAYS):
        if history_days < 120:
            raise ValueError("history_days must be at least 120")
        as_of = to_date(as_of)
        end = epoch(as_of + timedelta(days=1))
        span = max(CONTACT_SPAN_DAYS, history_days + 365)
        return cls(
            as_of=as_of,
            history_days=history_days,
            end=end,
            start=end - history_days * DAY,
            contacts_start=end - span * DAY,
            sim_end=end + FUTURE_DAYS * DAY,
        )

    @property
    def last_day(self) -> date:
        """Last day the world is simulated for (a `--day` delivery can go up to it)."""
        return self.as_of + timedelta(days=FUTURE_DAYS)

"""Statutory deadlines for data-subject requests (UK GDPR Art 12(3), as the ICO reads it).

One calendar month from receipt: the same date next month; the month's last day when that
month is shorter; the next working day when the date falls on a weekend or an England &
Wales bank holiday. Extensions add up to two further months; days the clock was paused
(waiting for clarification) are added before the working-day rule applies.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from functools import lru_cache

import holidays

MAX_EXTENSION_MONTHS = 2
# England & Wales: the policy's business is in England; the subdivision is a setting.
DEFAULT_SUBDIVISION = "ENG"


def add_months(start: date, months: int) -> date:
    """The same day ``months`` later, or that month's last day when it is shorter."""
    if months < 0:
        raise ValueError("months must not be negative")
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


@lru_cache(maxsize=8)
def _bank_holidays(subdivision: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv=subdivision, years=[year]))


def is_working_day(day: date, subdivision: str = DEFAULT_SUBDIVISION) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(subdivision, day.year)


def next_working_day(day: date, subdivision: str = DEFAULT_SUBDIVISION) -> date:
    """``day`` itself if it is a working day, else the first working day after it."""
    while not is_working_day(day, subdivision):
        day += timedelta(days=1)
    return day


def request_deadline(received: date, *, extension_months: int = 0, paused_days: int = 0,
                     subdivision: str = DEFAULT_SUBDIVISION) -> date:
    """When a request received on ``received`` must be answered.

    ``extension_months`` (0-2) is the recorded extension for a complex or numerous request;
    ``paused_days`` the days the clock stood still while waiting for clarification.
    """
    if not 0 <= extension_months <= MAX_EXTENSION_MONTHS:
        raise ValueError(f"an extension is 0 to {MAX_EXTENSION_MONTHS} months")
    if paused_days < 0:
        raise ValueError("paused days must not be negative")
    due = add_months(received, 1 + extension_months) + timedelta(days=paused_days)
    return next_working_day(due, subdivision)



class ClockError(ValueError):
    """A pause, resume or extension the rules do not allow (names the rule, no values)."""


def clock_deadline(started: date, *, extension_months: int = 0, paused_days: int = 0,
                   subdivision: str = DEFAULT_SUBDIVISION) -> date:
    """The deadline of a running clock: ``started`` is the day of receipt, or the day the
    requested ID arrived when the request waited for it."""
    return request_deadline(started, extension_months=extension_months,
                            paused_days=paused_days, subdivision=subdivision)


def first_month_end(started: date, paused_days: int = 0) -> date:
    """The last day of the first month (pauses added): an extension must be told by then.
    No working-day rule: the person is told within the month itself."""
    return add_months(started, 1) + timedelta(days=paused_days)


def check_extension(started: date, *, already: int, more: int, told: date,
                    paused_days: int = 0, today: date | None = None) -> int:
    """The extension in months after adding ``more``; raises ClockError when the total
    would pass two months or the person was not told within the first month."""
    if more not in (1, 2):
        raise ClockError("an extension is 1 or 2 months")
    if already + more > MAX_EXTENSION_MONTHS:
        raise ClockError(f"extensions add up to {MAX_EXTENSION_MONTHS} months at most; "
                         f"{already} already granted")
    if told < started:
        raise ClockError("--told is before the clock started")
    if today is not None and told > today:
        raise ClockError("--told is in the future")
    limit = first_month_end(started, paused_days)
    if told > limit:
        raise ClockError(f"the person must be told within the first month (by "
                         f"{limit.isoformat()}); too late to extend")
    return already + more


def days_between(start: date, end: date) -> int:
    """Whole days a pause lasted; resuming on the day it began adds none."""
    if end < start:
        raise ClockError("the clock cannot resume before it was paused")
    return (end - start).days


_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_within(text: str) -> timedelta:
    """``7d``, ``2w`` or ``24h`` as a timedelta (for `dsr request list --due-within`)."""
    value = text.strip().lower()
    unit = _UNITS.get(value[-1:]) if value else None
    number = value[:-1]
    if unit is None or not number.isdigit() or int(number) <= 0:
        raise ValueError("expected a count and a unit: 24h, 7d or 2w")
    return int(number) * unit

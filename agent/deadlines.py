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


"""Request deadlines: month ends, leap years, weekends and England & Wales bank holidays."""

from __future__ import annotations

from datetime import date

import pytest

from agent.deadlines import (
    add_months,
    is_working_day,
    next_working_day,
    request_deadline,
)


@pytest.mark.parametrize("start, months, expected", [
    (date(2026, 3, 3), 1, date(2026, 4, 3)),       # the same date next month
    (date(2026, 1, 31), 1, date(2026, 2, 28)),     # February is shorter: its last day
    (date(2028, 1, 31), 1, date(2028, 2, 29)),     # leap year
    (date(2028, 2, 29), 12, date(2029, 2, 28)),    # 29 February, a year on
    (date(2026, 12, 15), 1, date(2027, 1, 15)),    # over the year end
    (date(2026, 8, 31), 3, date(2026, 11, 30)),    # extension: three months in all
    (date(2026, 5, 10), 0, date(2026, 5, 10)),
])
def test_add_months_clamps_to_month_end(start, months, expected):
    assert add_months(start, months) == expected


def test_add_months_refuses_negative():
    with pytest.raises(ValueError):
        add_months(date(2026, 1, 1), -1)


@pytest.mark.parametrize("received, expected, why", [
    (date(2026, 9, 3), date(2026, 10, 5), "3 Oct 2026 is a Saturday: Monday 5 Oct"),
    (date(2026, 9, 7), date(2026, 10, 7), "a Wednesday: the same date"),
    (date(2026, 1, 31), date(2026, 3, 2), "28 Feb 2026 is a Saturday: Monday 2 Mar"),
    (date(2026, 7, 31), date(2026, 9, 1), "31 Aug 2026 is the Late Summer bank holiday"),
    (date(2026, 11, 25), date(2026, 12, 29),
     "25 Dec is Christmas, 26-27 the weekend, 28 Boxing Day (observed)"),
    (date(2026, 3, 3), date(2026, 4, 7), "3 Apr Good Friday, weekend, 6 Apr Easter Monday"),
    (date(2028, 1, 29), date(2028, 2, 29), "leap year: 29 Feb 2028 is a Tuesday"),
])
def test_one_calendar_month_then_next_working_day(received, expected, why):
    assert request_deadline(received) == expected, why


def test_extension_and_paused_days():
    received = date(2026, 9, 7)
    assert request_deadline(received, extension_months=2) == date(2026, 12, 7)
    # 10 paused days move 7 Oct to 17 Oct, a Saturday: Monday 19 Oct
    assert request_deadline(received, paused_days=10) == date(2026, 10, 19)
    with pytest.raises(ValueError):
        request_deadline(received, extension_months=3)
    with pytest.raises(ValueError):
        request_deadline(received, paused_days=-1)


def test_working_days_know_the_nations_apart():
    # 2 Jan is a bank holiday in Scotland, not in England & Wales
    assert is_working_day(date(2026, 1, 2))
    assert not is_working_day(date(2026, 1, 2), "SCT")
    assert next_working_day(date(2026, 1, 1)) == date(2026, 1, 2)
    assert next_working_day(date(2026, 1, 1), "SCT") == date(2026, 1, 5)

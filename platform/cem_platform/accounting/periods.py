"""Accounting periods in an enterprise's time zone: hour, day, ISO week, month, year."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator

from cem_platform.accounting.formulas import AccountingError
from cem_platform.accounting.models import PeriodKind

__all__ = ["MAX_PERIODS", "local_midnight", "next_month", "parse_instant", "period_bounds", "period_of", "year_of"]

UTC = dt.UTC
#: At most this many periods per request: a year of days, five years of weeks, two weeks of hours.
MAX_PERIODS = 400


def parse_instant(text: str, zone: zoneinfo.ZoneInfo, what: str) -> dt.datetime:
    """``YYYY-MM-DD`` (local midnight), ``YYYY-MM`` (first of the month) or an ISO instant with offset, as UTC."""
    text = text.strip()
    try:
        if len(text) == 7:
            day = dt.date.fromisoformat(text + "-01")
            return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(UTC)
        if len(text) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=zone).astimezone(UTC)
        instant = dt.datetime.fromisoformat(text)
    except ValueError as err:
        raise AccountingError(
            f"{what} {text!r} is not a date or instant.",
            hint="Write YYYY-MM-DD (local midnight of the enterprise), YYYY-MM, or an ISO instant with offset.",
        ) from err
    if instant.tzinfo is None:
        raise AccountingError(f"{what} {text!r} has no UTC offset.", hint="Add Z or +08:00, or give a date.")
    return instant.astimezone(UTC)


def local_midnight(day: dt.date, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The UTC instant a local day begins in ``zone``."""
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(UTC)


def next_month(day: dt.date) -> dt.date:
    """The first day of the month after ``day``'s."""
    return dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def period_of(kind: PeriodKind, instant: dt.datetime, zone: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The period of ``kind`` containing ``instant``, as UTC instants [start, end)."""
    if kind is PeriodKind.HOUR:
        start = instant.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        return start, start + dt.timedelta(hours=1)
    day = instant.astimezone(zone).date()
    if kind is PeriodKind.DAY:
        return local_midnight(day, zone), local_midnight(day + dt.timedelta(days=1), zone)
    if kind is PeriodKind.WEEK:
        monday = day - dt.timedelta(days=day.weekday())
        return local_midnight(monday, zone), local_midnight(monday + dt.timedelta(days=7), zone)
    if kind is PeriodKind.MONTH:
        first = day.replace(day=1)
        return local_midnight(first, zone), local_midnight(next_month(first), zone)
    first = dt.date(day.year, 1, 1)
    return local_midnight(first, zone), local_midnight(dt.date(day.year + 1, 1, 1), zone)


def period_bounds(
    kind: PeriodKind, start: dt.datetime, end: dt.datetime, zone: zoneinfo.ZoneInfo, now: dt.datetime
) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """Every period of ``kind`` meeting [start, end) that has begun by ``now``; refuses more than MAX_PERIODS."""
    if end <= start:
        raise AccountingError("'to' must come after 'from'.", hint="Give a later 'to'; it is exclusive.")
    lo, hi = period_of(kind, start, zone)
    count = 0
    stop = min(end, now)
    while lo < stop:
        count += 1
        if count > MAX_PERIODS:
            raise AccountingError(
                f"The range holds more than {MAX_PERIODS} {kind.value} periods.",
                hint="Ask for a longer period (day -> month) or a shorter range.",
            )
        yield lo, hi
        lo, hi = period_of(kind, hi, zone)


def year_of(start: dt.datetime, zone: zoneinfo.ZoneInfo) -> int:
    """The reporting year of a period: the local year in which it starts."""
    return start.astimezone(zone).year

"""The wallboard's view state: plain Python, driven by tests without a UI, rendered by ``wallboard.app``.

One :class:`Wallboard` holds what the executives' screen shows for one enterprise, in its time zone:

* emissions today, this month and this year so far, each against the same span of last year: like for like,
  from the start of the day, month or year up to the last full hour (local plant time) this year, and over the
  same local dates and hours a year earlier (:class:`Comparison` says which span);
* carbon intensity of the year so far (tCO2 per t crude steel) against reference values (benchmark, limit)
  that are configuration with their source named — the platform does not serve benchmarks yet;
* this month so far per process (a chart and a table; the month tile's span, so they add up to it), and the trend of
  the last 30 days;
* the carbon allowance: unknown until the platform serves carbon assets — shown as such, never invented;
* the alarm ticker (open alarms, newest first; one per outage, the meters it affects listed under it, not apart)
  and a process flow coloured by each process's worst alarm (an outage colours the processes of its meters);
* how fresh it all is: :meth:`Wallboard.freshness` says live, stale or offline, and since when.

:meth:`Wallboard.refresh` reloads everything over the REST API; :meth:`Wallboard.apply` folds a live event
(an alarm raised, acknowledged or cleared) in between. Pages rotate with :meth:`Wallboard.next_page`.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from cem_clients.api import Alarm, ApiClient, ClientError, EmissionPeriod, InvalidInput, LiveEvent, PeriodKind
from cem_clients.ui.alarm_text import is_consequence

__all__ = [
    "PAGES",
    "Comparison",
    "Freshness",
    "ProcessFigure",
    "Reference",
    "TrendDay",
    "Wallboard",
]

log = logging.getLogger(__name__)

PAGES = ("overview", "processes", "trend", "alarms")
SEVERITY_RANK = {"info": 0, "warning": 1, "major": 2, "critical": 3}
TICKER_SIZE = 20
TREND_DAYS = 30


@dataclass(frozen=True)
class Reference:
    """A reference intensity (tCO2/t crude steel) with where it comes from."""

    value: Decimal
    source: str


#: Defaults from the domain notes: verified reports of Chinese integrated mills 2020–2023 span 1.80–1.94; a
#: Chinese BF-BOF mill by the national method 1.94. Configurable per works (``Wallboard(references=...)``).
DEFAULT_BENCHMARK = Reference(Decimal("1.80"), "verified Chinese integrated-mill reports 2020–2023, lower end")
DEFAULT_LIMIT = Reference(Decimal("1.94"), "a Chinese BF-BOF mill by the national method")


class Freshness(StrEnum):
    """How current the screen is."""

    LIVE = "live"  # refreshed recently and the live feed is connected
    STALE = "stale"  # the last refresh is older than twice the refresh interval, or the feed is down
    OFFLINE = "offline"  # nothing could be loaded yet, or the last refreshes all failed


@dataclass(frozen=True)
class Comparison:
    """A figure so far and the same span of last year (tCO2).

    ``since`` and ``until`` are the span this year, local plant time, ``until`` exclusive: the start of the day,
    month or year and the start of the current hour (the running hour is left out on both sides: its figure is
    not complete yet, last year's is). Last year's span has the same local dates and hours a year earlier
    (29 February counts as 28 February). An empty span (the first hour of a day) has no figures yet.
    """

    value: Decimal | None
    previous: Decimal | None
    complete: bool
    provisional: bool
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    estimated: bool = False  # some activity data of the span is estimated or prorated

    @property
    def no_data(self) -> bool:
        """Nothing was accounted for the span yet (its data has not come in): no figure to show or compare."""
        return self.value is not None and not self.value and not self.complete

    @property
    def pending(self) -> bool:
        """No full hour of the span has passed yet: nothing to compare."""
        return self.since is not None and self.until is not None and self.until <= self.since

    @property
    def change(self) -> Decimal | None:
        """Relative change against last year (0.05 = +5 %), None when last year is unknown or zero."""
        if self.value is None or not self.previous:
            return None
        return (self.value - self.previous) / self.previous


@dataclass(frozen=True)
class ProcessFigure:
    """One process this month: emissions by term, and its worst open alarm."""

    process_id: int
    code: str
    name: str
    net: Decimal | None  # None when unknown (no inventory)
    by_category: dict[str, Decimal]
    worst_alarm: str | None = None  # severity of its worst open alarm


@dataclass(frozen=True)
class TrendDay:
    """One day of the 30-day trend."""

    day: dt.date
    net: Decimal
    complete: bool


@dataclass
class Wallboard:
    """What the wallboard shows for one enterprise."""

    api: ApiClient
    enterprise_id: int
    refresh_s: float = 60.0
    references: tuple[Reference, Reference] = (DEFAULT_BENCHMARK, DEFAULT_LIMIT)
    enterprise_name: str = ""
    zone: zoneinfo.ZoneInfo = field(default_factory=lambda: zoneinfo.ZoneInfo("Asia/Shanghai"))
    today: Comparison | None = None
    month: Comparison | None = None
    year: Comparison | None = None
    intensity: Decimal | None = None
    processes: list[ProcessFigure] = field(default_factory=list)
    trend: list[TrendDay] = field(default_factory=list)
    alarms: list[Alarm] = field(default_factory=list)
    allowance: Decimal | None = None  # not served by the platform yet: always None, shown as unknown
    loaded_at: dt.datetime | None = None
    failed_at: dt.datetime | None = None
    error: str = ""
    emissions_note: str = ""  # why the emission figures are unknown: a string key (wallboard.no_inventory, ...)
    live_connected: bool = False
    page: int = 0
    _process_codes: dict[int, str] = field(default_factory=dict)
    _names: dict[int, str] = field(default_factory=dict)
    _point_process: dict[str, int] = field(default_factory=dict)

    # ----------------------------------------------------------------------------------------------- loading

    async def refresh(self, now: dt.datetime | None = None) -> bool:
        """Reload every figure; on failure keep the last ones and remember the error (shown as staleness)."""
        now = now or dt.datetime.now(dt.UTC)
        try:
            await self._load(now)
        except ClientError as err:
            self.failed_at = now
            self.error = str(err)
            return False
        self.loaded_at = now
        self.failed_at = None
        self.error = ""
        return True

    async def _load(self, now: dt.datetime) -> None:
        enterprise = await self.api.enterprise(self.enterprise_id)
        self.enterprise_name = enterprise.name
        self.zone = zoneinfo.ZoneInfo(enterprise.timezone)
        await self._load_structure()
        try:
            await self._load_emissions(now)
            self.emissions_note = ""
        except InvalidInput as err:  # e.g. no source inventory yet: the figures are unknown, not zero
            self.today = self.month = self.year = None
            self.intensity = None
            self.trend = []
            self.processes = [
                ProcessFigure(i, c, self._names.get(i, c), None, {}) for i, c in self._process_codes.items()
            ]
            # said to people in their words (the platform's text names API routes); the text itself goes to the log
            self.emissions_note = (
                "wallboard.no_inventory" if err.code == "no_source_inventory" else "wallboard.figures_unavailable"
            )
            log.info("emission figures unknown: %s", err)
        # a meter's alarm listed under an outage is said by the outage: fetch beyond them to fill the ticker
        alarms = await self.api.alarms(state="open", enterprise_id=self.enterprise_id, limit=TICKER_SIZE * 5)
        self.alarms = [a for a in alarms if not is_consequence(a)][:TICKER_SIZE]
        self._colour_processes()

    async def _load_emissions(self, now: dt.datetime) -> None:
        """Today, this month and this year so far against last year's same span, in at most six requests.

        A span is put together from the largest periods that fit it exactly: the whole months before this one,
        the whole days of this month before today, and today's full hours (hours are UTC hours, which are the
        plant's hours in zones with a whole-hour offset). Last year's span is built the same way.
        """
        zone = self.zone
        local = now.astimezone(zone)
        today = local.date()
        month_start, year_start = today.replace(day=1), today.replace(month=1, day=1)
        last = _last_year(today)
        midnight, until = _at(today, zone), _at(today, zone, dt.time(local.hour))
        last_midnight, last_until = _at(last, zone), _at(last, zone, dt.time(local.hour))
        trend_start = _at(today - dt.timedelta(days=TREND_DAYS - 1), zone)

        # This year: the months before this one, the days of the last 30 and of this month, today's full hours.
        months = await self._periods("month", _at(year_start, zone), _at(month_start, zone))
        days = await self._periods("day", min(_at(month_start, zone), trend_start), _at(today, zone, days=1))
        hours = await self._periods("hour", midnight, until)
        month_days = [p for p in days if _at(month_start, zone) <= p.period_start < midnight]
        # Last year: the same local dates and hours.
        last_months = await self._periods(
            "month", _at(_last_year(year_start), zone), _at(_last_year(month_start), zone)
        )
        last_days = await self._periods("day", _at(_last_year(month_start), zone), last_midnight)
        last_hours = await self._periods("hour", last_midnight, last_until)

        self.today = _so_far(hours, last_hours, midnight, until)
        self.month = _so_far([*month_days, *hours], [*last_days, *last_hours], _at(month_start, zone), until)
        year = [*months, *month_days, *hours]
        self.year = _so_far(year, [*last_months, *last_days, *last_hours], _at(year_start, zone), until)
        self.intensity = _intensity(year)
        self.trend = [
            TrendDay(p.period_start.astimezone(zone).date(), p.net, p.complete)
            for p in days
            if p.period_start >= trend_start
        ]
        await self._load_processes(_at(month_start, zone), midnight, until)

    async def _periods(
        self, period: PeriodKind, start: dt.datetime, end: dt.datetime, process_id: int | None = None
    ) -> list[EmissionPeriod]:
        """The enterprise's (or a process's) periods of ``period`` lying wholly inside [start, end); no request for
        an empty span."""
        if end <= start:
            return []
        if process_id is None:
            page = await self.api.emissions("enterprise", self.enterprise_id, period, start, end)
        else:
            page = await self.api.emissions("process", process_id, period, start, end)
        return [p for p in page.results if p.period_start >= start and p.period_end <= end]

    async def _load_structure(self) -> None:
        """Processes and which process each point belongs to (loaded once)."""
        if not self._process_codes:
            processes = await self.api.processes(self.enterprise_id)
            route = {t.id: rank for rank, t in enumerate(await self.api.process_types())}
            # the plant's route (coking and sintering, ironmaking, steelmaking, rolling, then the rest), not codes
            processes.sort(key=lambda p: (route.get(p.process_type_id, len(route)), p.code))
            self._process_codes = {p.id: p.code for p in processes}
            self._names = {p.id: p.name for p in processes}
            facilities = {f.id: f.process_id for f in await self.api.facilities() if f.process_id in self._names}
            for point in await self.api.points(enterprise_id=self.enterprise_id):
                if point.facility_id in facilities:
                    self._point_process[str(point.id)] = facilities[point.facility_id]

    async def _load_processes(self, month_start: dt.datetime, midnight: dt.datetime, until: dt.datetime) -> None:
        """Each process over the same span as the month tile: this month's whole days, then today's full hours
        (two requests a process), so that the processes add up to the month's figure."""
        figures = []
        for process_id, code in self._process_codes.items():
            periods = [
                *await self._periods("day", month_start, midnight, process_id),
                *await self._periods("hour", midnight, until, process_id),
            ]
            by_category: dict[str, Decimal] = {}
            for period in periods:
                for category, amount in period.by_category.items():
                    by_category[category] = by_category.get(category, Decimal(0)) + amount
            net = sum((p.net for p in periods), Decimal(0)) if periods else None  # None: nothing to show yet
            figures.append(ProcessFigure(process_id, code, self._names.get(process_id, code), net, by_category))
        self.processes = figures  # in route order, as _load_structure ordered them

    def _colour_processes(self) -> None:
        worst: dict[int, str] = {}
        for alarm in self.alarms:
            points = [alarm.subject_id] if alarm.subject_type == "point" else []
            points += [str(c.point_id) for c in alarm.consequences]  # an outage: the processes of its meters
            for process_id in {self._point_process[p] for p in points if p in self._point_process}:
                if SEVERITY_RANK.get(alarm.severity, 0) >= SEVERITY_RANK.get(worst.get(process_id, ""), -1):
                    worst[process_id] = alarm.severity
        self.processes = [
            ProcessFigure(p.process_id, p.code, p.name, p.net, p.by_category, worst.get(p.process_id))
            for p in self.processes
        ]

    # ------------------------------------------------------------------------------------------------- live

    def apply(self, event: LiveEvent) -> bool:
        """Fold a live event in; True when the screen should redraw."""
        if event.type == "connected":
            self.live_connected = True
            return True
        if event.type == "alarm" and event.alarm is not None and event.alarm.enterprise_id == self.enterprise_id:
            others = [a for a in self.alarms if a.id != event.alarm.id]
            shown = event.alarm.open and not is_consequence(event.alarm)
            self.alarms = ([event.alarm] if shown else []) + others
            self.alarms = sorted(self.alarms, key=lambda a: a.last_seen_at, reverse=True)[:TICKER_SIZE]
            self._colour_processes()
            return True
        return False

    def disconnected(self) -> None:
        """The live feed is down (it reconnects by itself)."""
        self.live_connected = False

    # ------------------------------------------------------------------------------------------------- view

    def freshness(self, now: dt.datetime | None = None) -> tuple[Freshness, dt.datetime | None]:
        """Live, stale or offline, and the time of the figures shown."""
        now = now or dt.datetime.now(dt.UTC)
        if self.loaded_at is None:
            return Freshness.OFFLINE, None
        old = (now - self.loaded_at).total_seconds() > 2 * self.refresh_s
        if old or self.failed_at is not None or not self.live_connected:
            return Freshness.STALE, self.loaded_at
        return Freshness.LIVE, self.loaded_at

    def next_page(self) -> str:
        """Rotate to the next page; its name."""
        self.page = (self.page + 1) % len(PAGES)
        return PAGES[self.page]

    @property
    def page_name(self) -> str:
        """The page shown now."""
        return PAGES[self.page]

    def intensity_status(self) -> str | None:
        """'good' at or under the benchmark, 'watch' up to the limit, 'over' above it; None when unknown."""
        if self.intensity is None:
            return None
        benchmark, limit = self.references
        if self.intensity <= benchmark.value:
            return "good"
        return "watch" if self.intensity <= limit.value else "over"

    def category_totals(self) -> dict[str, Decimal]:
        """This month's emissions by category over all processes (enterprise-level sources included)."""
        totals: dict[str, Decimal] = {}
        for figure in self.processes:
            for category, value in figure.by_category.items():
                totals[category] = totals.get(category, Decimal(0)) + value
        return totals


def _so_far(
    current: Sequence[EmissionPeriod], previous: Sequence[EmissionPeriod], since: dt.datetime, until: dt.datetime
) -> Comparison:
    """This year's span against last year's from their periods; a running day, month or year is provisional."""
    if until <= since:
        return Comparison(None, None, False, True, since, until)
    value = sum((p.net for p in current), Decimal(0)) if current else None
    complete = bool(current) and all(p.complete for p in current)
    estimated = any(p.estimated for p in current)
    return Comparison(value, _total(previous), complete, True, since, until, estimated)


def _total(periods: Sequence[EmissionPeriod]) -> Decimal | None:
    """Net emissions of last year's span, or None when none of it was accounted (the works had no data)."""
    if not periods or all(not p.complete and not p.net for p in periods):
        return None
    return sum((p.net for p in periods), Decimal(0))


def _intensity(periods: Sequence[EmissionPeriod]) -> Decimal | None:
    """tCO2 per t crude steel over ``periods``; None without crude steel."""
    output = sum((p.output for p in periods if p.output is not None), Decimal(0))
    if output <= 0:
        return None
    return sum((p.net for p in periods), Decimal(0)) / output


def _at(day: dt.date, zone: zoneinfo.ZoneInfo, time: dt.time = dt.time(), *, days: int = 0) -> dt.datetime:
    """``day`` (plus ``days``) at ``time`` in the plant's zone."""
    return dt.datetime.combine(day + dt.timedelta(days=days), time, tzinfo=zone)


def _last_year(day: dt.date) -> dt.date:
    """The same date a year earlier (29 February -> 28 February)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def worst_severity(alarms: Sequence[Alarm]) -> str | None:
    """The most urgent severity among ``alarms``."""
    if not alarms:
        return None
    return max((a.severity for a in alarms), key=lambda s: SEVERITY_RANK.get(s, 0))

"""The wallboard's view state: plain Python, driven by tests without a UI, rendered by ``wallboard.app``.

One :class:`Wallboard` holds what the executives' screen shows for one enterprise, in its time zone:

* emissions today, this month and this year so far, each against the same span of last year;
* carbon intensity of the year so far (tCO2 per t crude steel) against reference values (benchmark, limit)
  that are configuration with their source named — the platform does not serve benchmarks yet;
* this month per process (a chart and a table), and the trend of the last 30 days;
* the carbon allowance: unknown until the platform serves carbon assets — shown as such, never invented;
* the alarm ticker (open alarms, newest first) and a process flow coloured by each process's worst alarm;
* how fresh it all is: :meth:`Wallboard.freshness` says live, stale or offline, and since when.

:meth:`Wallboard.refresh` reloads everything over the REST API; :meth:`Wallboard.apply` folds a live event
(an alarm raised, acknowledged or cleared) in between. Pages rotate with :meth:`Wallboard.next_page`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from cem_clients.api import Alarm, ApiClient, ClientError, EmissionPeriod, InvalidInput, LiveEvent

__all__ = [
    "PAGES",
    "Comparison",
    "Freshness",
    "ProcessFigure",
    "Reference",
    "TrendDay",
    "Wallboard",
]

PAGES = ("overview", "processes", "trend", "alarms")
SEVERITY_RANK = {"info": 0, "warning": 1, "major": 2, "critical": 3}
TICKER_SIZE = 20


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
    """A figure so far and the same span of last year (tCO2)."""

    value: Decimal | None
    previous: Decimal | None
    complete: bool
    provisional: bool

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
    emissions_note: str = ""  # why the emission figures are unknown, as the platform says it
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
            self.emissions_note = str(err)
        self.alarms = list(await self.api.alarms(state="open", enterprise_id=self.enterprise_id, limit=TICKER_SIZE))
        self._colour_processes()

    async def _load_emissions(self, now: dt.datetime) -> None:
        local = now.astimezone(self.zone)
        today = local.date()
        tomorrow = today + dt.timedelta(days=1)
        month_start = today.replace(day=1)
        year_start = today.replace(month=1, day=1)
        last = _last_year(today)

        day = await self._one("enterprise", self.enterprise_id, "day", today, tomorrow)
        month = await self._one("enterprise", self.enterprise_id, "month", month_start, _next_month(month_start))
        year = await self._one(
            "enterprise", self.enterprise_id, "year", year_start, year_start.replace(year=today.year + 1)
        )
        last_day = await self._sum("day", last, last + dt.timedelta(days=1))
        last_month = await self._sum("day", _last_year(month_start), last + dt.timedelta(days=1))
        last_year_months = await self._sum("month", _last_year(year_start), _last_year(month_start))
        last_year = None if last_year_months is None or last_month is None else last_year_months + last_month
        self.today = _comparison(day, last_day)
        self.month = _comparison(month, last_month)
        self.year = _comparison(year, last_year)
        self.intensity = year.intensity if year else None

        trend = await self.api.emissions(
            "enterprise", self.enterprise_id, "day", today - dt.timedelta(days=29), tomorrow
        )
        self.trend = [TrendDay(p.period_start.astimezone(self.zone).date(), p.net, p.complete) for p in trend.results]
        await self._load_processes(month_start)

    async def _one(self, scope: str, scope_id: int, period: str, start: dt.date, end: dt.date) -> EmissionPeriod | None:
        page = await self.api.emissions(scope, scope_id, period, start, end)  # type: ignore[arg-type]
        return page.results[0] if page.results else None

    async def _sum(self, period: str, start: dt.date, end: dt.date) -> Decimal | None:
        """Net emissions of last year's span, or None when none of it was accounted (the works had no data)."""
        if end <= start:
            return Decimal(0)
        page = await self.api.emissions("enterprise", self.enterprise_id, period, start, end)  # type: ignore[arg-type]
        if not page.results or all(not p.complete and not p.net for p in page.results):
            return None
        return sum((p.net for p in page.results), Decimal(0))

    async def _load_structure(self) -> None:
        """Processes and which process each point belongs to (loaded once)."""
        if not self._process_codes:
            processes = await self.api.processes(self.enterprise_id)
            self._process_codes = {p.id: p.code for p in processes}
            self._names = {p.id: p.name for p in processes}
            facilities = {f.id: f.process_id for f in await self.api.facilities() if f.process_id in self._names}
            for point in await self.api.points(enterprise_id=self.enterprise_id):
                if point.facility_id in facilities:
                    self._point_process[str(point.id)] = facilities[point.facility_id]

    async def _load_processes(self, month_start: dt.date) -> None:
        figures = []
        for process_id, code in self._process_codes.items():
            period = await self._one("process", process_id, "month", month_start, _next_month(month_start))
            figures.append(
                ProcessFigure(
                    process_id,
                    code,
                    self._names.get(process_id, code),
                    period.net if period else Decimal(0),
                    dict(period.by_category) if period else {},
                )
            )
        self.processes = sorted(figures, key=lambda f: f.net or Decimal(0), reverse=True)

    def _colour_processes(self) -> None:
        worst: dict[int, str] = {}
        for alarm in self.alarms:
            process_id = self._point_process.get(alarm.subject_id) if alarm.subject_type == "point" else None
            if process_id is None:
                continue
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
            self.alarms = ([event.alarm] if event.alarm.open else []) + others
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


def _comparison(current: EmissionPeriod | None, previous: Decimal | None) -> Comparison:
    if current is None:
        return Comparison(None, previous, False, True)
    return Comparison(current.net, previous, current.complete, not current.final)


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)


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

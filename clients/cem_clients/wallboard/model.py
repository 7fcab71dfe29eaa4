"""The wallboard's view state: plain Python, driven by tests without a UI, rendered by ``wallboard.app``.

One :class:`Wallboard` holds what the executives' screen shows for one enterprise, in its time zone:

* emissions today, this month and this year so far, each against the same span of last year: like for like,
  from the start of the day, month or year (local plant time) up to the time of today's figure, and over the same
  local dates and time of day a year earlier (:class:`Comparison` says which span);
* carbon intensity of the year so far (tCO2 per t crude steel) against reference values (benchmark, limit)
  that are configuration with their source named (the national libraries hold no such per-works references);
* each process's level this year so far against the national benchmarks and limits (GB 21256's grades: "二级,
  距一级 3.2 kgce/t", a limit exceeded) from the gap analysis (``GET /benchmarking/gap``), and the biggest
  reduction potentials (``GET /benchmarking/potential``) with the works' sum: one request each a refresh;
* this month so far per process (the month tile's span, so they add up to it, with what no process carries), this
  year month by month against last year's months, the year's structure by the five GB/T 32151.5 terms, and the
  trend of the last 30 days against the same days a year earlier;
* the carbon allowance of the compliance year (``GET /carbon-assets/trial`` and ``/holdings``: two requests a
  refresh): allowances, used (the ETS-scope emissions kept so far) and remaining, the forecast surplus or deficit at
  year end with its band and in CNY, the asset value at the latest prices, and the open carbon warnings (alarms of
  kind ``carbon_deficit``). The current year until the platform has no rule for it, then the latest year it has
  (remembered); a platform without carbon assets, or a token not allowed them, leaves them unknown (said);
* the alarm ticker (open alarms, newest first; one per outage, the meters it affects listed under it, not apart)
  and a process flow coloured by each process's worst alarm (an outage colours the processes of its meters);
* how fresh it all is: :meth:`Wallboard.freshness` says live, stale or offline, and since when.

:meth:`Wallboard.refresh` reloads everything over the REST API; :meth:`Wallboard.apply` folds a live event
(an alarm raised, acknowledged or cleared) in between. Pages rotate with :meth:`Wallboard.next_page`.

The emission figures come from the statistics service (``GET /statistics``) in two requests a refresh: this year
by month (the monthly chart, the year's structure and intensity) and the days of this month and of the trend, each
with its year-on-year figures. The service compares a running period like for like (today as of its refresh with
last year's same day up to the same time of day); a span so far is made of the whole periods inside it and the
running day, and last year's figure of theirs.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from cem_clients.api import (
    Alarm,
    ApiClient,
    BenchmarkComparison,
    ClientError,
    GapAnalysis,
    InvalidInput,
    LiveEvent,
    Potential,
    StatisticsRow,
)
from cem_clients.ui.alarm_text import is_consequence

__all__ = [
    "PAGES",
    "Comparison",
    "Freshness",
    "CarbonFigures",
    "MonthFigure",
    "ProcessFigure",
    "ProcessLevel",
    "ProcessPotential",
    "Reference",
    "TrendDay",
    "Wallboard",
]

log = logging.getLogger(__name__)

PAGES = ("overview", "processes", "trend", "alarms", "benchmarks", "carbon")
CARBON_KIND = "carbon_deficit"  # the alarms of the carbon-asset warnings
SEVERITY_RANK = {"info": 0, "warning": 1, "major": 2, "critical": 3}
TICKER_SIZE = 20
TREND_DAYS = 30
TOP_POTENTIALS = 5  # the biggest reduction potentials shown
#: The key of what no process carries (purchased electricity without a sub-meter, enterprise-level sources).
UNALLOCATED = "_unallocated"
ROUNDING_RESIDUE = Decimal("0.000001")  # t: less than this unallocated is the arithmetic's, not a meter's


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
    month or year and the time today's figure is accounted as of (its refresh, minutes ago; the end of the day
    once it is over). Last year's span has the same local dates and time of day a year earlier (29 February counts
    as 28 February). An empty span (the service has nothing of the day yet) has no figures.
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
        """Nothing of the span is accounted yet: nothing to compare."""
        return self.since is not None and self.until is not None and self.until <= self.since

    @property
    def change(self) -> Decimal | None:
        """Relative change against last year (0.05 = +5 %), None when last year is unknown or zero."""
        if self.value is None or not self.previous:
            return None
        return (self.value - self.previous) / self.previous


@dataclass(frozen=True)
class ProcessFigure:
    """One process this month so far (tCO2), and its worst open alarm."""

    process_id: int
    code: str
    name: str
    net: Decimal | None  # None when unknown (no inventory, or nothing of the month yet)
    worst_alarm: str | None = None  # severity of its worst open alarm


@dataclass(frozen=True)
class ProcessLevel:
    """One process's process energy this year so far against its national reference: a GB 21256 limit's grades
    (or, without one, the national efficiency benchmark)."""

    process_id: int
    code: str
    name: str
    actual: Decimal  # kgce/t
    unit: str
    text: str  # 二级, 距一级 3.2 kgce/t
    text_en: str
    best: bool  # at the reference's best level
    breach: bool  # above the limit (corrected)


@dataclass(frozen=True)
class ProcessPotential:
    """One process's reduction potential this year so far against the best national level (tce, tCO2)."""

    process_id: int
    code: str
    name: str
    tce: Decimal
    tco2: Decimal


@dataclass(frozen=True)
class TrendDay:
    """One day of the 30-day trend, and the same date a year earlier (None: no figure)."""

    day: dt.date
    net: Decimal
    complete: bool
    last_year: Decimal | None = None


@dataclass(frozen=True)
class MonthFigure:
    """One month of this year and the same month of last year (None: no figure); the running month so far, against
    last year's same month up to the same point (the service's like-for-like comparison)."""

    month: int
    net: Decimal
    last_year: Decimal | None
    running: bool  # the month is not over: its figure is so far, and last year's up to the same point
    complete: bool


@dataclass(frozen=True)
class CarbonFigures:
    """The compliance year's allowance as the wallboard shows it (tCO2, CNY)."""

    year: int
    allowances: Decimal  # allocation (received and expected) + bought + carried over − sold
    used: Decimal  # ETS-scope emissions of the kept months so far
    months_used: int  # the kept months
    obligation: Decimal  # the year's emissions: kept + forecast
    position: Decimal  # allowances + usable offsets − obligation (negative: a deficit)
    low: Decimal  # the position at the band's high emissions (the worse end)
    high: Decimal
    band_percent: Decimal  # 80
    money: Decimal | None  # the position in CNY at the latest CEA price
    asset_value: Decimal | None  # allowances and offsets held at the latest prices (None while a price is missing)
    deadline: str

    @property
    def remaining(self) -> Decimal:
        """Allowances not yet used by the kept months' emissions."""
        return self.allowances - self.used

    @property
    def used_share(self) -> Decimal | None:
        """The share of the allowances used (0.71), None without allowances."""
        return self.used / self.allowances if self.allowances > 0 else None


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
    unallocated: Decimal | None = None  # this month so far, booked to no process
    months: list[MonthFigure] = field(default_factory=list)
    terms: dict[str, Decimal] = field(default_factory=dict)  # this year by GB/T 32151.5 term, signed (tCO2)
    trend: list[TrendDay] = field(default_factory=list)
    alarms: list[Alarm] = field(default_factory=list)
    allowance: Decimal | None = None  # the compliance year's allowances (None: unknown, said)
    carbon: CarbonFigures | None = None
    carbon_note: str = ""  # why the carbon figures are unknown: a string key
    carbon_year: int | None = None  # the compliance year the platform has a rule for (remembered)
    levels: list[ProcessLevel] = field(default_factory=list)
    potentials: list[ProcessPotential] = field(default_factory=list)  # the biggest first, above zero only
    potential_tce: Decimal | None = None  # the works' sum over the processes
    potential_tco2: Decimal | None = None
    benchmark_year: str = ""
    benchmark_note: str = ""  # why the benchmark figures are unknown: a string key
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
            self.trend, self.months, self.terms, self.unallocated = [], [], {}, None
            self.processes = [ProcessFigure(i, c, self._names.get(i, c), None) for i, c in self._process_codes.items()]
            # said to people in their words (the platform's text names API routes); the text itself goes to the log
            self.emissions_note = (
                "wallboard.no_inventory" if err.code == "no_source_inventory" else "wallboard.figures_unavailable"
            )
            log.info("emission figures unknown: %s", err)
        await self._load_benchmarks(now)
        await self._load_carbon(now)
        # a meter's alarm listed under an outage is said by the outage: fetch beyond them to fill the ticker
        alarms = await self.api.alarms(state="open", enterprise_id=self.enterprise_id, limit=TICKER_SIZE * 5)
        self.alarms = [a for a in alarms if not is_consequence(a)][:TICKER_SIZE]
        self._colour_processes()

    async def _load_emissions(self, now: dt.datetime) -> None:
        """Today, this month and this year so far against last year's same span, in two requests.

        This year by month (the chart, the year's structure and intensity, the months before this one) and the days
        from the earlier of the month's first and the trend's (the month's days, today, the processes, the trend),
        each with its year-on-year figures. Whole periods are compared whole; the running day like for like: the
        service accounts it as of its refresh (``as_of``) and last year's same day up to the same time of day (the
        comparison's ``until``). A span so far is made of the whole periods inside it and the running day.
        """
        zone = self.zone
        today = now.astimezone(zone).date()
        month_start, year_start = _at(today.replace(day=1), zone), _at(today.replace(month=1, day=1), zone)
        midnight = _at(today, zone)
        trend_start = _at(today - dt.timedelta(days=TREND_DAYS - 1), zone)
        next_month = _at((today.replace(day=1) + dt.timedelta(days=31)).replace(day=1), zone)

        stats = self.api.statistics
        year = await stats(
            "enterprise", self.enterprise_id, "month", year_start, next_month, dimension="group", compare=("yoy",)
        )
        days = await stats(
            "enterprise", self.enterprise_id, "day", min(month_start, trend_start), _at(today, zone, days=1),
            dimension="process", compare=("yoy",),
        )  # fmt: skip
        months = [r for r in year.rows if r.period_end <= month_start]
        before = [r for r in days.rows if month_start <= r.period_start and r.period_end <= midnight]
        today_rows = [r for r in days.rows if r.period_start == midnight]

        self.today = _so_far(today_rows, midnight)
        self.month = _so_far([*before, *today_rows], month_start)
        self.year = _so_far([*months, *before, *today_rows], year_start)
        self.intensity = year.total.intensity  # the year by month, the running month so far
        self.terms = {p.key: p.value for p in year.total.parts}
        self.months = [
            MonthFigure(r.period_start.astimezone(zone).month, r.net, _previous(r), r.period_end > now, r.complete)
            for r in year.rows
        ]
        self.trend = [
            TrendDay(r.period_start.astimezone(zone).date(), r.net, r.complete, _previous(r))
            for r in days.rows
            if r.period_start >= trend_start
        ]
        self._set_processes([*before, *today_rows])

    async def _load_benchmarks(self, now: dt.datetime) -> None:
        """The processes' levels and potentials this year so far: one gap analysis (process energy only) and one
        potential request. A platform without them, or a token not allowed them, leaves them unknown (said), not the
        rest of the screen."""
        year = str(now.astimezone(self.zone).year)
        try:
            gap = await self.api.benchmark_gap("enterprise", self.enterprise_id, "year", year,
                                               indicator="process_energy")  # fmt: skip
            potential = await self.api.benchmark_potential(self.enterprise_id, "year", year)
        except ClientError as err:
            self.levels, self.potentials, self.potential_tce, self.potential_tco2 = [], [], None, None
            self.benchmark_note = "wallboard.bench.unavailable"
            log.info("benchmark figures unknown: %s", err)
            return
        self.benchmark_year = year
        self.levels = _levels(gap, self._process_codes)
        self._set_potentials(potential)
        self.benchmark_note = "" if self.levels or self.potentials else "wallboard.bench.no_figures"

    async def _load_carbon(self, now: dt.datetime) -> None:
        """The compliance year's trial calculation and holdings: two requests (a third and fourth only once, when
        the platform has no rule for the current year and the year before is tried). Unknown (said) on a platform
        without carbon assets or a refusal."""
        year = self.carbon_year or now.astimezone(self.zone).year
        try:
            try:
                trial = await self.api.carbon_trial(self.enterprise_id, year)
            except InvalidInput:
                if self.carbon_year is not None:
                    raise
                year -= 1  # no rule (or nothing to allocate from) this year yet: the year before, still open
                trial = await self.api.carbon_trial(self.enterprise_id, year)
            holdings = await self.api.carbon_holdings(self.enterprise_id, year)
        except ClientError as err:
            self.carbon, self.allowance = None, None
            self.carbon_note = "wall.carbon.unavailable"
            log.info("carbon figures unknown: %s", err)
            return
        self.carbon_year = year
        direct = trial.emissions.forecasts.get("direct")
        self.carbon = CarbonFigures(
            year=year,
            allowances=trial.allowances,
            used=direct.actual if direct is not None else Decimal(0),
            months_used=direct.months_actual if direct is not None else 0,
            obligation=trial.obligation,
            position=trial.position,
            low=trial.band.low.position,
            high=trial.band.high.position,
            band_percent=(trial.band.level * 100).quantize(Decimal(1)),
            money=trial.money.position if trial.money is not None else None,
            asset_value=holdings.value,
            deadline=trial.deadline,
        )
        self.allowance = trial.allowances
        self.carbon_note = ""

    def carbon_warnings(self) -> list[Alarm]:
        """The open carbon-asset warnings (newest first)."""
        return [a for a in self.alarms if a.kind == CARBON_KIND]

    def _set_potentials(self, answer: Potential) -> None:
        processes = [
            ProcessPotential(p.process_id, p.code, self._names.get(p.process_id, p.name), p.tce, p.tco2)
            for p in answer.processes
            if p.tce > 0 or p.tco2 > 0
        ]
        self.potentials = sorted(processes, key=lambda p: (-p.tce, -p.tco2, p.code))[:TOP_POTENTIALS]
        self.potential_tce, self.potential_tco2 = answer.tce, answer.tco2

    def _set_processes(self, rows: Sequence[StatisticsRow]) -> None:
        """Each process over the month tile's span (so that they and what no process carries add up to it)."""
        by_code: dict[str, Decimal] = {}
        for row in rows:
            for part in row.parts:
                by_code[part.key] = by_code.get(part.key, Decimal(0)) + part.value
        known = any(r.net or r.complete for r in rows)  # nothing of the month accounted yet: "—", not 0 t
        self.processes = [
            ProcessFigure(i, code, self._names.get(i, code), by_code.get(code, Decimal(0)) if known else None)
            for i, code in self._process_codes.items()
        ]  # in route order, as _load_structure ordered them
        rest = by_code.get(UNALLOCATED)
        # the service's residue of rounding (the net is kept to 1e-10 t, a process's figure to more) is no part
        self.unallocated = rest if known and rest is not None and abs(rest) >= ROUNDING_RESIDUE else None

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

    def _colour_processes(self) -> None:
        worst: dict[int, str] = {}
        for alarm in self.alarms:
            points = [alarm.subject_id] if alarm.subject_type == "point" else []
            points += [str(c.point_id) for c in alarm.consequences]  # an outage: the processes of its meters
            for process_id in {self._point_process[p] for p in points if p in self._point_process}:
                if SEVERITY_RANK.get(alarm.severity, 0) >= SEVERITY_RANK.get(worst.get(process_id, ""), -1):
                    worst[process_id] = alarm.severity
        self.processes = [
            ProcessFigure(p.process_id, p.code, p.name, p.net, worst.get(p.process_id)) for p in self.processes
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


def _national(comparisons: Sequence[BenchmarkComparison]) -> BenchmarkComparison | None:
    """The national reference a process is judged by on the wallboard: a limit's grades, else the benchmark."""
    for kind in ("limit", "benchmark"):
        found = next((c for c in comparisons if c.kind == kind and c.library == "national"), None)
        if found is not None:
            return found
    return None


def _levels(gap: GapAnalysis, route: dict[int, str]) -> list[ProcessLevel]:
    """Each process with a figure and a national reference, in the plant's route order (``route``: the processes'
    ids in that order)."""
    order = {process_id: rank for rank, process_id in enumerate(route)}
    out = []
    for subject in gap.subjects:
        if subject.process_id is None:
            continue
        series = next((s for s in subject.indicators if s.indicator == "process_energy"), None)
        period = next((p for p in reversed(series.periods) if p.actual is not None), None) if series else None
        main = _national(period.comparisons) if period is not None else None
        if series is None or period is None or period.actual is None or main is None:
            continue
        out.append(
            ProcessLevel(
                subject.process_id, subject.code, subject.name, period.actual, series.unit, main.text, main.text_en,
                best=bool(main.levels) and main.reached == main.levels[0].name, breach=bool(main.breach),
            )
        )  # fmt: skip
    return sorted(out, key=lambda p: (order.get(p.process_id, len(order)), p.code))


def _so_far(rows: Sequence[StatisticsRow], since: dt.datetime) -> Comparison:
    """A span so far from its periods (the whole ones, then the running day) against last year's same span (the
    service's year-on-year figures: a whole period's, and the running day's up to the same time of day).

    The span ends where its last period's figures end: the running day's at its refresh (``as_of``); without any
    period (the service has none of it yet) it is empty: pending.
    """
    until = max((_end(r) for r in rows), default=since)
    if until <= since:  # nothing of the span accounted yet (the service has no row for it, or none as of later)
        return Comparison(None, None, False, True, since, until)
    value = sum((r.net for r in rows), Decimal(0)) if rows else None
    earlier = [p for p in map(_previous, rows) if p is not None]
    previous = sum(earlier, Decimal(0)) if earlier else None  # none of last year's span accounted: unknown
    complete = bool(rows) and all(map(_complete, rows))
    estimated = any(r.estimated for r in rows)
    provisional = not rows or any(not r.final for r in rows)
    return Comparison(value, previous, complete, provisional, since, until, estimated)


def _end(row: StatisticsRow) -> dt.datetime:
    """Where a row's figures end: a final one's at its end; a running period's where the span the service compared
    it on ends (whole hours: meters are kept by the hour), else at its refresh (``as_of``)."""
    if row.final or row.as_of is None:
        return row.period_end
    if row.yoy is not None and row.yoy.until is not None:
        return row.period_start + (row.yoy.until - row.yoy.period_start)
    return max(row.period_start, min(row.as_of, row.period_end))


def _complete(row: StatisticsRow) -> bool:
    """Whether a row's span so far has its data: a running period is never complete as a whole (the rest of it has
    not happened), so it counts as complete once something of it is accounted; a span with nothing is not."""
    return row.complete or (not row.final and row.net != 0)


def _previous(row: StatisticsRow) -> Decimal | None:
    """Last year's figure of a row's span: a whole period's, or a running one's up to the same point (``until``);
    a running period compared with last year's whole one (the service could not compare it like for like) has
    none."""
    if row.yoy is None or row.yoy.value is None:
        return None
    if not row.final and row.yoy.until is None:
        return None
    return row.yoy.value


def _at(day: dt.date, zone: zoneinfo.ZoneInfo, time: dt.time = dt.time(), *, days: int = 0) -> dt.datetime:
    """``day`` (plus ``days``) at ``time`` in the plant's zone."""
    return dt.datetime.combine(day + dt.timedelta(days=days), time, tzinfo=zone)


def worst_severity(alarms: Sequence[Alarm]) -> str | None:
    """The most urgent severity among ``alarms``."""
    if not alarms:
        return None
    return max((a.severity for a in alarms), key=lambda s: SEVERITY_RANK.get(s, 0))

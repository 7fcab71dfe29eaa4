"""ETS-scope emissions from the kept accounting results, the year-end forecasts, the trial calculation (试算) and
its publication, and the early warnings.

**ETS-scope emissions** are never calculated here: each kept month result carries combustion, process and fixed
carbon, and the year's rule names the terms that count (national market, steel: combustion + process − fixed
carbon). The answer lists the ids of the results it summed (lineage: ``/api/v1/emissions/{id}/lineage``). Only
finished months with a kept result count as actual; the running month and any month not kept are forecast.

**Trial calculation** of compliance year Y under rule version v:

* obligation = ETS-scope emissions of Y: actual to date + forecast to year end (band: the forecast's);
* allocation: rule ``verified`` (2024): the allocation equals the obligation. Rule ``pre_allocation_true_up``
  (2025): pre-allocation = share × the previous year's verified ETS emissions (the verifier's figure where the year
  is verified, else the kept results', said so); final allocation = Y's crude steel (actual + forecast or plan) ×
  the previous year's tCO2 per tonne × intensity_factor; the true-up is final − pre-allocation. What the ledger has
  received of the allocation counts as received, the rest as expected; once the ledger holds a true-up, the
  allocation is what was received (pre-allocation + true-up) and the computed figure is shown beside it;
* allowances = final allocation + purchased + carried over − sold (surrendered ones met part of the obligation and
  still count against it);
* usable offsets = min(offsets acquired − sold, offset_cap_share × obligation), in every calculation and every end
  of the band;
* position = allowances + usable offsets − obligation (positive: surplus, negative: deficit), and in CNY at the
  latest allowance (CEA) price.

Tonnes from the model are rounded half-even to 0.0001 t, allocations likewise; money half-even to 0.01 CNY. Reads
write nothing; publishing stores the figures as computed, naming the rule version, the result ids and the
forecast, and never changes them.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tortoise.transactions import in_transaction

from cem_platform.accounting import units
from cem_platform.accounting.inventory import enterprise_for
from cem_platform.accounting.models import PeriodKind, ReportingYear
from cem_platform.accounting.reads import kept_results
from cem_platform.alarms.models import Alarm, AlarmKind, AlarmState, Severity
from cem_platform.alarms.services import AlarmService
from cem_platform.audit.services import record
from cem_platform.carbon_assets.forecast import LEVEL, Forecast, forecast_year
from cem_platform.carbon_assets.ledger import holdings, latest_price
from cem_platform.carbon_assets.models import PlanMonth, TrialCalculation
from cem_platform.carbon_assets.rules import CarbonAssetError, rule_for
from cem_platform.identity.principal import Principal
from cem_platform.org.models import Enterprise
from cem_platform.settings import Settings
from cem_platform.sysconfig.services import get_value

__all__ = [
    "MonthFigures",
    "ProcessForecast",
    "ProcessMonth",
    "WarningReport",
    "YearFigures",
    "evaluate_warnings",
    "publish",
    "trial",
    "year_figures",
]

log = logging.getLogger("cem.carbon_assets")
TONNE = Decimal("0.0001")
YUAN = Decimal("0.01")
INTENSITY = Decimal("0.000001")  # tCO2/t, half-even
HISTORY_YEARS = 3
_TERM_COLUMNS = {"combustion": "combustion", "process": "process_emissions", "electricity": "electricity",
                 "heat": "heat", "fixed_carbon": "fixed_carbon"}  # fmt: skip


def _t(value: Decimal) -> str:
    return units.exact_text(value)


@dataclass(frozen=True, slots=True)
class MonthFigures:
    """One finished month's kept figures."""

    month: str  # 2025-03, local
    result_id: int
    direct: Decimal  # ETS scope, under the rule's terms
    combustion: Decimal
    process: Decimal
    fixed_carbon: Decimal
    net: Decimal
    energy_tce: Decimal | None
    crude_steel: Decimal | None


@dataclass(frozen=True, slots=True)
class ProcessMonth:
    """One process's figures of a kept month: ETS scope under the rule's terms, and its product's tonnes."""

    direct: Decimal
    output: Decimal | None


@dataclass(frozen=True, slots=True)
class ProcessForecast:
    """One process's year: ETS-scope emissions and output forecast like the enterprise's, and the year-end
    intensity (tCO2 per tonne of its product) of the two."""

    direct: Forecast
    output: Forecast | None
    intensity: Decimal | None


@dataclass(slots=True)
class YearFigures:
    """A year's kept months (with the years before, for the model) and the forecasts of its rest."""

    year: int
    months: list[MonthFigures]  # this year's, kept and finished
    history: list[MonthFigures]  # the consecutive run of kept months ending with the last one
    missing: list[str]  # this year's months to forecast
    forecasts: dict[str, Forecast] = field(default_factory=dict)
    previous: list[MonthFigures] = field(default_factory=list)  # the year before's kept months
    # each process's kept months (month -> figures), and its forecast, when asked for
    process_months: dict[str, dict[str, ProcessMonth]] = field(default_factory=dict)
    processes: dict[str, ProcessForecast] = field(default_factory=dict)

    def out(self) -> dict[str, Any]:
        """As the API and a published calculation write it."""
        return {
            "year": self.year,
            "months": [
                {
                    "month": m.month,
                    "result_id": m.result_id,
                    "direct": _t(m.direct),
                    "combustion": _t(m.combustion),
                    "process": _t(m.process),
                    "fixed_carbon": _t(m.fixed_carbon),
                    "net": _t(m.net),
                    "energy_tce": None if m.energy_tce is None else _t(m.energy_tce),
                    "crude_steel": None if m.crude_steel is None else _t(m.crude_steel),
                }
                for m in self.months
            ],  # fmt: skip
            "result_ids": [m.result_id for m in self.months],
            "forecast_months": self.missing,
            "history_months": len(self.history),
            "forecasts": {name: _forecast_out(f) for name, f in self.forecasts.items()},
            **({"processes": {code: _process_out(f) for code, f in sorted(self.processes.items())}}
               if self.processes else {}),
        }  # fmt: skip


def _process_out(f: ProcessForecast) -> dict[str, Any]:
    return {
        "direct": _forecast_out(f.direct),
        "output": _forecast_out(f.output) if f.output is not None else None,
        "intensity": _t(f.intensity) if f.intensity is not None else None,
    }


def _forecast_out(f: Forecast) -> dict[str, Any]:
    return {
        "actual": _t(f.actual), "months_actual": f.months_actual, "remaining": _t(f.remaining),
        "months_forecast": f.months_forecast, "year_end": _t(f.year_end), "low": _t(f.low), "high": _t(f.high),
        "level": _t(f.level), "method": f.method, "monthly": [_t(v) for v in f.monthly],
    }  # fmt: skip


def _month_start(year: int, month: int, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    return dt.datetime(year, month, 1, tzinfo=zone).astimezone(dt.UTC)


async def year_figures(
    principal: Principal,
    enterprise_id: int,
    year: int,
    terms: dict[str, int],
    *,
    processes: bool = False,
    now: dt.datetime | None = None,
) -> YearFigures:
    """The kept months of ``year`` and the ``HISTORY_YEARS`` before it, and the forecasts of the rest (reads only);
    ``processes``: each process's ETS-scope emissions, output and year-end intensity forecast too."""
    enterprise = await enterprise_for(principal, enterprise_id)
    zone = zoneinfo.ZoneInfo(enterprise.timezone)
    now = now or dt.datetime.now(dt.UTC)
    start, end = _month_start(year - HISTORY_YEARS, 1, zone), _month_start(year + 1, 1, zone)
    views = await kept_results(principal, enterprise.id, PeriodKind.MONTH, start, end, energy=True, live_limit=0,
                               processes=processes, now=now)  # fmt: skip
    kept: dict[str, MonthFigures] = {}
    by_process: dict[str, dict[str, ProcessMonth]] = {}
    for view in views:
        r = view.result
        if not view.kept or r.id is None or not r.final or r.period_end > now:
            continue
        values = {term: Decimal(getattr(r, column)) for term, column in _TERM_COLUMNS.items()}
        direct = sum((values[t] * sign for t, sign in terms.items()), Decimal(0))
        month = r.period_start.astimezone(zone).strftime("%Y-%m")
        energy = r.energy.get("total") if r.energy else None
        kept[month] = MonthFigures(
            month=month, result_id=r.id, direct=direct, combustion=values["combustion"], process=values["process"],
            fixed_carbon=values["fixed_carbon"], net=Decimal(r.net),
            energy_tce=Decimal(energy) if energy is not None else None,
            crude_steel=Decimal(r.crude_steel) if r.crude_steel is not None else None,
        )  # fmt: skip
        outputs = ((r.energy or {}).get("by_process") or {}) if processes else {}
        for code, totals in (r.by_process or {}).items() if processes else ():
            if not code or not totals:
                continue  # the enterprise-level sources (the grid tie...) are no process
            output = (outputs.get(code) or {}).get("output")
            by_process.setdefault(code, {})[month] = ProcessMonth(
                direct=sum((Decimal(totals.get(t, "0")) * sign for t, sign in terms.items()), Decimal(0)),
                output=Decimal(output) if output else None,
            )
    months = [kept[m] for m in sorted(kept) if m.startswith(f"{year}-")]
    previous = [kept[m] for m in sorted(kept) if m.startswith(f"{year - 1}-")]
    missing = [f"{year}-{n:02d}" for n in range(1, 13) if f"{year}-{n:02d}" not in kept]
    history: list[MonthFigures] = []
    ordered = sorted(kept)
    if ordered:
        for month in reversed(ordered):  # the consecutive run ending with the last kept month
            if history and _next_month(month) != history[0].month:
                break
            history.insert(0, kept[month])
    figures = YearFigures(year=year, months=months, history=history, missing=missing, previous=previous,
                          process_months=by_process)  # fmt: skip
    plans = {
        p.month: Decimal(p.crude_steel) for p in await PlanMonth.filter(enterprise_id=enterprise.id, month__in=missing)
    }
    _forecast(figures, plans)
    return figures


def _next_month(month: str) -> str:
    y, m = int(month[:4]), int(month[5:])
    return f"{y + 1}-01" if m == 12 else f"{y}-{m + 1:02d}"


def _series(rows: list[MonthFigures], metric: str) -> list[Decimal]:
    values = [getattr(r, metric) for r in rows]
    return [v for v in values if v is not None]


def _forecast(figures: YearFigures, plans: dict[str, Decimal]) -> None:
    left = len(figures.missing)
    planned = {i: plans[m] for i, m in enumerate(figures.missing) if m in plans}
    output = forecast_year(_series(figures.history, "crude_steel"), _series(figures.months, "crude_steel"), left)
    scale = {
        i: value / output.monthly[i] for i, value in planned.items() if i < len(output.monthly) and output.monthly[i]
    }
    figures.forecasts["crude_steel"] = (
        forecast_year(
            _series(figures.history, "crude_steel"), _series(figures.months, "crude_steel"), left, plan_values=planned
        )  # fmt: skip
        if planned
        else output
    )
    for metric in ("direct", "net", "energy_tce"):
        figures.forecasts[metric] = forecast_year(
            _series(figures.history, metric), _series(figures.months, metric), left, plan_scale=scale
        )
    history = [m.month for m in figures.history]
    this_year = [m.month for m in figures.months]
    for code, months in figures.process_months.items():
        # the process's months within the enterprise's run (a month it has no figure in is not forecast from)
        learn = [months[m] for m in history if m in months]
        done = [months[m] for m in this_year if m in months]
        if not learn:
            continue
        direct = forecast_year([m.direct for m in learn], [m.direct for m in done], left, plan_scale=scale)
        outputs = [m.output for m in learn if m.output is not None]
        made: Forecast | None = None
        if outputs and all(m.output is not None for m in done):
            made = forecast_year(outputs, [m.output for m in done if m.output is not None], left,
                                   plan_scale=scale)  # fmt: skip
        intensity = None
        if made is not None and made.year_end > 0:
            intensity = (direct.year_end / made.year_end).quantize(INTENSITY, ROUND_HALF_EVEN)
        figures.processes[code] = ProcessForecast(direct, made, intensity)


async def _previous_verified(enterprise_id: int, year: int, previous: list[MonthFigures]) -> dict[str, Any]:
    """The previous year's ETS emissions and output: the verifier's figure where the year is verified, else the kept
    results' (said so)."""
    kept_direct = sum((m.direct for m in previous), Decimal(0))
    output = sum((m.crude_steel or Decimal(0) for m in previous), Decimal(0))
    row = await ReportingYear.get_or_none(enterprise_id=enterprise_id, year=year - 1)
    verified = row.verified if row is not None and row.verified else None
    direct = Decimal(verified["direct"]) if verified and verified.get("direct") else kept_direct
    return {
        "year": year - 1,
        "direct": direct,
        "crude_steel": output,
        "months": len(previous),
        "basis": "verified" if verified else "kept results (not verified)",
        "result_ids": [m.result_id for m in previous],
    }


def _round(value: Decimal, step: Decimal = TONNE) -> Decimal:
    return value.quantize(step, ROUND_HALF_EVEN)


async def trial(
    principal: Principal,
    enterprise_id: int,
    year: int,
    *,
    rule_version: int | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The trial calculation of compliance year ``year`` (reads only; see the module's docstring)."""
    now = now or dt.datetime.now(dt.UTC)
    number, rule = await rule_for(year, rule_version)
    enterprise = await enterprise_for(principal, enterprise_id)
    figures = await year_figures(principal, enterprise.id, year, dict(rule["scope_terms"]), now=now)
    emissions = figures.forecasts["direct"]
    output = figures.forecasts["crude_steel"]
    held = await holdings(enterprise.id, year)
    received = held.received
    got = received.get("pre_allocation", Decimal(0)) + received.get("true_up", Decimal(0))
    notes: list[str] = []
    allocation: dict[str, Any] = {"method": rule["allocation"]}
    if rule["allocation"] == "verified":
        final = emissions.year_end
        allocation.update(final=_t(final), basis="the allocation equals the verified (here: forecast) emissions")
    else:
        prev = await _previous_verified(enterprise.id, year, figures.previous)
        if prev["months"] < 12 and prev["basis"] != "verified":
            notes.append(f"{year - 1} has {prev['months']} kept months only: its figures are partial.")
        if not prev["crude_steel"]:
            raise CarbonAssetError(
                f"{year - 1} has no crude steel output kept: the intensity-based allocation cannot be computed.",
                hint="Account the previous year's output first.",
            )
        pre = _round(Decimal(rule["pre_allocation_share"]) * prev["direct"])
        intensity = prev["direct"] / prev["crude_steel"]
        final = _round(output.year_end * intensity * Decimal(rule["intensity_factor"]))
        allocation.update(
            previous={**{k: _t(v) if isinstance(v, Decimal) else v for k, v in prev.items()}},
            pre_allocation=_t(pre),
            intensity=_t(_round(intensity, Decimal("0.000001"))),
            output=_t(output.year_end),
            final=_t(final),
            true_up=_t(final - pre),
        )
    if "true_up" in received:  # trued up: the allocation is what was received, no longer an estimate
        allocation.update(computed=_t(final), final=_t(got), basis="received (pre-allocation and true-up)")
        final = got
    else:
        allocation.setdefault("basis", f"computed under rules v{number}")
    if rule["uncertain"]:
        notes.append(f"Uncertain in the rule: {', '.join(rule['uncertain'])}.")
    expected = final - got
    allowances = final + sum(
        (received.get(k, Decimal(0)) for k in ("purchased", "carried_over", "sold")), Decimal(0)
    )  # sold is negative in ``received``
    offsets_available = sum((v for v in held.offsets.values()), Decimal(0)) + await _offsets_surrendered(
        enterprise.id, year
    )
    cap_share = Decimal(rule["offset_cap_share"])

    def position(obligation: Decimal) -> dict[str, str]:
        cap = _round(cap_share * max(obligation, Decimal(0)))
        usable = min(offsets_available, cap)
        return {
            "obligation": _t(obligation), "offset_cap": _t(cap), "offsets_usable": _t(usable),
            "position": _t(allowances + usable - obligation),
        }  # fmt: skip

    middle, low, high = position(emissions.year_end), position(emissions.high), position(emissions.low)
    price = await latest_price("CEA", now.date())
    money = None
    if price is not None:
        yuan = Decimal(price.price)
        money = {
            "price": _t(yuan), "price_day": price.day.isoformat(),
            "position": _t(_round(Decimal(middle["position"]) * yuan, YUAN)),
            "low": _t(_round(Decimal(low["position"]) * yuan, YUAN)),
            "high": _t(_round(Decimal(high["position"]) * yuan, YUAN)),
            "allowances_value": _t(_round(held.allowances * yuan, YUAN)),
        }  # fmt: skip
    else:
        notes.append("No CEA price entered: no money figures.")
    if emissions.year_end < Decimal(rule["threshold_tco2e"]):
        notes.append(f"Below the inclusion threshold of {rule['threshold_tco2e']} tCO2e a year.")
    return {
        "enterprise_id": enterprise.id,
        "year": year,
        "rule_version": number,
        "rule": rule,
        "as_of": now.isoformat(),
        "emissions": figures.out(),
        "allocation": allocation,
        "allocation_received": _t(got),
        "allocation_expected": _t(expected),
        "allowances": _t(allowances),
        "allowances_held": _t(held.allowances),
        "offsets_available": _t(offsets_available),
        "transactions": held.counted,
        **middle,
        "band": {"level": _t(LEVEL), "low": low, "high": high},  # low: high emissions (the worse end)
        "money": money,
        "deadline": rule["deadline"],
        "notes": notes,
    }


async def _offsets_surrendered(enterprise_id: int, year: int) -> Decimal:
    from cem_platform.carbon_assets.ledger import fold
    from cem_platform.carbon_assets.models import AssetTransaction, Instrument, TransactionKind

    rows = await AssetTransaction.filter(enterprise_id=enterprise_id, year=year).order_by("id")
    counted = set(fold(rows).counted)
    return sum(
        (
            Decimal(r.quantity)
            for r in rows
            if r.id in counted and r.instrument == Instrument.OFFSET and r.kind == TransactionKind.SURRENDERED
        ),
        Decimal(0),
    )


async def publish(principal: Principal, enterprise_id: int, year: int) -> TrialCalculation:
    """Compute the trial calculation and keep it as it is (audited). Never changed afterwards."""
    enterprise = await enterprise_for(principal, enterprise_id, write=True)
    figures = await trial(principal, enterprise.id, year)
    async with in_transaction():
        row = await TrialCalculation.create(
            enterprise_id=enterprise.id,
            year=year,
            rule_version=figures["rule_version"],
            figures=figures,
            published_by=principal.name,
        )
        await record(
            principal,
            "carbon_assets.trial.publish",
            entity_type="carbon_trial",
            entity_id=row.id,
            enterprise_id=enterprise.id,
            after={"year": year, "rule_version": figures["rule_version"], "position": figures["position"]},
            summary=f"{enterprise.code} {year}: position {figures['position']} tCO2 (rules v{figures['rule_version']})",
        )
    return row


# ---- early warning ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class WarningReport:
    """What one run of the warnings did."""

    enterprises: int = 0
    judged: int = 0
    raised: int = 0
    cleared: int = 0
    errors: dict[int, str] = field(default_factory=dict)


def _cause(enterprise_id: int, year: int, what: str) -> str:
    return f"carbon:{enterprise_id}:{year}:{what}"


async def evaluate_warnings(settings: Settings, now: dt.datetime | None = None) -> WarningReport:
    """Raise a ``carbon_deficit`` alarm when the forecast deficit of the current compliance year exceeds
    ``alarm.carbon_deficit_tco2``, when a year's surrender deadline is within ``alarm.carbon_deadline_days`` with
    a deficit, or when the latest kept month's ETS-scope tCO2 per tonne of crude steel is above the intensity the
    year's allocation is based on (intensity-based rules); clear each once it no longer holds. The previous and the
    current year are judged; years without kept months, or without a rule, are not."""
    now = now or dt.datetime.now(dt.UTC)
    report = WarningReport()
    level = Decimal(int(await get_value(settings, "alarm.carbon_deficit_tco2")))
    days = int(await get_value(settings, "alarm.carbon_deadline_days"))
    service = AlarmService(settings)
    principal = Principal.system("carbon_assets")
    for enterprise in await Enterprise.filter(active=True).order_by("id"):
        report.enterprises += 1
        this_year = now.astimezone(zoneinfo.ZoneInfo(enterprise.timezone)).year
        for year in (this_year - 1, this_year):
            try:
                await _judge(service, principal, enterprise, year, now, level, days, report)
            except CarbonAssetError:
                continue  # no rule for the year, or nothing to compute the allocation from: nothing to judge
            except Exception as err:  # noqa: BLE001 - one enterprise's trouble must not stop the others' warnings
                report.errors[enterprise.id] = str(err)[:300]
    return report


async def _judge(
    service: AlarmService,
    principal: Principal,
    enterprise: Enterprise,
    year: int,
    now: dt.datetime,
    level: Decimal,
    days: int,
    report: WarningReport,
) -> None:
    causes = {what: _cause(enterprise.id, year, what) for what in ("deficit", "deadline", "intensity")}
    figures = await trial(principal, enterprise.id, year, now=now)
    if not figures["emissions"]["months"]:
        return
    report.judged += 1
    deficit = -Decimal(figures["position"])
    deadline = dt.date.fromisoformat(figures["deadline"])
    today = now.date()
    conditions = {
        "deficit": (
            deficit > level,
            f"{enterprise.name} {year}: forecast deficit {_t(deficit)} tCO2 above the warning level {_t(level)} tCO2",
        ),
        "deadline": (
            deficit > 0 and today <= deadline <= today + dt.timedelta(days=days),
            f"{enterprise.name} {year}: surrender deadline {deadline} within {days} days with a deficit of "
            f"{_t(deficit)} tCO2",
        ),
    }
    detail = {
        "year": year, "position": figures["position"], "band": figures["band"], "rule_version": figures["rule_version"],
        "deadline": figures["deadline"], "level": _t(level), "money": figures["money"],
    }  # fmt: skip
    intensity = figures["allocation"].get("intensity")
    latest = figures["emissions"]["months"][-1]
    if intensity is not None and latest["crude_steel"] not in (None, "0"):
        benchmark = Decimal(intensity) * Decimal(figures["rule"]["intensity_factor"])
        monthly = Decimal(latest["direct"]) / Decimal(latest["crude_steel"])
        conditions["intensity"] = (
            monthly > benchmark,
            f"{enterprise.name} {latest['month']}: {_t(_round(monthly, Decimal('0.0001')))} tCO2/t above the "
            f"allocation intensity {_t(_round(benchmark, Decimal('0.0001')))} tCO2/t",
        )
    else:
        conditions["intensity"] = (False, "")
    for what, (holds, message) in conditions.items():
        if holds:
            await service.raise_alarm(
                enterprise.id,
                AlarmKind.CARBON_DEFICIT,
                Severity.MAJOR,
                "enterprise",
                str(enterprise.id),
                message,
                detail={**detail, "what": what},
                cause=causes[what],
                names={"enterprise": enterprise.name},
            )
            report.raised += 1
        elif await service.clear_cause(causes[what], note=f"{year}: position {figures['position']} tCO2"):
            report.cleared += 1


async def open_warnings(enterprise_id: int) -> list[Alarm]:
    """The open carbon warnings of an enterprise."""
    return await Alarm.filter(
        enterprise_id=enterprise_id,
        kind=AlarmKind.CARBON_DEFICIT,
        state__in=[AlarmState.ACTIVE, AlarmState.ACKNOWLEDGED],
    ).order_by("id")

"""Carbon assets: the view state of the console's 碳资产 screen.

:class:`CarbonBoard` asks the platform for one compliance year of the enterprise: the holdings and their value at
the latest prices (``GET /carbon-assets/holdings``), the ledger of allowance and offset transactions
(``GET /carbon-assets/transactions``, append-only: a correction is a new entry naming the one it corrects, which
then no longer counts) and the trial calculation (试算, ``GET /carbon-assets/trial``: allowances + usable offsets,
at most the rule's share of the obligation, − ETS-scope emissions actual to date + forecast to year end, in tCO2
and in CNY at the latest CEA price, with the forecast's band) and the holdings' value at each month end
(``GET /carbon-assets/holdings/trend``, at the prices of then) and each process's forecast
(``GET /carbon-assets/emissions?processes=true``); five requests a load. The trial carries the year's
kept months and the forecast of the rest, from which the trend (monthly emissions against the allowances' even
pace) and the forecast (cumulative emissions to year end with the band) are drawn.

Everything the screen shows comes from here as :class:`~cem_clients.console.stats.Sheet` values (captions in the
reader's language; tonnes and yuan rounded to 0.01 as shown), so that the charts, the tables and the XLSX export
say the same thing. :class:`TransactionForm` enters a transaction or a correction; the platform's refusal (a sale
beyond the holding, a vintage the year's rule does not accept ...) lands in its message and nothing is written.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cem_clients.api import CarbonAssetMonth, CarbonHoldings, CarbonProcessForecast, CarbonTransaction, CarbonTrial
from cem_clients.console.extra_api import ConsoleApi
from cem_clients.console.forms import Form, Problem, Screen, as_date, as_decimal
from cem_clients.console.stats import Column, Sheet, rounded
from cem_clients.ui.i18n import STRINGS, Locale, Translator

__all__ = [
    "INSTRUMENTS",
    "KINDS",
    "CarbonBoard",
    "MonthRow",
    "TransactionForm",
    "note_text",
    "refusal_text",
]

TONNE_PLACES = 2  # tCO2 as shown
YUAN_PLACES = 2  # CNY
PRICE_PLACES = 2  # CNY per tonne
INTENSITY_PLACES = 4  # tCO2/t
#: The kinds of transaction of each instrument, as the platform takes them.
KINDS: dict[str, tuple[str, ...]] = {
    "allowance": ("pre_allocation", "true_up", "purchased", "sold", "surrendered", "carried_over"),
    "offset": ("acquired", "sold", "surrendered"),
}
INSTRUMENTS = tuple(KINDS)


def _percent(share: Decimal) -> Decimal:
    """A share as a percentage without trailing zeros or an exponent (0.80 -> 80, 0.055 -> 5.5)."""
    value = (share * 100).normalize()
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


_NOTES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^Uncertain in the rule: (?P<names>.+)\.$"), "carbon.note.uncertain"),
    (re.compile(r"^(?P<year>\d{4}) has (?P<months>\d+) kept months only: its figures are partial\.$"),
     "carbon.note.partial"),
    (re.compile(r"^No CEA price entered: no money figures\.$"), "carbon.note.no_price"),
    (re.compile(r"^Below the inclusion threshold of (?P<threshold>[\d.]+) tCO2e a year\.$"), "carbon.note.threshold"),
)  # fmt: skip


def note_text(tr: Translator, note: str) -> str:
    """A note of the trial calculation in the reader's language (the platform writes them in English; one the
    strings do not know is shown as it is)."""
    for pattern, key in _NOTES:
        found = pattern.match(note)
        if found is None:
            continue
        values = found.groupdict()
        if "names" in values:
            names = [n.strip() for n in values["names"].split(",")]
            values["names"] = ("、" if tr.locale is Locale.ZH_CN else ", ").join(_rule_term(tr, n) for n in names)
        return tr.t(key, **values)
    return note


_REFUSALS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^The (?P<kind>\w+) of (?P<quantity>-?[\d.]+) t is more than is held"), "carbon.refusal.beyond"),
    (re.compile(r"^Offset vintage (?P<vintage>\S+) is not eligible in (?P<year>\d{4}): the year's rule accepts "
                r"vintages (?P<span>.+?)\."), "carbon.refusal.vintage"),
    (re.compile(r"^Offsets of type '(?P<type>[^']*)' do not count in (?P<year>\d{4}) \(types: (?P<types>[^)]*)\)"),
     "carbon.refusal.type"),
    (re.compile(r"^(?P<what>price|quantity): '(?P<text>[^']*)' is not a (non-negative )?decimal number"),
     "carbon.refusal.number"),
    (re.compile(r"^Transaction (?P<id>\d+) was corrected already"), "carbon.refusal.corrected"),
)  # fmt: skip


def refusal_text(tr: Translator, message: str) -> str:
    """The platform's refusal of a ledger entry in the reader's language (the platform writes it in English; one
    the strings do not know is shown as it is)."""
    for pattern, key in _REFUSALS:
        found = pattern.match(message)
        if found is None:
            continue
        values = found.groupdict()
        if "kind" in values:
            values["kind"] = tr.t(f"carbon.kind.{values['kind']}") if f"carbon.kind.{values['kind']}" in STRINGS[
                tr.locale] else values["kind"]  # fmt: skip
        if "what" in values:
            values["what"] = tr.t("carbon.col.price" if values["what"] == "price" else "carbon.col.quantity")
        return tr.t(key, **values)
    return message


def _rule_term(tr: Translator, name: str) -> str:
    key = f"carbon.rule.{name}"
    return tr.t(key) if key in STRINGS[tr.locale] else name


def _this_year(now: dt.datetime | None = None) -> int:
    return (now or dt.datetime.now(dt.UTC)).astimezone(dt.timezone(dt.timedelta(hours=8))).year


@dataclass(frozen=True)
class MonthRow:
    """One month of the compliance year: kept (actual) or forecast, its ETS-scope emissions, the running sum, the
    allowances' even pace to that month and the output."""

    month: str
    actual: bool
    emissions: Decimal
    cumulative: Decimal
    pace: Decimal
    crude_steel: Decimal | None


@dataclass(kw_only=True)
class TransactionForm(Form):
    """A ledger entry as typed: instrument and kind, tonnes, the day, the price where money moved, an offset's
    type, project and vintage, and — for a correction — the entry corrected (``void``: only cancel it)."""

    instrument: str = "allowance"
    kind: str = "purchased"
    quantity: str = ""
    traded_on: dt.date | str | None = None
    price: str = ""
    offset_type: str = "CCER"
    project: str = ""
    vintage: str = ""
    corrects: int | None = None
    void: bool = False
    note: str = ""

    def set_instrument(self, instrument: str) -> None:
        """Allowances or offsets; the kind follows when it is not one of the instrument's."""
        if instrument in KINDS:
            self.instrument = instrument
            if self.kind not in KINDS[instrument]:
                self.kind = KINDS[instrument][0]

    def validate(self) -> dict[str, Any] | None:
        """The body to send, or None with the problems marked (the platform checks the rest)."""
        self.begin()
        if self.instrument not in KINDS or self.kind not in KINDS[self.instrument]:
            self.check("kind", Problem("console.problem.choose_one", choices=", ".join(KINDS.get(self.instrument, ()))))
        quantity, problem = as_decimal(self.quantity)
        if not self.void:
            self.check("quantity", problem)
        day, problem = as_date(self.traded_on, required=True)
        self.check("traded_on", problem)
        price, problem = as_decimal(self.price) if self.price.strip() else (None, None)
        self.check("price", problem)
        vintage = self.vintage.strip()
        if self.instrument == "offset" and not (vintage.isdigit() and len(vintage) == 4):
            self.check("vintage", Problem("carbon.problem.vintage"))
        if self.void and self.corrects is None:
            self.check("quantity", Problem("carbon.problem.void"))
        if not self.valid or day is None:
            return None
        body: dict[str, Any] = {
            "instrument": self.instrument,
            "kind": self.kind,
            "quantity": self.quantity.strip() if quantity is not None else "0",
            "traded_on": day.isoformat(),
            "note": self.note.strip(),
        }
        if price is not None:
            body["price"] = self.price.strip()
        if self.instrument == "offset":
            body.update(offset_type=self.offset_type.strip(), project=self.project.strip(), vintage=int(vintage))
        if self.corrects is not None:
            body.update(corrects=self.corrects, void=self.void)
        return body


@dataclass
class CarbonBoard(Screen):
    """One compliance year of the enterprise's carbon assets."""

    api: ConsoleApi
    enterprise_id: int
    year: int = field(default_factory=_this_year)
    holdings: CarbonHoldings | None = None
    transactions: list[CarbonTransaction] = field(default_factory=list)
    trial: CarbonTrial | None = None
    assets: list[CarbonAssetMonth] = field(default_factory=list)  # the holdings' value at each month end
    processes: dict[str, CarbonProcessForecast] = field(default_factory=dict)  # by process code
    form: TransactionForm | None = None

    async def load(self) -> bool:
        """The year's holdings, ledger and trial calculation; on a refusal what was shown stays and ``error`` says
        why."""

        async def work() -> None:
            self.holdings = await self.api.carbon_holdings(self.enterprise_id, self.year)
            self.transactions = await self.api.carbon_transactions(self.enterprise_id, self.year)
            self.assets = await self.api.carbon_asset_trend(self.enterprise_id, self.year)
            self.trial = await self.api.carbon_trial(self.enterprise_id, self.year)
            emissions = await self.api.carbon_emissions(self.enterprise_id, self.year, processes=True)
            self.processes = dict(emissions.processes)

        return await self._load(work)

    async def choose_year(self, year: int) -> bool:
        """Another compliance year (what was shown of the other year is gone)."""
        self.year, self.holdings, self.transactions, self.trial, self.assets = year, None, [], None, []
        self.processes = {}
        return await self.load()

    def begin_entry(self, corrects: CarbonTransaction | None = None, *, void: bool = False) -> TransactionForm:
        """A new entry, or the correction of one (its instrument, kind and figures to start from)."""
        if corrects is None:
            self.form = TransactionForm(traded_on=dt.datetime.now(dt.UTC).date())
        else:
            self.form = TransactionForm(
                instrument=corrects.instrument, kind=corrects.kind, quantity=str(corrects.quantity),
                traded_on=corrects.traded_on, price="" if corrects.price is None else str(corrects.price),
                offset_type=corrects.offset_type or "CCER", project=corrects.project,
                vintage="" if corrects.vintage is None else str(corrects.vintage), corrects=corrects.id, void=void,
            )  # fmt: skip
        return self.form

    async def submit_entry(self, tr: Translator | None = None) -> CarbonTransaction | None:
        """Send the form (the platform's refusal lands in its message, in ``tr``'s language when given); the year
        is read again once it is kept."""
        form = self.form
        if form is None:
            return None
        body = form.validate()
        if body is None:
            return None
        body["year"] = self.year
        done = await form.send(lambda _code: self.api.add_carbon_transaction(self.enterprise_id, body))
        if done is None and form.message and tr is not None:
            form.message = refusal_text(tr, form.message)
        if done is not None:
            self.form = None
            await self.load()
        return done

    # ---- what the answer says -----------------------------------------------------------------------------------

    @property
    def cap_percent(self) -> Decimal:
        """The offset cap as a share of the obligation, in % (5)."""
        share = self.trial.rule.get("offset_cap_share", "0.05") if self.trial is not None else "0.05"
        return _percent(Decimal(str(share)))

    @property
    def band_percent(self) -> Decimal:
        """The band's level in % (80)."""
        return _percent(self.trial.band.level) if self.trial is not None else Decimal(80)

    def months(self) -> list[MonthRow]:
        """The twelve months: kept ones with their ETS-scope emissions, the others with their forecast; the running
        sum and the allowances' even pace (allowances x month / 12)."""
        trial = self.trial
        if trial is None:
            return []
        emissions = trial.emissions
        kept = {m.month: m for m in emissions.months}
        direct = emissions.forecasts.get("direct")
        output = emissions.forecasts.get("crude_steel")
        forecast = dict(zip(emissions.forecast_months, direct.monthly if direct else (), strict=False))
        planned = dict(zip(emissions.forecast_months, output.monthly if output else (), strict=False))
        rows: list[MonthRow] = []
        total = Decimal(0)
        for n in range(1, 13):
            month = f"{trial.year}-{n:02d}"
            if month in kept:
                value, actual, steel = kept[month].direct, True, kept[month].crude_steel
            else:
                value, actual, steel = forecast.get(month, Decimal(0)), False, planned.get(month)
            total += value
            rows.append(MonthRow(month, actual, value, total, trial.allowances * n / 12, steel))
        return rows

    def last_actual(self) -> int:
        """How many months from January are kept without a gap (the forecast starts after them)."""
        count = 0
        for row in self.months():
            if not row.actual:
                break
            count += 1
        return count

    # ---- tables -------------------------------------------------------------------------------------------------

    def trial_table(self, tr: Translator) -> Sheet:
        """The trial calculation: allocation, allowances, offsets and their cap, emissions actual and forecast, the
        obligation, the position and its band, in tCO2 and (where the platform gives it) CNY."""
        columns = (
            Column(tr.t("carbon.col.item")),
            Column(tr.t("carbon.col.tco2"), TONNE_PLACES, sign=False),
            Column(tr.t("carbon.col.cny"), YUAN_PLACES),
        )
        trial = self.trial
        if trial is None:
            return Sheet(tr.t("carbon.sheet.trial", year=self.year), columns, ())
        direct = trial.emissions.forecasts.get("direct")
        money = trial.money
        allocation = trial.allocation.get("final")
        band = self.band_percent

        def t(value: Decimal | None) -> Decimal | None:
            return rounded(value, TONNE_PLACES)

        def y(value: Decimal | None) -> Decimal | None:
            return rounded(value, YUAN_PLACES)

        rows: list[tuple[str | Decimal | None, ...]] = [
            (tr.t("carbon.item.allocation"), t(Decimal(str(allocation)) if allocation is not None else None), None),
            (tr.t("carbon.item.received"), t(trial.allocation_received), None),
            (tr.t("carbon.item.expected"), t(trial.allocation_expected), None),
            (tr.t("carbon.item.allowances"), t(trial.allowances), None),
            (tr.t("carbon.item.held"), t(trial.allowances_held), y(money.allowances_value) if money else None),
            (tr.t("carbon.item.offsets"), t(trial.offsets_available), None),
            (tr.t("carbon.item.cap", percent=self.cap_percent), t(trial.offset_cap), None),
            (tr.t("carbon.item.usable"), t(trial.offsets_usable), None),
            (tr.t("carbon.item.actual", months=direct.months_actual if direct else 0),
             t(direct.actual if direct else None), None),
            (tr.t("carbon.item.forecast", months=direct.months_forecast if direct else 0),
             t(direct.remaining if direct else None), None),
            (tr.t("carbon.item.obligation"), t(trial.obligation), None),
            (tr.t("carbon.item.position"), t(trial.position), y(money.position) if money else None),
            (tr.t("carbon.item.position_low", percent=band), t(trial.band.low.position),
             y(money.low) if money else None),
            (tr.t("carbon.item.position_high", percent=band), t(trial.band.high.position),
             y(money.high) if money else None),
        ]  # fmt: skip
        return Sheet(tr.t("carbon.sheet.trial", year=self.year), columns, tuple(rows))

    def holdings_table(self, tr: Translator) -> Sheet:
        """Allowances and each offset lot (type · project · vintage): tonnes, the latest price, the value; the total
        value last (the platform's: null while a price is missing)."""
        columns = (
            Column(tr.t("carbon.col.instrument")),
            Column(tr.t("carbon.col.quantity"), TONNE_PLACES),
            Column(tr.t("carbon.col.price"), PRICE_PLACES),
            Column(tr.t("carbon.col.value"), YUAN_PLACES),
        )
        held = self.holdings
        rows: list[tuple[str | Decimal | None, ...]] = []
        if held is not None:

            def value(quantity: Decimal, price: Decimal | None) -> Decimal | None:
                return None if price is None else rounded(quantity * price, YUAN_PLACES)

            rows.append(
                (tr.t("carbon.instrument.allowance"), rounded(held.allowances, TONNE_PLACES),
                 rounded(held.allowance_price, PRICE_PLACES), value(held.allowances, held.allowance_price))
            )  # fmt: skip
            for lot in held.offsets:
                kind = lot.offset_type or tr.t("carbon.instrument.offset")
                name = " · ".join(x for x in (kind, lot.project, str(lot.vintage or "")) if x)
                rows.append(
                    (name, rounded(lot.quantity, TONNE_PLACES), rounded(held.offset_price, PRICE_PLACES),
                     value(lot.quantity, held.offset_price))
                )  # fmt: skip
            rows.append((tr.t("carbon.total"), None, None, rounded(held.value, YUAN_PLACES)))
        return Sheet(tr.t("carbon.sheet.holdings", year=self.year), columns, tuple(rows))

    def ledger_table(self, tr: Translator) -> Sheet:
        """Every entry in order, corrected ones too: what it corrects or cancels, and whether it still counts."""
        columns = (
            Column(tr.t("carbon.col.id")),
            Column(tr.t("carbon.col.day")),
            Column(tr.t("carbon.col.instrument")),
            Column(tr.t("carbon.col.kind")),
            Column(tr.t("carbon.col.quantity"), TONNE_PLACES),
            Column(tr.t("carbon.col.price"), PRICE_PLACES),
            Column(tr.t("carbon.col.project")),
            Column(tr.t("carbon.col.corrects")),
            Column(tr.t("carbon.col.counts")),
            Column(tr.t("carbon.col.entered_by")),
            Column(tr.t("carbon.col.note")),
        )
        rows = tuple(
            (
                f"#{e.id}",
                e.traded_on.isoformat(),
                tr.t(f"carbon.instrument.{e.instrument}") if e.instrument in KINDS else e.instrument,
                tr.t(f"carbon.kind.{e.kind}") if e.kind in {k for ks in KINDS.values() for k in ks} else e.kind,
                rounded(e.quantity, TONNE_PLACES),
                rounded(e.price, PRICE_PLACES),
                " · ".join(x for x in (e.offset_type, e.project, str(e.vintage or "")) if x) or "—",
                "—" if e.corrects is None else tr.t("carbon.voids" if e.void else "carbon.corrects", id=e.corrects),
                tr.t("carbon.counts.yes" if e.counts else "carbon.counts.no"),
                e.entered_by,
                e.note or "—",
            )
            for e in self.transactions
        )
        return Sheet(tr.t("carbon.sheet.ledger", year=self.year), columns, rows)

    def months_table(self, tr: Translator) -> Sheet:
        """The months: actual or forecast, ETS-scope emissions, running sum, the allowances' even pace, output."""
        columns = (
            Column(tr.t("carbon.col.month")),
            Column(tr.t("carbon.col.basis")),
            Column(tr.t("carbon.col.emissions"), TONNE_PLACES),
            Column(tr.t("carbon.col.cumulative"), TONNE_PLACES),
            Column(tr.t("carbon.col.pace"), TONNE_PLACES),
            Column(tr.t("carbon.col.crude_steel"), TONNE_PLACES),
        )
        rows = tuple(
            (m.month, tr.t("carbon.basis.actual" if m.actual else "carbon.basis.forecast"),
             rounded(m.emissions, TONNE_PLACES), rounded(m.cumulative, TONNE_PLACES), rounded(m.pace, TONNE_PLACES),
             rounded(m.crude_steel, TONNE_PLACES))
            for m in self.months()
        )  # fmt: skip
        return Sheet(tr.t("carbon.sheet.months", year=self.year), columns, rows)

    def assets_table(self, tr: Translator) -> Sheet:
        """The holdings at each month end and their value at the prices of then (the asset trend's figures)."""
        columns = (
            Column(tr.t("carbon.col.month")),
            Column(tr.t("carbon.col.allowances"), TONNE_PLACES),
            Column(tr.t("carbon.col.offsets"), TONNE_PLACES),
            Column(tr.t("carbon.col.value"), YUAN_PLACES),
        )
        rows = tuple(
            (m.month, rounded(m.allowances, TONNE_PLACES), rounded(m.offsets, TONNE_PLACES),
             rounded(m.value, YUAN_PLACES))
            for m in self.assets
        )  # fmt: skip
        return Sheet(tr.t("carbon.sheet.assets", year=self.year), columns, rows)

    def processes_table(self, tr: Translator) -> Sheet:
        """Each process: its ETS-scope emissions kept so far, the year-end forecast and its band, the forecast
        output of its product and the year-end intensity (tCO2 per tonne of it)."""
        columns = (
            Column(tr.t("carbon.col.process")),
            Column(tr.t("carbon.col.actual"), TONNE_PLACES),
            Column(tr.t("carbon.col.year_end"), TONNE_PLACES),
            Column(tr.t("carbon.col.low"), TONNE_PLACES),
            Column(tr.t("carbon.col.high"), TONNE_PLACES),
            Column(tr.t("carbon.col.output"), TONNE_PLACES),
            Column(tr.t("carbon.col.intensity"), INTENSITY_PLACES),
        )
        rows = tuple(
            (code, rounded(p.direct.actual, TONNE_PLACES), rounded(p.direct.year_end, TONNE_PLACES),
             rounded(p.direct.low, TONNE_PLACES), rounded(p.direct.high, TONNE_PLACES),
             rounded(p.output.year_end, TONNE_PLACES) if p.output is not None else None,
             rounded(p.intensity, INTENSITY_PLACES))
            for code, p in sorted(self.processes.items())
        )  # fmt: skip
        return Sheet(tr.t("carbon.sheet.processes", year=self.year), columns, rows)

    def filename(self) -> str:
        """The export's file name."""
        return f"carbon-assets-{self.year}.xlsx"

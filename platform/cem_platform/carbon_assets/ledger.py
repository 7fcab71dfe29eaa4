"""The ledger of allowance and offset transactions, the price series and the production plan.

The ledger is append-only and audited: every transaction is a new row, written with its audit record in one
transaction; nothing updates or deletes one. A correction is a new transaction naming the one it corrects; from then
on the correction counts instead (``void``: it only cancels). The corrected row stays, so the history is whole.

Holdings of a compliance year: allowances = pre_allocation + true_up + purchased + carried_over − sold −
surrendered; offsets per lot (type, project, vintage) = acquired − sold − surrendered. Quantities are tCO2 (offsets
tCO2e) with at most 4 decimals, prices CNY per tonne with at most 4; sums are exact.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from cem_platform.accounting import units
from cem_platform.accounting.inventory import enterprise_for
from cem_platform.audit.services import record
from cem_platform.carbon_assets.models import AssetTransaction, Instrument, PlanMonth, PriceQuote, TransactionKind
from cem_platform.carbon_assets.rules import CarbonAssetError, rule_for
from cem_platform.errors import NotFoundError
from cem_platform.identity.principal import Principal
from cem_platform.org.models import Enterprise

__all__ = [
    "INSTRUMENT_PRICE",
    "Holdings",
    "TransactionIn",
    "add_price",
    "add_transaction",
    "holdings",
    "import_prices",
    "latest_price",
    "parse_price_file",
    "set_plan",
    "trend",
]

KINDS: dict[Instrument, tuple[TransactionKind, ...]] = {
    Instrument.ALLOWANCE: (
        TransactionKind.PRE_ALLOCATION,
        TransactionKind.TRUE_UP,
        TransactionKind.PURCHASED,
        TransactionKind.SOLD,
        TransactionKind.SURRENDERED,
        TransactionKind.CARRIED_OVER,
    ),
    Instrument.OFFSET: (TransactionKind.ACQUIRED, TransactionKind.SOLD, TransactionKind.SURRENDERED),
}
OUT = (TransactionKind.SOLD, TransactionKind.SURRENDERED)
INSTRUMENT_PRICE = {Instrument.ALLOWANCE: "CEA", Instrument.OFFSET: "CCER"}
PRICE_INSTRUMENTS = ("CEA", "CCER")
MAX_PRICE_ROWS = 5000


def _amount(text: Any, what: str, *, signed: bool = False, places: int = 4) -> Decimal:
    value = units.parse_bounded(text, 14, places)
    if value is None or (value < 0 and not signed):
        raise CarbonAssetError(
            f"{what}: {text!r} is not a {'' if signed else 'non-negative '}decimal number with at most {places} "
            "decimals.",
            hint="Write it as plain decimal text, e.g. 1250.5.",
        )
    return value


@dataclass(frozen=True, slots=True)
class TransactionIn:
    """A transaction as entered."""

    year: int
    instrument: str
    kind: str
    quantity: str
    traded_on: dt.date
    price: str | None = None
    offset_type: str = ""
    project: str = ""
    vintage: int | None = None
    corrects: int | None = None
    void: bool = False
    note: str = ""


@dataclass(slots=True)
class Holdings:
    """What an enterprise holds for one compliance year, from the transactions that count."""

    allowances: Decimal = Decimal(0)
    received: dict[str, Decimal] = field(default_factory=dict)  # allowance kind -> signed sum
    offsets: dict[tuple[str, str, int | None], Decimal] = field(default_factory=dict)
    counted: list[int] = field(default_factory=list)  # the transactions that count

    @property
    def offset_total(self) -> Decimal:
        """All offsets held (tCO2e)."""
        return sum(self.offsets.values(), Decimal(0))


def _signed(row: AssetTransaction) -> Decimal:
    quantity = Decimal(row.quantity)
    return -quantity if row.kind in OUT else quantity


def fold(rows: Iterable[AssetTransaction]) -> Holdings:
    """Holdings from a year's transactions (in id order): a corrected transaction no longer counts."""
    rows = list(rows)
    corrected = {r.corrects_id for r in rows if r.corrects_id is not None}
    out = Holdings()
    for row in rows:
        if row.id in corrected or row.void:
            continue
        out.counted.append(row.id)
        signed = _signed(row)
        if row.instrument == Instrument.ALLOWANCE:
            out.allowances += signed
            out.received[row.kind.value] = out.received.get(row.kind.value, Decimal(0)) + signed
        else:
            lot = (row.offset_type, row.project, row.vintage)
            out.offsets[lot] = out.offsets.get(lot, Decimal(0)) + signed
    return out


async def holdings(enterprise_id: int, year: int) -> Holdings:
    """The holdings of one compliance year (reads only)."""
    return fold(await AssetTransaction.filter(enterprise_id=enterprise_id, year=year).order_by("id"))


def _check_offset(rule: dict[str, Any], data: TransactionIn) -> None:
    if data.offset_type not in rule["offset_types"]:
        raise CarbonAssetError(
            f"Offsets of type {data.offset_type!r} do not count in {data.year} "
            f"(types: {', '.join(rule['offset_types'])}).",
            hint="Name the offset type as the year's rule does, e.g. CCER.",
        )
    low, high = rule["offset_vintage_from"], rule["offset_vintage_to"]
    vintage = data.vintage
    if vintage is None or (low is not None and vintage < low) or (high is not None and vintage > high):
        span = f"{low or 'any'} to {high or 'now'}"
        raise CarbonAssetError(
            f"Offset vintage {vintage} is not eligible in {data.year}: the year's rule accepts vintages {span}.",
            hint="Check the project's reduction years; see GET /api/v1/carbon-assets/rules.",
        )


async def add_transaction(principal: Principal, enterprise_id: int, data: TransactionIn) -> AssetTransaction:
    """Append a transaction (or a correction), audited; CarbonAssetError (nothing written) when it cannot be."""
    enterprise = await enterprise_for(principal, enterprise_id, write=True)
    try:
        instrument = Instrument(data.instrument)
        kind = TransactionKind(data.kind)
    except ValueError as err:
        raise CarbonAssetError(
            f"Unknown instrument or kind: {data.instrument!r}, {data.kind!r}.",
            hint="Allowances: "
            + ", ".join(k.value for k in KINDS[Instrument.ALLOWANCE])
            + "; offsets: "
            + ", ".join(k.value for k in KINDS[Instrument.OFFSET])
            + ".",
        ) from err
    if kind not in KINDS[instrument]:
        raise CarbonAssetError(f"A {kind.value} transaction is not one of {instrument.value}.")
    quantity = _amount(data.quantity, "quantity", signed=kind == TransactionKind.TRUE_UP)
    if quantity == 0 and not data.void:
        raise CarbonAssetError("quantity: a transaction moves some tonnes (a cancellation is a void correction).")
    price = _amount(data.price, "price") if data.price not in (None, "") else None
    _, rule = await rule_for(data.year)
    if instrument == Instrument.OFFSET:
        _check_offset(rule, data)
    elif data.offset_type or data.project or data.vintage is not None:
        raise CarbonAssetError("Allowances have no offset type, project or vintage.")
    if data.void and data.corrects is None:
        raise CarbonAssetError("A void entry cancels a transaction: name it in corrects.")
    if len(data.note) > 1000 or len(data.project) > 200 or len(data.offset_type) > 16:
        raise CarbonAssetError("note (1000), project (200) or offset_type (16 characters) is too long.")
    async with in_transaction():
        await Enterprise.select_for_update().get(id=enterprise.id)  # one writer of a ledger at a time
        rows = await AssetTransaction.filter(enterprise_id=enterprise.id, year=data.year).order_by("id")
        before = fold(rows)
        if data.corrects is not None:
            target = next((r for r in rows if r.id == data.corrects), None)
            if target is None:
                raise NotFoundError(f"No transaction {data.corrects} of {enterprise.code} in {data.year} to correct.")
            if target.id not in before.counted:
                raise CarbonAssetError(
                    f"Transaction {target.id} was corrected already: correct the correction that counts instead."
                )
        row = AssetTransaction(
            enterprise_id=enterprise.id,
            year=data.year,
            instrument=instrument,
            kind=kind,
            offset_type=data.offset_type,
            project=data.project.strip(),
            vintage=data.vintage,
            quantity=quantity,
            price=price,
            traded_on=data.traded_on,
            corrects_id=data.corrects,
            void=data.void,
            note=data.note.strip(),
            entered_by=principal.name,
        )
        after = fold([*rows, row])
        if kind in OUT or data.corrects is not None:
            short = [f"{lot[0]} {lot[1]} {lot[2]}: {units.exact_text(v)}" for lot, v in after.offsets.items() if v < 0]
            if after.allowances < 0 and (instrument == Instrument.ALLOWANCE or data.corrects is not None):
                short.insert(0, f"allowances: {units.exact_text(after.allowances)}")
            if short:
                raise CarbonAssetError(
                    f"The {kind.value} of {units.exact_text(quantity)} t is more than is held: it would leave "
                    + "; ".join(short)
                    + " t.",
                    hint=f"Holdings now: allowances {units.exact_text(before.allowances)} t; see GET /holdings.",
                )
        await row.save()
        await record(
            principal,
            "carbon_assets.transaction.add",
            entity_type="carbon_transaction",
            entity_id=row.id,
            enterprise_id=enterprise.id,
            after={
                "year": data.year,
                "instrument": instrument.value,
                "kind": kind.value,
                "quantity": str(quantity),
                "price": None if price is None else str(price),
                "offset_type": data.offset_type,
                "project": row.project,
                "vintage": data.vintage,
                "corrects": data.corrects,
                "void": data.void,
            },  # fmt: skip
            summary=f"{enterprise.code} {data.year} {instrument.value} {kind.value} {units.exact_text(quantity)} t"
            + (f" (corrects {data.corrects})" if data.corrects else ""),
        )
    return row


MAX_TREND_MONTHS = 36


async def trend(enterprise_id: int, year: int, today: dt.date | None = None) -> list[dict[str, Any]]:
    """The year's holdings at each month end, from the month of its first transaction to this month (at most
    ``MAX_TREND_MONTHS``): allowances and offsets from the transactions that count, traded by then, valued at the
    latest prices by then (CNY, half-even to 0.01; None while a needed price is missing)."""
    rows = await AssetTransaction.filter(enterprise_id=enterprise_id, year=year).order_by("id")
    counted = [r for r in rows if r.id in set(fold(rows).counted)]
    if not counted:
        return []
    today = today or dt.datetime.now(dt.UTC).date()
    first = min(r.traded_on for r in counted)
    last = max(today, max(r.traded_on for r in counted))
    months: list[dt.date] = []
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month) and len(months) < MAX_TREND_MONTHS:
        months.append(dt.date(y + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1))  # the month's last day
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    prices = {
        i: await PriceQuote.filter(instrument=i).order_by("day").values_list("day", "price") for i in PRICE_INSTRUMENTS
    }

    def price_on(instrument: str, day: dt.date) -> Decimal | None:
        found = [Decimal(p) for d, p in prices[instrument] if d <= day]
        return found[-1] if found else None

    out = []
    for end in months:
        by_then = fold(r for r in counted if r.traded_on <= end)
        cea, ccer = price_on("CEA", end), price_on("CCER", end)
        value = None
        if cea is not None and (ccer is not None or not by_then.offset_total):
            total = by_then.allowances * cea + (by_then.offset_total * ccer if ccer is not None else 0)
            value = units.exact_text(total.quantize(Decimal("0.01")))
        out.append({
            "month": end.strftime("%Y-%m"), "allowances": units.exact_text(by_then.allowances),
            "offsets": units.exact_text(by_then.offset_total), "value": value,
        })  # fmt: skip
    return out


# ---- prices ---------------------------------------------------------------------------------------------------


def _price_row(instrument: str, day: Any, price: Any, where: str) -> tuple[str, dt.date, Decimal]:
    if instrument not in PRICE_INSTRUMENTS:
        raise CarbonAssetError(f"{where}: instrument {instrument!r} is not one of {', '.join(PRICE_INSTRUMENTS)}.")
    try:
        date = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day).strip()[:10])
    except ValueError as err:
        raise CarbonAssetError(f"{where}: {day!r} is not a date YYYY-MM-DD.") from err
    if isinstance(date, dt.datetime):
        date = date.date()
    return instrument, date, _amount(price, f"{where}: price (CNY/t)")


async def add_price(principal: Principal, instrument: str, day: dt.date, price: str, source: str) -> PriceQuote:
    """Enter one price (audited); CarbonAssetError (nothing written) when that day has one already."""
    return (await import_prices(principal, [(instrument, day, price)], source))[0]


def parse_price_file(body: bytes, instrument: str) -> list[tuple[str, Any, Any]]:
    """Rows (instrument, day, price) of a CSV (``date,price`` with an optional header) or an XLSX workbook (first
    sheet, the same two columns)."""
    rows: list[tuple[str, Any, Any]] = []
    if body[:2] == b"PK":
        from openpyxl import load_workbook  # type: ignore[import-untyped]

        try:
            book = load_workbook(io.BytesIO(body), read_only=True, data_only=True)
        except Exception as err:  # noqa: BLE001 - any unreadable workbook is the same bad input
            raise CarbonAssetError("The file is not a readable XLSX workbook.") from err
        values: Iterable[tuple[Any, ...]] = book.worksheets[0].iter_rows(values_only=True)
    else:
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise CarbonAssetError("The file is neither UTF-8 CSV nor XLSX.") from err
        values = (tuple(r) for r in csv.reader(io.StringIO(text)))
    for number, row in enumerate(values, start=1):
        cells = [c for c in row if c not in (None, "")]
        if not cells:
            continue
        if number == 1 and str(cells[0]).strip().lower() in ("date", "day", "日期"):
            continue
        if len(cells) < 2:
            raise CarbonAssetError(f"Row {number}: give a date and a price.")
        rows.append((instrument, cells[0], cells[1]))
        if len(rows) > MAX_PRICE_ROWS:
            raise CarbonAssetError(f"At most {MAX_PRICE_ROWS} prices at once.")
    if not rows:
        raise CarbonAssetError("The file has no prices.", hint="Write one 'YYYY-MM-DD,price' a row.")
    return rows


async def import_prices(principal: Principal, rows: list[tuple[str, Any, Any]], source: str) -> list[PriceQuote]:
    """Store prices, all or none, audited; CarbonAssetError naming the first bad row (nothing written)."""
    checked = [_price_row(*row, where=f"Row {i}") for i, row in enumerate(rows, start=1)]
    keys = {(i, d) for i, d, _ in checked}
    if len(keys) != len(checked):
        raise CarbonAssetError("A day of an instrument is given twice.")
    source = source.strip()[:200]
    async with in_transaction():
        days = [d for _, d, _ in checked]
        taken = await PriceQuote.filter(day__in=days).values_list("instrument", "day")
        clash = sorted(keys & {(str(i), d) for i, d in taken})
        if clash:
            raise CarbonAssetError(
                f"{clash[0][0]} has a price on {clash[0][1]} already; prices are a series, each day once.",
                hint="A wrong price is corrected at the source of the series; enter only new days.",
            )
        stored = [
            await PriceQuote.create(instrument=i, day=d, price=p, source=source, entered_by=principal.name)
            for i, d, p in checked
        ]
        await record(
            principal,
            "carbon_assets.price.add",
            entity_type="carbon_price",
            entity_id=f"{checked[0][0]} {min(days)}..{max(days)}",
            after={"count": len(stored), "source": source},
            summary=f"{len(stored)} price(s) of {', '.join(sorted({i for i, _, _ in checked}))}",
        )
    return stored


async def latest_price(instrument: str, on: dt.date | None = None) -> PriceQuote | None:
    """The newest price of ``instrument`` on or before ``on`` (None: any)."""
    query = PriceQuote.filter(instrument=instrument)
    if on is not None:
        query = query.filter(day__lte=on)
    return await query.order_by("-day").first()


# ---- production plan ------------------------------------------------------------------------------------------


async def set_plan(principal: Principal, enterprise_id: int, month: str, crude_steel: str | None) -> PlanMonth | None:
    """Enter (replace, or with None remove) the planned crude steel of a month, audited with before and after."""
    enterprise = await enterprise_for(principal, enterprise_id, write=True)
    try:
        dt.date.fromisoformat(f"{month}-01")
    except ValueError as err:
        raise CarbonAssetError(f"{month!r} is not a month YYYY-MM.") from err
    if len(month) != 7:
        raise CarbonAssetError(f"{month!r} is not a month YYYY-MM.")
    value = _amount(crude_steel, "crude_steel (t)") if crude_steel is not None else None
    async with in_transaction():
        row = await PlanMonth.select_for_update().get_or_none(enterprise_id=enterprise.id, month=month)
        before = None if row is None else str(row.crude_steel)
        if value is None:
            if row is not None:
                await row.delete()
            row = None
        elif row is None:
            row = await PlanMonth.create(
                enterprise_id=enterprise.id, month=month, crude_steel=value, entered_by=principal.name
            )
        else:
            row.crude_steel = value
            row.entered_by = principal.name
            await row.save()
        await record(
            principal,
            "carbon_assets.plan.set",
            entity_type="production_plan",
            entity_id=f"{enterprise.code} {month}",
            enterprise_id=enterprise.id,
            before={"crude_steel": before},
            after={"crude_steel": None if value is None else str(value)},
            summary=f"{enterprise.code} {month} plan: {before} -> {value}",
        )
    return row

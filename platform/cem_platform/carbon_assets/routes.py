"""Routes of carbon assets (standard 5.4.8): ``/api/v1/carbon-assets``.

The compliance rules (versioned; a change needs ``accounting.library`` and a TOTP step-up, at the group level),
the ledger of allowance and offset transactions (append-only; ``accounting.write``), prices (entered or imported
from CSV/XLSX), the production plan, ETS-scope emissions with their forecast, the trial calculation (试算) and its
published copies. Reads need ``emissions.read`` and the enterprise in the caller's scope. Values travel as exact
decimal strings.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from cem_platform.accounting import units
from cem_platform.accounting.inventory import enterprise_for
from cem_platform.accounting.routes import VersionOut
from cem_platform.benchmarking.models import ReferenceVersion
from cem_platform.carbon_assets import ledger, rules, services
from cem_platform.carbon_assets.models import AssetTransaction, PlanMonth, PriceQuote, TrialCalculation
from cem_platform.errors import NotFoundError
from cem_platform.identity.http import principal_of, requires, requires_step_up
from cem_platform.identity.roles import Permission

__all__ = ["CarbonAssetsController"]

AnyRequest = Request[Any, Any, Any]
Year = Annotated[int, QueryParameter(ge=2000, le=2100)]
EnterpriseId = Annotated[int, QueryParameter(ge=1)]


class RulesOut(msgspec.Struct, kw_only=True):
    """The compliance rules of one version, one per year."""

    library: str
    version: int
    entries: list[dict[str, Any]]


class RuleChangeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Set a year's rule (the whole rule; ``code`` is its year) or remove it."""

    code: Annotated[str, msgspec.Meta(pattern=r"^\d{4}$")]
    entry: dict[str, Any] | None = None
    remove: bool = False


class RulesChangeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new version of the rules: the changes and why."""

    reason: Annotated[str, msgspec.Meta(max_length=500)]
    changes: Annotated[list[RuleChangeIn], msgspec.Meta(max_length=20)]


class TransactionBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A transaction of a compliance year; ``corrects``: the id of the transaction it corrects (``void``: cancels)."""

    enterprise_id: int
    year: Annotated[int, msgspec.Meta(ge=2000, le=2100)]
    instrument: Annotated[str, msgspec.Meta(max_length=16)]
    kind: Annotated[str, msgspec.Meta(max_length=16)]
    quantity: Annotated[str, msgspec.Meta(max_length=40)]
    traded_on: dt.date
    price: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    offset_type: Annotated[str, msgspec.Meta(max_length=16)] = ""
    project: Annotated[str, msgspec.Meta(max_length=200)] = ""
    vintage: int | None = None
    corrects: int | None = None
    void: bool = False
    note: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class TransactionOut(msgspec.Struct, kw_only=True):
    """A transaction as kept; ``counts`` is false once a later one corrects it."""

    id: int
    enterprise_id: int
    year: int
    instrument: str
    kind: str
    quantity: str
    price: str | None
    traded_on: dt.date
    offset_type: str
    project: str
    vintage: int | None
    corrects: int | None
    void: bool
    counts: bool
    note: str
    entered_by: str
    entered_at: dt.datetime


class LotOut(msgspec.Struct, kw_only=True):
    """Offsets held of one type, project and vintage (tCO2e)."""

    offset_type: str
    project: str
    vintage: int | None
    quantity: str


class HoldingsOut(msgspec.Struct, kw_only=True):
    """What an enterprise holds for a compliance year, and its value at the latest prices (CNY, 0.01)."""

    enterprise_id: int
    year: int
    allowances: str
    by_kind: dict[str, str]
    offsets: list[LotOut]
    offsets_total: str
    allowance_price: str | None
    offset_price: str | None
    value: str | None  # allowances x CEA price + offsets x CCER price; null while a price is missing
    transactions: list[int]


class PriceIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A price of CEA (allowances) or CCER on a day, CNY per tonne."""

    instrument: Annotated[str, msgspec.Meta(pattern="^(CEA|CCER)$")]
    day: dt.date
    price: Annotated[str, msgspec.Meta(max_length=40)]
    source: Annotated[str, msgspec.Meta(max_length=200)] = ""


class PriceOut(msgspec.Struct, kw_only=True):
    """A price as kept."""

    instrument: str
    day: dt.date
    price: str
    source: str
    entered_by: str


class PlanIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The planned crude steel (t) of a month (null removes it)."""

    enterprise_id: int
    month: Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}$")]
    crude_steel: Annotated[str, msgspec.Meta(max_length=40)] | None


class PlanOut(msgspec.Struct, kw_only=True):
    """A month of the production plan."""

    month: str
    crude_steel: str
    entered_by: str
    entered_at: dt.datetime


class PublishIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Publish the trial calculation of a year as it stands now."""

    enterprise_id: int
    year: Annotated[int, msgspec.Meta(ge=2000, le=2100)]


class TrialOut(msgspec.Struct, kw_only=True):
    """A published trial calculation, as it was computed."""

    id: int
    enterprise_id: int
    year: int
    rule_version: int
    published_by: str
    published_at: dt.datetime
    figures: dict[str, Any]


def _transaction_out(row: AssetTransaction, counted: set[int]) -> TransactionOut:
    return TransactionOut(
        id=row.id, enterprise_id=row.enterprise_id, year=row.year, instrument=row.instrument.value,
        kind=row.kind.value, quantity=units.exact_text(row.quantity),
        price=None if row.price is None else units.exact_text(row.price), traded_on=row.traded_on,
        offset_type=row.offset_type, project=row.project, vintage=row.vintage, corrects=row.corrects_id,
        void=row.void, counts=row.id in counted, note=row.note, entered_by=row.entered_by, entered_at=row.entered_at,
    )  # fmt: skip


def _trial_out(row: TrialCalculation) -> TrialOut:
    return TrialOut(
        id=row.id, enterprise_id=row.enterprise_id, year=row.year, rule_version=row.rule_version,
        published_by=row.published_by, published_at=row.published_at, figures=row.figures,
    )  # fmt: skip


def _version_out(v: ReferenceVersion) -> VersionOut:
    return VersionOut(
        library=v.library, number=v.number, author=v.author, reason=v.reason, created_at=v.created_at, diff=v.diff
    )


class CarbonAssetsController(Controller):
    """Carbon assets and early warning (standard 5.4.8)."""

    path = "/carbon-assets"
    tags = ["carbon-assets"]

    @get("/rules", guards=[requires(Permission.EMISSIONS_READ)], summary="Compliance rules")
    async def get_rules(
        self, version: Annotated[int | None, QueryParameter(ge=1, description="default: the newest")] = None
    ) -> RulesOut:
        """The national market's steel rules per compliance year: covered gases and terms, threshold, allocation,
        offset cap, types and vintages, deadline, each with its source, confidence and what is uncertain."""
        stored = await rules.version_of(version)
        return RulesOut(library=rules.LIBRARY, version=stored.number, entries=list(stored.entries))

    @get("/rules/versions", guards=[requires(Permission.EMISSIONS_READ)], summary="Versions of the rules")
    async def rule_versions(self) -> list[VersionOut]:
        """Every version with author, reason, time and diff, newest first."""
        await rules.ensure_seeded()
        return [_version_out(v) for v in await ReferenceVersion.filter(library=rules.LIBRARY).order_by("-number")]

    @post(
        "/rules/versions",
        guards=[requires(Permission.ACCOUNTING_LIBRARY), requires_step_up],
        status_code=HTTP_201_CREATED,
        summary="Change the compliance rules (TOTP step-up)",
    )
    async def change_rules(self, request: AnyRequest, data: JSONBody[RulesChangeIn]) -> VersionOut:
        """A new version (audited, refusals too); published calculations keep the version they name."""
        changes = [rules.RuleChange(code=c.code, entry=c.entry, remove=c.remove) for c in data.changes]
        return _version_out(await rules.change_rules(principal_of(request), changes, data.reason))

    @get("/transactions", guards=[requires(Permission.EMISSIONS_READ)], summary="Ledger of a compliance year")
    async def transactions(self, request: AnyRequest, enterprise_id: EnterpriseId, year: Year) -> list[TransactionOut]:
        """Every transaction of the year in order, corrected ones too (``counts`` false)."""
        enterprise = await enterprise_for(principal_of(request), enterprise_id)
        rows = await AssetTransaction.filter(enterprise_id=enterprise.id, year=year).order_by("id")
        counted = set(ledger.fold(rows).counted)
        return [_transaction_out(r, counted) for r in rows]

    @post(
        "/transactions",
        guards=[requires(Permission.ACCOUNTING_WRITE)],
        status_code=HTTP_201_CREATED,
        summary="Add a transaction or a correction",
    )
    async def add_transaction(self, request: AnyRequest, data: JSONBody[TransactionBody]) -> TransactionOut:
        """Append (audited). A sale or surrender beyond the holding, a negative quantity or price, or an offset
        whose type or vintage the year's rule does not accept is refused and nothing is written."""
        row = await ledger.add_transaction(
            principal_of(request),
            data.enterprise_id,
            ledger.TransactionIn(
                year=data.year, instrument=data.instrument, kind=data.kind, quantity=data.quantity,
                traded_on=data.traded_on, price=data.price, offset_type=data.offset_type, project=data.project,
                vintage=data.vintage, corrects=data.corrects, void=data.void, note=data.note,
            ),
        )  # fmt: skip
        return _transaction_out(row, {row.id})

    @get("/holdings", guards=[requires(Permission.EMISSIONS_READ)], summary="Holdings and asset value")
    async def holdings(self, request: AnyRequest, enterprise_id: EnterpriseId, year: Year) -> HoldingsOut:
        """Allowances and offsets held for the year, and their value at the latest prices."""
        enterprise = await enterprise_for(principal_of(request), enterprise_id)
        held = await ledger.holdings(enterprise.id, year)
        cea, ccer = await ledger.latest_price("CEA"), await ledger.latest_price("CCER")
        value = None
        if cea is not None and (ccer is not None or not held.offset_total):
            total = held.allowances * cea.price + (held.offset_total * ccer.price if ccer is not None else 0)
            value = units.exact_text(services._round(total, services.YUAN))
        return HoldingsOut(
            enterprise_id=enterprise.id, year=year, allowances=units.exact_text(held.allowances),
            by_kind={k: units.exact_text(v) for k, v in held.received.items()},
            offsets=[LotOut(offset_type=t, project=p, vintage=v, quantity=units.exact_text(q))
                     for (t, p, v), q in sorted(held.offsets.items(), key=str)],
            offsets_total=units.exact_text(held.offset_total),
            allowance_price=None if cea is None else units.exact_text(cea.price),
            offset_price=None if ccer is None else units.exact_text(ccer.price), value=value,
            transactions=held.counted,
        )  # fmt: skip

    @get("/holdings/trend", guards=[requires(Permission.EMISSIONS_READ)], summary="Trend of the assets")
    async def holdings_trend(
        self, request: AnyRequest, enterprise_id: EnterpriseId, year: Year
    ) -> list[dict[str, Any]]:
        """The year's allowances and offsets at each month end and their value at the prices of then (CNY)."""
        enterprise = await enterprise_for(principal_of(request), enterprise_id)
        return await ledger.trend(enterprise.id, year)

    @get("/prices", guards=[requires(Permission.EMISSIONS_READ)], summary="Price series")
    async def prices(
        self,
        instrument: Annotated[str, QueryParameter(pattern="^(CEA|CCER)$")],
        limit: Annotated[int, QueryParameter(ge=1, le=5000)] = 500,
    ) -> list[PriceOut]:
        """The newest prices of an instrument, newest first (CNY per tonne)."""
        rows = await PriceQuote.filter(instrument=instrument).order_by("-day").limit(limit)
        return [
            PriceOut(instrument=r.instrument, day=r.day, price=units.exact_text(r.price), source=r.source,
                     entered_by=r.entered_by)
            for r in rows
        ]  # fmt: skip

    @post(
        "/prices", guards=[requires(Permission.ACCOUNTING_WRITE)], status_code=HTTP_201_CREATED, summary="Add a price"
    )
    async def add_price(self, request: AnyRequest, data: JSONBody[PriceIn]) -> PriceOut:
        """One price of a day (audited); a day has one price."""
        row = await ledger.add_price(principal_of(request), data.instrument, data.day, data.price, data.source)
        return PriceOut(instrument=row.instrument, day=row.day, price=units.exact_text(row.price), source=row.source,
                        entered_by=row.entered_by)  # fmt: skip

    @post(
        "/prices/import",
        guards=[requires(Permission.ACCOUNTING_WRITE)],
        status_code=HTTP_201_CREATED,
        summary="Import prices (CSV or XLSX)",
    )
    async def import_prices(
        self,
        request: AnyRequest,
        instrument: Annotated[str, QueryParameter(pattern="^(CEA|CCER)$")],
        source: Annotated[str, QueryParameter(max_length=200)] = "",
    ) -> dict[str, int]:
        """The raw body is a CSV (``date,price`` a row, header optional) or an XLSX workbook (first sheet, the same
        columns); all rows or none are stored."""
        body = await request.body()
        rows = ledger.parse_price_file(body, instrument)
        stored = await ledger.import_prices(principal_of(request), rows, source)
        return {"imported": len(stored)}

    @get("/plan", guards=[requires(Permission.EMISSIONS_READ)], summary="Production plan")
    async def plan(self, request: AnyRequest, enterprise_id: EnterpriseId, year: Year) -> list[PlanOut]:
        """The planned crude steel per month of the year."""
        enterprise = await enterprise_for(principal_of(request), enterprise_id)
        rows = await PlanMonth.filter(enterprise_id=enterprise.id, month__startswith=f"{year}-").order_by("month")
        return [
            PlanOut(month=r.month, crude_steel=units.exact_text(r.crude_steel), entered_by=r.entered_by,
                    entered_at=r.entered_at)
            for r in rows
        ]  # fmt: skip

    @put("/plan", guards=[requires(Permission.ACCOUNTING_WRITE)], status_code=HTTP_200_OK, summary="Enter a plan")
    async def put_plan(self, request: AnyRequest, data: JSONBody[PlanIn]) -> PlanOut | None:
        """Enter, replace or (null) remove a month's planned crude steel; audited."""
        row = await ledger.set_plan(principal_of(request), data.enterprise_id, data.month, data.crude_steel)
        if row is None:
            return None
        return PlanOut(month=row.month, crude_steel=units.exact_text(row.crude_steel), entered_by=row.entered_by,
                       entered_at=row.entered_at)  # fmt: skip

    @get("/emissions", guards=[requires(Permission.EMISSIONS_READ)], summary="ETS-scope emissions and forecast")
    async def emissions(
        self,
        request: AnyRequest,
        enterprise_id: EnterpriseId,
        year: Year,
        rule_version: Annotated[int | None, QueryParameter(ge=1)] = None,
        processes: Annotated[
            bool, QueryParameter(description="each process's ETS scope, output and year-end intensity too")
        ] = False,
    ) -> dict[str, Any]:
        """The year's kept months (ETS scope under the year's rule, net, energy, crude steel, with their result
        ids) and the year-end forecast of each with its band; with ``processes``, each process's ETS-scope
        emissions and output forecast the same way, and its year-end intensity (tCO2/t of its product)."""
        number, rule = await rules.rule_for(year, rule_version)
        figures = await services.year_figures(
            principal_of(request), enterprise_id, year, dict(rule["scope_terms"]), processes=processes
        )
        return {"rule_version": number, "scope_terms": rule["scope_terms"], **figures.out()}

    @get("/trial", guards=[requires(Permission.EMISSIONS_READ)], summary="Trial calculation (试算)")
    async def trial(
        self,
        request: AnyRequest,
        enterprise_id: EnterpriseId,
        year: Year,
        rule_version: Annotated[int | None, QueryParameter(ge=1)] = None,
    ) -> dict[str, Any]:
        """Surplus or deficit of the compliance year now: allowances (received and expected) + usable offsets (at
        most the rule's share of the obligation) − ETS-scope emissions (actual + forecast, with the band), in
        tCO2 and CNY. Writes nothing."""
        return await services.trial(principal_of(request), enterprise_id, year, rule_version=rule_version)

    @post("/trials", guards=[requires(Permission.ACCOUNTING_WRITE)], status_code=HTTP_201_CREATED, summary="Publish")
    async def publish(self, request: AnyRequest, data: JSONBody[PublishIn]) -> TrialOut:
        """Keep the trial calculation as it is now (audited); it never changes afterwards."""
        return _trial_out(await services.publish(principal_of(request), data.enterprise_id, data.year))

    @get("/trials", guards=[requires(Permission.EMISSIONS_READ)], summary="Published trial calculations")
    async def trials(self, request: AnyRequest, enterprise_id: EnterpriseId) -> list[TrialOut]:
        """The enterprise's published trial calculations, newest first."""
        enterprise = await enterprise_for(principal_of(request), enterprise_id)
        return [_trial_out(r) for r in await TrialCalculation.filter(enterprise_id=enterprise.id).order_by("-id")]

    @get("/trials/{trial_id:int}", guards=[requires(Permission.EMISSIONS_READ)], summary="A published calculation")
    async def trial_of(self, request: AnyRequest, trial_id: FromPath[int]) -> TrialOut:
        """One published trial calculation, as it was computed."""
        row = await TrialCalculation.get_or_none(id=trial_id)
        if row is None or not principal_of(request).scope.sees_enterprise(row.enterprise_id):
            raise NotFoundError(f"No trial calculation {trial_id} within your scope.")
        await enterprise_for(principal_of(request), row.enterprise_id)
        return _trial_out(row)

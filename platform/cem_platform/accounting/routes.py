"""Routes of emission accounting: library, source inventory, activity data, ledger import, results, report.

Emissions and activity values travel as exact decimal strings (``"1981845.1825"``), never binary floats;
clients round for display. Times are ISO-8601 with offsets; periods are the enterprise's local days, weeks
(ISO, from Monday), months and years, and UTC hours. Files (ledgers, evidence) are sent as the raw request
body with ``?filename=`` — no multipart needed.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from cem_platform.accounting import calculation, inventory, library_store, reads, reporting, units
from cem_platform.accounting.library import EDITIONS, SourceCategory
from cem_platform.accounting.models import (
    ActivityImport,
    ActivityRecord,
    EmissionResult,
    EmissionSource,
    Evidence,
    LibraryVersion,
    PendingRecalculation,
    PeriodKind,
    ReportingYear,
    YearMethod,
)
from cem_platform.accounting.periods import next_month, parse_instant, period_of
from cem_platform.accounting.report import REPORT_CONTENT_TYPE, AnnualReportData, ReportProcess, build_annual_report
from cem_platform.accounting.scopes import CN_ETS_STEEL, scope_total
from cem_platform.errors import ConflictError, InvalidInputError, NotFoundError
from cem_platform.identity.http import principal_of, requires, requires_step_up
from cem_platform.identity.roles import Permission, Role
from cem_platform.org.models import Enterprise, Facility, Process

__all__ = ["AccountingController", "EmissionsController"]

AnyRequest = Request[Any, Any, Any]


# ---------------------------------------------------------------------------------------------------------
# Schemas


class LibraryOut(msgspec.Struct, kw_only=True):
    """A library: an edition of the methodology, the grid factor series, or the energy conversion coefficients."""

    library: str
    title: str
    newest_version: int
    first_year: int | None
    last_year: int | None


class VersionOut(msgspec.Struct, kw_only=True):
    """One version of a library, with what changed."""

    library: str
    number: int
    author: str
    reason: str
    created_at: dt.datetime
    diff: list[dict[str, Any]]


class ParametersOut(msgspec.Struct, kw_only=True):
    """The complete parameter set of one library version."""

    library: str
    version: int
    parameters: list[dict[str, Any]]


class ParameterChangeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Set or remove one parameter (values as decimal strings)."""

    code: str
    value: str | None = None
    unit: str | None = None
    source: str | None = None
    confidence: str | None = None
    valid_from: str | None = None
    valid_until: str | None = None
    remove: bool = False


class LibraryChangeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new library version: the changes and why."""

    library: str
    reason: str
    changes: list[ParameterChangeIn]


class FormulasOut(msgspec.Struct, kw_only=True):
    """The formulas of one version of the formula library."""

    library: str
    version: int
    formulas: list[dict[str, Any]]


class FormulaTestCaseIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Inputs (decimal strings, in the formula's input units) and the expected result (decimal string)."""

    inputs: dict[str, str]
    expected: str


class FormulaChangeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new formula version: the formula's code, its new expression, why, and a test case it must pass."""

    code: Annotated[str, msgspec.Meta(max_length=64)]
    expression: Annotated[str, msgspec.Meta(max_length=4000)]
    reason: Annotated[str, msgspec.Meta(max_length=2000)]
    test_case: FormulaTestCaseIn
    description: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    source: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class SourceIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An emission source or production output (update: only the fields to change)."""

    enterprise_id: int | None = None
    code: str | None = None
    name: str | None = None
    category: str | None = None
    item: str | None = None
    process_id: int | None = None
    facility_id: int | None = None
    inputs: dict[str, Any] | None = None
    overrides: dict[str, Any] | None = None
    grid_kind: str | None = None
    grid_region: str | None = None
    # "sold": what leaves the boundary (by-product gas, tar, crude benzene sold; electricity or heat exported),
    # entered positive and accounted negative; "transfer": made at from_process_id (None: the enterprise level, e.g.
    # the grid tie) and used at process_id, counted at both with opposite signs; "consumed" (default) otherwise
    direction: str | None = None
    from_process_id: int | None = None
    active: bool | None = None
    note: str | None = None
    in_service_from: dt.date | None = None  # first local day it counts (inclusive)
    in_service_until: dt.date | None = None  # last local day it counts (inclusive), set when retired


class SourceOut(msgspec.Struct, kw_only=True):
    """A source of the inventory."""

    id: int
    enterprise_id: FromQuery[int]
    process_id: int | None
    facility_id: int | None
    code: str
    name: str
    category: str
    item: str
    inputs: dict[str, Any]
    overrides: dict[str, Any]
    grid_kind: str
    grid_region: str
    direction: str
    from_process_id: int | None  # direction "transfer": the process that makes it (None: the enterprise level)
    active: bool
    in_service_from: dt.date | None
    in_service_until: dt.date | None
    note: str


class ActivityIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A manually entered value over local days ``from``..``to`` (inclusive), or one ``month`` (YYYY-MM)."""

    source_id: int
    input: str
    value: str
    unit: str
    month: str | None = None
    first_day: dt.date | None = msgspec.field(default=None, name="from")
    last_day: dt.date | None = msgspec.field(default=None, name="to")
    estimated: bool = False
    note: str = ""
    evidence_id: int | None = None
    steam: SteamIn | None = None  # steam entered in tonnes (unit t_steam): converted to GJ by its enthalpy


class SteamIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The state of steam entered in tonnes: pressure (MPa, absolute unless ``gauge``) and temperature (°C);
    saturated steam by pressure alone (or temperature alone)."""

    pressure_mpa: str | None = msgspec.field(default=None)
    temperature_c: str | None = None
    gauge: bool = False


class UnitOut(msgspec.Struct, kw_only=True):
    """A unit of the accounting unit table: units of one dimension convert into each other."""

    name: str
    dimension: str
    aliases: list[str]


class EnterableInputOut(msgspec.Struct, kw_only=True):
    """An activity input the caller may enter values for by hand."""

    source_id: int
    source_code: str
    source_name: str
    category: str
    item: str
    process_id: int | None
    site_id: int | None
    facility_id: int | None
    input: str
    unit: str  # the unit the source keeps it in
    origin: str  # manual, or meter (an entry then substitutes for the meter over the days it covers)
    units: list[str]  # the units a value may be entered in, ``unit`` first
    may_be_negative: bool


class ActivityOut(msgspec.Struct, kw_only=True):
    """An activity record."""

    id: int
    source_id: int
    input: str
    period_start: dt.datetime
    period_end: dt.datetime
    value: str
    unit: str
    origin: str
    estimated: bool
    note: str
    evidence_id: int | None
    import_id: int | None
    import_row: int | None
    entered_by: str
    entered_at: dt.datetime
    superseded_by: int | None


class EvidenceOut(msgspec.Struct, kw_only=True):
    """A stored evidence file (without its bytes)."""

    id: int
    enterprise_id: FromQuery[int]
    filename: str
    content_type: str
    sha256: str
    size: int
    uploaded_by: str
    uploaded_at: dt.datetime


class ImportOut(msgspec.Struct, kw_only=True):
    """A ledger upload and its row-by-row validation report."""

    id: int
    enterprise_id: FromQuery[int]
    filename: str
    sha256: str
    status: str
    total_rows: int
    valid_rows: int
    invalid_rows: int
    report: list[dict[str, Any]]
    created_by: str
    created_at: dt.datetime
    decided_by: str
    decided_at: dt.datetime | None


class YearMethodIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The methodology of one reporting year; versions None = the newest at calculation time."""

    enterprise_id: FromQuery[int]
    year: int
    edition: str
    library_version: int | None = None
    grid_version: int | None = None


class YearMethodOut(msgspec.Struct, kw_only=True):
    """The methodology chosen for one reporting year."""

    enterprise_id: FromQuery[int]
    year: int
    edition: str
    library_version: int | None
    grid_version: int | None
    changed_by: str
    changed_at: dt.datetime


class RecalculateIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Account a range again (after corrections or a library change)."""

    enterprise_id: FromQuery[int]
    period: PeriodKind
    start: str = msgspec.field(name="from")
    end: str | None = msgspec.field(default=None, name="to")  # omitted: the one period containing from
    reason: str


class EmissionOut(msgspec.Struct, kw_only=True):
    """One period's emissions with the result that explains them.

    Exact fields (decimal strings as computed, never rounded: up to 28 significant digits, no exponent, trailing
    zeros dropped): ``net``, ``totals`` and ``by_category`` in tCO2, ``output`` in t, ``intensity`` in tCO2 per t.
    Round them for display only.
    """

    result_id: int | None  # None: accounted for this answer only, not kept (an hour older than the kept window)
    version: int
    final: bool
    period_start: dt.datetime
    period_end: dt.datetime
    net: str
    direct: str  # the national carbon market's covered emissions: combustion + process − fixed carbon
    kept: bool  # a kept result (false: accounted for this answer only)
    pending: bool  # inputs changed since as_of: the refresh job will account it again
    as_of: dt.datetime  # when the figures were accounted
    totals: dict[str, str]
    by_category: dict[str, str]
    output: str | None  # crude steel (enterprise) or the process's product, t
    intensity: str | None  # tCO2 per t of that output
    complete: bool
    estimated: bool
    edition: str
    library_version: int
    grid_version: int
    lineage: str | None


class EmissionsPage(msgspec.Struct, kw_only=True):
    """Emissions of an enterprise or a process, period by period."""

    scope: str
    id: int
    name: str
    period: str
    unit: str
    timezone: str
    direct_scope: str  # the methodology data of ``direct`` (code and version)
    refresh_error: str | None  # the refresh job could not account changed inputs of this range: why
    results: list[EmissionOut]


class LineageOut(msgspec.Struct, kw_only=True):
    """One result with everything it was computed from, and its other versions."""

    result_id: int
    enterprise_id: FromQuery[int]
    period: str
    period_start: dt.datetime
    period_end: dt.datetime
    version: int
    current: bool
    final: bool
    fingerprint: str
    created_at: dt.datetime
    created_by: str
    reason: str
    superseded_at: dt.datetime | None
    versions: list[dict[str, Any]]
    lineage: msgspec.Raw  # the stored lineage object, sent as the database holds it


def _source_out(s: EmissionSource) -> SourceOut:
    return SourceOut(
        id=s.id, enterprise_id=s.enterprise_id, process_id=s.process_id, facility_id=s.facility_id, code=s.code,
        name=s.name, category=s.category, item=s.item, inputs=s.inputs, overrides=s.overrides,
        grid_kind=s.grid_kind, grid_region=s.grid_region, direction=s.direction,
        from_process_id=s.from_process_id, active=s.active,
        in_service_from=s.in_service_from, in_service_until=s.in_service_until, note=s.note,
    )  # fmt: skip


def _activity_out(r: ActivityRecord) -> ActivityOut:
    return ActivityOut(
        id=r.id, source_id=r.source_id, input=r.input_name, period_start=r.period_start, period_end=r.period_end,
        value=_dec(r.value), unit=r.unit, origin=r.origin.value, estimated=r.estimated, note=r.note,
        evidence_id=r.evidence_id, import_id=r.import_batch_id, import_row=r.import_row, entered_by=r.entered_by,
        entered_at=r.entered_at, superseded_by=r.superseded_by,
    )  # fmt: skip


def _evidence_out(e: Evidence) -> EvidenceOut:
    return EvidenceOut(
        id=e.id, enterprise_id=e.enterprise_id, filename=e.filename, content_type=e.content_type, sha256=e.sha256,
        size=e.size, uploaded_by=e.uploaded_by, uploaded_at=e.uploaded_at,
    )  # fmt: skip


def _import_out(i: ActivityImport) -> ImportOut:
    return ImportOut(
        id=i.id, enterprise_id=i.enterprise_id, filename=i.filename, sha256=i.sha256, status=i.status.value,
        total_rows=i.total_rows, valid_rows=i.valid_rows, invalid_rows=i.total_rows - i.valid_rows, report=i.report,
        created_by=i.created_by, created_at=i.created_at, decided_by=i.decided_by, decided_at=i.decided_at,
    )  # fmt: skip


def _year_out(y: YearMethod) -> YearMethodOut:
    return YearMethodOut(
        enterprise_id=y.enterprise_id, year=y.year, edition=y.edition, library_version=y.library_version,
        grid_version=y.grid_version, changed_by=y.changed_by, changed_at=y.changed_at,
    )  # fmt: skip


def _version_out(v: LibraryVersion) -> VersionOut:
    return VersionOut(
        library=v.library, number=v.number, author=v.author, reason=v.reason, created_at=v.created_at, diff=v.diff
    )


def _dec(value: Decimal | None) -> str:
    """An exact decimal as plain text without exponent or trailing zeros ('1981845.1825', '0')."""
    if value is None:
        return ""
    text = format(value, "f")  # as normalize() then "f", without its cost: trailing zeros and point dropped
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _dec_text(text: str | None) -> str | None:
    return None if text is None else _dec(Decimal(text))


# ---------------------------------------------------------------------------------------------------------
# Accounting: library, inventory, activity, import


class AccountingController(Controller):
    """The accounting standard library, the source inventory and activity data (standard 5.4.3, 5.4.9)."""

    path = "/accounting"
    tags = ["accounting"]

    @get("/library", guards=[requires(Permission.EMISSIONS_READ)], summary="Accounting libraries")
    async def libraries(self) -> list[LibraryOut]:
        """The methodology editions, the grid factor series and the energy conversion coefficients, each with its
        newest version."""
        titles = {
            library_store.GRID_LIBRARY: "Grid emission factors (national-ETS prescribed, official)",
            library_store.ENERGY_LIBRARY: "Energy conversion coefficients to standard coal (GB/T 2589-2020)",
        }
        out = []
        for name in library_store.libraries():
            edition = EDITIONS.get(name)
            out.append(
                LibraryOut(
                    library=name,
                    title=edition.title if edition else titles.get(name, name),
                    newest_version=await library_store.newest_version(name),
                    first_year=edition.first_year if edition else None,
                    last_year=edition.last_year if edition else None,
                )
            )
        return out

    @get("/library/versions", guards=[requires(Permission.EMISSIONS_READ)], summary="Versions of a library")
    async def library_versions(
        self, library: Annotated[str, QueryParameter(max_length=64, description="edition code or grid-factors")]
    ) -> list[VersionOut]:
        """Every version with author, reason, time and diff, newest first."""
        await library_store.newest_version(library)
        versions = await LibraryVersion.filter(library=library).order_by("-number")
        return [_version_out(v) for v in versions]

    @get("/library/parameters", guards=[requires(Permission.EMISSIONS_READ)], summary="Parameters of a version")
    async def library_parameters(
        self,
        library: Annotated[str, QueryParameter(max_length=64)],
        version: Annotated[int | None, QueryParameter(ge=1, description="default: the newest")] = None,
    ) -> ParametersOut:
        """The complete parameter set of one version: value (exact decimal string), unit, source, confidence,
        validity. ``source`` is the provenance in Chinese (the standard with its annex and table; "待核实" starts
        what awaits confirmation), ``source_en`` the same in English where the library gives it (absent or empty
        for a value someone entered in one language)."""
        stored = await library_store.version_of(library, version)
        return ParametersOut(library=library, version=stored.number, parameters=stored.parameters)

    @post(
        "/library/versions",
        guards=[requires(Permission.ACCOUNTING_LIBRARY), requires_step_up],
        status_code=HTTP_201_CREATED,
        summary="Change the library (TOTP step-up)",
    )
    async def change_library(self, request: AnyRequest, data: JSONBody[LibraryChangeIn]) -> VersionOut:
        """Add a version with these parameter changes. Results keep the versions they used."""
        changes = [library_store.ParameterChange(**msgspec.structs.asdict(c)) for c in data.changes]
        version = await library_store.change_parameters(principal_of(request), data.library, changes, data.reason)
        return _version_out(version)

    @get("/library/formulas", guards=[requires(Permission.EMISSIONS_READ)], summary="Formulas of a version")
    async def library_formulas(
        self, version: Annotated[int | None, QueryParameter(ge=1, description="default: the newest")] = None
    ) -> FormulasOut:
        """The accounting formulas of one version of the formula library (standard 5.4.9.2): code, category, role
        (emission or energy), expression, inputs with units, result unit, description, source, and ``version``: the
        formula-library version that last changed it — the formula version results name in their lineage. The
        library's versions with author, reason and diff: ``GET /library/versions?library=formulas``."""
        stored = await library_store.version_of(library_store.FORMULA_LIBRARY, version)
        formulas, number = await library_store.load_formulas(stored.number)
        return FormulasOut(
            library=library_store.FORMULA_LIBRARY,
            version=number,
            formulas=[{**f, "version": formulas[f["code"]].version} for f in stored.parameters],
        )

    @post(
        "/library/formulas",
        guards=[requires(Permission.ACCOUNTING_LIBRARY), requires_step_up],
        status_code=HTTP_201_CREATED,
        summary="Change a formula (TOTP step-up)",
    )
    async def change_formula(self, request: AnyRequest, data: JSONBody[FormulaChangeIn]) -> VersionOut:
        """A new version of the formula library with this formula's new expression. The expression is checked by the
        safe parser (numbers, the formula's inputs, + - * / and parentheses only; bounded length; no zero divisor;
        like added to like and the result's dimension, where the units tell) and must reproduce the test case to the
        decimals of its expected value; a refusal writes nothing and is audited. Draft years are accounted again with
        it; reported years keep their results and the formula versions they name."""
        case = library_store.FormulaTestCase(dict(data.test_case.inputs), data.test_case.expected)
        version = await library_store.change_formula(
            principal_of(request),
            data.code,
            data.expression,
            data.reason,
            case,
            description=data.description,
            source=data.source,
        )
        return _version_out(version)

    @get("/years", guards=[requires(Permission.EMISSIONS_READ)], summary="Methodology per reporting year")
    async def years(self, request: AnyRequest, enterprise_id: FromQuery[int]) -> list[YearMethodOut]:
        """The edition and library versions chosen per year (years not listed use GB/T 32151.5-2015, newest)."""
        await inventory.enterprise_for(principal_of(request), enterprise_id)
        return [_year_out(y) for y in await YearMethod.filter(enterprise_id=enterprise_id).order_by("year")]

    @put("/years", guards=[requires(Permission.ACCOUNTING_WRITE)], summary="Choose a year's methodology")
    async def set_year(self, request: AnyRequest, data: JSONBody[YearMethodIn]) -> YearMethodOut:
        """Account a reporting year under this edition (optionally pinned to library versions)."""
        chosen = await calculation.set_year_method(
            principal_of(request), data.enterprise_id, data.year, data.edition, data.library_version, data.grid_version
        )
        return _year_out(chosen)

    @get("/sources", guards=[requires(Permission.EMISSIONS_READ)], summary="Emission-source inventory")
    async def sources(self, request: AnyRequest, enterprise_id: FromQuery[int]) -> list[SourceOut]:
        """Sources and production outputs of an enterprise, with where their activity data comes from."""
        return [_source_out(s) for s in await inventory.list_sources(principal_of(request), enterprise_id)]

    @get("/source-categories", guards=[requires(Permission.EMISSIONS_READ)], summary="Categories and their inputs")
    async def categories(self) -> dict[str, dict[str, Any]]:
        """Each category's activity inputs with the units its formulas take, and the items (fuels, materials,
        products) some edition has default parameters for."""
        names = [*(c.value for c in SourceCategory), inventory.OUTPUT, inventory.MEDIUM]
        return {
            c: {
                "inputs": {k: list(v) for k, v in inventory.activity_inputs(c).items()},
                "items": inventory.known_items(c),
            }
            for c in names
        }

    @get("/units", guards=[requires(Permission.ORG_READ)], summary="The unit table")
    async def unit_table(self) -> list[UnitOut]:
        """Every unit activity data, factors and meters may be given in, with its dimension and aliases (a value
        converts to any unit of the same dimension; compound units such as GJ/t are ratios of these)."""
        return [UnitOut(name=n, dimension=d, aliases=list(a)) for n, d, a in units.table()]

    @post("/sources", guards=[requires(Permission.ACCOUNTING_WRITE)], summary="Add an emission source")
    async def create_source(self, request: AnyRequest, data: JSONBody[SourceIn]) -> SourceOut:
        """Add a source: category, item, process, and per activity input its origin and unit (and points)."""
        if data.enterprise_id is None:
            raise InvalidInputError("Say which enterprise the source belongs to (enterprise_id).")
        fields = msgspec.structs.asdict(data)
        fields.pop("enterprise_id")
        source = await inventory.create_source(principal_of(request), data.enterprise_id, inventory.SourceIn(**fields))
        return _source_out(source)

    @patch("/sources/{source_id:int}", guards=[requires(Permission.ACCOUNTING_WRITE)], summary="Change a source")
    async def update_source(self, request: AnyRequest, source_id: FromPath[int], data: JSONBody[SourceIn]) -> SourceOut:
        """Change a source; stored results keep what they used, the next calculation takes the change."""
        fields = msgspec.structs.asdict(data)
        if fields.pop("enterprise_id") is not None:
            raise InvalidInputError("A source cannot move to another enterprise.")
        source = await inventory.update_source(principal_of(request), source_id, inventory.SourceIn(**fields))
        return _source_out(source)

    @get("/activity", guards=[requires(Permission.EMISSIONS_READ)], summary="Activity records")
    async def activity(
        self,
        request: AnyRequest,
        enterprise_id: FromQuery[int],
        source_id: FromQuery[int | None] = None,
        start: Annotated[str | None, QueryParameter(name="from")] = None,
        end: Annotated[str | None, QueryParameter(name="to")] = None,
        include_superseded: FromQuery[bool] = False,
        limit: Annotated[int, QueryParameter(ge=1, le=5000)] = 500,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> list[ActivityOut]:
        """Entered, imported and fed values, newest period first (corrections hide what they replaced)."""
        principal = principal_of(request)
        enterprise = await inventory.enterprise_for(principal, enterprise_id)
        zone = zoneinfo.ZoneInfo(enterprise.timezone)
        first = parse_instant(start, zone, "from") if start else None
        last = parse_instant(end, zone, "to") if end else None
        if principal.role is Role.VERIFIER:  # a verifier reads the years assigned to it, so it names the range
            if first is None or last is None:
                raise InvalidInputError("Give from and to within the years you verify.")
            await reporting.check_verifier_range(principal, enterprise, first, last)
        records = await inventory.list_records(
            principal, enterprise_id, source_id=source_id, start=first, end=last,
            include_superseded=include_superseded, limit=limit, offset=offset,
        )  # fmt: skip
        return [_activity_out(r) for r in records]

    @get("/activity/{record_id:int}", guards=[requires(Permission.EMISSIONS_READ)], summary="One activity record")
    async def activity_record(self, request: AnyRequest, record_id: FromPath[int]) -> ActivityOut:
        """One record by id, with who entered it, its evidence and import row, and what corrected it
        (``superseded_by``): the ids that a result's lineage names resolve here."""
        principal = principal_of(request)
        record = await inventory.get_record(principal, record_id)
        if principal.role is Role.VERIFIER:
            enterprise = await inventory.enterprise_for(principal, record.enterprise_id)
            await reporting.check_verifier_range(principal, enterprise, record.period_start, record.period_end)
        return _activity_out(record)

    @get(
        "/activity/inputs",
        guards=[requires(Permission.ACTIVITY_ENTER)],
        summary="Inputs the caller may enter by hand",
    )
    async def enterable(self, request: AnyRequest, enterprise_id: FromQuery[int]) -> list[EnterableInputOut]:
        """For field staff the inputs read by hand or metered (a substitute) at the sites in their scope; for
        accountants every input of the enterprise's active sources. Each with the units a value may be in."""
        found = await inventory.enterable_inputs(principal_of(request), enterprise_id)
        return [
            EnterableInputOut(
                source_id=i.source.id,
                source_code=i.source.code,
                source_name=i.source.name,
                category=i.source.category,
                item=i.source.item,
                process_id=i.source.process_id,
                site_id=i.site_id,
                facility_id=i.source.facility_id,
                input=i.input_name,
                unit=i.unit,
                origin=i.origin,
                units=list(i.units),
                may_be_negative=i.may_be_negative,
            )  # fmt: skip
            for i in found
        ]

    @post("/activity", guards=[requires(Permission.ACTIVITY_ENTER)], summary="Enter activity data (人工采集)")
    async def enter(self, request: AnyRequest, data: JSONBody[ActivityIn]) -> ActivityOut:
        """One value for one input over whole local days (or a month); the same period again corrects it."""
        first, last = _days_of(data)
        value, unit, note = data.value, data.unit, data.note
        if data.steam is not None:
            value, unit, note = _steam_as_heat(data, data.steam)
        record = await inventory.enter_activity(
            principal_of(request),
            inventory.ManualEntry(
                source_id=data.source_id, input_name=data.input, first_day=first, last_day=last, value=value,
                unit=unit, estimated=data.estimated, note=note, evidence_id=data.evidence_id,
            ),
        )  # fmt: skip
        return _activity_out(record)

    @post("/evidence", guards=[requires(Permission.ACTIVITY_ENTER)], summary="Upload evidence")
    async def upload_evidence(
        self,
        request: AnyRequest,
        enterprise_id: FromQuery[int],
        filename: Annotated[str, QueryParameter(max_length=255)],
    ) -> EvidenceOut:
        """The raw body is the file (Content-Type says what it is); refer to it from manual entries."""
        body = await request.body()
        content_type = request.headers.get("content-type", "application/octet-stream")
        evidence = await inventory.add_evidence(principal_of(request), enterprise_id, filename, content_type, body)
        return _evidence_out(evidence)

    @get("/evidence/{evidence_id:int}", guards=[requires(Permission.EMISSIONS_READ)], summary="Download evidence")
    async def download_evidence(self, request: AnyRequest, evidence_id: FromPath[int]) -> Response[bytes]:
        """The file as uploaded."""
        evidence = await Evidence.get_or_none(id=evidence_id)
        if evidence is None or not principal_of(request).scope.sees_enterprise(evidence.enterprise_id):
            raise NotFoundError(f"No evidence {evidence_id} within your scope.")
        await inventory.enterprise_for(principal_of(request), evidence.enterprise_id)
        return Response(
            bytes(evidence.content),
            media_type=evidence.content_type,
            # always a download, never rendered by the browser, whatever type the uploader claimed
            headers={
                "content-disposition": f'attachment; filename="evidence-{evidence.id}"',
                "x-content-type-options": "nosniff",
            },
        )

    @post("/imports", guards=[requires(Permission.ACCOUNTING_WRITE)], summary="Upload a ledger (CSV, XLSX)")
    async def upload_ledger(
        self,
        request: AnyRequest,
        enterprise_id: FromQuery[int],
        filename: Annotated[str, QueryParameter(max_length=255)],
    ) -> ImportOut:
        """Validate the ledger (raw body) row by row. Nothing is written until POST /imports/{id}/confirm.

        Each report row lists its problems twice, in the same order: ``errors``, English sentences, and
        ``problems``, ``{"code": ..., "params": {...}}`` with text parameters, for a client to say them in its
        reader's language. The codes and their parameters are ``PROBLEM_CODES`` of ``cem_platform.accounting.ledger``
        (e.g. ``source_unknown``: source, known; ``value_not_decimal``: cell; ``overlap``: first, last, rows, source,
        input); reports stored before the codes have no ``problems``.
        """
        body = await request.body()
        batch = await inventory.start_import(principal_of(request), enterprise_id, filename, body)
        return _import_out(batch)

    @get("/imports/{import_id:int}", guards=[requires(Permission.EMISSIONS_READ)], summary="A ledger import")
    async def get_import(self, request: AnyRequest, import_id: FromPath[int]) -> ImportOut:
        """The upload with its row-by-row report and status."""
        return _import_out(await inventory.get_import(principal_of(request), import_id))

    @post(
        "/imports/{import_id:int}/confirm",
        guards=[requires(Permission.ACCOUNTING_WRITE)],
        status_code=HTTP_200_OK,
        summary="Import the valid rows",
    )
    async def confirm_import(self, request: AnyRequest, import_id: FromPath[int]) -> ImportOut:
        """Write every valid row in one transaction; on any problem nothing is written."""
        return _import_out(await inventory.confirm_import(principal_of(request), import_id))

    @post(
        "/imports/{import_id:int}/discard",
        guards=[requires(Permission.ACCOUNTING_WRITE)],
        status_code=HTTP_200_OK,
        summary="Drop a ledger",
    )
    async def discard_import(self, request: AnyRequest, import_id: FromPath[int]) -> ImportOut:
        """Drop the upload; nothing of it is written."""
        return _import_out(await inventory.discard_import(principal_of(request), import_id))


def _days_of(data: ActivityIn) -> tuple[dt.date, dt.date]:
    if data.month is not None:
        if data.first_day is not None or data.last_day is not None:
            raise InvalidInputError("Give either month or from/to, not both.")
        try:
            first = dt.date.fromisoformat(data.month + "-01")
        except ValueError as err:
            raise InvalidInputError(f"month {data.month!r} is not YYYY-MM.") from err
        return first, next_month(first) - dt.timedelta(days=1)
    if data.first_day is None or data.last_day is None:
        raise InvalidInputError("Say which days the value covers: month (YYYY-MM), or from and to (inclusive).")
    return data.first_day, data.last_day


# ---------------------------------------------------------------------------------------------------------
# Emissions


def _steam_as_heat(data: ActivityIn, state: SteamIn) -> tuple[str, str, str]:
    """Steam in tonnes -> GJ by its enthalpy (GB/T 32151: AD = Ma × (Enta − 83.74) × 10⁻³); the note keeps how."""
    from cem_platform.accounting import steam  # loads the IAPWS-IF97 tables on first use only

    try:
        canonical = units.canonical(data.unit)
    except units.UnitError:
        canonical = ""
    if canonical != "t_steam":
        raise InvalidInputError("Steam with its pressure and temperature is entered in t_steam (吨蒸汽).")

    def number(text: str | None, what: str) -> Decimal | None:
        if text is None or not text.strip():
            return None
        try:
            return Decimal(text.strip()[:40])
        except ArithmeticError as err:
            raise InvalidInputError(f"{what} is not a number.") from err

    tonnes = number(data.value, "value")
    if tonnes is None:
        raise InvalidInputError("Give the steam's mass in t (value).")
    heat = steam.steam_heat_gj(
        tonnes, number(state.pressure_mpa, "pressure_mpa"), number(state.temperature_c, "temperature_c"),
        gauge=state.gauge,
    )  # fmt: skip
    how = (
        f"{_dec(tonnes)} t steam"
        + (f", {_dec(heat.absolute_pressure_mpa)} MPa(a)" if heat.absolute_pressure_mpa is not None else "")
        + (f", {_dec(heat.temperature_c)} °C" if heat.temperature_c is not None else "")
        + f" ({heat.state}): h = {_dec(heat.enthalpy_kj_per_kg)} kJ/kg → {_dec(heat.gj)} GJ; {heat.reference}"
    )
    note = f"{data.note.strip()} — {how}" if data.note.strip() else how
    return format(heat.gj, "f"), "GJ", note[:2000]


def _range(kind: PeriodKind, start: str, end: str | None, zone: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[from, to) as UTC instants; without ``to``, the one period of ``kind`` that contains ``from``."""
    first = parse_instant(start, zone, "from")
    if end is None or not end.strip():
        return period_of(kind, first, zone)
    return first, parse_instant(end, zone, "to")


_TERMS = ("combustion", "process", "electricity", "heat", "fixed_carbon", "net")


def _emission_out(view: reads.PeriodView, process_code: str | None) -> EmissionOut:
    """One period from the kept columns (the lineage is not read: it stays in the database until asked for)."""
    result = view.result
    # by_category and by_process hold exact decimal text already (as the lineage writes it)
    if process_code is None:
        values = (result.combustion, result.process_emissions, result.electricity, result.heat, result.fixed_carbon)
        terms = dict(zip(_TERMS, (*values, result.net), strict=True))
        by_category = dict(result.by_category)
        output = _dec(result.crude_steel) if result.crude_steel is not None else None
        intensity = _dec(result.intensity) if result.intensity is not None else None
    else:
        group = result.by_process.get(process_code) or {}
        terms = {k: Decimal(group.get(k, "0")) for k in _TERMS}
        by_category = dict(group.get("by_category", {}))
        output = None
        intensity = _dec_text(group.get("intensity"))
    totals = {k: _dec(v) for k, v in terms.items()}
    return EmissionOut(
        result_id=result.id if view.kept else None, version=result.version, final=result.final,
        period_start=result.period_start, period_end=result.period_end, net=totals["net"],
        direct=_dec(scope_total(CN_ETS_STEEL, terms)), kept=view.kept, pending=view.pending, as_of=view.as_of,
        totals=totals, by_category=by_category, output=output, intensity=intensity, complete=result.complete,
        estimated=result.estimated, edition=result.edition, library_version=result.library_version,
        grid_version=result.grid_version,
        lineage=f"/api/v1/emissions/{result.id}/lineage" if view.kept else None,
    )  # fmt: skip


class EmissionsController(Controller):
    """Emissions by period with lineage (standard 5.4.4.2), and the annual report."""

    path = "/emissions"
    tags = ["emissions"]

    @get("/", guards=[requires(Permission.EMISSIONS_READ)], summary="Emissions by period")
    async def emissions(
        self,
        request: AnyRequest,
        scope_kind: Annotated[str, QueryParameter(name="scope", pattern="^(enterprise|process)$")],
        scope_id: Annotated[int, QueryParameter(name="id")],
        period: FromQuery[PeriodKind],
        start: Annotated[str, QueryParameter(name="from", description="YYYY-MM-DD, YYYY-MM or ISO instant")],
        end: Annotated[
            str | None,
            QueryParameter(
                name="to",
                description="exclusive; omitted: only the period of `period` that contains `from` "
                "(period=month&from=2024-03 is March 2024)",
            ),
        ] = None,
    ) -> EmissionsPage:
        """Totals by category per period, with the result id explaining each; periods still running are
        provisional (final false). Results are kept: this read accounts nothing and writes nothing. When inputs
        changed after a period was accounted (new meter data, an entry, a factor), the period says ``pending``
        until the refresh job (every 15 s) has accounted it again; ``as_of`` says when its figures were made.
        Hours older than the kept window (35 days) are accounted for the answer only (``kept`` false).
        ``direct`` is the national carbon market's covered emissions (combustion + process − fixed carbon).

        Without ``to`` the answer is the one period of ``period`` that contains ``from``. Emissions (``net``,
        ``totals``, ``by_category``, tCO2), ``output`` (t) and ``intensity`` (tCO2/t) are exact decimal strings
        as computed, never rounded (up to 28 significant digits, trailing zeros dropped): round them for display
        only (tCO2 to 0.01, intensity to 0.0001)."""
        principal = principal_of(request)
        process_code: str | None = None
        name = ""
        if scope_kind == "process":
            process = await Process.get_or_none(id=scope_id).prefetch_related("site")
            if process is None or not principal.scope.sees_enterprise(process.site.enterprise_id):
                raise NotFoundError(f"No process {scope_id} within your scope.")
            enterprise_id, process_code, name = process.site.enterprise_id, process.code, process.name
        else:
            enterprise_id = scope_id
        enterprise = await inventory.enterprise_for(principal, enterprise_id)
        name = name or enterprise.name
        zone = zoneinfo.ZoneInfo(enterprise.timezone)
        first, last = _range(period, start, end, zone)
        await reporting.check_verifier_range(principal, enterprise, first, last)
        views = await reads.kept_results(principal, enterprise_id, period, first, last, process_code=process_code)
        error = (
            await PendingRecalculation.filter(enterprise_id=enterprise_id, range_start__lt=last, range_end__gt=first)
            .exclude(error="")
            .first()
            .values_list("error", flat=True)
        )
        return EmissionsPage(
            scope=scope_kind, id=scope_id, name=name, period=period.value, unit="tCO2", timezone=enterprise.timezone,
            direct_scope=f"{CN_ETS_STEEL.code} v{CN_ETS_STEEL.version}", refresh_error=error or None,  # type: ignore[arg-type]
            results=[_emission_out(v, process_code) for v in views],
        )  # fmt: skip

    @get("/{result_id:int}/lineage", guards=[requires(Permission.EMISSIONS_READ)], summary="Explain a result")
    async def lineage(self, request: AnyRequest, result_id: FromPath[int]) -> LineageOut:
        """Every source's inputs (value, unit, origin, completeness), parameters (code, value, version, source,
        overridden), formula and version, the edition and library versions, data-quality notes. Every value and
        emission in it is an exact decimal string as computed (up to 28 significant digits): round for display."""
        principal = principal_of(request)
        result = await calculation.get_result(principal, result_id, whole=False)
        if principal.role is Role.VERIFIER:
            enterprise = await inventory.enterprise_for(principal, result.enterprise_id)
            await reporting.check_verifier_range(principal, enterprise, result.period_start, result.period_end)
        versions = await calculation.result_versions(result)
        return LineageOut(
            result_id=result.id, enterprise_id=result.enterprise_id, period=result.period.value,
            period_start=result.period_start, period_end=result.period_end, version=result.version,
            current=result.current, final=result.final, fingerprint=result.fingerprint, created_at=result.created_at,
            created_by=result.created_by, reason=result.reason, superseded_at=result.superseded_at,
            versions=[
                {"result_id": v.id, "version": v.version, "net": _dec(v.net), "current": v.current,
                 "created_at": v.created_at.isoformat(), "reason": v.reason}
                for v in versions
            ],
            lineage=msgspec.Raw(await reads.lineage_text(result.id)),
        )  # fmt: skip

    @post(
        "/recalculate",
        guards=[requires(Permission.ACCOUNTING_WRITE)],
        status_code=HTTP_200_OK,
        summary="Account a range again",
    )
    async def recalculate(self, request: AnyRequest, data: JSONBody[RecalculateIn]) -> list[EmissionOut]:
        """After corrections or a library change; unchanged periods keep their result, changed ones get a version.
        Without ``to``, the one period of ``period`` that contains ``from``."""
        if not data.reason.strip():
            raise InvalidInputError("Say why the range is recalculated (reason).")
        principal = principal_of(request)
        enterprise = await inventory.enterprise_for(principal, data.enterprise_id, write=True)
        zone = zoneinfo.ZoneInfo(enterprise.timezone)
        first, last = _range(data.period, data.start, data.end, zone)
        results = await calculation.recalculate(principal, data.enterprise_id, data.period, first, last, data.reason)
        views = [reads.PeriodView(reads.KeptFigures.of(r), True, False, r.created_at) for r in results]
        return [_emission_out(view, None) for view in views]

    @get("/report", guards=[requires(Permission.EMISSIONS_READ)], summary="Annual report (XLSX)")
    async def report(
        self,
        request: AnyRequest,
        enterprise_id: FromQuery[int],
        year: Annotated[int, QueryParameter(ge=2000, le=2100)],
        lang: Annotated[str, QueryParameter(pattern="^(zh|en)$")] = "zh",
    ) -> Response[bytes]:
        """The year's report per GB/T 32151.5: boundary, emissions by category and process, activity data and
        factors used, data-quality notes, the supplementary data sheet. Built from the year's kept result (the
        submitted one once the year is reported); nothing is accounted for it."""
        principal = principal_of(request)
        enterprise = await inventory.enterprise_for(principal, enterprise_id)
        zone = zoneinfo.ZoneInfo(enterprise.timezone)
        start, end = period_of(PeriodKind.YEAR, dt.datetime(year, 7, 1, tzinfo=zone), zone)
        await reporting.check_verifier_range(principal, enterprise, start, end)
        result = await EmissionResult.get_or_none(
            enterprise_id=enterprise_id, period=PeriodKind.YEAR, period_start=start, current=True
        )
        if result is None:
            raise ConflictError(
                f"Year {year} has no kept result yet.",
                hint="The refresh job accounts a year once it has data; try again in a minute.",
            )
        content = build_annual_report(
            AnnualReportData(
                enterprise_name=enterprise.name, enterprise_code=enterprise.code,
                credit_code=enterprise.credit_code or "", address=enterprise.address, year=year,
                result_id=result.id, result_version=result.version, generated_at=dt.datetime.now(zone),
                timezone=enterprise.timezone,
                generated_by=principal.name, processes=await _boundary(enterprise), lineage=result.lineage,
                language=lang,
            )
        )  # fmt: skip
        filename = f"ghg-report-{enterprise.code}-{year}.xlsx"
        return Response(
            content,
            media_type=REPORT_CONTENT_TYPE,
            headers={"content-disposition": f'attachment; filename="{filename}"'},
        )


async def _boundary(enterprise: Enterprise) -> tuple[ReportProcess, ...]:
    processes = await Process.filter(site__enterprise_id=enterprise.id, active=True).prefetch_related(
        "site", "process_type"
    )
    facilities: dict[int, list[str]] = {}
    for facility in await Facility.filter(process_id__in=[p.id for p in processes], active=True).order_by("code"):
        facilities.setdefault(facility.process_id, []).append(f"{facility.code} {facility.name}")
    return tuple(
        ReportProcess(
            code=p.code,
            name=p.name,
            process_type=p.process_type.name_zh,
            site=p.site.name,
            facilities=tuple(facilities.get(p.id, [])),
        )
        for p in sorted(processes, key=lambda p: p.code)
    )


# ---------------------------------------------------------------------------------------------------------
# Per-source results and reporting states


class SourceResultOut(msgspec.Struct, kw_only=True):
    """One source's emission in one period, from the kept result's lineage (exact decimal strings)."""

    result_id: int | None
    period_start: dt.datetime
    period_end: dt.datetime
    source: str  # the source's code
    name: str
    process: str  # the process code ("" for the enterprise as a whole)
    category: str
    group: str  # the term of E_total it adds to
    emission: str  # tCO2 (fixed carbon positive: it is deducted in the totals)
    formula_version: str
    complete: bool
    estimated: bool
    pending: bool


#: Periods a per-source query reads at most (each period's lineage is read whole).
MAX_SOURCE_PERIODS = 62


class ReportingIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A transition of an enterprise's reporting year."""

    enterprise_id: FromQuery[int]
    year: int = msgspec.field()
    reason: str = ""


class VerifierIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The third-party verifier assigned to a year (a user with the verifier role)."""

    enterprise_id: FromQuery[int]
    year: int
    verifier: str


class VerifyIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The verified figures (tCO2, decimal strings) and the verifier's findings."""

    enterprise_id: FromQuery[int]
    year: int
    net: str
    direct: str
    findings: str = ""


class ReportingOut(msgspec.Struct, kw_only=True):
    """Where an enterprise's year stands: state, figures as reported and as verified, what a new draft would
    change ("would change by"), the verifier and the history of transitions."""

    enterprise_id: int
    year: int
    state: str
    draft: int
    result_id: int | None
    reported: dict[str, Any] | None
    verifier: str
    verified: dict[str, Any] | None
    findings: str
    would_change_by: dict[str, Any] | None
    history: list[dict[str, Any]]


def _reporting_out(row: ReportingYear) -> ReportingOut:
    return ReportingOut(
        enterprise_id=row.enterprise_id, year=row.year, state=row.state.value, draft=row.draft,
        result_id=row.result_id, reported=row.reported, verifier=row.verifier, verified=row.verified,
        findings=row.findings, would_change_by=row.drift, history=list(row.history or []),
    )  # fmt: skip


def _check_year(year: int) -> None:
    if not 2000 <= year <= 2100:
        raise InvalidInputError("year must be from 2000 to 2100.")


class ReportingController(Controller):
    """Reporting states of a year (draft → submitted → verified → locked) and per-source results."""

    path = "/accounting/reporting"
    tags = ["emissions"]

    @get("/", guards=[requires(Permission.EMISSIONS_READ)], summary="A year's reporting state")
    async def state(
        self,
        request: AnyRequest,
        enterprise_id: FromQuery[int],
        year: Annotated[int, QueryParameter(ge=2000, le=2100)],
    ) -> ReportingOut:
        """State, reported and verified figures, the difference accounting now would make, history."""
        return _reporting_out(await reporting.reporting_year(principal_of(request), enterprise_id, year))

    @post("/submit", guards=[requires(Permission.ACCOUNTING_WRITE)], status_code=HTTP_200_OK, summary="Submit a year")
    async def submit(self, request: AnyRequest, data: JSONBody[ReportingIn]) -> ReportingOut:
        """Submit the year's kept, final result: from now on its figures, versions and inputs are kept exactly."""
        _check_year(data.year)
        return _reporting_out(await reporting.submit(principal_of(request), data.enterprise_id, data.year, data.reason))

    @put("/verifier", guards=[requires(Permission.ACCOUNTING_WRITE)], summary="Assign the year's verifier")
    async def verifier(self, request: AnyRequest, data: JSONBody[VerifierIn]) -> ReportingOut:
        """Name the third-party verifier (a user with the verifier role) who may read and verify this year."""
        _check_year(data.year)
        row = await reporting.assign_verifier(principal_of(request), data.enterprise_id, data.year, data.verifier)
        return _reporting_out(row)

    @post("/verify", guards=[requires(Permission.REPORT_VERIFY)], status_code=HTTP_200_OK, summary="Verify a year")
    async def verify(self, request: AnyRequest, data: JSONBody[VerifyIn]) -> ReportingOut:
        """The assigned verifier records the verified figures and findings of a submitted year."""
        _check_year(data.year)
        row = await reporting.verify(
            principal_of(request), data.enterprise_id, data.year, data.net, data.direct, data.findings
        )
        return _reporting_out(row)

    @post("/lock", guards=[requires(Permission.ACCOUNTING_WRITE)], status_code=HTTP_200_OK, summary="Lock a year")
    async def lock(self, request: AnyRequest, data: JSONBody[ReportingIn]) -> ReportingOut:
        """Close a verified year."""
        _check_year(data.year)
        return _reporting_out(await reporting.lock(principal_of(request), data.enterprise_id, data.year))

    @post(
        "/draft", guards=[requires(Permission.ACCOUNTING_WRITE)], status_code=HTTP_200_OK, summary="New draft of a year"
    )
    async def new_draft(self, request: AnyRequest, data: JSONBody[ReportingIn]) -> ReportingOut:
        """A submitted or verified year becomes a new draft, accounted again from its current inputs (reason)."""
        _check_year(data.year)
        row = await reporting.new_draft(principal_of(request), data.enterprise_id, data.year, data.reason)
        return _reporting_out(row)

    @post(
        "/reopen",
        guards=[requires(Permission.ACCOUNTING_WRITE), requires_step_up],
        status_code=HTTP_200_OK,
        summary="Reopen a locked year",
    )
    async def reopen(self, request: AnyRequest, data: JSONBody[ReportingIn]) -> ReportingOut:
        """A locked year becomes a new draft: TOTP step-up, a reason, audited."""
        _check_year(data.year)
        return _reporting_out(await reporting.reopen(principal_of(request), data.enterprise_id, data.year, data.reason))

    @get("/sources", guards=[requires(Permission.EMISSIONS_READ)], summary="Emissions per source")
    async def sources(
        self,
        request: AnyRequest,
        enterprise_id: FromQuery[int],
        period: FromQuery[PeriodKind],
        start: Annotated[str, QueryParameter(name="from", description="YYYY-MM-DD, YYYY-MM or ISO instant")],
        end: Annotated[str | None, QueryParameter(name="to", description="exclusive; omitted: one period")] = None,
        source: Annotated[str | None, QueryParameter(max_length=64, description="one source's code")] = None,
    ) -> list[SourceResultOut]:
        """Each source's emission per period, from the kept results (at most 62 periods per request)."""
        principal = principal_of(request)
        enterprise = await inventory.enterprise_for(principal, enterprise_id)
        zone = zoneinfo.ZoneInfo(enterprise.timezone)
        first, last = _range(period, start, end, zone)
        await reporting.check_verifier_range(principal, enterprise, first, last)
        views = await reads.kept_results(principal, enterprise_id, period, first, last)
        if len(views) > MAX_SOURCE_PERIODS:
            raise InvalidInputError(
                f"{len(views)} periods asked for; per-source results are read for at most {MAX_SOURCE_PERIODS}.",
                hint="Ask for a longer period (day -> month) or a shorter range.",
            )
        kept = [v.result.id for v in views if v.kept]
        lineages = dict(await EmissionResult.filter(id__in=kept).values_list("id", "lineage")) if kept else {}
        out: list[SourceResultOut] = []
        for view in views:
            r = view.result
            lineage = lineages.get(r.id) if view.kept else r.lineage
            for item in (lineage or {}).get("sources", []):
                if source is not None and item["source_id"] != source:
                    continue
                out.append(
                    SourceResultOut(
                        result_id=r.id if view.kept else None,
                        period_start=r.period_start,
                        period_end=r.period_end,
                        source=item["source_id"],
                        name=item.get("name", ""),
                        process=item["process"],
                        category=item["category"],
                        group=item.get("group", ""),
                        emission=_dec_text(item["emission"]) or "0",
                        formula_version=str(item.get("formula_version", "")),
                        complete=bool(item.get("complete", True)),
                        estimated=bool(item.get("estimated", False)),
                        pending=view.pending,
                    )  # fmt: skip
                )
        return out

"""The carbon accountants' screens: source inventory, factor library, activity-data entry, ledger import,
emissions by period with their lineage, and the annual report.

Quantities are exact :class:`~decimal.Decimal` values as the API sends them; the screens round for display.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from cem_clients.api import (
    ActivityRecord,
    EmissionPeriod,
    EmissionSource,
    Evidence,
    Facility,
    ImportReport,
    Library,
    LibraryVersion,
    Lineage,
    MeasurementPoint,
    Process,
    UnitInfo,
)
from cem_clients.console.extra_api import CategorySpec, ConsoleApi, ReportFile
from cem_clients.console.forms import FieldChange, Form, Problem, Screen, as_date, as_decimal, changes_between, choices
from cem_clients.ui import accounting_text as acc
from cem_clients.ui.i18n import STRINGS, Locale, Translator

__all__ = [
    "BALANCE",
    "CONFIDENCES",
    "DIRECTIONS",
    "GRID_KINDS",
    "GRID_LIBRARY",
    "ORIGINS",
    "OUTPUT",
    "PERIOD_KINDS",
    "PeriodKind",
    "ActivityEntry",
    "ActivityForm",
    "CategoryGroup",
    "DiffRow",
    "EmissionsExplorer",
    "EmissionsQuery",
    "FactorLibrary",
    "InputLine",
    "InputSpec",
    "LedgerImport",
    "LedgerRow",
    "LibraryChangeForm",
    "LineageView",
    "ParameterEdit",
    "ParameterLine",
    "FormulaChangeForm",
    "FormulaRow",
    "ParameterRow",
    "PeriodRow",
    "ProcessGroup",
    "ReportExport",
    "amount_unit",
    "unit_dimensions",
    "ResultVersion",
    "SourceForm",
    "SourceInventory",
    "SourceLine",
    "VersionRow",
]

PeriodKind = Literal["hour", "day", "week", "month", "year"]
OUTPUT = "output"  # the category of production outputs (crude steel, a process's product)
#: The enterprise's output value (产值): an output of this item, its activity money in 10^4 CNY (万元).
OUTPUT_VALUE, OUTPUT_VALUE_UNIT = "output_value", "10^4 CNY"
ORIGINS = ("meter", "manual", "import", "feed")
#: An input's origin when its quantity is a share of the maker's balance (what it makes less its metered users).
BALANCE = "balance"
#: consumed at the source's process; sold (leaving the works); a transfer used here and made at another process
#: (or the enterprise level); made (a generation line at the maker, feeding its balance only).
DIRECTIONS = ("consumed", "sold", "transfer", "made")
#: By-products that may be sold, and the categories that may leave the works or move between processes.
BY_PRODUCTS = frozenset({"blast_furnace_gas", "coke_oven_gas", "converter_gas", "tar", "crude_benzene"})
_SOLD_CATEGORIES = ("fuel_combustion", "electricity", "heat")
_TRANSFER_CATEGORIES = (*_SOLD_CATEGORIES, "raw_material", "energy_medium")
GRID_KINDS = ("ets_prescribed", "official_average")
CONFIDENCES = ("confirmed", "as_published", "unverified")
PERIOD_KINDS: tuple[PeriodKind, ...] = ("hour", "day", "week", "month", "year")
GRID_LIBRARY = "grid-factors"
FORMULA_LIBRARY = "formulas"  # the accounting formulas, versioned like the parameters (standard 5.4.9.2)
_PARAMETER_CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+){1,3}$")
_GRID_CODE = re.compile(r"^grid\.(ets_prescribed|official_average)\.[a-z_]+\.(\d{4})(?:-(\d{4}))?$")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_PERIOD_BOUND = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-\d{2})?)?$")
POINT_MATCHES = 8  # points the picker offers for what was typed


def _dec(value: Any) -> Decimal | None:
    """A decimal from the API's exact decimal string (None for None, empty or not a number)."""
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _plain(value: Decimal) -> str:
    """A decimal without trailing zeros or an exponent (0.25, 1, 25)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# ---- source inventory ---------------------------------------------------------------------------------------------


def amount_unit(point: MeasurementPoint) -> str:
    """The unit of the amount a point gives over a period, as the platform integrates it (a totaliser's own unit,
    a flow's rate integrated: ``t/h`` -> ``t``); "" for a state point or a flow that is no rate."""
    return point.amount_unit or ""


def unit_dimensions(table: Iterable[UnitInfo]) -> dict[str, str]:
    """The platform's unit table (``GET /accounting/units``) as {unit key: dimension}, names and aliases alike."""
    return {_unit_key(text): unit.dimension for unit in table for text in (unit.name, *unit.aliases)}


def _unit_key(text: str) -> str:
    return "".join(text.split()).casefold()


def _converts(unit: str, target: str, dimensions: Mapping[str, str]) -> bool:
    """Whether a quantity in ``unit`` converts to ``target``: the same dimension of the platform's unit table
    (a unit the table does not know converts only to itself)."""
    have, want = dimensions.get(_unit_key(unit)), dimensions.get(_unit_key(target))
    if have is None or want is None:
        return bool(unit.strip()) and _unit_key(unit) == _unit_key(target)
    return have == want


@dataclass(frozen=True)
class CategoryGroup:
    """The sources of one category within a process."""

    category: str
    sources: tuple[EmissionSource, ...]


@dataclass(frozen=True)
class ProcessGroup:
    """The sources of one process (``process_id`` None: enterprise-level sources and outputs), by category."""

    process_id: int | None
    code: str
    name: str
    categories: tuple[CategoryGroup, ...]

    @property
    def count(self) -> int:
        """How many sources the process has."""
        return sum(len(c.sources) for c in self.categories)


@dataclass(kw_only=True)
class InputSpec:
    """Where one activity input's data comes from: origin, unit, for meters the points (id, sign), for the maker's
    balance the share (a decimal in (0, 1] as typed)."""

    name: str
    origin: str = "manual"
    unit: str = ""
    points: list[tuple[int, int]] = field(default_factory=list)
    share: str = ""

    def add_point(self, point_id: int, sign: int = 1) -> None:
        """Add a point's amount (``sign`` 1) or subtract it (-1); a point already there changes its sign."""
        self.points = [(i, s) for i, s in self.points if i != point_id] + [(point_id, sign)]

    def remove_point(self, point_id: int) -> None:
        """Take a point out of the input."""
        self.points = [(i, s) for i, s in self.points if i != point_id]

    def as_json(self) -> dict[str, Any]:
        """The input as the API takes it."""
        spec: dict[str, Any] = {"origin": self.origin, "unit": self.unit.strip()}
        if self.origin == "meter":
            spec["points"] = [{"id": point_id, "sign": sign} for point_id, sign in self.points]
        if self.origin == BALANCE:
            spec["share"] = self.share.strip()
        return spec


@dataclass(kw_only=True)
class SourceForm(Form):
    """A new emission source (or production output), checked against the platform's categories."""

    code: str = ""
    name: str = ""
    category: str = ""
    item: str = ""
    process_id: int | None = None
    facility_id: int | None = None
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    grid_kind: str = "ets_prescribed"  # electricity only
    grid_region: str = "national"  # electricity only
    direction: str = "consumed"
    from_process_id: int | None = None  # a transfer's maker (None: the enterprise level, e.g. the grid tie)
    note: str = ""

    @property
    def balance_allowed(self) -> bool:
        """Whether an input may be a share of the maker's balance: only on a transfer from a process."""
        return self.direction == "transfer" and self.from_process_id is not None

    def set_item(self, value: str) -> bool:
        """The item (fuel, material, product); an output's turning into the output value (产值) or back switches its
        inputs between 10^4 CNY and tonnes. True when it did (the unit picker is drawn again)."""
        was = self.category == OUTPUT and self.item.strip() == OUTPUT_VALUE
        self.item = value
        now = self.category == OUTPUT and value.strip() == OUTPUT_VALUE
        if was == now:
            return False
        for given in self.inputs.values():
            given.unit = OUTPUT_VALUE_UNIT if now else "t"
        return True

    def choose_category(self, category: str, spec: CategorySpec) -> None:
        """Switch to ``category``: its inputs (manual, in the first unit its formulas take) and items."""
        self.category = category
        self.inputs = {
            name: InputSpec(name=name, unit=units[0] if units else "") for name, units in spec.inputs.items()
        }
        if self.item not in spec.items:
            self.item = ""

    def validate(
        self,
        categories: Mapping[str, CategorySpec],
        points: Mapping[int, MeasurementPoint] | None = None,
        dimensions: Mapping[str, str] | None = None,
        sources: Sequence[EmissionSource] = (),
    ) -> bool:
        """Check the fields against the categories (inputs, their units, the known items), the meter points of
        the enterprise (``points`` by id: active, an amount, in a unit that converts to the input's by the
        platform's unit table, ``dimensions`` from :func:`unit_dimensions`), the direction and the balance
        shares the maker's other users (among ``sources``) already take; True when the form can be sent.
        Units other than those listed are left to the platform (``kg`` converts to ``t``)."""
        self.begin()
        code = self.code.strip()
        if not code:
            self.check("code", Problem("console.problem.source_code"))
        elif len(code) > 64 or any(c.isspace() for c in code):
            self.check("code", Problem("console.problem.code_no_spaces"))
        if not self.name.strip():
            self.check("name", Problem("console.problem.enter_name"))
        elif len(self.name.strip()) > 200:
            self.check("name", Problem("console.problem.at_most_chars", limit=200))
        spec = categories.get(self.category)
        if spec is None:
            self.check("category", Problem("console.problem.choose_one", choices=choices(categories)))
            return self.valid
        item = self.item.strip()
        if spec.items and item not in spec.items:
            self.check("item", Problem("console.problem.choose_one", choices=choices(spec.items)))
        elif self.category == OUTPUT and not item:
            self.check("item", Problem("console.problem.product"))
        if self.category == OUTPUT and item == OUTPUT_VALUE and (self.process_id or self.facility_id):
            self.check("process_id", Problem("console.problem.output_value_level"))
        self._check_direction(item)
        if set(self.inputs) != set(spec.inputs):
            self.check("inputs", Problem("console.problem.inputs", category=self.category, inputs=choices(spec.inputs)))
        for name, given in self.inputs.items():
            key = f"inputs.{name}"
            if given.origin == BALANCE:
                self._check_share(key, given)
            elif given.origin not in ORIGINS:
                self.check(key, Problem("console.problem.origin", choices=choices(ORIGINS)))
            if not given.unit.strip():
                units = spec.inputs.get(name, ())
                self.check(key, Problem("console.problem.input_unit", units=choices(units)))
            if given.origin == "meter" and not given.points:
                self.check(key, Problem("console.problem.points_missing"))
            if any(sign not in (1, -1) for _, sign in given.points):
                self.check(key, Problem("console.problem.point_sign"))
            if given.origin == "meter":
                self._check_points(key, given, points or {}, dimensions or {})
        if self.category == "electricity" and self.grid_kind not in GRID_KINDS:
            self.check("grid_kind", Problem("console.problem.choose_one", choices=choices(GRID_KINDS)))
        if self.valid:
            self._check_shares(item, sources)
        return self.valid

    def _check_direction(self, item: str) -> None:
        """The platform's rules: only by-products, electricity and heat are sold; fuels, materials, electricity,
        heat and media move between processes; a transfer or a generation line has its process, a transfer's maker
        is another process."""
        if self.direction not in DIRECTIONS:
            self.check("direction", Problem("console.problem.choose_one", choices=choices(DIRECTIONS)))
            return
        if self.direction == "sold" and (
            self.category not in _SOLD_CATEGORIES or (self.category == "fuel_combustion" and item not in BY_PRODUCTS)
        ):
            self.check("direction", Problem("console.problem.direction_sold"))
        if self.direction in ("transfer", "made"):
            if self.category not in _TRANSFER_CATEGORIES:
                self.check("direction", Problem("console.problem.direction_transfer", category=self.category))
            if self.process_id is None:
                self.check("process_id", Problem("console.problem.direction_process"))
        if (
            self.direction == "transfer"
            and self.from_process_id is not None
            and self.from_process_id == self.process_id
        ):
            self.check("from_process_id", Problem("console.problem.maker_self"))

    def _check_share(self, key: str, given: InputSpec) -> None:
        if not self.balance_allowed:
            self.check(key, Problem("console.problem.balance_transfer"))
        share = _dec(given.share.strip())
        if share is None or not Decimal(0) < share <= 1:
            self.check(key, Problem("console.problem.share"))

    def _check_shares(self, item: str, sources: Sequence[EmissionSource]) -> None:
        """The shares of one maker's balance users of one item add up to at most 1 (this one included)."""
        for name, given in self.inputs.items():
            if given.origin != BALANCE:
                continue
            total = Decimal(given.share.strip()) + sum(
                (
                    _dec(s.inputs[name].get("share")) or Decimal(0)
                    for s in sources
                    if s.active
                    and s.direction == "transfer"
                    and s.from_process_id == self.from_process_id
                    and s.item == item
                    and isinstance(s.inputs.get(name), Mapping)
                    and s.inputs[name].get("origin") == BALANCE
                ),
                Decimal(0),
            )
            if total > 1:
                self.check(f"inputs.{name}", Problem("console.problem.shares_sum", total=_plain(total)))

    def _check_points(
        self, key: str, given: InputSpec, points: Mapping[int, MeasurementPoint], dimensions: Mapping[str, str]
    ) -> None:
        ids = [point_id for point_id, _ in given.points]
        if len(set(ids)) != len(ids):
            self.check(key, Problem("console.problem.point_twice"))
        for point_id in ids:
            point = points.get(point_id)
            if point is None or not point.active:
                self.check(key, Problem("console.problem.point_unknown", point=point_id))
            elif point.kind == "state":
                self.check(key, Problem("console.problem.point_state", point=point.code))
            elif given.unit.strip() and not _converts(amount_unit(point), given.unit.strip(), dimensions):
                self.check(
                    key,
                    Problem("console.problem.point_unit", point=point.code, unit=point.unit, target=given.unit.strip()),
                )

    def unit_choices(self, categories: Mapping[str, CategorySpec], input_name: str) -> tuple[str, ...]:
        """The units the category's formulas take for an input (offered first in the unit picker); the enterprise's
        output value (an output of item ``output_value``) is money, in 10^4 CNY (万元), never tonnes."""
        if self.category == OUTPUT and self.item.strip() == OUTPUT_VALUE:
            return (OUTPUT_VALUE_UNIT,)
        spec = categories.get(self.category)
        return spec.inputs.get(input_name, ()) if spec else ()


@dataclass
class SourceInventory(Screen):
    """The emission-source inventory of an enterprise, grouped by process and category, and the create form."""

    api: ConsoleApi
    enterprise_id: int
    categories: dict[str, CategorySpec] = field(default_factory=dict)
    sources: list[EmissionSource] = field(default_factory=list)
    processes: list[Process] = field(default_factory=list)
    facilities: list[Facility] = field(default_factory=list)
    points: dict[int, MeasurementPoint] = field(default_factory=dict)  # the enterprise's active points by id
    dimensions: dict[str, str] = field(default_factory=dict)  # the platform's unit table: unit key -> dimension
    groups: list[ProcessGroup] = field(default_factory=list)
    form: SourceForm | None = None
    point_search: dict[str, str] = field(default_factory=dict)  # what was typed in each input's point picker
    created: EmissionSource | None = None

    async def refresh(self) -> bool:
        """Reload the categories, the processes, the measurement points and the sources."""

        async def work() -> None:
            if not self.categories:
                self.categories = await self.api.source_categories()
            if not self.dimensions:
                self.dimensions = unit_dimensions(await self.api.units())
            self.processes = sorted(await self.api.processes(self.enterprise_id), key=lambda p: p.code)
            ids = {p.id for p in self.processes}
            self.facilities = [f for f in await self.api.facilities() if f.process_id in ids]
            points = await self.api.points(enterprise_id=self.enterprise_id, active=True)
            self.points = {p.id: p for p in sorted(points, key=lambda p: p.code)}
            self.sources = await self.api.sources(self.enterprise_id)
            self.groups = self._group()

        return await self._load(work)

    def matching_points(self, text: str, limit: int = POINT_MATCHES) -> list[MeasurementPoint]:
        """The enterprise's points whose code or name contains ``text`` (any case) and that give an amount (no
        state points), by code; every such point when nothing is typed."""
        needle = text.strip().casefold()
        return [
            p
            for p in self.points.values()
            if p.kind != "state" and (not needle or needle in p.code.casefold() or needle in p.name.casefold())
        ][:limit]

    def point(self, point_id: int) -> MeasurementPoint | None:
        """A point of the enterprise by id (None when unknown or inactive)."""
        return self.points.get(point_id)

    def _group(self) -> list[ProcessGroup]:
        order = {c: i for i, c in enumerate(self.categories)}
        groups = []
        for process in [*self.processes, None]:
            process_id = process.id if process else None
            mine = [s for s in self.sources if s.process_id == process_id]
            if not mine:
                continue
            categories = sorted({s.category for s in mine}, key=lambda c: (order.get(c, len(order)), c))
            groups.append(
                ProcessGroup(
                    process_id=process_id,
                    code=process.code if process else "",
                    name=process.name if process else "",
                    categories=tuple(
                        CategoryGroup(c, tuple(sorted((s for s in mine if s.category == c), key=lambda s: s.code)))
                        for c in categories
                    ),
                )
            )
        return groups

    def facilities_of(self, process_id: int) -> list[Facility]:
        """Facilities of a process (to place a source more precisely)."""
        return [f for f in self.facilities if f.process_id == process_id]

    def new_source(self, category: str | None = None) -> SourceForm:
        """An empty form (for ``category`` if given)."""
        self.form = SourceForm()
        self.point_search = {}
        if category is not None and category in self.categories:
            self.form.choose_category(category, self.categories[category])
        return self.form

    async def create(self) -> EmissionSource | None:
        """Send the form (checked here first, then by the platform); the inventory is reloaded."""
        form = self.form
        if form is None or not form.validate(self.categories, self.points, self.dimensions, self.sources):
            return None
        inputs = {name: spec.as_json() for name, spec in form.inputs.items()}
        electricity = form.category == "electricity"
        transfer = form.direction == "transfer"
        source = await form.send(
            lambda _code: self.api.create_source(
                self.enterprise_id,
                code=form.code.strip(),
                name=form.name.strip(),
                category=form.category,
                inputs=inputs,
                item=form.item.strip(),
                process_id=form.process_id,
                facility_id=form.facility_id,
                grid_kind=form.grid_kind if electricity else None,
                grid_region=(form.grid_region.strip() or "national") if electricity else None,
                note=form.note.strip(),
                direction=form.direction,
                from_process_id=form.from_process_id if transfer else None,
            )
        )
        if source is not None:
            self.created = source
            self.form = None
            await self.refresh()
        return source


# ---- factor library -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffRow:
    """One parameter a version changed: before -> after (``"28.447 GJ/t"``), and the fields that differ."""

    code: str
    change: str  # added, changed, removed
    before: str
    after: str
    fields: tuple[FieldChange, ...]


@dataclass(frozen=True)
class VersionRow:
    """A version of a library: who, when, why and what changed."""

    library: str
    number: int
    author: str
    reason: str
    created_at: dt.datetime | None
    rows: tuple[DiffRow, ...]

    @classmethod
    def of(cls, version: LibraryVersion) -> VersionRow:
        """The rows of a version's diff."""
        rows = tuple(
            DiffRow(
                code=_text(entry.get("code")),
                change=_text(entry.get("change")),
                before=_summary(entry.get("before")),
                after=_summary(entry.get("after")),
                fields=changes_between(entry.get("before"), entry.get("after"), skip=("code",)),
            )
            for entry in version.diff
        )
        return cls(
            library=version.library,
            number=version.number,
            author=version.author,
            reason=version.reason,
            created_at=version.created_at,
            rows=rows,
        )


def _summary(parameter: Mapping[str, Any] | None) -> str:
    if not parameter:
        return ""
    if "expression" in parameter and "value" not in parameter:  # a formula: its expression
        return _text(parameter.get("expression"))
    return f"{_text(parameter.get('value'))} {_text(parameter.get('unit'))}".strip()


@dataclass(frozen=True)
class FormulaRow:
    """One accounting formula of the formula library: its expression over named inputs with their units."""

    code: str
    category: str
    role: str  # "emission" or "energy"
    expression: str
    inputs: tuple[tuple[str, str], ...]  # (name, unit) in the order written
    result_unit: str
    version: int  # the formula-library version that last changed it

    @classmethod
    def of(cls, formula: Mapping[str, Any]) -> FormulaRow:
        """A row of the API's formula set."""
        inputs = formula.get("inputs") or {}
        version = str(formula.get("version") or "1")
        return cls(
            code=_text(formula.get("code")),
            category=_text(formula.get("category")),
            role=_text(formula.get("role")),
            expression=_text(formula.get("expression")),
            inputs=tuple((str(k), str(v)) for k, v in inputs.items()) if isinstance(inputs, Mapping) else (),
            result_unit=_text(formula.get("result_unit")),
            version=int(version) if version.isdigit() else 1,
        )


@dataclass(frozen=True)
class ParameterRow:
    """One parameter of a library version."""

    code: str
    value: Decimal | None
    unit: str
    source: str  # Chinese, citing the standard and table (the changer's own words after a change)
    confidence: str
    valid: str  # "2024-01-01 – " for editions, "2019–2020" for grid factors, "" when always
    raw: Mapping[str, Any]
    source_en: str = ""  # the source in English, when the library gives one

    @classmethod
    def of(cls, parameter: Mapping[str, Any]) -> ParameterRow:
        """A row of the API's parameter set (edition or grid factor)."""
        if "first_year" in parameter:
            first, last = parameter.get("first_year"), parameter.get("last_year")
            valid = f"{first}" if first == last else f"{first}–{last}"
        elif parameter.get("valid_from") or parameter.get("valid_until"):
            valid = f"{_text(parameter.get('valid_from'))} – {_text(parameter.get('valid_until'))}"
        else:
            valid = ""
        return cls(
            code=_text(parameter.get("code")),
            value=_dec(parameter.get("value")),
            unit=_text(parameter.get("unit")),
            source=_text(parameter.get("source")),
            confidence=_text(parameter.get("confidence")),
            valid=valid,
            raw=dict(parameter),
            source_en=_text(parameter.get("source_en")),
        )


@dataclass(kw_only=True)
class ParameterEdit:
    """One change of a proposed version: set a parameter (new or changed), or remove it."""

    code: str
    value: str = ""
    unit: str = ""
    source: str = ""
    confidence: str = ""
    valid_from: str = ""
    valid_until: str = ""
    remove: bool = False
    existing: bool = False  # the parameter is in the library now

    def as_json(self) -> dict[str, Any]:
        """The change as the API takes it."""
        if self.remove:
            return {"code": self.code.strip(), "remove": True}
        change: dict[str, Any] = {"code": self.code.strip(), "value": self.value.strip(), "source": self.source.strip()}
        for name in ("unit", "confidence", "valid_from", "valid_until"):
            text = str(getattr(self, name)).strip()
            if text:
                change[name] = text
        return change


@dataclass(kw_only=True)
class LibraryChangeForm(Form):
    """A proposed new version of a library: the changes, why, and the authenticator code (step-up)."""

    library: str
    reason: str = ""
    changes: list[ParameterEdit] = field(default_factory=list)

    def edit(self, parameter: ParameterRow) -> ParameterEdit:
        """Add a change of an existing parameter, filled with its current values."""
        raw = parameter.raw
        change = ParameterEdit(
            code=parameter.code,
            value=_text(raw.get("value")),
            unit=_text(raw.get("unit")),
            source=_text(raw.get("source")),
            confidence=_text(raw.get("confidence")),
            valid_from=_text(raw.get("valid_from")),
            valid_until=_text(raw.get("valid_until")),
            existing=True,
        )
        self.changes.append(change)
        return change

    def add(self, code: str = "") -> ParameterEdit:
        """Add a new parameter."""
        change = ParameterEdit(code=code)
        self.changes.append(change)
        return change

    def validate(self) -> bool:
        """Check the changes as the platform will; True when the form can be sent."""
        self.begin()
        if not self.reason.strip():
            self.check("reason", Problem("console.problem.library_reason"))
        if not self.changes:
            self.check("changes", Problem("console.problem.changes_missing"))
        codes = [c.code.strip() for c in self.changes]
        if len(set(codes)) != len(codes):
            self.check("changes", Problem("console.problem.changes_twice"))
        grid = self.library == GRID_LIBRARY
        for i, change in enumerate(self.changes):
            self._check_change(f"changes.{i}", change, grid)
        return self.valid

    def _check_change(self, key: str, change: ParameterEdit, grid: bool) -> None:
        code = change.code.strip()
        match = _GRID_CODE.match(code) if grid else _PARAMETER_CODE.match(code)
        if not match:
            example = "grid.ets_prescribed.national.2025" if grid else "fuel.coke.ncv"
            self.check(f"{key}.code", Problem("console.problem.parameter_code", example=example))
        elif grid and match.group(3) and int(match.group(3)) < int(match.group(2)):
            self.check(f"{key}.code", Problem("console.problem.years_order"))
        if change.remove:
            if not change.existing:
                self.check(f"{key}.code", Problem("console.problem.remove_unknown"))
            return
        value, problem = as_decimal(change.value)
        self.check(f"{key}.value", problem)
        if value is not None and value < 0:
            self.check(f"{key}.value", Problem("console.problem.negative"))
        if not grid and not change.unit.strip():
            self.check(f"{key}.unit", Problem("console.problem.parameter_unit"))
        if not change.source.strip():
            self.check(f"{key}.source", Problem("console.problem.parameter_source"))
        if change.confidence and change.confidence not in CONFIDENCES:
            self.check(f"{key}.confidence", Problem("console.problem.choose_one", choices=choices(CONFIDENCES)))
        for name in ("valid_from", "valid_until"):
            _, problem = as_date(str(getattr(change, name)))
            self.check(f"{key}.{name}", problem)


# Bounds the platform sets on a formula change (the form says so before sending; every other check is the platform's).
MAX_EXPRESSION_CHARS = 400
MAX_REASON_CHARS = 500
MAX_NUMBER_CHARS = 60


@dataclass(kw_only=True)
class FormulaChangeForm(Form):
    """A new version of one accounting formula: the new expression, a test case it must pass (one value per input,
    the expected result), why, and the authenticator code (step-up). The form checks only that the fields are there,
    are numbers and are not too long; the platform's safe parser and the test case decide the rest."""

    formula: FormulaRow
    expression: str = ""
    test_inputs: dict[str, str] = field(default_factory=dict)  # input name -> value in the input's unit
    expected: str = ""  # the result in the formula's result unit, to the decimals that count
    reason: str = ""

    @classmethod
    def of(cls, formula: FormulaRow) -> FormulaChangeForm:
        """A change of ``formula``, starting from its current expression."""
        return cls(formula=formula, expression=formula.expression, test_inputs={name: "" for name, _ in formula.inputs})

    def validate(self) -> bool:
        """Check what the form can; True when it can be sent."""
        self.begin()
        expression = self.expression.strip()
        if not expression:
            self.check("expression", Problem("console.problem.formula_expression"))
        elif len(expression) > MAX_EXPRESSION_CHARS:
            self.check("expression", Problem("console.problem.at_most_chars", limit=MAX_EXPRESSION_CHARS))
        for name, _ in self.formula.inputs:
            self._check_number(f"inputs.{name}", self.test_inputs.get(name, ""))
        self._check_number("expected", self.expected)
        reason = self.reason.strip()
        if not reason:
            self.check("reason", Problem("console.problem.library_reason"))
        elif len(reason) > MAX_REASON_CHARS:
            self.check("reason", Problem("console.problem.at_most_chars", limit=MAX_REASON_CHARS))
        return self.valid

    def _check_number(self, key: str, value: str) -> None:
        if len(value.strip()) > MAX_NUMBER_CHARS:
            self.check(key, Problem("console.problem.at_most_chars", limit=MAX_NUMBER_CHARS))
        self.check(key, as_decimal(value)[1])

    def request(self) -> dict[str, Any]:
        """The change as the platform takes it (the body of ``POST /accounting/library/formulas``)."""
        return {
            "code": self.formula.code,
            "expression": self.expression.strip(),
            "reason": self.reason.strip(),
            "test_case": {
                "inputs": {name: self.test_inputs.get(name, "").strip() for name, _ in self.formula.inputs},
                "expected": self.expected.strip(),
            },
        }


@dataclass
class FactorLibrary(Screen):
    """The factor library: editions and the grid series, their versions with diffs, the parameters of a version,
    and a proposed change that becomes a new version (reason + TOTP)."""

    api: ConsoleApi
    libraries: list[Library] = field(default_factory=list)
    library: str | None = None
    versions: list[VersionRow] = field(default_factory=list)  # newest first
    version: int | None = None  # the version whose parameters are shown
    parameters: list[ParameterRow] = field(default_factory=list)
    search: str = ""  # parameter filter: part of the code
    form: LibraryChangeForm | None = None
    created: LibraryVersion | None = None
    formulas: list[FormulaRow] = field(default_factory=list)  # the newest formula version's formulas
    formula_version: int | None = None
    formula_form: FormulaChangeForm | None = None
    formula_versions: list[VersionRow] = field(default_factory=list)  # the formula library's history, newest first

    async def refresh(self) -> bool:
        """Reload the libraries, the chosen one (the first by default) and the formulas."""

        async def work() -> None:
            await self._load_formulas()
            self.libraries = await self.api.library()
            names = [lib.library for lib in self.libraries]
            if self.library not in names:
                self.library = names[0] if names else None
            await self._load_library(self.version)

        return await self._load(work)

    async def select(self, library: str) -> bool:
        """Show another library (its newest version)."""
        self.library = library
        return await self._load(lambda: self._load_library(None))

    async def show_version(self, number: int) -> bool:
        """Show the parameters of another version."""

        async def work() -> None:
            await self._load_parameters(number)

        return await self._load(work)

    async def _load_library(self, number: int | None) -> None:
        if self.library is None:
            self.versions, self.parameters, self.version = [], [], None
            return
        self.versions = [VersionRow.of(v) for v in await self.api.library_versions(self.library)]
        known = {v.number for v in self.versions}
        await self._load_parameters(number if number in known else None)

    async def _load_parameters(self, number: int | None) -> None:
        if self.library is None:
            return
        found = await self.api.library_parameters(self.library, number)
        self.version = found.version
        self.parameters = [ParameterRow.of(p) for p in found.parameters]

    @property
    def selected(self) -> VersionRow | None:
        """The version shown."""
        return next((v for v in self.versions if v.number == self.version), None)

    def visible(self, name: Callable[[str], str] | None = None) -> list[ParameterRow]:
        """The parameters shown with the filter: part of the code, or of the name ``name`` gives a code."""
        needle = self.search.strip().lower()
        return [
            p
            for p in self.parameters
            if needle in p.code.lower() or (name is not None and needle in name(p.code).lower())
        ]

    def parameter(self, code: str) -> ParameterRow:
        """One parameter of the version shown."""
        return next(p for p in self.parameters if p.code == code)

    def change_formula(self, code: str) -> FormulaChangeForm:
        """A change of formula ``code`` of the newest formula version (the one being edited when it is that)."""
        if self.formula_form is None or self.formula_form.formula.code != code:
            self.formula_form = FormulaChangeForm.of(next(f for f in self.formulas if f.code == code))
        return self.formula_form

    async def submit_formula(self) -> LibraryVersion | None:
        """Send the formula change: a new formula version; the formulas and their history are reloaded."""
        form = self.formula_form
        if form is None or not form.validate():
            return None
        body = form.request()
        case = body["test_case"]
        version = await form.send(
            lambda code: self.api.change_formula(
                body["code"], body["expression"], body["reason"], case["inputs"], case["expected"], code
            )
        )
        if version is not None:
            self.formula_form = None
            await self._load(self._load_formulas)
            if self.formula_versions:
                await self.load_formula_versions()
        return version

    async def load_formula_versions(self) -> bool:
        """The formula library's versions, newest first: author, reason, date and what changed."""

        async def work() -> None:
            self.formula_versions = [VersionRow.of(v) for v in await self.api.library_versions(FORMULA_LIBRARY)]

        return await self._load(work)

    async def _load_formulas(self) -> None:
        found = await self.api.library_formulas()
        self.formula_version = found.version
        self.formulas = [FormulaRow.of(f) for f in found.formulas]

    def propose(self) -> LibraryChangeForm:
        """An empty proposal for the library shown."""
        self.form = LibraryChangeForm(library=self.library or "")
        return self.form

    async def submit(self) -> LibraryVersion | None:
        """Send the proposal: a new version; the library is reloaded showing it (its diff rows)."""
        form = self.form
        if form is None or not form.validate():
            return None
        library, reason = form.library, form.reason.strip()
        changes = [c.as_json() for c in form.changes]
        version = await form.send(lambda code: self.api.change_library(library, reason, changes, code))
        if version is not None:
            self.created = version
            self.form = None
            self.library = version.library
            await self._load(lambda: self._load_library(version.number))
        return version


# ---- activity data ------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class ActivityForm(Form):
    """One value of a source's input over a month or local days (the same period again corrects it)."""

    source_id: int | None = None
    input_name: str = ""
    value: str = ""
    unit: str = ""
    month: str = ""  # YYYY-MM, or
    first_day: dt.date | str | None = None  # ... days first_day .. last_day (inclusive)
    last_day: dt.date | str | None = None
    estimated: bool = False
    note: str = ""
    evidence_filename: str = ""  # a file (weighbridge ticket, invoice) to upload with the value
    evidence: bytes | None = None
    evidence_id: int | None = None  # the file once uploaded (kept when the value itself is refused)

    def set_month(self, value: dt.date | str) -> None:
        """The month the value covers: typed (``2025-03``), or a day picked in it (then no days are given)."""
        if isinstance(value, dt.date):
            self.month, self.first_day, self.last_day = f"{value:%Y-%m}", None, None
        else:
            self.month = value

    def set_day(self, name: Literal["first_day", "last_day"], value: dt.date | str) -> None:
        """The first or last day the value covers: typed, or picked (then no month is given)."""
        setattr(self, name, value)
        if isinstance(value, dt.date):
            self.month = ""

    def validate(self, sources: Sequence[EmissionSource]) -> bool:
        """Check the fields; True when the form can be sent."""
        self.begin()
        source = next((s for s in sources if s.id == self.source_id), None)
        if source is None:
            self.check("source_id", Problem("console.problem.source_missing"))
        elif self.input_name not in source.inputs:
            self.check("input_name", Problem("console.problem.choose_one", choices=choices(source.inputs)))
        _, problem = as_decimal(self.value)
        self.check("value", problem)
        if not self.unit.strip():
            self.check("unit", Problem("console.problem.unit_missing"))
        month = self.month.strip()
        first, problem = as_date(self.first_day)
        self.check("first_day", problem)
        last, problem = as_date(self.last_day)
        self.check("last_day", problem)
        if month and (first or last):
            self.check("month", Problem("console.problem.month_or_days"))
        elif month and not _MONTH.match(month):
            self.check("month", Problem("console.problem.month_format"))
        elif not month and not (first and last) and "first_day" not in self.errors and "last_day" not in self.errors:
            self.check("month", Problem("console.problem.period_missing"))
        if first and last and last < first:
            self.check("last_day", Problem("console.problem.days_order"))
        if self.evidence is not None and not self.evidence_filename.strip():
            self.check("evidence_filename", Problem("console.problem.evidence_name"))
        if len(self.note) > 500:
            self.check("note", Problem("console.problem.at_most_chars", limit=500))
        return self.valid


@dataclass
class ActivityEntry(Screen):
    """Manual activity-data entry (人工采集) for an enterprise: the form and the newest records."""

    api: ConsoleApi
    enterprise_id: int
    sources: list[EmissionSource] = field(default_factory=list)
    records: list[ActivityRecord] = field(default_factory=list)
    form: ActivityForm = field(default_factory=ActivityForm)
    saved: ActivityRecord | None = None
    evidence: Evidence | None = None
    limit: int = 100

    async def refresh(self) -> bool:
        """Reload the sources and the newest records."""

        async def work() -> None:
            self.sources = [s for s in await self.api.sources(self.enterprise_id) if s.active]
            self.records = await self.api.activity(self.enterprise_id, limit=self.limit)

        return await self._load(work)

    def source(self, source_id: int) -> EmissionSource:
        """One source by id."""
        return next(s for s in self.sources if s.id == source_id)

    def choose(self, source_id: int, input_name: str | None = None) -> ActivityForm:
        """Pick the source (and input; the first by default): the unit is the one the input is kept in."""
        source = self.source(source_id)
        name = input_name if input_name is not None else next(iter(sorted(source.inputs)), "")
        self.form.source_id, self.form.input_name = source_id, name
        spec = source.inputs.get(name)
        self.form.unit = str(spec.get("unit", "")) if isinstance(spec, Mapping) else ""
        return self.form

    def origin_of(self, source_id: int, input_name: str) -> str:
        """Where the input's data normally comes from (a meter's values entered here substitute for it)."""
        spec = self.source(source_id).inputs.get(input_name)
        return str(spec.get("origin", "")) if isinstance(spec, Mapping) else ""

    async def submit(self) -> ActivityRecord | None:
        """Upload the evidence (if any), enter the value; the records are reloaded."""
        form = self.form
        if not form.validate(self.sources) or form.source_id is None:
            return None
        source_id = form.source_id
        if form.evidence is not None:
            content, filename = form.evidence, form.evidence_filename.strip()
            evidence = await form.send(lambda _code: self.api.upload_evidence(self.enterprise_id, filename, content))
            if evidence is None:
                return None
            self.evidence, form.evidence, form.evidence_id = evidence, None, evidence.id
        evidence_id = form.evidence_id
        month = form.month.strip() or None
        first = None if month else as_date(form.first_day)[0]
        last = None if month else as_date(form.last_day)[0]
        record = await form.send(
            lambda _code: self.api.enter_activity(
                source_id,
                form.input_name,
                form.value.strip(),
                form.unit.strip(),
                month=month,
                first_day=first,
                last_day=last,
                estimated=form.estimated,
                note=form.note.strip(),
                evidence_id=evidence_id,
            )
        )
        if record is not None:
            self.saved = record
            self.form = ActivityForm(source_id=source_id, input_name=form.input_name, unit=form.unit)
            await self.refresh()
        return record


# ---- ledger import ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerProblem:
    """A row problem as the platform names it: a code (``source_unknown``...) and its parameters, all text."""

    code: str
    params: Mapping[str, str]

    @classmethod
    def of(cls, data: Any) -> LedgerProblem:
        """A problem of the import report (anything unreadable gives a code no table has)."""
        if not isinstance(data, Mapping):
            return cls("", {})
        params = data.get("params")
        return cls(
            _text(data.get("code")),
            {str(k): _text(v) for k, v in params.items()} if isinstance(params, Mapping) else {},
        )


# Parameters that list several things (the platform joins them with ", ").
_LISTS = frozenset({"known", "guess", "rows", "units", "same", "choices"})
_CHOICE = re.compile(r"(.+?) \((.+)\)")  # "purchased (MWh)": an input and its unit


def _ledger_param(tr: Translator, name: str, value: str) -> str:
    """A problem's parameter in the reader's words: inputs, units and period columns by name, lists joined."""
    if name == "column":
        return tr.t(f"ledger.column.{value}") if f"ledger.column.{value}" in STRINGS[tr.locale] else value
    if name == "input":
        return acc.input_name(tr, value)
    if name in ("unit", "expected"):
        return acc.unit_label(tr, value)
    if name not in _LISTS:
        return value
    chinese = tr.locale is Locale.ZH_CN
    items = value.split(", ")
    if name in ("units", "same"):
        items = [acc.unit_label(tr, item) for item in items]
    elif name == "choices":
        shape = "{}（{}）" if chinese else "{} ({})"
        items = [
            shape.format(acc.input_name(tr, m.group(1)), acc.unit_label(tr, m.group(2)))
            if (m := _CHOICE.fullmatch(item))
            else item
            for item in items
        ]
    return ("、" if chinese else ", ").join(items)


def ledger_problem_text(tr: Translator, problem: LedgerProblem, english: str) -> str:
    """The problem in the reader's language (``ledger.problem.<code>``); ``english``, the platform's sentence, for a
    code the tables lack."""
    text = STRINGS[tr.locale].get(f"ledger.problem.{problem.code}")
    if text is None:
        return english
    params = {name: _ledger_param(tr, name, value) for name, value in problem.params.items()}
    try:
        return text.format_map(params)
    except (KeyError, IndexError, ValueError):  # a platform newer than these tables: say what it said
        return english


@dataclass(frozen=True)
class LedgerRow:
    """One row of an uploaded ledger as the platform checked it (row numbers as a spreadsheet shows them)."""

    row: int
    valid: bool
    errors: tuple[str, ...]  # the platform's English sentences
    source_code: str
    input_name: str
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    value: Decimal | None
    unit: str
    estimated: bool
    note: str
    problems: tuple[LedgerProblem, ...] = ()  # the errors as codes, same order (none in reports before them)

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> LedgerRow:
        """A row of the import report."""
        return cls(
            row=int(data.get("row", 0)),
            valid=data.get("status") == "valid",
            errors=tuple(str(e) for e in data.get("errors", ())),
            source_code=_text(data.get("source_code")),
            input_name=_text(data.get("input_name")),
            period_start=_instant(data.get("period_start")),
            period_end=_instant(data.get("period_end")),
            value=_dec(data.get("value")),
            unit=_text(data.get("unit")),
            estimated=bool(data.get("estimated", False)),
            note=_text(data.get("note")),
            problems=tuple(LedgerProblem.of(p) for p in data.get("problems") or ()),
        )

    def messages(self, tr: Translator) -> list[str]:
        """Each problem of the row in the reader's language; the English sentence where there is no code."""
        codes = self.problems if len(self.problems) == len(self.errors) else ()
        return [ledger_problem_text(tr, codes[i], error) if codes else error for i, error in enumerate(self.errors)]

    def days(self, zone: zoneinfo.ZoneInfo) -> tuple[dt.date, dt.date] | None:
        """The local days the row covers (first, last inclusive), None when its period is unreadable."""
        if self.period_start is None or self.period_end is None:
            return None
        first = self.period_start.astimezone(zone).date()
        last = (self.period_end.astimezone(zone) - dt.timedelta(microseconds=1)).date()
        return first, last


def _instant(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None


@dataclass
class LedgerImport(Screen):
    """A ledger upload: the row-by-row report (valid and invalid counts, each row's errors), then confirm (write
    the valid rows) or discard."""

    api: ConsoleApi
    enterprise_id: int
    timezone: str = "Asia/Shanghai"
    report: ImportReport | None = None
    rows: list[LedgerRow] = field(default_factory=list)
    invalid_only: bool = False  # list filter

    async def upload(self, filename: str, content: bytes) -> bool:
        """Send the file for checking (nothing is written yet)."""
        if not content:
            self.error = Problem("console.problem.file_empty")
            return False

        async def work() -> None:
            self._show(await self.api.upload_ledger(self.enterprise_id, filename, content))

        return await self._load(work)

    async def confirm(self) -> bool:
        """Write every valid row (all of them, or none)."""
        report = self.report
        if report is None or not self.can_confirm:
            return False

        async def work() -> None:
            self._show(await self.api.confirm_import(report.id))

        return await self._load(work)

    async def discard(self) -> bool:
        """Drop the upload; nothing of it is written."""
        report = self.report
        if report is None or not self.can_discard:
            return False

        async def work() -> None:
            self._show(await self.api.discard_import(report.id))

        return await self._load(work)

    def _show(self, report: ImportReport) -> None:
        self.report = report
        self.rows = sorted((LedgerRow.of(r) for r in report.report), key=lambda r: r.row)

    def clear(self) -> None:
        """Forget the upload shown (to upload another file)."""
        self.report, self.rows, self.error = None, [], ""

    @property
    def status(self) -> str:
        """validated, imported or discarded ("" before an upload)."""
        return self.report.status if self.report else ""

    @property
    def total(self) -> int:
        """Rows in the file."""
        return self.report.total_rows if self.report else 0

    @property
    def valid_count(self) -> int:
        """Rows that can be imported."""
        return self.report.valid_rows if self.report else 0

    @property
    def invalid_count(self) -> int:
        """Rows with problems (left out when confirming)."""
        return self.report.invalid_rows if self.report else 0

    @property
    def can_confirm(self) -> bool:
        """Validated and at least one valid row."""
        return self.status == "validated" and self.valid_count > 0

    @property
    def can_discard(self) -> bool:
        """Still waiting for a decision."""
        return self.status == "validated"

    def visible(self) -> list[LedgerRow]:
        """The rows the report shows with its filter."""
        return [r for r in self.rows if not (self.invalid_only and r.valid)]

    def row_days(self, row: LedgerRow) -> tuple[dt.date, dt.date] | None:
        """The local days a row covers in the enterprise's time zone."""
        return row.days(zoneinfo.ZoneInfo(self.timezone))


# ---- emissions and lineage ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodRow:
    """One period's emissions (tCO2) and the result that explains them (none: accounted for the answer only)."""

    result_id: int | None
    label: str  # 2024-03, 2024-03-05, 2024-W10, 2024, 2024-03-05 14:00 (local)
    start: dt.datetime  # local
    end: dt.datetime
    net: Decimal
    totals: dict[str, Decimal]
    by_category: dict[str, Decimal]
    output: Decimal | None
    intensity: Decimal | None
    complete: bool
    estimated: bool
    final: bool
    version: int
    edition: str
    library_version: int | None
    grid_version: int | None
    pending: bool = False  # inputs changed: the platform is accounting the period again

    @classmethod
    def of(cls, period: EmissionPeriod, kind: str, zone: zoneinfo.ZoneInfo) -> PeriodRow:
        """The row of one period of the API's answer."""
        start, end = period.period_start.astimezone(zone), period.period_end.astimezone(zone)
        return cls(
            result_id=period.result_id,
            label=_label(kind, start),
            start=start,
            end=end,
            net=period.net,
            totals=dict(period.totals),
            by_category=dict(period.by_category),
            output=period.output,
            intensity=period.intensity,
            complete=period.complete,
            estimated=period.estimated,
            final=period.final,
            version=period.version,
            edition=period.edition,
            library_version=period.library_version,
            grid_version=period.grid_version,
            pending=period.pending,
        )


def _label(kind: str, start: dt.datetime) -> str:
    if kind == "year":
        return f"{start.year}"
    if kind == "month":
        return f"{start:%Y-%m}"
    if kind == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if kind == "hour":
        return f"{start:%Y-%m-%d %H:00}"
    return start.date().isoformat()


@dataclass(frozen=True)
class InputLine:
    """An activity input of a source as given (value, unit, where it came from) and as the formula used it."""

    name: str
    value: Decimal | None
    unit: str
    origin: str
    complete: bool
    estimated: bool
    used_value: Decimal | None
    used_unit: str

    @classmethod
    def of(cls, data: Mapping[str, Any], name: str = "") -> InputLine:
        """An input of the lineage."""
        return cls(
            name=_text(data.get("name", name)),
            value=_dec(data.get("value")),
            unit=_text(data.get("unit")),
            origin=_text(data.get("origin")),
            complete=bool(data.get("complete", True)),
            estimated=bool(data.get("estimated", False)),
            used_value=_dec(data.get("used_value", data.get("value"))),
            used_unit=_text(data.get("used_unit", data.get("unit"))),
        )


@dataclass(frozen=True)
class ParameterLine:
    """A parameter of a source's formula: value and unit, where it came from (library default with edition and
    version, grid series, or a measured value), and how it was used."""

    name: str
    code: str
    value: Decimal | None
    unit: str
    used_value: Decimal | None
    used_unit: str
    origin: str
    overridden: bool
    edition: str
    version: str
    source: str
    confidence: str
    default_value: Decimal | None
    estimated: bool

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> ParameterLine:
        """A parameter of the lineage."""
        return cls(
            name=_text(data.get("name")),
            code=_text(data.get("code")),
            value=_dec(data.get("value")),
            unit=_text(data.get("unit")),
            used_value=_dec(data.get("used_value")),
            used_unit=_text(data.get("used_unit")),
            origin=_text(data.get("origin")),
            overridden=bool(data.get("overridden", False)),
            edition=_text(data.get("edition")),
            version=_text(data.get("version")),
            source=_text(data.get("source")),
            confidence=_text(data.get("confidence")),
            default_value=_dec(data.get("default_value")),
            estimated=bool(data.get("estimated", False)),
        )


@dataclass(frozen=True)
class SourceLine:
    """One source's emission in a result, with its formula, inputs and parameters."""

    code: str
    name: str
    process: str  # process code ("" for enterprise-level sources)
    process_name: str
    category: str
    group: str  # combustion, process, electricity, heat, fixed_carbon
    item: str
    emission: Decimal
    unit: str
    formula_id: str
    formula_version: str
    expression: str
    edition: str
    edition_version: str
    complete: bool
    estimated: bool
    inputs: tuple[InputLine, ...]
    parameters: tuple[ParameterLine, ...]

    @classmethod
    def of(cls, data: Mapping[str, Any], processes: Mapping[str, str]) -> SourceLine:
        """A source of the lineage."""
        process = _text(data.get("process"))
        return cls(
            code=_text(data.get("source_id")),
            name=_text(data.get("name")),
            process=process,
            process_name=processes.get(process, ""),
            category=_text(data.get("category")),
            group=_text(data.get("group")),
            item=_text(data.get("item")),
            emission=_dec(data.get("emission")) or Decimal(0),
            unit=_text(data.get("unit")),
            formula_id=_text(data.get("formula_id")),
            formula_version=_text(data.get("formula_version")),
            expression=_text(data.get("expression")),
            edition=_text(data.get("edition")),
            edition_version=_text(data.get("edition_version")),
            complete=bool(data.get("complete", True)),
            estimated=bool(data.get("estimated", False)),
            inputs=tuple(InputLine.of(i) for i in data.get("inputs", ())),
            parameters=tuple(ParameterLine.of(p) for p in data.get("parameters", ())),
        )

    def parameter(self, name: str) -> ParameterLine:
        """A parameter by its name in the formula (NCV, CC, OF, EF ...)."""
        return next(p for p in self.parameters if p.name == name)


@dataclass(frozen=True)
class ResultVersion:
    """Another version of the same period's result (recalculated after corrections or a library change)."""

    result_id: int
    version: int
    net: Decimal | None
    current: bool
    created_at: str
    reason: str

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> ResultVersion:
        """A version as the lineage lists it."""
        return cls(
            result_id=int(data.get("result_id", 0)),
            version=int(data.get("version", 0)),
            net=_dec(data.get("net")),
            current=bool(data.get("current", False)),
            created_at=_text(data.get("created_at")),
            reason=_text(data.get("reason")),
        )


@dataclass(frozen=True)
class LineageView:
    """What a result was computed from: totals, each source with inputs and parameters, notes, other versions."""

    result_id: int
    period: str
    period_start: dt.datetime
    period_end: dt.datetime
    version: int
    current: bool
    final: bool
    created_by: str
    reason: str
    edition: str
    edition_version: str
    library_version: int | None
    grid_version: int | None
    complete: bool
    estimated: bool
    totals: dict[str, Decimal]
    by_category: dict[str, Decimal]
    crude_steel: InputLine | None
    intensity: Decimal | None
    sources: tuple[SourceLine, ...]
    notes: tuple[str, ...]
    versions: tuple[ResultVersion, ...]

    @classmethod
    def of(cls, lineage: Lineage) -> LineageView:
        """The drill-down of the API's lineage."""
        data = lineage.lineage
        processes = {str(k): str(v) for k, v in (data.get("processes") or {}).items()}
        crude = data.get("crude_steel")
        return cls(
            result_id=lineage.result_id,
            period=lineage.period,
            period_start=lineage.period_start,
            period_end=lineage.period_end,
            version=lineage.version,
            current=lineage.current,
            final=lineage.final,
            created_by=lineage.created_by,
            reason=lineage.reason,
            edition=_text(data.get("edition")),
            edition_version=_text(data.get("edition_version")),
            library_version=data.get("library_version"),
            grid_version=data.get("grid_version"),
            complete=bool(data.get("complete", True)),
            estimated=bool(data.get("estimated", False)),
            totals=_decimals(data.get("totals")),
            by_category=_decimals(data.get("by_category")),
            crude_steel=InputLine.of(crude, "crude_steel") if isinstance(crude, Mapping) else None,
            intensity=_dec(data.get("intensity")),
            sources=tuple(SourceLine.of(s, processes) for s in data.get("sources", ())),
            notes=tuple(str(n) for n in data.get("notes", ())),
            versions=tuple(ResultVersion.of(v) for v in lineage.versions),
        )

    @property
    def net(self) -> Decimal | None:
        """Net emissions of the result (tCO2)."""
        return self.totals.get("net")

    def source(self, code: str) -> SourceLine:
        """One source by its code."""
        return next(s for s in self.sources if s.code == code)


def _decimals(values: Any) -> dict[str, Decimal]:
    if not isinstance(values, Mapping):
        return {}
    return {str(k): d for k, v in values.items() if (d := _dec(v)) is not None}


@dataclass(kw_only=True)
class EmissionsQuery(Form):
    """What to show: an enterprise or one of its processes, the period kind and the range [start, end)."""

    scope: Literal["enterprise", "process"] = "enterprise"
    scope_id: int | None = None
    period: PeriodKind = "month"
    start: dt.date | str = ""  # a date, or "2024", "2024-03", "2024-03-05"
    end: dt.date | str = ""  # exclusive

    def validate(self) -> bool:
        """Check the query; True when it can be sent."""
        self.begin()
        if self.scope not in ("enterprise", "process"):
            self.check("scope", Problem("console.problem.scope_missing"))
        if self.scope_id is None:
            self.check("scope_id", Problem("console.problem.scope_missing"))
        if self.period not in PERIOD_KINDS:
            self.check("period", Problem("console.problem.choose_one", choices=choices(PERIOD_KINDS)))
        start, end = self._day("start"), self._day("end")
        if start is not None and end is not None and end <= start:
            self.check("end", Problem("console.problem.end_after_start"))
        return self.valid

    def _day(self, name: str) -> dt.date | None:
        text = self.bound(name)
        first = _first_day(text) if _PERIOD_BOUND.match(text) else None
        if first is None:
            self.check(name, Problem("console.problem.period_bound"))
        return first

    def set_bound(self, name: Literal["start", "end"], value: dt.date | str) -> None:
        """``start`` or ``end``: typed as a year, month or day, or a day picked (kept as the year, month or day
        of the period kind: a month query starts at a month)."""
        if isinstance(value, dt.date):
            if self.period == "year":
                value = f"{value.year}"
            elif self.period == "month":
                value = f"{value:%Y-%m}"
            else:
                value = value.isoformat()
        setattr(self, name, value)

    def bound(self, name: str) -> str:
        """``start`` or ``end`` as the API takes it (a year is its first month: ``2024`` -> ``2024-01``)."""
        value = getattr(self, name)
        text = value.isoformat() if isinstance(value, dt.date) else str(value).strip()
        return f"{text}-01" if len(text) == 4 and text.isdigit() else text


def _first_day(text: str) -> dt.date | None:
    parts = [int(p) for p in text.split("-")]
    try:
        return dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except ValueError:
        return None


@dataclass
class EmissionsExplorer(Screen):
    """Emissions by period of an enterprise or a process, and the lineage drill-down of one result."""

    api: ConsoleApi
    enterprise_id: int
    query: EmissionsQuery = field(default_factory=EmissionsQuery)
    processes: list[Process] = field(default_factory=list)
    name: str = ""
    unit: str = "tCO2"
    timezone: str = "Asia/Shanghai"
    rows: list[PeriodRow] = field(default_factory=list)
    lineage: LineageView | None = None
    source_code: str | None = None  # the source drilled into

    async def load_choices(self) -> bool:
        """The processes of the enterprise (the scopes to choose from)."""

        async def work() -> None:
            self.processes = sorted(await self.api.processes(self.enterprise_id), key=lambda p: p.code)

        return await self._load(work)

    async def load(self) -> bool:
        """Account and show the periods of the query (the enterprise when no scope is chosen)."""
        if self.query.scope_id is None and self.query.scope == "enterprise":
            self.query.scope_id = self.enterprise_id
        if not self.query.validate():
            return False
        q = self.query

        async def work() -> None:
            scope_id = q.scope_id if q.scope_id is not None else self.enterprise_id
            page = await self.api.emissions(q.scope, scope_id, q.period, q.bound("start"), q.bound("end"))
            self.name, self.unit, self.timezone = page.name, page.unit, page.timezone or self.timezone
            zone = zoneinfo.ZoneInfo(self.timezone)
            self.rows = [PeriodRow.of(p, page.period, zone) for p in page.results]
            self.lineage, self.source_code = None, None

        return await self._load(work)

    @property
    def total(self) -> Decimal:
        """Net emissions over the range (tCO2)."""
        return sum((r.net for r in self.rows), Decimal(0))

    @property
    def complete(self) -> bool:
        """Every period accounted from complete data."""
        return all(r.complete for r in self.rows)

    def categories(self) -> list[str]:
        """The categories with emissions in any period (the columns of the table)."""
        found: list[str] = []
        for row in self.rows:
            found.extend(c for c, v in row.by_category.items() if v and c not in found)
        return found

    async def drill(self, result_id: int) -> LineageView | None:
        """Open a result: its sources, each with inputs and parameters (origins, versions) and the notes."""
        view: list[LineageView] = []

        async def work() -> None:
            view.append(LineageView.of(await self.api.lineage(result_id)))

        if not await self._load(work):
            return None
        self.lineage, self.source_code = view[0], None
        return self.lineage

    def drill_source(self, code: str) -> SourceLine | None:
        """Open one source of the result shown."""
        if self.lineage is None:
            return None
        self.source_code = code
        return self.lineage.source(code)

    def back(self) -> None:
        """One level up: from a source to the result, from the result to the periods."""
        if self.source_code is not None:
            self.source_code = None
        else:
            self.lineage = None


# ---- annual report ------------------------------------------------------------------------------------------------


@dataclass
class ReportExport(Screen):
    """The annual report per GB/T 32151.5 (XLSX) of an enterprise: bytes and the suggested file name."""

    api: ConsoleApi
    enterprise_id: int
    year: int = field(default_factory=lambda: dt.datetime.now(dt.UTC).year - 1)
    lang: Literal["zh", "en"] = "zh"
    file: ReportFile | None = None

    async def export(self) -> ReportFile | None:
        """Build the report (the year's result is accounted now if needed)."""
        if not 2000 <= self.year <= 2100:
            self.error = Problem("console.problem.report_year")
            return None
        if self.lang not in ("zh", "en"):
            self.error = Problem("console.problem.report_lang")
            return None
        found: list[ReportFile] = []

        async def work() -> None:
            found.append(await self.api.annual_report_file(self.enterprise_id, self.year, self.lang))

        if not await self._load(work):
            return None
        self.file = found[0]
        return self.file

    @property
    def filename(self) -> str:
        """The file name to save as ("" before an export)."""
        return self.file.filename if self.file else ""

    @property
    def content(self) -> bytes:
        """The file's bytes (empty before an export)."""
        return self.file.content if self.file else b""

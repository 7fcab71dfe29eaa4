"""Routes of benchmarking (standards 5.4.5 and 5.4.7): ``/api/v1/benchmarking``.

The indicator catalogue, the reference libraries (national, and each enterprise's own) with their versions, the
correction inputs of processes, the gap analysis, the reduction potential, the measures library (shared and each
enterprise's own) and the reduction scenarios with their MAC curves. Values travel as exact decimal strings.
Changing a library (references or measures) needs ``accounting.library`` and a TOTP step-up, as the factor library
does; writing a scenario (planning data) needs ``accounting.library`` without a step-up; entering a correction input
needs ``accounting.write``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from cem_platform.accounting import units
from cem_platform.accounting.inventory import enterprise_for
from cem_platform.accounting.models import PeriodKind
from cem_platform.accounting.routes import VersionOut
from cem_platform.benchmarking.measures import SHARED, change_measures, enterprise_measures, measures_version
from cem_platform.benchmarking.models import CorrectionInput, ReferenceVersion, Scenario
from cem_platform.benchmarking.potential import Potential, potential
from cem_platform.benchmarking.references import (
    INDICATORS,
    INPUTS,
    NATIONAL,
    BenchmarkError,
    EntryChange,
    change_entries,
    enterprise_library,
    known_process_types,
    version_of,
)
from cem_platform.benchmarking.scenarios import (
    ScenarioIn,
    ScenarioOut,
    ScenarioResult,
    create_scenario,
    delete_scenario,
    scenario_of,
    scenario_out,
    scenario_result,
    update_scenario,
)
from cem_platform.benchmarking.services import Analysis, analyse, set_input
from cem_platform.errors import NotFoundError
from cem_platform.identity.http import principal_of, requires, requires_step_up
from cem_platform.identity.principal import Principal
from cem_platform.identity.roles import Permission
from cem_platform.org.models import Enterprise, Process

__all__ = ["BenchmarkingController"]

AnyRequest = Request[Any, Any, Any]
_LIBRARY = "^(national|enterprise)$"


class IndicatorOut(msgspec.Struct, kw_only=True):
    """An indicator of the indicator database, fed by the statistics service."""

    code: str
    unit: str
    metric: str
    name: str
    name_en: str


class InputDefinitionOut(msgspec.Struct, kw_only=True):
    """A value corrections and conditions use: entered per process and month or year, or derived."""

    name: str
    unit: str
    lowest: str
    highest: str
    label: str
    label_en: str
    derived_from: str


class CatalogueOut(msgspec.Struct, kw_only=True):
    """What can be measured, referenced and entered."""

    indicators: list[IndicatorOut]
    inputs: list[InputDefinitionOut]
    kinds: list[str]


class EntriesOut(msgspec.Struct, kw_only=True):
    """The entries of one version (version 0: an enterprise library with none yet)."""

    library: str
    version: int
    entries: list[dict[str, Any]]


class EntryChangeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Set an entry (the whole entry, see the entries route for its fields) or remove it."""

    code: Annotated[str, msgspec.Meta(max_length=64)]
    entry: dict[str, Any] | None = None
    remove: bool = False


class LibraryChangeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new version of a reference library: the changes and why."""

    library: Annotated[str, msgspec.Meta(pattern=_LIBRARY)]
    enterprise_id: int | None = None  # library "enterprise": whose
    reason: Annotated[str, msgspec.Meta(max_length=500)]
    changes: Annotated[list[EntryChangeIn], msgspec.Meta(max_length=100)]


class InputIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A correction input of a process for a month (2026-03) or a year (2026); ``value`` null removes it."""

    process_id: int
    name: Annotated[str, msgspec.Meta(max_length=32)]
    period: Annotated[str, msgspec.Meta(max_length=7)]
    value: Annotated[str, msgspec.Meta(max_length=40)] | None
    source: Annotated[str, msgspec.Meta(max_length=300)] = ""


class InputOut(msgspec.Struct, kw_only=True):
    """A correction input as entered."""

    process_id: int
    name: str
    period: str
    value: str
    unit: str
    source: str
    entered_by: str
    entered_at: dt.datetime


def _version_out(v: ReferenceVersion) -> VersionOut:
    return VersionOut(
        library=v.library, number=v.number, author=v.author, reason=v.reason, created_at=v.created_at, diff=v.diff
    )


def _input_out(row: CorrectionInput) -> InputOut:
    return InputOut(
        process_id=row.process_id,
        name=row.name,
        period=row.period,
        value=units.exact_text(row.value),
        unit=row.unit,
        source=row.source,
        entered_by=row.entered_by,
        entered_at=row.entered_at,
    )


async def _library(principal: Principal, library: str, enterprise_id: int | None) -> tuple[str, int | None]:
    """The stored name of ``national`` or an enterprise's library (scope checked)."""
    if library == NATIONAL:
        return NATIONAL, None
    if enterprise_id is None:
        raise BenchmarkError("An enterprise library needs its enterprise_id.")
    enterprise = await enterprise_for(principal, enterprise_id)
    return enterprise_library(enterprise.id), enterprise.id


async def _measures_library(principal: Principal, library: str, enterprise_id: int | None) -> tuple[str, int | None]:
    """The stored name of the shared measures library (asked as ``national``) or an enterprise's (scope checked)."""
    if library == NATIONAL:
        return SHARED, None
    if enterprise_id is None:
        raise BenchmarkError("An enterprise's measures library needs its enterprise_id.")
    enterprise = await enterprise_for(principal, enterprise_id)
    return enterprise_measures(enterprise.id), enterprise.id


async def _process(principal: Principal, process_id: int) -> Process:
    process = await Process.get_or_none(id=process_id).prefetch_related("site")
    if process is None or not principal.scope.sees_enterprise(process.site.enterprise_id):
        raise NotFoundError(f"No process {process_id} within your scope.")
    await enterprise_for(principal, process.site.enterprise_id)
    return process


class BenchmarkingController(Controller):
    """Indicator, benchmark and limit databases and the gap analysis (standard 5.4.5)."""

    path = "/benchmarking"
    tags = ["benchmarking"]

    @get("/indicators", guards=[requires(Permission.EMISSIONS_READ)], summary="Indicators and correction inputs")
    async def catalogue(self) -> CatalogueOut:
        """The indicators (unit, the statistics metric they come from) and the inputs corrections and conditions
        use (unit, range, what the platform derives them from where it can)."""
        return CatalogueOut(
            indicators=[
                IndicatorOut(code=i.code, unit=i.unit, metric=i.metric, name=i.name, name_en=i.name_en)
                for i in INDICATORS.values()
            ],
            inputs=[
                InputDefinitionOut(
                    name=d.name,
                    unit=d.unit,
                    lowest=str(d.lowest),
                    highest=str(d.highest),
                    label=d.label,
                    label_en=d.label_en,
                    derived_from=d.derived_from,
                )
                for d in INPUTS.values()
            ],
            kinds=["limit", "benchmark", "target"],
        )

    @get("/versions", guards=[requires(Permission.EMISSIONS_READ)], summary="Versions of a reference library")
    async def versions(
        self,
        request: AnyRequest,
        library: Annotated[str, QueryParameter(pattern=_LIBRARY, description="national or enterprise")],
        enterprise_id: Annotated[int | None, QueryParameter(ge=1)] = None,
    ) -> list[VersionOut]:
        """Every version with author, reason, time and diff, newest first."""
        name, _ = await _library(principal_of(request), library, enterprise_id)
        await version_of(name)
        return [_version_out(v) for v in await ReferenceVersion.filter(library=name).order_by("-number")]

    @get("/entries", guards=[requires(Permission.EMISSIONS_READ)], summary="Entries of a reference library")
    async def entries(
        self,
        request: AnyRequest,
        library: Annotated[str, QueryParameter(pattern=_LIBRARY, description="national or enterprise")],
        enterprise_id: Annotated[int | None, QueryParameter(ge=1)] = None,
        version: Annotated[int | None, QueryParameter(ge=1, description="default: the newest")] = None,
        kind: Annotated[str | None, QueryParameter(pattern="^(limit|benchmark|target)$")] = None,
        process_type: Annotated[str | None, QueryParameter(max_length=32)] = None,
    ) -> EntriesOut:
        """The entries of one version: kind (limit, benchmark, target), process type (null: the enterprise as a
        whole), indicator and unit, levels best first (lower is better; a limit's ``limit_level`` is binding),
        corrections and condition, source, edition, validity, ``confidence`` and ``checked`` (how far the values were
        checked against a second source). The benchmark database is the benchmark entries and the levels of the
        limits (GB 21256's grades); the limit database is the limits."""
        name, _ = await _library(principal_of(request), library, enterprise_id)
        stored = await version_of(name, version)
        items = list(stored.entries) if stored is not None else []
        if kind is not None:
            items = [e for e in items if e["kind"] == kind]
        if process_type is not None:
            known = await known_process_types()
            if process_type not in known:
                raise BenchmarkError(
                    f"Unknown process type {process_type!r}.", hint=f"Process types: {', '.join(sorted(known))}."
                )
            items = [e for e in items if e.get("process_type") == process_type]
        return EntriesOut(library=name, version=stored.number if stored is not None else 0, entries=items)

    @post(
        "/versions",
        guards=[requires(Permission.ACCOUNTING_LIBRARY), requires_step_up],
        status_code=HTTP_201_CREATED,
        summary="Change a reference library (TOTP step-up)",
    )
    async def change(self, request: AnyRequest, data: JSONBody[LibraryChangeIn]) -> VersionOut:
        """Add a version with these changes (audited, refusals too). Analyses keep the versions they name. The
        national library is changed at the group level; an enterprise's own by its accountants."""
        principal = principal_of(request)
        name, enterprise_id = await _library(principal, data.library, data.enterprise_id)
        changes = [EntryChange(code=c.code, entry=c.entry, remove=c.remove) for c in data.changes]
        return _version_out(await change_entries(principal, name, enterprise_id, changes, data.reason))

    @get("/inputs", guards=[requires(Permission.EMISSIONS_READ)], summary="Correction inputs of a process")
    async def inputs(self, request: AnyRequest, process_id: Annotated[int, QueryParameter(ge=1)]) -> list[InputOut]:
        """The inputs entered for the process, by name and period."""
        process = await _process(principal_of(request), process_id)
        rows = await CorrectionInput.filter(process_id=process.id).order_by("name", "period")
        return [_input_out(r) for r in rows]

    @put(
        "/inputs",
        guards=[requires(Permission.ACCOUNTING_WRITE)],
        status_code=HTTP_200_OK,
        summary="Enter a correction input",
    )
    async def put_input(self, request: AnyRequest, data: JSONBody[InputIn]) -> InputOut | None:
        """Enter (or replace, or with ``value`` null remove) the input of a process for a month or a year, with its
        source; audited. A month's value wins over its year's."""
        row = await set_input(principal_of(request), data.process_id, data.name, data.period, data.value, data.source)
        return _input_out(row) if row is not None else None

    @get("/gap", guards=[requires(Permission.EMISSIONS_READ)], summary="Gap analysis against benchmarks and limits")
    async def gap(
        self,
        request: AnyRequest,
        scope_kind: Annotated[str, QueryParameter(name="scope", pattern="^(enterprise|process)$")],
        scope_id: Annotated[int, QueryParameter(name="id", ge=1)],
        period: Annotated[str, QueryParameter(pattern="^(month|year)$")],
        start: Annotated[str, QueryParameter(name="from", max_length=7, description="2026-01 (month) or 2026")],
        end: Annotated[
            str | None, QueryParameter(name="to", max_length=7, description="included; default: from")
        ] = None,
        indicator: Annotated[str | None, QueryParameter(max_length=32, description="default: every indicator")] = None,
        national_version: Annotated[int | None, QueryParameter(ge=1)] = None,
        enterprise_version: Annotated[int | None, QueryParameter(ge=1)] = None,
    ) -> Analysis:
        """Each process's actual intensity (and the enterprise's) per period against every benchmark, limit and target
        that applies: the level reached ("二级, 距一级 3.2 kgce/t"), the gap to every level (absolute and in %), a
        limit's corrected value and whether it is exceeded, the corrections applied with their inputs and those
        missing, and the trend over the periods. ``versions`` names the library versions used: pass them as
        ``national_version`` / ``enterprise_version`` to repeat the analysis exactly."""
        principal = principal_of(request)
        process: Process | None = None
        if scope_kind == "process":
            process = await _process(principal, scope_id)
            enterprise_id = process.site.enterprise_id
        else:
            enterprise_id = scope_id
        kind = PeriodKind(period)
        return await analyse(
            principal,
            enterprise_id,
            kind,
            start.strip(),
            (end or start).strip(),
            process=process,
            indicators=[indicator] if indicator else None,
            national_version=national_version,
            enterprise_version=enterprise_version,
        )

    @get(
        "/potential",
        guards=[requires(Permission.EMISSIONS_READ)],
        summary="Reduction potential per process and of the enterprise",
    )
    async def potential(
        self,
        request: AnyRequest,
        enterprise_id: Annotated[int, QueryParameter(ge=1)],
        period: Annotated[str, QueryParameter(pattern="^(month|year)$")],
        start: Annotated[str, QueryParameter(name="from", max_length=7, description="2026-01 (month) or 2026")],
        end: Annotated[
            str | None, QueryParameter(name="to", max_length=7, description="included; default: from")
        ] = None,
        reference: Annotated[
            str | None,
            QueryParameter(
                max_length=90,
                description="LEVEL (e.g. 1, benchmark, target) or ENTRY:LEVEL; default: the best level of the "
                "national limits and benchmarks that apply, the strictest",
            ),
        ] = None,
        national_version: Annotated[int | None, QueryParameter(ge=1)] = None,
        enterprise_version: Annotated[int | None, QueryParameter(ge=1)] = None,
    ) -> Potential:
        """Per active process and period: the actual intensity (process energy kgce/t, CO2 tCO2/t, as the gap
        analysis has them, with their lineage), the reference level chosen (its entry, library version and
        corrections), the output, and the potential = (actual − reference) × output in tce and tCO2; 0 for a process
        at or better than its reference, nothing counted (and why) without output or without a reference. Summed to
        the enterprise per period and over the range, exactly. ``versions`` names the library versions used."""
        return await potential(
            principal_of(request),
            enterprise_id,
            PeriodKind(period),
            start.strip(),
            (end or start).strip(),
            reference,
            national_version=national_version,
            enterprise_version=enterprise_version,
        )

    # ---- measures library -----------------------------------------------------------------------------------------

    @get("/measures/versions", guards=[requires(Permission.EMISSIONS_READ)], summary="Versions of a measures library")
    async def measure_versions(
        self,
        request: AnyRequest,
        library: Annotated[str, QueryParameter(pattern=_LIBRARY, description="national (shared) or enterprise")],
        enterprise_id: Annotated[int | None, QueryParameter(ge=1)] = None,
    ) -> list[VersionOut]:
        """Every version of the shared measures library (``national``) or an enterprise's own, with author, reason,
        time and diff, newest first."""
        name, _ = await _measures_library(principal_of(request), library, enterprise_id)
        await measures_version(name)
        return [_version_out(v) for v in await ReferenceVersion.filter(library=name).order_by("-number")]

    @get("/measures", guards=[requires(Permission.EMISSIONS_READ)], summary="Measures of a measures library")
    async def measures(
        self,
        request: AnyRequest,
        library: Annotated[str, QueryParameter(pattern=_LIBRARY, description="national (shared) or enterprise")],
        enterprise_id: Annotated[int | None, QueryParameter(ge=1)] = None,
        version: Annotated[int | None, QueryParameter(ge=1, description="default: the newest")] = None,
        process_type: Annotated[str | None, QueryParameter(max_length=32)] = None,
    ) -> EntriesOut:
        """The measures of one version: process types, effect kind (``per_tonne``: co2 tCO2/t and energy kgce/t of
        the process's product saved; ``fraction``: the share of the process's CO2 and energy removed), capex (CNY per
        t/a of output) and opex (CNY per t), lifetime in years, source, ``confidence`` and ``checked``. Null values
        are not known (a measure without costs has no cost on the MAC curve)."""
        name, _ = await _measures_library(principal_of(request), library, enterprise_id)
        stored = await measures_version(name, version)
        items = list(stored.entries) if stored is not None else []
        if process_type is not None:
            known = await known_process_types()
            if process_type not in known:
                raise BenchmarkError(
                    f"Unknown process type {process_type!r}.", hint=f"Process types: {', '.join(sorted(known))}."
                )
            items = [m for m in items if process_type in m["process_types"]]
        return EntriesOut(library=name, version=stored.number if stored is not None else 0, entries=items)

    @post(
        "/measures/versions",
        guards=[requires(Permission.ACCOUNTING_LIBRARY), requires_step_up],
        status_code=HTTP_201_CREATED,
        summary="Change a measures library (TOTP step-up)",
    )
    async def change_measures(self, request: AnyRequest, data: JSONBody[LibraryChangeIn]) -> VersionOut:
        """Add a version with these changes (audited, refusals too); scenarios keep the versions they pinned. The
        shared library (``national``) is changed at the group level; an enterprise's own by its accountants."""
        principal = principal_of(request)
        name, enterprise_id = await _measures_library(principal, data.library, data.enterprise_id)
        changes = [EntryChange(code=c.code, entry=c.entry, remove=c.remove) for c in data.changes]
        return _version_out(await change_measures(principal, name, enterprise_id, changes, data.reason))

    # ---- scenarios ------------------------------------------------------------------------------------------------

    @get("/scenarios", guards=[requires(Permission.EMISSIONS_READ)], summary="Reduction scenarios of an enterprise")
    async def scenarios(
        self,
        request: AnyRequest,
        enterprise_id: Annotated[
            int | None, QueryParameter(ge=1, description="default: every one in your scope")
        ] = None,
    ) -> list[ScenarioOut]:
        """The scenarios of the enterprise (of every enterprise wholly in your scope when none is given), by
        enterprise and name."""
        principal = principal_of(request)
        if enterprise_id is not None:
            ids = [(await enterprise_for(principal, enterprise_id)).id]
        else:
            ids = [e.id for e in await Enterprise.all().only("id") if principal.scope.covers_enterprise(e.id)]
        rows = await Scenario.filter(enterprise_id__in=ids).order_by("enterprise_id", "name")
        return [scenario_out(s) for s in rows]

    @post(
        "/scenarios",
        guards=[requires(Permission.ACCOUNTING_LIBRARY)],
        status_code=HTTP_201_CREATED,
        summary="Create a reduction scenario",
    )
    async def create_scenario(self, request: AnyRequest, data: JSONBody[ScenarioIn]) -> ScenarioOut:
        """A scenario: name, base year, discount rate (a fraction a year, default 0.08), energy price (CNY per tce
        saved, default 0) and the measures applied ``{measure, process_id, adoption}`` (adoption: the share of the
        process's output covered, (0, 1]). The measures libraries' newest versions are pinned. Audited."""
        return scenario_out(await create_scenario(principal_of(request), data))

    @get("/scenarios/{scenario_id:int}", guards=[requires(Permission.EMISSIONS_READ)], summary="A reduction scenario")
    async def scenario(self, request: AnyRequest, scenario_id: FromPath[int]) -> ScenarioOut:
        """One scenario as stored."""
        return scenario_out(await scenario_of(principal_of(request), scenario_id))

    @put(
        "/scenarios/{scenario_id:int}",
        guards=[requires(Permission.ACCOUNTING_LIBRARY)],
        status_code=HTTP_200_OK,
        summary="Change a reduction scenario",
    )
    async def update_scenario(
        self, request: AnyRequest, scenario_id: FromPath[int], data: JSONBody[ScenarioIn]
    ) -> ScenarioOut:
        """Replace the scenario's fields; its measures versions are pinned anew to the newest. Audited."""
        return scenario_out(await update_scenario(principal_of(request), scenario_id, data))

    @delete(
        "/scenarios/{scenario_id:int}",
        guards=[requires(Permission.ACCOUNTING_LIBRARY)],
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a reduction scenario",
    )
    async def delete_scenario(self, request: AnyRequest, scenario_id: FromPath[int]) -> None:
        """Delete the scenario (audited, with what it was)."""
        await delete_scenario(principal_of(request), scenario_id)

    @get(
        "/scenarios/{scenario_id:int}/result",
        guards=[requires(Permission.EMISSIONS_READ)],
        summary="A scenario's projection and MAC curve",
    )
    async def scenario_result(self, request: AnyRequest, scenario_id: FromPath[int]) -> ScenarioResult:
        """Per process and for the enterprise: the base year's tCO2 and tce (the statistics as kept, as the gap
        analysis has them), each measure's abatement (tCO2) and energy saving (tce), the projected emissions and
        intensity; and the MAC curve: per application the annualised cost (capex × capital recovery factor + opex −
        energy saved × energy price, CNY a year) and cost per tCO2, cheapest first, with the cumulative abatement.
        Computed with the measures versions the scenario pinned (``versions``); ``notes`` say what was not counted.
        Measures on one process combine as :mod:`cem_platform.benchmarking.scenarios` documents: per-tonne savings
        first (never below zero), then fractions of what is left."""
        principal = principal_of(request)
        return await scenario_result(principal, await scenario_of(principal, scenario_id))

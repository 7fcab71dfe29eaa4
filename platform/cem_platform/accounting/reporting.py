"""Reporting states of an enterprise's year: draft → submitted → verified → locked, and back only on purpose.

* **draft** — the year's results follow their inputs (the refresh job keeps them current).
* **submitted** — an accountant submitted the year's kept result: its figures, library versions and inputs are
  kept exactly. Late data or a factor change no longer touch the year's kept results; the refresh job accounts
  the year aside and records what it *would* be ("would change by X") on the reporting year.
* **verified** — the year's assigned third-party verifier (role ``verifier``, read-only on the enterprise)
  recorded the verified figures and findings.
* **locked** — closed.

A submitted or verified year goes back to draft when an accountant asks for a new draft, with a reason; a
locked year only by reopening it, with TOTP step-up. Every transition and every refusal is audited; the history
of transitions is kept on the row.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from cem_platform.accounting import calculation, units
from cem_platform.accounting.formulas import AccountingError
from cem_platform.accounting.inventory import enterprise_for
from cem_platform.accounting.models import (
    EmissionResult,
    PendingRecalculation,
    PeriodKind,
    ReportingYear,
    ReportState,
)
from cem_platform.accounting.pending import mark
from cem_platform.accounting.periods import local_midnight, year_of
from cem_platform.accounting.scopes import CN_ETS_STEEL, scope_total
from cem_platform.audit import services as audit
from cem_platform.errors import CemError, ConflictError, InvalidInputError, PermissionDeniedError
from cem_platform.identity.models import User, UserScope
from cem_platform.identity.principal import Principal
from cem_platform.identity.roles import Permission, Role
from cem_platform.org.models import Enterprise

__all__ = [
    "assign_verifier",
    "check_verifier_range",
    "figures_of",
    "lock",
    "new_draft",
    "record_drift",
    "reopen",
    "reporting_year",
    "submit",
    "verify",
]

_MAX_REASON = 500


def _year_bounds(enterprise: Enterprise, year: int) -> tuple[dt.datetime, dt.datetime]:
    zone = zoneinfo.ZoneInfo(enterprise.timezone)
    return local_midnight(dt.date(year, 1, 1), zone), local_midnight(dt.date(year + 1, 1, 1), zone)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else units.exact_text(value)


def figures_of(result: EmissionResult | Mapping[str, Any]) -> dict[str, Any]:
    """The reported figures of a year result (exact strings): the full total, the national-market direct
    scope and both intensities per tonne of crude steel, with the versions they were accounted under."""
    if isinstance(result, EmissionResult):
        totals = {
            "combustion": result.combustion,
            "process": result.process_emissions,
            "electricity": result.electricity,
            "heat": result.heat,
            "fixed_carbon": result.fixed_carbon,
            "net": result.net,
        }
        crude = result.crude_steel
        extra = {
            "result_id": result.id,
            "version": result.version,
            "fingerprint": result.fingerprint,
            "edition": result.edition,
            "library_version": result.library_version,
            "grid_version": result.grid_version,
        }
    else:  # a lineage accounted aside
        totals = {k: Decimal(v) for k, v in result["totals"].items()}
        crude = Decimal(result["crude_steel"]["value"]) if result.get("crude_steel") else None
        extra = {
            "edition": result["edition"],
            "library_version": result["library_version"],
            "grid_version": result["grid_version"],
        }
    direct = scope_total(CN_ETS_STEEL, totals)
    return {
        **{k: _text(v) for k, v in totals.items()},
        "direct": _text(direct),
        "direct_scope": f"{CN_ETS_STEEL.code} v{CN_ETS_STEEL.version}",
        "crude_steel": _text(crude),
        "intensity": _text(totals["net"] / crude) if crude else None,
        "direct_intensity": _text(direct / crude) if crude else None,
        **extra,
    }


async def reporting_year(principal: Principal, enterprise_id: int, year: int) -> ReportingYear:
    """The year's reporting state (an unsaved draft when nobody has acted on it yet: reads write nothing)."""
    enterprise = await enterprise_for(principal, enterprise_id)
    await check_verifier_range(principal, enterprise, *_year_bounds(enterprise, year))
    row = await ReportingYear.get_or_none(enterprise_id=enterprise_id, year=year)
    return row or ReportingYear(enterprise_id=enterprise_id, year=year, state=ReportState.DRAFT, draft=1, history=[])


async def check_verifier_range(
    principal: Principal, enterprise: Enterprise, start: dt.datetime, end: dt.datetime
) -> None:
    """A verifier reads only the years assigned to it (its scope already limits the enterprises)."""
    if principal.role is not Role.VERIFIER:
        return
    years = set(
        await ReportingYear.filter(enterprise_id=enterprise.id, verifier=principal.name).values_list("year", flat=True)
    )
    zone = zoneinfo.ZoneInfo(enterprise.timezone)
    asked = set(range(year_of(start, zone), year_of(end - dt.timedelta(microseconds=1), zone) + 1))
    if not asked <= years:
        outside = ", ".join(str(y) for y in sorted(asked - years))
        raise PermissionDeniedError(
            f"Year {outside} of {enterprise.code} is not assigned to you for verification.",
            hint="The enterprise's accountant assigns the years you verify.",
        )


async def _row(enterprise_id: int, year: int) -> ReportingYear:
    row = await ReportingYear.get_or_none(enterprise_id=enterprise_id, year=year)
    if row is None:
        row = await ReportingYear.create(enterprise_id=enterprise_id, year=year, history=[])
    return row


def _step(row: ReportingYear, state: ReportState, principal: Principal, reason: str, now: dt.datetime) -> None:
    row.history = [
        *row.history,
        {"state": state.value, "from": row.state.value, "by": principal.name, "at": now.isoformat(), "reason": reason},
    ]
    row.state = state


async def _audited(principal: Principal, action: str, row: ReportingYear, before: dict[str, Any], summary: str) -> None:
    """The audit record of a transition, in the caller's transaction."""
    await audit.record(
        principal,
        action,
        entity_type="reporting_year",
        entity_id=f"{row.enterprise_id}/{row.year}",
        enterprise_id=row.enterprise_id,
        before=before,
        after=audit.snapshot(row),
        summary=summary,
    )


async def _refused(principal: Principal, action: str, enterprise_id: int, year: int, err: CemError) -> CemError:
    await audit.record(
        principal,
        action,
        entity_type="reporting_year",
        entity_id=f"{enterprise_id}/{year}",
        enterprise_id=enterprise_id,
        outcome="denied",
        summary=err.message[:300],
    )
    return err


def _reason(text: str, what: str) -> str:
    reason = text.strip()
    if not reason:
        raise InvalidInputError(f"Say why the year is {what} (reason).")
    if len(reason) > _MAX_REASON:
        raise InvalidInputError(f"The reason is longer than {_MAX_REASON} characters.")
    return reason


async def _transition(
    principal: Principal,
    enterprise_id: int,
    year: int,
    action: str,
    allowed_from: Sequence[ReportState],
    *,
    write: bool = True,
) -> tuple[Enterprise, ReportingYear]:
    """The enterprise and its year row, if the transition is allowed from the year's state (refusals audited)."""
    enterprise = await enterprise_for(principal, enterprise_id, write=write)
    row = await ReportingYear.get_or_none(enterprise_id=enterprise_id, year=year)
    state = row.state if row else ReportState.DRAFT
    if state not in allowed_from:
        raise await _refused(
            principal,
            action,
            enterprise_id,
            year,
            ConflictError(
                f"Year {year} of {enterprise.code} is {state.value}; this needs "
                f"{' or '.join(s.value for s in allowed_from)}.",
            ),
        )
    return enterprise, row or await _row(enterprise_id, year)


async def _relock(row: ReportingYear, allowed_from: Sequence[ReportState]) -> ReportingYear:
    """The row again, locked for this transaction; refused when another request moved its state meanwhile."""
    locked = await ReportingYear.select_for_update().get(id=row.id)
    if locked.state not in allowed_from:
        raise ConflictError(f"Year {locked.year} became {locked.state.value} meanwhile; reload it.")
    return locked


async def submit(principal: Principal, enterprise_id: int, year: int, note: str = "") -> ReportingYear:
    """Submit the year's kept result: it must be final and current (no input change waiting)."""
    action = "accounting.reporting.submit"
    enterprise, _ = await _transition(principal, enterprise_id, year, action, (ReportState.DRAFT,))
    start, end = _year_bounds(enterprise, year)
    now = dt.datetime.now(dt.UTC)
    result = await EmissionResult.get_or_none(
        enterprise_id=enterprise_id, period=PeriodKind.YEAR, period_start=start, current=True
    )
    problem = ""
    if end > now:
        problem = f"Year {year} has not ended: it can be submitted from {end.date().isoformat()} on."
    elif result is None or not result.final:
        problem = f"Year {year} has no final result yet: the refresh job has not accounted it."
    elif await PendingRecalculation.filter(
        enterprise_id=enterprise_id, range_start__lt=end, range_end__gt=start
    ).exists():
        problem = f"Inputs of {year} changed after it was accounted: wait for the refresh job, then submit."
    if problem:
        raise await _refused(principal, action, enterprise_id, year, ConflictError(problem))
    assert result is not None  # noqa: S101 - established above
    async with in_transaction():
        row = await _relock(await ReportingYear.get(enterprise_id=enterprise_id, year=year), (ReportState.DRAFT,))
        before = audit.snapshot(row)
        _step(row, ReportState.SUBMITTED, principal, note.strip()[:_MAX_REASON], now)
        row.result_id = result.id
        row.reported = figures_of(result)
        row.drift = None
        await row.save()
        await _audited(
            principal,
            action,
            row,
            before,
            f"{enterprise.code} {year} submitted: {row.reported['net']} tCO2 (result {result.id})",
        )
    return row


async def assign_verifier(principal: Principal, enterprise_id: int, year: int, username: str) -> ReportingYear:
    """Name the third-party verifier of the year: a user with the verifier role whose scope covers the enterprise."""
    action = "accounting.reporting.assign_verifier"
    enterprise = await enterprise_for(principal, enterprise_id, write=True)
    user = await User.get_or_none(username=username.strip())
    sees = user is not None and (
        user.all_enterprises
        or await UserScope.filter(user_id=user.id, enterprise_id=enterprise_id, site_id=None).exists()
    )
    if user is None or user.role is not Role.VERIFIER or not user.active or not sees:
        raise await _refused(
            principal,
            action,
            enterprise_id,
            year,
            InvalidInputError(
                f"{username[:64]!r} is not an active user with the verifier role and this enterprise in scope."
            ),
        )
    async with in_transaction():
        row = await _row(enterprise_id, year)
        before = audit.snapshot(row)
        row.verifier = user.username
        await row.save()
        await _audited(principal, action, row, before, f"{enterprise.code} {year}: verifier {user.username}")
    return row


def _exact(value: str, what: str) -> str:
    try:
        number = Decimal(value.strip())
    except ArithmeticError as err:
        raise InvalidInputError(f"{what} is not a number: {value[:40]!r}.") from err
    if not number.is_finite() or number < 0 or number >= Decimal(10) ** 15:
        raise InvalidInputError(f"{what} must be a finite number from 0 to 10^15.")
    return _text(number) or "0"


async def verify(
    principal: Principal, enterprise_id: int, year: int, net: str, direct: str, findings: str
) -> ReportingYear:
    """The assigned verifier records the verified figures and findings of a submitted year."""
    action = "accounting.reporting.verify"
    if not principal.can(Permission.REPORT_VERIFY):
        raise PermissionDeniedError("Only a verifier records verified figures.")
    enterprise, row = await _transition(principal, enterprise_id, year, action, (ReportState.SUBMITTED,), write=False)
    if row.verifier != principal.name:
        raise await _refused(
            principal,
            action,
            enterprise_id,
            year,
            PermissionDeniedError(f"Year {year} of {enterprise.code} is not assigned to you for verification."),
        )
    if len(findings) > 20_000:
        raise InvalidInputError("The findings are longer than 20,000 characters.")
    verified: dict[str, str | None] = {"net": _exact(net, "net"), "direct": _exact(direct, "direct")}
    reported = row.reported or {}
    verified["difference_net"] = _text(Decimal(_exact(net, "net")) - Decimal(reported.get("net") or "0"))
    verified["difference_direct"] = _text(Decimal(_exact(direct, "direct")) - Decimal(reported.get("direct") or "0"))
    now = dt.datetime.now(dt.UTC)
    async with in_transaction():
        row = await _relock(row, (ReportState.SUBMITTED,))
        before = audit.snapshot(row)
        _step(row, ReportState.VERIFIED, principal, "verified", now)
        row.verified = {**verified, "by": principal.name, "at": now.isoformat()}
        row.findings = findings.strip()
        await row.save()
        await _audited(principal, action, row, before, f"{enterprise.code} {year} verified: {verified['net']} tCO2")
    return row


async def lock(principal: Principal, enterprise_id: int, year: int) -> ReportingYear:
    """Close a verified year."""
    action = "accounting.reporting.lock"
    enterprise, row = await _transition(principal, enterprise_id, year, action, (ReportState.VERIFIED,))
    now = dt.datetime.now(dt.UTC)
    async with in_transaction():
        row = await _relock(row, (ReportState.VERIFIED,))
        before = audit.snapshot(row)
        _step(row, ReportState.LOCKED, principal, "locked", now)
        await row.save()
        await _audited(principal, action, row, before, f"{enterprise.code} {year} locked")
    return row


async def _back_to_draft(
    principal: Principal, enterprise_id: int, year: int, reason: str, action: str, allowed: Sequence[ReportState]
) -> ReportingYear:
    reason = _reason(reason, "opened again")
    enterprise, row = await _transition(principal, enterprise_id, year, action, allowed)
    start, end = _year_bounds(enterprise, year)
    now = dt.datetime.now(dt.UTC)
    async with in_transaction() as connection:
        row = await _relock(row, allowed)
        before = audit.snapshot(row)
        _step(row, ReportState.DRAFT, principal, reason, now)
        row.draft += 1
        await row.save()
        await mark(enterprise_id, start, end, "draft", detail=reason, by=principal.name, connection=connection)
        await _audited(principal, action, row, before, f"{enterprise.code} {year}: draft {row.draft} — {reason[:200]}")
    # The draft is accounted at once (the refresh job would too): the accountant asked for it on purpose.
    from cem_platform.accounting.refresh import refresh

    await refresh(enterprise_id=enterprise_id)
    return await ReportingYear.get(id=row.id)


async def new_draft(principal: Principal, enterprise_id: int, year: int, reason: str) -> ReportingYear:
    """A submitted or verified year becomes a new draft, accounted again from its current inputs."""
    return await _back_to_draft(
        principal,
        enterprise_id,
        year,
        reason,
        "accounting.reporting.new_draft",
        (ReportState.SUBMITTED, ReportState.VERIFIED),
    )


async def reopen(principal: Principal, enterprise_id: int, year: int, reason: str) -> ReportingYear:
    """A locked year becomes a new draft (the route asks for TOTP step-up first)."""
    return await _back_to_draft(
        principal, enterprise_id, year, reason, "accounting.reporting.reopen", (ReportState.LOCKED,)
    )


async def record_drift(
    enterprise: Enterprise,
    year: int,
    bounds: tuple[dt.datetime, dt.datetime],
    causes: Sequence[str],
    now: dt.datetime,
) -> dict[str, Any] | None:
    """Account a reported year aside (nothing kept but the difference) and record what it would change."""
    row = await ReportingYear.get_or_none(enterprise_id=enterprise.id, year=year)
    if row is None or row.state is ReportState.DRAFT:
        return None
    zone = zoneinfo.ZoneInfo(enterprise.timezone)
    try:
        [(_, _, lineage, _)] = await calculation.account_aside(enterprise, PeriodKind.YEAR, [bounds], zone)
    except AccountingError as err:
        drift: dict[str, Any] | None = {"computed_at": now.isoformat(), "error": err.message, "causes": list(causes)}
    else:
        now_figures = figures_of(lineage)
        reported = row.reported or {}
        if calculation.fingerprint(lineage) == reported.get("fingerprint"):
            drift = None  # accounted now, the year is exactly as reported
        else:
            drift = {
                "computed_at": now.isoformat(),
                "causes": list(causes),
                "would_be": now_figures,
                "net": _text(Decimal(now_figures["net"]) - Decimal(reported.get("net") or "0")),
                "direct": _text(Decimal(now_figures["direct"]) - Decimal(reported.get("direct") or "0")),
            }
    await ReportingYear.filter(id=row.id).update(drift=drift)
    return drift

"""Reads of kept emission results: the figures of each period, fetched as plain values, never written.

A read asks for the columns its answer needs and nothing more: an enterprise's figures come from the scalar
columns and ``by_category``; a process's from its entry of ``by_process``. The lineage (tens of kilobytes a row)
stays in the database until someone opens it. Rows are read as values, not model instances: a year by day is
365 rows and the route answers it within tens of milliseconds.

What a read fetched is kept in the worker's memory (bounded: :data:`CACHE_PERIODS` periods in all, least recently
used first out; each source's own figures are never kept) against the enterprise's
:class:`~cem_platform.accounting.models.ResultStamp`: the next read of the same range answers from it after one
single-row query, as long as the token is the same. Every writer of kept results changes the token in its
transaction, so a cached answer is never older than what the database holds. Whether a period is pending, and
periods accounted for the answer, are never cached.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from collections import OrderedDict
from decimal import Decimal
from typing import Any

from tortoise import connections

from cem_platform.accounting.calculation import MAX_LIVE_PERIODS, _unsaved, account_aside
from cem_platform.accounting.inventory import enterprise_for
from cem_platform.accounting.models import EmissionResult, PendingRecalculation, PeriodKind, ResultStamp
from cem_platform.accounting.periods import period_bounds, period_of
from cem_platform.identity.principal import Principal
from cem_platform.org.models import Enterprise

__all__ = [
    "CACHE_PERIODS",
    "MAX_LIVE_PERIODS",
    "KeptFigures",
    "PeriodView",
    "clear_cache",
    "kept_results",
    "lineage_text",
    "span_parts",
]

#: At most this many kept periods are cached per worker (a year by day is 365).
CACHE_PERIODS = 8_000

_SCALARS = (
    "id", "period_start", "period_end", "version", "final", "edition", "library_version", "grid_version", "net",
    "combustion", "process_emissions", "electricity", "heat", "fixed_carbon", "crude_steel", "intensity",
    "output_value", "complete", "estimated", "created_at",
)  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class KeptFigures:
    """The figures of one kept (or, with ``id`` None, one accounted-for-the-answer) result."""

    id: int | None
    period_start: dt.datetime
    period_end: dt.datetime
    version: int
    final: bool
    edition: str
    library_version: int
    grid_version: int
    net: Decimal
    combustion: Decimal
    process_emissions: Decimal
    electricity: Decimal
    heat: Decimal
    fixed_carbon: Decimal
    crude_steel: Decimal | None
    intensity: Decimal | None
    output_value: Decimal | None  # 10^4 CNY, where the enterprise enters it
    complete: bool
    estimated: bool
    created_at: dt.datetime
    by_category: dict[str, Any]
    by_process: dict[str, Any]
    lineage: dict[str, Any] | None = None  # only for a result accounted for the answer (a kept one's stays stored)
    energy: dict[str, Any] | None = None  # only when asked for (None too for a result kept before energy was)
    by_source: dict[str, Any] | None = None  # each source's own figures, only when asked for

    @classmethod
    def of(cls, result: EmissionResult) -> KeptFigures:
        """The figures of a result instance (one accounted for the answer only)."""
        values = {name: getattr(result, name) for name in _SCALARS}
        lineage = result.lineage if result.id is None else None
        return cls(
            **values, by_category=result.by_category, by_process=result.by_process, lineage=lineage,
            energy=result.energy, by_source=result.by_source,
        )  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class PeriodView:
    """One period as a read sees it: its figures, whether they are kept, pending (inputs changed since
    ``as_of``: the refresh job will account it again) and when they were accounted."""

    result: KeptFigures
    kept: bool
    pending: bool
    as_of: dt.datetime


async def kept_results(
    principal: Principal,
    enterprise_id: int,
    kind: PeriodKind,
    start: dt.datetime,
    end: dt.datetime,
    *,
    process_code: str | None = None,
    processes: bool = False,
    energy: bool = False,
    energy_needed: bool = False,
    sources: bool = False,
    live_limit: int = MAX_LIVE_PERIODS,
    now: dt.datetime | None = None,
) -> list[PeriodView]:
    """Every period of ``kind`` meeting [start, end) with its kept figures (of the enterprise, or of the process
    ``process_code``; ``processes``: an enterprise's figures with every process's too; ``energy``: with the
    period's energy; ``energy_needed``: a result kept before energy was accounted counts as missing; ``sources``:
    with each source's own figures, a result kept before them counting as missing). Writes
    nothing. A period without a kept result (an hour older than the kept window, or one the refresh job has not
    reached) is accounted for this answer only: not kept, no id, its lineage not stored; when more than
    ``live_limit`` are missing, none is (they are left out of the answer)."""
    enterprise = await enterprise_for(principal, enterprise_id)
    zone = zoneinfo.ZoneInfo(enterprise.timezone)
    now = now or dt.datetime.now(dt.UTC)
    periods = list(period_bounds(kind, start, end, zone, now))
    if not periods:
        return []
    first, last = periods[0][0], periods[-1][1]
    if process_code is not None:
        figures: tuple[str, ...] = ("by_process",)
    else:
        figures = ("by_category", "by_process") if processes else ("by_category",)
    if energy or energy_needed:
        figures = (*figures, "energy")
    if sources:
        figures = (*figures, "by_source")
    stored = await _stored(enterprise_id, kind, first, last, figures, process_code)
    marks = await PendingRecalculation.filter(
        enterprise_id=enterprise_id, range_start__lt=last, range_end__gt=first
    ).values_list("range_start", "range_end")
    if energy_needed:
        # a result kept before energy was accounted has none: accounted for the answer like a missing one (the
        # migration that added energy marked those periods, so the refresh job keeps them again)
        stored = {lo: kept for lo, kept in stored.items() if kept.energy is not None}
    if sources:
        stored = {lo: kept for lo, kept in stored.items() if kept.by_source is not None}
    missing = [(lo, hi) for lo, hi in periods if lo not in stored]
    live: dict[dt.datetime, KeptFigures] = {}
    if missing and len(missing) <= min(live_limit, MAX_LIVE_PERIODS):
        live = {lo: figures for (lo, _), figures in (await _accounted(enterprise, kind, missing, zone, now)).items()}
    out: list[PeriodView] = []
    for lo, hi in periods:
        pending = any(m_lo < hi and m_hi > lo for m_lo, m_hi in marks)
        if lo in stored:
            kept = stored[lo]
            out.append(PeriodView(kept, True, pending or (not kept.final and hi <= now), kept.created_at))
        elif lo in live:
            out.append(PeriodView(live[lo], False, True, now))
    return out


_Key = tuple[int, PeriodKind, dt.datetime, dt.datetime, tuple[str, ...], str | None]
_cache: OrderedDict[_Key, tuple[str, dict[dt.datetime, KeptFigures]]] = OrderedDict()
_cached_periods = 0


def clear_cache() -> None:
    """Forget every cached read (tests; a worker never needs to: the stamp says when a cached read is old)."""
    global _cached_periods
    _cache.clear()
    _cached_periods = 0


async def _stored(
    enterprise_id: int,
    kind: PeriodKind,
    first: dt.datetime,
    last: dt.datetime,
    figures: tuple[str, ...],
    process_code: str | None,
) -> dict[dt.datetime, KeptFigures]:
    """The current kept results of ``kind`` starting in [first, last), by start: from the cache when the enterprise's
    stamp is the one they were read under, else from the database (and cached). The stamp is read first, so rows
    read under it are never older than it. Callers never change what they get (it is shared)."""
    global _cached_periods
    tokens: list[Any] = list(await ResultStamp.filter(enterprise_id=enterprise_id).values_list("token", flat=True))
    token = str(tokens[0]) if tokens else None
    key: _Key = (enterprise_id, kind, first, last, figures, process_code)
    hit = _cache.get(key)
    if hit is not None and token is not None and hit[0] == token:
        _cache.move_to_end(key)
        return hit[1]
    rows = await EmissionResult.filter(
        enterprise_id=enterprise_id, period=kind, current=True, period_start__gte=first, period_start__lt=last
    ).values(*_SCALARS, *figures)
    stored: dict[dt.datetime, KeptFigures] = {}
    for row in rows:
        by_process = row.get("by_process") or {}
        if process_code is not None:
            by_process = {process_code: by_process.get(process_code)} if process_code in by_process else {}
        stored[row["period_start"]] = KeptFigures(
            **{name: row[name] for name in _SCALARS}, by_category=row.get("by_category") or {}, by_process=by_process,
            energy=row.get("energy"), by_source=row.get("by_source"),
        )  # fmt: skip
    # (another read of the same range may have cached it meanwhile: replaced, counted once)
    replaced = _cache.pop(key, None)
    if replaced is not None:
        _cached_periods -= len(replaced[1])
    # each source's own figures (a hundred entries a period) are not kept: a year of them would be megabytes
    if token is not None and "by_source" not in figures and len(stored) <= CACHE_PERIODS:
        _cache[key] = (token, stored)
        _cached_periods += len(stored)
        while _cached_periods > CACHE_PERIODS and _cache:
            _, (_, dropped) = _cache.popitem(last=False)
            _cached_periods -= len(dropped)
    return stored


async def span_parts(
    principal: Principal,
    enterprise_id: int,
    kind: PeriodKind,
    spans: list[tuple[dt.datetime, dt.datetime]],
    *,
    sources: bool = False,
    now: dt.datetime | None = None,
) -> dict[tuple[dt.datetime, dt.datetime], list[KeptFigures]]:
    """Spans that are not periods (last year's month up to this hour, to compare a running month with), each as
    the parts it is made of: the kept months and days that lie wholly in it, then its last hours — kept hours where
    every one is kept, else accounted for the answer as one span — and any part not kept accounted for the answer
    too. A figure that adds up (emissions, energy: what a comparison takes) is the sum of the parts' figures. Every
    part carries its energy (and, with ``sources``, each source's figures). Writes nothing; nothing is kept."""
    enterprise = await enterprise_for(principal, enterprise_id)
    zone = zoneinfo.ZoneInfo(enterprise.timezone)
    now = now or dt.datetime.now(dt.UTC)
    figures = ("by_category", "by_process", "energy", *(("by_source",) if sources else ()))
    wanted = sorted({(lo, hi) for lo, hi in spans if hi > lo})

    def hours_of(a: dt.datetime, b: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
        return list(period_bounds(PeriodKind.HOUR, a, b, zone, now)) if a < now else []

    # each span cut into kept kinds: whole months, whole days, then the hours that are left (less than a day)
    cuts: dict[tuple[dt.datetime, dt.datetime], list[tuple[PeriodKind, dt.datetime, dt.datetime]]] = {}
    for lo, hi in wanted:
        pieces: list[tuple[PeriodKind, dt.datetime, dt.datetime]] = []
        cursor = lo
        while cursor < hi:
            for part in (PeriodKind.MONTH, PeriodKind.DAY):
                start, end = period_of(part, cursor, zone)
                if start == cursor and end <= hi:
                    pieces.append((part, start, end))
                    cursor = end
                    break
            else:
                pieces.append((PeriodKind.HOUR, cursor, hi))  # the rest: under a day
                cursor = hi
        cuts[(lo, hi)] = pieces
    kept: dict[tuple[PeriodKind, dt.datetime], KeptFigures] = {}
    for part in (PeriodKind.MONTH, PeriodKind.DAY, PeriodKind.HOUR):
        # exactly the periods the spans are made of (not what lies between last year's span and last month's)
        starts: set[dt.datetime] = set()
        for pieces in cuts.values():
            for k, a, b in pieces:
                if k is part:
                    starts.update([a] if part is not PeriodKind.HOUR else [h for h, _ in hours_of(a, b)])
        if not starts:
            continue
        rows = await EmissionResult.filter(
            enterprise_id=enterprise_id, period=part, current=True, period_start__in=sorted(starts)
        ).values(*_SCALARS, *figures)
        for row in rows:
            if row["energy"] is None or (sources and row.get("by_source") is None):
                continue  # kept before energy (or per-source figures) were: accounted for the answer instead
            kept[(part, row["period_start"])] = KeptFigures(
                **{name: row[name] for name in _SCALARS}, by_category=row["by_category"] or {},
                by_process=row["by_process"] or {}, energy=row["energy"], by_source=row.get("by_source"),
            )  # fmt: skip
    parts: dict[tuple[dt.datetime, dt.datetime], list[KeptFigures]] = {}
    live: dict[tuple[dt.datetime, dt.datetime], list[tuple[dt.datetime, dt.datetime]]] = {}
    for span, pieces in cuts.items():
        found: list[KeptFigures] = []
        for part, a, b in pieces:
            if part is PeriodKind.HOUR:
                hours = hours_of(a, b)
                if hours and all((PeriodKind.HOUR, h) in kept for h, _ in hours) and hours[-1][1] == b:
                    found += [kept[(PeriodKind.HOUR, h)] for h, _ in hours]
                    continue
            elif (part, a) in kept:
                found.append(kept[(part, a)])
                continue
            live.setdefault(span, []).append((a, b))
        parts[span] = found
    missing = sorted({piece for left in live.values() for piece in left})
    if missing:
        accounted = await _accounted(enterprise, kind, missing, zone, now)
        for span, left in live.items():
            parts[span] += [accounted[piece] for piece in left]
    return parts


async def _accounted(
    enterprise: Enterprise,
    kind: PeriodKind,
    spans: list[tuple[dt.datetime, dt.datetime]],
    zone: zoneinfo.ZoneInfo,
    now: dt.datetime,
) -> dict[tuple[dt.datetime, dt.datetime], KeptFigures]:
    """Each span accounted for the answer only: its figures, with no id (nothing is kept)."""
    return {
        (lo, hi): KeptFigures.of(_unsaved(enterprise.id, kind, lo, hi, lineage, method, now))
        for lo, hi, lineage, method in await account_aside(enterprise, kind, spans, zone)
    }


async def lineage_text(result_id: int) -> bytes:
    """A stored result's lineage as the JSON text the database holds, never decoded here (a year's lineage is
    over a hundred kilobytes: decoding and encoding it again would hold a worker's event loop for milliseconds)."""
    client = connections.get("default")
    if client.capabilities.dialect == "postgres":
        sql = "SELECT lineage::text AS lineage FROM acc_result WHERE id = $1"
    else:
        sql = "SELECT lineage FROM acc_result WHERE id = ?"
    _, rows = await client.execute_query(sql, [result_id])
    text = rows[0]["lineage"] if rows else None
    return text.encode() if isinstance(text, str) else bytes(text or b"null")

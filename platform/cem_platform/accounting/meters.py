"""Activity data from meters: what a set of measurement points recorded over an accounting period.

:func:`meter_quantity` reads the rollups of the time series (never the raw readings) for every point of a
signed sum such as ``coke to BF1 + BFG to the power plant - BFG sold``, turns each point's rollups into an
amount, converts it to the unit the formula wants (:func:`cem_platform.accounting.units.convert`, exactly) and
adds the signed amounts. The result carries its completeness and estimation flags and an origin naming the
points, ready to become an engine :class:`~cem_platform.accounting.engine.Quantity`.

Periods
-------
``start`` and ``end`` are aware instants. When both fall on local midnight of the enterprise's time zone
(``zone``), the day rollups are read — or the month rollups when both are first days of a local month, which is
the same figure from fewer rows. Otherwise both must be whole UTC hours, and the hour rollups are read. Anything
else is refused: a rollup cannot be cut, and an amount that silently includes or leaves out part of an hour is
worse than an error. ``zone`` must be the enterprise's own time zone, the one its day rollups are keyed by.

Amounts per point
-----------------
* ``totaliser``: the sum of the increments (``delta_sum``) of the buckets, in the point's unit. An increment
  belongs to the reading that closes it, so totals do not depend on the rollup level read.
* ``flow`` (a rate: ``t/h``, ``Nm3/h``, ``kg/s``, or a power ``kW``, ``MW``): integrated bucket by bucket as
  ``mean × bucket duration`` with ``mean = value_sum / readings``; ``t/h`` gives ``t``, ``MW`` gives ``MWh``,
  ``kW`` ``kWh``. A bucket without readings adds nothing (completeness says so); a bucket with gaps is
  counted at its mean over its whole duration. Local days and months are measured in real elapsed hours
  (a day of a daylight-saving change has 23 or 25).
* ``state`` points (running status, level, temperature...) carry no amount: refused.

Exactness: every stored double enters as ``Decimal(repr(x))`` and all arithmetic is rational; the only rounding
is that of a flow's division by its reading count when it has no finite decimal expansion
(:data:`~cem_platform.accounting.formulas.PRECISION` significant digits) and the unit conversion's own (see
:mod:`~cem_platform.accounting.units`).

Completeness per point is ``readings / expected`` capped at 1, ``expected = period seconds / sample_seconds``
(a period not over yet is incomplete); the quantity is complete when the lowest share over its points reaches
``threshold``. Rollups hold what the rollup job has folded: readings of the last few seconds may be missing.

Queries: one for the points (with their enterprise's time zone), one for the rollups of all points; both
PostgreSQL and SQLite (times as integer ms and dates as ISO text there).
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import math
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, Inexact, Rounded
from fractions import Fraction
from operator import itemgetter
from typing import Any, Final

from tortoise.backends.base.client import BaseDBAsyncClient

from cem_platform.accounting import units
from cem_platform.accounting.formulas import PRECISION, AccountingError
from cem_platform.accounting.periods import local_midnight, next_month
from cem_platform.org.models import MeasurementPoint
from cem_platform.org.units import amount_of
from cem_platform.telemetry.store import dt_to_ms, store_for

__all__ = [
    "MeterDataError",
    "MeterQuantity",
    "MeterRequest",
    "MeterTerm",
    "amount_unit",
    "meter_quantities",
    "meter_quantities_many",
    "meter_quantity",
]

UTC = dt.UTC
_CONTEXT: Final = Context(prec=PRECISION, rounding=ROUND_HALF_EVEN)
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = dt.timedelta(milliseconds=1)
_TABLES: Final = {"hour": "ts_rollup_hour", "day": "ts_rollup_day", "month": "ts_rollup_month"}


class MeterDataError(AccountingError):
    """Meter data cannot give the asked quantity: a point unknown or not fit, a period not aligned, a unit."""

    code = "meter_data_error"
    default_hint = (
        "Check the meter points of the activity input (kind, unit, enterprise) and give a period of whole "
        "local days or whole UTC hours."
    )


@dataclass(frozen=True)
class MeterTerm:
    """One point of a meter sum, added (``sign=1``) or subtracted (``sign=-1``, e.g. gas sold outside)."""

    point_id: int
    sign: int = 1


@dataclass(frozen=True)
class MeterQuantity:
    """What the points recorded over the period, in ``unit``, with its completeness and lineage.

    ``details`` holds one dict per term, in the order given: ``id``, ``code``, ``kind``, ``sign``, ``unit`` (of
    ``amount``: the point's unit, integrated for a flow: ``t/h`` -> ``t``), ``point_unit`` (as configured),
    ``amount`` (Decimal, before sign and conversion), ``value`` (Decimal, signed, in the asked unit),
    ``readings``, ``estimated_readings``, ``expected``, ``completeness``, ``estimated``, ``rollup`` (hour, day
    or month).
    """

    value: Decimal
    unit: str
    complete: bool
    completeness: float
    estimated: bool
    origin: str
    details: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class _Point:
    id: int
    code: str
    kind: str
    unit: str  # as configured on the point
    amount_unit: str  # of the amount: the unit, or the rate's numerator (t/h -> t, MW -> MWh)
    per_seconds: int  # flow: seconds of the rate's denominator (t/h: 3600); totaliser: 0
    sample_seconds: int


async def meter_quantity(
    terms: Sequence[MeterTerm],
    start: dt.datetime,
    end: dt.datetime,
    unit: str,
    *,
    zone: zoneinfo.ZoneInfo,
    threshold: float = 0.99,
    enterprise_id: int | None = None,
    client: BaseDBAsyncClient | None = None,
) -> MeterQuantity:
    """The signed sum of what the points of ``terms`` recorded over [start, end), in ``unit``.

    ``zone`` is the enterprise's time zone; ``enterprise_id``, when given, is the enterprise every point must
    belong to (points of different enterprises are refused in any case). ``client``: the database connection
    (Tortoise's ``default`` when None), e.g. a transaction's. Raises :class:`MeterDataError`.
    """
    [quantity] = await meter_quantities(
        terms, [(start, end)], unit, zone=zone, threshold=threshold, enterprise_id=enterprise_id, client=client
    )
    return quantity


async def meter_quantities(
    terms: Sequence[MeterTerm],
    periods: Sequence[tuple[dt.datetime, dt.datetime]],
    unit: str,
    *,
    zone: zoneinfo.ZoneInfo,
    threshold: float = 0.99,
    enterprise_id: int | None = None,
    client: BaseDBAsyncClient | None = None,
) -> list[MeterQuantity]:
    """:func:`meter_quantity` for many periods at once: one query per rollup level for all of them (a year of
    days is one query, not 365), each period then summed from its own buckets. Same checks and results."""
    [quantities] = await meter_quantities_many(
        [MeterRequest(terms, periods, unit)], zone=zone, threshold=threshold, enterprise_id=enterprise_id, client=client
    )
    return quantities


@dataclass(frozen=True, slots=True)
class MeterRequest:
    """One meter sum asked for many periods (see :func:`meter_quantities_many`)."""

    terms: Sequence[MeterTerm]
    periods: Sequence[tuple[dt.datetime, dt.datetime]]
    unit: str


async def meter_quantities_many(
    requests: Sequence[MeterRequest],
    *,
    zone: zoneinfo.ZoneInfo,
    threshold: float = 0.99,
    enterprise_id: int | None = None,
    client: BaseDBAsyncClient | None = None,
) -> list[list[MeterQuantity]]:
    """:func:`meter_quantities` for many meter sums at once (every metered input of an inventory): the points of
    all of them in one query, their rollups in one query per rollup level, then each period of each request
    summed from its own buckets. Same checks and results as asking request by request; the points of all
    requests must belong to one enterprise."""
    if not requests:
        return []
    if not 0 <= threshold <= 1:
        raise MeterDataError(f"the completeness threshold must be within 0..1, got {threshold!r}")
    targets: list[str] = []
    for request in requests:
        _check_terms(request.terms)
        try:
            targets.append(units.canonical(request.unit))
        except units.UnitError as err:
            raise MeterDataError(f"the asked unit is not known: {err}") from None
    levels = [[_level(start, end, zone) for start, end in request.periods] for request in requests]
    ids = list(dict.fromkeys(term.point_id for request in requests for term in request.terms))
    points = await _points([MeterTerm(i) for i in ids], zone, enterprise_id, client)
    for request, target in zip(requests, targets, strict=True):
        for term in request.terms:
            _check_convertible(points[term.point_id], target)
    db = store_for(client)
    fetched: dict[str, dict[int, tuple[list[Any], list[Any]]]] = {}
    for level in sorted({lv for mine in levels for lv in mine}):
        spans = [
            period
            for request, mine in zip(requests, levels, strict=True)
            for period, lv in zip(request.periods, mine, strict=True)
            if lv == level
        ]
        wanted = sorted(
            {t.point_id for request, mine in zip(requests, levels, strict=True) if level in mine for t in request.terms}
        )
        low, high = min(p[0] for p in spans), max(p[1] for p in spans)
        rows = await _rollups(db.client, db.dialect == "postgres", level, wanted, low, high, zone)
        fetched[level] = {}
        for point_id, point_rows in rows.items():
            keyed = sorted(((_row_key(r["bucket"], level), r) for r in point_rows), key=itemgetter(0))  # keyed once
            fetched[level][point_id] = ([key for key, _ in keyed], [row for _, row in keyed])
    out: list[list[MeterQuantity]] = []
    for request, mine, target in zip(requests, levels, targets, strict=True):
        quantities = []
        for (start, end), level in zip(request.periods, mine, strict=True):
            lo, hi = _bound_key(start, level, zone), _bound_key(end, level, zone)
            in_period: dict[int, list[Any]] = {}
            for term in request.terms:
                if (found := fetched[level].get(term.point_id)) is not None:
                    keys, point_rows = found
                    in_period[term.point_id] = point_rows[bisect.bisect_left(keys, lo) : bisect.bisect_left(keys, hi)]
            quantities.append(_quantity(request.terms, points, in_period, level, start, end, zone, target, threshold))
        out.append(quantities)
    return out


def _row_key(bucket: Any, level: str) -> Any:
    """A bucket as a comparable key: ms since 1970 for hours, the ISO date for days and months."""
    if level == "hour":
        return bucket if isinstance(bucket, int) else (bucket - _EPOCH) // _MS
    return bucket.isoformat() if isinstance(bucket, dt.date) else str(bucket)


def _bound_key(instant: dt.datetime, level: str, zone: zoneinfo.ZoneInfo) -> Any:
    return dt_to_ms(instant) if level == "hour" else _local_date(instant, zone).isoformat()


def _quantity(
    terms: Sequence[MeterTerm],
    points: dict[int, _Point],
    rows: dict[int, list[Any]],
    level: str,
    start: dt.datetime,
    end: dt.datetime,
    zone: zoneinfo.ZoneInfo,
    target: str,
    threshold: float,
) -> MeterQuantity:
    seconds = Fraction(dt_to_ms(end) - dt_to_ms(start), 1000)
    total = Fraction(0)
    details: list[dict[str, Any]] = []
    for term in terms:
        point = points[term.point_id]
        mine = rows.get(point.id, [])
        amount = _amount(point, mine, level, zone)
        value = _decimal(Fraction(units.convert(amount, point.amount_unit, target)) * term.sign)
        total += Fraction(value)
        readings = sum(int(r["readings"]) for r in mine)
        estimated = sum(int(r["estimated"]) for r in mine)
        expected = float(seconds / point.sample_seconds)
        details.append(
            {
                "id": point.id,
                "code": point.code,
                "kind": point.kind,
                "sign": term.sign,
                "unit": point.amount_unit,
                "point_unit": point.unit,
                "amount": amount,
                "value": value,
                "readings": readings,
                "estimated_readings": estimated,
                "expected": expected,
                "completeness": min(1.0, readings / expected) if expected > 0 else 0.0,
                "estimated": estimated > 0,
                "rollup": level,
            }
        )
    completeness = min(d["completeness"] for d in details)
    return MeterQuantity(
        value=_decimal(total),
        unit=target,
        complete=completeness >= threshold,
        completeness=completeness,
        estimated=any(d["estimated"] for d in details),
        origin=_origin(terms, points),
        details=tuple(details),
    )


# --- checks ------------------------------------------------------------------------------------------------------


def _check_terms(terms: Sequence[MeterTerm]) -> None:
    if not terms:
        raise MeterDataError(
            "a meter quantity needs at least one measurement point", hint="Name the points of the activity input."
        )
    seen: set[int] = set()
    for term in terms:
        if term.sign not in (1, -1):
            raise MeterDataError(f"the sign of point {term.point_id} must be +1 or -1, got {term.sign!r}")
        if term.point_id in seen:
            raise MeterDataError(
                f"point {term.point_id} appears twice in the meter sum", hint="Name each point once, with its sign."
            )
        seen.add(term.point_id)


def _level(start: dt.datetime, end: dt.datetime, zone: zoneinfo.ZoneInfo) -> str:
    """Which rollups cover [start, end) exactly: month, day or hour; MeterDataError when none does."""
    if start.tzinfo is None or end.tzinfo is None:
        raise MeterDataError(
            "the accounting period needs aware times",
            hint="Give start and end as aware datetimes (UTC), e.g. datetime(2026, 4, 30, 16, tzinfo=UTC).",
        )
    if end <= start:
        raise MeterDataError(f"the accounting period is empty: end ({end.isoformat()}) is not after start")
    first, last = start.astimezone(zone), end.astimezone(zone)
    if _local_midnight(first, zone) and _local_midnight(last, zone):
        return "month" if first.day == 1 and last.day == 1 else "day"
    if all(t.astimezone(UTC).replace(minute=0, second=0, microsecond=0) == t for t in (start, end)):
        return "hour"
    raise MeterDataError(
        f"the period {first.isoformat()} .. {last.isoformat()} is neither whole local days ({zone.key}) nor whole "
        "UTC hours: meter rollups cannot be cut inside an hour",
        hint=f"Start and end the period at local midnight in {zone.key} (days, months) or on a whole UTC hour.",
        details={"start": start.isoformat(), "end": end.isoformat(), "timezone": zone.key},
    )


def _local_midnight(local: dt.datetime, zone: zoneinfo.ZoneInfo) -> bool:
    """True when ``local`` is the first instant of its local date (round-tripped: no skipped or repeated time)."""
    midnight = dt.datetime.combine(local.date(), dt.time(), tzinfo=zone)
    return midnight.astimezone(UTC) == local.astimezone(UTC)


def amount_unit(code: str, kind: str, unit: str) -> str:
    """The unit of the amount a point gives (a totaliser's unit, a flow's rate integrated: t/h -> t, MW -> MWh);
    :class:`MeterDataError` when it gives none (a state point, a flow that is not a rate)."""
    return _amount_unit(code, kind, unit)[0]


def _amount_unit(code: str, kind: str, unit: str) -> tuple[str, int]:
    """The unit of a point's amount and, for a flow, the seconds of its rate's denominator."""
    amount = amount_of(kind, unit)
    if amount is not None:
        return amount
    if kind == "flow":
        raise MeterDataError(
            f"flow point {code} is measured in {unit!r}, which is not a rate: it cannot be integrated to an amount",
            hint="A flow point gives an amount when its unit is a rate (t/h, Nm3/h, kg/s) or a power (kW, MW).",
        )
    if kind == "state":
        raise MeterDataError(
            f"point {code} is a state point: a state point cannot give an amount",
            hint="Use a totaliser or a flow point for activity data.",
        )
    raise MeterDataError(f"point {code} has an unknown kind {kind!r}")


def _check_convertible(point: _Point, target: str) -> None:
    try:
        units.convert(0, point.amount_unit, target)
    except units.UnitError as err:
        raise MeterDataError(
            f"point {point.code} measures {point.unit!r}, which cannot be given in {target}: {err}",
            hint=f"Ask for a unit of the same dimension as {point.amount_unit}, or convert explicitly in the formula.",
            details={"point_id": point.id, "code": point.code, "unit": point.unit, "asked": target},
        ) from None


async def _points(
    terms: Sequence[MeterTerm], zone: zoneinfo.ZoneInfo, enterprise_id: int | None, client: BaseDBAsyncClient | None
) -> dict[int, _Point]:
    ids = [term.point_id for term in terms]
    query = MeasurementPoint.filter(id__in=ids)
    if client is not None:
        query = query.using_db(client)
    rows = await query.values(
        "id", "code", "kind", "unit", "sample_seconds", "enterprise_id", timezone="enterprise__timezone"
    )
    found = {int(r["id"]): r for r in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        raise MeterDataError(
            f"no measurement point with id {', '.join(map(str, missing))}",
            hint="Name existing points of the enterprise.",
            details={"point_ids": missing},
        )
    enterprises = {int(r["enterprise_id"]) for r in rows}
    if enterprise_id is not None and enterprises != {enterprise_id}:
        others = sorted(str(r["code"]) for r in rows if int(r["enterprise_id"]) != enterprise_id)
        raise MeterDataError(
            f"point {', '.join(others)} belongs to another enterprise",
            hint="Name points of the enterprise being accounted only.",
        )
    if len(enterprises) > 1:
        raise MeterDataError("the points belong to different enterprises", hint="Name points of one enterprise only.")
    timezone = str(rows[0]["timezone"])
    if timezone != zone.key:
        raise MeterDataError(
            f"the period is given in {zone.key} but the enterprise keeps its days in {timezone}",
            hint=f"Give the enterprise's own time zone ({timezone}): its day and month rollups are local to it.",
        )
    points: dict[int, _Point] = {}
    for r in rows:
        code, kind, unit, sample = str(r["code"]), str(r["kind"]), str(r["unit"]), int(r["sample_seconds"])
        amount_unit, per_seconds = _amount_unit(code, kind, unit)
        if sample <= 0:
            raise MeterDataError(f"point {code} has no sampling period (sample_seconds={sample})")
        points[int(r["id"])] = _Point(int(r["id"]), code, kind, unit, amount_unit, per_seconds, sample)
    return points


# --- reading ---------------------------------------------------------------------------------------------------


async def _rollups(
    client: BaseDBAsyncClient,
    postgres: bool,
    level: str,
    ids: list[int],
    start: dt.datetime,
    end: dt.datetime,
    zone: zoneinfo.ZoneInfo,
) -> dict[int, list[Any]]:
    """The rollup rows of every point in [start, end), in one query, by point."""
    columns = "point_id, bucket, readings, estimated, delta_sum, value_sum"
    table = _TABLES[level]
    low: Any
    high: Any
    if postgres:
        if level == "hour":
            low, high = start, end
        else:  # local dates: start and end are local midnights (checked)
            low, high = _local_date(start, zone), _local_date(end, zone)
        sql = f"SELECT {columns} FROM {table} WHERE point_id = ANY($1::int4[]) AND bucket >= $2 AND bucket < $3"  # noqa: S608 - constants
        _, rows = await client.execute_query(sql, [ids, low, high])
    else:
        if level == "hour":
            low, high = dt_to_ms(start), dt_to_ms(end)
        else:
            low, high = _local_date(start, zone).isoformat(), _local_date(end, zone).isoformat()
        sql = (
            f"SELECT {columns} FROM {table}"  # noqa: S608 - constants
            " WHERE point_id IN (SELECT value FROM json_each(?)) AND bucket >= ? AND bucket < ?"
        )
        _, rows = await client.execute_query(sql, [json.dumps(ids), low, high])
    by_point: dict[int, list[Any]] = {}
    for row in rows:
        by_point.setdefault(int(row["point_id"]), []).append(row)
    return by_point


def _local_date(instant: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.date:
    """The bucket key of the local day (or month) starting at ``instant`` (a local midnight)."""
    return instant.astimezone(zone).date()


def _amount(point: _Point, rows: Sequence[Any], level: str, zone: zoneinfo.ZoneInfo) -> Decimal:
    """The point's amount over its rollup rows, in ``point.amount_unit``."""
    if point.kind == "totaliser":
        return _exact_sum(r["delta_sum"] for r in rows)
    total = Fraction(0)
    for r in rows:
        readings = int(r["readings"])
        if readings and r["value_sum"] is not None:
            span = _bucket_seconds(r["bucket"], level, zone)
            total += _exact(r["value_sum"]) * span / (readings * point.per_seconds)
    return _decimal(total)


def _bucket_seconds(bucket: Any, level: str, zone: zoneinfo.ZoneInfo) -> int:
    """Elapsed seconds of a bucket: an hour, or the local day or month it is keyed by."""
    if level == "hour":
        return 3600
    first = bucket if isinstance(bucket, dt.date) else dt.date.fromisoformat(str(bucket))
    following = first + dt.timedelta(days=1) if level == "day" else next_month(first)
    return int((local_midnight(following, zone) - local_midnight(first, zone)).total_seconds())


# --- numbers -------------------------------------------------------------------------------------------------


def _exact(value: float | int | None) -> Fraction:
    """A stored double as the exact rational of its shortest decimal representation (``repr``)."""
    if value is None:
        return Fraction(0)
    if isinstance(value, float) and not math.isfinite(value):
        raise MeterDataError(f"a stored rollup holds a non-finite value ({value!r})")
    return Fraction(Decimal(repr(value)))


#: Sums of stored doubles in decimal, exactly: a sum that would need more digits than this raises Inexact (and the
#: sum is taken with fractions instead), so no digit is ever rounded away.
_EXACT: Final = Context(prec=1000, traps=[Inexact, Rounded])


def _exact_sum(values: Iterable[float | int | None]) -> Decimal:
    """``_decimal(sum(_exact(v) for v in values))``, in decimal arithmetic rather than fractions (a totaliser's
    hourly deltas over a week are a few thousand values per point): the same exact value, the same representation."""
    kept = list(values)
    total = Decimal(0)
    try:
        for value in kept:
            if value is None:
                continue
            if isinstance(value, float) and not math.isfinite(value):
                raise MeterDataError(f"a stored rollup holds a non-finite value ({value!r})")
            total = _EXACT.add(total, Decimal(repr(value)) if isinstance(value, float) else Decimal(value))
    except (Inexact, Rounded):
        return _decimal(sum((_exact(v) for v in kept), Fraction(0)))
    return _decimal(Fraction(total))


def _decimal(number: Fraction) -> Decimal:
    """``number`` as a Decimal: exact when it has a finite decimal expansion, else PRECISION significant digits."""
    return units.from_fraction(number, _CONTEXT)


def _origin(terms: Sequence[MeterTerm], points: dict[int, _Point]) -> str:
    """``meter:IR.BF1.COKE+PW.PB1.BFG-SALE.BFG``: the point codes with their signs, in the order given."""
    text = "".join(("+" if term.sign > 0 else "-") + points[term.point_id].code for term in terms)
    return "meter:" + text.removeprefix("+")

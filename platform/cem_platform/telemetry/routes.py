"""Routes of point data: a point's series (raw, hour, day, month) and the latest values of many points.

Points outside the caller's scope answer 404, like points that do not exist. Times are ISO-8601 with an offset;
answers give them in the enterprise's time zone.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromPath, QueryParameter
from tortoise.expressions import Q

from cem_platform.errors import InvalidInputError, NotFoundError
from cem_platform.identity.http import principal_of, requires
from cem_platform.identity.principal import Principal
from cem_platform.identity.roles import Permission
from cem_platform.org import services as org
from cem_platform.org.models import MeasurementPoint
from cem_platform.telemetry import series as ts

__all__ = ["LatestOut", "LatestPage", "PointDataController"]

AnyRequest = Request[Any, Any, Any]
MAX_LATEST = 1000
DEFAULT_SPAN = {
    ts.Interval.RAW: dt.timedelta(hours=1),
    ts.Interval.HOUR: dt.timedelta(hours=24),
    ts.Interval.DAY: dt.timedelta(days=31),
    ts.Interval.MONTH: dt.timedelta(days=366),
}
_TIME_HINT = (
    "Write times as ISO-8601 with an offset, e.g. 2026-05-01T00:00:00+08:00 (a '+' in a URL is written %2B) "
    "or 2026-04-30T16:00:00Z."
)


class LatestOut(msgspec.Struct, kw_only=True):
    """The newest reading of one point (all reading fields None when it has none yet)."""

    point_id: int
    code: str
    name: str
    unit: str
    kind: str
    ts: dt.datetime | None
    value: float | None
    delta: float | None
    quality: str | None  # good, uncertain
    estimated: bool | None
    flags: list[str]
    age_s: float | None  # seconds since the reading's time


class LatestPage(msgspec.Struct, kw_only=True):
    """The latest values of the asked points, in the order of their ids."""

    at: dt.datetime
    points: list[LatestOut]


def _parse_time(name: str, raw: str | None) -> dt.datetime | None:
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    # A '+' left unencoded in a query string arrives as a space: give the offset its sign back.
    if len(text) > 19 and text[-6] == " " and text[-5:-3].isdigit():
        text = text[:-6] + "+" + text[-5:]
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as err:
        raise InvalidInputError(f"{name}={raw!r} is not an ISO-8601 time", hint=_TIME_HINT) from err
    if value.tzinfo is None:
        raise InvalidInputError(f"{name}={raw!r} has no time zone offset", hint=_TIME_HINT)
    return value


def _split(raw: str | None) -> list[str]:
    return [item.strip() for item in (raw or "").split(",") if item.strip()]


async def _points_hint(principal: Principal) -> str:
    """How to name points, with real examples: the first active points the caller may see."""
    found = await org.list_(org.RESOURCES["point"], principal, active=True).limit(3).values_list("id", "code")
    listing = "GET /api/v1/org/points lists the points you may see"
    if not found:
        return f"Name points with ids=1,2,3 and/or codes=A,B; {listing} (none yet)."
    ids = ",".join(str(point_id) for point_id, _ in found)
    codes = ",".join(str(code) for _, code in found)
    return f"Name points with ids={ids} and/or codes={codes}; {listing}."


class PointDataController(Controller):
    """Time series and latest values of measurement points (permission data.read, within the caller's scope)."""

    path = "/points"
    tags = ["point data"]
    guards = [requires(Permission.DATA_READ)]

    @get("/{point_id:int}/series", summary="A point's series: raw readings or hour, day, month buckets")
    async def point_series(
        self,
        request: AnyRequest,
        point_id: FromPath[int],
        interval: Annotated[
            ts.Interval,
            QueryParameter(description="raw readings, or buckets: hour (UTC hours), day and month (local time)"),
        ] = ts.Interval.HOUR,
        since: Annotated[
            str | None,
            QueryParameter(
                name="from",
                description="start, ISO-8601 with offset; default: 'to' minus 1 h (raw), 24 h (hour), "
                "31 days (day), 366 days (month)",
            ),
        ] = None,
        until: Annotated[
            str | None, QueryParameter(name="to", description="end (exclusive), ISO-8601 with offset; default: now")
        ] = None,
    ) -> ts.Series:
        """Every bucket of [from, to) up to now with readings, expected readings, completeness, estimated share,
        sum, min, max, mean and last; or the raw readings with quality and flags. Ranges are limited per interval
        (raw: 31 days and 200,000 readings; hour: 366 days; day: about 10 years)."""
        point: MeasurementPoint = await org.get(org.RESOURCES["point"], principal_of(request), point_id)
        now = dt.datetime.now(dt.UTC)
        end = _parse_time("to", until) or now
        start = _parse_time("from", since) or end - DEFAULT_SPAN[interval]
        return await ts.series(point, start, end, interval, now=now)

    @get("/latest", summary="The newest reading of many points")
    async def latest_values(
        self,
        request: AnyRequest,
        ids: Annotated[str | None, QueryParameter(description="point ids, comma-separated: 1,2,3")] = None,
        codes: Annotated[
            str | None,
            QueryParameter(description="point codes, comma-separated, as GET /api/v1/org/points lists them"),
        ] = None,
    ) -> LatestPage:
        """The newest stored reading of each asked point (up to 1,000 ids and codes together), its unit,
        quality and age. A point that does not exist or is outside your scope makes the request fail (404)."""
        id_texts, wanted_codes = _split(ids), _split(codes)
        if not id_texts and not wanted_codes:
            raise InvalidInputError("no points asked for", hint=await _points_hint(principal_of(request)))
        if len(id_texts) + len(wanted_codes) > MAX_LATEST:
            raise InvalidInputError(
                f"{len(id_texts) + len(wanted_codes)} points asked for; at most {MAX_LATEST} per request",
                hint="Split the points over several requests.",
            )
        try:
            wanted_ids = {int(text) for text in id_texts}
        except ValueError as err:
            raise InvalidInputError(f"ids={ids!r} must be whole numbers separated by commas") from err
        query = Q(id__in=sorted(wanted_ids)) | Q(code__in=sorted(set(wanted_codes)))
        points: list[MeasurementPoint] = await org.list_(org.RESOURCES["point"], principal_of(request)).filter(query)
        missing = [str(i) for i in sorted(wanted_ids - {p.id for p in points})]
        missing += sorted(set(wanted_codes) - {p.code for p in points})
        if missing:
            raise NotFoundError(
                f"no point {', '.join(missing)} within your scope",
                hint="Check the ids and codes; GET /api/v1/org/points lists the points you may see.",
                details={"missing": missing},
            )
        readings = await ts.latest(points)
        zones = await ts.zones_of_enterprises({p.enterprise_id for p in points})
        now = dt.datetime.now(dt.UTC)
        out = []
        for point in points:
            reading = readings.get(point.id)
            zone = zones[point.enterprise_id]
            out.append(
                LatestOut(
                    point_id=point.id,
                    code=point.code,
                    name=point.name,
                    unit=point.unit,
                    kind=point.kind,
                    ts=reading.ts.astimezone(zone) if reading else None,
                    value=reading.value if reading else None,
                    delta=reading.delta if reading else None,
                    quality=reading.quality if reading else None,
                    estimated=reading.estimated if reading else None,
                    flags=reading.flags if reading else [],
                    age_s=round((now - reading.ts).total_seconds(), 3) if reading else None,
                )
            )
        return LatestPage(at=now, points=out)

"""Series and latest values: buckets with completeness, local days, raw readings, scope and range limits."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from cem_platform.identity.roles import Role
from cem_platform.org.models import Facility, MeasurementPoint, Process, Site
from cem_platform.telemetry.rollup import fold_pending
from cem_platform.telemetry.series import Interval, latest, series
from cem_platform.telemetry.store import Row, dt_to_ms, store_for
from tests.test_platform.world import World
from tests.test_timeseries.helpers import UTC, add_point, write

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def _hour_ago(hours: int) -> dt.datetime:
    return dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=hours)


async def _fill_hour(point: MeasurementPoint, hour: dt.datetime, count: int, estimated: int, uncertain: int) -> None:
    """``count`` readings a minute apart from ``hour``: a totaliser growing by 2.5 a reading."""
    rows = [
        Row(
            point_id=point.id,
            ts=dt_to_ms(hour + dt.timedelta(minutes=i)),
            value=100.0 + 2.5 * i,
            delta=2.5,
            quality=1 if i < uncertain else 0,
            estimated=i >= count - estimated,
            flags=1 if i >= count - estimated else 0,
            seq=i,
        )
        for i in range(count)
    ]
    store = store_for()
    await write(store, rows)
    await fold_pending(store)


async def test_hour_buckets_carry_completeness_estimated_share_and_aggregates(world: World) -> None:
    point = world.a.point  # a totaliser read every 60 s
    full, empty = _hour_ago(3), _hour_ago(2)
    await _fill_hour(point, full, count=30, estimated=6, uncertain=3)
    now = _hour_ago(1) + dt.timedelta(minutes=30)
    await _fill_hour(point, _hour_ago(1), count=15, estimated=0, uncertain=0)

    result = await series(point, full + dt.timedelta(minutes=20), now + dt.timedelta(hours=5), Interval.HOUR, now=now)

    assert [b.start for b in result.buckets] == [full, empty, _hour_ago(1)]  # the bucket holding 'from', up to now
    assert result.buckets[0].start.utcoffset() == dt.timedelta(hours=8)  # shown in the plant's time zone
    first, gap, current = result.buckets
    assert (first.readings, first.expected, first.completeness) == (30, 60.0, 0.5)
    assert (first.estimated_share, first.uncertain) == (0.2, 3)
    assert (first.sum, first.min, first.max, first.last) == (75.0, 100.0, 172.5, 172.5)
    assert first.mean == pytest.approx(136.25)
    assert (gap.readings, gap.expected, gap.completeness, gap.estimated_share, gap.sum, gap.mean) == (
        0,
        60.0,
        0.0,
        0.0,
        None,
        None,
    )
    assert (current.readings, current.expected, current.completeness) == (15, 30.0, 0.5)  # half the hour is over
    assert (result.readings, result.expected) == (45, 150.0)
    assert result.completeness == pytest.approx(0.3)
    assert result.unit == "t"


async def test_day_buckets_start_at_local_midnight(world: World) -> None:
    point = world.a.point
    today = dt.datetime.now(SHANGHAI).date()
    midnight = dt.datetime.combine(today - dt.timedelta(days=2), dt.time(), tzinfo=SHANGHAI)
    # the last minute of one local day and the first of the next, both on the same UTC date
    await _fill_hour(point, midnight - dt.timedelta(minutes=1), count=2, estimated=0, uncertain=0)

    result = await series(point, midnight - dt.timedelta(days=1), midnight + dt.timedelta(days=1), "day")

    assert [(b.start, b.readings) for b in result.buckets] == [(midnight - dt.timedelta(days=1), 1), (midnight, 1)]
    assert result.buckets[1].start.astimezone(UTC).hour == 16  # a Shanghai day starts 16:00 UTC
    assert result.buckets[0].expected == 1440.0
    month = await series(point, midnight - dt.timedelta(days=40), midnight + dt.timedelta(days=1), Interval.MONTH)
    assert sum(b.readings for b in month.buckets) == 2
    assert all(b.start.day == 1 and b.start.hour == 0 for b in month.buckets)


async def test_raw_readings_with_quality_and_flags(world: World) -> None:
    point = world.a.point
    hour = _hour_ago(2)
    await _fill_hour(point, hour, count=4, estimated=1, uncertain=1)
    result = await series(point, hour, hour + dt.timedelta(hours=1), Interval.RAW)
    assert [(r.value, r.quality, r.estimated, r.flags) for r in result.raw] == [
        (100.0, "uncertain", False, []),
        (102.5, "good", False, []),
        (105.0, "good", False, []),
        (107.5, "good", True, ["filled"]),
    ]
    assert result.raw[0].ts == hour
    assert (result.readings, result.expected, result.estimated_share) == (4, 60.0, 0.25)


async def test_latest_reads_many_points_in_one_query(world: World) -> None:
    other = await add_point(world.a.facility, world.a.enterprise.id, "ENTA.BF1.PCI")
    silent = await add_point(world.a.facility, world.a.enterprise.id, "ENTA.BF1.GAS")
    await write(
        store_for(),
        [
            Row(point_id=world.a.point.id, ts=dt_to_ms(_hour_ago(2)), value=1.0),
            Row(point_id=world.a.point.id, ts=dt_to_ms(_hour_ago(1)), value=2.0, flags=2),
            Row(point_id=other.id, ts=dt_to_ms(_hour_ago(5)), value=3.0, quality=1),
        ],
    )
    values = await latest([world.a.point, other, silent])
    assert set(values) == {world.a.point.id, other.id}
    assert (values[world.a.point.id].value, values[world.a.point.id].flags) == (2.0, ["stuck"])
    assert values[world.a.point.id].ts == _hour_ago(1)
    assert (values[other.id].value, values[other.id].quality) == (3.0, "uncertain")


# --- HTTP --------------------------------------------------------------------------------------------------------


async def test_series_route_per_interval_within_scope(world: World) -> None:
    point = world.a.point
    await _fill_hour(point, _hour_ago(3), count=30, estimated=6, uncertain=0)
    crew = await world.login("a-crew")
    url = f"/api/v1/points/{point.id}/series"
    start = (_hour_ago(3) - dt.timedelta(minutes=1)).astimezone(SHANGHAI).isoformat()
    expected_buckets = {"raw": None, "hour": 5, "day": None, "month": None}  # from 4 hours ago to the current one
    for interval in ("raw", "hour", "day", "month"):
        response = await world.client.get(url, params={"interval": interval, "from": start}, headers=crew)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["unit"], body["interval"], body["timezone"]) == ("t", interval, "Asia/Shanghai")
        assert body["readings"] == 30, interval
        if interval == "raw":
            assert len(body["raw"]) == 30 and body["buckets"] == []
            assert body["raw"][0]["quality"] == "good" and body["raw"][-1]["flags"] == ["filled"]
        else:
            assert body["raw"] == [] and sum(b["readings"] for b in body["buckets"]) == 30
            assert {"completeness", "estimated_share", "expected", "sum", "mean", "last"} <= set(body["buckets"][0])
        if expected_buckets[interval] is not None:
            assert len(body["buckets"]) == expected_buckets[interval]
            assert body["buckets"][1]["completeness"] == 0.5
            assert body["buckets"][1]["estimated_share"] == 0.2
    # defaults: the last 24 hours by hour
    response = await world.client.get(url, headers=crew)
    assert response.status_code == 200
    assert len(response.json()["buckets"]) in (24, 25)
    # an unencoded '+' arrives as a space and is still understood
    plus = (_hour_ago(4)).astimezone(SHANGHAI).isoformat()
    response = await world.client.get(f"{url}?interval=hour&from={plus}", headers=crew)
    assert response.status_code == 200, response.text
    assert response.json()["readings"] == 30

    # another enterprise's user does not even learn that the point exists
    other = await world.login("b-admin")
    response = await world.client.get(url, headers=other)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    response = await world.client.get(f"/api/v1/points/{point.id + 1000}/series", headers=crew)
    assert response.status_code == 404


async def test_a_site_scoped_user_sees_the_points_of_that_site_only(world: World) -> None:
    second_site = await Site.create(enterprise=world.a.enterprise, code="ENTA-S2", name="second works")
    process = await Process.create(
        site=second_site, process_type_id=world.a.process.process_type_id, code="IR", name="炼铁"
    )
    facility = await Facility.create(
        process=process, facility_type_id=world.a.facility.facility_type_id, code="BF9", name="9#高炉"
    )
    elsewhere = await add_point(facility, world.a.enterprise.id, "ENTA.S2.BF9.COKE")
    await world.add_user("site-crew", Role.CREW, enterprise=world.a.enterprise, site=world.a.site)
    headers = await world.login("site-crew")
    assert (await world.client.get(f"/api/v1/points/{world.a.point.id}/series", headers=headers)).status_code == 200
    assert (await world.client.get(f"/api/v1/points/{elsewhere.id}/series", headers=headers)).status_code == 404
    response = await world.client.get(f"/api/v1/points/latest?ids={world.a.point.id},{elsewhere.id}", headers=headers)
    assert response.status_code == 404
    assert response.json()["error"]["details"] == {"missing": [str(elsewhere.id)]}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        (
            {"interval": "raw", "from": "2026-01-01T00:00:00Z", "to": "2026-02-02T00:00:00Z"},
            "too long for interval=raw",
        ),
        ({"interval": "hour", "from": "2024-01-01T00:00:00Z", "to": "2025-06-01T00:00:00Z"}, "interval=hour"),
        ({"interval": "hour", "from": "2026-01-01T00:00:00"}, "no time zone offset"),
        ({"interval": "day", "from": "yesterday"}, "not an ISO-8601 time"),
        ({"interval": "day", "from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "the range is empty"),
        ({"interval": "week"}, "interval"),
    ],
)
async def test_series_refuses_ranges_it_cannot_answer(world: World, params: dict[str, str], fragment: str) -> None:
    headers = await world.login("a-executive")
    response = await world.client.get(f"/api/v1/points/{world.a.point.id}/series", params=params, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert fragment in error["message"]
    assert error["hint"]


async def test_raw_is_refused_when_it_would_be_too_many_readings(world: World) -> None:
    fast = await add_point(world.a.facility, world.a.enterprise.id, "ENTA.BF1.FAST", sample_seconds=1, kind="flow")
    headers = await world.login("a-executive")
    params = {"interval": "raw", "from": "2026-01-01T00:00:00+08:00", "to": "2026-01-04T00:00:00+08:00"}
    response = await world.client.get(f"/api/v1/points/{fast.id}/series", params=params, headers=headers)
    assert response.status_code == 400
    assert "200,000 readings" in response.json()["error"]["message"]
    assert "interval=hour" in response.json()["error"]["hint"]


async def test_latest_route(world: World) -> None:
    pci = await add_point(world.a.facility, world.a.enterprise.id, "ENTA.BF1.PCI")
    await write(store_for(), [Row(point_id=world.a.point.id, ts=dt_to_ms(_hour_ago(1)), value=42.5, estimated=True)])
    headers = await world.login("a-accountant")
    response = await world.client.get(
        "/api/v1/points/latest", params={"ids": str(world.a.point.id), "codes": "ENTA.BF1.PCI"}, headers=headers
    )
    assert response.status_code == 200, response.text
    points = response.json()["points"]
    assert [p["point_id"] for p in points] == [world.a.point.id, pci.id]
    first, second = points
    assert (first["value"], first["unit"], first["quality"], first["estimated"]) == (42.5, "t", "good", True)
    assert first["ts"].endswith("+08:00") and 3600 <= first["age_s"] < 7300
    assert (second["value"], second["ts"], second["quality"], second["flags"]) == (None, None, None, [])

    other = await world.login("b-admin")
    response = await world.client.get("/api/v1/points/latest", params={"ids": str(world.a.point.id)}, headers=other)
    assert response.status_code == 404
    response = await world.client.get("/api/v1/points/latest", params={"codes": "ENTA.BF1.COKE"}, headers=other)
    assert response.status_code == 404
    too_many = ",".join(str(i) for i in range(1, 1002))
    response = await world.client.get("/api/v1/points/latest", params={"ids": too_many}, headers=headers)
    assert response.status_code == 400
    assert "at most 1000" in response.json()["error"]["message"]
    response = await world.client.get("/api/v1/points/latest", headers=headers)
    assert response.status_code == 400
    response = await world.client.get("/api/v1/points/latest", params={"ids": "1,x"}, headers=headers)
    assert response.status_code == 400

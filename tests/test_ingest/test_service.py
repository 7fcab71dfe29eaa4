"""Ingest's checks and writes, without MQTT: what is stored once, what is refused and why."""

from __future__ import annotations

import time

import msgspec
from tortoise import connections

from cem_gateway.wire import Alarm, BufferState, Status, encode
from cem_platform.settings import Settings
from cem_platform.telemetry.ingest import IngestService, Message
from cem_platform.telemetry.models import DeadLetter, DeviceStatus
from cem_registry.models import Device, DeviceState
from tests.test_ingest.helpers import device, now_slot, payload, points, readings
from tests.test_platform.world import World


def _message(device_id: str, body: bytes, channel: str = "telemetry") -> Message:
    return Message(f"cem/v1/{device_id}/{channel}", body, int(time.time() * 1000))


async def _count(sql: str = "SELECT count(*) AS n FROM ts_reading") -> int:
    rows = await connections.get("default").execute_query_dict(sql)
    return int(rows[0]["n"])


async def test_readings_are_stored_once_however_often_they_come(world: World, settings: Settings) -> None:
    gateway = await device(world.a)
    meters = await points(world.a, 5)
    start = now_slot() - 60_000
    items = readings([m.code for m in meters], start, 10)
    service = IngestService(settings)
    first = _message(gateway.id, payload(gateway.id, items[:30]))
    second = _message(gateway.id, payload(gateway.id, items[20:]))  # overlaps the first by 10 readings
    await service.handle([first, second])
    await service.handle([first])  # broker redelivery
    await service.handle([_message(gateway.id, payload(gateway.id, items))])  # gateway resend after restart
    assert await _count() == 50
    assert await _count("SELECT count(*) AS n FROM ts_pending") == 50  # each queued for the rollups once
    assert service.stats.stored == 50
    assert service.stats.duplicates == 10 + 30 + 50
    stored = await connections.get("default").execute_query_dict(
        "SELECT point_id, ts, value, delta, seq FROM ts_reading ORDER BY seq"
    )
    assert [r["seq"] for r in stored] == list(range(1, 51))
    assert {r["delta"] for r in stored} == {1.5}
    batches = await connections.get("default").execute_query_dict(
        "SELECT stored, duplicates FROM ts_batch ORDER BY received_at, first_seq"
    )
    assert sum(b["stored"] for b in batches) == 50
    assert (await Device.get(id=gateway.id)).last_seen_at is not None
    sources = await connections.get("default").execute_query_dict("SELECT DISTINCT device_id FROM ts_point_source")
    assert sources == [{"device_id": gateway.id}]


async def test_a_malformed_batch_goes_to_dead_letters_and_the_good_ones_are_stored(
    world: World, settings: Settings
) -> None:
    gateway = await device(world.a)
    meters = await points(world.a, 2)
    start = now_slot() - 10_000
    good = _message(gateway.id, payload(gateway.id, readings([m.code for m in meters], start, 3)))
    garbage = _message(gateway.id, b'{"v": 1, "device": "' + gateway.id.encode() + b'", "readings": "oops"}')
    future_version = _message(gateway.id, b'{"v": 2, "device": "x", "sent": 1, "readings": []}')
    wrong_topic = Message("cem/v1/something/else", b"{}", int(time.time() * 1000))
    service = IngestService(settings)
    await service.handle([garbage, good, future_version, wrong_topic])
    assert await _count() == 6
    letters = {d.reason: d for d in await DeadLetter.all()}
    assert set(letters) == {"schema", "topic"}
    assert bytes(letters["topic"].payload) == b"{}"
    schema = await DeadLetter.filter(reason="schema").order_by("id")
    assert len(schema) == 2 and "wire format v1" in schema[0].message
    assert "version" in schema[1].message
    await service.handle([garbage])  # the same bytes again: counted, not duplicated
    again = await DeadLetter.get(id=schema[0].id)
    assert again.occurrences == 2


async def test_identity_device_state_and_reading_checks(world: World, settings: Settings) -> None:
    gateway = await device(world.a)
    suspended = await device(world.a, DeviceState.SUSPENDED)
    meters = await points(world.a, 2)
    codes = [m.code for m in meters]
    start = now_slot() - 10_000
    service = IngestService(settings)
    spoof = _message(suspended.id, payload(gateway.id, readings(codes, start, 1)))  # another device's topic
    unknown = _message("dev-000000000000", payload("dev-000000000000", readings(codes, start, 1)))
    not_active = _message(suspended.id, payload(suspended.id, readings(codes, start, 1)))
    mixed_items = readings(codes, start, 2)
    bad = [
        msgspec.structs.replace(mixed_items[0], point="NOPE.1"),  # unknown point
        msgspec.structs.replace(mixed_items[1], unit="MWh"),  # wrong unit
        msgspec.structs.replace(mixed_items[2], ts=int(time.time() * 1000) + 3_600_000),  # an hour ahead
        msgspec.structs.replace(mixed_items[3], ts=start - 500 * 86_400_000),  # beyond raw retention
    ]
    stored_ok = readings(codes, start + 5000, 1, first_seq=100)
    mixed = _message(gateway.id, payload(gateway.id, bad + stored_ok))
    await service.handle([spoof, unknown, not_active, mixed])
    assert await _count() == 2  # the two good readings of the mixed batch
    reasons = {d.reason: d for d in await DeadLetter.all()}
    assert set(reasons) == {"identity_mismatch", "unknown_device", "device_not_active", "readings_rejected"}
    rejected = reasons["readings_rejected"]
    assert [r["reason"] for r in rejected.rejected] == [
        "unknown_point",
        "unit_mismatch",
        "future_timestamp",
        "too_old",
    ]
    assert rejected.rejected[1]["expected_unit"] == "kWh"
    assert rejected.enterprise_id == world.a.enterprise.id
    assert "4 of 6 readings refused" in rejected.message


async def test_status_is_recorded_and_the_device_marked_seen(world: World, settings: Settings) -> None:
    gateway = await device(world.a, DeviceState.ENROLLED)
    service = IngestService(settings)
    now = int(time.time() * 1000)
    online = Status(
        device=gateway.id,
        state="online",
        ts=now,
        firmware="cem-gateway 1.0",
        heartbeat_s=10,
        buffer=BufferState(depth=12, capacity=1000, last_seq=99),
        alarms=(Alarm(code="meter_stuck", severity="warning", message="stuck", since=now, subject="M0001"),),
    )
    await service.handle([_message(gateway.id, encode(online), "status")])
    status = await DeviceStatus.get(device_id=gateway.id)
    assert (status.state, status.buffer_depth, status.last_seq, status.firmware) == (
        "online",
        12,
        99,
        "cem-gateway 1.0",
    )
    refreshed = await Device.get(id=gateway.id)
    assert refreshed.state is DeviceState.ACTIVE and refreshed.firmware == "cem-gateway 1.0"
    will = Status(device=gateway.id, state="offline", ts=now - 60_000, reason="connection lost")
    await service.handle([_message(gateway.id, encode(will), "status")])
    assert (await DeviceStatus.get(device_id=gateway.id)).state == "offline"


async def test_dead_letters_are_visible_to_device_admins_in_scope(world: World, settings: Settings) -> None:
    gateway = await device(world.a)
    await points(world.a, 1)
    service = IngestService(settings)
    bad = payload(gateway.id, readings(["NOPE"], now_slot(), 1))
    await service.handle([_message(gateway.id, bad)])
    admin_a = await world.login("a-device-admin")
    page = (await world.client.get("/api/v1/ingest/dead-letters", headers=admin_a)).json()
    assert page["total"] == 1 and page["items"][0]["reason"] == "readings_rejected"
    detail = await world.client.get(f"/api/v1/ingest/dead-letters/{page['items'][0]['id']}", headers=admin_a)
    assert detail.status_code == 200 and detail.json()["payload_prefix"] == bad.decode()
    admin_b = await world.login("b-admin")
    assert (await world.client.get("/api/v1/ingest/dead-letters", headers=admin_b)).json()["total"] == 0
    hidden = await world.client.get(f"/api/v1/ingest/dead-letters/{page['items'][0]['id']}", headers=admin_b)
    assert hidden.status_code == 404
    crew = await world.login("a-crew")
    assert (await world.client.get("/api/v1/ingest/dead-letters", headers=crew)).status_code == 403

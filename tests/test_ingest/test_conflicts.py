"""(device, seq) is stored once, and a reading that disagrees with what is stored is refused, kept and alarmed.

Reproduced defects (issue 17): a repeated ``seq`` with another timestamp was stored twice, and another value for a
(point, time) already stored was dropped without a word.
"""

from __future__ import annotations

import time

from tortoise import connections

from cem_gateway.wire import Reading
from cem_platform.alarms.models import Alarm, AlarmKind, AlarmState
from cem_platform.settings import Settings
from cem_platform.telemetry.ingest import IngestService, Message
from cem_platform.telemetry.models import DeadLetter
from tests.test_ingest.helpers import device, now_slot, payload, points, readings
from tests.test_platform.world import World


def _message(device_id: str, body: bytes, later_ms: int = 0) -> Message:
    return Message(f"cem/v1/{device_id}/telemetry", body, int(time.time() * 1000) + later_ms)


async def _rows() -> list[tuple[int, int, float, int]]:
    """Every stored reading: point, ts (ms), value, seq."""
    found = await connections.get("default").execute_query_dict(
        "SELECT point_id, (extract(epoch FROM ts) * 1000)::int8 AS ts, value, seq FROM ts_reading ORDER BY seq"
    )
    return [(r["point_id"], r["ts"], r["value"], r["seq"]) for r in found]


async def _batches(device_id: str) -> list[tuple[int, int, int, int, int]]:
    """The ts_batch records of a device: first_seq, last_seq, stored, duplicates, rejected."""
    found = await connections.get("default").execute_query_dict(
        "SELECT first_seq, last_seq, stored, duplicates, rejected FROM ts_batch WHERE device_id = $1"
        " ORDER BY received_at",
        [device_id],
    )
    return [(r["first_seq"], r["last_seq"], r["stored"], r["duplicates"], r["rejected"]) for r in found]


async def test_a_resend_is_counted_as_duplicates_and_confirmed_again(world: World, settings: Settings) -> None:
    gateway = await device(world.a)
    meters = await points(world.a, 2)
    body = payload(gateway.id, readings([m.code for m in meters], now_slot() - 10_000, 3))
    service = IngestService(settings)
    assert await service.handle([_message(gateway.id, body)]) == {gateway.id: [(1, 6)]}
    # the same readings again (a resend after a lost confirmation): nothing stored twice, confirmed again
    assert await service.handle([_message(gateway.id, body, 1), _message(gateway.id, body, 2)]) == {
        gateway.id: [(1, 6), (1, 6)]
    }
    assert len(await _rows()) == 6
    assert (service.stats.stored, service.stats.duplicates, service.stats.rejected) == (6, 12, 0)
    assert await _batches(gateway.id) == [(1, 6, 6, 0, 0), (1, 6, 0, 6, 0), (1, 6, 0, 6, 0)]
    # a resend received in the same millisecond as another message of the same first seq: counted all the same
    same = _message(gateway.id, body, 3)
    await service.handle([same, same])
    assert (await _batches(gateway.id))[-1] == (1, 6, 0, 12, 0)
    assert await DeadLetter.all().count() == 0


async def test_a_seq_used_again_for_another_reading_is_refused(world: World, settings: Settings) -> None:
    gateway = await device(world.a)
    [meter] = await points(world.a, 1)
    start = now_slot() - 60_000
    first = readings([meter.code], start, 3, first_seq=10)  # seq 10, 11, 12
    service = IngestService(settings)
    await service.handle([_message(gateway.id, payload(gateway.id, first))])
    # seq 11 again, for a later time (a restored or copied buffer); seq 13 is new; inside one message, seq 14 twice
    reused = Reading(seq=11, point=meter.code, ts=start + 20_000, value=2000.0, unit="kWh")
    fresh = Reading(seq=13, point=meter.code, ts=start + 21_000, value=2001.0, unit="kWh")
    twice = [
        Reading(seq=14, point=meter.code, ts=start + 22_000, value=2002.0, unit="kWh"),
        Reading(seq=14, point=meter.code, ts=start + 23_000, value=2003.0, unit="kWh"),
    ]
    message = _message(gateway.id, payload(gateway.id, [reused, fresh, *twice]))
    committed = await service.handle([message])
    assert committed == {gateway.id: [(11, 14)]}  # the message is settled: its refused readings are kept for good
    assert [row[3] for row in await _rows()] == [10, 11, 12, 13, 14]  # every seq once
    assert [row[1] for row in await _rows()][1] == start + 1000  # seq 11 is still the first reading it stood for
    [letter] = await DeadLetter.all()
    assert letter.reason == "readings_rejected" and letter.device_id == gateway.id
    refused = [(r["index"], r["seq"], r["reason"]) for r in letter.rejected]
    assert refused == [(0, 11, "seq_reused"), (3, 14, "seq_reused")]
    assert "2 of 4 readings refused (2 seq_reused)" in letter.message and "sequence numbers" in letter.message
    assert (await _batches(gateway.id))[-1] == (11, 14, 2, 0, 2)


async def test_another_value_for_a_stored_time_is_a_dead_letter_and_a_data_alarm(
    world: World, settings: Settings
) -> None:
    gateway = await device(world.a)
    second = await device(world.a)  # another terminal reading the same meter (a moved or doubled gateway)
    [meter] = await points(world.a, 1)
    start = now_slot() - 30_000
    service = IngestService(settings)
    await service.handle([_message(gateway.id, payload(gateway.id, readings([meter.code], start, 2)))])
    before = await _rows()
    changed = Reading(seq=1, point=meter.code, ts=start, value=999.5, unit="kWh", delta=1.5)
    same = Reading(seq=2, point=meter.code, ts=start + 1000, value=1001.5, unit="kWh")  # equal; no delta: no conflict
    committed = await service.handle([_message(second.id, payload(second.id, [changed, same]))])
    assert committed == {second.id: [(1, 2)]}
    assert await _rows() == before  # the stored reading stays exactly as it was
    [letter] = await DeadLetter.all()
    assert letter.device_id == second.id and letter.enterprise_id == world.a.enterprise.id
    [entry] = letter.rejected
    assert entry == {
        "index": 0,
        "seq": 1,
        "point": meter.code,
        "reason": "value_conflict",
        "ts": start,
        "value": 999.5,
        "stored_value": 1000.0,
        "delta": 1.5,
        "stored_delta": 1.5,
    }
    assert "1 value_conflict" in letter.message and "was kept" in letter.message
    [alarm] = await Alarm.filter(kind=AlarmKind.DATA_CONFLICT)
    assert alarm.cause == f"data_conflict:{meter.id}" and alarm.state == AlarmState.ACTIVE
    assert alarm.enterprise_id == world.a.enterprise.id
    assert "999.5" in alarm.message and "1000.0" in alarm.message and "kept" in alarm.message
    assert alarm.detail["device_id"] == second.id and alarm.detail["readings"] == 1
    # the same conflict again: still one alarm for the point, counted; the dead letter counts the occurrence
    await service.handle([_message(second.id, payload(second.id, [changed]))])
    alarm = await Alarm.get(id=alarm.id)
    assert alarm.occurrences == 2 and await Alarm.filter(kind=AlarmKind.DATA_CONFLICT).count() == 1
    assert await DeadLetter.all().count() == 2  # another body (its sent time differs), the same reason
    assert await _rows() == before

"""No single message stops ingest: bounded fields at decode, a message that fails to write set aside, stop honoured."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import msgspec
import pytest
from tortoise import connections

from cem_gateway import wire
from cem_platform.settings import Settings
from cem_platform.telemetry.consumer import IngestConsumer, _Delivery, is_outage
from cem_platform.telemetry.ingest import IngestService, Message
from cem_platform.telemetry.models import DeadLetter
from tests.test_ingest.helpers import device, now_slot, payload, points, readings
from tests.test_platform.world import World


def _message(device_id: str, body: bytes) -> Message:
    return Message(f"cem/v1/{device_id}/telemetry", body, int(time.time() * 1000))


def _delivery(message: Message, mid: int) -> _Delivery:
    return _Delivery(message, mid, 1, 0)


async def _stored() -> int:
    rows = await connections.get("default").execute_query_dict("SELECT count(*) AS n FROM ts_reading")
    return int(rows[0]["n"])


def _reading(**fields: object) -> bytes:
    """A one-reading batch with ``fields`` replacing a good reading's, as raw JSON (the encoder would refuse)."""
    start = now_slot() - 5_000
    reading = {"seq": 7, "point": "M0000", "ts": start, "value": 1.0, "unit": "kWh", **fields}
    return msgspec.json.encode({"v": 1, "device": "dev-x", "sent": start, "readings": [reading]})


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"seq": 2**64}, "seq"),
        ({"seq": 2**63}, "seq"),
        ({"seq": -1}, "seq"),
        ({"since": 2**64}, "since"),
        ({"ts": 2**63}, "ts"),  # past year 9999: no datetime holds it
        ({"ts": -1}, "ts"),
        ({"point": "M\x000"}, "point"),  # PostgreSQL refuses NUL in text and JSON
        ({"point": "M" * 65}, "point"),
        ({"unit": "k\nWh"}, "unit"),
        ({"flags": ["stuck"] * 6}, "flags"),
    ],
)
def test_every_field_is_bounded_at_decode(fields: dict[str, object], where: str) -> None:
    with pytest.raises(wire.WireError, match=f"readings\\[0\\]\\.{where}"):
        wire.decode_telemetry(_reading(**fields))


def test_batches_and_statuses_are_bounded() -> None:
    start = now_slot()
    many = [{"seq": i, "point": "M", "ts": start, "value": 1.0, "unit": "t"} for i in range(wire.MAX_READINGS + 1)]
    with pytest.raises(wire.WireError, match="readings"):
        wire.decode_telemetry(msgspec.json.encode({"v": 1, "device": "dev-x", "sent": start, "readings": many}))
    status = {"v": 1, "device": "dev-x", "state": "online", "ts": start, "reason": "x" * 101}
    with pytest.raises(wire.WireError, match="reason"):
        wire.decode_status(msgspec.json.encode(status))
    status = {"v": 1, "device": "dev-x", "state": "online", "ts": start, "buffer": {"depth": 2**31, "capacity": 1}}
    with pytest.raises(wire.WireError, match="depth"):
        wire.decode_status(msgspec.json.encode(status))
    # what the gateway itself sends always decodes: long error texts are clipped on its side
    text = wire.clip("refused\x00" + "x" * 5000)
    assert len(text) == wire.MAX_TEXT and "\x00" not in text
    alarm = wire.Alarm(code="connection_down", severity="critical", message=text, since=start)
    assert wire.decode_status(wire.encode(wire.Status(device="dev-x", state="online", ts=start, alarms=(alarm,))))


async def test_poison_is_a_dead_letter_and_the_rest_is_stored(world: World, settings: Settings) -> None:
    gateway = await device(world.a)
    meters = await points(world.a, 2)
    good = _message(gateway.id, payload(gateway.id, readings([m.code for m in meters], now_slot() - 10_000, 3)))
    poison = _message(gateway.id, _reading(seq=2**64).replace(b"dev-x", gateway.id.encode()))
    await IngestService(settings).handle([poison, good])
    assert await _stored() == 6
    [letter] = await DeadLetter.all()
    assert letter.reason == "schema" and "seq" in letter.message


@pytest.fixture
async def refuse_value_666() -> AsyncIterator[None]:
    """A database that refuses one value (a real error from PostgreSQL, raised by a trigger) and takes the rest."""
    conn = connections.get("default")
    await conn.execute_script(
        "CREATE FUNCTION refuse_666() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.value = 666 THEN RAISE EXCEPTION 'value refused' USING ERRCODE = '22003'; END IF; "
        "RETURN NEW; END $$;"
        "CREATE TRIGGER refuse_666 BEFORE INSERT ON ts_reading FOR EACH ROW EXECUTE FUNCTION refuse_666();"
    )
    yield
    await conn.execute_script("DROP TRIGGER refuse_666 ON ts_reading; DROP FUNCTION refuse_666();")


@pytest.mark.usefixtures("refuse_value_666")
async def test_a_message_that_fails_to_write_is_set_aside_and_the_group_goes_on(
    world: World, settings: Settings
) -> None:
    gateway = await device(world.a)
    other = await device(world.a)
    meters = await points(world.a, 2)
    start = now_slot() - 20_000
    first = payload(gateway.id, readings([m.code for m in meters], start, 2))
    bad = wire.Reading(seq=100, point=meters[0].code, ts=start + 10_000, value=666.0, unit="kWh")
    poison = payload(gateway.id, [bad])
    last = payload(other.id, readings([m.code for m in meters], start + 12_000, 2, first_seq=1))
    group = [
        _delivery(_message(gateway.id, first), 1),
        _delivery(_message(gateway.id, poison), 2),
        _delivery(_message(other.id, last), 3),
    ]
    consumer = IngestConsumer(settings)
    committed = await asyncio.wait_for(consumer._write(group, asyncio.Event()), 30)  # written: the group is acked
    # the good messages are confirmed to their gateways; the one set aside is not (its gateway keeps it)
    assert committed == {gateway.id: [(1, 4)], other.id: [(1, 4)]}
    assert await _stored() == 8
    [letter] = await DeadLetter.all()
    assert letter.reason == "unprocessable" and letter.device_id == gateway.id
    assert letter.enterprise_id == world.a.enterprise.id and "value refused" in letter.message
    assert bytes(letter.payload) == poison
    assert consumer.outages == 0


def test_outages_are_told_from_bad_messages() -> None:
    with socket.socket() as probe:  # a port nobody listens on: a real refused connection
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError as err:
        refused = err
    else:  # pragma: no cover - the port was taken in between
        pytest.skip("the probe port was taken")
    wrapped = RuntimeError("write failed")
    wrapped.__cause__ = refused
    assert is_outage(refused) and is_outage(wrapped)
    assert not is_outage(ValueError("out of int64 range")) and not is_outage(KeyError("x"))


async def test_a_stop_ends_the_retries_of_an_outage_at_once(settings: Settings) -> None:
    """While the database is out of reach the group is retried; a stop ends that within a second, unacked."""

    retried = asyncio.Event()

    class Unreachable(IngestService):
        calls = 0

        async def handle(self, messages: object) -> None:
            Unreachable.calls += 1
            if Unreachable.calls >= 2:  # retried with backoff, not set aside
                retried.set()
            raise ConnectionRefusedError("database refused the connection")

    consumer = IngestConsumer(settings, Unreachable(settings))
    stop = asyncio.Event()
    group = [_delivery(_message("dev-x", b"{}"), 1)]
    writing = asyncio.create_task(consumer._write(group, stop))
    await asyncio.wait_for(retried.wait(), 10)
    assert consumer.outage_since is not None and consumer.outages == 1
    began = time.monotonic()
    stop.set()
    assert await asyncio.wait_for(writing, 5) is None
    assert time.monotonic() - began < 1.0
    assert await DeadLetter.all().count() == 0

"""The gateway's edge logic without the network: point maps, data quality, the buffer, the wire format."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest

from cem_gateway.buffer import Buffer
from cem_gateway.pointmap import Checks, Point, PointMapError, load_point_map, parse_point_map
from cem_gateway.quality import QualityFilter, Sample
from cem_gateway.runtime import Gateway
from cem_gateway.uplink import Uplink, UplinkError, parse_broker_url, tls_context
from cem_gateway.wire import Reading, Status, TelemetryBatch, WireError, decode_status, decode_telemetry, encode

MAP = """\
[gateway]
identity_dir = "id"
evict = "drop_oldest"

[[connections]]
name = "iron-plc"
protocol = "modbus"
host = "127.0.0.1"
port = 5020

[[connections]]
name = "power"
protocol = "opcua"
endpoint = "opc.tcp://127.0.0.1:4840/cem"

[[points]]
id = "AUX.GRID.IMPORT"
connection = "iron-plc"
unit = "kWh"
kind = "totaliser"
address = 0
type = "uint32"
scale = 0.1

[[points]]
id = "IR.BF1.COKE.FLOW"
connection = "iron-plc"
unit = "t/h"
kind = "flow"
address = 2
type = "float32"
word_order = "little"
min = 0
max = 400

[[points]]
id = "PW.PB1.POWER"
connection = "power"
unit = "kWh"
kind = "totaliser"
node = "ns=2;s=PW.PB1.POWER"
"""

YAML_MAP = """\
gateway:
  identity_dir: id
connections:
  - name: iron-plc
    protocol: modbus
    host: 127.0.0.1
    port: 5020
points:
  - id: AUX.GRID.IMPORT
    connection: iron-plc
    unit: kWh
    kind: totaliser
    address: 0
    type: uint32
    scale: 0.1
  - id: IR.BF1.COKE.FLOW
    connection: iron-plc
    unit: t/h
    kind: flow
    address: 2
    type: float32
    word_order: little
    min: 0
    max: 400
    colour: red
"""


# ------------------------------------------------------------------------------------------------ point maps
def test_a_point_map_parses_with_defaults_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "map.toml").write_text(MAP)
    point_map = load_point_map(tmp_path / "map.toml")
    assert point_map.gateway is not None
    assert point_map.gateway.identity_dir == tmp_path / "id"
    assert point_map.gateway.buffer_path == tmp_path / "buffer.sqlite3"
    grid, flow = point_map.points_of("iron-plc")
    assert (grid.type, grid.registers, grid.scale, grid.poll_s) == ("uint32", 2, 0.1, 1.0)
    assert grid.rollover == pytest.approx(2**32 * 0.1)  # default wrap of an unsigned counter
    assert (flow.word_order, flow.checks.min, flow.checks.max, flow.rollover) == ("little", 0, 400, None)
    assert point_map.points_of("power")[0].node == "ns=2;s=PW.PB1.POWER"


@pytest.mark.parametrize(
    ("change", "line", "words"),
    [
        (('type = "float32"', 'type = "float16"'), 31, "use one of int16"),
        (('connection = "power"', 'connection = "steam"'), 38, "'steam' is not declared"),
        (("address = 2", "address = 1"), 25, "register 1 of 'iron-plc' is already used by 'AUX.GRID.IMPORT'"),
        (("max = 400", "max = 400\nmxa = 3"), 35, "unknown key 'mxa'"),
        (('id = "PW.PB1.POWER"', 'id = "AUX.GRID.IMPORT"'), 37, "used twice"),
        (('endpoint = "opc', 'endpoint = "http'), 14, "must start with opc.tcp://"),
        (("min = 0\n", "min = 500\n"), 33, "min (500.0) must be below max"),
        (('node = "ns=2;s=PW.PB1.POWER"', "address = 3"), 41, "'address' is for Modbus points"),
        (('[[points]]\nid = "IR', '[[points]\nid = "IR'), 25, "not valid TOML"),
    ],
)
def test_a_bad_point_map_names_the_line_and_the_fix(change: tuple[str, str], line: int, words: str) -> None:
    text = MAP.replace(*change, 1)
    assert text != MAP
    with pytest.raises(PointMapError) as caught:
        parse_point_map(text, source="plant.toml")
    assert caught.value.line == line, str(caught.value)
    assert str(caught.value).startswith(f"plant.toml:{line}: ")
    assert words in str(caught.value)


def test_yaml_maps_read_the_same_and_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "map.yaml"
    path.write_text(YAML_MAP.replace("    colour: red\n", ""))
    from_yaml = load_point_map(path)
    from_toml = parse_point_map(MAP, base=tmp_path)
    assert [(p.id, p.type, p.scale, p.word_order, p.checks, p.rollover) for p in from_yaml.points] == [
        (p.id, p.type, p.scale, p.word_order, p.checks, p.rollover) for p in from_toml.points[:2]
    ]
    path.write_text(YAML_MAP)
    with pytest.raises(PointMapError, match=r"map.yaml:25: point 'IR.BF1.COKE.FLOW': unknown key 'colour'"):
        load_point_map(path)


def test_an_unreadable_or_empty_map_says_so(tmp_path: Path) -> None:
    with pytest.raises(PointMapError, match="cannot read the point map"):
        load_point_map(tmp_path / "missing.toml")
    with pytest.raises(PointMapError, match="no connections declared"):
        parse_point_map("")


# ------------------------------------------------------------------------------------------------ quality
@dataclass
class Raw:
    point: Point
    ts: float
    value: float | None
    error: str | None = None


def _point(kind: str = "flow", **checks: object) -> Point:
    rollover = checks.pop("rollover", None)
    return Point(
        id="P",
        connection="c",
        unit="t",
        kind=kind,
        poll_s=1.0,
        checks=Checks(**checks),
        rollover=rollover,  # type: ignore[arg-type]
    )


def _feed(quality: QualityFilter, point: Point, values: list[tuple[float, float | None]]) -> list[Sample]:
    out: list[Sample] = []
    for ts, value in values:
        out += quality.process([Raw(point, ts, value, None if value is not None else "timeout")])
    return out


def test_out_of_range_and_missing_values_are_dropped_and_counted() -> None:
    quality = QualityFilter()
    point = _point(min=0.0, max=100.0)
    samples = _feed(quality, point, [(1, 50.0), (2, 150.0), (3, -1.0), (4, None), (5, math.nan), (6, 60.0)])
    assert [(s.ts, s.value) for s in samples] == [(1000, 50.0), (6000, 60.0)]
    assert quality.dropped == {"out_of_range": 2, "timeout": 1, "nan": 1, "gap_unfilled": 1}


def test_a_spike_is_dropped_but_a_confirmed_level_change_is_kept() -> None:
    quality = QualityFilter()
    point = _point(max_rate=5.0)
    samples = _feed(quality, point, [(1, 10.0), (2, 12.0), (3, 120.0), (4, 13.0), (5, 80.0), (6, 81.0), (7, 82.0)])
    assert [(s.value, s.flags) for s in samples] == [(10.0, ()), (12.0, ()), (13.0, ()), (82.0, ("step",))]
    assert quality.dropped["rate_of_change"] == 3


def test_a_stuck_meter_is_flagged_uncertain_after_its_time() -> None:
    quality = QualityFilter()
    point = _point(stuck_s=3.0)
    samples = _feed(quality, point, [(t, 7.0) for t in range(1, 7)] + [(7, 7.5)])
    assert [s.quality for s in samples] == ["good"] * 3 + ["uncertain"] * 3 + ["good"]
    assert samples[4].flags == ("stuck",)
    assert quality.stuck_points() == []
    _feed(quality, point, [(t, 7.5) for t in range(8, 12)])
    assert quality.stuck_points() == ["P"]


def test_short_gaps_are_filled_linear_and_deltas_still_add_up() -> None:
    quality = QualityFilter()
    point = _point("totaliser", fill="linear", max_gap_s=5.0)
    samples = _feed(quality, point, [(1, 100.0), (2, 102.0), (6, 110.0), (7, 111.0)])
    assert [(s.ts, s.value, s.estimated) for s in samples] == [
        (1000, 100.0, False),
        (2000, 102.0, False),
        (3000, 104.0, True),
        (4000, 106.0, True),
        (5000, 108.0, True),
        (6000, 110.0, False),
        (7000, 111.0, False),
    ]
    assert [s.flags for s in samples if s.estimated] == [("filled",)] * 3
    assert sum(s.delta or 0 for s in samples) == pytest.approx(11.0)
    assert [s.since for s in samples[1:]] == [1000, 2000, 3000, 4000, 5000, 6000]
    assert quality.estimated == 3


def test_hold_fill_repeats_and_long_gaps_stay_gaps() -> None:
    quality = QualityFilter()
    point = _point("flow", fill="hold", max_gap_s=3.0)
    samples = _feed(quality, point, [(1, 5.0), (4, 9.0), (10, 1.0)])
    assert [(s.ts, s.value, s.estimated) for s in samples] == [
        (1000, 5.0, False),
        (2000, 5.0, True),
        (3000, 5.0, True),
        (4000, 9.0, False),
        (10000, 1.0, False),
    ]
    assert quality.dropped["gap_unfilled"] == 1


def test_totaliser_rollover_and_reset() -> None:
    quality = QualityFilter()
    point = _point("totaliser", rollover=1000.0, max_rate=50.0)
    samples = _feed(quality, point, [(1, 980.0), (2, 995.0), (3, 12.0), (4, 30.0), (5, 3.0), (6, 9.0)])
    assert [(s.value, s.delta, s.flags, s.quality) for s in samples] == [
        (980.0, None, (), "good"),
        (995.0, 15.0, (), "good"),
        (12.0, 17.0, ("rollover",), "good"),
        (30.0, 18.0, (), "good"),
        (3.0, None, ("reset",), "uncertain"),
        (9.0, 6.0, (), "good"),
    ]


def test_a_totaliser_that_jumps_carries_no_delta_across_the_jump() -> None:
    quality = QualityFilter()
    point = _point("totaliser", max_rate=10.0)
    samples = _feed(quality, point, [(1, 100.0), (2, 105.0), (3, 9000.0), (4, 9004.0), (5, 9008.0), (6, 9012.0)])
    assert [(s.value, s.delta, s.flags, s.quality) for s in samples] == [
        (100.0, None, (), "good"),
        (105.0, 5.0, (), "good"),
        (9008.0, None, ("step",), "uncertain"),
        (9012.0, 4.0, (), "good"),
    ]


def test_a_reading_for_a_slot_already_seen_is_not_sent_twice() -> None:
    quality = QualityFilter()
    point = _point()
    assert len(_feed(quality, point, [(1, 1.0), (1, 1.0), (0.5, 2.0)])) == 1
    assert quality.dropped["out_of_order"] == 2


# ------------------------------------------------------------------------------------------------ buffer
def _samples(start: int, count: int) -> list[Sample]:
    return [Sample("P", (start + i) * 1000, float(start + i), "t") for i in range(count)]


async def test_the_buffer_numbers_readings_for_good_across_restarts(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path / "b.sqlite3", min_free_mb=0)
    await buffer.open()
    stored = await buffer.append(_samples(0, 5))
    assert (stored.first_seq, stored.last_seq, stored.stored) == (1, 5, 5)
    batch = await buffer.fetch(0, 3)
    assert [r.seq for r in batch] == [1, 2, 3]
    assert batch[0] == Reading(1, "P", 0, 0.0, "t")
    assert await buffer.acknowledge(1, 3) == 3
    assert [r.seq for r in await buffer.fetch(0, 100)] == [4, 5]
    assert await buffer.acknowledge(4, 5) == 2
    await buffer.close()

    again = Buffer(tmp_path / "b.sqlite3", min_free_mb=0)
    await again.open()
    assert (again.depth, again.last_seq) == (0, 5)
    assert again.point_states == {"P": (4000, 4.0)}  # the last reading stored, though it was sent and removed
    stored = await again.append(_samples(5, 2))
    assert (stored.first_seq, stored.last_seq) == (6, 7)  # never 1 again, although the buffer was empty
    assert [r.seq for r in await again.fetch(5, 10, upto=6)] == [6]
    state = await again.state()
    assert (state.depth, state.last_seq, state.oldest_ts) == (2, 7, 5000)
    await again.close()


def test_after_a_restart_the_first_delta_spans_the_downtime() -> None:
    quality = QualityFilter()
    quality.restore({"P": (2000, 100.0)})
    point = _point("totaliser", fill="linear", max_gap_s=2.0)
    (sample,) = _feed(quality, point, [(60, 130.0)])
    assert (sample.delta, sample.since, sample.estimated) == (30.0, 2000, False)


async def test_a_full_buffer_evicts_by_its_policy_and_counts(tmp_path: Path) -> None:
    oldest = Buffer(tmp_path / "old.sqlite3", max_readings=100, min_free_mb=0, evict="drop_oldest")
    await oldest.open()
    await oldest.append(_samples(0, 90))
    stored = await oldest.append(_samples(90, 20))
    assert (stored.stored, stored.evicted, stored.refused) == (20, 10, 0)
    assert [r.seq for r in await oldest.fetch(0, 1)] == [11]
    assert oldest.depth == 100 and oldest.full_since is not None
    assert (await oldest.state()).evicted == 10
    await oldest.close()

    newest = Buffer(tmp_path / "new.sqlite3", max_readings=100, min_free_mb=0, evict="drop_newest")
    await newest.open()
    await newest.append(_samples(0, 90))
    stored = await newest.append(_samples(90, 20))
    assert (stored.stored, stored.evicted, stored.refused) == (10, 0, 10)
    assert [r.seq for r in await newest.fetch(0, 1)] == [1]
    await newest.acknowledge(1, 50)
    stored = await newest.append(_samples(200, 5))
    assert stored.stored == 5 and newest.full_since is None
    await newest.close()
    reopened = Buffer(tmp_path / "new.sqlite3", min_free_mb=0)
    await reopened.open()
    assert reopened.evicted == 10  # the count survives a restart
    await reopened.close()


async def test_a_nearly_full_disk_applies_the_policy(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path / "disk.sqlite3", min_free_mb=10**9, evict="drop_newest")  # a petabyte free? no
    await buffer.open()
    stored = await buffer.append(_samples(0, 3))
    assert (stored.stored, stored.refused) == (0, 3)
    assert buffer.full_since is not None and buffer.evicted == 3
    await buffer.close()


# ------------------------------------------------------------------------------------------------ wire
def test_the_wire_format_round_trips_and_omits_defaults() -> None:
    batch = TelemetryBatch(
        device="dev-abc",
        sent=1764043200123,
        readings=(
            Reading(1, "IR.BF1.COKE", 1764043200000, 184467.25, "t", delta=0.97, since=1764043199000),
            Reading(2, "HR.RF1.TEMP", 1764043200000, 1180.0, "degC", "uncertain", flags=("stuck",)),
        ),
    )
    payload = encode(batch)
    assert b'"quality"' in payload and b'"estimated"' not in payload and b'"v":1' in payload
    assert decode_telemetry(payload) == batch
    raw = msgspec.json.decode(payload)
    raw["readings"][0]["colour"] = "red"
    with pytest.raises(WireError, match="colour"):
        decode_telemetry(msgspec.json.encode(raw))
    raw = msgspec.json.decode(payload) | {"v": 2}
    with pytest.raises(WireError, match="wire version not supported"):
        decode_telemetry(msgspec.json.encode(raw))
    raw = msgspec.json.decode(payload)
    raw["readings"][1]["flags"] = ["melted"]
    with pytest.raises(WireError, match="unknown flags"):
        decode_telemetry(msgspec.json.encode(raw))
    status = Status(device="dev-abc", state="offline", ts=1, reason="connection lost")
    assert decode_status(encode(status)) == status


async def test_an_unloadable_certificate_is_an_uplink_error_the_forwarder_retries(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.pem")
    uplink = Uplink(client_id="dev-x", host="127.0.0.1", port=1, context=lambda: tls_context(missing, missing, missing))
    with pytest.raises(UplinkError, match="cannot load the gateway's certificate and key"):
        await uplink.connect()
    with pytest.raises(UplinkError, match="TLS only"):
        parse_broker_url("mqtt://127.0.0.1:1883")
    assert parse_broker_url("mqtts://broker.plant:8884") == ("broker.plant", 8884)


class _Stubborn:
    """A poller whose first cancellation is swallowed, as asyncio.wait_for does when its read completes at once."""

    def __init__(self) -> None:
        self.flag = asyncio.Event()
        self.swallowed = False

    async def run(self) -> None:
        while not self.flag.is_set():
            try:
                await asyncio.sleep(0.02)
            except asyncio.CancelledError:
                if self.swallowed:
                    raise
                self.swallowed = True

    async def stop(self) -> None:
        self.flag.set()


async def test_the_gateway_stops_even_when_a_poller_swallows_its_cancellation(tmp_path: Path) -> None:
    identity = tmp_path / "identity"
    identity.mkdir()
    for name in ("device.key", "device.crt", "ca.pem", "chain.pem"):
        (identity / name).write_text("not used: the broker is unreachable\n")
    far = (dt.datetime.now(dt.UTC) + dt.timedelta(days=300)).isoformat()
    meta = {"device_id": "dev-x", "broker_url": "mqtts://127.0.0.1:1", "topics": {}, "server": "http://127.0.0.1:1"}
    (identity / "identity.json").write_text(json.dumps(meta | {"not_after": far, "renew_after": far}))
    (tmp_path / "map.toml").write_text(MAP.replace('identity_dir = "id"', 'identity_dir = "identity"'))
    gateway = Gateway(load_point_map(tmp_path / "map.toml"))
    stubborn = [_Stubborn(), _Stubborn()]
    gateway.coordinators = stubborn  # type: ignore[assignment]
    running = asyncio.ensure_future(gateway.run())
    await asyncio.sleep(0.3)
    gateway.stop()
    async with asyncio.timeout(10):
        await running
    assert all(poller.flag.is_set() for poller in stubborn)

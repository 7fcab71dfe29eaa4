"""The protocol side of the gateway against real servers on 127.0.0.1: register decoding, Modbus block reads,
OPC UA subscriptions and polls, and how every failure becomes a `DriverError` or a per-point error."""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from asyncua import Server, ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.ua.uaerrors import UaStatusCodeError
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from cem_gateway.drivers import DriverError, RawReading, make_driver
from cem_gateway.drivers.decode import DecodeError, decode, decode_raw, encode, encode_raw
from cem_gateway.drivers.modbus import MAX_GAP, Block, ModbusDriver, plan_blocks
from cem_gateway.drivers.opcua import OpcUaDriver, numeric
from cem_gateway.pointmap import DATA_TYPES, Connection, Point

TYPES = list(DATA_TYPES)
ORDERS = [("big", "big"), ("big", "little"), ("little", "big"), ("little", "little")]
TABLE_SIZE = 12_000


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def mpoint(
    id: str,
    address: int,
    type: str = "float32",
    *,
    table: str = "holding",
    byte_order: str = "big",
    word_order: str = "big",
    scale: float = 1.0,
    offset: float = 0.0,
    poll_s: float = 1.0,
    connection: str = "plc",
) -> Point:
    """A Modbus point."""
    return Point(
        id=id,
        connection=connection,
        unit="t",
        kind="flow",
        poll_s=poll_s,
        table=table,
        address=address,
        type=type,
        byte_order=byte_order,
        word_order=word_order,
        scale=scale,
        offset=offset,
    )


# ------------------------------------------------------------------------------------------------ a Modbus PLC
@dataclass
class FakePlc:
    """A real pymodbus TCP server (unit 1) whose holding and input registers the test sets."""

    port: int = 0
    delay: float = 0.0
    exception: int | None = None
    requests: int = 0
    registers_read: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    tables: dict[str, list[int]] = field(
        default_factory=lambda: {"holding": [0] * TABLE_SIZE, "input": [0] * TABLE_SIZE}
    )
    _server: ModbusTcpServer | None = None

    def set(self, point: Point, value: float) -> None:
        """Store the engineering ``value`` of ``point`` as the device would."""
        self.set_registers(point.table, point.address, encode(point, value))

    def set_registers(self, table: str, address: int, registers: list[int]) -> None:
        self.tables[table][address : address + len(registers)] = registers

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if function_code not in (3, 4):
            return None
        self.requests += 1
        self.registers_read += count
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if self.exception is not None:
            return ExcCodes(self.exception)
        source = self.tables["holding" if function_code == 3 else "input"]
        first = address - start_address
        current[first : first + count] = source[address : address + count]
        return None

    async def start(self) -> FakePlc:
        """Listen on 127.0.0.1 (on ``port``, or a free port the first time)."""
        bits = [SimData(0, values=[False] * 16, datatype=DataType.BITS)]
        registers = [SimData(0, values=[0] * TABLE_SIZE, datatype=DataType.REGISTERS)]
        device = SimDevice(1, simdata=(bits, list(bits), registers, list(registers)), action=self._action)
        self._server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
        await self._server.serve_forever(background=True)
        transport = self._server.transport
        self.port = transport.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Close the listener and every client connection."""
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    def connection(self, **changes: float) -> Connection:
        """The gateway's view of this PLC."""
        return Connection(
            name="plc",
            protocol="modbus",
            host="127.0.0.1",
            port=self.port,
            timeout_s=float(changes.pop("timeout_s", 1.0)),
            max_block=int(changes.pop("max_block", 100)),
            poll_s=float(changes.pop("poll_s", 1.0)),
        )


@pytest.fixture
async def plc() -> AsyncIterator[FakePlc]:
    server = await FakePlc().start()
    yield server
    await server.stop()


# ------------------------------------------------------------------------------------------------ decoding
SAMPLES: dict[str, list[float]] = {
    "int16": [0, 1, -1, 12345, -32768, 32767],
    "uint16": [0, 1, 40000, 65535],
    "int32": [0, -1, -2, 70000, -2_147_483_648, 2_147_483_647],
    "uint32": [0, 1, 70000, 4_294_967_295],
    "float32": [0.0, 1.0, -1.5, 3.25e7, -123.125],
    "float64": [0.0, -1.0, 1234567.890625, -9.87654321e-5, 1e300],
}


@pytest.mark.parametrize(("byte_order", "word_order"), ORDERS)
@pytest.mark.parametrize("data_type", TYPES)
def test_every_type_and_order_round_trips(data_type: str, byte_order: str, word_order: str) -> None:
    point = mpoint("P", 0, data_type, byte_order=byte_order, word_order=word_order)
    for value in SAMPLES[data_type]:
        registers = encode(point, value)
        assert len(registers) == DATA_TYPES[data_type][0]
        assert all(0 <= register <= 0xFFFF for register in registers)
        assert decode(point, registers) == value


@pytest.mark.parametrize(
    ("data_type", "byte_order", "word_order", "registers", "expected"),
    [
        ("int16", "big", "big", [0xFFFE], -2),
        ("int16", "little", "big", [0xFEFF], -2),
        ("uint16", "big", "big", [0xFFFE], 65534),
        ("int32", "big", "big", [0xFFFF, 0xFFFE], -2),
        ("int32", "big", "little", [0xFFFE, 0xFFFF], -2),
        ("int32", "little", "big", [0xFFFF, 0xFEFF], -2),
        ("uint32", "big", "big", [0x0001, 0x0002], 65538),
        ("uint32", "big", "little", [0x0002, 0x0001], 65538),
        ("uint32", "little", "little", [0x0200, 0x0100], 65538),
        ("float32", "big", "big", [0x3F80, 0x0000], 1.0),
        ("float32", "big", "little", [0x0000, 0x3F80], 1.0),
        ("float32", "little", "big", [0x803F, 0x0000], 1.0),
        ("float32", "little", "little", [0x0000, 0x803F], 1.0),
        ("float32", "big", "big", [0xC2F6, 0xE979], -123.456),
        ("float64", "big", "big", [0x3FF0, 0, 0, 0], 1.0),
        ("float64", "big", "little", [0, 0, 0, 0x3FF0], 1.0),
        ("float64", "little", "big", [0xF03F, 0, 0, 0], 1.0),
        ("float64", "big", "big", [0xC000, 0, 0, 0], -2.0),
    ],
)
def test_known_register_layouts(
    data_type: str, byte_order: str, word_order: str, registers: list[int], expected: float
) -> None:
    """Layouts as PLC manuals print them (ABCD, CDAB, BADC, DCBA), so the orders are not merely self-consistent."""
    assert decode_raw(data_type, registers, byte_order, word_order) == pytest.approx(expected, rel=1e-7)


def test_scale_and_offset_apply_both_ways() -> None:
    point = mpoint("P", 0, "uint16", scale=0.1, offset=-50.0)
    assert decode(point, [1234]) == pytest.approx(1234 * 0.1 - 50.0)
    assert encode(point, 73.4) == [1234]
    negative = mpoint("N", 0, "int32", scale=0.01)
    assert decode(negative, encode(negative, -21474836.48)) == pytest.approx(-21474836.48)


@pytest.mark.parametrize(
    ("data_type", "registers", "reason"),
    [
        ("float32", [0x7FC0, 0x0000], "nan"),
        ("float32", [0x7F80, 0x0000], "inf"),
        ("float32", [0xFF80, 0x0000], "inf"),
        ("float64", [0x7FF8, 0, 0, 0], "nan"),
        ("float64", [0xFFF0, 0, 0, 0], "inf"),
    ],
)
def test_nan_and_infinity_are_errors(data_type: str, registers: list[int], reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(mpoint("P", 0, data_type), registers)
    assert caught.value.reason == reason


def test_overflow_after_scaling_is_an_error() -> None:
    point = mpoint("P", 0, "float64", scale=1e10)
    with pytest.raises(DecodeError) as caught:
        decode(point, encode_raw("float64", 1e300))
    assert caught.value.reason == "inf"


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(DecodeError) as caught:
        decode(mpoint("P", 0, "float32"), [1])
    assert caught.value.reason == "length"
    with pytest.raises(DecodeError):
        decode(mpoint("P", 0, "uint16"), [70000])
    with pytest.raises(ValueError, match="does not fit"):
        encode(mpoint("P", 0, "int16"), 40000)
    with pytest.raises(ValueError, match="does not fit"):
        encode(mpoint("P", 0, "uint32"), -1)
    with pytest.raises(ValueError, match="does not fit"):
        encode(mpoint("P", 0, "float32"), 1e39)
    with pytest.raises(ValueError, match="cannot hold"):
        encode(mpoint("P", 0, "int32"), math.nan)


def test_numeric_opc_ua_values() -> None:
    assert numeric(True) == 1.0
    assert numeric(7) == 7.0
    assert numeric(2.5) == 2.5
    with pytest.raises(DecodeError) as caught:
        numeric("12")
    assert caught.value.reason == "not_numeric"


# ------------------------------------------------------------------------------------------------ block planning
def test_plan_bridges_small_gaps_and_respects_max_block() -> None:
    points = [
        mpoint("A", 0, "float32"),
        mpoint("B", 2, "float32"),
        mpoint("C", 4 + MAX_GAP, "uint16"),  # a gap of MAX_GAP registers: bridged
        mpoint("D", 5 + 2 * MAX_GAP + 1, "uint16"),  # a gap of MAX_GAP + 1: a new request
        mpoint("E", 0, "float64", table="input"),  # other table, other request
    ]
    blocks = plan_blocks(points, max_block=100)
    assert [(b.table, b.start, b.count, [p.id for p in b.points]) for b in blocks] == [
        ("holding", 0, 5 + MAX_GAP, ["A", "B", "C"]),
        ("holding", 5 + 2 * MAX_GAP + 1, 1, ["D"]),
        ("input", 0, 4, ["E"]),
    ]
    small = plan_blocks([mpoint(f"P{i}", 2 * i) for i in range(10)], max_block=6)
    assert [b.count for b in small] == [6, 6, 6, 2]
    assert all(b.count <= 6 for b in small)
    # a value wider than max_block is read whole, alone
    assert plan_blocks([mpoint("W", 10, "float64"), mpoint("X", 14, "uint16")], max_block=2) == [
        Block("holding", 10, 4, (mpoint("W", 10, "float64"),)),
        Block("holding", 14, 1, (mpoint("X", 14, "uint16"),)),
    ]


def test_plan_of_5000_points_is_near_the_minimum() -> None:
    points = [mpoint(f"P{i}", 2 * i) for i in range(5000)]
    blocks = plan_blocks(points, max_block=120)
    assert len(blocks) == math.ceil(10_000 / 120)
    assert sorted(p.id for b in blocks for p in b.points) == sorted(p.id for p in points)


# ------------------------------------------------------------------------------------------------ Modbus driver
async def test_modbus_reads_every_type_and_order(plc: FakePlc) -> None:
    points: list[Point] = []
    expected: dict[str, float] = {}
    address = 0
    for data_type in TYPES:
        for byte_order, word_order in ORDERS:
            for table in ("holding", "input"):
                for n, raw in enumerate(SAMPLES[data_type][1:4]):
                    scaled = n == 2  # engineering value = raw * 2 - 3
                    value = raw * 2.0 - 3.0 if scaled else raw
                    point = mpoint(
                        f"{data_type}.{byte_order}.{word_order}.{table}.{n}",
                        address,
                        data_type,
                        table=table,
                        byte_order=byte_order,
                        word_order=word_order,
                        scale=2.0 if scaled else 1.0,
                        offset=-3.0 if scaled else 0.0,
                    )
                    plc.set(point, value)
                    expected[point.id] = value
                    points.append(point)
                    address += 4
    driver = ModbusDriver(plc.connection(), points)
    await driver.connect()
    try:
        readings = await driver.read(points, 1700000000.0)
    finally:
        await driver.close()
    assert [r.point for r in readings] == points
    assert {r.ts for r in readings} == {1700000000.0}
    for reading in readings:
        assert reading.error is None, reading
        precision = 1e-6 if reading.point.type == "float32" else 1e-12
        assert reading.value == pytest.approx(expected[reading.point.id], rel=precision), reading.point.id


async def test_5000_points_take_few_requests(plc: FakePlc) -> None:
    points = [mpoint(f"P{i}", 2 * i) for i in range(4000)]
    points += [mpoint(f"I{i}", i, "uint16", table="input", scale=0.25) for i in range(1000)]
    for n, point in enumerate(points):
        plc.set(point, n * 0.25)
    connection = plc.connection(max_block=100)
    driver = ModbusDriver(connection, points)
    await driver.connect()
    try:
        started = time.perf_counter()
        readings = await driver.read(points, 0.0)
        elapsed = time.perf_counter() - started
    finally:
        await driver.close()
    registers = 4000 * 2 + 1000
    assert plc.requests == driver.requests
    assert plc.requests <= math.ceil(8000 / 100) + math.ceil(1000 / 100)
    assert plc.requests <= math.ceil(registers / connection.max_block) + 2
    assert plc.registers_read == registers
    assert [r.value for r in readings] == [n * 0.25 for n in range(5000)]
    assert elapsed < 2.0
    print(f"5000 Modbus points: {plc.requests} requests, {elapsed * 1000:.0f} ms")


async def test_modbus_per_point_problems_do_not_break_the_connection(plc: FakePlc) -> None:
    good = mpoint("GOOD", 100)
    nan = mpoint("NAN", 102)
    near_end = mpoint("END", TABLE_SIZE - 2)
    beyond = mpoint("BEYOND", TABLE_SIZE + 2)  # the device has no such register
    plc.set(good, 7.5)
    plc.set_registers("holding", nan.address, encode_raw("float32", math.nan))
    plc.set(near_end, 9.0)
    points = [good, nan, near_end, beyond]
    driver = ModbusDriver(plc.connection(), points)
    await driver.connect()
    try:
        readings = await driver.read(points, 5.0)
        assert driver.requests == 4  # 100-103, END+BEYOND refused, then END and BEYOND alone
        assert [(r.value, r.error) for r in readings] == [
            (7.5, None),
            (None, "nan"),
            (9.0, None),
            (None, "illegal_address"),
        ]
        # the split is remembered: the second poll needs no extra probing
        again = await driver.read(points, 6.0)
        assert [r.error for r in again] == [None, "nan", None, "illegal_address"]
        assert driver.requests == 4 + 3
    finally:
        await driver.close()


async def test_modbus_exception_response_is_a_driver_error(plc: FakePlc) -> None:
    point = mpoint("P", 0)
    driver = ModbusDriver(plc.connection(), [point])
    await driver.connect()
    plc.exception = ExcCodes.DEVICE_BUSY
    try:
        with pytest.raises(DriverError) as caught:
            await driver.read([point], 0.0)
    finally:
        await driver.close()
    assert caught.value.reason == "exception_response"
    assert caught.value.connection == "plc"


async def test_modbus_refused_connection() -> None:
    driver = make_driver(FakePlc(port=free_port()).connection(), [mpoint("P", 0)])
    with pytest.raises(DriverError) as caught:
        await driver.connect()
    assert caught.value.reason == "refused"
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


async def test_modbus_timeout_and_lost_connection(plc: FakePlc) -> None:
    point = mpoint("P", 0)
    driver = ModbusDriver(plc.connection(timeout_s=0.3), [point])
    await driver.connect()
    plc.delay = 1.0
    started = time.monotonic()
    with pytest.raises(DriverError) as caught:
        await driver.read([point], 0.0)
    assert caught.value.reason == "timeout"
    assert time.monotonic() - started < 0.9
    await driver.close()

    plc.delay = 0.0
    await driver.connect()
    assert [r.value for r in await driver.read([point], 0.0)] == [0.0]
    await plc.stop()
    await asyncio.sleep(0.05)
    with pytest.raises(DriverError) as caught:
        await driver.read([point], 1.0)
    assert caught.value.reason == "disconnected"
    await driver.close()


# ------------------------------------------------------------------------------------------------ an OPC UA server
@dataclass
class UaPlant:
    """A real asyncua server with a few variables under ns=2."""

    server: Server
    endpoint: str
    port: int
    variables: dict[str, Node]


async def start_ua_server(port: int | None = None) -> UaPlant:
    port = port or free_port()
    server = Server()
    await server.init()
    endpoint = f"opc.tcp://127.0.0.1:{port}/cem/"
    server.set_endpoint(endpoint)
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    idx = await server.register_namespace("urn:cem:test")
    plant = await server.nodes.objects.add_object(idx, "Plant")
    variables = {}
    for name, value, variant in [
        ("BF1.Coke", 1.5, ua.VariantType.Double),
        ("BF1.Temp", 1200.5, ua.VariantType.Float),
        ("BF1.Count", -5, ua.VariantType.Int32),
        ("BF1.Run", True, ua.VariantType.Boolean),
        ("BF1.Name", "blast furnace", ua.VariantType.String),
        ("BF1.Broken", 2.0, ua.VariantType.Double),
    ]:
        variables[name] = await plant.add_variable(ua.NodeId(name, idx), name, value, varianttype=variant)
    await variables["BF1.Broken"].write_value(
        ua.DataValue(ua.Variant(2.0, ua.VariantType.Double), StatusCode=ua.StatusCode(ua.StatusCodes.BadSensorFailure))
    )
    await server.start()
    return UaPlant(server, endpoint, port, variables)


@pytest.fixture(scope="module")
async def ua_plant() -> AsyncIterator[UaPlant]:
    plant = await start_ua_server()
    yield plant
    await plant.server.stop()


def upoint(id: str, node: str, *, poll_s: float = 1.0, scale: float = 1.0, offset: float = 0.0) -> Point:
    """An OPC UA point."""
    return Point(id=id, connection="ua", unit="t", kind="flow", poll_s=poll_s, node=node, scale=scale, offset=offset)


def ua_connection(plant: UaPlant, mode: str, *, timeout_s: float = 2.0) -> Connection:
    return Connection(name="ua", protocol="opcua", endpoint=plant.endpoint, mode=mode, timeout_s=timeout_s)


UA_POINTS = [
    upoint("COKE", "ns=2;s=BF1.Coke", scale=2.0, offset=1.0),
    upoint("TEMP", "ns=2;s=BF1.Temp"),
    upoint("COUNT", "ns=2;s=BF1.Count"),
    upoint("RUN", "nsu=urn:cem:test;s=BF1.Run"),
    upoint("NAME", "ns=2;s=BF1.Name"),
    upoint("BROKEN", "ns=2;s=BF1.Broken"),
    upoint("MISSING", "ns=2;s=BF1.NoSuchNode"),
    upoint("UNKNOWN.NS", "nsu=urn:not-there;s=BF1.Coke"),
]
UA_EXPECTED = [
    (1.5 * 2.0 + 1.0, None),
    (1200.5, None),
    (-5.0, None),
    (1.0, None),
    (None, "not_numeric"),
    (None, "bad_status"),
    (None, "bad_status"),
    (None, "bad_node"),
]


def outcome(readings: list[RawReading]) -> list[tuple[float | None, str | None]]:
    return [(r.value, r.error) for r in readings]


async def wait_for(condition: Callable[[], object], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_opcua_poll_mode_reads_all_nodes_in_one_request(ua_plant: UaPlant) -> None:
    driver = make_driver(ua_connection(ua_plant, "poll"), UA_POINTS)
    assert isinstance(driver, OpcUaDriver)
    await driver.connect()
    try:
        assert not driver.subscribes
        readings = await driver.read(UA_POINTS, 10.0)
        assert outcome(readings) == UA_EXPECTED
        assert {r.ts for r in readings} == {10.0}
        assert driver.requests == 1
        await ua_plant.variables["BF1.Count"].write_value(ua.Variant(42, ua.VariantType.Int32))
        assert outcome(await driver.read(UA_POINTS[2:3], 11.0)) == [(42.0, None)]
    finally:
        await ua_plant.variables["BF1.Count"].write_value(ua.Variant(-5, ua.VariantType.Int32))
        await driver.close()


async def test_opcua_subscription_follows_server_changes(ua_plant: UaPlant) -> None:
    points = [upoint(p.id, p.node, poll_s=0.1, scale=p.scale, offset=p.offset) for p in UA_POINTS]
    driver = OpcUaDriver(ua_connection(ua_plant, "subscribe"), points)
    await driver.connect()
    try:
        assert driver.subscribes
        first = outcome(await driver.read(points, 0.0))
        assert first[0] == (None, "no_data")  # nothing published yet
        assert first[6:] == UA_EXPECTED[6:]  # refused monitored item, unresolvable namespace

        async def poll_until(expected: list[tuple[float | None, str | None]]) -> None:
            deadline = time.monotonic() + 3.0
            while (latest := outcome(await driver.read(points, 1.0))) != expected:
                assert time.monotonic() < deadline, latest
                await asyncio.sleep(0.05)

        await poll_until(UA_EXPECTED)
        await ua_plant.variables["BF1.Coke"].write_value(7.25)
        await ua_plant.variables["BF1.Temp"].write_value(
            ua.DataValue(
                ua.Variant(0.0, ua.VariantType.Float), StatusCode=ua.StatusCode(ua.StatusCodes.BadOutOfService)
            )
        )
        changed = list(UA_EXPECTED)
        changed[0], changed[1] = (7.25 * 2.0 + 1.0, None), (None, "bad_status")
        await poll_until(changed)
    finally:
        await ua_plant.variables["BF1.Coke"].write_value(1.5)
        await ua_plant.variables["BF1.Temp"].write_value(ua.Variant(1200.5, ua.VariantType.Float))
        await driver.close()


async def test_opcua_falls_back_to_polling_when_subscriptions_are_refused(
    ua_plant: UaPlant, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(*args: object, **kwargs: object) -> None:
        raise UaStatusCodeError(ua.StatusCodes.BadTooManySubscriptions)

    monkeypatch.setattr(Client, "create_subscription", refuse)
    driver = OpcUaDriver(ua_connection(ua_plant, "subscribe"), UA_POINTS)
    await driver.connect()
    try:
        assert not driver.subscribes
        assert outcome(await driver.read(UA_POINTS, 0.0)) == UA_EXPECTED
        assert driver.requests == 1
    finally:
        await driver.close()


async def first_failure(driver: OpcUaDriver, points: list[Point], within: float) -> DriverError:
    """Read until the driver raises; fail the test if it does not within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            await driver.read(points, 0.0)
        except DriverError as err:
            return err
        await asyncio.sleep(0.05)
    raise AssertionError("the dead session was not noticed")


async def test_opcua_dead_session_and_refused_connection() -> None:
    plant = await start_ua_server()
    points = [upoint("COKE", "ns=2;s=BF1.Coke", poll_s=0.1)]
    subscriber = OpcUaDriver(ua_connection(plant, "subscribe", timeout_s=1.0), points)
    poller = OpcUaDriver(ua_connection(plant, "poll", timeout_s=1.0), points)
    try:
        await subscriber.connect()
        await poller.connect()
        await wait_for(lambda: subscriber._cache)
        assert outcome(await subscriber.read(points, 0.0)) == [(1.5, None)]
        await plant.server.stop()
        for driver in (subscriber, poller):
            failure = await first_failure(driver, points, within=3.0)
            assert failure.reason in {"disconnected", "bad_status"}
            assert failure.connection == "ua"
    finally:
        await subscriber.close()
        await poller.close()
    refused = OpcUaDriver(ua_connection(plant, "poll"), points)
    with pytest.raises(DriverError) as caught:
        await refused.connect()
    assert caught.value.reason == "refused"
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


async def test_a_silent_peer_is_a_timeout_for_both_protocols() -> None:
    """Something accepts TCP connections but never answers (a hung PLC, a wrong port)."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # swallow requests until the client hangs up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        opcua = OpcUaDriver(
            Connection(name="ua", protocol="opcua", endpoint=f"opc.tcp://127.0.0.1:{port}/", timeout_s=0.3), []
        )
        started = time.monotonic()
        with pytest.raises(DriverError) as caught:
            await opcua.connect()
        assert caught.value.reason == "timeout"
        assert time.monotonic() - started < 1.5

        point = mpoint("P", 0)
        modbus = ModbusDriver(
            Connection(name="plc", protocol="modbus", host="127.0.0.1", port=port, timeout_s=0.3), [point]
        )
        await modbus.connect()  # TCP alone succeeds
        with pytest.raises(DriverError) as caught:
            await modbus.read([point], 0.0)
        assert caught.value.reason == "timeout"
        await modbus.close()
    finally:
        server.close()
        await server.wait_closed()


def test_driver_error_text() -> None:
    err = DriverError("iron-plc", "timeout", "no answer")
    assert str(err) == "iron-plc: timeout (no answer)"
    assert (err.connection, err.reason) == ("iron-plc", "timeout")

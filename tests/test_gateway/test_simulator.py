"""The plant simulator: a deterministic model, real Modbus TCP and OPC UA servers, faults, control port, CLI.

Values are read back with real clients (pymodbus, asyncua) and decoded from the exported point map with
pymodbus' own converters, so an encoding mistake in the simulator cannot hide behind its own decoder.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import itertools
import json
import math
import os
import signal
import struct
import sys
import time
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asyncua.client.client import Client
from pymodbus.client import AsyncModbusTcpClient

from cem_gateway.simulator.cli import main as simulate_main
from cem_gateway.simulator.control import FaultError, Plant, control_request, run_plant
from cem_gateway.simulator.model import (
    ConfigError,
    PlantModel,
    default_config_text,
    load_config,
    parse_config,
)

CEM = [sys.executable, "-m", "cem_platform.cli"]
# A Monday morning: every unit runs (no maintenance window), day shift.
MONDAY_10H = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
WEEK = 7 * 86400.0
UPDATE_S = 0.2


# ------------------------------------------------------------------------------------------------ helpers


def _map(plant: Plant) -> dict[str, Any]:
    return tomllib.loads(plant.point_map())


def _decode(registers: list[int], point: dict[str, Any]) -> float:
    """Decode with pymodbus' converter: byte swap first if the map says so, then its word order and type."""
    if point["byte_order"] == "little":
        registers = [int.from_bytes(r.to_bytes(2, "big")[::-1], "big") for r in registers]
    data_type = AsyncModbusTcpClient.DATATYPE[point["type"].upper()]
    raw = AsyncModbusTcpClient.convert_from_registers(registers, data_type, word_order=point["word_order"])
    assert isinstance(raw, int | float)
    return float(raw) * float(point["scale"]) + float(point["offset"])


_COUNT = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "float64": 4}


async def _modbus_read(client: AsyncModbusTcpClient, point: dict[str, Any]) -> float:
    count = _COUNT[point["type"]]
    if point["table"] == "input":
        answer = await client.read_input_registers(point["address"], count=count, device_id=1)
    else:
        answer = await client.read_holding_registers(point["address"], count=count, device_id=1)
    assert not answer.isError(), f"{point['id']}: {answer}"
    return _decode(list(answer.registers), point)


async def _modbus_client(plant: Plant, connection: str) -> AsyncModbusTcpClient:
    client = AsyncModbusTcpClient("127.0.0.1", port=plant.ports[connection], timeout=2, retries=0)
    assert await client.connect(), f"cannot connect to {connection}"
    return client


async def _connect(port: int) -> None:
    """Open and close a TCP connection to a port on loopback."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()
    await writer.wait_closed()


async def _read_point(plant: Plant, point_id: str) -> float:
    point = next(p for p in _map(plant)["points"] if p["id"] == point_id)
    client = await _modbus_client(plant, point["connection"])
    try:
        return await _modbus_read(client, point)
    finally:
        client.close()


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(autouse=True)
def clean_database() -> None:
    """The simulator touches no database: this replaces the suite's per-test table cleaning (and its app)."""


@pytest.fixture(scope="module")
async def live() -> AsyncIterator[Plant]:
    """The default plant on the wall clock, fast updates, a control port."""
    async with run_plant(seed=3, update_s=UPDATE_S, control_port=0) as plant:
        yield plant


@pytest.fixture
async def plant(live: Plant) -> AsyncIterator[Plant]:
    """The live plant, with every fault cleared after the test."""
    yield live
    await live.clear()


@pytest.fixture(scope="module")
async def frozen() -> AsyncIterator[Plant]:
    """The default plant with its clock stopped on a Monday morning: every value is known exactly."""
    async with run_plant(seed=11, update_s=UPDATE_S, clock=lambda: MONDAY_10H) as plant:
        yield plant


# ------------------------------------------------------------------------------------------------ the model


def test_model_is_a_pure_function_of_seed_and_time() -> None:
    config = load_config()
    one, again, other = PlantModel(config, seed=5), PlantModel(config, seed=5), PlantModel(config, seed=6)
    t = MONDAY_10H + 1234.5
    assert one.values(t) == again.values(t)
    assert one.value("IR.BF1.COKE.FLOW", t) != other.value("IR.BF1.COKE.FLOW", t)
    # a totaliser reads its configured initial value at the epoch, whatever the seed
    for model in (one, other):
        assert model.value("IR.BF1.HM", config.epoch) == config.point("IR.BF1.HM").initial
    # years after the epoch cost nothing and still increase
    assert one.value("IR.BF1.HM", t + 5 * 365 * 86400) > one.value("IR.BF1.HM", t)


@pytest.mark.parametrize("stream", ["IR.BF1.COKE", "HR.RF1.GAS", "EAF.EF1.POWER", "AUX.GRID.EXPORT"])
def test_a_totaliser_is_the_integral_of_its_flow(stream: str) -> None:
    model = PlantModel(load_config(), seed=2)
    for start in (MONDAY_10H, MONDAY_10H + 2 * 86400 + 7.5 * 3600):  # Monday; Wednesday across 08:00 stops
        # trapezoid over 20 minutes at 1 s against the closed form
        steps = 1200
        rates = [model.rate(stream, start + i) / 3600.0 for i in range(steps + 1)]
        numeric = sum((a + b) / 2 for a, b in zip(rates, rates[1:], strict=False))
        exact = model.total(stream, start + steps) - model.total(stream, start)
        assert exact == pytest.approx(numeric, rel=1e-4)
        # and the derivative at a point is the rate
        h = 0.01
        slope = (model.total(stream, start + 300 + h) - model.total(stream, start + 300 - h)) / (2 * h)
        assert slope == pytest.approx(model.rate(stream, start + 300) / 3600.0, rel=1e-4)


def test_mass_balances_shifts_and_maintenance() -> None:
    model = PlantModel(load_config(), seed=4)
    a, b = MONDAY_10H, MONDAY_10H + WEEK

    def week(stream: str) -> float:
        return model.total(stream, b) - model.total(stream, a)

    hot_metal = week("IR.BF1.HM")
    assert 3.2e6 < hot_metal * 52 < 3.6e6  # about 3.5 Mt/a with a weekly reduced-blast window
    assert week("IR.BF1.COKE") / hot_metal == pytest.approx(0.35, rel=0.01)
    assert week("IR.BF1.PCI") / hot_metal == pytest.approx(0.15, rel=0.01)
    assert week("IR.BF1.BFG") / hot_metal == pytest.approx(1500, rel=0.01)
    steel = week("BOF.LD1.STEEL")
    assert week("BOF.LD1.HM") / steel == pytest.approx(0.9, rel=0.01)
    assert week("BOF.LD1.SCRAP") / steel == pytest.approx(0.15, rel=0.01)
    assert week("BOF.LD1.LDG") / steel == pytest.approx(100, rel=0.01)
    eaf = week("EAF.EF1.STEEL")
    assert 395 < week("EAF.EF1.POWER") / eaf < 430  # 400 kWh/t plus auxiliaries during the Friday stop
    assert week("EAF.EF1.ELECTRODE") / eaf == pytest.approx(1.5, rel=0.01)
    # rolling: the night shift rolls less than the day shift; Wednesday 08-16 is a roll change
    night, day = MONDAY_10H - 8 * 3600 + 1800, MONDAY_10H
    assert model.load("HR.RF1", night) < 0.7 < 0.9 < model.load("HR.RF1", day)
    wednesday_noon = MONDAY_10H + 2 * 86400 + 2 * 3600
    assert model.rate("HR.RF1.SLAB", wednesday_noon) == 0
    # furnace kept hot (at the day's production plan)
    assert model.rate("HR.RF1.GAS", wednesday_noon) == pytest.approx(0.35 * 500 * 140 * model.plan(wednesday_noon))
    assert model.value("HR.RF1.TEMP", wednesday_noon) < model.value("HR.RF1.TEMP", day) - 100


def _default_data() -> dict[str, Any]:
    return tomllib.loads(default_config_text())


def _point_entry(data: dict[str, Any], point_id: str) -> dict[str, Any]:
    entry: dict[str, Any] = next(p for p in data["points"] if p["id"] == point_id)
    return entry


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: _point_entry(d, "IR.BF1.PCI").update(address=2), "overlap IR.BF1.COKE"),
        (lambda d: _point_entry(d, "IR.BF1.PCI").update(connection="nowhere"), "unknown connection 'nowhere'"),
        (lambda d: _point_entry(d, "IR.BF1.PCI").update(unit="tonnes"), "unit 'tonnes' is not one of"),
        (lambda d: _point_entry(d, "IR.BF1.PCI").update(stream="IR.BF1.NOTHING"), "no unit has the stream"),
        (lambda d: _point_entry(d, "PW.PB1.COG").update(address=3), "address is for Modbus points"),
        (lambda d: _point_entry(d, "IR.BF1.PCI").update(type="float16"), "type must be one of"),
        (lambda d: d["connections"][1].update(port_offset=0), "port_offset 0 is used twice"),
        (lambda d: d["units"][0].update(noise=0.95), "noise and spread"),
        (lambda d: d["units"][0].update(shift_factors=[1.0, 1.0]), "shift_factors needs 3"),
    ],
)
def test_a_bad_configuration_says_what_and_where(change: Any, message: str) -> None:
    data = copy.deepcopy(_default_data())
    parse_config(data)  # the default is fine
    change(data)
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def test_load_config_reports_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[plant\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")


# ------------------------------------------------------------------------------------------------ point map


def test_the_point_map_parses_and_carries_the_actual_ports(frozen: Plant) -> None:
    data = _map(frozen)
    config = frozen.config
    assert set(data) == {"connections", "points"}  # the [gateway] section is the operator's to add
    assert "[gateway]" in frozen.point_map()  # ... and the header says so
    connections = {c["name"]: c for c in data["connections"]}
    assert set(connections) == {"coke-sinter-plc", "iron-plc", "steel-plc", "rolling-plc", "energy-opcua"}
    for name, port in frozen.ports.items():
        assert port > 0
        connection = connections[name]
        if connection["protocol"] == "modbus":
            assert (connection["host"], connection["port"], connection["unit_id"]) == ("127.0.0.1", port, 1)
        else:
            assert connection["endpoint"] == f"opc.tcp://127.0.0.1:{port}/cem/simulator"
            assert connection["mode"] == "subscribe"
    assert [p["id"] for p in data["points"]] == [p.id for p in config.points]
    for entry in data["points"]:
        spec = config.point(entry["id"])
        assert (entry["unit"], entry["kind"]) == (spec.unit, spec.kind)
        for key in ("min", "max", "max_rate", "stuck_s", "max_gap_s", "fill"):
            assert entry.get(key) == getattr(spec, key), (entry["id"], key)  # floats read back exactly
        if "node" in entry:
            assert entry["node"] == f"ns={frozen.opcua['energy-opcua'].namespace_index};s={spec.id}"
        else:
            assert (entry["address"], entry["type"], entry["scale"]) == (spec.address, spec.type, spec.scale)
    by_id = {p["id"]: p for p in data["points"]}
    assert by_id["EAF.EF1.POWER"]["word_order"] == "little" and by_id["EAF.EF1.POWER"]["rollover"] == 429496729.6
    assert by_id["IR.BF1.COKE"]["word_order"] == "big" and "rollover" not in by_id["IR.BF1.COKE"]
    assert by_id["LK.LK1.FUEL.FLOW"]["byte_order"] == "little"
    assert by_id["HR.RF1.TEMP"]["table"] == "input"
    assert {p["type"] for p in data["points"] if "type" in p} == {
        "float64",
        "float32",
        "uint32",
        "int32",
        "int16",
        "uint16",
    }


def test_point_map_for_fixed_ports_without_serving(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert simulate_main(["point-map", "--port-base", "21000"]) == 0
    data = tomllib.loads(capsys.readouterr().out)
    ports = {c["name"]: c.get("port") or c.get("endpoint") for c in data["connections"]}
    assert ports["coke-sinter-plc"] == 21000 and ports["rolling-plc"] == 21003
    assert ports["energy-opcua"] == "opc.tcp://127.0.0.1:21004/cem/simulator"
    assert simulate_main(["point-map", "--port-base", "0", "--out", str(tmp_path / "x.toml")]) == 1
    assert "only known once the servers listen" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ serving


async def test_every_modbus_point_decodes_to_the_model(frozen: Plant) -> None:
    points = [p for p in _map(frozen)["points"] if "address" in p]
    assert len(points) > 40
    for connection in {p["connection"] for p in points}:
        client = await _modbus_client(frozen, connection)
        try:
            for point in (p for p in points if p["connection"] == connection):
                got = await _modbus_read(client, point)
                assert got == frozen.value(point["id"]), point["id"]
                model = frozen.model.value(point["id"], MONDAY_10H)
                if point["type"] == "float64":
                    assert got == model
                elif point["type"] == "float32":
                    assert got == struct.unpack(">f", struct.pack(">f", model))[0]
                elif "rollover" in point:  # a 0.1 kWh counter: the model's total modulo 2**32 counts
                    assert 0 <= model - got - 429496729.6 * math.floor(model / 429496729.6) < 0.1 + 1e-6
                else:
                    assert abs(got - model) <= point["scale"] / 2 + 1e-9, point["id"]
        finally:
            client.close()


async def test_word_and_byte_orders_are_as_declared(frozen: Plant) -> None:
    """The little-word-order PLC really stores the low word first, and the byte-swapped point swaps bytes."""
    steel = await _modbus_client(frozen, "steel-plc")
    coke = await _modbus_client(frozen, "coke-sinter-plc")
    try:
        answer = await steel.read_holding_registers(12, count=4, device_id=1)  # BOF.LD1.STEEL, float64
        big = struct.pack(">d", frozen.model.value("BOF.LD1.STEEL", MONDAY_10H))
        assert answer.registers == [int.from_bytes(big[i : i + 2], "big") for i in (6, 4, 2, 0)]
        answer = await coke.read_holding_registers(108, count=2, device_id=1)  # LK.LK1.FUEL.FLOW, float32
        little = struct.pack("<f", frozen.model.value("LK.LK1.FUEL.FLOW", MONDAY_10H))
        assert answer.registers == [int.from_bytes(little[0:2], "big"), int.from_bytes(little[2:4], "big")]
        refused = await steel.write_register(0, 1, device_id=1)
        assert refused.isError()  # the meters are read-only
        assert (await coke.read_input_registers(0, count=1, device_id=1)).isError()  # no input registers there
    finally:
        steel.close()
        coke.close()


async def test_every_opcua_point_reads_the_model(frozen: Plant) -> None:
    data = _map(frozen)
    endpoint = next(c["endpoint"] for c in data["connections"] if c["protocol"] == "opcua")
    points = [p for p in data["points"] if "node" in p]
    assert {p["id"] for p in points} >= {"PW.PB1.POWER", "AUX.GRID.IMPORT", "AUX.GRID.EXPORT", "AUX.STEAM.IMPORT"}
    async with Client(endpoint, timeout=5) as client:
        index = await client.get_namespace_index("urn:cem:simulator")
        for point in points:
            assert point["node"].startswith(f"ns={index};s=")
            node = client.get_node(point["node"])
            value = await node.read_data_value()
            assert value.Value is not None and value.Value.Value == frozen.value(point["id"])
            assert value.Value.Value == frozen.model.value(point["id"], MONDAY_10H)
            assert value.SourceTimestamp is not None and value.SourceTimestamp.timestamp() == pytest.approx(MONDAY_10H)
            units = await (await node.get_child(["0:EngineeringUnits"])).read_value()
            assert units.DisplayName.Text == point["unit"]


async def test_totalisers_count_up_and_flows_follow_the_clock(plant: Plant) -> None:
    points = [p for p in _map(plant)["points"] if "address" in p and p["kind"] == "totaliser"]
    clients = {c: await _modbus_client(plant, c) for c in {p["connection"] for p in points}}
    try:
        before = {p["id"]: await _modbus_read(clients[p["connection"]], p) for p in points}
        await asyncio.sleep(3 * UPDATE_S)
        after = {p["id"]: await _modbus_read(clients[p["connection"]], p) for p in points}
    finally:
        for client in clients.values():
            client.close()
    moving = 0
    for point in points:
        spec = plant.config.point(point["id"])
        assert spec.stream is not None
        wrapped = "rollover" in point and after[spec.id] < before[spec.id] - point["rollover"] / 2
        assert after[spec.id] >= before[spec.id] or wrapped, spec.id
        if plant.model.rate(spec.stream, plant.time) > 0:
            assert after[spec.id] != before[spec.id], f"{spec.id} did not count"
            moving += 1
    assert moving >= len(points) // 2
    assert abs(plant.time - plant.model.config.epoch) > 0 and abs(plant.time - time.time()) < 5


# ------------------------------------------------------------------------------------------------ faults


async def test_stuck_freezes_a_point_then_lets_go(plant: Plant) -> None:
    fault = await plant.inject("stuck", target="IR.BF1.COKE.FLOW", seconds=1.2)
    frozen_at = fault["reading"]
    readings = []
    for _ in range(4):
        readings.append(await _read_point(plant, "IR.BF1.COKE.FLOW"))
        await asyncio.sleep(0.2)
    assert readings == [frozen_at] * 4
    assert plant.model_value("IR.BF1.COKE.FLOW") != frozen_at  # the model moved on underneath
    await asyncio.sleep(1.2)
    assert await _read_point(plant, "IR.BF1.COKE.FLOW") != frozen_at
    assert not [f for f in plant.faults() if f["kind"] == "stuck"]


async def test_spike_multiplies_one_update(plant: Plant) -> None:
    fault = await plant.inject("spike", target="IR.BF1.HM.FLOW", factor=10)
    spiked = await _read_point(plant, "IR.BF1.HM.FLOW")
    assert spiked == pytest.approx(10 * plant.model_value("IR.BF1.HM.FLOW"), rel=0.05)
    assert fault["factor"] == 10
    await asyncio.sleep(3 * UPDATE_S)
    assert await _read_point(plant, "IR.BF1.HM.FLOW") == pytest.approx(plant.model_value("IR.BF1.HM.FLOW"), rel=0.05)


async def test_rollover_puts_a_counter_just_below_its_wrap(plant: Plant) -> None:
    wrap = 429496729.6
    fault = await plant.inject("rollover", target="EAF.EF1.POWER", seconds=0.6)
    assert fault["wraps_at"] == wrap
    first = await _read_point(plant, "EAF.EF1.POWER")
    assert wrap - 500 < first < wrap
    values = [first]
    for _ in range(20):
        await asyncio.sleep(UPDATE_S)
        values.append(await _read_point(plant, "EAF.EF1.POWER"))
        if values[-1] < first:
            break
    assert values[-1] < 500, f"no wrap seen: {values}"  # wrapped through zero and counts on
    assert values[:-1] == sorted(values[:-1])
    await plant.clear("EAF.EF1.POWER")
    assert await _read_point(plant, "EAF.EF1.POWER") == plant.value("EAF.EF1.POWER")
    with pytest.raises(FaultError, match="unsigned integer totaliser"):
        await plant.inject("rollover", target="IR.BF1.COKE")


async def test_comm_loss_drops_a_modbus_plc_and_brings_it_back(plant: Plant) -> None:
    port = plant.ports["iron-plc"]
    connected = await _modbus_client(plant, "iron-plc")
    try:
        await plant.inject("comm_loss", target="iron-plc", seconds=1.0)
        assert not plant.online("iron-plc")
        with pytest.raises(ConnectionRefusedError):  # nobody listens
            await _connect(port)
        await asyncio.sleep(0.05)
        assert not connected.connected  # the open connection was dropped
        await plant.wait_online("iron-plc", limit_s=5)
        assert plant.ports["iron-plc"] == port
        assert await _read_point(plant, "IR.BF1.HM") == plant.value("IR.BF1.HM")
    finally:
        connected.close()


async def test_comm_loss_drops_the_opcua_server_and_brings_it_back(plant: Plant) -> None:
    endpoint = plant.endpoints["energy-opcua"]
    node = f"ns={plant.opcua['energy-opcua'].namespace_index};s=PW.PB1.POWER"
    await plant.inject("comm_loss", target="energy-opcua", seconds=1.0)
    with pytest.raises(ConnectionRefusedError):
        await Client(endpoint, timeout=2).connect()
    await plant.wait_online("energy-opcua", limit_s=5)
    async with Client(endpoint, timeout=5) as client:
        assert await client.get_node(node).read_value() > 0


async def test_clear_ends_a_comm_loss_at_once(plant: Plant) -> None:
    await plant.inject("comm_loss", target="rolling-plc", seconds=60)
    assert not plant.online("rolling-plc")
    assert await plant.clear("rolling-plc") == 1
    assert plant.online("rolling-plc")
    assert await _read_point(plant, "HR.RF1.TEMP") == plant.value("HR.RF1.TEMP")


async def test_unknown_faults_and_targets_are_refused(plant: Plant) -> None:
    with pytest.raises(FaultError, match="unknown fault kind"):
        await plant.inject("melt", target="IR.BF1.HM")
    with pytest.raises(FaultError, match="no point"):
        await plant.inject("stuck", target="IR.BF9.HM")
    with pytest.raises(FaultError, match="targets a connection"):
        await plant.inject("comm_loss", target="IR.BF1.HM")
    with pytest.raises(FaultError, match="seconds"):
        await plant.inject("stuck", target="IR.BF1.HM", seconds=-1)


# ------------------------------------------------------------------------------------------------ control port


async def test_the_control_port_speaks_json_lines(plant: Plant) -> None:
    assert plant.control_port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", plant.control_port)
    requests = [
        {"op": "ping"},
        {"op": "values", "ids": ["IR.BF1.HM", "PW.PB1.POWER"]},
        {"op": "inject", "kind": "stuck", "target": "SN.SM1.ORE.FLOW", "seconds": 30},
        {"op": "status"},
        {"op": "inject", "kind": "stuck", "target": "NOPE"},
        {"op": "inject", "kind": "spike", "target": "IR.BF1.HM", "factor": "ten"},
        {"op": "dance"},
        {"op": "clear"},
    ]
    writer.write(b"".join(json.dumps(r).encode() + b"\n" for r in requests) + b"{not json\n")
    await writer.drain()
    answers = [json.loads(await asyncio.wait_for(reader.readline(), 5)) for _ in range(len(requests) + 1)]
    writer.close()
    await writer.wait_closed()
    ping, values, stuck, status, unknown, bad_factor, bad_op, clear, bad_json = answers
    assert ping["ok"] and ping["time"] > 0
    assert set(values["values"]) == {"IR.BF1.HM", "PW.PB1.POWER"} and values["values"]["IR.BF1.HM"] > 1e7
    assert stuck["ok"] and stuck["fault"]["kind"] == "stuck" and stuck["fault"]["target"] == "SN.SM1.ORE.FLOW"
    assert status["ok"] and status["ports"] == plant.ports and status["faults"][0]["target"] == "SN.SM1.ORE.FLOW"
    assert unknown == {"ok": False, "error": "no point 'NOPE' in this plant"}
    assert not bad_factor["ok"] and "factor must be a number" in bad_factor["error"]
    assert not bad_op["ok"] and "unknown op 'dance'" in bad_op["error"]
    assert clear == {"ok": True, "cleared": 1}
    assert not bad_json["ok"] and bad_json["error"].startswith("not JSON")
    # the blocking helper the CLI uses
    answer = await asyncio.to_thread(control_request, f"127.0.0.1:{plant.control_port}", {"op": "ping"})
    assert answer["ok"]


# ------------------------------------------------------------------------------------------------ CLI


async def _cem(*args: str, cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *CEM, *args, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode()


@pytest.mark.slow
async def test_cem_simulate_plant_serves_writes_the_map_and_stops_on_sigterm(tmp_path: Path) -> None:
    point_map = tmp_path / "out" / "plant-map.toml"
    process = await asyncio.create_subprocess_exec(
        *CEM,
        *["simulate", "plant", "--port-base", "0", "--seed", "5", "--point-map", str(point_map), "--update-s", "0.2"],
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        assert line.startswith("simulator ready "), line
        fields = dict(part.split("=", 1) for part in line.split()[2:])
        data = tomllib.loads(point_map.read_text())
        for connection in data["connections"]:
            address = fields[connection["name"]]
            if connection["protocol"] == "modbus":
                assert address == f"modbus://127.0.0.1:{connection['port']}"
            else:
                assert address == connection["endpoint"]
        iron = next(c for c in data["connections"] if c["name"] == "iron-plc")
        client = AsyncModbusTcpClient("127.0.0.1", port=iron["port"], timeout=2, retries=0)
        assert await client.connect()
        hot_metal = next(p for p in data["points"] if p["id"] == "IR.BF1.HM")
        assert await _modbus_read(client, hot_metal) > 1e7
        client.close()

        control = ["--control", fields["control"]]
        stuck = ["--kind", "stuck", "--target", "IR.BF1.HM.FLOW", "--seconds", "5"]
        code, out = await _cem("simulate", "fault", *control, *stuck, cwd=tmp_path)
        assert code == 0 and json.loads(out)["fault"]["target"] == "IR.BF1.HM.FLOW"
        code, out = await _cem("simulate", "status", *control, cwd=tmp_path)
        assert code == 0 and json.loads(out)["faults"][0]["kind"] == "stuck"
        code, out = await _cem("simulate", "fault", *control, "--kind", "spike", "--target", "IR.BF9.HM", cwd=tmp_path)
        assert code == 1 and "no point 'IR.BF9.HM'" in out
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        rest = (await asyncio.wait_for(process.stdout.read(), 15)).decode()
        await asyncio.wait_for(process.wait(), 15)
    assert process.returncode == 0, rest
    assert "simulator stopped" in rest
    with pytest.raises(ConnectionRefusedError):  # the port is free again
        await _connect(iron["port"])


@pytest.mark.slow
async def test_cem_simulate_plant_refuses_a_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "plant.toml"
    bad.write_text(default_config_text().replace('unit = "Nm3/h"', 'unit = "Nm3/hour"', 1))
    code, out = await _cem("simulate", "plant", "--config", str(bad), "--port-base", "0", cwd=tmp_path)
    assert code == 1
    assert out.startswith("error: point CK.CO1.COG.FLOW: unit 'Nm3/hour' is not one of")


def test_no_two_months_alike_and_days_join_at_midnight() -> None:
    """The weekly pattern alone repeats (2026-10 equalled 2026-01 to the cent): the production plan varies the
    works by season, month and day, and the totalisers stay continuous across the days' plan changes."""
    model = PlantModel(load_config())
    zone = dt.timezone(dt.timedelta(hours=8))
    starts = [dt.datetime(2025 + i // 12, i % 12 + 1, 1, tzinfo=zone).timestamp() for i in range(25)]
    for stream in ("BOF.LD1.STEEL", "IR.BF1.COKE", "AUX.GRID.IMPORT"):
        months = [round(model.total(stream, b) - model.total(stream, a), 2) for a, b in itertools.pairwise(starts)]
        assert len(set(months)) == len(months), stream
    assert min(months) < 0.97 * max(months)  # a real swing, not rounding noise
    midnight = dt.datetime(2026, 12, 7, tzinfo=zone).timestamp()
    assert model.plan(midnight - 1) != model.plan(midnight)
    before, after = model.total("IR.BF1.COKE", midnight - 1e-3), model.total("IR.BF1.COKE", midnight + 1e-3)
    assert 0 < after - before < 1e-3
    assert model.total("IR.BF1.COKE", model.config.epoch) == 0

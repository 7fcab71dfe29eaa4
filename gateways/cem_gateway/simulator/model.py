"""The simulated steel works as data and as deterministic functions of (seed, time).

The configuration (``plant.toml``) names the production **units** (blast furnace, BOF, ...), the PLCs
(**connections**) and the **points** the gateway reads. Each unit has a nominal output per hour and a
pattern: three shifts a day with their own output factors, weekly planned maintenance windows, and a slow
variation around nominal. Every material or energy **stream** of a unit is a specific consumption (or yield)
times the unit's output, so mass balances hold: the coke fed to the blast furnace is 0.35 t per tonne of hot
metal on average, whatever the hour.

Everything is a pure function of the seed and the time ``t`` (Unix seconds):

* the variation is a sum of sinusoids whose periods divide one week, so the integral of a stream over any
  span has a closed form and a totaliser at ``t`` costs the same whether ``t`` is a second or five years
  after the configured epoch;
* a totaliser reads its initial value (at ``plant.epoch``) plus the stream integrated since the epoch, so a
  restarted simulator carries on counting where the meters would be;
* flow transmitters add a little white measurement noise, a function of (seed, point, whole second);
* over that week sits the works' production plan, one factor per local day for the whole works (so mass
  balances hold): a seasonal swing over the year, a plan level per month and a little day-to-day variation,
  drawn from the seed. No two months are alike, and a totaliser sums whole days' integrals once (cached) plus
  the current day's.

This module depends on nothing but the standard library.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast, get_args

__all__ = [
    "DATA_TYPES",
    "UNITS",
    "ConfigError",
    "ConnectionSpec",
    "DataTypeName",
    "Kind",
    "Maintenance",
    "PlantConfig",
    "PlantModel",
    "PointSpec",
    "StateSpec",
    "UnitSpec",
    "default_config_text",
    "load_config",
    "parse_config",
]

Kind = Literal["totaliser", "flow", "state"]
DataTypeName = Literal["int16", "uint16", "int32", "uint32", "float32", "float64"]
Protocol = Literal["modbus", "opcua"]
Order = Literal["big", "little"]
Table = Literal["holding", "input"]
Fill = Literal["none", "hold", "linear"]
Mode = Literal["subscribe", "poll"]

#: Units a point may carry (the platform's list).
UNITS = frozenset(
    {"t", "kg", "t/h", "kg/h", "Nm3", "Nm3/h", "m3", "kWh", "MWh", "kW", "MW", "GJ", "t_steam", "degC"}
    | {"kPa", "MPa", "%", "1"}
)
#: Register data types and how many 16-bit registers each takes.
DATA_TYPES: dict[str, int] = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "float64": 4}

WEEK_S = 7 * 86400.0
# Monday 1970-01-05 00:00 in UTC seconds; the local week starts ``utc_offset_h`` earlier.
_FIRST_MONDAY_UTC = 4 * 86400.0
_TAU = 2.0 * math.pi
# Slow variation of a unit: (share of the amplitude, range of cycles per week). Periods of about a day,
# two hours, a quarter of an hour and two minutes.
_UNIT_HARMONICS = ((0.4, 5, 9), (0.3, 60, 110), (0.2, 500, 900), (0.1, 4000, 8000))
# Each stream's own small deviation from the unit's specific consumption.
_STREAM_HARMONICS = ((0.6, 20, 40), (0.4, 1000, 2000))
# A state point's wander (temperatures, pressures).
_STATE_HARMONICS = ((0.5, 10, 20), (0.3, 200, 400), (0.2, 3000, 6000))


# The production plan over the weekly pattern: a seasonal swing (peak in spring and autumn, lower in the heat of
# summer and over the winter holidays), a plan level per month, and day-to-day variation. Its range stays
# inside the meters' rate checks (the shift pattern already changes the load far more, at the same midnight).
_SEASON_AMPLITUDE = 0.04
_MONTH_SPREAD = 0.04
_DAY_SPREAD = 0.015
_DAY_S = 86400.0


class ConfigError(ValueError):
    """The plant configuration is not usable; the message names the entry and what is wrong."""


@dataclass(frozen=True, slots=True)
class Maintenance:
    """A weekly planned maintenance window: output is ``factor`` times nominal while it lasts."""

    weekday: int  # 0 = Monday
    start_h: float  # local hour of the day it starts
    hours: float
    factor: float


@dataclass(frozen=True, slots=True)
class UnitSpec:
    """A production unit: nominal output per hour, its shift and weekly pattern, and its streams.

    ``streams`` maps a stream id (the point id of its totaliser, e.g. ``IR.BF1.COKE``) to its amount per unit
    of output (0.35 t coke per t hot metal); the unit's own product has 1.0. ``idle`` is the share of a
    stream that flows whatever the output (a reheating furnace kept hot while the mill stands).
    """

    id: str
    name: str
    rate: float
    shift_factors: tuple[float, ...]
    noise: float
    spread: float
    maintenance: tuple[Maintenance, ...]
    streams: Mapping[str, float]
    idle: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class ConnectionSpec:
    """A simulated PLC: one Modbus TCP server or one OPC UA server.

    ``byte_order`` and ``word_order`` are the defaults of its Modbus points; ``path``, ``namespace`` and
    ``mode`` concern OPC UA only.
    """

    name: str
    protocol: Protocol
    port_offset: int
    unit_id: int = 1
    timeout_s: float = 2.0
    poll_s: float = 1.0
    byte_order: Order = "big"
    word_order: Order = "big"
    path: str = "/cem/simulator"
    namespace: str = "urn:cem:simulator"
    mode: Mode = "subscribe"


@dataclass(frozen=True, slots=True)
class StateSpec:
    """A state point's behaviour: ``idle`` when its unit stands, ``base`` at nominal output, plus a wander."""

    base: float
    idle: float
    amplitude: float
    follows: str | None


@dataclass(frozen=True, slots=True)
class PointSpec:
    """A meter the gateway reads: what it measures, where it sits in its PLC, and hints for the checks."""

    id: str
    connection: str
    kind: Kind
    unit: str
    description: str = ""
    stream: str | None = None  # totaliser and flow: the stream measured
    factor: float = 1.0  # flow: stream amount per hour times factor (kWh/h -> MW is 0.001)
    noise: float = 0.0  # flow: relative measurement noise; state: absolute white noise
    initial: float = 0.0  # totaliser: the reading at the epoch
    state: StateSpec | None = None
    # Modbus placement
    table: Table = "holding"
    address: int | None = None
    type: DataTypeName = "float64"
    byte_order: Order = "big"
    word_order: Order = "big"
    scale: float = 1.0
    offset: float = 0.0
    # OPC UA placement: the string identifier of the node (default: the point id)
    node: str | None = None
    # hints for the gateway's checks
    min: float | None = None
    max: float | None = None
    max_rate: float | None = None
    stuck_s: float | None = None
    fill: Fill | None = None
    max_gap_s: float | None = None
    rollover: float | None = None

    @property
    def registers(self) -> int:
        """How many 16-bit registers the value occupies."""
        return DATA_TYPES[self.type]

    @property
    def wraps(self) -> bool:
        """Whether the raw value is an integer counter that wraps (integer totalisers)."""
        return self.kind == "totaliser" and not self.type.startswith("float")

    def rollover_value(self) -> float | None:
        """The engineering value at which the counter wraps (declared, or 2**bits * scale + offset)."""
        if self.rollover is not None:
            return self.rollover
        if self.kind == "totaliser" and self.type.startswith("uint"):
            return 2.0 ** (16 * self.registers) * self.scale + self.offset
        return None


@dataclass(frozen=True, slots=True)
class PlantConfig:
    """The whole simulated works: pattern settings, units, PLCs and points (see ``plant.toml``)."""

    name: str
    seed: int
    epoch: float
    utc_offset_h: float
    shift_start_h: tuple[float, ...]
    update_s: float
    port_base: int
    units: tuple[UnitSpec, ...]
    connections: tuple[ConnectionSpec, ...]
    points: tuple[PointSpec, ...]
    _points: dict[str, PointSpec] = field(init=False, repr=False, compare=False)
    _connections: dict[str, ConnectionSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_points", {p.id: p for p in self.points})
        object.__setattr__(self, "_connections", {c.name: c for c in self.connections})

    def point(self, point_id: str) -> PointSpec:
        """The point with this id (KeyError names the id)."""
        return self._points[point_id]

    def connection(self, name: str) -> ConnectionSpec:
        """The connection with this name."""
        return self._connections[name]

    def points_of(self, connection: str) -> list[PointSpec]:
        """The points served by one connection, in configuration order."""
        return [p for p in self.points if p.connection == connection]


# --------------------------------------------------------------------------------------------- loading


def default_config_text() -> str:
    """The packaged default plant (``plant.toml``)."""
    return (resources.files("cem_gateway.simulator") / "plant.toml").read_text(encoding="utf-8")


def load_config(path: str | Path | None = None) -> PlantConfig:
    """Read and check a plant configuration; without a path, the packaged default plant."""
    if path is None:
        text, source = default_config_text(), "plant.toml (default)"
    else:
        try:
            text, source = Path(path).read_text(encoding="utf-8"), str(path)
        except OSError as err:
            raise ConfigError(f"cannot read the plant configuration {path}: {err.strerror}") from err
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: not valid TOML: {err}") from err
    return parse_config(data, source=source)


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: {key} must be a table")
    return value


def _list(data: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ConfigError(f"{where}: {key} must be an array of tables ([[{key}]])")
    return cast(list[Mapping[str, Any]], value)


def _num(data: Mapping[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = data.get(key, default)
    if value is None:
        raise ConfigError(f"{where}: {key} is required")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: {key} must be a finite number, not {value!r}")
    return float(value)


def _opt_num(data: Mapping[str, Any], key: str, where: str) -> float | None:
    return None if data.get(key) is None else _num(data, key, where)


def _int(data: Mapping[str, Any], key: str, where: str, default: int | None = None) -> int:
    value = data.get(key, default)
    if value is None:
        raise ConfigError(f"{where}: {key} is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: {key} must be an integer, not {value!r}")
    return value


def _str(data: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if value is None:
        raise ConfigError(f"{where}: {key} is required")
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {key} must be a non-empty string, not {value!r}")
    return value


def _choice(data: Mapping[str, Any], key: str, where: str, allowed: Any, default: str | None = None) -> Any:
    options: tuple[str, ...] = get_args(allowed)
    value = _str(data, key, where, default)
    if value not in options:
        raise ConfigError(f"{where}: {key} must be one of {', '.join(options)}, not {value!r}")
    return value


def _floats(data: Mapping[str, Any], key: str, where: str, default: Sequence[float] | None = None) -> tuple[float, ...]:
    value = data.get(key, default)
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(f"{where}: {key} must be a non-empty array of numbers")
    return tuple(_num({key: v}, key, where) for v in value)


def _number_map(data: Mapping[str, Any], key: str, where: str) -> dict[str, float]:
    table = _table(data, key, where)
    return {str(k): _num(table, k, f"{where}.{key}") for k in table}


def _epoch(value: Any, where: str) -> float:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError as err:
            raise ConfigError(f"{where}: epoch must be a date-time with offset, not {value!r}") from err
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ConfigError(f"{where}: epoch must be a date-time with a UTC offset, e.g. 2026-01-01T00:00:00+08:00")
    return value.timestamp()


def _unit(data: Mapping[str, Any], where: str, shifts: int) -> UnitSpec:
    uid = _str(data, "id", where)
    where = f"unit {uid}"
    rate = _num(data, "rate", where)
    if rate <= 0:
        raise ConfigError(f"{where}: rate must be positive")
    factors = _floats(data, "shift_factors", where, [1.0] * shifts)
    if len(factors) != shifts or any(f < 0 for f in factors):
        raise ConfigError(f"{where}: shift_factors needs {shifts} factors >= 0 (one per shift)")
    noise, spread = _num(data, "noise", where, 0.02), _num(data, "spread", where, 0.01)
    if noise < 0 or spread < 0 or noise + spread >= 0.9:
        raise ConfigError(f"{where}: noise and spread must be >= 0 and add up to less than 0.9")
    windows = []
    for i, entry in enumerate(_list(data, "maintenance", where)):
        mwhere = f"{where} maintenance[{i}]"
        window = Maintenance(
            weekday=_int(entry, "weekday", mwhere),
            start_h=_num(entry, "start_h", mwhere),
            hours=_num(entry, "hours", mwhere),
            factor=_num(entry, "factor", mwhere),
        )
        if not (0 <= window.weekday <= 6 and 0 <= window.start_h < 24 and 0 < window.hours <= 168):
            raise ConfigError(f"{mwhere}: weekday 0-6 (Monday = 0), start_h 0-24, hours 0-168")
        if window.factor < 0:
            raise ConfigError(f"{mwhere}: factor must be >= 0")
        windows.append(window)
    streams = _number_map(data, "streams", where)
    if not streams:
        raise ConfigError(f"{where}: streams is empty (stream id = amount per unit of output)")
    if any(v < 0 for v in streams.values()):
        raise ConfigError(f"{where}: stream amounts must be >= 0")
    idle = _number_map(data, "idle", where)
    for key, share in idle.items():
        if key not in streams or not 0 <= share <= 1:
            raise ConfigError(f"{where}: idle.{key} must name one of its streams and be between 0 and 1")
    return UnitSpec(
        id=uid,
        name=_str(data, "name", where, uid),
        rate=rate,
        shift_factors=factors,
        noise=noise,
        spread=spread,
        maintenance=tuple(windows),
        streams=streams,
        idle=idle,
    )


def _connection(data: Mapping[str, Any], where: str) -> ConnectionSpec:
    name = _str(data, "name", where)
    where = f"connection {name}"
    conn = ConnectionSpec(
        name=name,
        protocol=_choice(data, "protocol", where, Protocol),
        port_offset=_int(data, "port_offset", where),
        unit_id=_int(data, "unit_id", where, 1),
        timeout_s=_num(data, "timeout_s", where, 2.0),
        poll_s=_num(data, "poll_s", where, 1.0),
        byte_order=_choice(data, "byte_order", where, Order, "big"),
        word_order=_choice(data, "word_order", where, Order, "big"),
        path=_str(data, "path", where, "/cem/simulator"),
        namespace=_str(data, "namespace", where, "urn:cem:simulator"),
        mode=_choice(data, "mode", where, Mode, "subscribe"),
    )
    if not 0 <= conn.port_offset < 1000:
        raise ConfigError(f"{where}: port_offset must be between 0 and 999")
    if not 0 <= conn.unit_id <= 247:
        raise ConfigError(f"{where}: unit_id must be between 0 and 247")
    if conn.timeout_s <= 0 or conn.poll_s <= 0:
        raise ConfigError(f"{where}: timeout_s and poll_s must be positive")
    if not conn.path.startswith("/"):
        raise ConfigError(f"{where}: path must start with /")
    return conn


_KIND_DEFAULT_TYPE: dict[str, str] = {"totaliser": "float64", "flow": "float32", "state": "int16"}
_KIND_DEFAULT_SCALE: dict[str, float] = {"totaliser": 1.0, "flow": 1.0, "state": 0.1}


def _point(
    data: Mapping[str, Any], where: str, connections: Mapping[str, ConnectionSpec], defaults: Mapping[str, Any]
) -> PointSpec:
    pid = _str(data, "id", where)
    where = f"point {pid}"
    conn_name = _str(data, "connection", where)
    if conn_name not in connections:
        raise ConfigError(f"{where}: unknown connection {conn_name!r} (known: {', '.join(sorted(connections))})")
    conn = connections[conn_name]
    kind: Kind = _choice(data, "kind", where, Kind)
    merged: dict[str, Any] = {**_table(defaults, kind, "defaults"), **data}
    unit = _str(merged, "unit", where)
    if unit not in UNITS:
        raise ConfigError(f"{where}: unit {unit!r} is not one of {', '.join(sorted(UNITS))}")
    stream: str | None = None
    if kind == "totaliser":
        stream = _str(merged, "stream", where, pid)
    elif kind == "flow":
        stream = _str(merged, "stream", where, pid.removesuffix(".FLOW"))
    state: StateSpec | None = None
    if kind == "state":
        spec = _table(merged, "state", where)
        if not spec:
            raise ConfigError(f"{where}: a state point needs state = {{ base = ..., idle = ..., amplitude = ... }}")
        base = _num(spec, "base", f"{where} state")
        state = StateSpec(
            base=base,
            idle=_num(spec, "idle", f"{where} state", base),
            amplitude=_num(spec, "amplitude", f"{where} state", 0.0),
            follows=_str(spec, "follows", f"{where} state") if "follows" in spec else None,
        )
    fill = merged.get("fill")
    if fill is not None:
        fill = _choice(merged, "fill", where, Fill)
    common: dict[str, Any] = {
        "id": pid,
        "connection": conn_name,
        "kind": kind,
        "unit": unit,
        "description": str(merged.get("description", "")),
        "stream": stream,
        "factor": _num(merged, "factor", where, 1.0),
        "noise": _num(merged, "noise", where, 0.0),
        "initial": _num(merged, "initial", where, 0.0),
        "state": state,
        "min": _opt_num(merged, "min", where),
        "max": _opt_num(merged, "max", where),
        "max_rate": _opt_num(merged, "max_rate", where),
        "stuck_s": _opt_num(merged, "stuck_s", where),
        "fill": fill,
        "max_gap_s": _opt_num(merged, "max_gap_s", where),
        "rollover": _opt_num(merged, "rollover", where),
    }
    if common["noise"] < 0:
        raise ConfigError(f"{where}: noise must be >= 0")
    if conn.protocol == "opcua":
        for key in ("address", "table", "type", "byte_order", "word_order", "scale", "offset"):
            if key in data:
                raise ConfigError(f"{where}: {key} is for Modbus points; {conn_name} is an OPC UA server")
        return PointSpec(**common, node=_str(merged, "node", where, pid))
    if "node" in data:
        raise ConfigError(f"{where}: node is for OPC UA points; {conn_name} is a Modbus server")
    address = _int(merged, "address", where)
    point = PointSpec(
        **common,
        table=_choice(merged, "table", where, Table, "holding"),
        address=address,
        type=_choice(merged, "type", where, DataTypeName, _KIND_DEFAULT_TYPE[kind]),
        byte_order=_choice(merged, "byte_order", where, Order, conn.byte_order),
        word_order=_choice(merged, "word_order", where, Order, conn.word_order),
        scale=_num(merged, "scale", where, _KIND_DEFAULT_SCALE[kind]),
        offset=_num(merged, "offset", where, 0.0),
    )
    if point.scale == 0:
        raise ConfigError(f"{where}: scale must not be 0")
    if not 0 <= address <= 65536 - point.registers:
        raise ConfigError(f"{where}: address {address} is outside 0..{65536 - point.registers}")
    return point


def parse_config(data: Mapping[str, Any], *, source: str = "plant configuration") -> PlantConfig:
    """Check a parsed ``plant.toml`` and build the configuration; ConfigError says what is wrong and where."""
    plant = _table(data, "plant", source)
    where = f"{source} [plant]"
    shift_start = _floats(plant, "shift_start_h", where, [0.0, 8.0, 16.0])
    if list(shift_start) != sorted(set(shift_start)) or not all(0 <= h < 24 for h in shift_start):
        raise ConfigError(f"{where}: shift_start_h must be increasing hours of the day (0-24)")
    seed = _int(plant, "seed", where, 1)
    update_s = _num(plant, "update_s", where, 1.0)
    port_base = _int(plant, "port_base", where, 15020)
    if not 0 <= port_base <= 65535 - 1000:
        raise ConfigError(f"{where}: port_base must be between 0 (free ports) and 64535")
    if not 0 < update_s <= 3600:
        raise ConfigError(f"{where}: update_s must be between 0 and 3600 s")
    units = tuple(
        _unit(u, f"{source} units[{i}]", len(shift_start)) for i, u in enumerate(_list(data, "units", source))
    )
    if not units:
        raise ConfigError(f"{source}: no [[units]]")
    seen: dict[str, str] = {}
    for unit in units:
        if unit.id in {u.id for u in units if u is not unit}:
            raise ConfigError(f"{source}: unit id {unit.id} is used twice")
        for stream in unit.streams:
            if stream in seen:
                raise ConfigError(f"{source}: stream {stream} belongs to both {seen[stream]} and {unit.id}")
            seen[stream] = unit.id
    connections = tuple(
        _connection(c, f"{source} connections[{i}]") for i, c in enumerate(_list(data, "connections", source))
    )
    by_name: dict[str, ConnectionSpec] = {}
    for conn in connections:
        if conn.name in by_name:
            raise ConfigError(f"{source}: connection name {conn.name} is used twice")
        if conn.port_offset in {c.port_offset for c in by_name.values()}:
            raise ConfigError(f"{source}: connection {conn.name}: port_offset {conn.port_offset} is used twice")
        by_name[conn.name] = conn
    defaults = _table(data, "defaults", source)
    points = tuple(
        _point(p, f"{source} points[{i}]", by_name, defaults) for i, p in enumerate(_list(data, "points", source))
    )
    _check_points(points, units, seen, source)
    return PlantConfig(
        name=_str(plant, "name", where, "simulated steel works"),
        seed=seed,
        epoch=_epoch(plant.get("epoch", "2026-01-01T00:00:00+08:00"), where),
        utc_offset_h=_num(plant, "utc_offset_h", where, 8.0),
        shift_start_h=shift_start,
        update_s=update_s,
        port_base=port_base,
        units=units,
        connections=connections,
        points=points,
    )


def _check_points(
    points: Sequence[PointSpec], units: Sequence[UnitSpec], streams: Mapping[str, str], source: str
) -> None:
    ids: set[str] = set()
    used: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
    nodes: set[tuple[str, str]] = set()
    unit_ids = {u.id for u in units}
    for point in points:
        where = f"point {point.id}"
        if point.id in ids:
            raise ConfigError(f"{source}: point id {point.id} is used twice")
        ids.add(point.id)
        if point.stream is not None and point.stream not in streams:
            raise ConfigError(f"{where}: no unit has the stream {point.stream!r} (add it to a unit's streams)")
        if point.state is not None and point.state.follows is not None and point.state.follows not in unit_ids:
            raise ConfigError(f"{where}: state.follows names no unit: {point.state.follows!r}")
        if point.node is not None:
            if (point.connection, point.node) in nodes:
                raise ConfigError(f"{where}: node {point.node} is used twice on {point.connection}")
            nodes.add((point.connection, point.node))
            continue
        assert point.address is not None  # noqa: S101 - a Modbus point always has one (checked in _point)
        start, end = point.address, point.address + point.registers
        block = used.setdefault((point.connection, point.table), [])
        for other_start, other_end, other in block:
            if start < other_end and other_start < end:
                raise ConfigError(
                    f"{where}: registers {start}-{end - 1} overlap {other} ({other_start}-{other_end - 1}) "
                    f"in the {point.table} table of {point.connection}"
                )
        block.append((start, end, point.id))


# --------------------------------------------------------------------------------------------- model


def _uniform(seed: int, *keys: object) -> float:
    """A number in [0, 1) that depends only on the seed and the keys."""
    digest = hashlib.blake2b(repr((seed, *keys)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


@dataclass(frozen=True, slots=True)
class _Harmonic:
    amplitude: float
    omega: float  # rad/s; an integer number of cycles per week
    phase: float

    def value(self, x: float) -> float:
        return self.amplitude * math.sin(self.omega * x + self.phase)

    def integral(self, a: float, b: float) -> float:
        return (
            self.amplitude
            / self.omega
            * (math.cos(self.omega * a + self.phase) - math.cos(self.omega * b + self.phase))
        )


def _harmonics(seed: int, key: str, amplitude: float, spec: Sequence[tuple[float, int, int]]) -> tuple[_Harmonic, ...]:
    out = []
    for i, (share, low, high) in enumerate(spec):
        cycles = low + int(_uniform(seed, key, i, "cycles") * (high - low + 1))
        out.append(_Harmonic(amplitude * share, _TAU * cycles / WEEK_S, _TAU * _uniform(seed, key, i, "phase")))
    return tuple(out)


class _Stream:
    """One stream's rate and closed-form integral over the week (the pattern is week-periodic)."""

    def __init__(self, amount: float, idle: float, unit: _Unit, own: Sequence[_Harmonic]) -> None:
        self.per_hour = amount * unit.spec.rate  # at nominal output
        self.idle = idle
        self.unit = unit
        self.harmonics = (*unit.harmonics, *own)
        # cumulative integral of P(x)(1 + h(x)) at the start of each piece, and over the whole week
        self.cumulative: list[float] = []
        total = 0.0
        for start, end, level in unit.pieces:
            self.cumulative.append(total)
            total += level * self._shape_integral(start, end)
        self.week = total

    def _shape_integral(self, a: float, b: float) -> float:
        return (b - a) + sum(h.integral(a, b) for h in self.harmonics)

    def integral(self, x: float) -> float:
        """The integral of P(y)(1 + h(y)) dy from the week's start to phase x."""
        i = bisect.bisect_right(self.unit.starts, x) - 1
        start, _, level = self.unit.pieces[i]
        return self.cumulative[i] + level * self._shape_integral(start, x)

    def rate(self, x: float) -> float:
        """Amount per hour at week phase x."""
        shape = self.unit.level(x) * (1.0 + sum(h.value(x) for h in self.harmonics))
        return self.per_hour * (self.idle + (1.0 - self.idle) * shape)


class _Unit:
    """A unit's week: pieces of constant pattern level (shift factor or maintenance factor)."""

    def __init__(self, spec: UnitSpec, config: PlantConfig, seed: int) -> None:
        self.spec = spec
        self.harmonics = _harmonics(seed, spec.id, spec.noise, _UNIT_HARMONICS)
        self._shift_start_s = [h * 3600.0 for h in config.shift_start_h]
        cuts = {0.0, WEEK_S}
        for day in range(7):
            cuts.update(day * 86400.0 + s for s in self._shift_start_s)
        for window in spec.maintenance:
            start = window.weekday * 86400.0 + window.start_h * 3600.0
            cuts.update({start % WEEK_S, (start + window.hours * 3600.0) % WEEK_S})
        edges = sorted(cuts)
        pieces: list[tuple[float, float, float]] = []
        for a, b in zip(edges, edges[1:], strict=False):
            level = self._pattern((a + b) / 2.0)
            if pieces and pieces[-1][2] == level:
                pieces[-1] = (pieces[-1][0], b, level)
            else:
                pieces.append((a, b, level))
        self.pieces = pieces
        self.starts = [p[0] for p in pieces]

    def _pattern(self, x: float) -> float:
        for window in self.spec.maintenance:
            start = window.weekday * 86400.0 + window.start_h * 3600.0
            if (x - start) % WEEK_S < window.hours * 3600.0:
                return window.factor
        second = x % 86400.0
        shift = bisect.bisect_right(self._shift_start_s, second) - 1  # -1: before the first start = last shift
        return self.spec.shift_factors[shift]

    def level(self, x: float) -> float:
        """The pattern level (shift or maintenance factor) at week phase x."""
        return self.pieces[bisect.bisect_right(self.starts, x) - 1][2]

    def load(self, x: float) -> float:
        """Output relative to nominal at week phase x (pattern times slow variation)."""
        return self.level(x) * (1.0 + sum(h.value(x) for h in self.harmonics))


class PlantModel:
    """The plant's meters as functions of time: ``value(point_id, t)`` is what a fault-free meter reads.

    Deterministic: the same configuration, seed and ``t`` give the same numbers on every machine.
    """

    def __init__(self, config: PlantConfig, seed: int | None = None) -> None:
        self.config = config
        self.seed = config.seed if seed is None else seed
        self._week_start = _FIRST_MONDAY_UTC - config.utc_offset_h * 3600.0
        self._units = {u.id: _Unit(u, config, self.seed) for u in config.units}
        self._streams: dict[str, _Stream] = {}
        for unit in self._units.values():
            for stream_id, amount in unit.spec.streams.items():
                own = _harmonics(self.seed, stream_id, unit.spec.spread, _STREAM_HARMONICS)
                self._streams[stream_id] = _Stream(amount, unit.spec.idle.get(stream_id, 0.0), unit, own)
        self._epoch_week, self._epoch_phase = self._split(config.epoch)
        self._epoch_integral = {k: s.integral(self._epoch_phase) for k, s in self._streams.items()}
        self._day_shift = config.utc_offset_h * 3600.0
        self._epoch_day = self._day(config.epoch)
        self._factors: dict[int, float] = {}
        # per stream: the planned amount from the epoch's day start to each day start, both ways from that day
        self._ahead: dict[str, list[float]] = {k: [0.0] for k in self._streams}
        self._behind: dict[str, list[float]] = {k: [0.0] for k in self._streams}
        self._epoch_total = {k: 0.0 for k in self._streams}
        self._epoch_total = {k: self.total(k, config.epoch) for k in self._streams}
        self._state_harmonics = {
            p.id: _harmonics(self.seed, p.id, 1.0, _STATE_HARMONICS) for p in config.points if p.kind == "state"
        }

    def _split(self, t: float) -> tuple[int, float]:
        """(week number, seconds since that week's local Monday 00:00)."""
        weeks, phase = divmod(t - self._week_start, WEEK_S)
        return int(weeks), phase

    def _day(self, t: float) -> int:
        """The local day number of time t (days since 1970-01-01 in the plant's zone)."""
        return math.floor((t + self._day_shift) / _DAY_S)

    def _day_start(self, day: int) -> float:
        return day * _DAY_S - self._day_shift

    def plan(self, t: float) -> float:
        """The works' production plan factor of t's local day (1.0 is the weekly pattern as configured)."""
        day = self._day(t)
        factor = self._factors.get(day)
        if factor is None:
            date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
            season = _SEASON_AMPLITUDE * math.sin(_TAU * (date.timetuple().tm_yday - 45) / 182.625)
            month = _MONTH_SPREAD * (2.0 * _uniform(self.seed, "plan", date.year, date.month) - 1.0)
            daily = _DAY_SPREAD * (2.0 * _uniform(self.seed, "plan", day) - 1.0)
            factor = self._factors[day] = 1.0 + season + month + daily
        return factor

    def _week_total(self, stream_id: str, t: float) -> float:
        """The weekly pattern's amount since the epoch, before the plan."""
        stream = self._streams[stream_id]
        week, phase = self._split(t)
        shape = (week - self._epoch_week) * stream.week + stream.integral(phase) - self._epoch_integral[stream_id]
        return stream.per_hour / 3600.0 * (stream.idle * (t - self.config.epoch) + (1.0 - stream.idle) * shape)

    def _planned_to(self, stream_id: str, day: int) -> float:
        """The planned amount from the start of the epoch's day to the start of ``day`` (negative before it)."""
        offset = day - self._epoch_day
        sums = self._ahead[stream_id] if offset >= 0 else self._behind[stream_id]
        while len(sums) <= abs(offset):
            n = len(sums)
            lo = self._epoch_day + n - 1 if offset >= 0 else self._epoch_day - n
            amount = self.plan(self._day_start(lo)) * (
                self._week_total(stream_id, self._day_start(lo + 1)) - self._week_total(stream_id, self._day_start(lo))
            )
            sums.append(sums[-1] + (amount if offset >= 0 else -amount))
        return sums[abs(offset)]

    @property
    def streams(self) -> list[str]:
        """Every stream id."""
        return list(self._streams)

    def load(self, unit_id: str, t: float) -> float:
        """A unit's output relative to nominal at time t (0.55 in a maintenance window at factor 0.55)."""
        return self.plan(t) * self._units[unit_id].load(self._split(t)[1])

    def rate(self, stream_id: str, t: float) -> float:
        """A stream's amount per hour at time t (t/h for a stream counted in t)."""
        return self.plan(t) * self._streams[stream_id].rate(self._split(t)[1])

    def total(self, stream_id: str, t: float) -> float:
        """A stream's amount since the epoch (negative before it): the integral of ``rate`` / 3600."""
        day = self._day(t)
        today = self._week_total(stream_id, t) - self._week_total(stream_id, self._day_start(day))
        return self._planned_to(stream_id, day) + self.plan(t) * today - self._epoch_total[stream_id]

    def value(self, point_id: str, t: float) -> float:
        """What the point's meter reads at time t, without faults and before any register encoding."""
        point = self.config.point(point_id)
        if point.kind == "totaliser":
            assert point.stream is not None  # noqa: S101 - checked when the configuration is loaded
            return point.initial + self.total(point.stream, t)
        if point.kind == "flow":
            assert point.stream is not None  # noqa: S101
            jitter = point.noise * (2.0 * _uniform(self.seed, point.id, math.floor(t)) - 1.0)
            return self.rate(point.stream, t) * point.factor * (1.0 + jitter)
        state = point.state
        assert state is not None  # noqa: S101
        phase = self._split(t)[1]
        load = 1.0 if state.follows is None else max(0.0, min(self._units[state.follows].load(phase), 1.5))
        wander = sum(h.value(phase) for h in self._state_harmonics[point.id])
        white = point.noise * (2.0 * _uniform(self.seed, point.id, math.floor(t)) - 1.0)
        return state.idle + (state.base - state.idle) * load + state.amplitude * wander + white

    def values(self, t: float) -> dict[str, float]:
        """Every point's value at time t."""
        return {p.id: self.value(p.id, t) for p in self.config.points}

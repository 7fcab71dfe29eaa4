"""The point map: which meters a gateway reads, how to decode them, what to check, where to send them.

A point map is a TOML or YAML file with three parts (the same keys in both formats)::

    [gateway]                       # optional in a file that only lists points
    identity_dir = "identity"       # written by `cem gateway enroll` (paths are relative to this file)
    buffer_path = "buffer.sqlite3"  # the store-and-forward buffer
    buffer_max_readings = 2000000   # capacity of the buffer
    buffer_min_free_mb = 64         # keep this much disk free
    evict = "drop_oldest"           # when full: drop_oldest | drop_newest (both raise a status alarm)
    batch_max = 500                 # readings per MQTT message
    inflight = 4                    # messages awaiting the broker's acknowledgement at once
    confirm_window = 64             # messages sent but not yet confirmed by the platform, at most
    confirm_timeout_s = 30          # unconfirmed that long: sent again (the wait doubles per attempt, to 16x)
    heartbeat_s = 30                # status message period
    broker = "mqtts://host:8883"    # optional: overrides the broker named at enrolment

    [[connections]]
    name = "iron-plc"               # unique
    protocol = "modbus"             # modbus | opcua
    host = "10.0.3.21"
    port = 502
    unit_id = 1                     # modbus only
    timeout_s = 2.0
    poll_s = 1.0                    # default poll period of its points
    max_block = 100                 # modbus: most registers read in one request
    # opcua connections have instead: endpoint = "opc.tcp://host:4840/path", mode = "subscribe" | "poll"

    [[points]]
    id = "IR.BF1.COKE"              # the platform's point code
    connection = "iron-plc"
    unit = "t"
    kind = "totaliser"              # totaliser | flow | state
    table = "holding"               # modbus: holding | input
    address = 100                   # modbus: first register, 0-based
    type = "float64"                # int16 uint16 int32 uint32 float32 float64
    byte_order = "big"              # big | little: bytes within a 16-bit register
    word_order = "big"              # big | little: register order of 32/64-bit values
    scale = 1.0                     # engineering value = raw * scale + offset
    offset = 0.0
    # opcua points have instead: node = "ns=2;s=IR.BF1.COKE"
    min = 0.0                       # optional checks, in engineering units
    max = 1e12
    max_rate = 50.0                 # largest plausible change per second
    stuck_s = 120                   # the same value this long means the meter is stuck
    fill = "linear"                 # gap filling: none | hold | linear
    max_gap_s = 10                  # longest gap that is filled
    rollover = 429496729.6          # totalisers: the value at which the counter wraps
                                    # (default for uint16/uint32: 2**bits * scale + offset)
    poll_s = 5.0                    # optional: overrides the connection's period

Every mistake is reported as a `PointMapError` that names the file, the line and what to do.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = [
    "DATA_TYPES",
    "Checks",
    "Connection",
    "GatewayConfig",
    "Point",
    "PointMap",
    "PointMapError",
    "load_point_map",
    "parse_point_map",
]

Protocol = Literal["modbus", "opcua"]
Kind = Literal["totaliser", "flow", "state"]
Fill = Literal["none", "hold", "linear"]
Evict = Literal["drop_oldest", "drop_newest"]

# type -> (registers, signed, float)
DATA_TYPES: dict[str, tuple[int, bool, bool]] = {
    "int16": (1, True, False),
    "uint16": (1, False, False),
    "int32": (2, True, False),
    "uint32": (2, False, False),
    "float32": (2, True, True),
    "float64": (4, True, True),
}
_PROTOCOLS = ("modbus", "opcua")
_KINDS = ("totaliser", "flow", "state")
_FILLS = ("none", "hold", "linear")
_EVICT = ("drop_oldest", "drop_newest")
_ORDERS = ("big", "little")
_TABLES = ("holding", "input")
_MODES = ("subscribe", "poll")


class PointMapError(ValueError):
    """The point map cannot be used; the message names the file, the line and the fix."""

    def __init__(self, message: str, *, source: str = "<point map>", line: int | None = None) -> None:
        self.source, self.line, self.reason = source, line, message
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """How the gateway itself runs: identity, buffer, batching, heartbeat."""

    identity_dir: Path
    buffer_path: Path
    buffer_max_readings: int = 2_000_000
    buffer_min_free_mb: int = 64
    evict: Evict = "drop_oldest"
    batch_max: int = 500
    inflight: int = 4
    confirm_window: int = 64
    confirm_timeout_s: float = 30.0
    heartbeat_s: float = 30.0
    broker: str | None = None


@dataclass(frozen=True, slots=True)
class Connection:
    """One PLC, meter concentrator or OPC UA server."""

    name: str
    protocol: Protocol
    timeout_s: float = 2.0
    poll_s: float = 1.0
    host: str = ""
    port: int = 0
    unit_id: int = 1
    max_block: int = 100
    endpoint: str = ""
    mode: Literal["subscribe", "poll"] = "subscribe"


@dataclass(frozen=True, slots=True)
class Checks:
    """Edge data-quality rules of one point (standard 5.2.3.1)."""

    min: float | None = None
    max: float | None = None
    max_rate: float | None = None
    stuck_s: float | None = None
    fill: Fill = "none"
    max_gap_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Point:
    """One metered value: where it is read, how it is decoded, what it means."""

    id: str
    connection: str
    unit: str
    kind: Kind
    poll_s: float
    checks: Checks = field(default_factory=Checks)
    table: Literal["holding", "input"] = "holding"
    address: int = 0
    type: str = "float32"
    byte_order: Literal["big", "little"] = "big"
    word_order: Literal["big", "little"] = "big"
    scale: float = 1.0
    offset: float = 0.0
    node: str = ""
    rollover: float | None = None
    line: int | None = None

    @property
    def registers(self) -> int:
        """How many 16-bit registers the value occupies (Modbus)."""
        return DATA_TYPES[self.type][0]


@dataclass(frozen=True, slots=True)
class PointMap:
    """A parsed, checked point map."""

    source: str
    gateway: GatewayConfig | None
    connections: dict[str, Connection]
    points: tuple[Point, ...]

    def points_of(self, connection: str) -> list[Point]:
        """The points read over one connection, in file order."""
        return [point for point in self.points if point.connection == connection]


# ------------------------------------------------------------------------------------------------ locating lines
class _Lines:
    """Finds the line of a table entry or key, so errors can name it."""

    def __init__(self, text: str, yaml_root: yaml.Node | None = None) -> None:
        self._yaml = yaml_root
        self._text = text.splitlines()
        self._blocks: dict[str, list[int]] = {}
        if yaml_root is None:
            for number, raw in enumerate(self._text, start=1):
                match = re.match(r"\s*\[\[\s*([A-Za-z_]+)\s*\]\]|\s*\[\s*([A-Za-z_]+)\s*\]", raw)
                if match:
                    self._blocks.setdefault(match.group(1) or match.group(2), []).append(number)

    def find(self, section: str, index: int | None = None, key: str | None = None) -> int | None:
        """The 1-based line of ``section[index].key`` (or of the entry, or the section), if it can be found."""
        if self._yaml is not None:
            return self._find_yaml(section, index, key)
        starts = self._blocks.get(section)
        if not starts:
            return None
        position = index or 0
        if position >= len(starts):
            return None
        start = starts[position]
        if key is None:
            return start
        following = [line for lines in self._blocks.values() for line in lines if line > start]
        end = min(following, default=len(self._text) + 1)
        pattern = re.compile(rf"\s*\"?{re.escape(key)}\"?\s*=")
        for number in range(start + 1, end):
            if pattern.match(self._text[number - 1]):
                return number
        return start

    def _find_yaml(self, section: str, index: int | None, key: str | None) -> int | None:
        node: yaml.Node | None = self._yaml
        for step in (section, index, key):
            if step is None or node is None:
                continue
            if isinstance(step, int) and isinstance(node, yaml.SequenceNode):
                node = node.value[step] if step < len(node.value) else None
            elif isinstance(step, str) and isinstance(node, yaml.MappingNode):
                found = [(k, v) for k, v in node.value if getattr(k, "value", None) == step]
                if not found:
                    break
                node = found[0][0] if step == key else found[0][1]
            else:
                break
        return node.start_mark.line + 1 if node is not None else None


# ------------------------------------------------------------------------------------------------ reading values
class _Reader:
    """Typed access to one table of the map, raising `PointMapError` with the right line."""

    def __init__(
        self, data: Mapping[str, Any], where: str, lines: _Lines, source: str, section: str, index: int | None
    ) -> None:
        self.data, self.where, self.lines, self.source = data, where, lines, source
        self.section, self.index = section, index

    def fail(self, message: str, key: str | None = None) -> PointMapError:
        return PointMapError(
            f"{self.where}: {message}", source=self.source, line=self.lines.find(self.section, self.index, key)
        )

    def known(self, allowed: set[str]) -> None:
        for key in self.data:
            if key not in allowed:
                raise self.fail(f"unknown key {key!r}; valid keys are {', '.join(sorted(allowed))}", key)

    def text(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if value is None:
            raise self.fail(f"{key!r} is missing", None)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{key!r} must be a non-empty string, not {value!r}", key)
        return value.strip()

    def choice(self, key: str, options: tuple[str, ...], default: str | None = None) -> Any:
        value = self.text(key, default)
        if value not in options:
            raise self.fail(f"{key} = {value!r} is not allowed; use one of {', '.join(options)}", key)
        return value

    def number(
        self, key: str, default: float | None = None, *, positive: bool = False, optional: bool = False
    ) -> float | None:
        value = self.data.get(key, default)
        if value is None:
            if optional:
                return None
            raise self.fail(f"{key!r} is missing", None)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(f"{key} must be a finite number, not {value!r}", key)
        if positive and value <= 0:
            raise self.fail(f"{key} must be greater than 0, not {value!r}", key)
        return float(value)

    def real(self, key: str, default: float, *, positive: bool = False) -> float:
        value = self.number(key, default, positive=positive)
        assert value is not None  # noqa: S101 - a default is given
        return value

    def integer(self, key: str, default: int | None = None, *, low: int = 0, high: int = 2**31) -> int:
        value = self.data.get(key, default)
        if value is None:
            raise self.fail(f"{key!r} is missing", None)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{key} must be a whole number, not {value!r}", key)
        if not low <= value <= high:
            raise self.fail(f"{key} = {value} is out of range {low}..{high}", key)
        return value


_GATEWAY_KEYS = {
    "identity_dir",
    "buffer_path",
    "buffer_max_readings",
    "buffer_min_free_mb",
    "evict",
    "batch_max",
    "inflight",
    "confirm_window",
    "confirm_timeout_s",
    "heartbeat_s",
    "broker",
}
_CONNECTION_KEYS = {
    "name",
    "protocol",
    "host",
    "port",
    "unit_id",
    "timeout_s",
    "poll_s",
    "max_block",
    "endpoint",
    "mode",
}
_POINT_KEYS = {
    "id",
    "connection",
    "unit",
    "kind",
    "table",
    "address",
    "type",
    "byte_order",
    "word_order",
    "scale",
    "offset",
    "node",
    "min",
    "max",
    "max_rate",
    "stuck_s",
    "fill",
    "max_gap_s",
    "rollover",
    "poll_s",
}


def _gateway(reader: _Reader, base: Path) -> GatewayConfig:
    reader.known(_GATEWAY_KEYS)
    broker = reader.data.get("broker")
    if broker is not None and not (isinstance(broker, str) and broker.startswith("mqtts://")):
        raise reader.fail("broker must be an mqtts:// address (TLS only, there is no plain fallback)", "broker")
    return GatewayConfig(
        identity_dir=base / reader.text("identity_dir", "identity"),
        buffer_path=base / reader.text("buffer_path", "buffer.sqlite3"),
        buffer_max_readings=reader.integer("buffer_max_readings", 2_000_000, low=100, high=10**10),
        buffer_min_free_mb=reader.integer("buffer_min_free_mb", 64, low=0, high=10**7),
        evict=reader.choice("evict", _EVICT, "drop_oldest"),
        batch_max=reader.integer("batch_max", 500, low=1, high=10_000),
        inflight=reader.integer("inflight", 4, low=1, high=100),
        confirm_window=reader.integer("confirm_window", 64, low=1, high=10_000),
        confirm_timeout_s=reader.real("confirm_timeout_s", 30.0, positive=True),
        heartbeat_s=reader.real("heartbeat_s", 30.0, positive=True),
        broker=broker,
    )


def _connection(reader: _Reader) -> Connection:
    reader.known(_CONNECTION_KEYS)
    name, protocol = reader.text("name"), reader.choice("protocol", _PROTOCOLS)
    if len(name) > 64 or not name.isprintable():
        raise reader.fail(f"connection name {name!r} must be at most 64 printable characters", "name")
    common = {
        "name": name,
        "protocol": protocol,
        "timeout_s": reader.real("timeout_s", 2.0, positive=True),
        "poll_s": reader.real("poll_s", 1.0, positive=True),
    }
    if protocol == "modbus":
        for key in ("endpoint", "mode"):
            if key in reader.data:
                raise reader.fail(f"{key!r} belongs to OPC UA connections, not Modbus", key)
        return Connection(
            **common,
            host=reader.text("host"),
            port=reader.integer("port", 502, low=1, high=65535),
            unit_id=reader.integer("unit_id", 1, low=0, high=255),
            max_block=reader.integer("max_block", 100, low=1, high=125),
        )
    for key in ("host", "port", "unit_id", "max_block"):
        if key in reader.data:
            raise reader.fail(f"{key!r} belongs to Modbus connections; OPC UA uses endpoint", key)
    endpoint = reader.text("endpoint")
    if not endpoint.startswith("opc.tcp://"):
        raise reader.fail(f"endpoint must start with opc.tcp://, not {endpoint!r}", "endpoint")
    return Connection(**common, endpoint=endpoint, mode=reader.choice("mode", _MODES, "subscribe"))


def _point(reader: _Reader, connections: dict[str, Connection]) -> Point:
    point_id = reader.text("id")
    if len(point_id) > 64 or not point_id.isprintable():
        raise reader.fail(f"id {point_id!r} must be at most 64 printable characters", "id")
    reader.where = f"point {point_id!r}"
    reader.known(_POINT_KEYS)
    connection_name = reader.text("connection")
    connection = connections.get(connection_name)
    if connection is None:
        known = ", ".join(connections) or "none declared"
        raise reader.fail(f"connection {connection_name!r} is not declared (connections: {known})", "connection")
    unit = reader.text("unit")
    if len(unit) > 16 or not unit.isprintable():
        raise reader.fail(f"unit {unit!r} must be at most 16 printable characters", "unit")
    low, high = reader.number("min", optional=True), reader.number("max", optional=True)
    if low is not None and high is not None and low >= high:
        raise reader.fail(f"min ({low}) must be below max ({high})", "min")
    checks = Checks(
        min=low,
        max=high,
        max_rate=reader.number("max_rate", positive=True, optional=True),
        stuck_s=reader.number("stuck_s", positive=True, optional=True),
        fill=reader.choice("fill", _FILLS, "none"),
        max_gap_s=reader.real("max_gap_s", 0.0),
    )
    kind = reader.choice("kind", _KINDS)
    common: dict[str, Any] = {
        "id": point_id,
        "connection": connection_name,
        "unit": unit,
        "kind": kind,
        "poll_s": reader.real("poll_s", connection.poll_s, positive=True),
        "checks": checks,
        "line": reader.lines.find(reader.section, reader.index),
    }
    if connection.protocol == "opcua":
        for key in ("table", "address", "type", "byte_order", "word_order"):
            if key in reader.data:
                raise reader.fail(f"{key!r} is for Modbus points; {connection_name!r} is OPC UA (use node)", key)
        node = reader.text("node")
        if not re.match(r"^(ns=\d+;)?[isgb]=.+$|^nsu=.+;[isgb]=.+$", node):
            raise reader.fail(f"node {node!r} is not an OPC UA node id such as 'ns=2;s=BF1.Coke'", "node")
        rollover = reader.number("rollover", positive=True, optional=True)
        return Point(
            **common,
            node=node,
            scale=reader.real("scale", 1.0),
            offset=reader.real("offset", 0.0),
            rollover=rollover,
        )
    if "node" in reader.data:
        raise reader.fail(f"'node' is for OPC UA points; {connection_name!r} is Modbus (use address)", "node")
    data_type = reader.choice("type", tuple(DATA_TYPES))
    count, signed, is_float = DATA_TYPES[data_type]
    address = reader.integer("address", low=0, high=65536 - count)
    scale = reader.real("scale", 1.0)
    if scale == 0:
        raise reader.fail("scale must not be 0", "scale")
    offset = reader.real("offset", 0.0)
    rollover = reader.number("rollover", positive=True, optional=True)
    if rollover is None and kind == "totaliser" and not signed and not is_float:
        rollover = 2 ** (16 * count) * scale + offset
    return Point(
        **common,
        table=reader.choice("table", _TABLES, "holding"),
        address=address,
        type=data_type,
        byte_order=reader.choice("byte_order", _ORDERS, "big"),
        word_order=reader.choice("word_order", _ORDERS, "big"),
        scale=scale,
        offset=offset,
        rollover=rollover,
    )


def _table_list(data: Mapping[str, Any], key: str, lines: _Lines, source: str) -> list[Mapping[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise PointMapError(f"'{key}' must be a list of tables ([[{key}]])", source=source, line=lines.find(key))
    return value


def parse_point_map(text: str, *, source: str = "<point map>", base: Path | None = None, fmt: str = "toml") -> PointMap:
    """Parse and check a point map given as text (``fmt`` is ``toml`` or ``yaml``)."""
    root: yaml.Node | None = None
    try:
        if fmt == "yaml":
            root = yaml.compose(text, Loader=yaml.SafeLoader)
            data: Any = yaml.safe_load(text) if root is not None else {}
        else:
            data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        match = re.search(r"line (\d+)", str(err))
        line = int(match.group(1)) if match else None
        raise PointMapError(f"not valid TOML: {err}", source=source, line=line) from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise PointMapError(
            f"not valid YAML: {err}", source=source, line=mark.line + 1 if mark is not None else None
        ) from err
    if not isinstance(data, dict):
        raise PointMapError("the point map must be a table with 'connections' and 'points'", source=source)
    lines = _Lines(text, root)
    unknown = set(data) - {"gateway", "connections", "points"}
    if unknown:
        key = sorted(unknown)[0]
        raise PointMapError(
            f"unknown section {key!r}; a point map has gateway, connections and points",
            source=source,
            line=lines.find(key),
        )
    base = base or Path()
    gateway = None
    if "gateway" in data:
        if not isinstance(data["gateway"], dict):
            raise PointMapError("'gateway' must be a table", source=source, line=lines.find("gateway"))
        gateway = _gateway(_Reader(data["gateway"], "gateway", lines, source, "gateway", None), base)

    connections: dict[str, Connection] = {}
    for index, item in enumerate(_table_list(data, "connections", lines, source)):
        reader = _Reader(item, f"connection #{index + 1}", lines, source, "connections", index)
        connection = _connection(reader)
        if connection.name in connections:
            raise reader.fail(f"connection name {connection.name!r} is used twice", "name")
        connections[connection.name] = connection
    if not connections:
        raise PointMapError("no connections declared; add a [[connections]] table", source=source)

    points: list[Point] = []
    seen: set[str] = set()
    for index, item in enumerate(_table_list(data, "points", lines, source)):
        reader = _Reader(item, f"point #{index + 1}", lines, source, "points", index)
        point = _point(reader, connections)
        if point.id in seen:
            raise reader.fail(f"point id {point.id!r} is used twice", "id")
        seen.add(point.id)
        points.append(point)
    if not points:
        raise PointMapError("no points declared; add [[points]] tables", source=source)
    _check_overlaps(points, connections, source)
    return PointMap(source=source, gateway=gateway, connections=connections, points=tuple(points))


def _check_overlaps(points: list[Point], connections: dict[str, Connection], source: str) -> None:
    """Two Modbus points of one connection must not share registers."""
    taken: dict[tuple[str, str, int], Point] = {}
    for point in points:
        if connections[point.connection].protocol != "modbus":
            continue
        for register in range(point.address, point.address + point.registers):
            other = taken.setdefault((point.connection, point.table, register), point)
            if other is not point:
                raise PointMapError(
                    f"point {point.id!r}: register {register} of {point.connection!r} is already used by {other.id!r}",
                    source=source,
                    line=point.line,
                )


def load_point_map(path: Path | str) -> PointMap:
    """Read a point map file (``.toml``, ``.yaml`` or ``.yml``); relative paths in it are relative to the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise PointMapError(f"cannot read the point map: {err.strerror}", source=str(path)) from err
    except UnicodeDecodeError as err:
        raise PointMapError("the point map is not UTF-8 text", source=str(path)) from err
    fmt = "yaml" if path.suffix.lower() in {".yaml", ".yml"} else "toml"
    return parse_point_map(text, source=str(path), base=path.parent, fmt=fmt)

"""Export the gateway's point map (TOML) for a simulated plant: its connections with the actual ports, and
every point with its placement, encoding and the hints for the gateway's checks.

Written with plain string formatting: floats as ``repr`` (the shortest text that reads back to the same
double), strings as JSON strings (valid TOML basic strings), whole-second durations as integers.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from cem_gateway.simulator.model import PlantConfig, PointSpec

__all__ = ["render_point_map", "write_point_map"]


def _float(value: float) -> str:
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def _seconds(value: float) -> str:
    """Durations: an integer when whole (what a reader expecting int or float accepts), else a float."""
    return str(int(value)) if float(value).is_integer() else _float(value)


def _str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _point_lines(point: PointSpec, namespace_index: int | None) -> list[str]:
    lines = ["[[points]]"]
    if point.description:
        lines.insert(0, "# " + " ".join(point.description.split()))
    lines += [
        f"id = {_str(point.id)}",
        f"connection = {_str(point.connection)}",
        f"unit = {_str(point.unit)}",
        f"kind = {_str(point.kind)}",
    ]
    if point.address is None:
        lines.append(f"node = {_str(f'ns={namespace_index};s={point.node}')}")
    else:
        lines += [
            f"table = {_str(point.table)}",
            f"address = {point.address}",
            f"type = {_str(point.type)}",
            f"byte_order = {_str(point.byte_order)}",
            f"word_order = {_str(point.word_order)}",
            f"scale = {_float(point.scale)}",
            f"offset = {_float(point.offset)}",
        ]
    for key in ("min", "max", "max_rate"):
        value = getattr(point, key)
        if value is not None:
            lines.append(f"{key} = {_float(value)}")
    if point.stuck_s is not None:
        lines.append(f"stuck_s = {_seconds(point.stuck_s)}")
    if point.fill is not None:
        lines.append(f"fill = {_str(point.fill)}")
    if point.max_gap_s is not None:
        lines.append(f"max_gap_s = {_seconds(point.max_gap_s)}")
    wrap = point.rollover_value() if point.address is not None and point.wraps else point.rollover
    if wrap is not None and point.kind == "totaliser":
        lines.append(f"rollover = {_float(wrap)}")
    return lines


def render_point_map(
    config: PlantConfig, *, host: str, ports: Mapping[str, int], namespace_indexes: Mapping[str, int] | None = None
) -> str:
    """The point map text for this plant as served on ``host`` at ``ports`` (connection name -> port).

    ``namespace_indexes`` gives each OPC UA connection's index of its namespace URI (2 when not given: the
    first namespace an OPC UA server registers after its own).
    """
    indexes = dict(namespace_indexes or {})
    out = [
        f"# Point map of the CEM plant simulator: {config.name}.",
        "# Written by `cem simulate plant`; the connections carry the ports the simulator actually listens on.",
        "# Add the [gateway] section (identity, broker, buffering) before giving this file to a gateway.",
        "",
    ]
    for conn in config.connections:
        out.append("[[connections]]")
        out += [f"name = {_str(conn.name)}", f"protocol = {_str(conn.protocol)}"]
        if conn.protocol == "modbus":
            out += [f"host = {_str(host)}", f"port = {ports[conn.name]}", f"unit_id = {conn.unit_id}"]
        else:
            out += [
                f"endpoint = {_str(f'opc.tcp://{host}:{ports[conn.name]}{conn.path}')}",
                f"mode = {_str(conn.mode)}",
            ]
        out += [f"timeout_s = {_float(conn.timeout_s)}", f"poll_s = {_float(conn.poll_s)}", ""]
    for point in config.points:
        conn = config.connection(point.connection)
        index = indexes.get(conn.name, 2) if conn.protocol == "opcua" else None
        out += [*_point_lines(point, index), ""]
    return "\n".join(out)


def write_point_map(path: str | Path, text: str) -> Path:
    """Write the map atomically (a reader never sees half a file); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # noqa: S103 - the map holds no secret; the gateway may run as another user
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target

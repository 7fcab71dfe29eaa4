"""A simulated Modbus TCP PLC (pymodbus server) and the register codec of the point map.

The codec follows the point map's conventions: engineering value = raw * scale + offset; ``byte_order`` is
the order of the two bytes inside each 16-bit register, ``word_order`` the order of the registers of a 32- or
64-bit value ("big" = most significant first). Integer totalisers count whole raw steps and wrap modulo
2**bits as real counters do; other integers are rounded and clamped to their type's range.

The server holds read-only holding and input registers. Values are not computed per request: the plant
refreshes a snapshot every update (the PLC's scan), and each read copies the snapshot's registers for the
requested range into pymodbus' register block (its ``SimDevice`` action hook).
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import Mapping, Sequence
from typing import cast

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from cem_gateway.simulator.model import ConnectionSpec, PointSpec

__all__ = ["ModbusPLC", "decode", "encode", "reading"]

_STRUCT = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f", "float64": "d"}
_INT_RANGE = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
}
_FLOAT32_MAX = 3.4028234663852886e38
_READ_HOLDING, _READ_INPUT = 3, 4


def _raw(value: float, point: PointSpec) -> int | float:
    """The raw register value for an engineering value."""
    raw = (value - point.offset) / point.scale
    if point.type == "float64":
        return raw
    if point.type == "float32":
        return max(-_FLOAT32_MAX, min(raw, _FLOAT32_MAX))
    low, high = _INT_RANGE[point.type]
    if point.wraps:
        span = high - low + 1
        return (math.floor(raw) - low) % span + low
    return max(low, min(round(raw), high))


def encode(value: float, point: PointSpec) -> list[int]:
    """The registers (16-bit words, in wire order) that carry ``value`` for this point."""
    data = struct.pack(">" + _STRUCT[point.type], _raw(value, point))
    words = [data[i : i + 2] for i in range(0, len(data), 2)]
    if point.word_order == "little":
        words.reverse()
    if point.byte_order == "little":
        words = [w[::-1] for w in words]
    return [int.from_bytes(w, "big") for w in words]


def decode(registers: Sequence[int], point: PointSpec) -> float:
    """The engineering value carried by the registers (the inverse of ``encode``)."""
    words = [int(r).to_bytes(2, "big") for r in registers[: point.registers]]
    if point.byte_order == "little":
        words = [w[::-1] for w in words]
    if point.word_order == "little":
        words.reverse()
    (raw,) = struct.unpack(">" + _STRUCT[point.type], b"".join(words))
    return float(raw) * point.scale + point.offset


def reading(value: float, point: PointSpec) -> float:
    """What a client decodes from the registers for ``value`` (type rounding, wrap and clamping applied)."""
    return decode(encode(value, point), point)


class ModbusPLC:
    """One simulated PLC: a pymodbus TCP server on its own port serving its points' registers.

    ``set_values`` replaces the snapshot (engineering values by point id); ``stop``/``start`` take the server
    off the network and back on the same port (the port is kept after the first start, also when it was 0).
    """

    def __init__(self, connection: ConnectionSpec, points: Sequence[PointSpec], host: str, port: int) -> None:
        self.connection = connection
        self.points = [p for p in points if p.address is not None]
        self.host = host
        self.port = port
        self._tables: dict[str, list[int]] = {}
        self._starts: dict[str, int] = {}
        for table in ("holding", "input"):
            mine = [p for p in self.points if p.table == table]
            if not mine:
                continue
            start = min(cast(int, p.address) for p in mine)
            end = max(cast(int, p.address) + p.registers for p in mine)
            self._starts[table] = start
            self._tables[table] = [0] * (end - start)
        self._server: ModbusTcpServer | None = None

    @property
    def running(self) -> bool:
        """Whether the server listens now."""
        return self._server is not None

    def set_values(self, values: Mapping[str, float]) -> None:
        """Write the snapshot: each point's value, encoded into its registers."""
        for point in self.points:
            if point.id in values:
                start = cast(int, point.address) - self._starts[point.table]
                self._tables[point.table][start : start + point.registers] = encode(values[point.id], point)

    def registers(self, table: str, address: int, count: int) -> list[int]:
        """A copy of the snapshot's registers (for checks; clients read them over TCP)."""
        start = address - self._starts[table]
        return list(self._tables[table][start : start + count])

    def _device(self) -> SimDevice:
        blocks: list[list[SimData]] = [[], []]
        for i, table in enumerate(("holding", "input")):
            if table in self._tables:
                count = len(self._tables[table])
                blocks[i].append(
                    SimData(self._starts[table], count=count, values=0, datatype=DataType.REGISTERS, readonly=True)
                )
            else:  # pymodbus needs each table to have an entry: one invalid register (reads are refused)
                blocks[i].append(SimData(0, datatype=DataType.INVALID))
        unused = [SimData(0, values=False, datatype=DataType.BITS, readonly=True)]
        return SimDevice(
            id=self.connection.unit_id,
            simdata=(list(unused), list(unused), blocks[0], blocks[1]),
            action=self._on_request,
        )

    async def _on_request(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Copy the snapshot into the block pymodbus answers from (reads only; writes are refused)."""
        if set_values is not None:
            return ExcCodes.ILLEGAL_FUNCTION
        table = {_READ_HOLDING: "holding", _READ_INPUT: "input"}.get(function_code)
        if table is None or table not in self._tables:
            return None
        offset = address - start_address
        source = self._tables[table]
        snapshot_offset = address - self._starts[table]
        current_registers[offset : offset + count] = source[snapshot_offset : snapshot_offset + count]
        return None

    async def start(self) -> None:
        """Listen on (host, port); a port of 0 is replaced by the one the system gave."""
        if self._server is not None:
            return
        server = ModbusTcpServer(self._device(), address=(self.host, self.port))
        await server.serve_forever(background=True)
        listener = cast(asyncio.Server, server.transport)
        self.port = int(listener.sockets[0].getsockname()[1])
        self._server = server

    async def stop(self) -> None:
        """Close the listening socket and every client connection."""
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()  # type: ignore[no-untyped-call]
            # let the event loop run the transports' close callbacks before the port is reused
            await asyncio.sleep(0)

"""Modbus TCP driver: reads points in as few requests as the device allows.

The points of one table (holding or input registers) are sorted by address and packed greedily into blocks: a
point joins the current block when the registers between it and the block are at most ``max_gap`` (the skipped
registers are read and ignored) and the block stays within the connection's ``max_block`` registers; otherwise it
starts a new block. One request reads one block. A point wider than ``max_block`` (a float64 with
``max_block = 2``) is read alone in one request of its own width, as a value must not be torn across requests.

A device that answers a block with "illegal function/address/value" (often because a bridged gap holds
unmapped registers) is not treated as a broken connection: the block is split in halves until the offending
points are isolated; those get the per-point error ``illegal_address`` (``illegal_function``,
``illegal_value``), the others are read normally, and the split plan is kept for the next polls. Every other
failure - refused connection, timeout, lost connection, any other exception response, a short response - raises
`DriverError`, and the coordinator reconnects. pymodbus's own reconnect and retries are switched off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from cem_gateway.drivers.base import DriverError, RawReading
from cem_gateway.drivers.decode import DecodeError, decode
from cem_gateway.pointmap import Connection, Point

__all__ = ["MAX_GAP", "Block", "ModbusDriver", "plan_blocks"]

#: Unused registers bridged between two points of one request.
MAX_GAP = 8

_REJECTIONS = {1: "illegal_function", 2: "illegal_address", 3: "illegal_value"}


@dataclass(frozen=True, slots=True)
class Block:
    """One read request: ``count`` registers of ``table`` from ``start``, holding ``points``."""

    table: Literal["holding", "input"]
    start: int
    count: int
    points: tuple[Point, ...]


def _block_of(points: Sequence[Point]) -> Block:
    start = min(point.address for point in points)
    end = max(point.address + point.registers for point in points)
    return Block(points[0].table, start, end - start, tuple(points))


def plan_blocks(points: Iterable[Point], max_block: int, max_gap: int = MAX_GAP) -> list[Block]:
    """Group points into the fewest read requests of at most ``max_block`` registers (see the module notes)."""
    blocks: list[Block] = []
    items = list(points)
    for table in ("holding", "input"):
        ordered = sorted((p for p in items if p.table == table), key=lambda p: (p.address, p.registers))
        current: list[Point] = []
        start = end = 0
        for point in ordered:
            point_end = point.address + point.registers
            if current and point.address - end <= max_gap and max(end, point_end) - start <= max_block:
                current.append(point)
                end = max(end, point_end)
                continue
            if current:
                blocks.append(Block(current[0].table, start, end - start, tuple(current)))
            current, start, end = [point], point.address, point_end
        if current:
            blocks.append(Block(current[0].table, start, end - start, tuple(current)))
    return blocks


class _Rejected(Exception):
    """The device refused a request for these addresses (exception codes 1 to 3)."""

    def __init__(self, error: str) -> None:
        self.error = error
        super().__init__(error)


class ModbusDriver:
    """Reads the points of one Modbus TCP connection with pymodbus's asyncio client."""

    subscribes = False

    def __init__(self, connection: Connection, points: Sequence[Point], *, max_gap: int = MAX_GAP) -> None:
        self.connection = connection
        self.points = tuple(points)
        self.max_gap = max_gap
        #: Read requests sent since the driver was built (for status and tests).
        self.requests = 0
        self._client: AsyncModbusTcpClient | None = None
        self._plans: dict[tuple[str, ...], list[Block]] = {}

    def _error(self, reason: str, detail: str = "") -> DriverError:
        return DriverError(self.connection.name, reason, detail)

    def plan(self, points: Sequence[Point]) -> list[Block]:
        """The requests that read ``points`` (cached per set of points, refined after illegal-address answers)."""
        key = tuple(point.id for point in points)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = plan_blocks(points, self.connection.max_block, self.max_gap)
        return plan

    async def connect(self) -> None:
        """Open the TCP connection; raise `DriverError` (``refused``, ``timeout``, ``unreachable``)."""
        await self.close()
        connection = self.connection
        client = AsyncModbusTcpClient(
            connection.host,
            port=connection.port,
            name=connection.name,
            timeout=connection.timeout_s,
            retries=0,
            reconnect_delay=0,  # no automatic reconnection: the coordinator owns reconnects
            reconnect_delay_max=0,
        )
        # pymodbus only logs why a connection failed; keep the socket error to report refused/timeout/unreachable
        # (if a future pymodbus lacks this hook, the reason falls back to how long the attempt took)
        failures: list[BaseException] = []
        transport = getattr(client, "ctx", None)
        create = getattr(transport, "call_create", None)
        if create is not None:

            async def create_and_remember() -> Any:
                try:
                    return await create()
                except BaseException as err:
                    failures.append(err)
                    raise

            transport.call_create = create_and_remember  # type: ignore[union-attr]
        started = time.monotonic()
        try:
            connected = await client.connect()
        except Exception as err:  # pymodbus reports failures by returning False; anything else is unexpected
            client.close()
            raise self._error("unexpected", repr(err)) from err
        if connected:
            self._client = client
            return
        client.close()
        cause = failures[-1] if failures else None
        if isinstance(cause, ConnectionRefusedError):
            reason = "refused"
        elif isinstance(cause, TimeoutError | asyncio.CancelledError) or (
            cause is None and time.monotonic() - started >= 0.9 * connection.timeout_s
        ):
            reason = "timeout"  # pymodbus's own time limit cancels the attempt
        elif cause is None:
            reason = "refused"
        else:
            reason = "unreachable"
        where = f"{connection.host}:{connection.port}"
        detail = f"{where}: {cause}" if isinstance(cause, OSError) else where
        raise self._error(reason, detail) from (cause if isinstance(cause, Exception) else None)

    async def read(self, points: Sequence[Point], ts: float) -> list[RawReading]:
        """Read ``points`` for slot ``ts``; per-point decode problems become reading errors."""
        key = tuple(point.id for point in points)
        by_id: dict[str, RawReading] = {}
        new_plan: list[Block] = []
        for block in self.plan(points):
            new_plan.extend(await self._read_block(block, ts, by_id))
        self._plans[key] = new_plan
        return [by_id[point.id] for point in points]

    async def _read_block(self, block: Block, ts: float, out: dict[str, RawReading]) -> list[Block]:
        """Read one block into ``out``; return the blocks that replace it in the plan."""
        try:
            registers = await self._request(block)
        except _Rejected as rejected:
            if len(block.points) == 1:
                out[block.points[0].id] = RawReading(block.points[0], ts, None, rejected.error)
                return [block]
            half = len(block.points) // 2
            first = await self._read_block(_block_of(block.points[:half]), ts, out)
            return first + await self._read_block(_block_of(block.points[half:]), ts, out)
        for point in block.points:
            offset = point.address - block.start
            try:
                value = decode(point, registers[offset : offset + point.registers])
            except DecodeError as err:
                out[point.id] = RawReading(point, ts, None, err.reason)
            else:
                out[point.id] = RawReading(point, ts, value)
        return [block]

    async def _request(self, block: Block) -> Sequence[int]:
        client = self._client
        if client is None or not client.connected:
            raise self._error("disconnected", "the connection is closed")
        self.requests += 1
        where = f"{block.table} {block.start}+{block.count}"
        try:
            async with asyncio.timeout(self.connection.timeout_s):
                if block.table == "holding":
                    call = client.read_holding_registers(block.start, count=block.count, device_id=self._unit)
                else:
                    call = client.read_input_registers(block.start, count=block.count, device_id=self._unit)
                response: ModbusPDU = await call
        except TimeoutError as err:
            raise self._error("timeout", f"no answer to {where} within {self.connection.timeout_s} s") from err
        except ConnectionException as err:
            raise self._error("disconnected", str(err)) from err
        except ModbusIOException as err:
            reason = "timeout" if "no response" in str(err).lower() else "bad_response"
            raise self._error(reason, str(err)) from err
        except ModbusException as err:
            raise self._error("bad_response", str(err)) from err
        except OSError as err:
            raise self._error("disconnected", str(err)) from err
        if response.isError():
            code = response.exception_code
            if code in _REJECTIONS:
                raise _Rejected(_REJECTIONS[code])
            raise self._error("exception_response", f"{where}: exception code {code}")
        registers = response.registers
        if len(registers) < block.count:
            raise self._error("bad_response", f"{where}: {len(registers)} registers in the answer")
        return registers

    @property
    def _unit(self) -> int:
        return self.connection.unit_id

    async def close(self) -> None:
        """Close the TCP connection."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

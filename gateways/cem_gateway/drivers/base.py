"""What every field driver shares: the one error type, the raw reading, and the driver protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cem_gateway.pointmap import Point

__all__ = ["Driver", "DriverError", "RawReading"]


class DriverError(Exception):
    """A connection-level failure of a driver; the coordinator closes the driver and reconnects.

    Every failure a driver meets while talking to its device (refused connection, timeout, Modbus exception
    response, dead OPC UA session, a response that cannot be used...) is raised as this one type. ``reason`` is a
    short machine-readable word such as ``refused``, ``timeout``, ``unreachable``, ``disconnected``,
    ``exception_response``, ``bad_status``, ``bad_response`` or ``unexpected``; the library's own exception, if
    any, is chained as ``__cause__``.
    """

    def __init__(self, connection: str, reason: str, detail: str = "") -> None:
        self.connection, self.reason, self.detail = connection, reason, detail
        super().__init__(f"{connection}: {reason}" + (f" ({detail})" if detail else ""))


@dataclass(slots=True)
class RawReading:
    """One point's value at one poll slot, before the edge data-quality checks.

    ``ts`` is the poll slot (epoch seconds, a multiple of the point's ``poll_s``). ``value`` is the engineering
    value (``raw * scale + offset``), or ``None`` when this point could not be read while the connection itself
    was fine; ``error`` then says why (``bad_status``, ``no_data``, ``nan``, ``inf``, ``not_numeric``,
    ``bad_node``, ``illegal_address``...).
    """

    point: Point
    ts: float
    value: float | None
    error: str | None = None


class Driver(Protocol):
    """A connection to one device. Built with all the points read over the connection.

    ``connect`` and ``read`` raise `DriverError` on communication failures; a driver is not reused after
    ``close``, the coordinator builds a new one to reconnect.
    """

    #: True when values arrive by subscription (``read`` returns the latest cached values).
    subscribes: bool

    async def connect(self) -> None:
        """Open the connection (and subscriptions); raise `DriverError` if it cannot be opened."""
        ...

    async def read(self, points: Sequence[Point], ts: float) -> list[RawReading]:
        """Read ``points`` (a subset of the driver's points) for the poll slot ``ts``, one reading per point."""
        ...

    async def close(self) -> None:
        """Close the connection; never raises."""
        ...

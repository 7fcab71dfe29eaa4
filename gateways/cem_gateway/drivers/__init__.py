"""Field drivers: Modbus TCP and OPC UA, behind one small `Driver` protocol.

`make_driver` builds the driver of a connection; the protocol libraries are imported only when a driver of that
kind is built, so `decode`/`encode` can be used without them.
"""

from __future__ import annotations

from collections.abc import Sequence

from cem_gateway.drivers.base import Driver, DriverError, RawReading
from cem_gateway.drivers.decode import DecodeError, decode, encode
from cem_gateway.pointmap import Connection, Point

__all__ = ["DecodeError", "Driver", "DriverError", "RawReading", "decode", "encode", "make_driver"]


def make_driver(connection: Connection, points: Sequence[Point]) -> Driver:
    """The driver for ``connection`` (by its protocol), built with all the points read over it."""
    if connection.protocol == "modbus":
        from cem_gateway.drivers.modbus import ModbusDriver

        return ModbusDriver(connection, points)
    if connection.protocol == "opcua":
        from cem_gateway.drivers.opcua import OpcUaDriver

        return OpcUaDriver(connection, points)
    raise ValueError(f"{connection.name}: unknown protocol {connection.protocol!r}")

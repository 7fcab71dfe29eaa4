"""Registers to engineering values and back.

A value of ``n`` 16-bit registers is turned into bytes as follows: with ``word_order = "big"`` the first register
holds the most significant word (``"little"``: the least significant word first); with ``byte_order = "big"``
each register holds its high byte first, as the Modbus standard sends it (``"little"``: the two bytes of every
register are swapped). The resulting big-endian bytes are the int16/uint16/int32/uint32 two's-complement integer
or the IEEE 754 float32/float64. The engineering value is ``raw * scale + offset``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from cem_gateway.pointmap import DATA_TYPES, Point

__all__ = ["DecodeError", "decode", "decode_raw", "encode", "encode_raw", "engineering"]

_FORMATS = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f", "float64": "d"}


class DecodeError(ValueError):
    """One value cannot be used; ``reason`` is ``nan``, ``inf``, ``not_numeric`` or ``length``."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def _words(registers: Sequence[int], byte_order: str, word_order: str) -> bytes:
    """Bytes of the registers in big-endian order, undoing the device's word and byte order."""
    ordered = registers if word_order == "big" else list(reversed(registers))
    pack = ">H" if byte_order == "big" else "<H"
    return b"".join(struct.pack(pack, register) for register in ordered)


def _registers(data: bytes, byte_order: str, word_order: str) -> list[int]:
    """The inverse of `_words`."""
    unpack = ">H" if byte_order == "big" else "<H"
    registers = [struct.unpack(unpack, data[i : i + 2])[0] for i in range(0, len(data), 2)]
    return registers if word_order == "big" else list(reversed(registers))


def decode_raw(data_type: str, registers: Sequence[int], byte_order: str = "big", word_order: str = "big") -> float:
    """The raw number held by ``registers`` (no scale or offset); NaN and infinities are returned as they are."""
    count = DATA_TYPES[data_type][0]
    if len(registers) != count:
        raise DecodeError("length", f"{data_type} needs {count} registers, got {len(registers)}")
    if any(not 0 <= register <= 0xFFFF for register in registers):
        raise DecodeError("length", f"registers must be 0..65535, got {list(registers)}")
    value: float = struct.unpack(">" + _FORMATS[data_type], _words(registers, byte_order, word_order))[0]
    return value


def engineering(point: Point, raw: float) -> float:
    """``raw * scale + offset``, refusing values that are not finite numbers."""
    if math.isnan(raw):
        raise DecodeError("nan", f"{point.id}: the device sent NaN")
    if math.isinf(raw):
        raise DecodeError("inf", f"{point.id}: the device sent an infinite value")
    value = raw * point.scale + point.offset
    if not math.isfinite(value):
        raise DecodeError("inf", f"{point.id}: {raw} * {point.scale} + {point.offset} overflows")
    return value


def decode(point: Point, registers: Sequence[int]) -> float:
    """The engineering value of a Modbus point from its registers; raises `DecodeError`."""
    return engineering(point, decode_raw(point.type, registers, point.byte_order, point.word_order))


def encode_raw(data_type: str, raw: float, byte_order: str = "big", word_order: str = "big") -> list[int]:
    """The registers that hold the raw number ``raw``; integers are rounded and must fit the type."""
    count, signed, is_float = DATA_TYPES[data_type]
    packed: bytes
    if is_float:
        try:
            packed = struct.pack(">" + _FORMATS[data_type], raw)
        except OverflowError as err:
            raise ValueError(f"{raw} does not fit {data_type}") from err
    else:
        if not math.isfinite(raw):
            raise ValueError(f"{data_type} cannot hold {raw}")
        number = round(raw)
        bits = 16 * count
        low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        if not low <= number <= high:
            raise ValueError(f"{number} does not fit {data_type} ({low}..{high})")
        packed = struct.pack(">" + _FORMATS[data_type], number)
    return _registers(packed, byte_order, word_order)


def encode(point: Point, value: float) -> list[int]:
    """The registers a device holds for the engineering ``value`` of ``point`` (the inverse of `decode`)."""
    raw = (value - point.offset) / point.scale
    return encode_raw(point.type, raw, point.byte_order, point.word_order)

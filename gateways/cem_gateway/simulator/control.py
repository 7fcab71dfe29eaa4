"""The running plant: its PLCs, the update loop, faults on command and the loopback control port.

``run_plant`` starts every server of a configuration and yields a ``Plant``::

    async with run_plant(load_config(), host="127.0.0.1", seed=1) as plant:
        plant.ports                     # {"iron-plc": 40123, ...}
        plant.point_map()               # the gateway's point map, with the actual ports
        plant.value("IR.BF1.COKE")      # what a client reads now
        await plant.inject("stuck", target="IR.BF1.COKE.FLOW", seconds=30)

Every ``update_s`` the plant evaluates the model at the clock's time (the PLC scan), applies the active
faults and hands the values to its servers. Faults:

=========== ======================================================================================
stuck       the point's value freezes at its current reading for ``seconds``
spike       the point reads ``factor`` (default 10) times its value from now through the next update
            (``seconds`` stretches it over more updates)
rollover    an integer totaliser jumps to a few counts below its wrap, so it wraps in ``seconds``
            (default 5) and counts on from there (the jump stays until ``clear``)
comm_loss   the connection's server stops listening and drops its clients for ``seconds``, then
            listens again on the same port
=========== ======================================================================================

The control port speaks JSON lines on loopback: one request object per line, one answer object per line.
Requests have an ``op``: ``ping``, ``status``, ``values`` (optional ``ids``), ``point_map``, ``inject``
(``kind``, ``target``, optional ``seconds`` and ``factor``) and ``clear`` (optional ``target``). Answers have
``ok`` true and the result, or ``ok`` false and an ``error`` message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args

from cem_gateway.simulator.modbus import ModbusPLC, reading
from cem_gateway.simulator.model import PlantConfig, PlantModel, PointSpec, load_config
from cem_gateway.simulator.opcua import OpcuaPLC
from cem_gateway.simulator.pointmap import render_point_map

__all__ = ["FaultError", "FaultKind", "Plant", "control_request", "run_plant"]

_log = logging.getLogger(__name__)

FaultKind = Literal["stuck", "spike", "rollover", "comm_loss"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
_DEFAULT_SECONDS = {"stuck": 30.0, "spike": 0.0, "rollover": 5.0, "comm_loss": 10.0}


class FaultError(ValueError):
    """A fault request names an unknown point or connection, or does not fit the target."""


@dataclass(slots=True)
class _Stuck:
    value: float
    until: float  # plant time


@dataclass(slots=True)
class _Outage:
    until: float  # monotonic
    task: asyncio.Task[None]


def _map_host(host: str) -> str:
    """The address clients use: a wildcard bind is reached on loopback."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host  # noqa: S104 - mapped, not bound


class Plant:
    """A simulated works serving its meters over Modbus TCP and OPC UA (see the module docstring).

    ``clock`` gives the plant time in Unix seconds (default: the wall clock); a fixed clock makes every
    value a pure function of the seed and that time. ``port_base`` 0 puts every server on a free port.
    """

    def __init__(
        self,
        config: PlantConfig,
        *,
        host: str = "127.0.0.1",
        port_base: int | None = None,
        seed: int | None = None,
        update_s: float | None = None,
        clock: Callable[[], float] | None = None,
        control_port: int | None = None,
    ) -> None:
        self.config = config
        self.model = PlantModel(config, seed)
        self.seed = self.model.seed
        self.host = host
        self.update_s = config.update_s if update_s is None else update_s
        if self.update_s <= 0:
            raise ValueError("update_s must be positive")
        self._clock = clock or time.time
        base = config.port_base if port_base is None else port_base
        self.modbus: dict[str, ModbusPLC] = {}
        self.opcua: dict[str, OpcuaPLC] = {}
        for conn in config.connections:
            port = base + conn.port_offset if base else 0
            if conn.protocol == "modbus":
                self.modbus[conn.name] = ModbusPLC(conn, config.points_of(conn.name), host, port)
            else:
                self.opcua[conn.name] = OpcuaPLC(conn, config.points_of(conn.name), host, port, config.name)
        self._control_port_requested = control_port
        self.control_port: int | None = None
        self.time = 0.0
        self._model_values: dict[str, float] = {}
        self._served: dict[str, float] = {}
        self._readings: dict[str, float] = {}
        self._stuck: dict[str, _Stuck] = {}
        self._spikes: dict[str, tuple[float, int]] = {}  # point -> (factor, updates it still lasts)
        self._offsets: dict[str, float] = {}
        self._outages: dict[str, _Outage] = {}
        self._online: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()
        self._loop_task: asyncio.Task[None] | None = None
        self._control: asyncio.Server | None = None

    # ------------------------------------------------------------------------------------ state

    @property
    def ports(self) -> dict[str, int]:
        """Each connection's port (the actual ones once started)."""
        return {**{k: v.port for k, v in self.modbus.items()}, **{k: v.port for k, v in self.opcua.items()}}

    @property
    def endpoints(self) -> dict[str, str]:
        """Each connection's address: ``modbus://host:port`` or the OPC UA endpoint URL."""
        host = _map_host(self.host)
        out = {k: f"modbus://{host}:{v.port}" for k, v in self.modbus.items()}
        out.update({k: v.endpoint for k, v in self.opcua.items()})
        return out

    def point_map(self) -> str:
        """The gateway's point map (TOML) for this plant, with the actual ports and namespace indexes."""
        return render_point_map(
            self.config,
            host=_map_host(self.host),
            ports=self.ports,
            namespace_indexes={k: v.namespace_index or 2 for k, v in self.opcua.items()},
        )

    def value(self, point_id: str) -> float:
        """What a client reads from the point now: faults applied, then the register type's rounding and wrap."""
        return self._readings[point_id]

    def values(self) -> dict[str, float]:
        """Every point's current reading (see ``value``)."""
        return dict(self._readings)

    def model_value(self, point_id: str) -> float:
        """The fault-free model value at the current plant time, before any register encoding."""
        return self._model_values[point_id]

    def online(self, connection: str) -> bool:
        """Whether a connection's server listens now."""
        plc = self.modbus.get(connection) or self.opcua.get(connection)
        if plc is None:
            raise FaultError(f"no connection {connection!r}")
        return plc.running

    def faults(self) -> list[dict[str, Any]]:
        """The active faults, as the control port reports them."""
        out: list[dict[str, Any]] = []
        out += [{"kind": "stuck", "target": k, "value": v.value, "until": v.until} for k, v in self._stuck.items()]
        out += [{"kind": "spike", "target": k, "factor": f, "updates": n} for k, (f, n) in self._spikes.items()]
        out += [{"kind": "rollover", "target": k, "offset": v} for k, v in self._offsets.items()]
        now = time.monotonic()
        out += [
            {"kind": "comm_loss", "target": k, "remaining_s": max(0.0, v.until - now)} for k, v in self._outages.items()
        ]
        return out

    def status(self) -> dict[str, Any]:
        """Plant name, seed, plant time, ports, endpoints, control port and active faults."""
        return {
            "plant": self.config.name,
            "seed": self.seed,
            "time": self.time,
            "update_s": self.update_s,
            "ports": self.ports,
            "endpoints": self.endpoints,
            "online": {name: self.online(name) for name in self.ports},
            "control_port": self.control_port,
            "faults": self.faults(),
        }

    # ------------------------------------------------------------------------------------ updates

    async def update(self, now: float | None = None) -> None:
        """Evaluate the model at ``now`` (default: the clock), apply the faults and refresh every server."""
        t = self._clock() if now is None else now
        values = self.model.values(t)
        async with self._lock:
            self.time = t
            self._model_values = values
            self._spikes = {k: (f, n - 1) for k, (f, n) in self._spikes.items() if n > 0}
            self._stuck = {k: v for k, v in self._stuck.items() if v.until > t}
            await self._publish()

    async def _publish(self) -> None:
        served: dict[str, float] = {}
        for point in self.config.points:
            value = self._model_values[point.id] + self._offsets.get(point.id, 0.0)
            if point.id in self._spikes:
                value *= self._spikes[point.id][0]
            if point.id in self._stuck:
                value = self._stuck[point.id].value
            served[point.id] = value
        self._served = served
        self._readings = {p.id: self._reading(p, served[p.id]) for p in self.config.points}
        for modbus in self.modbus.values():
            modbus.set_values(served)
        for opcua in self.opcua.values():
            await opcua.set_values(served, self.time)

    @staticmethod
    def _reading(point: PointSpec, value: float) -> float:
        return value if point.address is None else reading(value, point)

    async def _run(self) -> None:
        next_at = time.monotonic()
        while True:
            next_at += self.update_s
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if time.monotonic() - next_at > self.update_s:  # fell behind (suspended): skip, do not catch up
                next_at = time.monotonic()
            try:
                await self.update()
            except Exception:  # one bad update must not stop the plant; the next one tries again
                _log.exception("plant update failed")

    # ------------------------------------------------------------------------------------ faults

    def _point(self, target: str) -> PointSpec:
        try:
            return self.config.point(target)
        except KeyError:
            raise FaultError(f"no point {target!r} in this plant") from None

    async def inject(
        self, kind: str, target: str, seconds: float | None = None, factor: float | None = None
    ) -> dict[str, Any]:
        """Start a fault (see the module docstring) and return its description; takes effect at once."""
        if kind not in FAULT_KINDS:
            raise FaultError(f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
        duration = _DEFAULT_SECONDS[kind] if seconds is None else float(seconds)
        if not math.isfinite(duration) or duration < 0:
            raise FaultError("seconds must be a number >= 0")
        if kind == "comm_loss":
            return await self._comm_loss(target, duration)
        point = self._point(target)
        async with self._lock:
            if kind == "stuck":
                self._stuck[target] = _Stuck(self._served[target], self.time + duration)
                answer: dict[str, Any] = {"value": self._readings[target], "until": self.time + duration}
            elif kind == "spike":
                spike = 10.0 if factor is None else float(factor)
                if not math.isfinite(spike):
                    raise FaultError("factor must be a finite number")
                updates = max(1, math.ceil(duration / self.update_s))
                self._spikes[target] = (spike, updates)
                answer = {"factor": spike, "updates": updates}
            else:
                answer = self._rollover(point, duration)
            await self._publish()
        return {"kind": kind, "target": target, **answer, "reading": self._readings[target]}

    def _rollover(self, point: PointSpec, seconds: float) -> dict[str, Any]:
        wrap = point.rollover_value()
        if point.address is None or not point.wraps or wrap is None:
            raise FaultError(
                f"rollover needs an unsigned integer totaliser on Modbus (e.g. uint32); {point.id} is "
                f"a {point.kind} of type {point.type if point.address is not None else 'OPC UA Double'}"
            )
        assert point.stream is not None  # noqa: S101 - totalisers have a stream
        per_second = self.model.rate(point.stream, self.time) / 3600.0
        margin = max(per_second * seconds, 3 * abs(point.scale))
        current = self._readings[point.id]
        jump = (wrap - margin) - current
        if jump < 0:
            jump += wrap - point.offset
        self._offsets[point.id] = self._offsets.get(point.id, 0.0) + jump
        return {"wraps_at": wrap, "wraps_in_s": margin / per_second if per_second > 0 else None}

    async def _comm_loss(self, connection: str, seconds: float) -> dict[str, Any]:
        plc: ModbusPLC | OpcuaPLC | None = self.modbus.get(connection) or self.opcua.get(connection)
        if plc is None:
            raise FaultError(f"comm_loss targets a connection, one of {', '.join(self.ports)}; not {connection!r}")
        old = self._outages.pop(connection, None)
        if old is not None:
            old.task.cancel()
        event = self._online.setdefault(connection, asyncio.Event())
        event.clear()
        await plc.stop()
        task = asyncio.create_task(self._restore(connection, seconds))
        self._outages[connection] = _Outage(time.monotonic() + seconds, task)
        return {"kind": "comm_loss", "target": connection, "port": plc.port, "seconds": seconds}

    async def _restore(self, connection: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self._bring_up(connection)

    async def _bring_up(self, connection: str) -> None:
        plc: ModbusPLC | OpcuaPLC = self.modbus.get(connection) or self.opcua[connection]
        for attempt in range(50):  # the old socket may linger a moment
            try:
                await plc.start()
                break
            except (OSError, RuntimeError):
                if attempt == 49:
                    raise
                await asyncio.sleep(0.1)
        if isinstance(plc, ModbusPLC):
            plc.set_values(self._served)
        self._outages.pop(connection, None)
        self._online.setdefault(connection, asyncio.Event()).set()

    async def wait_online(self, connection: str, limit_s: float = 30.0) -> None:
        """Wait until a connection listens again after a ``comm_loss``."""
        if self.online(connection):
            return
        event = self._online.setdefault(connection, asyncio.Event())
        await asyncio.wait_for(event.wait(), limit_s)

    async def clear(self, target: str | None = None) -> int:
        """End the faults on one target (or all): unfreeze, drop rollover jumps, reconnect. Returns how many."""
        count = 0
        async with self._lock:
            for key in [k for k in self._stuck if target in (None, k)]:
                del self._stuck[key]
                count += 1
            for key in [k for k in self._spikes if target in (None, k)]:
                del self._spikes[key]
                count += 1
            for key in [k for k in self._offsets if target in (None, k)]:
                del self._offsets[key]
                count += 1
            if self._model_values:
                await self._publish()
        for connection in [k for k in self._outages if target in (None, k)]:
            outage = self._outages.pop(connection)
            outage.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await outage.task
            await self._bring_up(connection)
            count += 1
        return count

    # ------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Compute the first values, start every server and the update loop (and the control port)."""
        t = self._clock()
        self.time = t
        self._model_values = self.model.values(t)
        try:
            for opcua in self.opcua.values():
                await opcua.start(self._model_values)
            await self.update(t)
            for modbus in self.modbus.values():
                await modbus.start()
            if self._control_port_requested is not None:
                self._control = await asyncio.start_server(
                    self._serve_client, "127.0.0.1", self._control_port_requested
                )
                self.control_port = int(self._control.sockets[0].getsockname()[1])
        except BaseException:
            await self.stop()
            raise
        self._loop_task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the update loop, the control port and every server."""
        tasks = [t for t in (self._loop_task, *(o.task for o in self._outages.values())) if t is not None]
        self._loop_task = None
        self._outages.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._control is not None:
            self._control.close()
            await self._control.wait_closed()
            self._control = None
        for modbus in self.modbus.values():
            await modbus.stop()
        for opcua in self.opcua.values():
            await opcua.close()

    # ------------------------------------------------------------------------------------ control port

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                if not line.strip():
                    continue
                answer = await self.handle_request(line)
                writer.write(json.dumps(answer, separators=(",", ":")).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # the client went away, or sent a line longer than the stream limit
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def handle_request(self, line: bytes | str) -> dict[str, Any]:
        """Answer one control request (a JSON object); never raises for a bad request."""
        try:
            request = json.loads(line)
        except ValueError as err:
            return {"ok": False, "error": f"not JSON: {err}"}
        if not isinstance(request, dict):
            return {"ok": False, "error": "a request is a JSON object with an 'op'"}
        op = request.get("op")
        try:
            if op == "ping":
                return {"ok": True, "time": self.time}
            if op == "status":
                return {"ok": True, **self.status()}
            if op == "values":
                ids = request.get("ids") or list(self._readings)
                unknown = [i for i in ids if i not in self._readings]
                if unknown:
                    return {"ok": False, "error": f"unknown points: {', '.join(map(str, unknown))}"}
                return {"ok": True, "time": self.time, "values": {i: self._readings[i] for i in ids}}
            if op == "point_map":
                return {"ok": True, "point_map": self.point_map()}
            if op == "inject":
                kind, target = request.get("kind"), request.get("target")
                if not isinstance(kind, str) or not isinstance(target, str):
                    return {"ok": False, "error": "inject needs 'kind' and 'target' strings"}
                seconds, factor = request.get("seconds"), request.get("factor")
                for name, number in (("seconds", seconds), ("factor", factor)):
                    if number is not None and (isinstance(number, bool) or not isinstance(number, int | float)):
                        return {"ok": False, "error": f"{name} must be a number"}
                fault = await self.inject(kind, target, seconds=seconds, factor=factor)
                return {"ok": True, "fault": fault}
            if op == "clear":
                target = request.get("target")
                if target is not None and not isinstance(target, str):
                    return {"ok": False, "error": "target must be a string"}
                return {"ok": True, "cleared": await self.clear(target)}
        except FaultError as err:
            return {"ok": False, "error": str(err)}
        ops = "ping, status, values, point_map, inject, clear"
        return {"ok": False, "error": f"unknown op {op!r}; one of {ops}"}


@asynccontextmanager
async def run_plant(
    config: PlantConfig | str | Path | None = None,
    *,
    host: str = "127.0.0.1",
    port_base: int = 0,
    seed: int | None = None,
    update_s: float | None = None,
    clock: Callable[[], float] | None = None,
    control_port: int | None = None,
) -> AsyncIterator[Plant]:
    """Start a plant (the default one without ``config``), yield it while every server listens, stop it.

    ``port_base`` 0 (the default here) uses free ports; ``control_port`` None opens no control port, 0 a free one.
    """
    if not isinstance(config, PlantConfig):
        config = load_config(config)
    plant = Plant(
        config, host=host, port_base=port_base, seed=seed, update_s=update_s, clock=clock, control_port=control_port
    )
    await plant.start()
    try:
        yield plant
    finally:
        await plant.stop()


def control_request(address: str, request: Mapping[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Send one request to a control port (``HOST:PORT``) and return the answer (blocking; for the CLI)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"control address must be HOST:PORT, not {address!r}")
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as sock:
        sock.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data:
        raise ConnectionError("the control port closed the connection without an answer")
    return cast(dict[str, Any], json.loads(data))

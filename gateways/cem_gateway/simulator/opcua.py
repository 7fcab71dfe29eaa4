"""A simulated OPC UA server (asyncua): one Double variable per point, ``ns=<idx>;s=<point id>``.

The variables sit under ``Objects/<plant name>/<unit>`` (the point id without its last part), carry an
``EngineeringUnits`` property (EUInformation, UNECE codes where one exists) and are written with source
timestamps on every plant update, so subscriptions see data changes. Only the ``None`` security policy with
anonymous login is offered: the simulator is a test fixture on loopback, not a plant network.

``stop``/``start`` take only the network listener down and up (the address space and the values live on),
which is what a client sees when the cable to the PLC is pulled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from asyncua import ua
from asyncua.common.node import Node
from asyncua.server.server import Server
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds

from cem_gateway.simulator.model import ConnectionSpec, PointSpec

__all__ = ["OpcuaPLC", "unece_unit_id"]

_UNECE_URI = "http://www.opcfoundation.org/UA/units/un/cefact"
_UNECE_CODES = {
    "t": "TNE",
    "kg": "KGM",
    "t/h": "E18",
    "kg/h": "E93",
    "m3": "MTQ",
    "kWh": "KWH",
    "MWh": "MWH",
    "kW": "KWT",
    "MW": "MAW",
    "GJ": "GV",
    "t_steam": "TNE",
    "degC": "CEL",
    "kPa": "KPA",
    "MPa": "MPA",
    "%": "P1",
    "1": "C62",
}


def _node_id(name: str, namespace_index: int) -> ua.NodeId:
    return ua.NodeId(ua.String(name), ua.Int16(namespace_index))


def unece_unit_id(unit: str) -> int:
    """The OPC UA UnitId of a unit (its UNECE common code packed into an integer); -1 when it has none."""
    code = _UNECE_CODES.get(unit)
    if code is None:
        return -1
    value = 0
    for char in code:
        value = (value << 8) | ord(char)
    return value


class OpcuaPLC:
    """One simulated OPC UA server with a variable per point; ``namespace_index`` is known after ``start``."""

    def __init__(
        self, connection: ConnectionSpec, points: Sequence[PointSpec], host: str, port: int, plant_name: str
    ) -> None:
        self.connection = connection
        self.points = [p for p in points if p.node is not None]
        self.host = host
        self.port = port
        self.plant_name = plant_name
        self.namespace_index = 0
        self._server: Server | None = None
        self._nodes: dict[str, ua.NodeId] = {}
        self._listening = False

    @property
    def running(self) -> bool:
        """Whether the server listens now."""
        return self._listening

    @property
    def endpoint(self) -> str:
        """The endpoint URL clients connect to."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host  # noqa: S104 - mapped, not bound
        return f"opc.tcp://{host}:{self.port}{self.connection.path}"

    def node_id(self, point_id: str) -> str:
        """The node id string of a point, e.g. ``ns=2;s=PW.PB1.POWER``."""
        return self._nodes[point_id].to_string()

    async def _build(self, initial: Mapping[str, float]) -> Server:
        server = Server()
        await server.init()
        server.set_server_name(f"CEM simulator: {self.connection.name}")
        server.set_endpoint(f"opc.tcp://{self.host}:{self.port}{self.connection.path}")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        server.set_identity_tokens([ua.AnonymousIdentityToken])
        await server.set_application_uri(f"{self.connection.namespace}:{self.connection.name}")
        idx = await server.register_namespace(self.connection.namespace)
        self.namespace_index = idx
        root = await server.nodes.objects.add_object(_node_id(self.connection.name, idx), self.plant_name)
        folders: dict[str, Node] = {}
        for point in self.points:
            unit_name = point.id.rsplit(".", 1)[0]
            folder = folders.get(unit_name)
            if folder is None:
                folder = await root.add_object(_node_id(f"{self.connection.name}/{unit_name}", idx), unit_name)
                folders[unit_name] = folder
            node_id = _node_id(point.node or point.id, idx)
            variable = await folder.add_variable(
                node_id, ua.QualifiedName(point.id, idx), float(initial.get(point.id, 0.0)), ua.VariantType.Double
            )
            await variable.add_property(
                _node_id(f"{point.node}.EngineeringUnits", idx),
                ua.QualifiedName("EngineeringUnits", 0),
                ua.EUInformation(
                    NamespaceUri=_UNECE_URI,
                    UnitId=unece_unit_id(point.unit),
                    DisplayName=ua.LocalizedText(point.unit),
                    Description=ua.LocalizedText(point.unit),
                ),
                ua.VariantType.ExtensionObject,
                ObjectIds.EUInformation,
            )
            if point.description:
                await variable.write_attribute(
                    AttributeIds.Description, ua.DataValue(ua.Variant(ua.LocalizedText(point.description)))
                )
            self._nodes[point.id] = node_id
        return server

    async def start(self, initial: Mapping[str, float] | None = None) -> None:
        """Build the address space (first time) and listen; a port of 0 is replaced by the one the system gave."""
        if self._server is None:
            self._server = await self._build(initial or {})
            await self._server.start()
        elif not self._listening and self._server.bserver is not None:
            await self._server.bserver.start()
        if self._server.bserver is not None:
            self.port = self._server.bserver.port
        self._listening = True

    async def stop(self) -> None:
        """Close the listener and every client connection; the address space stays (see ``start``)."""
        if self._server is not None and self._server.bserver is not None and self._listening:
            await self._server.bserver.stop()
        self._listening = False

    async def close(self) -> None:
        """Shut the server down for good."""
        server, self._server = self._server, None
        self._listening = False
        if server is not None:
            await server.stop()

    async def set_values(self, values: Mapping[str, float], timestamp: float) -> None:
        """Write the points' values with this source timestamp (Unix seconds)."""
        if self._server is None:
            return
        when = ua.DateTime.fromtimestamp(timestamp, dt.UTC)
        now = ua.DateTime.now(dt.UTC)
        for point_id, node_id in self._nodes.items():
            if point_id in values:
                await self._server.write_attribute_value(
                    node_id,
                    ua.DataValue(
                        ua.Variant(float(values[point_id]), ua.VariantType.Double),
                        SourceTimestamp=when,
                        ServerTimestamp=now,
                    ),
                )

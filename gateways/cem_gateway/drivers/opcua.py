"""OPC UA driver: a subscription that keeps the latest value of every node, or one read per poll.

``mode = "subscribe"``: one subscription (publishing interval = the smallest ``poll_s`` of the points, in ms)
with a data-change monitored item per node; notifications update a cache and ``read`` returns the cached values at
the poll slot (``no_data`` until a first value arrived, ``bad_status`` while the last notification had a Bad
status code). A node the server refuses to monitor gets ``bad_status``. If the server refuses the subscription
itself, the driver falls back to polling (``subscribes`` becomes False).

``mode = "poll"``: every ``read`` reads the values of all its nodes in one Read request (split only above
`MAX_NODES_PER_READ` nodes, a common server limit).

A dead session - socket lost, asyncua's keepalive probe failing, a Bad subscription status change - makes the
next ``read`` raise `DriverError`; asyncua's own automatic reconnect is off (the coordinator owns reconnects).
Values must be numbers (booleans count as 0/1); ``scale`` and ``offset`` apply as for Modbus.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.client.ua_client import UaClientState
from asyncua.common.node import Node
from asyncua.common.subscription import DataChangeNotif, Subscription
from asyncua.ua.uaerrors import UaError, UaStatusCodeError
from asyncua.ua.uatypes import Double, Int16

from cem_gateway.drivers.base import DriverError, RawReading
from cem_gateway.drivers.decode import DecodeError, engineering
from cem_gateway.pointmap import Connection, Point

__all__ = ["MAX_NODES_PER_READ", "OpcUaDriver", "numeric"]

_log = logging.getLogger(__name__)

#: Most nodes asked for in one Read request.
MAX_NODES_PER_READ = 1000
#: A keepalive at least this often (ms) when nothing changes, so a silent subscription is noticed.
_KEEPALIVE_MS = 10_000.0


def numeric(value: Any) -> float:
    """The value of an OPC UA variant as a float; raises `DecodeError` (``not_numeric``) for anything else."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    raise DecodeError("not_numeric", f"{type(value).__name__} is not a number")


@dataclass(slots=True)
class _Latest:
    value: Any
    status: ua.StatusCode | None  # None: the server sent no status code, which means Good


class _Handler:
    """Receives the subscription's notifications (asyncua calls it from its own tasks)."""

    def __init__(self, driver: OpcUaDriver) -> None:
        self._driver = driver

    def datachange_notification(self, node: Node, val: Any, data: DataChangeNotif) -> None:
        data_value = data.monitored_item.Value
        status = data_value.StatusCode if data_value is not None else None
        self._driver._cache[node.nodeid] = _Latest(val, status)

    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        if status.Status is not None and status.Status.is_bad():
            self._driver._fail("bad_status", f"subscription status {status.Status.name}")


class OpcUaDriver:
    """Reads the points of one OPC UA connection with asyncua's client."""

    def __init__(self, connection: Connection, points: Sequence[Point]) -> None:
        self.connection = connection
        self.points = tuple(points)
        #: True while values come from the subscription; False in poll mode or after a refused subscription.
        self.subscribes = connection.mode == "subscribe"
        #: Read requests sent (poll mode), for status and tests.
        self.requests = 0
        self._client: Client | None = None
        self._subscription: Subscription | None = None
        self._nodes: dict[str, ua.NodeId | None] = {}
        self._node_errors: dict[ua.NodeId, str] = {}
        self._cache: dict[ua.NodeId, _Latest] = {}
        self._dead: DriverError | None = None

    # -------------------------------------------------------------------------------------------- errors
    def _error(self, reason: str, detail: str = "") -> DriverError:
        return DriverError(self.connection.name, reason, detail)

    def _fail(self, reason: str, detail: str) -> None:
        """Remember that the session died; the next ``read`` raises."""
        if self._dead is None:
            self._dead = self._error(reason, detail)

    async def _on_connection_lost(self, exc: Exception) -> None:
        self._fail("disconnected", f"connection lost: {exc!r}")

    def _wrap(self, err: BaseException, *, connecting: bool = False) -> DriverError:
        if isinstance(err, ConnectionRefusedError):
            return self._error("refused", f"{self.connection.endpoint}: {err}")
        if isinstance(err, TimeoutError):
            return self._error("timeout", f"no answer within {self.connection.timeout_s} s")
        if isinstance(err, ConnectionError):
            return self._error("disconnected", str(err) or type(err).__name__)
        if isinstance(err, OSError):
            return self._error("unreachable" if connecting else "disconnected", str(err))
        if isinstance(err, UaStatusCodeError):
            return self._error("bad_status", str(err))
        return self._error("unexpected", repr(err))

    # -------------------------------------------------------------------------------------------- connect
    async def connect(self) -> None:
        """Open the session (and the subscription in subscribe mode); raise `DriverError` if that fails."""
        await self.close()
        self._dead, self._cache, self._node_errors = None, {}, {}
        timeout = self.connection.timeout_s
        client = Client(self.connection.endpoint, timeout=timeout, watchdog_intervall=max(1.0, timeout))
        client.connection_lost_callback = self._on_connection_lost
        try:
            # socket, hello, secure channel, session and activation: several round trips
            async with asyncio.timeout(4 * timeout):
                await client.connect()
                self._client = client
                await self._resolve_nodes(client)
                if self.subscribes:
                    await self._subscribe(client)
        except Exception as err:
            await self.close()
            client.disconnect_socket()
            raise self._wrap(err, connecting=True) from err

    async def _resolve_nodes(self, client: Client) -> None:
        uris: list[str] | None = None
        for point in self.points:
            try:
                node_id = ua.NodeId.from_string(point.node)
            except UaError:
                self._nodes[point.id] = None
                continue
            uri = getattr(node_id, "NamespaceUri", None)
            if uri:
                if uris is None:
                    uris = await client.get_namespace_array()
                if uri not in uris:
                    self._nodes[point.id] = None
                    continue
                node_id = ua.NodeId(node_id.Identifier, Int16(uris.index(uri)), node_id.NodeIdType)
            self._nodes[point.id] = node_id

    def _node_ids(self, points: Sequence[Point]) -> list[ua.NodeId]:
        unique: dict[ua.NodeId, None] = {}
        for point in points:
            node_id = self._nodes.get(point.id)
            if node_id is not None:
                unique[node_id] = None
        return list(unique)

    async def _subscribe(self, client: Client) -> None:
        period = min((point.poll_s for point in self.points), default=self.connection.poll_s) * 1000.0
        params = ua.CreateSubscriptionParameters()
        params.RequestedPublishingInterval = period
        params.RequestedMaxKeepAliveCount = max(3, math.ceil(_KEEPALIVE_MS / period))
        params.RequestedLifetimeCount = 3 * params.RequestedMaxKeepAliveCount
        params.MaxNotificationsPerPublish = 0  # no limit
        params.PublishingEnabled = True
        params.Priority = 0
        node_ids = self._node_ids(self.points)
        try:
            subscription = await client.create_subscription(params, _Handler(self))
        except UaStatusCodeError as err:
            _log.warning("%s: the server refuses subscriptions (%s); polling instead", self.connection.name, err)
            self.subscribes = False
            return
        self._subscription = subscription
        if not node_ids:
            return
        try:
            results = await subscription.subscribe_data_change(
                [client.get_node(node_id) for node_id in node_ids], sampling_interval=Double(period)
            )
        except UaStatusCodeError as err:
            _log.warning("%s: the server refuses monitored items (%s); polling instead", self.connection.name, err)
            self.subscribes, self._subscription = False, None
            await subscription.delete()
            return
        for node_id, result in zip(node_ids, results, strict=True):
            if isinstance(result, ua.StatusCode):
                self._node_errors[node_id] = "bad_status"

    # -------------------------------------------------------------------------------------------- read
    def _check_alive(self) -> Client:
        if self._dead is not None:
            raise self._dead
        client = self._client
        if client is None:
            raise self._error("disconnected", "not connected")
        if client.state is not UaClientState.CONNECTED:
            raise self._error("disconnected", f"session state {client.state.value}")
        return client

    async def read(self, points: Sequence[Point], ts: float) -> list[RawReading]:
        """The values of ``points`` at slot ``ts``: cached (subscribe mode) or read now (poll mode)."""
        client = self._check_alive()
        if self.subscribes:
            cache = self._cache
            return [
                self._reading(point, ts, cache.get(node_id) if node_id else None)
                for point, node_id in self._pairs(points)
            ]
        node_ids = self._node_ids(points)
        values: dict[ua.NodeId, _Latest] = {}
        try:
            async with asyncio.timeout(self.connection.timeout_s):
                for start in range(0, len(node_ids), MAX_NODES_PER_READ):
                    chunk = node_ids[start : start + MAX_NODES_PER_READ]
                    self.requests += 1
                    results = await client.read_attributes([client.get_node(node_id) for node_id in chunk])
                    if len(results) != len(chunk):
                        raise self._error("bad_response", f"{len(results)} results for {len(chunk)} nodes")
                    for node_id, data_value in zip(chunk, results, strict=True):
                        variant = data_value.Value
                        values[node_id] = _Latest(variant.Value if variant is not None else None, data_value.StatusCode)
        except DriverError:
            raise
        except Exception as err:
            raise self._wrap(err) from err
        return [
            self._reading(point, ts, values.get(node_id) if node_id else None) for point, node_id in self._pairs(points)
        ]

    def _pairs(self, points: Sequence[Point]) -> list[tuple[Point, ua.NodeId | None]]:
        return [(point, self._nodes.get(point.id)) for point in points]

    def _reading(self, point: Point, ts: float, latest: _Latest | None) -> RawReading:
        node_id = self._nodes.get(point.id)
        if node_id is None:
            return RawReading(point, ts, None, "bad_node")
        if node_id in self._node_errors:
            return RawReading(point, ts, None, self._node_errors[node_id])
        if latest is None:
            return RawReading(point, ts, None, "no_data")
        if latest.status is not None and latest.status.is_bad():
            return RawReading(point, ts, None, "bad_status")
        if latest.value is None:
            return RawReading(point, ts, None, "no_data")
        try:
            return RawReading(point, ts, engineering(point, numeric(latest.value)))
        except DecodeError as err:
            return RawReading(point, ts, None, err.reason)

    # -------------------------------------------------------------------------------------------- close
    async def close(self) -> None:
        """Close the session; never raises."""
        client, self._client, self._subscription = self._client, None, None
        if client is None:
            return
        try:
            async with asyncio.timeout(self.connection.timeout_s):
                await client.disconnect()
        except Exception as err:  # the session may already be gone; drop the socket whatever happens
            _log.debug("%s: disconnect failed: %r", self.connection.name, err)
        client.disconnect_socket()

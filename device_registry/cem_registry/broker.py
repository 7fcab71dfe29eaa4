"""The broker's rules: topic layout, who may publish and subscribe where, and the Mosquitto files.

Topics (all under ``cem/v1``; ``{device}`` is the device id, which is also the CN of its certificate):

============================  ==========================  ==========================================
topic                         published by                read by
============================  ==========================  ==========================================
cem/v1/{device}/telemetry     the device, only its own    the ingest service
cem/v1/{device}/status        the device, only its own    the ingest service (heartbeat, last will)
cem/v1/{device}/cmd           the ingest service          the device, only its own
============================  ==========================  ==========================================

Nothing else is allowed to anyone; anonymous clients are refused. One function, :func:`is_allowed`,
states the rules for the EMQX HTTP authorisation hook; :func:`mosquitto_acl` writes the same rules as a
Mosquitto ACL file, plus an explicit deny for every device that is suspended, revoked or retired, so a
device that is still connected is denied from the next message on once the broker reloads.

Identities. Every client's identity is the CN of its certificate, and the broker makes that CN the client's
MQTT client id too (Mosquitto ``use_username_as_clientid``, EMQX ``peer_cert_as_clientid = cn``): whatever
client id a device sends, it gets its own, so it can never take over another client's session (a device that
connected as ``cem-ingest-1`` used to kick the ingest off every second). Because the client id is the CN, every
ingest process needs a certificate of its own: the ingest identities are ``<ingest_identity>`` and
``<ingest_identity>-1`` .. ``-<ingest_processes>`` (:attr:`BrokerSettings.ingest_identities`).

Subscriptions: what each broker can refuse.

* EMQX authorises every SUBSCRIBE when it arrives (the HTTP hook, or the file rules in ``deploy/emqx/acl.conf``):
  a device may subscribe to its own ``cmd`` topic and nothing else. :func:`is_allowed` also refuses every
  ``$share/...`` filter from a device, in case the topic reaches the hook with its prefix.
* Mosquitto 2.0 cannot refuse a subscription by its ACL file: the file is consulted for SUBSCRIBE only to say
  yes (``security_default.c``: "implement ACL subscription strings"), and reads are checked when a message is
  delivered. A plain subscription to other devices' topics therefore gets nothing. A device that joins the
  ingest's shared group (``$share/<group>/cem/v1/+/telemetry``) is granted, is given its turn of the group's
  messages, and Mosquitto drops them at the read check: those messages are delayed, not lost, because the
  gateway keeps every reading until ingest confirms it is stored (on the device's ``cmd`` topic) and sends
  again what stays unconfirmed. Keeping the group name (``CEM_INGEST_GROUP``) out of devices' reach makes
  joining it a guess: a device in any other group only receives its own copies, which are dropped.
  The dynamic security plugin of Mosquitto 2.0 does check subscriptions (``$share`` ones included) when they
  arrive, but it has no per-client patterns (every device would need its own client and role), it keeps its
  own JSON state that it loads at start and changes only through ``$CONTROL`` messages from an administrator
  client, and for a client it does not know it defers to the ACL file, which says yes to every SUBSCRIBE. It
  would be a second, live copy of the fleet to keep in step with the registry (a missed update locks out a new
  device or lets a refused one subscribe again), so it is not used.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import tempfile
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from cem_platform.settings import BrokerSettings

__all__ = [
    "DEVICE_ID_PATTERN",
    "TOPIC_ROOT",
    "BrokerFiles",
    "device_topics",
    "is_allowed",
    "mosquitto_acl",
    "mosquitto_conf",
    "write_atomic",
]

log = logging.getLogger(__name__)

TOPIC_ROOT = "cem/v1"
DEVICE_ID_PATTERN = re.compile(r"^dev-[a-z0-9]{12}$")
MAX_PACKET_BYTES = 2 * 1024 * 1024  # the largest MQTT packet the broker takes (EMQX: mqtt.max_packet_size)
DEVICE_CHANNELS = ("telemetry", "status")  # written by the device
COMMAND_CHANNEL = "cmd"  # read by the device
_SHARED = re.compile(r"^\$share/[^/#+]+/")  # MQTT 5 shared subscription prefix


def device_topics(device_id: str) -> dict[str, str]:
    """The three topics of one device."""
    return {name: f"{TOPIC_ROOT}/{device_id}/{name}" for name in (*DEVICE_CHANNELS, COMMAND_CHANNEL)}


def is_allowed(
    identity: str, action: str, topic: str, *, ingest_identities: Collection[str], device_admitted: bool
) -> bool:
    """May the client whose certificate CN is ``identity`` do ``action`` (publish/subscribe) on ``topic``?

    ``ingest_identities`` are the ingest processes' CNs (:attr:`BrokerSettings.ingest_identities`);
    ``device_admitted`` is whether the registry currently admits that device (enrolled or active).
    ``topic`` may be a subscription filter; the ingest may give it a ``$share/<group>/`` prefix, a device may not
    (it could only want one to join the ingest's group and take its turn of other devices' messages).
    """
    is_ingest = identity in ingest_identities
    shared = _SHARED.match(topic)
    if shared:
        if not is_ingest:
            return False
        topic = topic[shared.end() :]
    parts = topic.split("/")
    if len(parts) != 4 or "/".join(parts[:2]) != TOPIC_ROOT or "#" in topic:
        return False
    _, _, who, channel = parts
    if is_ingest:
        if action == "subscribe":
            return channel in DEVICE_CHANNELS and (who == "+" or bool(DEVICE_ID_PATTERN.match(who)))
        return action == "publish" and channel == COMMAND_CHANNEL and bool(DEVICE_ID_PATTERN.match(who))
    if not device_admitted or not DEVICE_ID_PATTERN.match(identity) or who != identity:
        return False
    if action == "publish":
        return channel in DEVICE_CHANNELS
    return action == "subscribe" and channel == COMMAND_CHANNEL


def mosquitto_acl(*, ingest_identities: Iterable[str], denied_devices: Iterable[str]) -> str:
    """A Mosquitto 2 ACL file implementing :func:`is_allowed` (identities come from certificate CNs)."""
    lines = [
        "# Generated by the CEM device registry; rewritten on every suspension, revocation and retirement.",
        "# Each device may write only its own telemetry and status and read only its own commands.",
        "# Each ingest process has its own certificate (its CN is its client id), and each gets the ingest's rules.",
        "",
    ]
    for device_id in sorted(set(denied_devices)):
        if not DEVICE_ID_PATTERN.match(device_id):
            continue
        lines += [f"user {device_id}", f"topic deny {TOPIC_ROOT}/#", ""]
    for identity in dict.fromkeys(ingest_identities):
        lines += [
            f"user {identity}",
            *(f"topic read {TOPIC_ROOT}/+/{channel}" for channel in DEVICE_CHANNELS),
            f"topic write {TOPIC_ROOT}/+/{COMMAND_CHANNEL}",
            "",
        ]
    lines += [
        *(f"pattern write {TOPIC_ROOT}/%u/{channel}" for channel in DEVICE_CHANNELS),
        f"pattern read {TOPIC_ROOT}/%u/{COMMAND_CHANNEL}",
        "",
    ]
    return "\n".join(lines)


def mosquitto_conf(directory: Path, *, bind: str, port: int, pid_file: str = "") -> str:
    """A Mosquitto 2 configuration: one mTLS listener, identity from the certificate, CRL, ACL, no anonymous."""
    d = directory.resolve()
    lines = [
        "# Generated by `cem broker mosquitto-config`. Mosquitto 2.0 or newer.",
        "per_listener_settings false",
        "allow_anonymous false",
        f"acl_file {d / 'acl'}",
        # Sessions and queued QoS 1 messages survive a broker restart: a gateway deletes readings once the
        # broker acknowledged them, so the broker must not lose what it still owes the ingest session.
        "persistence true",
        f"persistence_location {d / 'data'}/",
        "autosave_interval 10",
        "persistent_client_expiration 7d",
        "max_queued_messages 100000",
        # Bounds a device cannot pass: a message of at most 2 MiB (a gateway's batch of 10,000 readings fits), and
        # at most 256 MiB queued for one client, so that no device can fill the broker's memory or the ingest's.
        f"max_packet_size {MAX_PACKET_BYTES}",
        "max_queued_bytes 268435456",
        "set_tcp_nodelay true",  # PUBACKs go out at once instead of behind a delayed TCP acknowledgement
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
    ]
    if pid_file:
        lines.append(f"pid_file {pid_file}")
    lines += [
        "",
        f"listener {port} {bind}",
        "protocol mqtt",
        f"cafile {d / 'ca.pem'}",
        f"certfile {d / 'server.crt'}",
        f"keyfile {d / 'server.key'}",
        f"crlfile {d / 'crl.pem'}",
        "tls_version tlsv1.2",
        "require_certificate true",
        "use_identity_as_username true",
        # ...and the username (the CN) is the client id too, whatever the client sent: no device can present the
        # ingest's client id and kick it off, nor take over another device's session.
        "use_username_as_clientid true",
        "",
    ]
    return "\n".join(lines)


def write_atomic(path: Path, text: str | bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` in one step (write a temporary file beside it, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    """What publishing the broker's files achieved."""

    directory: str
    reloaded: bool
    detail: str


class BrokerFiles:
    """Writes the CRL and ACL where the broker reads them, then asks it to reload (SIGHUP via its pid file)."""

    def __init__(self, settings: BrokerSettings) -> None:
        self.settings = settings
        self.directory = Path(settings.config_dir)

    def publish(self, *, crl_pem: str, denied_devices: Iterable[str]) -> PublishOutcome:
        """Rewrite ``crl.pem`` and ``acl``; signal the broker. A reload failure is reported, never raised."""
        write_atomic(self.directory / "crl.pem", crl_pem)
        write_atomic(
            self.directory / "acl",
            mosquitto_acl(ingest_identities=self.settings.ingest_identities, denied_devices=denied_devices),
        )
        return self.reload()

    def reload(self) -> PublishOutcome:
        """Send SIGHUP to the broker named by the pid file, when one is configured."""
        if not self.settings.pid_file:
            return PublishOutcome(str(self.directory), False, "no CEM_BROKER_PID_FILE: the broker was not signalled")
        try:
            pid = int(Path(self.settings.pid_file).read_text().strip())
            os.kill(pid, signal.SIGHUP)
        except (OSError, ValueError) as err:
            log.warning("broker reload failed", extra={"pid_file": self.settings.pid_file, "error": str(err)})
            return PublishOutcome(str(self.directory), False, f"broker reload failed: {err}")
        return PublishOutcome(str(self.directory), True, f"sent SIGHUP to broker pid {pid}")

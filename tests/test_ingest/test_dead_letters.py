"""Dead letters: scoped to the enterprise of the topic's device, capped in storage and in responses (issue 17)."""

from __future__ import annotations

import hashlib
import time

from cem_platform.audit.models import AuditRecord
from cem_platform.settings import Settings
from cem_platform.telemetry.ingest import MAX_DEAD_LETTER_BYTES, IngestService, Message
from cem_platform.telemetry.ingest_routes import DETAIL_PREFIX_BYTES, LIST_PREFIX_BYTES
from cem_platform.telemetry.models import DeadLetter
from tests.test_ingest.helpers import device, now_slot, payload, points, readings
from tests.test_platform.world import World


def _message(topic: str, body: bytes) -> Message:
    return Message(topic, body, int(time.time() * 1000))


async def test_undecodable_messages_of_an_enterprises_gateway_are_its_own(world: World, settings: Settings) -> None:
    gateway = await device(world.a)
    other = await device(world.b)
    service = IngestService(settings)
    await service.handle(
        [
            _message(f"cem/v1/{gateway.id}/telemetry", b"{not json"),  # does not decode: no device in the payload
            _message(f"cem/v1/{gateway.id}/telemetry", payload(other.id, [])),  # names another enterprise's device
            _message("cem/v1/dev-nobody/telemetry", b"{nor this"),  # no such device: group level only
        ]
    )
    assert await DeadLetter.all().count() == 3
    device_admin = await world.login("a-device-admin")
    page = (await world.client.get("/api/v1/ingest/dead-letters", headers=device_admin)).json()
    assert page["total"] == 2
    assert {item["reason"] for item in page["items"]} == {"schema", "identity_mismatch"}
    assert {item["enterprise_id"] for item in page["items"]} == {world.a.enterprise.id}
    group = (await world.client.get("/api/v1/ingest/dead-letters", headers=await world.login("group-admin"))).json()
    assert group["total"] == 3
    other_admin = await world.login("b-admin")
    assert (await world.client.get("/api/v1/ingest/dead-letters", headers=other_admin)).json()["total"] == 0


async def test_a_huge_body_is_capped_in_storage_and_responses_and_downloaded_on_purpose(
    world: World, settings: Settings
) -> None:
    gateway = await device(world.a)
    await points(world.a, 1)
    body = payload(gateway.id, readings(["M0000"], now_slot(), 1))[:-1] + b" " * (3 * 1024 * 1024) + b"x"
    service = IngestService(settings)
    await service.handle([_message(f"cem/v1/{gateway.id}/telemetry", body)])
    stored = await DeadLetter.get()
    assert stored.size == len(body) and len(bytes(stored.payload)) == MAX_DEAD_LETTER_BYTES
    assert stored.payload_sha256 == hashlib.sha256(body).hexdigest()  # the digest is of what was received

    headers = await world.login("a-device-admin")
    listed = await world.client.get("/api/v1/ingest/dead-letters", headers=headers)
    assert listed.status_code == 200 and len(listed.content) < 4096
    item = listed.json()["items"][0]
    assert item["size"] == len(body) and item["stored_size"] == MAX_DEAD_LETTER_BYTES and item["payload_truncated"]
    assert item["payload_sha256"] == stored.payload_sha256
    assert item["payload_prefix"] == body[:LIST_PREFIX_BYTES].decode()

    detail = await world.client.get(f"/api/v1/ingest/dead-letters/{item['id']}", headers=headers)
    assert detail.status_code == 200 and len(detail.content) < 4 * DETAIL_PREFIX_BYTES
    assert detail.json()["payload_prefix"] == body[:DETAIL_PREFIX_BYTES].decode()
    assert not await AuditRecord.filter(action="ingest.dead_letter.download").exists()  # looking is not downloading

    download = await world.client.get(detail.json()["payload_url"], headers=headers)
    assert download.status_code == 200 and download.headers["content-type"] == "application/octet-stream"
    assert download.content == body[:MAX_DEAD_LETTER_BYTES]
    audit = await AuditRecord.get(action="ingest.dead_letter.download")
    assert audit.actor == "a-device-admin" and audit.entity_id == str(item["id"])
    assert audit.enterprise_id == world.a.enterprise.id

    # the same authorisation as the list: another enterprise does not see it, the crew may not read dead letters
    other = await world.client.get(detail.json()["payload_url"], headers=await world.login("b-admin"))
    assert other.status_code == 404
    crew = await world.client.get(detail.json()["payload_url"], headers=await world.login("a-crew"))
    assert crew.status_code == 403
    assert await AuditRecord.filter(action="ingest.dead_letter.download").count() == 1


async def test_a_dead_letter_id_or_filter_outside_its_column_is_a_clear_400(world: World) -> None:
    headers = await world.login("group-admin")
    for url in (
        f"/api/v1/ingest/dead-letters/{2**63}",
        f"/api/v1/ingest/dead-letters/{2**64}/payload",
        "/api/v1/ingest/dead-letters?reason=" + "x" * 65,
        "/api/v1/ingest/dead-letters?device_id=" + "d" * 65,
    ):
        response = await world.client.get(url, headers=headers)
        assert response.status_code == 400, (url, response.text)
        assert response.json()["error"]["code"] == "invalid_input"

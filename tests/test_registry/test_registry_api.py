"""Device registry over the API: registration, enrolment with one-time tokens, renewal, control operations."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cem_platform.audit.models import AuditRecord
from cem_platform.identity.models import LoginSession, User
from cem_registry import pki
from cem_registry.models import Device, DeviceCertificate, EnrolmentToken
from cem_registry.services import renewal_message
from tests.test_platform.world import World
from tests.test_registry.fleet import enrol, enrolled_terminal, issue_token, next_serial, register

DEVICES = "/api/v1/registry/devices"


async def test_registering_a_serial_twice_returns_the_same_device(world: World) -> None:
    headers = await world.login("a-device-admin")
    serial = next_serial()
    first = await world.client.post(DEVICES, headers=headers, json={"serial": serial, "site_id": world.a.site.id})
    again = await world.client.post(DEVICES, headers=headers, json={"serial": serial, "site_id": world.a.site.id})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["enterprise_id"] == world.a.enterprise.id  # derived from the site
    assert await Device.filter(serial=serial).count() == 1
    group = await world.login("group-admin")
    elsewhere = await world.client.post(
        DEVICES, headers=group, json={"serial": serial, "enterprise_id": world.b.enterprise.id}
    )
    assert elsewhere.status_code == 409
    assert first.json()["id"] in elsewhere.json()["error"]["message"]


async def test_placement_must_be_consistent_and_in_scope(world: World) -> None:
    headers = await world.login("a-device-admin")
    wrong = await world.client.post(
        DEVICES, headers=headers, json={"serial": next_serial(), "process_id": world.a.process.id, "site_id": 999}
    )
    assert wrong.status_code == 400
    other = await world.client.post(
        DEVICES, headers=headers, json={"serial": next_serial(), "facility_id": world.b.facility.id}
    )
    assert other.status_code == 404  # enterprise B is outside a-device-admin's scope
    ok = await world.client.post(
        DEVICES, headers=headers, json={"serial": next_serial(), "facility_id": world.a.facility.id}
    )
    assert ok.status_code == 201
    assert (ok.json()["process_id"], ok.json()["site_id"]) == (world.a.process.id, world.a.site.id)


async def test_enrolment_issues_a_certificate_whose_cn_is_the_device_id(world: World) -> None:
    headers = await world.login("a-device-admin")
    terminal = await enrolled_terminal(world, headers)
    cert = x509.load_pem_x509_certificate(terminal.answer["certificate"].encode())
    assert pki.common_name(cert.subject) == terminal.device_id
    issuing = x509.load_pem_x509_certificate(terminal.answer["chain"].encode())
    assert pki.verify_issued_by(cert, issuing)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert terminal.answer["topics"]["telemetry"] == f"cem/v1/{terminal.device_id}/telemetry"
    assert terminal.answer["broker_url"].startswith("mqtts://")
    detail = (await world.client.get(f"{DEVICES}/{terminal.device_id}", headers=headers)).json()
    assert detail["state"] == "enrolled"
    assert [c["serial"] for c in detail["certificates"]] == [pki.serial_hex(cert)]
    assert detail["health"]["certificate_days_left"] in (19, 20)
    # the token is stored hashed only
    row = await EnrolmentToken.get(device_id=terminal.device_id)
    assert "cem_enr_" not in row.token_hash and row.used_at is not None


async def test_token_reuse_expiry_and_foreign_subjects_are_refused_and_audited(world: World) -> None:
    headers = await world.login("a-device-admin")
    device = await register(world, headers)
    token = await issue_token(world, headers, device["id"])

    _, wrong_cn = await enrol(world, token, device["id"], cn="dev-aaaaaaaaaaaa")
    assert wrong_cn.status_code == 400
    assert "CN=" + device["id"] in wrong_cn.json()["error"]["hint"]

    _, ok = await enrol(world, token, device["id"])
    assert ok.status_code == 200, ok.text
    _, reused = await enrol(world, token, device["id"])
    assert reused.status_code == 401
    assert "already used" in reused.json()["error"]["message"]

    expired = await issue_token(world, headers | {"X-CEM-TOTP": _code(world, 1)}, device["id"])
    await EnrolmentToken.filter(device_id=device["id"], used_at__isnull=True).update(
        expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    )
    _, late = await enrol(world, expired, device["id"])
    assert late.status_code == 401
    assert "expired" in late.json()["error"]["message"]

    _, unknown = await enrol(world, f"cem_enr_{device['id']}.not-a-real-secret", device["id"])
    assert unknown.status_code == 401

    denied = await AuditRecord.filter(action="registry.enrol", outcome="denied").values_list("summary", flat=True)
    assert len(denied) == 4
    assert any("subject" in s for s in denied) and any("already used" in s for s in denied)
    assert await DeviceCertificate.filter(device_id=device["id"]).count() == 1


def _code(world: World, steps_ahead: int) -> str:
    from tests.test_platform.world import totp_code

    return totp_code(world.secrets["a-device-admin"], steps_ahead)


async def test_weak_keys_and_bad_signatures_are_refused(world: World) -> None:
    headers = await world.login("a-device-admin")
    device = await register(world, headers)
    token = await issue_token(world, headers, device["id"])
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - refused on purpose
    csr = pki.pem(pki.make_csr(weak, device["id"]))
    response = await world.client.post("/api/v1/registry/enrol", json={"token": token, "csr": csr})
    assert response.status_code == 400
    assert "1024 bits" in response.json()["error"]["message"]
    p521 = ec.generate_private_key(ec.SECP521R1())
    csr = pki.pem(pki.make_csr(p521, device["id"]))
    response = await world.client.post("/api/v1/registry/enrol", json={"token": token, "csr": csr})
    assert response.status_code == 400
    assert "secp521r1" in response.json()["error"]["message"]
    garbage = await world.client.post("/api/v1/registry/enrol", json={"token": token, "csr": "hello"})
    assert garbage.status_code == 400
    _, good = await enrol(world, token, device["id"])  # the token survived the refused attempts
    assert good.status_code == 200


async def test_new_token_for_an_enrolled_device_needs_step_up_and_replaces_its_certificate(world: World) -> None:
    headers = await world.login("a-device-admin")
    terminal = await enrolled_terminal(world, headers)
    user = await User.get(username="a-device-admin")
    await LoginSession.filter(user_id=user.id).update(step_up_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    refused = await world.client.post(f"{DEVICES}/{terminal.device_id}/enrolment-tokens", headers=headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "step_up_required"
    token = await issue_token(world, headers | {"X-CEM-TOTP": _code(world, 1)}, terminal.device_id)
    _, again = await enrol(world, token, terminal.device_id)
    assert again.status_code == 200
    states = await DeviceCertificate.filter(device_id=terminal.device_id).order_by("id").values_list("state", flat=True)
    assert [str(s) for s in states] == ["superseded", "valid"]
    crl = x509.load_der_x509_crl((await world.client.get("/api/v1/registry/crl")).content)
    old = x509.load_pem_x509_certificate(terminal.answer["certificate"].encode())
    assert crl.get_revoked_certificate_by_serial_number(old.serial_number) is not None


async def test_suspend_resume_revoke_update_the_crl_and_need_step_up(world: World) -> None:
    headers = await world.login("a-device-admin")
    terminal = await enrolled_terminal(world, headers)
    serial = x509.load_pem_x509_certificate(terminal.answer["certificate"].encode()).serial_number
    base = f"{DEVICES}/{terminal.device_id}"

    def revoked_entry() -> x509.RevokedCertificate | None:
        return crl.get_revoked_certificate_by_serial_number(serial)

    suspended = await world.client.post(f"{base}/suspend", headers=headers, json={"reason": "meter cabinet opened"})
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["device"]["state"] == "suspended"
    crl = x509.load_der_x509_crl((await world.client.get("/api/v1/registry/crl")).content)
    entry = revoked_entry()
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.certificate_hold
    acl = (Path(world.settings.broker.config_dir) / "acl").read_text()
    assert f"user {terminal.device_id}\ntopic deny cem/v1/#" in acl

    resumed = await world.client.post(f"{base}/resume", headers=headers, json={"reason": "inspected"})
    assert resumed.json()["device"]["state"] == "enrolled"
    crl = x509.load_der_x509_crl((await world.client.get("/api/v1/registry/crl")).content)
    assert revoked_entry() is None

    user = await User.get(username="a-device-admin")
    await LoginSession.filter(user_id=user.id).update(step_up_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    body = {"reason": "stolen from site", "revocation_reason": "key_compromise"}
    stale = await world.client.post(f"{base}/revoke", headers=headers, json=body)
    assert stale.status_code == 403
    revoked = await world.client.post(f"{base}/revoke", headers=headers | {"X-CEM-TOTP": _code(world, 1)}, json=body)
    assert revoked.status_code == 200
    crl_pem = (await world.client.get("/api/v1/registry/crl?format=pem")).text
    crl = x509.load_pem_x509_crl(crl_pem.encode())
    entry = revoked_entry()
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    issuing = x509.load_pem_x509_certificate(terminal.answer["chain"].encode())
    assert crl.is_signature_valid(issuing.public_key())  # type: ignore[arg-type]
    actions = await AuditRecord.filter(entity_id=terminal.device_id).values_list("action", flat=True)
    assert {"registry.device.suspend", "registry.device.resume", "registry.device.revoke"} <= set(actions)
    # a revoked device's old token-less path: renewal is refused
    assert (await Device.get(id=terminal.device_id)).state.value == "revoked"


async def test_renewal_needs_the_current_key_and_rotates_it(world: World) -> None:
    headers = await world.login("a-device-admin")
    terminal = await enrolled_terminal(world, headers)
    new_key = pki.new_key()
    csr = pki.pem(pki.make_csr(new_key, terminal.device_id))
    signed_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    message = renewal_message(terminal.device_id, signed_at, csr)

    def body(signer: ec.EllipticCurvePrivateKey) -> dict[str, str]:
        signature = signer.sign(message, ec.ECDSA(hashes.SHA256()))
        return {
            "certificate": terminal.answer["certificate"],
            "csr": csr,
            "signed_at": signed_at,
            "signature": base64.b64encode(signature).decode(),
        }

    forged = await world.client.post("/api/v1/registry/renew", json=body(pki.new_key()))
    assert forged.status_code == 401
    assert "does not verify" in forged.json()["error"]["message"]
    renewed = await world.client.post("/api/v1/registry/renew", json=body(terminal.key))
    assert renewed.status_code == 200, renewed.text
    new_cert = x509.load_pem_x509_certificate(renewed.json()["certificate"].encode())
    assert new_cert.public_key() == new_key.public_key()
    replay = await world.client.post("/api/v1/registry/renew", json=body(terminal.key))
    assert replay.status_code == 401  # the old certificate is superseded now
    detail = (await world.client.get(f"{DEVICES}/{terminal.device_id}", headers=headers)).json()
    assert [(c["issued_via"], c["state"]) for c in detail["certificates"]] == [
        ("renewal", "valid"),
        ("enrolment", "superseded"),
    ]


async def test_list_filters_and_scope(world: World) -> None:
    headers = await world.login("a-device-admin")
    first = await register(world, headers, name="烧结网关")
    await register(world, headers, process_id=world.a.process.id)
    group = await world.login("group-admin")
    theirs = await world.client.post(
        DEVICES, headers=group, json={"serial": next_serial(), "enterprise_id": world.b.enterprise.id}
    )
    mine = (await world.client.get(DEVICES, headers=headers)).json()
    assert len(mine) == 2
    assert {d["enterprise_id"] for d in mine} == {world.a.enterprise.id}
    by_process = (await world.client.get(DEVICES, headers=headers, params={"process_id": world.a.process.id})).json()
    assert len(by_process) == 1
    by_name = (await world.client.get(DEVICES, headers=headers, params={"q": "烧结"})).json()
    assert [d["id"] for d in by_name] == [first["id"]]
    registered = (await world.client.get(DEVICES, headers=headers, params={"state": "registered"})).json()
    assert len(registered) == 2
    everything = (await world.client.get(DEVICES, headers=group)).json()
    assert len(everything) == 3
    crew = await world.login("a-crew")
    assert len((await world.client.get(DEVICES, headers=crew)).json()) == 2
    accountant = await world.login("a-accountant")
    assert (await world.client.get(DEVICES, headers=accountant)).status_code == 403
    hidden = await world.client.get(f"{DEVICES}/{theirs.json()['id']}", headers=headers)
    assert hidden.status_code == 404


async def test_broker_authorisation_hook(world: World) -> None:
    headers = await world.login("a-device-admin")
    terminal = await enrolled_terminal(world, headers)
    key = {"X-CEM-Broker-Key": world.settings.broker.authz_key}

    async def ask(username: str, action: str, topic: str, headers: dict[str, str] = key) -> str:
        body = {"username": username, "action": action, "topic": topic, "clientid": username}
        response = await world.client.post("/api/v1/broker/authorize", headers=headers, json=body)
        assert response.status_code == 200, response.text
        result: str = response.json()["result"]
        return result

    me = terminal.device_id
    assert await ask(me, "publish", f"cem/v1/{me}/telemetry") == "allow"
    assert await ask(me, "subscribe", f"cem/v1/{me}/cmd") == "allow"
    assert await ask(me, "publish", "cem/v1/dev-aaaaaaaaaaaa/telemetry") == "deny"
    assert await ask(me, "subscribe", "cem/v1/+/telemetry") == "deny"
    assert await ask("cem-ingest", "subscribe", "$share/ingest/cem/v1/+/telemetry") == "allow"
    assert await ask("cem-ingest", "publish", f"cem/v1/{me}/telemetry") == "deny"
    wrong = await world.client.post(
        "/api/v1/broker/authorize",
        headers={"X-CEM-Broker-Key": "guess"},
        json={"username": me, "action": "publish", "topic": f"cem/v1/{me}/telemetry"},
    )
    assert wrong.status_code == 403
    suspended = await world.client.post(f"{DEVICES}/{me}/suspend", headers=headers, json={"reason": "test hold"})
    assert suspended.status_code == 200
    assert await ask(me, "publish", f"cem/v1/{me}/telemetry") == "deny"


async def test_qr_payload_carries_server_and_token_for_the_crew(world: World) -> None:
    from cem_gateway.identity import parse_enrolment_code

    headers = await world.login("a-device-admin")
    device = await register(world, headers)
    response = await world.client.post(f"{DEVICES}/{device['id']}/enrolment-tokens", headers=headers)
    issued = response.json()
    assert issued["qr_svg"].lstrip().startswith("<?xml") or "<svg" in issued["qr_svg"]
    server, token, device_id = parse_enrolment_code(issued["qr_payload"], None)
    assert (server, token, device_id) == ("http://cem.test", issued["token"], device["id"])
    assert f"--token {issued['token']}" in issued["command"]
    audit = await AuditRecord.filter(action="registry.token.issue", entity_id=device["id"]).first()
    assert audit is not None
    assert issued["token"] not in str(audit.after)  # the token is shown once and never logged

"""Enrolling or replacing a terminal (device administrators), the way the registry does it:

1. **Register** the terminal by its hardware serial (``POST /registry/devices``), placed at a site (or in an
   enterprise). The same serial again gives back the device that has it, never a second one.
2. **Issue a one-time enrolment token** (``POST /registry/devices/{id}/enrolment-tokens``): shown once, as text,
   as a QR code (its ``qr_payload``, which ``cem gateway enroll --token`` also takes) and as the command to run
   on the terminal. Older unused tokens of the device stop working.

**Replacing** a terminal's identity (a reflashed or swapped gateway keeping its device id) is a new token for
an existing device. When that device still holds a valid certificate, the token replaces a working identity:
the platform asks for a TOTP step-up, shown here as ``step == NEEDS_TOTP`` — enter the authenticator code and
issue again. A login with TOTP counts as a step-up for a few minutes.

**Scanning**: :meth:`Enrolment.scan` takes what a scanner read (a bare serial, or a nameplate label's JSON with a
``serial``); :meth:`Enrolment.scan_image` decodes the QR code in a photo first (:mod:`cem_clients.mobile.scan`).

Nothing here goes through the outbox: a token is shown once and needs the platform there and then.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

import msgspec

from cem_clients.api import ClientError, Device, Enterprise, Offline, Site, StepUpRequired
from cem_clients.mobile.context import AppContext
from cem_clients.mobile.scan import ScanError, decode_qr
from cem_clients.mobile.validation import check_serial, check_totp, normalise_text

__all__ = ["Enrolment", "EnrolmentStep", "IssuedEnrolment", "serial_from_scan"]

NAME_MAX = 200
NO_CODE = "No QR code found in the picture: take it again, closer and in focus, or type the serial."
MODEL_MAX = 100


class EnrolmentStep(StrEnum):
    """Where the enrolment form is."""

    EDITING = "editing"  # serial, name, placement
    NEEDS_TOTP = "needs_totp"  # the device holds a valid certificate: confirm with the authenticator code
    ISSUED = "issued"  # the token is shown (once)


@dataclass(frozen=True)
class IssuedEnrolment:
    """An enrolment token to hand to the terminal: type it, scan its QR code, or run the command on it."""

    device_id: str
    serial: str
    token: str
    qr_payload: str  # the QR code's text: {"v":1,"kind":"cem-enrolment","server":...,"device_id":...,"token":...}
    qr_svg: str
    command: str  # cem gateway enroll --server ... --token ... --dir /etc/cem-gateway
    expires_at: dt.datetime
    replaced: bool  # the device had a valid certificate: enrolling with this token replaces it


def serial_from_scan(text: str) -> str:
    """The serial in what a scanner read: the text itself, or the ``serial`` of a JSON object (a label)."""
    cleaned = normalise_text(text)
    if cleaned.startswith("{"):
        try:
            data = msgspec.json.decode(cleaned)
        except msgspec.DecodeError:
            return cleaned
        if isinstance(data, dict) and isinstance(data.get("serial"), str):
            return normalise_text(data["serial"])
    return cleaned


@dataclass
class Enrolment:
    """The enrolment form and its result."""

    ctx: AppContext
    serial: str = ""
    name: str = ""
    model: str = ""
    site_id: int | None = None
    enterprise_id: int | None = None
    sites: list[Site] = field(default_factory=list)
    enterprises: list[Enterprise] = field(default_factory=list)
    existing: Device | None = None  # the registered device with this serial, once looked up
    step: EnrolmentStep = EnrolmentStep.EDITING
    errors: dict[str, str] = field(default_factory=dict)  # per field: serial, name, model, place, totp
    message: str = ""
    issued: IssuedEnrolment | None = None

    @property
    def allowed(self) -> bool:
        """Whether the user may register devices and issue tokens."""
        return self.ctx.can("devices.write")

    @property
    def replacing(self) -> bool:
        """Whether the token will replace a device's working identity (it holds a valid certificate)."""
        existing = self.existing
        return existing is not None and existing.certificate_state == "valid"

    async def prepare(self) -> bool:
        """Load the places a device can go (sites, and enterprises); one site is chosen by itself."""
        try:
            self.enterprises = await self.ctx.call(self.ctx.api.enterprises(active=True))
            self.sites = await self.ctx.call(self.ctx.api.sites(active=True))
        except ClientError as err:
            self.message = str(err)
            return False
        if self.site_id is None and self.enterprise_id is None and len(self.sites) == 1:
            self.site_id = self.sites[0].id
        self.message = ""
        return True

    def reset(self) -> None:
        """A new, empty form (places stay loaded)."""
        self.serial = self.name = self.model = self.message = ""
        self.site_id = self.enterprise_id = None
        self.existing, self.issued, self.step, self.errors = None, None, EnrolmentStep.EDITING, {}
        if len(self.sites) == 1:
            self.site_id = self.sites[0].id

    def scan(self, text: str) -> str:
        """Take the serial from a scan (or typed text); the serial."""
        self.serial = serial_from_scan(text)
        self.existing, self.issued, self.step = None, None, EnrolmentStep.EDITING
        self.errors.pop("serial", None)
        return self.serial

    def scan_image(self, data: bytes) -> str | None:
        """Take the serial from the QR code in a photo; the serial, or None (``errors["serial"]`` says why)."""
        try:
            texts = decode_qr(data)
        except ScanError as err:
            self.errors["serial"] = str(err)
            return None
        if not texts:
            self.errors["serial"] = NO_CODE
            return None
        return self.scan(texts[0])

    def replace(self, device: Device) -> None:
        """Start a replacement: a new token for this registered device."""
        self.reset()
        self.serial, self.name, self.model = device.serial, device.name, device.model
        self.site_id, self.enterprise_id, self.existing = device.site_id, device.enterprise_id, device

    def validate(self) -> dict[str, str]:
        """Check the form on the phone; {field: message}, empty when it can be sent."""
        errors: dict[str, str] = {}
        serial, problem = check_serial(self.serial)
        if serial is None:
            errors["serial"] = problem
        else:
            self.serial = serial
        if len(self.name.strip()) > NAME_MAX:
            errors["name"] = f"At most {NAME_MAX} characters."
        if len(self.model.strip()) > MODEL_MAX:
            errors["model"] = f"At most {MODEL_MAX} characters."
        if self.existing is None and self.site_id is None and self.enterprise_id is None:
            errors["place"] = "Choose the site where the terminal is installed."
        self.errors = errors
        return errors

    async def look_up(self) -> Device | None:
        """Find the registered device with this serial (None: a new terminal); sets ``existing``."""
        serial, problem = check_serial(self.serial)
        if serial is None:
            self.errors = {"serial": problem}
            return None
        try:
            found = await self.ctx.call(self.ctx.api.devices(q=serial, with_status=False))
        except ClientError as err:
            self.message = str(err)
            return None
        self.existing = next((d for d in found if d.serial == serial), None)
        self.message = ""
        return self.existing

    async def issue(self, totp: str | None = None) -> IssuedEnrolment | None:
        """Register the terminal when new, then issue its enrolment token (``totp``: when asked to confirm)."""
        if self.validate():
            self.message = "Correct the marked fields."
            return None
        code: str | None = None
        if totp is not None and totp.strip():
            code, problem = check_totp(totp)
            if code is None:
                self.errors = {"totp": problem}
                return None
        elif self.step is EnrolmentStep.NEEDS_TOTP:
            self.errors = {"totp": "Enter the 6-digit code from your authenticator app."}
            return None
        api = self.ctx.api
        try:
            device = self.existing
            if device is None:
                device = await self.ctx.call(
                    api.register_device(
                        self.serial,
                        site_id=self.site_id,
                        enterprise_id=None if self.site_id is not None else self.enterprise_id,
                        name=self.name.strip(),
                        model=self.model.strip(),
                    )
                )
                self.existing = device
            replaced = self.replacing
            token = await self.ctx.call(api.create_enrolment_token(device.id, code))
        except StepUpRequired as err:
            self.step = EnrolmentStep.NEEDS_TOTP
            self.message = (
                f"Device {self.existing.id if self.existing else ''} still holds a valid certificate: a new token "
                f"replaces its identity. Enter your authenticator code to confirm. ({err.message})"
            )
            return None
        except Offline as err:
            self.message = f"Enrolling a terminal needs a connection to the platform: {err}"
            return None
        except ClientError as err:
            self.message = str(err)
            if code is not None:
                self.errors = {"totp": str(err)} if "authenticator" in str(err).casefold() else {}
            return None
        self.issued = IssuedEnrolment(
            device_id=token.device_id,
            serial=device.serial,
            token=token.token,
            qr_payload=token.qr_payload,
            qr_svg=token.qr_svg,
            command=token.command,
            expires_at=token.expires_at,
            replaced=replaced,
        )
        self.step, self.errors = EnrolmentStep.ISSUED, {}
        until = token.expires_at.astimezone(dt.UTC)
        self.message = f"Token for {device.id} ({device.serial}), valid until {until:%Y-%m-%d %H:%M} UTC."
        return self.issued

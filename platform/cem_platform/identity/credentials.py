"""Credential primitives: argon2 password hashes, opaque tokens stored as SHA-256, TOTP with replay protection.

TOTP seeds are kept encrypted (Fernet) with a key derived from ``CEM_SECURITY_SECRET_KEY`` or, when that is
unset, a key file created once with mode 0600.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.fernet import Fernet, InvalidToken

from cem_platform.errors import ConfigurationError
from cem_platform.settings import SecuritySettings

__all__ = [
    "TotpBox",
    "hash_password",
    "hash_token",
    "needs_rehash",
    "new_token",
    "read_or_create_secret_file",
    "totp_step_if_valid",
    "verify_password",
]

_hasher = PasswordHasher()
# A hash of a random password: verifying against it costs the same as a real check, so a login for an
# unknown user takes as long as one for a known user with a wrong password.
DUMMY_PASSWORD_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises for a wrong password."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)


def new_token(kind: str) -> str:
    """A fresh opaque token; the prefix tells what it is (``cem_at_``, ``cem_rt_``, ``cem_pat_``)."""
    return f"cem_{kind}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    """What is stored for a token: its SHA-256 (tokens are long random strings, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def totp_step_if_valid(secret: str, code: str, last_step: int, *, now: float | None = None) -> int | None:
    """The time step ``code`` belongs to (one step of clock drift allowed), if it is valid and newer than
    ``last_step``; None otherwise. Callers store the returned step so the same code never works twice."""
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    moment = time.time() if now is None else now
    current = int(moment // totp.interval)
    for step in (current, current - 1, current + 1):
        if step <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


class TotpBox:
    """Encrypts and decrypts TOTP seeds at rest."""

    def __init__(self, settings: SecuritySettings) -> None:
        self._fernet = Fernet(_fernet_key(settings))

    def seal(self, secret: str) -> str:
        """Encrypt a base32 seed."""
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        """Decrypt a stored seed."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as err:
            raise ConfigurationError(
                "a stored TOTP seed cannot be decrypted: CEM_SECURITY_SECRET_KEY differs from the key it was "
                "sealed with",
                hint="Restore the original secret key, or reset the user's TOTP (cem user reset-totp).",
            ) from err


def _fernet_key(settings: SecuritySettings) -> bytes:
    material = settings.secret_key
    if not material:
        material = read_or_create_secret_file(Path(settings.secret_key_file))
    if len(material) < 32:
        raise ConfigurationError("CEM_SECURITY_SECRET_KEY must be at least 32 characters of random text")
    return base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest())


def read_or_create_secret_file(path: Path) -> str:
    """The secret kept in ``path``, created (random, mode 0600) the first time."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key

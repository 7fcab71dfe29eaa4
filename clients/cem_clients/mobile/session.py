"""Staying logged in: what the app keeps of a session across a restart, and where.

Only the session's **refresh token** is kept, with the platform's address and the user's name, never the password
nor anything of the authenticator. The platform rotates refresh tokens (each works once, see
``POST /auth/refresh``), so the kept one is replaced whenever the client refreshes, and forgotten at logout and
when the platform no longer accepts it. Keeping is opt-in (the login screen's checkbox).

A :class:`TokenStore` is where it is kept: the Flet app uses the client's storage (``SharedPreferences``: the
browser's local storage of the platform's origin in the web build, the app's private preferences on a phone),
never the server's disk, which all phones of a web build share.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

__all__ = ["KeptSession", "TokenStore", "decode_kept", "encode_kept"]


class KeptSession(msgspec.Struct, frozen=True, kw_only=True):
    """A session kept across restarts: the platform's address, the user, the current refresh token."""

    base_url: str
    username: str
    refresh_token: str

    def __repr__(self) -> str:  # never the token in a log or a traceback
        return f"KeptSession(base_url={self.base_url!r}, username={self.username!r}, refresh_token=...)"


class TokenStore(Protocol):
    """Where a :class:`KeptSession` is kept (one per app installation, or per browser)."""

    async def load(self) -> KeptSession | None:
        """The kept session, None when there is none (or it cannot be read)."""

    async def save(self, kept: KeptSession) -> None:
        """Keep ``kept`` (replacing what was kept)."""

    async def clear(self) -> None:
        """Forget the kept session."""


def encode_kept(kept: KeptSession) -> str:
    """The stored text of a kept session."""
    return msgspec.json.encode(kept).decode()


def decode_kept(text: object) -> KeptSession | None:
    """A kept session from its stored text; None when it is not one (then it is ignored)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        kept = msgspec.json.decode(text, type=KeptSession)
    except msgspec.DecodeError:
        return None
    return kept if kept.refresh_token.strip() else None

"""The entry point of the mobile app when it runs by itself: packaged for a phone (``flet build apk`` / ``ipa``,
see ``docs/mobile.md``) or on a desktop (``python -m cem_clients.mobile.app_entry``).

Where the platform is: ``CEM_PLATFORM_URL`` when set (desktop runs, a test phone), else the ``platform_url`` of
``cem_mobile.json`` beside the build's ``main.py`` (written into the build project for each plant:
``{"platform_url": "https://cem.plant.example"}``), else the app says it is not configured.

Where the outbox lives: ``FLET_APP_STORAGE_DATA`` (Flet sets it on a phone: the app's private storage, kept across
updates), else ``CEM_MOBILE_DATA``, else ``~/.cem-mobile``. The language: ``CEM_MOBILE_LOCALE`` (``zh-CN`` unless
told; English from the app's menu).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import flet as ft

from cem_clients.mobile.app import mobile_main
from cem_clients.ui.i18n import DEFAULT_LOCALE, Locale
from cem_clients.ui.theme import ASSETS_DIR, AppKind, apply_theme

__all__ = ["CONFIG_FILE", "data_dir", "main", "platform_url", "run"]

CONFIG_FILE: Final = "cem_mobile.json"


def platform_url(config_dir: Path | None = None, environ: Mapping[str, str] = os.environ) -> str | None:
    """The platform's URL: ``CEM_PLATFORM_URL``, else ``cem_mobile.json`` in ``config_dir``; None when neither
    says (or the file cannot be read)."""
    configured = environ.get("CEM_PLATFORM_URL", "").strip()
    if configured:
        return configured
    if config_dir is None:
        return None
    try:
        settings = json.loads((config_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = settings.get("platform_url") if isinstance(settings, dict) else None
    return url.strip() if isinstance(url, str) and url.strip() else None


def data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the app keeps its outbox: the phone's app storage, else ``CEM_MOBILE_DATA``, else ``~/.cem-mobile``."""
    for name in ("FLET_APP_STORAGE_DATA", "CEM_MOBILE_DATA"):
        if environ.get(name):
            return Path(environ[name]) / "cem-mobile"
    return Path.home() / ".cem-mobile"


async def main(page: ft.Page, config_dir: Path | None = None) -> None:
    """The Flet ``main`` of the packaged app (``config_dir``: where ``cem_mobile.json`` is; the working directory,
    which is the build's app folder on a phone, unless told)."""
    url = platform_url(config_dir or Path.cwd())
    locale = os.environ.get("CEM_MOBILE_LOCALE", DEFAULT_LOCALE.value)
    if locale not in {item.value for item in Locale}:
        locale = DEFAULT_LOCALE.value
    if url is None:
        apply_theme(page, AppKind.MOBILE)
        page.add(
            ft.Container(
                ft.Text(
                    "未配置平台地址：请在 cem_mobile.json 中填写 platform_url，或设置 CEM_PLATFORM_URL。\n"
                    "No platform address: set platform_url in cem_mobile.json, or CEM_PLATFORM_URL.",
                    size=16,
                ),
                padding=24,
            )
        )
        return
    await mobile_main(url, data_dir=data_dir(), locale=locale)(page)


def run() -> None:
    """Run the app in a desktop window (a test phone's stand-in)."""
    ft.run(main, assets_dir=str(ASSETS_DIR))


if __name__ == "__main__":  # pragma: no cover - started by hand
    run()

"""The committed migrations describe the models exactly: a model change without its migration fails here."""

from __future__ import annotations

from litestar import Litestar
from tortoise import Tortoise
from tortoise.migrations.autodetector import MigrationAutodetector

from cem_platform.db import tortoise_config
from cem_platform.settings import Settings


async def test_models_and_migrations_agree(app: Litestar, settings: Settings) -> None:
    apps = tortoise_config(settings.database)["apps"]
    writers = await MigrationAutodetector(Tortoise.apps, apps).changes()
    pending = [w.name if hasattr(w, "name") else str(w) for w in writers]
    assert pending == [], (
        f"models changed without a migration: generate one as the README (Development) says ({pending})"
    )

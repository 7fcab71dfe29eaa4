"""The committed migrations describe the models exactly: a model change without its migration fails here."""

from __future__ import annotations

from litestar import Litestar
from tortoise import Tortoise
from tortoise.migrations.autodetector import MigrationAutodetector

from cem_platform.accounting import library_store
from cem_platform.accounting.models import LibraryVersion
from cem_platform.app import seed_methodology
from cem_platform.benchmarking import measures, references
from cem_platform.benchmarking.models import ReferenceVersion
from cem_platform.carbon_assets import rules
from cem_platform.db import tortoise_config
from cem_platform.settings import Settings


async def test_models_and_migrations_agree(app: Litestar, settings: Settings) -> None:
    apps = tortoise_config(settings.database)["apps"]
    writers = await MigrationAutodetector(Tortoise.apps, apps).changes()
    pending = [w.name if hasattr(w, "name") else str(w) for w in writers]
    assert pending == [], (
        f"models changed without a migration: generate one as the README (Development) says ({pending})"
    )


async def test_the_methodology_libraries_are_seeded_at_start_not_by_a_read(app: Litestar) -> None:
    """What the platform does when it starts: version 1 of every methodology library, once however often it runs."""
    await seed_methodology()
    await seed_methodology()
    libraries = {*library_store.libraries(), references.NATIONAL, measures.SHARED, rules.LIBRARY}
    numbers = [*await LibraryVersion.all().values_list("library", "number")]
    numbers += [*await ReferenceVersion.all().values_list("library", "number")]
    assert libraries <= {library for library, _ in numbers}
    assert all(number == 1 for _, number in numbers) and len(numbers) == len(set(numbers))

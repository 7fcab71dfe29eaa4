"""Applying set/remove changes to the entries of a versioned library, with the diff a new version stores.

The factor library (:mod:`cem_platform.accounting.library_store`), the benchmarking reference libraries and the
measures library (:mod:`cem_platform.benchmarking`) all keep versions as the complete entry set plus the diff against
the previous version: ``[{"code", "change": added|changed|removed, "before", "after"}]``. This is the one loop that
turns a list of changes into that set and diff; each library checks and builds its own entries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import Any, Protocol, TypeVar

from cem_platform.errors import NotFoundError

__all__ = ["EntryChangeLike", "apply_changes"]


class EntryChangeLike(Protocol):
    """A change names its entry's code and whether it removes it."""

    @property
    def code(self) -> str: ...

    @property
    def remove(self) -> bool: ...


C = TypeVar("C", bound=EntryChangeLike)


def apply_changes(
    entries: MutableMapping[str, dict[str, Any]],
    changes: Sequence[C],
    build: Callable[[C, Mapping[str, Any] | None], dict[str, Any]],
    *,
    library: str,
    noun: str = "entry",
) -> list[dict[str, Any]]:
    """Apply ``changes`` to ``entries`` (code -> entry, changed in place) and return the diff.

    A removal of a code not held is NotFoundError; a set builds the entry with ``build(change, before)`` (which raises
    the library's own error for a bad entry); a set that leaves the entry as it was is no change and not in the diff.
    """
    diff: list[dict[str, Any]] = []
    for change in changes:
        before = entries.get(change.code)
        if change.remove:
            if before is None:
                raise NotFoundError(f"Library {library} has no {noun} {change.code} to remove.")
            del entries[change.code]
            diff.append({"code": change.code, "change": "removed", "before": before, "after": None})
            continue
        after = build(change, before)
        if before == after:
            continue
        entries[change.code] = after
        diff.append({"code": change.code, "change": "changed" if before else "added", "before": before, "after": after})
    return diff

"""The audit log in words: what was done (``auth.login`` -> 登录) and to what (``emission_source`` -> 排放源).

The platform records actions as codes (``org.site.update``, ``system.parameter.comm.update``); an auditor reads
them here in their language. A code this table does not know yet is shown as it is, never hidden.
"""

from __future__ import annotations

from cem_clients.ui.i18n import DEFAULT_LOCALE, STRINGS, Translator

__all__ = ["action_label", "entity_label"]


def _known(key: str) -> bool:
    return key in STRINGS[DEFAULT_LOCALE]


def entity_label(entity_type: str, tr: Translator) -> str:
    """The kind of object a record is about, in words (its code when unknown)."""
    key = f"audit.entity.{entity_type}"
    return tr.t(key) if _known(key) else entity_type


def action_label(action: str, tr: Translator) -> str:
    """What a record says was done, in words: the action's own string, else its object and verb, else the code."""
    key = f"audit.action.{action}"
    if _known(key):
        return tr.t(key)
    if action.startswith("system.parameter."):  # system.parameter.<category>.update
        return tr.t("audit.action.system.parameter")
    parts = action.split(".")
    if len(parts) == 3 and parts[0] == "org" and _known(f"audit.verb.{parts[2]}"):  # org.<resource>.<verb>
        return tr.t(f"audit.verb.{parts[2]}", entity=entity_label(parts[1], tr))
    return action

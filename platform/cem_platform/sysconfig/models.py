"""Stored values of system parameters; their definitions (type, bounds, default) live in code."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

__all__ = ["SystemParameter"]


class SystemParameter(Model):
    """The current value of one parameter that differs from its default."""

    key = fields.CharField(max_length=64, primary_key=True)
    value: Any = fields.JSONField()
    version = fields.IntField(default=1)
    updated_by = fields.CharField(max_length=100)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "sys_parameter"

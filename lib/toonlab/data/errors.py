"""Errors of the data layer: each message names the problem and the fix."""

from __future__ import annotations


class DataSourceError(RuntimeError):
    """A data source cannot be used as asked: unknown name, missing download, offline, wrong package version."""


class CorruptItemError(ValueError):
    """One image of a source is unreadable or does not match its manifest; reported by name, never fatal."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason

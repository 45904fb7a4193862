"""What every source gives the loader: an ordered list of :class:`Item` s that can draw themselves."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from toonlab.data.errors import CorruptItemError
from toonlab.data.manifest import sha256_bytes
from toonlab.data.registry import SourceSpec


@dataclass(frozen=True)
class Item:
    """One image of a source.

    ``render(resolution)`` returns the picture drawn at least ``resolution`` pixels on its long side where
    the source can choose (vector drawings), else at its native size; it checks the bytes against the
    manifest and raises :class:`CorruptItemError` naming the file when they differ or do not decode.
    """

    key: str  # unique within the source, stable, safe as a file name
    label: str
    render: Callable[[int], Image.Image] = field(repr=False, compare=False)
    attributes: dict[str, Any] = field(default_factory=dict)
    origin: str = ""  # where the bytes come from, for messages and manifests


class ImageSource(ABC):
    """A registered source, resolved to concrete items."""

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec

    @abstractmethod
    def items(self, limit: int | None, seed: int) -> list[Item]:
        """The items in canonical order; ``limit`` keeps a seeded random subset (still in canonical order)."""

    def fingerprint(self) -> str:
        """What the rendered images depend on besides the call's arguments (package versions, manifests)."""
        return ""


def read_checked(path: Path, expected_sha256: str | None, name: str) -> bytes:
    """Read a file and compare it to its manifest checksum."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CorruptItemError(name, f"cannot read {path} ({error.strerror or error})") from error
    if expected_sha256 and sha256_bytes(data) != expected_sha256:
        raise CorruptItemError(name, f"sha256 of {path} differs from the manifest (file changed or corrupt)")
    return data


def seeded_subset(items: Sequence[Item], limit: int | None, seed: int) -> list[Item]:
    """``limit`` items drawn without replacement by ``seed``, kept in canonical order (deterministic)."""
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    chosen = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[index] for index in chosen]

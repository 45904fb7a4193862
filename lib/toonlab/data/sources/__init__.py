"""Loaders per source kind; :func:`make_source` picks one for a registry entry."""

from __future__ import annotations

from toonlab.data.registry import SourceSpec
from toonlab.data.sources.base import ImageSource, Item, seeded_subset


def make_source(spec: SourceSpec) -> ImageSource:
    # Imported here so that using one kind never imports the others' packages.
    if spec.kind == "emoji":
        from toonlab.data.sources.emoji import EmojiSource as cls
    elif spec.kind == "avatars":
        from toonlab.data.sources.avatars import AvatarSource as cls
    elif spec.kind == "photos":
        from toonlab.data.sources.photos import PhotoSource as cls
    elif spec.kind == "kaggle":
        from toonlab.data.sources.kaggle import KaggleSource as cls
    elif spec.kind == "folder":
        from toonlab.data.sources.folder import FolderSource as cls
    else:  # registry.py validates kinds; this guards a spec built by hand
        raise ValueError(f"unknown source kind {spec.kind!r}")
    return cls(spec)


__all__ = ["ImageSource", "Item", "make_source", "seeded_subset"]

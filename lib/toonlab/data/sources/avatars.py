"""``avatars``: memoji-like Avataaars drawn by python-avatars from a seed, with their attribute labels.

Avatar ``i`` of seed ``s`` is drawn by its own ``random.Random(f"avatars:{s}:{i}")``, so any avatar can
be redrawn alone and the set does not depend on how many were asked for. Every part is drawn uniformly
from python-avatars' enums; accessories and facial hair are "none" half of the time, as in
``python_avatars.Avatar.random``. Left out on purpose: the custom-text shirt graphic, which needs a
system font (the picture would differ between machines), and the circular background style.
"""

from __future__ import annotations

import importlib.metadata
import random
from functools import partial
from typing import Any

import python_avatars as pa
from PIL import Image

from toonlab.data.errors import CorruptItemError, DataSourceError
from toonlab.data.manifest import ManifestEntry, read_manifest, sha256_bytes
from toonlab.data.sources.base import ImageSource, Item
from toonlab.data.sources.vector import render_svg

# attribute name -> the python-avatars enum it is drawn from
PARTS: dict[str, Any] = {
    "hair": pa.TopType,  # hair styles and hats
    "hair_color": pa.HairColor,
    "hat_color": pa.ClothingColor,
    "eyebrows": pa.EyebrowType,
    "eyes": pa.EyeType,
    "nose": pa.NoseType,
    "mouth": pa.MouthType,
    "facial_hair": pa.FacialHairType,
    "facial_hair_color": pa.HairColor,
    "skin": pa.SkinColor,
    "glasses": pa.AccessoryType,
    "clothing": pa.ClothingType,
    "clothing_color": pa.ClothingColor,
    "shirt_graphic": pa.ClothingGraphic,
}
FAVOUR_NONE = {"glasses": pa.AccessoryType.NONE, "facial_hair": pa.FacialHairType.NONE}
EXCLUDED = {"shirt_graphic": {pa.ClothingGraphic.CUSTOM_TEXT}}
REFERENCE_COUNT = 64  # avatars of seed 0 whose SVG checksums are committed


def draw_attributes(seed: int, index: int) -> dict[str, str]:
    """The parts of avatar ``index`` of ``seed``, by enum member name (e.g. ``{"mouth": "SMILE", ...}``)."""
    rng = random.Random(f"avatars:{seed}:{index}")
    attributes: dict[str, str] = {}
    for name, enum in PARTS.items():
        members = [m for m in enum.get_all() if m not in EXCLUDED.get(name, ())]
        favoured = FAVOUR_NONE.get(name)
        if favoured is not None and rng.random() < 0.5:
            choice = favoured
        else:
            choice = members[rng.randrange(len(members))]
        attributes[name] = choice.name
    return attributes


def avatar_svg(attributes: dict[str, str]) -> str:
    def member(name: str) -> Any:
        enum = PARTS[name]
        for candidate in enum.get_all():
            if candidate.name == attributes[name]:
                return candidate
        raise ValueError(f"unknown {name} {attributes[name]!r}")

    avatar = pa.Avatar(
        style=pa.AvatarStyle.TRANSPARENT,
        top=member("hair"),
        hat_color=member("hat_color"),
        eyebrows=member("eyebrows"),
        eyes=member("eyes"),
        nose=member("nose"),
        mouth=member("mouth"),
        facial_hair=member("facial_hair"),
        skin_color=member("skin"),
        hair_color=member("hair_color"),
        facial_hair_color=member("facial_hair_color"),
        accessory=member("glasses"),
        clothing=member("clothing"),
        clothing_color=member("clothing_color"),
        shirt_graphic=member("shirt_graphic"),
    )
    return avatar.render()


def _render(attributes: dict[str, str], expected_sha256: str | None, key: str, resolution: int) -> Image.Image:
    svg = avatar_svg(attributes)
    if expected_sha256 and sha256_bytes(svg.encode("utf-8")) != expected_sha256:
        raise CorruptItemError(
            key, "python-avatars drew a different SVG than the committed manifest records (another version?)"
        )
    # The drawing is 264x280: render the long side (height) at the requested size.
    return render_svg(svg, None, resolution, name=key)


class AvatarSource(ImageSource):
    def _reference(self, seed: int) -> dict[int, str]:
        if seed != 0 or self.spec.manifest is None or not self.spec.manifest.is_file():
            return {}
        return {int(entry.attributes["index"]): entry.sha256 for entry in read_manifest(self.spec.manifest)}

    def items(self, limit: int | None, seed: int) -> list[Item]:
        count = int(self.spec.options.get("default_count", 1000)) if limit is None else limit
        if count < 0:
            raise ValueError(f"limit must be >= 0 or None, got {limit}")
        label_attribute = str(self.spec.options.get("label_attribute", "mouth"))
        if label_attribute not in PARTS:
            raise DataSourceError(f"avatars: label attribute {label_attribute!r} is not one of {sorted(PARTS)}")
        reference = self._reference(seed)
        items = []
        for index in range(count):
            attributes = draw_attributes(seed, index)
            key = f"avatar-s{seed}-{index:06d}"
            items.append(
                Item(
                    key=key,
                    label=attributes[label_attribute],
                    render=partial(_render, attributes, reference.get(index), key),
                    attributes={**attributes, "has_glasses": attributes["glasses"] != "NONE", "index": index},
                    origin=f"python-avatars seed={seed} index={index}",
                )
            )
        return items

    def fingerprint(self) -> str:
        versions = [f"{p}=={importlib.metadata.version(p)}" for p in ("python-avatars", "resvg-py")]
        return " ".join(versions)


def build_manifest(count: int = REFERENCE_COUNT) -> list[ManifestEntry]:
    """SVG checksums of the first ``count`` avatars of seed 0 (``data/manifests/avatars-seed0.csv``)."""
    entries = []
    for index in range(count):
        attributes = draw_attributes(0, index)
        svg = avatar_svg(attributes).encode("utf-8")
        entries.append(
            ManifestEntry(
                path=f"avatar-s0-{index:06d}.svg",
                label=attributes["mouth"],
                sha256=sha256_bytes(svg),
                bytes=len(svg),
                attributes={"index": index, **attributes},
            )
        )
    return entries

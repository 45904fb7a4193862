"""``photos``: the real photographs scikit-image ships (no download): astronaut + lfw_subset.

``lfw_subset`` is 200 grey 25x25 crops: the first 100 are faces from Labeled Faces in the Wild, the
last 100 are not faces (scikit-image's docstring). Classes: ``face`` (the astronaut portrait and the
100 LFW faces) and ``non_face``. Grey crops are repeated over the three channels.
"""

from __future__ import annotations

import io
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from toonlab.data.errors import CorruptItemError, DataSourceError
from toonlab.data.images import decode
from toonlab.data.manifest import ManifestEntry, read_manifest, sha256_bytes, sha256_file
from toonlab.data.sources.base import ImageSource, Item, read_checked, seeded_subset

LFW_FILE = "lfw_subset.npy"
LFW_FACES = 100


def skimage_data_dir() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


def _lfw(data_dir: Path, expected_file_sha256: str) -> np.ndarray:
    raw = read_checked(data_dir / LFW_FILE, expected_file_sha256, LFW_FILE)
    return np.load(io.BytesIO(raw), allow_pickle=False)


def _render_png(data_dir: Path, entry: ManifestEntry, resolution: int) -> Image.Image:
    return decode(read_checked(data_dir / entry.path, entry.sha256, entry.path), entry.path)


def _render_lfw(array: np.ndarray, entry: ManifestEntry, resolution: int) -> Image.Image:
    index = int(entry.attributes["index"])
    crop = array[index]
    if sha256_bytes(np.ascontiguousarray(crop).tobytes()) != entry.sha256:
        raise CorruptItemError(entry.path, "pixels differ from the manifest")
    grey = np.clip(np.rint(crop * 255.0), 0, 255).astype(np.uint8)
    return Image.fromarray(grey, mode="L").convert("RGB")


class PhotoSource(ImageSource):
    def items(self, limit: int | None, seed: int) -> list[Item]:
        if self.spec.manifest is None or not self.spec.manifest.is_file():
            raise DataSourceError(
                f"photos manifest {self.spec.manifest} is missing; `python -m toonlab.data manifest photos`")
        data_dir = skimage_data_dir()
        entries = read_manifest(self.spec.manifest)
        lfw_sha = next((e.attributes["file_sha256"] for e in entries if e.path.startswith(LFW_FILE)), None)
        array = _lfw(data_dir, lfw_sha) if lfw_sha else None
        items = []
        for entry in entries:
            if entry.path.startswith(LFW_FILE):
                render = partial(_render_lfw, array, entry)
            else:
                render = partial(_render_png, data_dir, entry)
            key = entry.path.replace(".npy#", "-").replace(".png", "")
            attributes = {k: v for k, v in entry.attributes.items() if k != "file_sha256"}
            items.append(Item(key=key, label=entry.label, render=render, attributes=attributes,
                              origin=f"skimage:{entry.path}"))
        return seeded_subset(items, limit, seed)


def build_manifest() -> list[ManifestEntry]:
    data_dir = skimage_data_dir()
    astronaut = data_dir / "astronaut.png"
    entries = [
        ManifestEntry("astronaut.png", "face", sha256_file(astronaut), astronaut.stat().st_size,
                      {"origin": "astronaut", "index": 0})
    ]
    lfw_path = data_dir / LFW_FILE
    file_sha = sha256_file(lfw_path)
    array = np.load(lfw_path, allow_pickle=False)
    for index, crop in enumerate(array):
        raw = np.ascontiguousarray(crop).tobytes()
        entries.append(
            ManifestEntry(
                f"{LFW_FILE}#{index:03d}",
                "face" if index < LFW_FACES else "non_face",
                sha256_bytes(raw),
                len(raw),
                {"origin": "lfw_subset", "index": index, "file_sha256": file_sha},
            )
        )
    return entries

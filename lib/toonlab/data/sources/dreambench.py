"""``dreambench``: the DreamBooth paper's subjects (Ruiz et al. 2023), the few committed for ``ci``.

``data/dreambench/<subject>/NN.jpg`` holds a few images of a few toy/cartoon subjects, downsized (see its
CREDITS.txt; CC-BY 4.0), checked against ``data/manifests/dreambench.csv``; the label is the subject, the
``class`` attribute its DreamBench class noun. The whole data set (30 subjects, 25 prompts each) is the
``dreambench-full`` source: a ``folder`` source over a clone of google/dreambooth's ``dataset/``.
:mod:`toonlab.data.dreambench` reads the prompts and classes and hands a subject's images out as PIL.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PIL import Image

from toonlab.data.errors import DataSourceError
from toonlab.data.images import decode
from toonlab.data.manifest import ManifestEntry, read_manifest, sha256_file
from toonlab.data.sources.base import ImageSource, Item, read_checked, seeded_subset
from toonlab.paths import repo_root

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def committed_dir() -> Path:
    return repo_root() / "data" / "dreambench"


def _render(root: Path, entry: ManifestEntry, resolution: int) -> Image.Image:
    return decode(read_checked(root / entry.path, entry.sha256, entry.path), entry.path)


class DreamBenchSource(ImageSource):
    def items(self, limit: int | None, seed: int) -> list[Item]:
        if self.spec.manifest is None or not self.spec.manifest.is_file():
            raise DataSourceError(f"dreambench manifest {self.spec.manifest} is missing; "
                                  "`python -m toonlab.data manifest dreambench`")
        root = committed_dir()
        items = [Item(key=entry.path.replace("/", "-").rsplit(".", 1)[0], label=entry.label,
                      render=partial(_render, root, entry), attributes=dict(entry.attributes),
                      origin=f"dreambench:{entry.path}") for entry in read_manifest(self.spec.manifest)]
        return seeded_subset(items, limit, seed)


def build_manifest() -> list[ManifestEntry]:
    from toonlab.data.dreambench import subject_classes

    root = committed_dir()
    classes = subject_classes(root / "prompts_and_classes.txt")
    entries = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        subject = path.parent.name
        entries.append(ManifestEntry(path.relative_to(root).as_posix(), subject, sha256_file(path),
                                     path.stat().st_size, {"class": classes[subject]}))
    return entries

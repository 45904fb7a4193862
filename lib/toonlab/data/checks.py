"""What a source claims against what is on disk: ``reported_images`` / ``reported_classes`` in the registry.

A registry entry may state the size its origin reports (ToyHollyWood's README: 15,300 images, 27 classes).
When the files of a folder or Kaggle source are resolved, the counts on disk are compared with it. A
difference is never silent: with ``options.on_count_mismatch: error`` it is a :class:`DataSourceError`;
with ``warn`` (the default) it is a :class:`CountMismatchWarning` (shown in the notebook's output), a log
line, and a record in ``<cache>/data/<name>/count_checks.json`` that :func:`recorded_checks` reads back
(``ImageDataset.count_checks``). ToyHollyWood is ``warn`` because its own sources disagree (README 27
classes, its code and plots 29): the book reports what is on disk beside both.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from toonlab import atomic
from toonlab.data.errors import DataSourceError
from toonlab.data.registry import REPORTED, SourceSpec
from toonlab.paths import cache_dir

log = logging.getLogger(__name__)


class CountMismatchWarning(UserWarning):
    """A source has another number of images or classes on disk than its registry entry reports."""


@dataclass(frozen=True)
class CountCheck:
    source: str
    what: str  # images | classes
    reported: int
    found: int

    def message(self) -> str:
        return (f"data source {self.source!r}: {self.found} {self.what} on disk, but data/registry.yaml "
                f"(options.{REPORTED[self.what]}) says the source reports {self.reported}")


def _record_path(name: str) -> Path:
    return cache_dir("data", name) / "count_checks.json"


def check_reported_counts(spec: SourceSpec, images: int, classes: int) -> list[CountCheck]:
    """Compare the counts on disk with the registry's; raise, or warn and record, on a difference."""
    found = {"images": images, "classes": classes}
    mismatches = [CountCheck(spec.name, what, int(spec.options[key]), found[what])
                  for what, key in REPORTED.items()
                  if spec.options.get(key) is not None and int(spec.options[key]) != found[what]]
    checked = any(spec.options.get(key) is not None for key in REPORTED.values())
    if checked:
        atomic.write_json(_record_path(spec.name), [asdict(m) for m in mismatches])
    if not mismatches:
        return []
    text = "; ".join(m.message() for m in mismatches)
    if spec.options.get("on_count_mismatch", "warn") == "error":
        raise DataSourceError(f"{text}. Check the download is complete and is this data set, or correct the "
                              "registry entry (options.on_count_mismatch: warn accepts the difference, visibly)")
    for mismatch in mismatches:
        log.warning(mismatch.message())
        warnings.warn(mismatch.message(), CountMismatchWarning, stacklevel=3)
    return mismatches


def recorded_checks(name: str) -> list[CountCheck]:
    """The differences found the last time source ``name`` was resolved ([] if none, or never checked)."""
    path = _record_path(name)
    if not path.is_file():
        return []
    return [CountCheck(**row) for row in json.loads(path.read_text(encoding="utf-8"))]


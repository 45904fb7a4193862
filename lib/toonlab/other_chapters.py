"""Another chapter's committed results, read by a chapter that declares them.

Chapter 04 puts chapter 03's measured GAN training cost beside its DDPM's, read from chapter 03's committed
``results/cpu/03_gan/cost.csv``. Such a file is neither code nor data the runner hashes, so re-running chapter
03 would leave chapter 04's committed numbers quietly out of date. A chapter therefore *declares* the files it
reads (``toonlab_reads_results`` in its notebook's metadata, paths from the repository root): they become part
of its code fingerprint (:func:`toonlab.book.chapters.declared_results`), and the book runner fails a run that
read a file it did not declare, as it does for undeclared data sources.

This module is imported only by the chapters that read other chapters' results, so that a change here stales
only them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from toonlab.paths import repo_root, results_dir

RESULTS_READ_ENV = "TOONLAB_RESULTS_READ"  # set by the book runner: a file the kernel appends each read path to
DECLARATION_KEY = "toonlab_reads_results"  # notebook metadata: the results files the chapter may read

if TYPE_CHECKING:
    import pandas as pd


def note_read(path: Path) -> None:
    """Tell the book runner (when it runs this kernel) that ``path`` was read, so it can check the declaration."""
    log = os.environ.get(RESULTS_READ_ENV)
    if log:
        relative = Path(path).resolve().relative_to(repo_root().resolve()).as_posix()
        with open(log, "a", encoding="utf-8") as handle:  # one short line per call: appends do not interleave
            handle.write(relative + "\n")


def read_table(profile: str, chapter: str, name: str) -> "pd.DataFrame | None":
    """Table ``name`` (``cost.csv``) of ``chapter``'s committed ``profile`` results, or None if not committed.
    A missing file is noted too: committing it later must stale the reader's results."""
    import pandas as pd  # here: the book runner imports this module's names without pandas

    path = results_dir(profile, chapter) / name
    note_read(path)
    return pd.read_csv(path) if path.is_file() else None

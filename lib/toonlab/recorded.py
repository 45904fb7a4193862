"""Benchmark outputs recorded beside a chapter's reference results, and how a chapter shows them.

A benchmark script (``benchmarks/*.py``) that judges one of the book's bars writes what it printed to
``results/<profile>/<chapter>/<file>``; the chapter shows the best recorded one (``full`` > ``gpu`` > ``cpu``,
then the live profile's) with the command that made it, or says that none was recorded and how to make it.
"""

from __future__ import annotations

from collections.abc import Callable

from toonlab import atomic
from toonlab.paths import results_dir


def record(text: str, profile: str, chapter: str, filename: str):
    """Write a benchmark's printed report to ``results/<profile>/<chapter>/<filename>`` (atomically)."""
    return atomic.write_text(results_dir(profile, chapter) / filename, text.rstrip("\n") + "\n")


def recorded_summary(chapter: str, filename: str, command: Callable[[str], str], profile: str) -> str:
    """Markdown: the best recorded output of a benchmark with the command that made it, or how to make it.
    ``command(profile)`` is the command line that records it for ``profile``."""
    from toonlab.results import REFERENCE_PROFILES

    for candidate in dict.fromkeys((*REFERENCE_PROFILES, profile)):
        path = results_dir(candidate, chapter) / filename
        if path.is_file():
            return (f"Recorded output of `{command(candidate)}` (`results/{candidate}/{chapter}/{filename}`):"
                    f"\n\n```text\n{path.read_text().strip()}\n```")
    return (f"The benchmark has not been recorded for any profile yet: run `{command('cpu')}` "
            f"(it writes `results/<profile>/{chapter}/{filename}`).")

"""The "Results overview" page, generated before every build from ``results/*/*/metrics.json``.

It is the one place that lists, per chapter, the committed reference results (``full``, ``gpu``, ``cpu``)
and the live ``ci`` smoke run, each with its data, weights and provenance, and whether a committed result is
still current or **stale** (the chapter's code or parameters changed since it was made: its recorded
fingerprint differs from the one the runner computes now) — then every reference result's tables that put
our numbers beside the source projects' (those :func:`toonlab.results.compare` made), so a reader sees at a
glance which numbers in the book are results, which only check the code path, and how they compare.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from toonlab import atomic
from toonlab.book.chapters import Chapter, code_fingerprint, discover
from toonlab.params import ParameterError, profile_params
from toonlab.results import REFERENCE_PROFILES, device_text, freshness, refresh_command

PAGE = Path("book") / "results_overview.md"
PROFILE_ORDER = ("full", "gpu", "cpu", "ci")
MAX_METRICS = 8
SOURCE_COLUMN = "reported by source"  # the column every compare() table has


def _scalar_metrics(metrics: dict) -> list[tuple[str, str]]:
    shown = []
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        shown.append((name, f"{value:.4g}" if isinstance(value, float) else str(value)))
    return shown[:MAX_METRICS]


def current_fingerprint(root: Path, chapter: Chapter, profile: str) -> str | None:
    """What the runner would record for ``chapter`` in ``profile`` now (None: the profile cannot run it)."""
    try:
        return code_fingerprint(chapter, profile_params(profile, chapter.stem, root / "notebooks" / "params"), root)
    except ParameterError:
        return None


def state(root: Path, chapter: Chapter, record: dict[str, Any]) -> str:
    """``current`` / ``stale`` / ``unchecked`` (:func:`toonlab.results.freshness`) for a committed result."""
    profile = str(record.get("profile"))
    now = current_fingerprint(root, chapter, profile)
    return freshness(record, {profile: now} if now else {})


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: list[list[str]]) -> list[str]:
    """A CSV's rows (header first) as a Markdown table."""
    header, body = rows[0], rows[1:]
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in body]
    return lines


def source_tables(folder: Path, record: dict[str, Any]) -> list[tuple[str, list[list[str]]]]:
    """The result's tables that hold the source projects' numbers beside ours (a "reported by source" column)."""
    found = []
    for name in record.get("tables", []):
        path = folder / name
        if not path.is_file():
            continue
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
        if rows and SOURCE_COLUMN in rows[0]:
            found.append((name, rows))
    return found


def _status_text(root: Path, chapter: Chapter, profile: str, record: dict[str, Any]) -> str:
    if profile == "ci":
        return "smoke (this build)"
    current = state(root, chapter, record)
    if current == "stale":
        return f"**stale**: refresh with `{refresh_command(profile, chapter.stem)}`"
    return current


def render(root: Path) -> str:
    lines = [
        "# Results overview",
        "",
        "Generated from `results/<profile>/<chapter>/metrics.json` at build time. `full`, `gpu` and `cpu` results",
        "are committed reference results (a chapter shows the best that exists first); `ci` rows come from the",
        "smoke run of this build (tiny random models: they check the code path and are not results). A committed",
        "result is **stale** when the chapter's code or parameters changed since it was made: the status column",
        "gives the command that refreshes it.",
        "",
        "| chapter | profile | status | data | weights | key numbers | commit | device | wall time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    beside: list[str] = []
    for chapter in discover(root / "notebooks"):
        found = False
        for profile in PROFILE_ORDER:
            folder = root / "results" / profile / chapter.stem
            path = folder / "metrics.json"
            if not path.is_file():
                continue
            found = True
            record = json.loads(path.read_text())
            prov = record.get("provenance", {})
            numbers = "; ".join(f"{k} = {v}" for k, v in _scalar_metrics(record.get("metrics", {}))) or "—"
            commit = ((prov.get("git") or {}).get("commit") or "—")[:10]
            wall = prov.get("wall_time_s")
            label = f"`{profile}`" + (" (smoke)" if profile == "ci" else "")
            lines.append(f"| {chapter.stem} | {label} | {_status_text(root, chapter, profile, record)} | "
                         f"{_cell(record.get('data') or '—')} | {_cell(record.get('weights', '—'))} | {_cell(numbers)} | "
                         f"`{commit}` | {_cell(device_text(record))} | {'—' if wall is None else f'{wall / 60:.1f} min'} |")
            if profile in REFERENCE_PROFILES:
                for name, rows in source_tables(folder, record):
                    beside += ["", f"### {chapter.stem}: `{name}` (profile `{profile}`)", ""]
                    beside += markdown_table(rows)
        if not found:
            lines.append(f"| {chapter.stem} | — | no results yet | — | — | — | — | — | — |")
    lines += ["", "## Reference numbers beside the source projects'", ""]
    if beside:
        lines += ["Every committed reference table that puts our number beside a source project's, as the chapter",
                  "shows it: read each with its protocol and comparability columns — stand-in models and other data",
                  "make many of them context rather than a reproduction."]
        lines += beside
    else:
        lines.append("No committed reference results hold a source project's number yet.")
    return "\n".join(lines) + "\n"


def write(root: Path) -> Path:
    return atomic.write_text(root / PAGE, render(root))

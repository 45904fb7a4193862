"""The "Results overview" page, generated before every build from ``results/*/*/metrics.json``.

It is the one place that lists, per chapter, the committed reference results (``full``, ``gpu``) and
the live ``ci`` smoke run, each with its weights and provenance — so a reader sees at a glance which
numbers in the book are results and which only check the code path.
"""

from __future__ import annotations

import json
from pathlib import Path

from toonlab import atomic
from toonlab.book.chapters import discover

PAGE = Path("book") / "results_overview.md"
PROFILE_ORDER = ("full", "gpu", "cpu", "ci")
MAX_METRICS = 8


def _scalar_metrics(metrics: dict) -> list[tuple[str, str]]:
    shown = []
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        shown.append((name, f"{value:.4g}" if isinstance(value, float) else str(value)))
    return shown[:MAX_METRICS]


def render(root: Path) -> str:
    lines = [
        "# Results overview",
        "",
        "Generated from `results/<profile>/<chapter>/metrics.json` at build time. `full` and `gpu` results are",
        "committed reference results; `ci` rows come from the smoke run of this build (tiny random models, not",
        "results). Each chapter shows its numbers beside the source projects' reported ones.",
        "",
        "| chapter | profile | weights | key numbers | commit | device | wall time |",
        "|---|---|---|---|---|---|---|",
    ]
    for chapter in discover(root / "notebooks"):
        found = False
        for profile in PROFILE_ORDER:
            path = root / "results" / profile / chapter.stem / "metrics.json"
            if not path.is_file():
                continue
            found = True
            record = json.loads(path.read_text())
            prov = record.get("provenance", {})
            numbers = "; ".join(f"{k} = {v}" for k, v in _scalar_metrics(record.get("metrics", {}))) or "—"
            commit = ((prov.get("git") or {}).get("commit") or "—")[:10]
            device = (prov.get("device") or {}).get("gpu") or (prov.get("device") or {}).get("device", "—")
            wall = prov.get("wall_time_s")
            label = f"`{profile}`" + (" (smoke)" if profile == "ci" else "")
            lines.append(f"| {chapter.stem} | {label} | {record.get('weights', '—')} | {numbers} | `{commit}` | "
                         f"{device} | {'—' if wall is None else f'{wall:.0f} s'} |")
        if not found:
            lines.append(f"| {chapter.stem} | — | no results yet | — | — | — | — |")
    return "\n".join(lines) + "\n"


def write(root: Path) -> Path:
    return atomic.write_text(root / PAGE, render(root))

"""The crawl's resumable state: the frontier, what was seen, saved, rejected; checkpointed atomically.

A checkpoint is one JSON file replaced atomically, written only between two handled URLs, so it is
always consistent. Work done after the last checkpoint is redone on resume: an image is written to a
name derived from its URL, so redoing it rewrites the same file (nothing duplicated), and files that
no checkpoint references are removed when the crawl finishes (nothing half-counted).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from toonlab import atomic
from toonlab.data.scrape.config import SiteConfig

STATE_VERSION = 1
KINDS = ("image", "product", "listing", "start")  # the order the frontier is served in


@dataclass
class Task:
    kind: str
    url: str
    label: str | None = None
    referer: str | None = None


@dataclass
class CrawlState:
    config_digest: str
    queues: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {k: [] for k in KINDS})
    seen: list[str] = field(default_factory=list)  # "<kind> <url>" ever queued
    records: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    products: int = 0
    done: bool = False
    version: int = STATE_VERSION

    def __post_init__(self) -> None:
        self._seen = set(self.seen)
        self._sha = {r["sha256"]: r["url"] for r in self.records}

    # --- frontier --------------------------------------------------------------------------------

    def push(self, task: Task) -> bool:
        key = f"{task.kind} {task.url}"
        if key in self._seen:
            return False
        self._seen.add(key)
        self.seen.append(key)
        self.queues[task.kind].append(asdict(task))
        return True

    def pop(self, kind: str | None = None, count: int = 1) -> list[Task]:
        """Up to ``count`` tasks of the most urgent kind (images first, so saved work accumulates early)."""
        kinds = [kind] if kind else KINDS
        for name in kinds:
            queue = self.queues[name]
            if queue:
                taken, self.queues[name] = queue[:count], queue[count:]
                return [Task(**t) for t in taken]
        return []

    def pending(self) -> int:
        return sum(len(q) for q in self.queues.values())

    # --- outcomes --------------------------------------------------------------------------------

    def duplicate_of(self, sha256: str) -> str | None:
        return self._sha.get(sha256)

    def add_record(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        self._sha[record["sha256"]] = record["url"]

    def count(self, name: str, by: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + by

    # --- persistence -----------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        # Plain fields, no dataclasses.asdict: its deep copy of every record dominated checkpoint time.
        payload = {f.name: getattr(self, f.name) for f in fields(self)}
        atomic.write_text(path, json.dumps(payload, separators=(",", ":")))

    @classmethod
    def load(cls, path: Path) -> "CrawlState":
        payload = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("version") != STATE_VERSION:
            raise ValueError(f"{path} was written by another scraper version; delete the folder to start over")
        return cls(**payload)


def config_digest(config: SiteConfig) -> str:
    """What identifies a crawl: the site and its selectors (politeness may change between runs)."""
    identity = {
        "name": config.name,
        "start_urls": config.start_urls,
        "selectors": [config.category_links, config.next_page, config.product_links,
                      [(r.selector, r.attr) for r in config.image_links]],
        "label": [config.label_selector, config.label_url_param],
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]

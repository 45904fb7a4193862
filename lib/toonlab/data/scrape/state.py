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

STATE_VERSION = 2  # 2: canonical URLs, categories, stops, deferred and held tasks
KINDS = ("image", "product", "listing", "start")  # the order the frontier is served in


@dataclass
class Task:
    kind: str
    url: str  # canonical (toonlab.data.scrape.urls): the visited key
    label: str | None = None  # listing: the category link's text; product, image: the class label
    referer: str | None = None
    category: str | None = None  # listing: the URL of the category's first page
    stale: int = 0  # listing: pages in a row before this one (along the pagination) with no new product URL
    label_from: str | None = None  # product, image: which step of the label rule gave the label
    robots_round: int = 0  # times this task waited for its host's unreachable robots.txt
    fetch_url: str | None = None  # the URL as the page spelled it (absolute, no fragment), if not ``url``

    @property
    def fetch(self) -> str:
        """What is requested: the URL as found, since a signed URL breaks when its query is reordered."""
        return self.fetch_url or self.url


@dataclass
class CrawlState:
    config_digest: str
    config: dict[str, Any] = field(default_factory=dict)  # config_identity, to name what changed on a resume
    queues: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {k: [] for k in KINDS})
    seen: list[str] = field(default_factory=list)  # "<kind> <url>" ever queued
    records: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    products: int = 0
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)  # first page URL -> {label, pages}
    stops: list[dict[str, Any]] = field(default_factory=list)  # every stop: reason, scope, detail
    stop_reason: str | None = None  # why the whole crawl ended (or is ending)
    deferred: list[dict[str, Any]] = field(default_factory=list)  # tasks waiting for a robots.txt
    held: list[dict[str, Any]] = field(default_factory=list)  # listings cut short by max_products
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

    def has_seen(self, kind: str, url: str) -> bool:
        return f"{kind} {url}" in self._seen

    def requeue(self, task: Task) -> None:
        """Queue a task again that was already seen (waited for robots.txt, or held by a limit)."""
        self.queues[task.kind].append(asdict(task))

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

    def stop(self, reason: str, detail: str, scope: str = "crawl") -> bool:
        """Record a stop once per (reason, scope); a ``crawl`` scope also becomes the crawl's stop reason."""
        if any(s["reason"] == reason and s["scope"] == scope for s in self.stops):
            return False
        self.stops.append({"reason": reason, "scope": scope, "detail": detail})
        if scope == "crawl" and self.stop_reason is None:
            self.stop_reason = reason
        return True

    # --- persistence -----------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        # Plain fields, no dataclasses.asdict: its deep copy of every record dominated checkpoint time.
        payload = {f.name: getattr(self, f.name) for f in fields(self)}
        atomic.write_text(path, json.dumps(payload, separators=(",", ":")))

    @classmethod
    def load(cls, path: Path) -> "CrawlState":
        payload = json.loads(path.read_text(encoding="utf-8"))
        version = payload.get("version", 1)
        if version != STATE_VERSION:
            why = {1: "version 1 recorded URLs as found, before they were made canonical: resumed, the crawl "
                      "would see every page it visited as new, fetch it again and save duplicate images"}.get(
                version, "this scraper does not know how to read it")
            raise ValueError(f"{path} holds a crawl state of version {version}, this scraper reads version "
                             f"{STATE_VERSION}: {why}. Crawl into a new folder, or delete this one to start over")
        return cls(**payload)


def config_identity(config: SiteConfig) -> dict[str, Any]:
    """What identifies a crawl, by setting: the site, its selectors, its label rule and how URLs are made
    canonical (part of what was seen). Limits and politeness are not: they may change between runs."""
    return {
        "name": config.name,
        "start_urls": list(config.start_urls),
        "category_links": config.category_links,
        "next_page": config.next_page,
        "product_links": config.product_links,
        "image_links": [[r.selector, r.attr] for r in config.image_links],
        "label": [config.label_selector, config.label_url_param, config.label_fallback],
        "drop_params": sorted(config.drop_params),
        "drop_default_params": config.drop_default_params,
        "keep_params": sorted(config.keep_params),
    }


def config_digest(config: SiteConfig) -> str:
    identity = config_identity(config)
    legacy = {  # the layout digests were first computed from: crawls already on disk keep their digest
        "name": identity["name"],
        "start_urls": identity["start_urls"],
        "selectors": [identity["category_links"], identity["next_page"], identity["product_links"],
                      identity["image_links"]],
        "label": identity["label"],
        "urls": [identity["drop_params"], identity["drop_default_params"],
                 *([identity["keep_params"]] if identity["keep_params"] else [])],
    }
    return hashlib.sha256(json.dumps(legacy, sort_keys=True).encode()).hexdigest()[:16]


def changed_settings(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The settings of ``config_identity`` that differ (stored by the crawl vs the configuration now)."""
    return sorted(key for key in {*stored, *current} if stored.get(key) != current.get(key))

"""The crawler: start pages -> category listings (with pagination) -> product pages -> images.

One thread walks the pages in order; images are downloaded ``concurrency`` at a time and handled in
queue order, so a crawl of the same site gives the same manifest whatever the timing.

It always ends: URLs are canonical before the visited check, a category stops following "next" after
``limits.stale_pages`` listing pages without a new product URL or at ``limits.max_pages_per_category``,
and ``max_products``, ``limits.max_pages`` and ``limits.max_requests`` bound the whole crawl. Each stop
is recorded with its reason (:data:`STOP_REASONS`) in the report, ``summary.json``. The manifest and
the failure lists are rewritten atomically at every checkpoint, so whatever stops the crawl - a limit, a
kill, a crash - ``manifest.csv`` lists exactly the images on disk that the state has counted.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urldefrag, urljoin, urlsplit, urlunsplit

from bs4 import BeautifulSoup

try:
    import fcntl
except ImportError:  # Windows: no advisory lock, one crawl per folder is then up to the user
    fcntl = None
from tqdm.auto import tqdm

from toonlab import atomic
from toonlab.data.hashing import near_duplicate_pairs
from toonlab.data.manifest import sha256_bytes
from toonlab.data.scrape.config import SiteConfig
from toonlab.data.scrape.fetch import Fetcher, FetchError, Response, RobotsUnavailable, origin
from toonlab.data.scrape.names import image_filename, inside, safe_label
from toonlab.data.scrape.srcset import image_url
from toonlab.data.scrape.state import CrawlState, Task, changed_settings, config_digest, config_identity
from toonlab.data.scrape.urls import DropList, canonical_url, drop_list
from toonlab.data.scrape.validate import ImageInfo, RejectedImage, inspect_image

log = logging.getLogger(__name__)
MANIFEST_FIELDS = ("url", "label", "path", "sha256", "width", "height", "bytes", "format", "phash", "product",
                   "final_url", "time", "label_from")
FAILURE_FIELDS = ("url", "kind", "cause", "detail", "attempts", "referer")
STOP_REASONS = {
    # the whole crawl
    "frontier_exhausted": "every URL found was handled (the normal end)",
    "max_products": "max_products product pages were queued; no further listing page was read",
    "max_pages": "limits.max_pages HTML page fetches were attempted (failed ones count)",
    "max_requests": "limits.max_requests HTTP requests were made",
    # one category (scope: the URL of its first page)
    "stale_pages": "limits.stale_pages listing pages in a row brought no new product URL; 'next' not followed",
    "max_pages_per_category": "limits.max_pages_per_category listing pages were queued for this category",
    # one host (scope: its origin)
    "robots_unavailable": "its robots.txt stayed unreachable for politeness.robots_rounds rounds",
}
BUDGETS = ("max_products", "max_pages", "max_requests")  # stops a rerun with a larger limit lifts


@dataclass
class CrawlSummary:
    pages: int
    images: int
    duplicates: int
    near_duplicates: int | None  # None in a report written before the crawl ended
    failures: dict[str, int]
    requests: int
    retries: int
    seconds: float
    resumed: bool
    classes: dict[str, int] = field(default_factory=dict)
    stop_reason: str | None = None  # why the crawl ended (STOP_REASONS); None while it runs
    stops: list[dict[str, Any]] = field(default_factory=list)  # every stop: reason, scope, detail
    pending: int = 0  # URLs found but not visited (left by a limit)
    complete: bool = False  # ended with every URL found handled
    manifest_sha256: str = ""  # of manifest.csv as written with this report

    def text(self) -> str:
        failures = ", ".join(f"{cause} {n}" for cause, n in sorted(self.failures.items())) or "none"
        near = "not yet computed" if self.near_duplicates is None else self.near_duplicates
        text = (
            f"pages {self.pages}, images {self.images} in {len(self.classes)} classes, duplicates {self.duplicates}, "
            f"near-duplicate pairs {near}, failures: {failures}; {self.requests} requests "
            f"({self.retries} retries) in {self.seconds:.1f} s" + (" (resumed)" if self.resumed else "")
        )
        return text + "\n" + self.stops_text()

    def stops_text(self) -> str:
        """Why the crawl stopped, and where it stopped following links: one line per stop."""
        if not self.stops:
            return "stopped: not yet (the crawl is running or was interrupted; run it again to resume)"
        lines = []
        for stop in sorted(self.stops, key=lambda s: s["scope"] != "crawl"):
            where = "" if stop["scope"] == "crawl" else f" [{stop['scope']}]"
            lines.append(f"stopped: {stop['reason']}{where}: {stop['detail']}")
        if self.pending:
            lines.append(f"{self.pending} URLs found were not visited")
        return "\n".join(lines)


@dataclass
class _Download:
    task: Task
    response: Response | None = None
    info: ImageInfo | None = None
    cause: str | None = None
    detail: str = ""
    attempts: int = 1
    time: str = ""
    robots: RobotsUnavailable | None = None  # the host's robots.txt could not be read: wait, do not fail


def _absolute(base: str, href: str | None, drop: DropList) -> tuple[str, str | None] | None:
    """``href`` made absolute against ``base``: (canonical URL, the URL as found if it differs); None for
    anything but http(s)."""
    if not href:
        return None
    url, _fragment = urldefrag(urljoin(base, href.strip()))
    if not url.startswith(("http://", "https://")):
        return None
    canonical = canonical_url(url, drop)
    return canonical, (url if url != canonical else None)


def _path_only(url: str) -> str:
    """``url`` without its query: what identifies a product on shops whose product URLs are paths."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class CrawlPaused(RuntimeError):
    """The crawl stopped before fetching anything more, its state saved: run it again to resume."""


class Crawler:
    def __init__(self, config: SiteConfig, out: str | Path, progress: bool = True) -> None:
        self.config = config
        self.out = Path(out)
        self.images_dir = self.out / "images"
        self.state_path = self.out / "state.json"
        self.progress = progress
        self.fetcher = Fetcher(config.politeness)
        self.drop = drop_list(config.drop_params, config.drop_default_params, config.keep_params)
        self._manifest_sha256 = ""
        self._category_listed: dict[tuple[str, str], set[str]] = {}

    # --- state -----------------------------------------------------------------------------------

    def _lock(self) -> None:
        """One crawler per output folder; the kernel drops the lock when the process dies, even by SIGKILL."""
        self.out.mkdir(parents=True, exist_ok=True)
        self._lock_handle = open(self.out / "crawl.lock", "w")  # noqa: SIM115 - held for the crawl's lifetime
        if fcntl is not None:
            try:
                fcntl.flock(self._lock_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._lock_handle.close()
                raise RuntimeError(
                    f"another crawl is running in {self.out}; wait for it or use another folder") from None

    def _unlock(self) -> None:
        handle = getattr(self, "_lock_handle", None)
        if handle is not None:
            handle.close()
            self._lock_handle = None

    def _open_state(self) -> tuple[CrawlState, bool]:
        digest = config_digest(self.config)
        # Temporary files of atomic writes interrupted by a kill: never complete, never referenced.
        for stale in [*self.out.glob(".*.tmp"), *(self.images_dir.rglob(".*.tmp") if self.images_dir.is_dir() else [])]:
            stale.unlink(missing_ok=True)
        if self.state_path.is_file():
            state = CrawlState.load(self.state_path)
            if state.config_digest != digest:
                changed = changed_settings(state.config, config_identity(self.config)) if state.config else []
                what = (f"these settings changed since it started: {', '.join(changed)} (they decide which URLs "
                        "are seen and how images are labelled; limits and politeness may change)" if changed
                        else "its settings were not recorded, so which one changed cannot be said")
                raise ValueError(f"{self.out} holds a crawl of another site configuration: {what}. Restore them, "
                                 "or crawl into another output folder (or delete this one)")
            # Not only a finished crawl: one killed after a budget stop, still fetching what it had queued, too.
            if state.stop_reason in BUDGETS and self._budget_left(state, state.stop_reason):
                self._reopen(state)
            if state.done and any(f["cause"] == "robots_unavailable" for f in state.failures):
                self._retry_robots_failures(state)
            return state, True
        state = CrawlState(config_digest=digest, config=config_identity(self.config))
        for url in self.config.start_urls:
            canonical = canonical_url(url, self.drop)
            state.push(Task("start", canonical, fetch_url=url if url != canonical else None))
        self.out.mkdir(parents=True, exist_ok=True)
        state.save(self.state_path)
        return state, False

    def _budget_left(self, state: CrawlState, budget: str) -> bool:
        limits = self.config.limits
        if budget == "max_products":
            return self.config.max_products is None or state.products < self.config.max_products
        if budget == "max_pages":
            return state.counters.get("page_visits", 0) < limits.max_pages
        return state.counters.get("requests", 0) + self.fetcher.requests < limits.max_requests

    def _reopen(self, state: CrawlState) -> None:
        """A crawl a budget stopped, run again with a larger one: carry on where it stopped."""
        log.info("crawl %s: %s lifted, resuming", self.config.name, state.stop_reason)
        state.stops = [s for s in state.stops if not (s["scope"] == "crawl" and s["reason"] in BUDGETS)]
        state.stop_reason = None
        for held in state.held:
            state.requeue(Task(**held))
        state.held = []
        state.done = False

    def _retry_robots_failures(self, state: CrawlState) -> None:
        """An unreachable robots.txt is a passing state (RFC 9309): a finished crawl run again asks again,
        for the URLs that gave up on it, in as many rounds as the first time."""
        retry, kept = [], []
        for failure in state.failures:
            (retry if failure.get("cause") == "robots_unavailable" and "task" in failure else kept).append(failure)
        state.failures = kept
        state.stops = [s for s in state.stops if s["reason"] != "robots_unavailable"]
        for failure in retry:
            state.requeue(Task(**{**failure["task"], "robots_round": 0}))
        log.info("crawl %s: asking again for %d URLs whose host's robots.txt was unreachable", self.config.name,
                 len(retry))
        if state.stop_reason == "frontier_exhausted":
            state.stops = [s for s in state.stops if s["reason"] != "frontier_exhausted"]
            state.stop_reason = None
        state.done = False

    # --- pages -----------------------------------------------------------------------------------

    def _fail(self, state: CrawlState, task: Task, cause: str, detail: str = "", attempts: int = 1) -> None:
        state.failures.append({"url": task.url, "kind": task.kind, "cause": cause, "detail": detail[:300],
                               "attempts": attempts, "referer": task.referer})

    def _defer(self, state: CrawlState, task: Task, error: FetchError) -> None:
        """The URL's host has a robots.txt that cannot be read now: wait for it, a bounded number of rounds."""
        politeness = self.config.politeness
        task.robots_round += 1
        if task.robots_round < politeness.robots_rounds:
            state.deferred.append(asdict(task))
            return
        host = origin(task.url)
        self._fail(state, task, "robots_unavailable", f"{error.detail}; gave up after {task.robots_round} rounds",
                   error.attempts)
        state.failures[-1]["task"] = asdict(task)  # a later run asks again (see _retry_robots_failures)
        state.stop("robots_unavailable",
                   f"robots.txt of {host} could not be read in {politeness.robots_rounds} rounds "
                   f"{politeness.robots_cooldown:g} s apart; its URLs are recorded as failures (cause "
                   "robots_unavailable), not as disallowed", scope=host)

    def _release_deferred(self, state: CrawlState) -> None:
        """Queue again the deferred URLs whose host may be asked again, after waiting for the first such host."""
        waits = [self.fetcher.robots_wait(t["url"]) for t in state.deferred]
        pause = min(waits)
        if pause > 0:
            log.info("crawl %s: waiting %.1f s for an unreachable robots.txt", self.config.name, pause)
            self.fetcher.wait(pause)
        waiting = []
        for raw in state.deferred:
            if self.fetcher.robots_wait(raw["url"]) > 0:
                waiting.append(raw)
            else:
                state.requeue(Task(**raw))
        state.deferred = waiting

    def _soup(self, state: CrawlState, task: Task) -> BeautifulSoup | None:
        state.count("page_visits")  # before the fetch: limits.max_pages bounds attempts, failed ones too
        try:
            response = self.fetcher.get(task.fetch)
        except RobotsUnavailable as error:
            self._defer(state, task, error)
            return None
        except FetchError as error:
            self._fail(state, task, error.cause, error.detail, error.attempts)
            return None
        state.count("pages")
        if "html" not in response.content_type.lower():
            self._fail(state, task, "not_html", response.content_type)
            return None
        try:
            # lxml recovers what it can from broken markup; only a parser crash counts as malformed.
            return BeautifulSoup(response.content, "lxml")
        except Exception as error:  # noqa: BLE001 - any parser failure is the page's fault
            self._fail(state, task, "malformed_html", f"{type(error).__name__}: {error}")
            return None

    def _links(self, soup: BeautifulSoup, base: str, selector: str) -> dict[str, str | None]:
        """Canonical URL -> the URL as first found (None if the same), in page order."""
        urls: dict[str, str | None] = {}
        for element in soup.select(selector):
            found = _absolute(base, element.get("href"), self.drop)
            if found and found[0] not in urls:
                urls[found[0]] = found[1]
        return urls

    def _label(self, soup: BeautifulSoup, task: Task) -> tuple[str | None, str | None]:
        """The label rule (config reference, "The label rule"): selector, url_param, then the link text."""
        if self.config.label_selector:
            element = soup.select_one(self.config.label_selector)
            text = element.get_text(" ", strip=True) if element else ""
            if text:
                return text, "selector"
        if self.config.label_url_param:
            values = parse_qs(urlsplit(task.url).query).get(self.config.label_url_param)
            if values and values[0].strip():
                return values[0].strip(), "url_param"
        if self.config.label_fallback == "link_text" and task.label:
            return task.label, "link_text"
        return None, None

    def _products_full(self, state: CrawlState) -> bool:
        return self.config.max_products is not None and state.products >= self.config.max_products

    def _handle_page(self, state: CrawlState, task: Task) -> None:
        soup = self._soup(state, task)
        if soup is None:
            return
        if task.kind == "start":
            for element in soup.select(self.config.category_links):
                found = _absolute(task.fetch, element.get("href"), self.drop)
                text = element.get_text(" ", strip=True) or None
                if found and state.push(Task("listing", found[0], text, task.url, category=found[0],
                                             fetch_url=found[1])):
                    state.categories.setdefault(found[0], {"label": text, "pages": 1})
        elif task.kind == "listing":
            self._handle_listing(state, task, soup)
        else:  # product
            found = 0
            for rule in self.config.image_links:
                for element in soup.select(rule.selector):
                    url = _absolute(task.fetch, image_url(element, rule.attr), self.drop)
                    if url:
                        found += 1
                        state.push(Task("image", url[0], task.label, task.url, label_from=task.label_from,
                                        fetch_url=url[1]))
            if not found:
                self._fail(state, task, "no_images", "no element matched the image selectors")

    def _new_to_category(self, category: str, info: dict[str, Any], listing_url: str, products: list[str]) -> int:
        """How many of a listing page's product URLs this category has not listed before (the stale rule).

        A product is identified by its path (scheme, host, path; no query) while the category's pages show
        that paths tell products apart - so a session or tracking parameter on no drop list, new on every
        request, does not make a product listed again look new. The category switches to whole canonical
        URLs for good once a listing page shows otherwise: two product links with one path, or a product
        path that is the listing's own (``index.php?product_id=...`` next to ``index.php?route=...``).
        Only the stale rule uses this; what is queued and visited is always the canonical URL.
        """
        if info.get("by_path", True):
            paths = {_path_only(url) for url in products}
            if len(paths) < len(products) or _path_only(listing_url) in paths:
                info["by_path"] = False
        counted = "product_paths" if info.get("by_path", True) else "product_urls"
        fresh = 0
        for url in products:
            for name, value in (("product_urls", url), ("product_paths", _path_only(url))):
                seen = self._listed_in(category, info, name)
                if value not in seen:
                    seen.add(value)
                    info.setdefault(name, []).append(value)
                    fresh += name == counted
        return fresh

    def _listed_in(self, category: str, info: dict[str, Any], name: str) -> set[str]:
        """The category's ``product_urls`` or ``product_paths`` (a list in the state) as a set, built once."""
        key = (category, name)
        if key not in self._category_listed:
            self._category_listed[key] = set(info.setdefault(name, []))
        return self._category_listed[key]

    def _handle_listing(self, state: CrawlState, task: Task, soup: BeautifulSoup) -> None:
        label, label_from = self._label(soup, task)
        if label is None:
            self._fail(state, task, "no_label", "the label rule matched nothing and there is no link text to fall back on")
            return
        limits = self.config.limits
        category = task.category or task.url
        info = state.categories.setdefault(category, {"label": task.label, "pages": 1})
        products = self._links(soup, task.fetch, self.config.product_links)
        for url, as_found in products.items():
            if state.has_seen("product", url):
                continue
            if self._products_full(state):
                state.stop("max_products", f"{self.config.max_products} product pages queued; listing pages after "
                                           "that were not read (rerun with a larger max_products to go on)")
                state.held.append(asdict(task))  # read again if the limit is lifted
                break
            state.push(Task("product", url, label, task.url, label_from=label_from, fetch_url=as_found))
            state.products += 1
        # Pages in a row without a product new to this category, along this pagination: endless or self-linking
        # pages end here. Per category, so a category whose first pages list products of others goes on.
        run = 0 if self._new_to_category(category, info, task.url, list(products)) else task.stale + 1
        following = {url: as_found for url, as_found in self._links(soup, task.fetch, self.config.next_page).items()
                     if not state.has_seen("listing", url)}
        if not following:
            return
        if run >= limits.stale_pages:
            state.stop("stale_pages", f"{run} listing pages in a row brought no new product URL; 'next' links not "
                                      f"followed from {task.url} ({len(following)} unvisited)", scope=category)
            return
        for url, as_found in following.items():
            if info["pages"] >= limits.max_pages_per_category:
                state.stop("max_pages_per_category", f"{limits.max_pages_per_category} listing pages queued; "
                                                     f"further pages not followed (first at {url})", scope=category)
                break
            if state.push(Task("listing", url, task.label, task.url, category=category, stale=run,
                               fetch_url=as_found)):
                info["pages"] += 1

    # --- images ----------------------------------------------------------------------------------

    def _download(self, task: Task) -> _Download:
        """Worker thread: fetch and inspect, no shared state touched."""
        result = _Download(task, time=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        politeness = self.config.politeness
        try:
            result.response = self.fetcher.get(task.fetch, max_bytes=politeness.max_bytes)
            result.attempts = result.response.attempts
            result.info = inspect_image(result.response.content, result.response.content_type,
                                        politeness.formats, politeness.max_pixels)
        except RobotsUnavailable as error:
            result.cause, result.detail, result.attempts, result.robots = error.cause, error.detail, error.attempts, error
        except FetchError as error:
            result.cause, result.detail, result.attempts = error.cause, error.detail, error.attempts
        except RejectedImage as error:
            result.cause, result.detail = error.cause, error.detail
        return result

    def _handle_image(self, state: CrawlState, result: _Download) -> None:
        task = result.task
        if result.robots is not None:
            self._defer(state, task, result.robots)
            return
        if result.cause:
            self._fail(state, task, result.cause, result.detail, result.attempts)
            return
        assert result.response is not None and result.info is not None
        info = result.info
        state.count("images_fetched")
        original = state.duplicate_of(info.sha256)
        if original is not None:
            state.duplicates.append({"url": task.url, "duplicate_of": original, "sha256": info.sha256})
            return
        label = task.label or "unlabelled"
        target = inside(self.images_dir, self.images_dir / safe_label(label) / image_filename(task.url, info.extension))
        # A file already there came from this very URL in a run killed before its checkpoint: rewrite it.
        atomic.write_bytes(target, result.response.content)
        state.add_record({
            "url": task.url, "label": label, "path": target.relative_to(self.out.resolve()).as_posix(),
            "sha256": info.sha256, "width": info.width, "height": info.height,
            "bytes": len(result.response.content), "format": info.format, "phash": info.phash,
            "product": task.referer, "final_url": result.response.url, "time": result.time,
            "label_from": task.label_from or "",
        })

    # --- the loop --------------------------------------------------------------------------------

    def run(self) -> CrawlSummary:
        self._lock()
        try:
            return self._run()
        finally:
            self._unlock()

    def _next_batch(self, state: CrawlState) -> list[Task]:
        """The next tasks the limits allow (images first, so saved work accumulates early); [] ends the crawl."""
        limits = self.config.limits
        while True:
            if state.pending() or state.deferred:
                requests = state.counters.get("requests", 0) + self.fetcher.requests
                if requests >= limits.max_requests:
                    state.stop("max_requests", f"{requests} requests made (limits.max_requests {limits.max_requests})")
                    return []
            if state.queues["image"]:
                return state.pop("image", self.config.politeness.concurrency * 4)
            for kind in ("product", "listing", "start"):
                if not state.queues[kind]:
                    continue
                visits = state.counters.get("page_visits", 0)
                if visits >= limits.max_pages:
                    state.stop("max_pages", f"{visits} page fetches attempted, failed ones included "
                                            f"(limits.max_pages {limits.max_pages})")
                    break
                if kind != "product" and self._products_full(state):
                    state.stop("max_products", f"{self.config.max_products} product pages queued; listing pages "
                                               "after that were not read (rerun with a larger max_products to go on)")
                    break
                return state.pop(kind)
            if not state.deferred:
                return []
            self._release_deferred(state)  # then look again: a host may be reachable now

    def _run(self) -> CrawlSummary:
        started = time.monotonic()
        state, resumed = self._open_state()
        if state.done:
            return self._summary(state, resumed, time.monotonic() - started)
        self._check_robots(state)
        politeness = self.config.politeness
        last_save, handled = time.monotonic(), 0
        bar = tqdm(desc=f"crawl {self.config.name}", unit="url", disable=not self.progress, mininterval=5.0,
                   total=len(state.seen), initial=len(state.seen) - state.pending())
        with ThreadPoolExecutor(max_workers=politeness.concurrency, thread_name_prefix="scrape") as pool:
            while batch := self._next_batch(state):
                if batch[0].kind == "image":
                    for result in pool.map(self._download, batch):
                        self._handle_image(state, result)
                else:
                    self._handle_page(state, batch[0])
                handled += len(batch)
                bar.total = len(state.seen)
                bar.update(len(batch))
                bar.set_postfix(images=len(state.records), dup=len(state.duplicates), failed=len(state.failures),
                                refresh=False)
                overdue = time.monotonic() - last_save >= politeness.checkpoint_seconds
                if handled >= politeness.checkpoint_every or overdue:
                    self._checkpoint(state, started, resumed)
                    last_save, handled = time.monotonic(), 0
        bar.close()
        self._finish(state, started, resumed)
        summary = self._summary(state, resumed, time.monotonic() - started)
        log.info("crawl %s: %s", self.config.name, summary.text())
        return summary

    def _check_robots(self, state: CrawlState) -> None:
        """Ask the shop's robots.txt before anything is taken off the queue. If it cannot be read, RFC 9309
        forbids the whole site for now: stop with the state saved (not done), so a later run resumes
        instead of recording every URL as disallowed for good."""
        for url in self.config.start_urls:
            try:
                self.fetcher.robots(url)
            except RobotsUnavailable as error:
                self._save(state)
                raise CrawlPaused(
                    f"{error}. RFC 9309 treats the site as disallowed while its robots.txt cannot be read, so the "
                    f"crawl stopped before fetching anything; its state is saved in {self.out}. "
                    f"Run it again later to resume.") from error

    def _save(self, state: CrawlState) -> None:
        state.count("requests", self.fetcher.requests)
        state.count("retries", self.fetcher.retries)
        self.fetcher.requests = self.fetcher.retries = 0
        state.save(self.state_path)

    def _checkpoint(self, state: CrawlState, started: float, resumed: bool) -> None:
        """Manifest and failure lists first, then the state: each file is replaced atomically, and a manifest
        newer than the state only lists images the resumed crawl rewrites byte for byte."""
        self._write_lists(state)
        self._save(state)
        self._summary(state, resumed, time.monotonic() - started, final=False)

    def _write_lists(self, state: CrawlState) -> None:
        records = sorted(state.records, key=lambda r: (r["label"], r["url"]))
        self._manifest_sha256 = _write_csv(self.out / "manifest.csv", MANIFEST_FIELDS, records)
        _write_csv(self.out / "failures.csv", FAILURE_FIELDS, state.failures)
        _write_csv(self.out / "duplicates.csv", ("url", "duplicate_of", "sha256"), state.duplicates)

    def _finish(self, state: CrawlState, started: float, resumed: bool) -> None:
        referenced = {self.out / r["path"] for r in state.records}
        for path in self.images_dir.rglob("*") if self.images_dir.is_dir() else []:
            if path.is_file() and path not in referenced:  # written after the last checkpoint, then failed
                path.unlink()
        if state.stop_reason is None:
            state.stop("frontier_exhausted", f"every URL found was handled ({len(state.seen)} URLs)")
        state.records.sort(key=lambda r: (r["label"], r["url"]))
        self._write_lists(state)
        distance = self.config.politeness.near_duplicate_distance
        pairs = near_duplicate_pairs([r["phash"] for r in state.records], distance)
        _write_csv(self.out / "near_duplicates.csv", ("url", "near_duplicate_of", "distance"),
                   [{"url": state.records[j]["url"], "near_duplicate_of": state.records[i]["url"], "distance": d}
                    for i, j, d in pairs])
        state.done = True
        self._save(state)
        self._near_duplicates = len(pairs)

    def _summary(self, state: CrawlState, resumed: bool, seconds: float, final: bool = True) -> CrawlSummary:
        """The crawl report, written to ``summary.json``; near-duplicates (all pairs) only once it ended."""
        near_duplicates = None
        if final:
            near_duplicates = getattr(self, "_near_duplicates", None)
            if near_duplicates is None:
                near_duplicates = len(near_duplicate_pairs([r["phash"] for r in state.records],
                                                           self.config.politeness.near_duplicate_distance))
        manifest = self.out / "manifest.csv"
        if not self._manifest_sha256 and manifest.is_file():
            self._manifest_sha256 = sha256_bytes(manifest.read_bytes())
        summary = CrawlSummary(
            pages=state.counters.get("pages", 0),
            images=len(state.records),
            duplicates=len(state.duplicates),
            near_duplicates=near_duplicates,
            failures=dict(Counter(f["cause"] for f in state.failures)),
            requests=state.counters.get("requests", 0),
            retries=state.counters.get("retries", 0),
            seconds=seconds,
            resumed=resumed,
            classes=dict(sorted(Counter(r["label"] for r in state.records).items())),
            stop_reason=state.stop_reason if state.done else None,
            stops=[dict(s) for s in state.stops],
            pending=state.pending() + len(state.held) + len(state.deferred),
            complete=state.done and state.stop_reason == "frontier_exhausted",
            manifest_sha256=self._manifest_sha256,
        )
        atomic.write_json(self.out / "summary.json", asdict(summary))
        return summary


def _write_csv(path: Path, fields: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    """Write rows atomically; return the sha256 of the file written."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    text = buffer.getvalue()
    atomic.write_text(path, text)
    return sha256_bytes(text.encode("utf-8"))


def crawl(config: SiteConfig | dict[str, Any], out: str | Path, progress: bool = True) -> CrawlSummary:
    """Crawl a site into ``out`` (resuming whatever is already there) and return the summary."""
    if isinstance(config, dict):
        config = SiteConfig.from_dict(config)
    return Crawler(config, out, progress=progress).run()


def read_crawl_manifest(out: str | Path) -> list[dict[str, Any]]:
    """The rows of a crawl's ``manifest.csv``: every image saved, as of the last checkpoint or the end.

    Whether the crawl ended, and why, is in ``summary.json`` (:func:`load_summary`).
    """
    path = Path(out) / "manifest.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: the crawl has not reached its first checkpoint "
                                "(run it again to resume)")
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def load_summary(out: str | Path) -> dict[str, Any]:
    return json.loads((Path(out) / "summary.json").read_text())

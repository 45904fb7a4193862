"""The crawler: start pages -> category listings (with pagination) -> product pages -> images.

One thread walks the pages in order; images are downloaded ``concurrency`` at a time and handled in
queue order, so a crawl of the same site gives the same manifest whatever the timing.
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
from urllib.parse import parse_qs, urldefrag, urljoin, urlsplit

from bs4 import BeautifulSoup

try:
    import fcntl
except ImportError:  # Windows: no advisory lock, one crawl per folder is then up to the user
    fcntl = None
from tqdm.auto import tqdm

from toonlab import atomic
from toonlab.data.hashing import near_duplicate_pairs
from toonlab.data.scrape.config import SiteConfig
from toonlab.data.scrape.fetch import Fetcher, FetchError, Response, RobotsUnavailable
from toonlab.data.scrape.names import image_filename, inside, safe_label
from toonlab.data.scrape.state import CrawlState, Task, config_digest
from toonlab.data.scrape.validate import ImageInfo, RejectedImage, inspect_image

log = logging.getLogger(__name__)
MANIFEST_FIELDS = ("url", "label", "path", "sha256", "width", "height", "bytes", "format", "phash", "product",
                   "final_url", "time")


@dataclass
class CrawlSummary:
    pages: int
    images: int
    duplicates: int
    near_duplicates: int
    failures: dict[str, int]
    requests: int
    retries: int
    seconds: float
    resumed: bool
    classes: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        failures = ", ".join(f"{cause} {n}" for cause, n in sorted(self.failures.items())) or "none"
        return (
            f"pages {self.pages}, images {self.images} in {len(self.classes)} classes, duplicates {self.duplicates}, "
            f"near-duplicate pairs {self.near_duplicates}, failures: {failures}; {self.requests} requests "
            f"({self.retries} retries) in {self.seconds:.1f} s" + (" (resumed)" if self.resumed else "")
        )


@dataclass
class _Download:
    task: Task
    response: Response | None = None
    info: ImageInfo | None = None
    cause: str | None = None
    detail: str = ""
    attempts: int = 1
    time: str = ""


def _absolute(base: str, href: str | None) -> str | None:
    if not href:
        return None
    url, _fragment = urldefrag(urljoin(base, href.strip()))
    return url if url.startswith(("http://", "https://")) else None


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
                raise ValueError(
                    f"{self.out} holds a crawl of another site configuration; choose another output folder or delete it"
                )
            return state, True
        state = CrawlState(config_digest=digest)
        for url in self.config.start_urls:
            state.push(Task("start", url))
        self.out.mkdir(parents=True, exist_ok=True)
        state.save(self.state_path)
        return state, False

    # --- pages -----------------------------------------------------------------------------------

    def _fail(self, state: CrawlState, task: Task, cause: str, detail: str = "", attempts: int = 1) -> None:
        state.failures.append({"url": task.url, "kind": task.kind, "cause": cause, "detail": detail[:300],
                               "attempts": attempts, "referer": task.referer})

    def _soup(self, state: CrawlState, task: Task) -> BeautifulSoup | None:
        try:
            response = self.fetcher.get(task.url)
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

    def _links(self, soup: BeautifulSoup, base: str, selector: str, attr: str = "href") -> list[str]:
        urls = []
        for element in soup.select(selector):
            url = _absolute(base, element.get(attr))
            if url and url not in urls:
                urls.append(url)
        return urls

    def _label(self, soup: BeautifulSoup, task: Task) -> str | None:
        if self.config.label_selector:
            element = soup.select_one(self.config.label_selector)
            text = element.get_text(" ", strip=True) if element else ""
            if text:
                return text
        if self.config.label_url_param:
            values = parse_qs(urlsplit(task.url).query).get(self.config.label_url_param)
            if values:
                return values[0]
        return task.label

    def _handle_page(self, state: CrawlState, task: Task) -> None:
        soup = self._soup(state, task)
        if soup is None:
            return
        if task.kind == "start":
            for element in soup.select(self.config.category_links):
                url = _absolute(task.url, element.get("href"))
                if url:
                    state.push(Task("listing", url, element.get_text(" ", strip=True) or None, task.url))
        elif task.kind == "listing":
            label = self._label(soup, task)
            if label is None:
                self._fail(state, task, "no_label", "the label rule matched nothing")
                return
            for url in self._links(soup, task.url, self.config.product_links):
                limit = self.config.max_products
                if limit is not None and state.products >= limit:
                    break
                if state.push(Task("product", url, label, task.url)):
                    state.products += 1
            for url in self._links(soup, task.url, self.config.next_page):
                state.push(Task("listing", url, label, task.url))
        else:  # product
            found = 0
            for rule in self.config.image_links:
                for url in self._links(soup, task.url, rule.selector, rule.attr):
                    found += 1
                    state.push(Task("image", url, task.label, task.url))
            if not found:
                self._fail(state, task, "no_images", "no element matched the image selectors")

    # --- images ----------------------------------------------------------------------------------

    def _download(self, task: Task) -> _Download:
        """Worker thread: fetch and inspect, no shared state touched."""
        result = _Download(task, time=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        politeness = self.config.politeness
        try:
            result.response = self.fetcher.get(task.url, max_bytes=politeness.max_bytes)
            result.attempts = result.response.attempts
            result.info = inspect_image(result.response.content, result.response.content_type,
                                        politeness.formats, politeness.max_pixels)
        except FetchError as error:
            result.cause, result.detail, result.attempts = error.cause, error.detail, error.attempts
        except RejectedImage as error:
            result.cause, result.detail = error.cause, error.detail
        return result

    def _handle_image(self, state: CrawlState, result: _Download) -> None:
        task = result.task
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
        })

    # --- the loop --------------------------------------------------------------------------------

    def run(self) -> CrawlSummary:
        self._lock()
        try:
            return self._run()
        finally:
            self._unlock()

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
            while state.pending():
                batch = state.pop("image", politeness.concurrency * 4) if state.queues["image"] else state.pop()
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
                    self._checkpoint(state)
                    last_save, handled = time.monotonic(), 0
        bar.close()
        self._finish(state)
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
                self._checkpoint(state)
                raise CrawlPaused(
                    f"{error}. RFC 9309 treats the site as disallowed while its robots.txt cannot be read, so the "
                    f"crawl stopped before fetching anything; its state is saved in {self.out}. "
                    f"Run it again later to resume.") from error

    def _checkpoint(self, state: CrawlState) -> None:
        state.count("requests", self.fetcher.requests)
        state.count("retries", self.fetcher.retries)
        self.fetcher.requests = self.fetcher.retries = 0
        state.save(self.state_path)

    def _finish(self, state: CrawlState) -> None:
        referenced = {self.out / r["path"] for r in state.records}
        for path in self.images_dir.rglob("*") if self.images_dir.is_dir() else []:
            if path.is_file() and path not in referenced:  # written after the last checkpoint, then failed
                path.unlink()
        state.records.sort(key=lambda r: (r["label"], r["url"]))
        _write_csv(self.out / "manifest.csv", MANIFEST_FIELDS, state.records)
        _write_csv(self.out / "failures.csv", ("url", "kind", "cause", "detail", "attempts", "referer"), state.failures)
        _write_csv(self.out / "duplicates.csv", ("url", "duplicate_of", "sha256"), state.duplicates)
        distance = self.config.politeness.near_duplicate_distance
        pairs = near_duplicate_pairs([r["phash"] for r in state.records], distance)
        _write_csv(self.out / "near_duplicates.csv", ("url", "near_duplicate_of", "distance"),
                   [{"url": state.records[j]["url"], "near_duplicate_of": state.records[i]["url"], "distance": d}
                    for i, j, d in pairs])
        state.done = True
        self._checkpoint(state)
        self._near_duplicates = len(pairs)

    def _summary(self, state: CrawlState, resumed: bool, seconds: float) -> CrawlSummary:
        near = getattr(self, "_near_duplicates", None)
        if near is None:
            near = len(near_duplicate_pairs([r["phash"] for r in state.records],
                                            self.config.politeness.near_duplicate_distance))
        summary = CrawlSummary(
            pages=state.counters.get("pages", 0),
            images=len(state.records),
            duplicates=len(state.duplicates),
            near_duplicates=near,
            failures=dict(Counter(f["cause"] for f in state.failures)),
            requests=state.counters.get("requests", 0),
            retries=state.counters.get("retries", 0),
            seconds=seconds,
            resumed=resumed,
            classes=dict(sorted(Counter(r["label"] for r in state.records).items())),
        )
        atomic.write_json(self.out / "summary.json", asdict(summary))
        return summary


def _write_csv(path: Path, fields: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(path, buffer.getvalue())


def crawl(config: SiteConfig | dict[str, Any], out: str | Path, progress: bool = True) -> CrawlSummary:
    """Crawl a site into ``out`` (resuming whatever is already there) and return the summary."""
    if isinstance(config, dict):
        config = SiteConfig.from_dict(config)
    return Crawler(config, out, progress=progress).run()


def read_crawl_manifest(out: str | Path) -> list[dict[str, Any]]:
    """The rows of a finished crawl's ``manifest.csv``."""
    path = Path(out) / "manifest.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: the crawl has not finished (run it again to resume)")
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def load_summary(out: str | Path) -> dict[str, Any]:
    return json.loads((Path(out) / "summary.json").read_text())

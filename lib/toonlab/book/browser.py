"""The built HTML book checked the way readers see it: every page opened in headless Chromium.

``python -m toonlab.book check`` (and ``tests/test_book_browser.py``) serves ``_build/html`` on localhost,
opens every page of the table of contents and reports, per page:

- images that did not load (``naturalWidth == 0``) or that render empty (one flat colour);
- outputs that show a Python traceback or an ``...Error``;
- chapter pages without a figure or without a metric table (a table with numbers in it);
- chapter pages executed in ``ci`` that do not show the smoke label;
- Colab/Kaggle badges that do not point at the repository configured in ``_config.yml``;
- pages of our own (same origin) that failed to load a resource, in the browser's console;
- published pages that the table of contents does not list (Sphinx's index and search pages aside).

It saves a full-page screenshot of every chapter, so a person can look at them. The browser is Debian's
``chromium`` driven through its ``chromium-driver`` with Selenium (``.ci/install-browser`` installs both);
``TOONLAB_CHROMIUM`` and ``TOONLAB_CHROMEDRIVER`` point at another build (e.g. Chrome on GitHub's runners).

Images from other sites (the badges' SVGs) cannot load on an offline build machine: they are checked
only with ``online=True``; offline, an external image other than the two known badges is a problem
(a figure hot-linked from the web would break the book for offline readers); an image inlined as a
``data:`` URI is part of the page.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from toonlab import atomic
from toonlab.book.build import toc_files
from toonlab.book.repository import COLAB_BADGE, KAGGLE_BADGE, Repository

# Flags that make headless Chromium work in containers without a GPU or network: without the
# background-networking ones it opens connections of its own, which get refused many at a time.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1280,1000",
)
# Pages Sphinx and Jupyter Book publish beside the table of contents (index.html redirects to the root page).
SPHINX_PAGES = {"index.html", "genindex.html", "search.html", "py-modindex.html"}
# What marks an error in an output; the same pattern runs as a JavaScript RegExp in the page.
ERROR_IN_OUTPUT = re.compile(r"Traceback \(most recent call last\)|\b[A-Za-z]*Error\b")
PAGE_TIMEOUT_S = 30
IMAGE_WAIT_MS = 10_000  # per image, well inside the script timeout
# A rendered image whose pixels vary less than this (0–255 scale, over a 64x64 thumbnail) is empty.
BLANK_STD = 2.0


@dataclass(frozen=True)
class PageSpec:
    """A page the book must publish, and what it must show."""

    path: str  # relative to the HTML root, e.g. "book/chapters/03_gan.html"
    chapter: str | None = None  # "03_gan" for chapter pages
    smoke: bool = False  # executed in `ci`: the smoke label must show


@dataclass
class PageReport:
    path: str
    problems: list[str] = field(default_factory=list)
    images: int = 0
    figures: int = 0
    tables: int = 0
    external_images: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    seconds: float = 0.0


@dataclass
class BookReport:
    pages: list[PageReport]
    unlisted: list[str]  # published pages outside the table of contents
    seconds: float

    @property
    def problems(self) -> list[str]:
        found = [f"{page.path}: {problem}" for page in self.pages for problem in page.problems]
        found += [f"{path}: published but not in _toc.yml (exclude it in _config.yml's exclude_patterns)"
                  for path in self.unlisted]
        return found

    def summary(self) -> str:
        lines = [f"browser check of {len(self.pages)} pages in {self.seconds:.1f} s"]
        for page in self.pages:
            status = "ok" if not page.problems else f"{len(page.problems)} problem(s)"
            shot = f"  screenshot {page.screenshot}" if page.screenshot else ""
            lines.append(f"  {page.path:<36} {page.images:2d} img {page.figures:2d} fig {page.tables:2d} tables "
                         f"{page.seconds:5.1f} s  {status}{shot}")
        lines += [f"  PROBLEM {problem}" for problem in self.problems]
        return "\n".join(lines)


def expected_pages(root: Path) -> list[PageSpec]:
    """The pages ``_toc.yml`` lists; chapter pages know whether their executed notebook ran in ``ci``."""
    from toonlab.book.chapters import recorded_run

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    pages = []
    for entry in [toc["root"], *[e for e in toc_files(root) if e != toc["root"]]]:
        stem = Path(entry).name
        if entry.startswith("book/chapters/"):
            record = recorded_run(root / f"{entry}.ipynb") or {}
            # no recorded profile: demand the smoke label rather than skip the check
            pages.append(PageSpec(f"{entry}.html", chapter=stem, smoke=record.get("profile", "ci") == "ci"))
        else:
            pages.append(PageSpec(f"{entry}.html"))
    return pages


def unlisted_pages(html_dir: Path, pages: Sequence[PageSpec]) -> list[str]:
    """Published HTML pages that are neither in the table of contents nor Sphinx's own."""
    listed = {page.path for page in pages} | SPHINX_PAGES
    found = []
    for path in sorted(html_dir.rglob("*.html")):
        relative = path.relative_to(html_dir).as_posix()
        if relative.startswith(("_static/", "_sources/", "_images/")):
            continue
        if relative not in listed:
            found.append(relative)
    return found


def browser_executables() -> tuple[str, str]:
    chromium = os.environ.get("TOONLAB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("TOONLAB_CHROMEDRIVER") or shutil.which("chromedriver")
    if not chromium or not driver:
        raise FileNotFoundError(
            "the browser check needs Chromium and its chromedriver: run `bash .ci/install-browser` (Debian's "
            "chromium + chromium-driver), or set TOONLAB_CHROMIUM and TOONLAB_CHROMEDRIVER"
        )
    return chromium, driver


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on an ephemeral localhost port (same origin: canvases can read our images)."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # one line per request would bury the report
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def chromium() -> Iterator["object"]:
    """A headless Chromium session with a fresh profile, closed (and its profile removed) afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = browser_executables()
    with tempfile.TemporaryDirectory(prefix="toonlab-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
        try:
            driver.set_page_load_timeout(PAGE_TIMEOUT_S)
            driver.set_script_timeout(PAGE_TIMEOUT_S)
            yield driver
        finally:
            driver.quit()


# Runs in the page once it has loaded: waits for every image, then measures what a reader sees.
# Written as one script so a page costs one round trip.
PAGE_PROBE = r"""
const done = arguments[arguments.length - 1];
const errorPattern = new RegExp(arguments[0]);
const imageWaitMs = arguments[1];
const main = document.querySelector('main') || document.querySelector('article') || document.body;
const images = Array.from(document.images);
images.forEach(img => { img.loading = 'eager'; });
Promise.all(images.map(img => img.complete ? null :
    new Promise(resolve => {  // an image that never settles is reported as not loaded, not a crashed check
      img.addEventListener('load', resolve); img.addEventListener('error', resolve); setTimeout(resolve, imageWaitMs);
    })))
.then(() => {
  const canvas = document.createElement('canvas');
  canvas.width = 64; canvas.height = 64;
  const context = canvas.getContext('2d', {willReadFrequently: true});
  // An image inlined as a data: URI (the GIFs) is part of the page: as offline-safe as our own files.
  const sameOrigin = url => url.startsWith('data:') || new URL(url, location.href).origin === location.origin;
  const pixelStd = img => {
    context.clearRect(0, 0, 64, 64);
    context.fillStyle = '#ffffff'; context.fillRect(0, 0, 64, 64);  // transparent areas read as paper
    context.drawImage(img, 0, 0, 64, 64);
    const data = context.getImageData(0, 0, 64, 64).data;
    let sum = 0, sumSq = 0, n = 0;
    for (let i = 0; i < data.length; i += 4) {
      for (let c = 0; c < 3; c++) { const v = data[i + c]; sum += v; sumSq += v * v; n++; }
    }
    const mean = sum / n;
    return Math.sqrt(Math.max(0, sumSq / n - mean * mean));
  };
  const imageReports = images.map(img => {
    const local = sameOrigin(img.currentSrc || img.src);
    const loaded = img.complete && img.naturalWidth > 0;
    const inOutput = !!img.closest('.cell_output, figure, .figure');
    return {src: img.getAttribute('src'), url: img.currentSrc || img.src, local, loaded, inOutput,
            std: (loaded && local) ? pixelStd(img) : null};
  });
  const outputs = Array.from(main.querySelectorAll('.cell_output, .output'));
  const errors = [];
  outputs.forEach(out => {
    const text = out.innerText || '';
    const match = text.match(errorPattern);
    if (match || out.matches('.traceback, .error, .stderr'))
      errors.push((match ? match[0] + ': ' : '') + text.trim().slice(0, 160).replace(/\s+/g, ' '));
  });
  // a metric table: numbers in its cells and a profile label ("ours · <profile> · <weights>", results.profile_label)
  const tables = Array.from(main.querySelectorAll('table')).filter(
      table => Array.from(table.querySelectorAll('td')).some(td => /\d/.test(td.innerText))
               && /ours · /.test(table.innerText));
  const smokeTables = tables.filter(table => /\(smoke/.test(table.innerText)).length;
  const links = Array.from(document.querySelectorAll('a[href]')).map(a => a.href)
      .filter(href => /colab\.research\.google\.com|kaggle\.com\/kernels/.test(href));
  done({images: imageReports, errors: Array.from(new Set(errors)), metricTables: tables.length, smokeTables,
        text: main.innerText || '', launchLinks: links});
}).catch(error => done({fatal: String(error)}));
"""


def check_page(driver, base_url: str, page: PageSpec, repo: Repository, online: bool = False,
               screenshot_dir: Path | None = None) -> PageReport:
    start = time.perf_counter()
    report = PageReport(page.path)
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(base_url + page.path)
    probe = driver.execute_async_script(PAGE_PROBE, ERROR_IN_OUTPUT.pattern, IMAGE_WAIT_MS)
    if "fatal" in probe:
        report.problems.append(f"the page probe failed: {probe['fatal']}")
        return report
    title = driver.title
    if re.search(r"\b404\b|Error response", title):
        report.problems.append(f"the page did not load: {title!r}")

    known_badges = {COLAB_BADGE, KAGGLE_BADGE}
    for image in probe["images"]:
        report.images += 1
        if not image["local"]:
            report.external_images.append(image["url"])
            if online and not image["loaded"]:
                report.problems.append(f"image {image['url']} did not load (naturalWidth 0)")
            elif not online and image["url"] not in known_badges:
                report.problems.append(f"image {image['url']} is hot-linked from another site (offline readers "
                                       f"and this check cannot load it); copy it into the book")
            continue
        if not image["loaded"]:
            report.problems.append(f"image {image['src']} did not load (naturalWidth 0)")
        elif image["std"] is not None and image["std"] < BLANK_STD:
            report.problems.append(f"image {image['src']} renders empty (one flat colour, pixel std "
                                   f"{image['std']:.2f})")
        elif image["inOutput"]:
            report.figures += 1
    report.problems += [f"an output shows an error: {text}" for text in probe["errors"]]
    report.tables = probe["metricTables"]

    for entry in driver.get_log("browser"):
        message = entry.get("message", "")
        # Our own resources that failed to load and uncaught script errors; not the themes' console.error
        # notes, nor /favicon.ico, which the browser asks for on its own (the book links none).
        broken = "Failed to load resource" in message or "Uncaught" in message
        if entry.get("level") == "SEVERE" and base_url in message and broken and "/favicon.ico" not in message:
            report.problems.append(f"browser console: {message[:200]}")

    expected_links = set()
    if page.chapter:
        expected_links = {repo.colab_url(page.chapter), repo.kaggle_url(page.chapter)}
        if report.figures == 0:
            report.problems.append("chapter shows no figure")
        if report.tables == 0:
            report.problems.append("chapter shows no metric table (numbers beside an `ours · <profile>` label)")
        if page.smoke and not probe["smokeTables"]:  # prose mentions "smoke" anyway: the label must sit in a table
            report.problems.append("chapter was executed in `ci` but shows no smoke label")
        missing = expected_links - set(probe["launchLinks"])
        if missing:
            report.problems.append(f"launch badges missing or not pointing at {repo.url}: expected {sorted(missing)}")
    stray = sorted(set(probe["launchLinks"]) - expected_links)
    if stray:
        report.problems.append(f"launch links that do not point at this page's notebook in {repo.url}: {stray}")

    if screenshot_dir is not None and page.chapter:
        report.screenshot = full_page_screenshot(driver, screenshot_dir / f"{page.chapter}.png")
    report.seconds = time.perf_counter() - start
    return report


def full_page_screenshot(driver, target: Path, width: int = 1280) -> Path:
    """The whole page, not just the viewport: the window is made as tall as the page for one capture.

    (Capturing beyond the viewport with a clip shifts sticky-layout pages such as the book theme's.)
    """
    height = int(driver.execute_script(
        "return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)"))
    height = min(height, 30000)  # very long pages: the first 30,000 px
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    try:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    atomic.write_bytes(target, base64.b64decode(shot["data"]))
    return target


def check_book(html_dir: Path, pages: Sequence[PageSpec], repo: Repository, screenshot_dir: Path | None = None,
               online: bool = False) -> BookReport:
    """Open every page in ``pages`` in headless Chromium; see the module docstring for what is checked."""
    html_dir = Path(html_dir)
    if not (html_dir / "index.html").is_file():
        raise FileNotFoundError(f"{html_dir} holds no built book (no index.html); run `make book` first")
    start = time.perf_counter()
    reports = []
    with serve(html_dir) as base_url, chromium() as driver:
        for page in pages:
            if not (html_dir / page.path).is_file():
                reports.append(PageReport(page.path, [f"listed in _toc.yml but not published ({page.path} missing)"]))
                continue
            reports.append(check_page(driver, base_url, page, repo, online, screenshot_dir))
    return BookReport(reports, unlisted_pages(html_dir, pages), time.perf_counter() - start)


def write_report(report: BookReport, target: Path) -> Path:
    """The check's findings as JSON beside the screenshots, for whoever looks at them."""
    return atomic.write_text(target, json.dumps({
        "seconds": round(report.seconds, 2),
        "problems": report.problems,
        "pages": [{"path": p.path, "images": p.images, "figures": p.figures, "tables": p.tables,
                   "external_images": p.external_images, "seconds": round(p.seconds, 2),
                   "screenshot": str(p.screenshot) if p.screenshot else None, "problems": p.problems}
                  for p in report.pages],
    }, indent=2) + "\n")

"""A local fixture shop: an OpenCart-style catalogue on 127.0.0.1 that serves faults on purpose.

ToyHollyWood scraped an OpenCart toy shop (``index.php?route=product/category&path=N&page=K`` ->
product pages -> images). This server imitates that markup so the real crawler can be tested and
demonstrated offline, and it misbehaves deliberately (:data:`FAULTS`): 500s, responses slower than
the crawler's timeout, malformed HTML, non-images behind image URLs, a truncated JPEG, the same image
under two URLs, a near-duplicate, a redirect loop, a path robots.txt disallows, an oversized file
(with and without Content-Length) and a hostile file name. Every request is logged (path, time,
User-Agent) so tests can check politeness.

    with FixtureShop(products, faults=True) as shop:
        crawl(fixture_site_config(shop.base_url), out)
"""

from __future__ import annotations

import html
import io
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import numpy as np
from PIL import Image, ImageDraw

from toonlab.data.images import to_rgb_on_white

FAULTS = (
    "server_error_transient",  # a category page fails twice with 500, then works (retry must recover)
    "server_error_permanent",  # a product page always answers 500 (give up, record http_500)
    "slow",  # an image answers after longer than the crawler's timeout
    "malformed_html",  # a product page with broken markup (the image must still be found)
    "garbage_page",  # a product page that is binary garbage (no images: recorded)
    "not_image",  # an image URL serving HTML (text/html) and one serving HTML labelled image/jpeg
    "truncated_jpeg",  # half a JPEG
    "duplicate",  # the same bytes under a second URL
    "near_duplicate",  # a re-encoded, slightly brighter copy
    "redirect",  # an image behind one harmless redirect (must be followed)
    "redirect_loop",  # /image/loop/a -> b -> a ...
    "robots_disallow",  # an image under /private/, which robots.txt disallows
    "oversized",  # larger than the crawler's byte limit, with Content-Length
    "oversized_chunked",  # the same without Content-Length (the limit must hold while streaming)
    "hostile_name",  # an image whose decoded file name is ../../etc/x.jpg
    "hostile_label",  # a category called ../../etc
)
FAULT_CATEGORY = "Clearance"
ROBOTS_TXT = "User-agent: *\nDisallow: /private/\n"


@dataclass
class Product:
    name: str
    label: str
    images: list[bytes]  # served as image/jpeg or image/png according to their magic bytes


@dataclass
class _Route:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    delay: float = 0.0
    location: str | None = None
    fail_first: int = 0  # answer ``fail_status`` this many times before answering normally
    fail_status: int = 500
    fail_headers: dict[str, str] | None = None  # e.g. Retry-After on a 429 or 503
    chunked: bool = False


@dataclass
class RequestRecord:
    path: str
    time: float
    user_agent: str


def toy_image(label_index: int, index: int, size: int = 64, fmt: str = "JPEG") -> bytes:
    """A small deterministic picture: background hue per class, a shape that varies per product."""
    rng = np.random.default_rng(1000 * label_index + index)
    hue = (label_index * 47) % 256
    image = Image.new("HSV", (size, size), (hue, 90, 230)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        x0, y0 = rng.integers(0, size // 2, 2)
        x1, y1 = x0 + rng.integers(size // 4, size // 2), y0 + rng.integers(size // 4, size // 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((int(x0), int(y0), int(x1), int(y1)), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, quality=90) if fmt == "JPEG" else image.save(buffer, format=fmt)
    return buffer.getvalue()


def toy_products(classes: int = 3, per_class: int = 5) -> list[Product]:
    """Generated products for tests: ``classes`` x ``per_class``, one JPEG each."""
    return [
        Product(f"toy {c}-{i}", f"class-{c}", [toy_image(c, i)])
        for c in range(classes)
        for i in range(per_class)
    ]


def _content_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"GIF8"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"


def _page(title: str, body: str) -> bytes:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
        f"{html.escape(title)}</title></head><body>{body}</body></html>"
    ).encode()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A crawler that hangs up (timeout, size limit) is part of the test, not a server error.
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class FixtureShop:
    """Serve ``products`` as an OpenCart-like shop on 127.0.0.1 (a free port), optionally with every fault."""

    def __init__(self, products: Sequence[Product], per_page: int = 12, faults: bool | Sequence[str] = True,
                 latency: float = 0.0, slow_seconds: float = 2.0, oversized_bytes: int = 3 * 2**20) -> None:
        if not products:
            raise ValueError("the fixture shop needs at least one product")
        self.faults = set(FAULTS if faults is True else (faults or ()))
        unknown = self.faults - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {list(FAULTS)}")
        self.per_page = per_page
        self.latency = latency
        self.slow_seconds = slow_seconds
        self.oversized_bytes = oversized_bytes
        self.requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._served: Counter[str] = Counter()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.labels: list[str] = sorted({p.label for p in products})
        if self.faults - {"server_error_transient", "hostile_label"}:
            self.labels.append(FAULT_CATEGORY)
        if "hostile_label" in self.faults:
            self.labels.append("../../etc")
        self.products = list(products)
        self.routes: dict[str, _Route] = {}
        self.expected: dict[str, Any] = {}
        self._build()

    # --- the catalogue ----------------------------------------------------------------------------

    def _image_url(self, product_id: int, index: int, data: bytes) -> str:
        ext = "png" if data.startswith(b"\x89PNG") else "jpg"
        return f"/image/catalog/product/{product_id}-{index}.{ext}"

    def _build(self) -> None:
        faults = self.faults
        by_label: dict[str, list[tuple[int, Product, list[str]]]] = {label: [] for label in self.labels}
        accepted: list[str] = []  # image URLs a correct crawler keeps
        failures: dict[str, str] = {}  # URL -> cause a correct crawler records
        duplicates: dict[str, str] = {}
        for pid, product in enumerate(self.products, start=1):
            urls = []
            for index, data in enumerate(product.images):
                url = self._image_url(pid, index, data)
                self.routes[url] = _Route(body=data, content_type=_content_type(data))
                urls.append(url)
                accepted.append(url)
            by_label[product.label].append((pid, product, urls))

        first_label = FAULT_CATEGORY  # the fault products are sold in their own category
        next_id = len(self.products) + 1
        sample = self.products[0].images[0]

        def extra(label: str, name: str, image_urls: list[str], page: bytes | None = None) -> int:
            nonlocal next_id
            pid, next_id = next_id, next_id + 1
            by_label[label].append((pid, Product(name, label, []), image_urls))
            if page is not None:
                self.routes[self._product_path(pid)] = _Route(body=page)
            return pid

        if "server_error_permanent" in faults:
            pid = extra(first_label, "always failing product", [])
            self.routes[self._product_path(pid)] = _Route(status=500, body=_page("error", "<h1>500</h1>"))
            failures[self._product_path(pid)] = "http_500"
        if "slow" in faults:
            url = "/image/catalog/slow/sloth.jpg"
            self.routes[url] = _Route(body=toy_image(90, 1), content_type="image/jpeg", delay=self.slow_seconds)
            extra(first_label, "slow product", [url])
            failures[url] = "timeout"
        if "malformed_html" in faults:
            url = "/image/catalog/malformed/ok.jpg"
            self.routes[url] = _Route(body=toy_image(91, 1), content_type="image/jpeg")
            broken = (
                "<html><body><div class='product'><h1>Broken <b>markup<ul class=thumbnails><li>"
                f"<a class='thumbnail' href='{url}'><img src='{url}'></a><li><<<>>\x00 <p><table><tr></div>"
            ).encode()
            extra(first_label, "malformed product", [url], page=broken)
            accepted.append(url)
        if "garbage_page" in faults:
            pid = extra(first_label, "garbage product", [], page=bytes(range(256)) * 8)
            failures[self._product_path(pid)] = "no_images"
        if "not_image" in faults:
            html_url, lying_url = "/image/catalog/fake/page.jpg", "/image/catalog/fake/lying.jpg"
            self.routes[html_url] = _Route(body=_page("not an image", "<p>hello</p>"))
            self.routes[lying_url] = _Route(body=_page("still not", "<p>hi</p>"), content_type="image/jpeg")
            extra(first_label, "fake images", [html_url, lying_url])
            failures[html_url] = failures[lying_url] = "not_image"
        if "truncated_jpeg" in faults:
            url = "/image/catalog/broken/half.jpg"
            whole = toy_image(92, 1, size=96)
            self.routes[url] = _Route(body=whole[: len(whole) // 2], content_type="image/jpeg")
            extra(first_label, "truncated product", [url])
            failures[url] = "truncated"
        if "duplicate" in faults:
            url = "/image/catalog/copies/same-bytes.jpg"
            self.routes[url] = _Route(body=sample, content_type=_content_type(sample))
            extra(FAULT_CATEGORY, "duplicate product", [url])
            duplicates[url] = self._image_url(1, 0, sample)
        if "near_duplicate" in faults:
            url = "/image/catalog/copies/brighter.jpg"
            picture = to_rgb_on_white(Image.open(io.BytesIO(sample)))
            brighter = Image.eval(picture, lambda v: min(255, v + 6))
            buffer = io.BytesIO()
            brighter.save(buffer, format="JPEG", quality=80)
            self.routes[url] = _Route(body=buffer.getvalue(), content_type="image/jpeg")
            extra(FAULT_CATEGORY, "near duplicate product", [url])
            accepted.append(url)
            self.expected["near_duplicate_of"] = {url: self._image_url(1, 0, sample)}
        if "redirect" in faults:
            url, target = "/image/catalog/moved/old.jpg", "/image/catalog/moved/new.jpg"
            self.routes[url] = _Route(status=302, location=target)
            self.routes[target] = _Route(body=toy_image(93, 1), content_type="image/jpeg")
            extra(first_label, "moved product", [url])
            accepted.append(url)
        if "redirect_loop" in faults:
            self.routes["/image/loop/a.jpg"] = _Route(status=302, location="/image/loop/b.jpg")
            self.routes["/image/loop/b.jpg"] = _Route(status=302, location="/image/loop/a.jpg")
            extra(first_label, "looping product", ["/image/loop/a.jpg"])
            failures["/image/loop/a.jpg"] = "redirect_loop"
        if "robots_disallow" in faults:
            url = "/private/secret.jpg"
            self.routes[url] = _Route(body=toy_image(94, 1), content_type="image/jpeg")
            extra(first_label, "private product", [url])
            failures[url] = "robots_disallowed"
        if "oversized" in faults or "oversized_chunked" in faults:
            rng = np.random.default_rng(7)
            side = int((self.oversized_bytes / 3) ** 0.5) + 1
            noise = Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))
            buffer = io.BytesIO()
            noise.save(buffer, format="PNG", compress_level=1)
            big = buffer.getvalue()
            for fault, chunked in (("oversized", False), ("oversized_chunked", True)):
                if fault in faults:
                    url = f"/image/catalog/big/{fault}.png"
                    self.routes[url] = _Route(body=big, content_type="image/png", chunked=chunked)
                    extra(first_label, f"{fault} product", [url])
                    failures[url] = "oversized"
        if "hostile_name" in faults:
            url = "/image/catalog/" + quote("../../etc/x.jpg", safe="")
            self.routes[url] = _Route(body=toy_image(95, 1), content_type="image/jpeg")
            extra(first_label, "hostile product", [url])
            accepted.append(url)
        if "hostile_label" in faults:
            url = "/image/catalog/etc/passwd.jpg"
            self.routes[url] = _Route(body=toy_image(96, 1), content_type="image/jpeg")
            extra("../../etc", "hostile label product", [url])
            accepted.append(url)

        self._by_label = by_label
        for cid, label in enumerate(self.labels, start=1):
            items = by_label[label]
            pages = max(1, -(-len(items) // self.per_page))
            for page in range(1, pages + 1):
                chunk = items[(page - 1) * self.per_page: page * self.per_page]
                route = _Route(body=self._category_page(cid, label, chunk, page, pages))
                if page == 1 and cid == 1 and "server_error_transient" in faults:
                    route.fail_first = 2
                self.routes[self._category_path(cid, page)] = route
            for pid, product, urls in items:
                path = self._product_path(pid)
                if path not in self.routes:
                    self.routes[path] = _Route(body=self._product_page(cid, label, product, urls))
        self.routes["/"] = self.routes["/index.php"] = _Route(body=self._home_page())
        self.routes["/robots.txt"] = _Route(body=ROBOTS_TXT.encode(), content_type="text/plain")
        self.expected.update(accepted=accepted, failures=failures, duplicates=duplicates)

    @staticmethod
    def _category_path(cid: int, page: int) -> str:
        suffix = "" if page == 1 else f"&page={page}"
        return f"/index.php?route=product/category&path={cid}{suffix}"

    @staticmethod
    def _product_path(pid: int) -> str:
        return f"/index.php?route=product/product&product_id={pid}"

    def _home_page(self) -> bytes:
        links = "".join(
            f"<li><a href='{html.escape(self._category_path(cid, 1))}'>{html.escape(label)}</a></li>"
            for cid, label in enumerate(self.labels, start=1)
        )
        return _page("Toy shop", f"<nav id='menu'><ul class='nav navbar-nav'>{links}</ul></nav>")

    def _category_page(self, cid: int, label: str, items: list, page: int, pages: int) -> bytes:
        thumbs = "".join(
            "<div class='product-layout'><div class='product-thumb'><div class='caption'>"
            f"<h4><a href='{html.escape(self._product_path(pid))}'>{html.escape(product.name)}</a></h4>"
            "</div></div></div>"
            for pid, product, _ in items
        )
        links = []
        for number in range(1, pages + 1):
            href = html.escape(self._category_path(cid, number))
            links.append(f"<li class='active'><span>{number}</span></li>" if number == page
                         else f"<li><a href='{href}'>{number}</a></li>")
        if page < pages:
            links.append(f"<li><a href='{html.escape(self._category_path(cid, page + 1))}'>&gt;</a></li>")
        crumbs = ("<ul class='breadcrumb'><li><a href='/index.php'>Home</a></li>"
                  f"<li><a href='#'>{html.escape(label)}</a></li></ul>")
        return _page(label, f"{crumbs}<h2>{html.escape(label)}</h2><div class='row'>{thumbs}</div>"
                            f"<ul class='pagination'>{''.join(links)}</ul>")

    def _product_page(self, cid: int, label: str, product: Product, urls: list[str]) -> bytes:
        thumbs = "".join(
            f"<li><a class='thumbnail' href='{html.escape(url)}'><img src='{html.escape(url)}' alt=''></a></li>"
            for url in urls
        )
        return _page(product.name, f"<h1>{html.escape(product.name)}</h1><ul class='thumbnails'>{thumbs}</ul>")

    # --- serving ---------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        shop = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                with shop._lock:
                    shop.requests.append(RequestRecord(self.path, time.monotonic(), self.headers.get("User-Agent", "")))
                    shop._served[self.path] += 1
                    count = shop._served[self.path]
                if shop.latency:
                    time.sleep(shop.latency)
                route = shop.routes.get(_canonical(self.path))
                if route is None:
                    self._send(404, b"not found", "text/plain")
                    return
                if route.delay:
                    time.sleep(route.delay)
                if count <= route.fail_first:
                    self._send(route.fail_status, _page("error", "<h1>try again</h1>"), "text/html",
                               headers=route.fail_headers)
                    return
                if route.location:
                    self.send_response(route.status)
                    self.send_header("Location", route.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._send(route.status, route.body, route.content_type, chunked=route.chunked)

            def _send(self, status: int, body: bytes, content_type: str, chunked: bool = False,
                      headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    if chunked:
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        for start in range(0, len(body), 65536):
                            piece = body[start:start + 65536]
                            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                        self.wfile.write(b"0\r\n\r\n")
                    else:
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the crawler gave up on this response (timeout, size limit): expected

        return Handler

    def start(self) -> str:
        if self._server is None:
            self._server = _QuietServer(("127.0.0.1", 0), self._handler())
            self._server.daemon_threads = True
            self._thread = threading.Thread(target=self._server.serve_forever, name="fixture-shop", daemon=True)
            self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fixture shop is not running; call start() or use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "FixtureShop":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requested(self, prefix: str) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.requests if _canonical(r.path).startswith(prefix)]


_QUERY_ORDER = {"route": 0, "path": 1, "product_id": 2, "page": 3}


def _canonical(path: str) -> str:
    # Query parameters in a stable order so "path=1&route=..." finds the same page.
    parts = urlsplit(path)
    if not parts.query:
        return parts.path
    query = parse_qs(parts.query, keep_blank_values=True)
    ordered = "&".join(f"{k}={v[0]}" for k, v in sorted(query.items(), key=lambda kv: _QUERY_ORDER.get(kv[0], 9)))
    return f"{parts.path}?{ordered}"


def emoji_products(limit: int | None = None, seed: int = 0) -> list[Product]:
    """The ``emoji`` source as shop products: one Twemoji PNG each, the emoji category as the toy class."""
    from toonlab.data.registry import get_spec
    from toonlab.data.sources.base import read_checked
    from toonlab.data.sources.emoji import EmojiSource, twemoji_assets

    assets = twemoji_assets()
    entries = EmojiSource(get_spec("emoji"))._entries()
    if limit is not None and limit < len(entries):
        entries = [entries[i] for i in sorted(random.Random(seed).sample(range(len(entries)), limit))]
    return [Product(entry.attributes["name"], entry.label,
                    [read_checked(assets / entry.path, entry.sha256, entry.path)]) for entry in entries]


def fixture_site_config(base_url: str, **politeness: Any) -> dict[str, Any]:
    """The crawler's site configuration for the fixture shop (the same selectors as data/sites/toyhollywood.yaml)."""
    return {
        "name": "fixture-shop",
        "start_urls": [f"{base_url}/index.php"],
        "category_links": "#menu a",
        "next_page": "ul.pagination a",
        "product_links": ".product-thumb h4 a",
        "image_links": [{"selector": "ul.thumbnails a.thumbnail", "attr": "href"}],
        "label": {"selector": "h2"},
        "politeness": politeness,
    }

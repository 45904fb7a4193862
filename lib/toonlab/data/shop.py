"""A local fixture shop: an OpenCart-style catalogue on 127.0.0.1 that serves faults on purpose.

ToyHollyWood scraped an OpenCart toy shop (``index.php?route=product/category&path=N&page=K`` ->
product pages -> images). This server imitates that markup so the real crawler can be tested and
demonstrated offline, and it misbehaves deliberately (:data:`FAULTS`): 500s, responses slower than
the crawler's timeout, malformed HTML, non-images behind image URLs, a truncated JPEG, the same image
under two URLs, a near-duplicate, a redirect loop, a path robots.txt disallows, an oversized file
(with and without Content-Length), a hostile file name, images only in ``srcset`` or a lazy
``<picture>``, and listings that never end: endless pagination, a last page that links to itself
under a new query string, and links whose tracking parameter changes on every request. Every request
is logged (path, time, User-Agent) so tests can check politeness.

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
from collections.abc import Callable, Sequence
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
    "srcset_only",  # a product whose image is only in <img srcset> (100w thumbnail, protocol-relative 1024w)
    "picture_lazy",  # a product whose image is in <picture><source data-srcset 1x, 2x> with a lazy <img data-src>
    "endless_pagination",  # category "Endless": past its last page, every page repeats it and links one further
    "self_linking_last_page",  # category "Self-linking": its last page links to itself with &sort=...&order=...
    "changing_tracking_parameter",  # category "Tracked": every link carries utm_source and a new shopsid
)
FAULT_CATEGORY = "Clearance"
# Faults that are a category of their own (with ``per_page + 1`` good products, two real pages).
PAGINATION_FAULTS = {"endless_pagination": "Endless", "self_linking_last_page": "Self-linking",
                     "changing_tracking_parameter": "Tracked"}
OWN_CATEGORY_FAULTS = {"server_error_transient", "hostile_label", *PAGINATION_FAULTS}
# Query parameters the shop ignores when it looks a page up (as a real shop would).
IGNORED_PARAMS = ("utm_source", "shopsid", "sort", "order")
PLACEHOLDER_GIF = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
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
    render: Callable[[str], bytes] | None = None  # body made per request from the Host header (replaces body)


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
        if self.faults - OWN_CATEGORY_FAULTS:
            self.labels.append(FAULT_CATEGORY)
        if "hostile_label" in self.faults:
            self.labels.append("../../etc")
        self.labels += [label for fault, label in PAGINATION_FAULTS.items() if fault in self.faults]
        self._hits = 0  # requests served: the changing tracking parameter's value
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

        never_requested: list[str] = []  # smaller srcset candidates and lazy placeholders: must not be fetched
        if "srcset_only" in faults:
            small, big = "/image/catalog/srcset/toy-100x100.png", "/image/catalog/srcset/toy,full.png"
            self.routes[small] = _Route(body=toy_image(97, 1, size=16, fmt="PNG"), content_type="image/png")
            self.routes[big] = _Route(body=toy_image(97, 2, size=96, fmt="PNG"), content_type="image/png")
            # The case: a thumbnail with a width descriptor, then a protocol-relative full-size URL
            # (with a comma in it, which is why srcset cannot be split on commas).
            page = ("<h1>srcset product</h1><ul class='thumbnails'><li>"
                    f"<img alt='' src='{PLACEHOLDER_GIF}' srcset='{small} 100w, //{{host}}{big} 1024w'></li></ul>")
            pid = extra(first_label, "srcset product", [big])
            self.routes[self._product_path(pid)] = _Route(render=lambda host, page=page: _page(
                "srcset product", page.replace("{host}", host)))
            accepted.append(big)
            never_requested.append(small)
        if "picture_lazy" in faults:
            urls = {f"/image/catalog/picture/toy-{w}.jpg": toy_image(98, w, size=w // 8) for w in (160, 320, 640)}
            for url, data in urls.items():
                self.routes[url] = _Route(body=data, content_type="image/jpeg")
            page = ("<h1>picture product</h1><ul class='thumbnails'><li><picture>"
                    "<source type='image/jpeg' data-srcset='/image/catalog/picture/toy-320.jpg 1x, "
                    "/image/catalog/picture/toy-640.jpg 2x'>"
                    f"<img alt='' src='{PLACEHOLDER_GIF}' data-src='/image/catalog/picture/toy-160.jpg'>"
                    "</picture></li></ul>")
            extra(first_label, "picture product", ["/image/catalog/picture/toy-640.jpg"],
                  page=_page("picture product", page))
            accepted.append("/image/catalog/picture/toy-640.jpg")
            never_requested += ["/image/catalog/picture/toy-160.jpg", "/image/catalog/picture/toy-320.jpg"]
        for index, (fault, label) in enumerate(PAGINATION_FAULTS.items()):
            if fault in faults:  # two real pages of good products, then the fault
                for i in range(self.per_page + 1):
                    url = f"/image/catalog/{fault}/{i}.jpg"
                    self.routes[url] = _Route(body=toy_image(110 + index, i), content_type="image/jpeg")
                    extra(label, f"{label} toy {i}", [url])
                    accepted.append(url)

        self._by_label = by_label
        labels_of = {url: label for label, items in by_label.items() for _, _, urls in items for url in urls}
        self._pages: dict[int, int] = {}
        for cid, label in enumerate(self.labels, start=1):
            items = by_label[label]
            pages = max(1, -(-len(items) // self.per_page))
            self._pages[cid] = pages
            for page in range(1, pages + 1):
                route = self._category_route(cid, label, page)
                if page == 1 and cid == 1 and "server_error_transient" in faults:
                    route.fail_first = 2
                self.routes[self._category_path(cid, page)] = route
            for pid, product, urls in items:
                path = self._product_path(pid)
                if path not in self.routes:
                    self.routes[path] = _Route(body=self._product_page(cid, label, product, urls))
        self.routes["/"] = self.routes["/index.php"] = _Route(render=lambda host: self._home_page())
        self.routes["/robots.txt"] = _Route(body=ROBOTS_TXT.encode(), content_type="text/plain")
        self.expected.update(accepted=accepted, failures=failures, duplicates=duplicates,
                             labels={url: labels_of[url] for url in accepted}, never_requested=never_requested,
                             stale_categories=[self._category_path(self.labels.index(PAGINATION_FAULTS[f]) + 1, 1)
                                               for f in ("endless_pagination",) if f in faults])

    # Paths are spelled with the query sorted by key, the crawler's canonical form, so that the URLs a test
    # expects are the URLs the crawler records - except in the Tracked category, whose links keep OpenCart's
    # natural order (route first), as a real shop's do: the crawler must fetch them as spelled.
    @staticmethod
    def _category_path(cid: int, page: int) -> str:
        prefix = "" if page == 1 else f"page={page}&"
        return f"/index.php?{prefix}path={cid}&route=product/category"

    @staticmethod
    def _product_path(pid: int) -> str:
        return f"/index.php?product_id={pid}&route=product/product"

    def _natural(self, path: str, label: str) -> str:
        """``path`` in OpenCart's own query order (``route`` first) for the Tracked category's links."""
        if PAGINATION_FAULTS["changing_tracking_parameter"] != label or \
                "changing_tracking_parameter" not in self.faults:
            return path
        base, query = path.split("?", 1)
        pieces = query.split("&")
        return base + "?" + "&".join(sorted(pieces, key=lambda piece: not piece.startswith("route=")))

    def _tracking(self, label: str) -> str:
        """The changing tracking parameters of the Tracked category's links (a new shopsid per request)."""
        if PAGINATION_FAULTS["changing_tracking_parameter"] != label or \
                "changing_tracking_parameter" not in self.faults:
            return ""
        with self._lock:
            self._hits += 1
            return f"&utm_source=feed&shopsid={self._hits:06d}"

    def _home_page(self) -> bytes:
        links = "".join(
            f"<li><a href='{html.escape(self._natural(self._category_path(cid, 1), label) + self._tracking(label))}'>"
            f"{html.escape(label)}</a></li>"
            for cid, label in enumerate(self.labels, start=1)
        )
        return _page("Toy shop", f"<nav id='menu'><ul class='nav navbar-nav'>{links}</ul></nav>")

    def _category_route(self, cid: int, label: str, page: int) -> _Route:
        if "changing_tracking_parameter" in self.faults and label == PAGINATION_FAULTS["changing_tracking_parameter"]:
            return _Route(render=lambda host: self._category_page(cid, label, page))
        return _Route(body=self._category_page(cid, label, page))

    def _category_page(self, cid: int, label: str, page: int) -> bytes:
        items, pages = self._by_label[label], self._pages[cid]
        endless = "endless_pagination" in self.faults and label == PAGINATION_FAULTS["endless_pagination"]
        shown = min(page, pages)  # past the last page an endless listing repeats the last page (as some shops do)
        chunk = items[(shown - 1) * self.per_page: shown * self.per_page]
        thumbs = "".join(
            "<div class='product-layout'><div class='product-thumb'><div class='caption'>"
            f"<h4><a href='{html.escape(self._natural(self._product_path(pid), label) + self._tracking(label))}'>"
            f"{html.escape(product.name)}</a></h4></div></div></div>"
            for pid, product, _ in chunk
        )
        links = []
        last = page + 1 if endless else pages
        for number in range(1, last + 1):
            href = html.escape(self._natural(self._category_path(cid, number), label) + self._tracking(label))
            links.append(f"<li class='active'><span>{number}</span></li>" if number == page
                         else f"<li><a href='{href}'>{number}</a></li>")
        if page < last:
            href = self._natural(self._category_path(cid, page + 1), label) + self._tracking(label)
            links.append(f"<li><a href='{html.escape(href)}'>&gt;</a></li>")
        elif "self_linking_last_page" in self.faults and label == PAGINATION_FAULTS["self_linking_last_page"]:
            # OpenCart-style: the last page's "next" is itself with sort and order added, in another order.
            href = f"/index.php?route=product/category&path={cid}&page={page}&sort=p.sort_order&order=ASC"
            links.append(f"<li><a href='{html.escape(href)}'>&gt;</a></li>")
        crumbs = ("<ul class='breadcrumb'><li><a href='/index.php'>Home</a></li>"
                  f"<li><a href='#'>{html.escape(label)}</a></li></ul>")
        return _page(label, f"{crumbs}<h2>{html.escape(label)}</h2><div class='row'>{thumbs}</div>"
                            f"<ul class='pagination'>{''.join(links)}</ul>")

    def _dynamic_route(self, path: str) -> _Route | None:
        """Pages that exist without a route: the endless category's pages past its last one."""
        if "endless_pagination" not in self.faults:
            return None
        query = parse_qs(urlsplit(path).query)
        cid = self.labels.index(PAGINATION_FAULTS["endless_pagination"]) + 1
        if query.get("route") != ["product/category"] or query.get("path") != [str(cid)]:
            return None
        page = query.get("page", ["1"])[0]
        if not page.isdigit() or int(page) < 1:
            return None
        return _Route(body=self._category_page(cid, PAGINATION_FAULTS["endless_pagination"], int(page)))

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
                route = shop.routes.get(_canonical(self.path)) or shop._dynamic_route(_canonical(self.path))
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
                body = route.render(self.headers.get("Host", "")) if route.render else route.body
                self._send(route.status, body, route.content_type, chunked=route.chunked)

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


def _canonical(path: str) -> str:
    # The shop's own lookup key: query sorted by key, parameters that select nothing (IGNORED_PARAMS) left out.
    parts = urlsplit(path)
    pieces = sorted((p for p in parts.query.split("&") if p and p.split("=", 1)[0] not in IGNORED_PARAMS),
                    key=lambda p: p.split("=", 1)[0])
    return f"{parts.path}?{'&'.join(pieces)}" if pieces else parts.path


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
        "image_links": [{"selector": "ul.thumbnails a.thumbnail", "attr": "href"},
                        # an <img srcset> inside <picture> belongs to the picture rule: one rendition, not two
                        {"selector": "ul.thumbnails img[srcset]:not(picture img), ul.thumbnails picture",
                         "attr": "auto"}],
        "label": {"selector": "h2"},
        "drop_params": ["shopsid"],  # the shop's own session parameter (utm_source is on the built-in list)
        "politeness": politeness,
    }

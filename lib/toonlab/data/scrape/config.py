"""A site's crawl configuration - the reference. Loaded from YAML (``data/sites/*.yaml``) or a dict.

The crawl is a fixed walk: start pages -> category listings (and their pagination) -> product pages ->
images. Every key, with its default::

    name: toyhollywood                      # required; names the crawl in logs and reports
    start_urls: [https://www.toyhollywood.com/index.php]
    category_links: "#menu a"               # on start pages: links to category listings
    next_page: "ul.pagination a"            # on listings: links to the other pages of the listing
    product_links: ".product-thumb h4 a"    # on listings: links to product pages
    image_links:                            # on product pages: where the full-size images are
      - {selector: "ul.thumbnails a.thumbnail", attr: href}
      - {selector: "ul.thumbnails img[srcset]:not(picture img), ul.thumbnails picture", attr: auto}
    label: {selector: "h2", fallback: link_text}   # the class label: see "The label rule" below
    drop_params: [shopsid]                  # more query parameters to ignore (see "URLs" below)
    drop_default_params: true               # also ignore the built-in tracking/session list ...
    keep_params: []                         # ... except these names
    max_products: null                      # stop after this many product pages (a partial crawl)
    limits: {max_pages: 50000, max_requests: 250000, max_pages_per_category: 1000, stale_pages: 3}
    politeness: {delay: 1.0, concurrency: 2, timeout: 20, retries: 3, ...}   # see Politeness

**The label rule.** Every product takes the label of the listing page that first linked to it; a
listing page's label is decided in this order, and the first that gives a non-empty text wins:

1. ``label.selector``: the text of the first element matching this CSS selector on the listing page
   (whitespace collapsed);
2. ``label.url_param``: the value of this query parameter of the listing page's URL;
3. the fallback, ``label.fallback: link_text`` (the default): the text of the category link on the
   start page that led to this listing - kept along the listing's pagination, so page 7 of "Funko Pop"
   falls back to "Funko Pop" too. ``fallback: none`` turns it off.

A listing page none of them labels is recorded as a failure with cause ``no_label`` and its products are
not followed. The manifest says which step labelled each image (column ``label_from``: ``selector``,
``url_param`` or ``link_text``), so a selector that silently stopped matching shows up there.

**Image rules.** ``attr`` is an attribute name (``href``, ``src``, ``data-src`` ...), a ``*srcset``
attribute (parsed as the HTML standard says, the largest candidate taken: by ``w`` descriptor, else by
``x``), or ``auto``: ``<a>`` -> ``href``; ``<img>`` -> the largest of ``srcset``, ``data-srcset``,
``data-lazy-srcset`` and the lazy-loading attributes ``data-src``, ``data-lazy-src``, ``data-original``,
then ``src``; ``<picture>`` -> every ``<source srcset>`` and its ``<img>``. Unfetchable candidates
(``data:`` placeholders, ``blob:``, empty) are dropped before the largest is chosen
(:mod:`toonlab.data.scrape.srcset`).

**URLs.** Every link is made absolute and canonical before the visited check and before it is fetched
(:mod:`toonlab.data.scrape.urls`): lower-case scheme and host, no default port, no fragment, no
``;jsessionid=``, the query sorted by key, and tracking/session parameters removed - the built-in list
(``utm_*``, ``gclid``, ``fbclid``, ``sessionid``, ``PHPSESSID`` ...) plus ``drop_params`` (exact names,
or ``prefix*``), less ``keep_params`` (names of the built-in list this site needs, e.g. a ``cfid`` that
selects content). The canonical URL is the visited key; the URL fetched is the one found on the page
(a signed CDN URL must keep its query as it was).

A parameter that changes on every request and is on neither list makes every link look new. Whether
``limits.stale_pages`` still ends such a category depends on the shop: it counts products new to the
category by their *path* (no query) as long as the category's listings show that paths tell products
apart (``/product/toy-1?trk=...``), so repeats are seen and the category ends; on a shop whose products
differ only in the query (OpenCart's ``index.php?product_id=...``) it compares whole URLs, and only
``limits.max_pages_per_category`` ends the category - put the parameter in ``drop_params``.

**When the crawl stops** (every stop is recorded, with its reason, in ``summary.json`` and the summary
text; :data:`toonlab.data.scrape.crawler.STOP_REASONS`):

* ``frontier_exhausted``: every URL found was handled - the normal end;
* ``max_products``: that many product pages were queued; no further listing page is read, the queued
  products and their images are still fetched;
* ``limits.max_pages``: HTML page fetches attempted (start, listing, product), a budget for the whole
  crawl - a page that failed counts, and so does each round a page waits for an unreachable robots.txt;
* ``limits.max_requests``: HTTP requests of any kind, retries and robots.txt included;
* per category (the crawl goes on with the other categories): ``stale_pages`` - after this many listing
  pages in a row (along a chain of "next" links) brought no product new to *this* category (a product
  listed by another category first still counts, so cross-listed categories reach their own pages; see
  "URLs" for how a product is recognised), their "next" links are not followed
  (endless or calendar-style pagination, a last page linking to itself under a new query string);
  ``max_pages_per_category`` - at most this many listing pages per category are queued;
* ``robots_unavailable`` (per host): see :class:`Politeness`.

A crawl stopped by ``max_products``, ``max_pages`` or ``max_requests`` resumes when it is run again with
a larger limit (the limits are not part of the crawl's identity); ``manifest.csv`` is rewritten at every
checkpoint, so a crawl stopped for any reason - or killed - leaves a usable, checksummed manifest.
"""


from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from toonlab import __version__
from toonlab.project import REPOSITORY_URL

USER_AGENT = f"toonlab-scraper/{__version__} (+{REPOSITORY_URL}; research crawler; honours robots.txt)"


class SiteConfigError(ValueError):
    """The site configuration is incomplete or inconsistent."""


@dataclass(frozen=True)
class Politeness:
    """How hard the crawler may hit a site, and what it accepts.

    **robots.txt on hosts it cannot reach.** RFC 9309 (2.3.1.3) asks a crawler to treat a site whose
    robots.txt answers 5xx, or not at all, as fully disallowed *for now*. For the start pages' host the
    crawl stops at once with its state saved (:class:`~toonlab.data.scrape.crawler.CrawlPaused`). For any
    other host (an image CDN) its URLs wait: robots.txt is asked again after ``robots_cooldown`` seconds,
    for at most ``robots_rounds`` rounds (each round is ``retries`` attempts with backoff), while the rest
    of the crawl goes on; URLs still waiting after the last round are recorded as failures with cause
    ``robots_unavailable`` and a ``robots_unavailable`` stop for that host, never as disallowed. Running
    the finished crawl again asks for those URLs again (the same bounded rounds); nothing else is redone.
    """

    delay: float = 1.0  # seconds between two requests to the same host (robots.txt Crawl-delay wins if longer)
    concurrency: int = 2  # parallel image downloads
    timeout: float = 20.0  # seconds per request (connect and each read)
    retries: int = 3  # attempts per URL on timeouts, connection errors, 429 and 5xx
    backoff: float = 1.0  # first retry waits this long, then doubles
    max_redirects: int = 5
    max_bytes: int = 10 * 2**20  # larger files are skipped as oversized
    max_pixels: int = 40_000_000  # decompression-bomb guard
    user_agent: str = USER_AGENT
    formats: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF")
    near_duplicate_distance: int = 6  # perceptual-hash Hamming distance reported as a near-duplicate
    checkpoint_every: int = 50  # save the resumable state (and the manifest) after this many handled URLs ...
    checkpoint_seconds: float = 10.0  # ... or this many seconds, whichever comes first
    robots_cooldown: float = 30.0  # seconds before an unreachable robots.txt (not the start host's) is asked again
    robots_rounds: int = 3  # how many times URLs wait for such a robots.txt before they are recorded as failed

    def __post_init__(self) -> None:
        for name in ("delay", "timeout", "backoff", "checkpoint_seconds", "robots_cooldown"):
            if getattr(self, name) < 0:
                raise SiteConfigError(f"politeness.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("concurrency", "retries", "max_bytes", "max_pixels", "checkpoint_every", "robots_rounds"):
            if getattr(self, name) < 1:
                raise SiteConfigError(f"politeness.{name} must be >= 1, got {getattr(self, name)}")
        if not self.user_agent.strip():
            raise SiteConfigError("politeness.user_agent must identify the crawler")


@dataclass(frozen=True)
class Limits:
    """Termination guarantees: budgets that end a crawl whatever the shop does (see the module docstring)."""

    max_pages: int = 50_000  # HTML page fetches attempted in the whole crawl (failed ones too)
    max_requests: int = 250_000  # HTTP requests of any kind (retries and robots.txt included)
    max_pages_per_category: int = 1_000  # listing pages queued per category
    stale_pages: int = 3  # stop following "next" after this many listing pages in a row with no new product URL

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SiteConfigError(f"limits.{f.name} must be an int >= 1, got {value!r}")


LABEL_FALLBACKS = ("link_text", "none")


@dataclass(frozen=True)
class ImageRule:
    selector: str
    attr: str = "href"  # an attribute, a *srcset attribute, or auto (see the module docstring)


@dataclass(frozen=True)
class SiteConfig:
    name: str
    start_urls: tuple[str, ...]
    category_links: str
    next_page: str
    product_links: str
    image_links: tuple[ImageRule, ...]
    label_selector: str | None = None
    label_url_param: str | None = None
    label_fallback: str = "link_text"  # link_text | none
    politeness: Politeness = field(default_factory=Politeness)
    limits: Limits = field(default_factory=Limits)
    max_products: int | None = None  # stop after this many product pages (a partial crawl)
    drop_params: tuple[str, ...] = ()  # query parameters ignored in URLs, besides the built-in list
    drop_default_params: bool = True
    keep_params: tuple[str, ...] = ()  # names of the built-in drop list this site needs kept

    @classmethod
    def from_dict(cls, raw: dict[str, Any], **overrides: Any) -> "SiteConfig":
        raw = {**raw, **overrides}
        required = ("name", "start_urls", "category_links", "next_page", "product_links", "image_links", "label")
        missing = [k for k in required if not raw.get(k)]
        if missing:
            raise SiteConfigError(f"site configuration lacks {missing}; see toonlab.data.scrape.config for the format")
        known_keys = {*required, "politeness", "limits", "max_products", "drop_params", "drop_default_params",
                      "keep_params"}
        unknown_keys = sorted(set(raw) - known_keys)
        if unknown_keys:
            raise SiteConfigError(f"unknown site settings {unknown_keys}; known: {sorted(known_keys)}")
        starts = raw["start_urls"]
        if isinstance(starts, str):
            starts = [starts]
        for url in starts:
            if not str(url).startswith(("http://", "https://")):
                raise SiteConfigError(f"start URL {url!r} must be an http(s) URL")
        rules = raw["image_links"]
        if isinstance(rules, (str, dict)):
            rules = [rules]
        image_rules = tuple(ImageRule(r) if isinstance(r, str) else ImageRule(r["selector"], r.get("attr", "href"))
                            for r in rules)
        label = raw["label"]
        if not isinstance(label, dict) or not ({"selector", "url_param"} & set(label)):
            raise SiteConfigError("label must be {selector: CSS} (text on the listing page) and/or {url_param: NAME}, "
                                  "optionally with fallback: link_text | none")
        fallback = str(label.get("fallback", "link_text"))
        if fallback not in LABEL_FALLBACKS:
            raise SiteConfigError(f"label.fallback must be one of {list(LABEL_FALLBACKS)}, got {fallback!r}")
        max_products = raw.get("max_products")
        if max_products is not None and (not isinstance(max_products, int) or isinstance(max_products, bool)
                                         or max_products < 1):
            raise SiteConfigError(f"max_products must be null or an int >= 1, got {max_products!r}")
        drop_defaults = raw.get("drop_default_params", True)
        if not isinstance(drop_defaults, bool):  # the string "false" would be truthy
            raise SiteConfigError(f"drop_default_params must be true or false, got {drop_defaults!r}")
        drop, keep = _names(raw, "drop_params"), _names(raw, "keep_params")
        return cls(
            name=str(raw["name"]),
            start_urls=tuple(str(u) for u in starts),
            category_links=str(raw["category_links"]),
            next_page=str(raw["next_page"]),
            product_links=str(raw["product_links"]),
            image_links=image_rules,
            label_selector=label.get("selector"),
            label_url_param=label.get("url_param"),
            label_fallback=fallback,
            politeness=_section(Politeness, "politeness", raw.get("politeness")),
            limits=_section(Limits, "limits", raw.get("limits")),
            max_products=max_products,
            drop_params=drop,
            drop_default_params=drop_defaults,
            keep_params=keep,
        )

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> "SiteConfig":
        path = Path(path)
        if not path.is_file():
            raise SiteConfigError(f"site configuration {path} does not exist")
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise SiteConfigError(f"{path} must be a mapping (see toonlab.data.scrape.config)")
        return cls.from_dict(raw, **overrides)


def _names(raw: dict[str, Any], key: str) -> tuple[str, ...]:
    """A list of query parameter names (a single name may be given as a string)."""
    names = raw.get(key) or []
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list):
        raise SiteConfigError(f"{key} must be a list of query parameter names, got {names!r}")
    return tuple(str(name) for name in names)


def _section(cls: type, name: str, raw: dict[str, Any] | None) -> Any:
    values = dict(raw or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SiteConfigError(f"unknown {name} settings {unknown}; known: {sorted(known)}")
    if "formats" in values:
        values["formats"] = tuple(values["formats"])
    return cls(**values)

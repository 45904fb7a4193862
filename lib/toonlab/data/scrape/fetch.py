"""Polite HTTP: robots.txt, a per-host delay, retries with backoff, manual redirects, a byte limit.

Redirects are followed by hand so every hop is checked against robots.txt and loops are caught;
bodies are streamed so an oversized file is abandoned at the limit whether or not the server sent a
Content-Length. Everything that can go wrong ends as a :class:`FetchError` with a short ``cause``
(``timeout``, ``http_500``, ``redirect_loop``, ``robots_disallowed``, ``oversized`` ...), which the
crawler counts in its summary.
"""

from __future__ import annotations

import threading
import time
import urllib.robotparser
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import requests

from toonlab.data.scrape.config import Politeness

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
CHUNK = 64 * 1024


class FetchError(Exception):
    """A URL could not be fetched; ``cause`` is a short machine-readable reason."""

    def __init__(self, url: str, cause: str, detail: str = "", attempts: int = 1) -> None:
        super().__init__(f"{url}: {cause}" + (f" ({detail})" if detail else ""))
        self.url = url
        self.cause = cause
        self.detail = detail
        self.attempts = attempts


class RobotsUnavailable(FetchError):
    """robots.txt answered 5xx or not at all, after retries. RFC 9309 2.3.1.3 asks a crawler to treat the
    site as fully disallowed meanwhile; it is a passing state, so the verdict is not cached: the host is
    asked again once ``politeness.robots_cooldown`` has passed (until then this is raised at once)."""


@dataclass
class Response:
    url: str  # the final URL, after the redirects listed in ``redirects``
    status: int
    content_type: str
    content: bytes
    location: str | None = None
    retry_after: float | None = None
    attempts: int = 1
    redirects: list[str] = field(default_factory=list)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (either form of RFC 9110), or None."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def origin(url: str) -> str:
    """``scheme://host[:port]``: what robots.txt and the politeness delay apply to."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Fetcher:
    """Fetch URLs politely; safe to call from several threads."""

    def __init__(self, politeness: Politeness, sleep=time.sleep, clock=time.monotonic) -> None:
        self.politeness = politeness
        self._sleep = sleep
        self._clock = clock
        self._local = threading.local()
        self._lock = threading.Lock()
        self._robots: dict[str, urllib.robotparser.RobotFileParser | None] = {}
        self._robots_lock = threading.Lock()
        self._robots_down: dict[str, float] = {}  # origin -> clock time when its robots.txt may be asked again
        self._next_slot: dict[str, float] = {}
        self._delay: dict[str, float] = {}
        self.requests = 0
        self.retries = 0

    # --- plumbing --------------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = self.politeness.user_agent
            session.trust_env = False  # no proxies or netrc credentials from the environment
            self._local.session = session
        return session

    def _wait_turn(self, url: str) -> None:
        """Space requests to one host by the delay (robots.txt Crawl-delay if longer)."""
        host = origin(url)
        delay = max(self.politeness.delay, self._delay.get(host, 0.0))
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot.get(host, now))
            self._next_slot[host] = slot + delay
            self.requests += 1
        if slot > now:
            self._sleep(slot - now)

    def wait(self, seconds: float) -> None:
        """Sleep as this fetcher does (its ``sleep`` goes with its ``clock``: a test may replace both)."""
        if seconds > 0:
            self._sleep(seconds)

    # --- robots.txt (RFC 9309) -------------------------------------------------------------------

    def robots(self, url: str) -> urllib.robotparser.RobotFileParser | None:
        """The parsed robots.txt of ``url``'s site; ``None`` means everything is allowed."""
        host = origin(url)
        with self._robots_lock:
            if host in self._robots:
                return self._robots[host]
            wait = self._robots_down.get(host, 0.0) - self._clock()
            if wait > 0:  # asked recently and unreachable: do not hammer it for every URL
                raise RobotsUnavailable(host + "/robots.txt", "robots_unavailable",
                                        f"still cooling down, asked again in {wait:.1f} s", 0)
            parser = urllib.robotparser.RobotFileParser(host + "/robots.txt")
            try:
                status, text = self._robots_txt(host + "/robots.txt")
            except RobotsUnavailable:
                self._robots_down[host] = self._clock() + self.politeness.robots_cooldown
                raise
            self._robots_down.pop(host, None)
            if status >= 400:  # 4xx: 5xx and 429 were retried, then raised
                parser = None  # 2.3.1.2: no robots.txt -> no restrictions
            else:
                parser.parse(text.splitlines())
                crawl_delay = parser.crawl_delay(self.politeness.user_agent)
                if crawl_delay:
                    self._delay[host] = float(crawl_delay)
            self._robots[host] = parser
            return parser

    def _robots_txt(self, url: str) -> tuple[int, str]:
        """(status, text) of robots.txt, retried with backoff like any page (redirects followed, as the
        RFC asks); raises RobotsUnavailable when it stays 5xx or unreachable."""
        try:
            response = self._with_retries(url, 512 * 1024, allow_redirects=True)
        except FetchError as error:
            cause = f"HTTP {error.cause[5:]}" if error.cause.startswith("http_") else error.cause
            raise RobotsUnavailable(url, "robots_unavailable", f"{cause} after {error.attempts} tries",
                                    error.attempts) from error
        return response.status, response.content.decode("utf-8", "replace")

    def robots_wait(self, url: str) -> float:
        """Seconds until ``url``'s host's unreachable robots.txt may be asked again (0: now)."""
        return max(0.0, self._robots_down.get(origin(url), 0.0) - self._clock())

    def allowed(self, url: str) -> bool:
        parser = self.robots(url)
        return parser is None or parser.can_fetch(self.politeness.user_agent, url)

    # --- fetching --------------------------------------------------------------------------------

    def _get_once(self, url: str, allow_redirects: bool, max_bytes: int) -> Response:
        self._wait_turn(url)
        timeout = self.politeness.timeout
        try:
            with self._session().get(url, stream=True, timeout=(timeout, timeout),
                                     allow_redirects=allow_redirects) as response:
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise FetchError(url, "oversized", f"Content-Length {declared} > {max_bytes}")
                body = bytearray()
                deadline = self._clock() + 4 * timeout  # a server that drips bytes still ends
                for chunk in response.iter_content(CHUNK):
                    body.extend(chunk)
                    if len(body) > max_bytes:
                        raise FetchError(url, "oversized", f"more than {max_bytes} bytes")
                    if self._clock() > deadline:
                        raise FetchError(url, "timeout", "body took too long")
                return Response(url, response.status_code, response.headers.get("Content-Type", ""), bytes(body),
                                location=response.headers.get("Location"),
                                retry_after=_retry_after(response.headers.get("Retry-After")))
        except requests.exceptions.Timeout as error:
            raise FetchError(url, "timeout", str(error)) from error
        except requests.exceptions.ConnectionError as error:
            cause = "timeout" if "timed out" in str(error).lower() else "connection"
            raise FetchError(url, cause, str(error)) from error
        except requests.exceptions.RequestException as error:
            raise FetchError(url, "request", str(error)) from error

    def get(self, url: str, max_bytes: int | None = None) -> Response:
        """GET ``url``: robots-checked, spaced, retried, redirects followed by hand; raises FetchError."""
        max_bytes = max_bytes or self.politeness.max_bytes
        chain: list[str] = []
        current = url
        for _hop in range(self.politeness.max_redirects + 1):
            if not self.allowed(current):
                raise FetchError(url, "robots_disallowed", current)
            response = self._with_retries(current, max_bytes)
            if response.status in (301, 302, 303, 307, 308):
                target = urljoin(current, response.location) if response.location else ""
                if not target:
                    raise FetchError(url, "bad_redirect", f"{response.status} without Location")
                chain.append(current)
                if target in chain:
                    raise FetchError(url, "redirect_loop", " -> ".join(chain + [target]), response.attempts)
                current = target
                continue
            response.redirects = chain
            if response.status >= 400:
                raise FetchError(url, f"http_{response.status}", "", response.attempts)
            return response
        raise FetchError(url, "too_many_redirects", " -> ".join(chain))

    def _with_retries(self, url: str, max_bytes: int, allow_redirects: bool = False) -> Response:
        attempts = self.politeness.retries
        last: FetchError | None = None
        for attempt in range(1, attempts + 1):
            wait = self.politeness.backoff * 2 ** (attempt - 1)
            try:
                hop = self._get_once(url, allow_redirects=allow_redirects, max_bytes=max_bytes)
            except FetchError as error:
                if error.cause not in ("timeout", "connection"):
                    error.attempts = attempt
                    raise
                last = error
            else:
                if hop.status not in RETRYABLE_STATUS:
                    hop.attempts = attempt
                    return hop
                last = FetchError(url, f"http_{hop.status}", "", attempt)
                if hop.retry_after is not None:
                    wait = max(wait, min(hop.retry_after, 60.0))
            if attempt < attempts:
                with self._lock:
                    self.retries += 1
                self._sleep(wait)
        assert last is not None
        last.attempts = attempts
        raise last

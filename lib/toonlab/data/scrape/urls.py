"""URL canonicalisation: one spelling per page, so the visited check sees through tracking parameters.

Shops decorate links with parameters that change nothing on the page but change on every request:
analytics tags (``utm_*``, ``gclid``), session ids (``PHPSESSID``, ``sessionid``, ``;jsessionid=``). Without
canonicalisation every listing page links to "new" pages for ever. :func:`canonical_url`:

* lower-cases the scheme and host, drops the default port and the fragment;
* removes a ``;jsessionid=...`` path parameter;
* removes query parameters on the drop list (:data:`DEFAULT_DROP_PARAMS` plus the site's own
  ``drop_params``, less its ``keep_params``; names compare case-insensitively, a trailing ``*`` matches
  a prefix);
* sorts the remaining ``key=value`` pairs by key, keeping the order of repeated keys and each pair's
  original percent-encoding (re-encoding could turn ``route=product/category`` into another URL).

The canonical URL is only the visited key: the crawler fetches the URL as the page spelled it, since a
signed CDN URL (``?Expires=..&Signature=..``) stops working when its query is reordered or trimmed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote_plus, urlsplit, urlunsplit

# Parameters that never select content: analytics/campaign tags and session ids. Deliberately absent:
# page, sort, order, limit, filter - they change what a listing shows - and plain ``sid``, which too many
# sites use for a content id (a store, a section). A site can keep any of these with ``keep_params``.
DEFAULT_DROP_PARAMS: tuple[str, ...] = (
    "utm_*", "gclid", "gbraid", "wbraid", "dclid", "fbclid", "msclkid", "yclid", "twclid", "igshid",
    "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "srsltid",
    "sessionid", "session_id", "phpsessid", "jsessionid", "aspsessionid*", "cfid", "cftoken", "oscsid",
    "zenid",
)
_JSESSIONID = re.compile(r";jsessionid=[^/?#]*", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}


class DropList:
    """Which query parameters :func:`canonical_url` removes (exact names and ``prefix*`` patterns)."""

    def __init__(self, names: Iterable[str]) -> None:
        cleaned = [str(name).strip().lower() for name in names if str(name).strip()]
        self.exact = frozenset(n for n in cleaned if not n.endswith("*"))
        self.prefixes = tuple(n[:-1] for n in cleaned if n.endswith("*"))

    def __contains__(self, key: str) -> bool:
        key = key.lower()
        return key in self.exact or any(key.startswith(prefix) for prefix in self.prefixes)


def drop_list(extra: Iterable[str] = (), defaults: bool = True, keep: Iterable[str] = ()) -> DropList:
    """The built-in list (unless ``defaults`` is false) plus ``extra``, without the names in ``keep``."""
    kept = {str(name).strip().lower() for name in keep}
    built_in = [name for name in DEFAULT_DROP_PARAMS if name not in kept] if defaults else []
    return DropList([*built_in, *extra])


def canonical_url(url: str, drop: DropList | None = None) -> str:
    """The canonical spelling of an absolute http(s) URL (see the module docstring)."""
    drop = drop if drop is not None else drop_list()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: leave the URL alone, the fetch will report it
        return url
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    if parts.username or parts.password:  # kept: unusual, but it selects what the server returns
        credentials = parts.username or ""
        credentials += f":{parts.password}" if parts.password else ""
        netloc = f"{credentials}@{netloc}"
    path = _JSESSIONID.sub("", parts.path) or "/"
    pairs = [piece for piece in parts.query.split("&") if piece]
    kept = [piece for piece in pairs if unquote_plus(piece.split("=", 1)[0]) not in drop]
    kept.sort(key=lambda piece: unquote_plus(piece.split("=", 1)[0]))  # stable: repeated keys keep their order
    return urlunsplit((scheme, netloc, path, "&".join(kept), ""))

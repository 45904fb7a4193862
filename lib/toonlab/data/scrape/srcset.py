"""Image URLs in HTML: ``srcset`` parsed as the HTML standard says, ``<picture>``, lazy-loading attributes.

``srcset`` is a list of *image candidate strings*: a URL and optional descriptors (``100w`` a width in
pixels, ``2x`` a pixel density), separated by commas - but a URL may itself contain commas, so it
cannot be split on ``,``. :func:`parse_srcset` follows the WHATWG algorithm "parse a srcset attribute"
(HTML Living Standard, 4.8.4.3.10); candidates with invalid descriptors are dropped as the standard
says. Written here because no maintained library parses srcset (BeautifulSoup hands back the string).

:func:`image_candidates` collects what an element offers for a rule's ``attr``:

* an attribute name (``href``, ``src``, ``data-src`` ...): that attribute's URL;
* a name ending in ``srcset`` (``srcset``, ``data-srcset``): the parsed candidates;
* ``auto``: by element - ``<a>``: ``href``; ``<img>``: ``srcset``, ``data-srcset``, ``data-lazy-srcset``
  and the single-URL lazy attributes ``data-src``, ``data-lazy-src``, ``data-original`` and ``src``;
  ``<source>``: the three srcset attributes; ``<picture>``: every ``<source>`` and its ``<img>``.

Candidates no crawler can fetch - empty, ``data:`` or ``blob:`` URLs - are dropped before one is chosen.

:func:`largest` chooses one: the largest width descriptor if any candidate has one, else the largest
density (a URL without descriptors counts as ``1x``). Lazy-loading scripts leave a placeholder in ``src``
or ``srcset`` (often a ``data:`` URL, dropped as above) and the real picture in a ``data-*`` attribute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bs4 import Tag

_WHITESPACE = " \t\n\r\f"  # ASCII whitespace as the standard defines it
# Used with fullmatch: ``$`` would let a trailing newline through. A valid floating-point number needs a
# digit after the dot ("1." is not one).
_INTEGER = re.compile(r"[0-9]+")
_FLOAT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
LAZY_ATTRIBUTES = ("data-src", "data-lazy-src", "data-original")
SRCSET_ATTRIBUTES = ("srcset", "data-srcset", "data-lazy-srcset")
# Schemes a crawler cannot fetch: lazy-loading placeholders (``data:``) and page-local objects (``blob:``).
UNFETCHABLE_SCHEMES = ("data:", "blob:")


@dataclass(frozen=True)
class Candidate:
    url: str
    width: int | None = None  # the ``w`` descriptor
    density: float | None = None  # the ``x`` descriptor


def _descriptors(text: str, position: int) -> tuple[list[str], int]:
    """The descriptor tokenizer of the standard: tokens up to the next comma outside parentheses."""
    tokens: list[str] = []
    current = ""
    state = "in descriptor"
    while True:
        char = text[position] if position < len(text) else ""
        if state == "in descriptor":
            if char and char in _WHITESPACE:
                if current:
                    tokens.append(current)
                    current = ""
                state = "after descriptor"
            elif char == ",":
                position += 1
                if current:
                    tokens.append(current)
                return tokens, position
            elif char == "(":
                current += char
                state = "in parens"
            elif not char:
                if current:
                    tokens.append(current)
                return tokens, position
            else:
                current += char
        elif state == "in parens":
            if char == ")":
                current += char
                state = "in descriptor"
            elif not char:
                tokens.append(current)
                return tokens, position
            else:
                current += char
        else:  # after descriptor
            if char and char in _WHITESPACE:
                pass
            elif not char:
                return tokens, position
            else:
                state = "in descriptor"
                continue  # reconsume this character in the descriptor state
        position += 1


def _candidate(url: str, tokens: list[str]) -> Candidate | None:
    width = density = height = None
    for token in tokens:
        value, kind = token[:-1], token[-1:]
        if kind == "w" and width is None and density is None and _INTEGER.fullmatch(value) and int(value) > 0:
            width = int(value)
        elif kind == "x" and width is None and density is None and height is None and _FLOAT.fullmatch(value) \
                and float(value) >= 0:
            density = float(value)
        elif kind == "h" and height is None and density is None and _INTEGER.fullmatch(value) and int(value) > 0:
            height = int(value)  # future-compat descriptor: allowed only beside a width
        else:
            return None  # an invalid descriptor drops the whole candidate
    if height is not None and width is None:
        return None
    return Candidate(url, width, density)


def parse_srcset(value: str | None) -> list[Candidate]:
    """The image candidates of a ``srcset`` attribute value, in order (invalid ones dropped)."""
    text = value or ""
    candidates: list[Candidate] = []
    position = 0
    while True:
        while position < len(text) and (text[position] in _WHITESPACE or text[position] == ","):
            position += 1
        if position >= len(text):
            return candidates
        start = position
        while position < len(text) and text[position] not in _WHITESPACE:
            position += 1
        url = text[start:position]
        tokens: list[str] = []
        if url.endswith(","):
            url = url.rstrip(",")  # a URL ending in commas has no descriptors
        else:
            tokens, position = _descriptors(text, position)
        candidate = _candidate(url, tokens)
        if candidate is not None and url:
            candidates.append(candidate)


def largest(candidates: list[Candidate]) -> Candidate | None:
    """The biggest candidate: by width descriptor if any has one, else by density (none given = 1x)."""
    if not candidates:
        return None
    widths = [c for c in candidates if c.width is not None]
    if widths:
        return max(widths, key=lambda c: c.width)  # max keeps the first of equals
    return max(candidates, key=lambda c: 1.0 if c.density is None else c.density)


def _single(element: Tag, attr: str) -> list[Candidate]:
    value = element.get(attr)
    if isinstance(value, list):  # BeautifulSoup splits multi-valued attributes such as class
        value = " ".join(value)
    return [Candidate(value.strip())] if value and value.strip() else []


def _attribute(element: Tag, attr: str) -> list[Candidate]:
    if attr.lower().endswith("srcset"):
        return parse_srcset(element.get(attr))
    return _single(element, attr)


def _img_candidates(element: Tag) -> list[Candidate]:
    found: list[Candidate] = []
    for attr in SRCSET_ATTRIBUTES:
        found += parse_srcset(element.get(attr))
    for attr in (*LAZY_ATTRIBUTES, "src"):
        found += _single(element, attr)
    return found


def fetchable(candidate: Candidate) -> bool:
    """False for a candidate no crawler can fetch: empty, or a ``data:``/``blob:`` URL."""
    url = candidate.url.strip()
    return bool(url) and not url.lower().startswith(UNFETCHABLE_SCHEMES)


def image_candidates(element: Tag, attr: str) -> list[Candidate]:
    """What ``element`` offers under a rule's ``attr`` (see the module docstring), unfetchable ones dropped
    *before* the largest is chosen: a ``data:`` placeholder in ``srcset`` must not hide the real image."""
    return [c for c in _candidates(element, attr) if fetchable(c)]


def _candidates(element: Tag, attr: str) -> list[Candidate]:
    if attr != "auto":
        return _attribute(element, attr)
    name = (element.name or "").lower()
    if name == "a":
        return _single(element, "href")
    if name == "img":
        return _img_candidates(element)
    if name == "source":
        return [c for attr_name in SRCSET_ATTRIBUTES for c in parse_srcset(element.get(attr_name))]
    if name == "picture":
        found: list[Candidate] = []
        for source in element.find_all("source"):
            found += _candidates(source, "auto")
        for img in element.find_all("img"):
            found += _img_candidates(img)
        return found
    return [c for attr_name in ("href", *LAZY_ATTRIBUTES, "src") for c in _single(element, attr_name)]


def image_url(element: Tag, attr: str) -> str | None:
    """The one URL a rule takes from ``element``: the largest candidate, or None."""
    best = largest(image_candidates(element, attr))
    return best.url if best else None

"""Safe local names for anything a web page says: no traversal, no hidden files, no collisions."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_STEM = 60


def safe_component(text: str, fallback: str) -> str:
    """One path component made of ``[A-Za-z0-9._-]``, not starting with a dot, never empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", ascii_text).strip("._-")
    cleaned = re.sub(r"\.{2,}", ".", cleaned)[:MAX_STEM].strip("._-")
    return cleaned or fallback


def safe_label(label: str) -> str:
    """A class label as a folder name (``../../etc`` -> ``etc``), plus a hash suffix if it had to change."""
    cleaned = safe_component(label, "unlabelled")
    if cleaned != label:
        cleaned = f"{cleaned}-{hashlib.sha256(label.encode()).hexdigest()[:6]}"
    return cleaned


def image_filename(url: str, extension: str) -> str:
    """``<readable stem>-<hash of the full URL>.<extension of the real format>``.

    The stem comes from the last segment of the percent-decoded path (so ``..%2F..%2Fetc%2Fx.jpg``
    gives ``x``); the URL hash makes names unique per URL, so two images never share a file and a
    resumed crawl writes an image to the same name again.
    """
    path = unquote(urlsplit(url).path)
    last = PurePosixPath(path.replace("\\", "/")).name
    stem = safe_component(PurePosixPath(last).stem, "image")
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return f"{stem}-{digest}.{extension}"


def inside(root: Path, candidate: Path) -> Path:
    """``candidate`` resolved, after checking it stays under ``root``."""
    resolved_root = root.resolve()
    resolved = candidate.resolve()
    if resolved != resolved_root and resolved_root not in resolved.parents:
        raise ValueError(f"refusing to write outside {resolved_root}: {candidate}")
    return resolved

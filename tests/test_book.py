"""End to end: every chapter executes in the `ci` profile and the book builds with warnings as errors.

This is what `make book` does; the executed notebooks go to book/chapters/ (cached by fingerprint, so
a following `make book` re-executes nothing). The session fixtures ``executed_book`` and ``html_book``
(conftest.py) run and build once; tests/test_book_browser.py opens the same build in Chromium.
"""

from __future__ import annotations

import re

import pytest

from toonlab.book.build import build
from toonlab.book.chapters import discover

from conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


def test_every_chapter_runs_in_ci_and_then_is_cached(executed_book):
    first, second = executed_book
    assert [r.chapter for r in first.results] == [c.stem for c in discover(REPO / "notebooks")]
    assert all(r.status == "cached" for r in second.results), "a second run with nothing changed executes nothing"
    for result in first.results:
        assert result.status == "cached" or result.wall_time_s < 120, f"{result.chapter} exceeds 2 minutes in ci"


def test_html_book_builds_with_warnings_as_errors(html_book):
    html = html_book
    assert (html / "index.html").is_file() and (html / "book" / "reproducing.html").is_file()
    for chapter in discover(REPO / "notebooks"):
        page = (html / "book" / "chapters" / f"{chapter.stem}.html").read_text()
        assert "<img" in page, f"{chapter.stem} shows no figure"
        assert "<table" in page, f"{chapter.stem} shows no table"
        assert not re.search(r"Traceback|Error:", page.split('<div class="bd-footer')[0]), f"{chapter.stem} shows an error"


def test_latex_sources_build(executed_book, tmp_path):
    latex = build("latex", strict=True, root=REPO, path_output=tmp_path)
    tex = (latex / "toonlab.tex").read_text()
    assert r"\begin{document}" in tex and "Reproducing this book" in tex

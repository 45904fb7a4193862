"""The browser check of the book: first on tiny synthetic sites with one fault each (so the check can
fail), then on the real book that tests/test_book.py built (screenshots in _build/screenshots/)."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image

from toonlab.book.browser import (PageSpec, check_book, check_page, chromium, expected_pages, serve,
                                  unlisted_pages, write_report)
from toonlab.book.repository import COLAB_BADGE, KAGGLE_BADGE, Repository, repository

from conftest import REPO

FORK = Repository("https://github.com/example/toonlab-fork", "dev")
CHAPTER = PageSpec("book/chapters/01_demo.html", chapter="01_demo", smoke=True)


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def chapter_html(figure="../../_images/grid.png", output="accuracy 0.52", smoke=True, repo=FORK, table=True) -> str:
    """A page shaped like a myst-nb chapter: badges, a code cell's output, a figure, a metric table."""
    label = "ours · ci · tiny random weights (smoke)" if smoke else "ours · gpu · ToonCLIP"
    rows = f"<table><tr><th>model</th><th>FD</th></tr><tr><td>{label}</td><td>12.5</td></tr></table>" if table else ""
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>01 — Demo</title></head><body><main><article>
<h1>01 — Demo</h1>
<p><a href="{repo.colab_url('01_demo')}"><img src="{COLAB_BADGE}" alt="Open in Colab"></a>
<a href="{repo.kaggle_url('01_demo')}"><img src="{KAGGLE_BADGE}" alt="Open in Kaggle"></a></p>
<div class="cell docutils container"><div class="cell_output docutils container">
<div class="output text_plain highlight-myst-ansi"><pre>{output}</pre></div>
<img alt="grid" src="{figure}"></div></div>
{rows}
</article></main></body></html>"""


@pytest.fixture
def site(tmp_path):
    """A healthy two-page book; tests break one thing in it."""
    root = tmp_path / "html"
    (root / "_images").mkdir(parents=True)
    (root / "book" / "chapters").mkdir(parents=True)
    rng = np.random.default_rng(0)
    (root / "_images" / "grid.png").write_bytes(png(rng.integers(0, 255, (48, 96, 3))))
    (root / "_images" / "blank.png").write_bytes(png(np.full((48, 96, 3), 255)))
    (root / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=book/intro.html" />')
    (root / "book" / "intro.html").write_text("<html><body><main><p>The study.</p></main></body></html>")
    (root / CHAPTER.path).write_text(chapter_html())
    return root


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


def problems_of(browser, site, page=CHAPTER):
    with serve(site) as base_url:
        return check_page(browser, base_url, page, FORK).problems


def test_a_healthy_chapter_passes_and_counts_what_it_shows(browser, site):
    with serve(site) as base_url:
        report = check_page(browser, base_url, CHAPTER, FORK)
    assert report.problems == []
    assert (report.images, report.figures, report.tables) == (3, 1, 1)
    assert report.external_images == [COLAB_BADGE, KAGGLE_BADGE]


def test_a_broken_image_is_reported(browser, site):
    (site / CHAPTER.path).write_text(chapter_html(figure="../../_images/missing.png"))
    problems = problems_of(browser, site)
    assert any("missing.png did not load (naturalWidth 0)" in p for p in problems)
    assert "chapter shows no figure" in problems


def test_a_figure_that_renders_empty_is_reported(browser, site):
    (site / CHAPTER.path).write_text(chapter_html(figure="../../_images/blank.png"))
    assert any("blank.png renders empty" in p for p in problems_of(browser, site))


def test_a_traceback_or_error_in_an_output_is_reported(browser, site):
    traceback = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: bad input"
    (site / CHAPTER.path).write_text(chapter_html(output=traceback))
    assert any("an output shows an error: Traceback" in p for p in problems_of(browser, site))
    (site / CHAPTER.path).write_text(chapter_html(output="RuntimeError: CUDA out of memory"))
    assert any("RuntimeError" in p for p in problems_of(browser, site))


def test_a_ci_chapter_without_the_smoke_label_is_reported(browser, site):
    (site / CHAPTER.path).write_text(chapter_html(smoke=False))
    assert problems_of(browser, site) == ["chapter was executed in `ci` but shows no smoke label"]
    # the same page from a committed gpu run needs no smoke label
    assert problems_of(browser, site, PageSpec(CHAPTER.path, chapter="01_demo", smoke=False)) == []


def test_a_chapter_without_a_metric_table_is_reported(browser, site):
    (site / CHAPTER.path).write_text(chapter_html(table=False))
    assert "chapter shows no metric table (numbers beside an `ours · <profile>` label)" in problems_of(browser, site)


def test_badges_pointing_at_another_repository_are_reported(browser, site):
    (site / CHAPTER.path).write_text(chapter_html(repo=Repository("https://github.com/someone/else", "main")))
    problems = problems_of(browser, site)
    assert any("launch badges missing or not pointing at https://github.com/example/toonlab-fork" in p for p in problems)
    assert any("someone/else" in p for p in problems)


def test_a_hot_linked_image_is_reported_offline(browser, site):
    page = chapter_html().replace("</article>", '<img src="https://example.com/figure.png"></article>')
    (site / CHAPTER.path).write_text(page)
    assert any("example.com/figure.png is hot-linked" in p for p in problems_of(browser, site))


def test_a_page_outside_the_table_of_contents_is_reported(site, tmp_path):
    pages = [PageSpec("book/intro.html"), CHAPTER]
    assert unlisted_pages(site, pages) == []
    (site / ".pytest_cache").mkdir()
    (site / ".pytest_cache" / "README.html").write_text("<p>pytest cache directory</p>")
    report = check_book(site, pages, FORK, screenshot_dir=tmp_path / "shots")
    assert report.unlisted == [".pytest_cache/README.html"]
    assert report.problems == [".pytest_cache/README.html: published but not in _toc.yml "
                               "(exclude it in _config.yml's exclude_patterns)"]
    shot = Image.open(tmp_path / "shots" / "01_demo.png")
    assert shot.width == 1280 and np.asarray(shot.convert("L")).std() > 1
    assert "01_demo.png" in write_report(report, tmp_path / "shots" / "report.json").read_text()


def test_a_listed_page_that_was_not_published_is_reported(site):
    (site / "book" / "intro.html").unlink()
    report = check_book(site, [PageSpec("book/intro.html"), CHAPTER], FORK)
    assert report.problems == ["book/intro.html: listed in _toc.yml but not published (book/intro.html missing)"]


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_the_built_book_passes_the_browser_check_within_a_minute(html_book):
    """The book tests/test_book.py built with warnings as errors, opened page by page."""
    pages = expected_pages(REPO)
    shots = REPO / "_build" / "screenshots"
    shutil.rmtree(shots, ignore_errors=True)
    report = check_book(html_book, pages, repository(REPO), screenshot_dir=shots)
    write_report(report, shots / "report.json")
    print(report.summary())
    assert report.problems == []
    assert report.seconds <= 60, f"the browser check took {report.seconds:.0f} s (budget 60 s)"
    chapters = [page for page in pages if page.chapter]
    assert chapters and all((shots / f"{page.chapter}.png").is_file() for page in chapters)


def test_a_script_error_on_the_page_is_reported(browser, site):
    twice = "<script>const THEBE_JS_URL = 'x';</script>"
    (site / CHAPTER.path).write_text(chapter_html().replace("<title>", twice * 2 + "<title>"))
    assert any("Uncaught SyntaxError" in p and "THEBE_JS_URL" in p for p in problems_of(browser, site))


def test_html_assets_keeps_each_inline_script_once():
    from sphinx.builders.html._assets import _JavaScript

    from toonlab.book.html_assets import unique_scripts

    body = "const THEBE_JS_URL = 'x'"
    context = {"script_files": [_JavaScript("_static/a.js"), _JavaScript(None, body=body),
                                _JavaScript("", body=body), _JavaScript("", body="let other = 1")]}
    unique_scripts(None, "page", "page.html", context, None)
    assert [(s.filename, s.attributes.get("body")) for s in context["script_files"]] == \
        [("_static/a.js", None), (None, body), ("", "let other = 1")]


def test_expected_pages_follow_the_toc_and_mark_ci_chapters(book_root):
    import json

    (book_root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n"
                                        "  - file: book/chapters/01_demo\n  - file: book/chapters/02_other\n")
    executed = book_root / "book" / "chapters"
    executed.mkdir(parents=True)
    for stem, profile in (("01_demo", "ci"), ("02_other", "gpu")):
        (executed / f"{stem}.ipynb").write_text(json.dumps({"metadata": {"toonlab": {"profile": profile}}}))
    assert expected_pages(book_root) == [
        PageSpec("book/intro.html"),
        PageSpec("book/chapters/01_demo.html", chapter="01_demo", smoke=True),
        PageSpec("book/chapters/02_other.html", chapter="02_other", smoke=False),
    ]

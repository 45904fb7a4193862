"""Where the project lives: the repository address that identifies toonlab to the sites it crawls.

The scraper's User-Agent names it (:data:`toonlab.data.scrape.config.USER_AGENT`), so a shop's operator can
see who is crawling. ``pyproject.toml``'s ``[project.urls] Homepage`` repeats the literal (TOML cannot
import it); ``tests/test_book_publishing.py`` checks the two agree. The book's badges and bootstrap cell
read ``_config.yml``'s ``repository.url`` instead (:mod:`toonlab.book.repository`), the one line a fork edits.

A module of its own rather than a line in ``toonlab/__init__.py``: every chapter's fingerprint hashes
``__init__.py`` (importing any submodule runs it), so editing it would mark every committed result stale.
"""

REPOSITORY_URL = "https://github.com/toonlab/toonlab"

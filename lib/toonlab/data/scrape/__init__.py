"""A polite, resumable catalogue crawler (ToyHollyWood built its data set by scraping a toy shop).

    from toonlab.data.scrape import SiteConfig, crawl
    summary = crawl(SiteConfig.from_yaml("data/sites/toyhollywood.yaml"), "out/toyhollywood")
    print(summary.text())

``python -m toonlab.data.scrape SITE.yaml OUT`` does the same from a shell. The crawl honours
robots.txt and a per-host delay, identifies itself with a User-Agent, retries timeouts and 5xx with
backoff, keeps only complete images of allowed formats and sizes, de-duplicates by sha256, reports
near-duplicates by perceptual hash, and resumes after being killed at any moment. It always ends:
canonical URLs, a stale-pages rule and a page cap per category, page/request budgets and
``max_products``; ``summary.text()`` and ``summary.json`` say why it stopped, and ``manifest.csv`` is
rewritten at every checkpoint. The configuration reference, the label rule included, is
:mod:`toonlab.data.scrape.config`.

Written with requests + BeautifulSoup/lxml rather than Scrapy: the crawl is a fixed three-level walk,
and owning the loop keeps resume semantics (checkpoint = one atomic JSON file) and the fault handling
explicit and testable without Scrapy's reactor.
"""

from toonlab.data.scrape.config import Politeness, SiteConfig, SiteConfigError
from toonlab.data.scrape.crawler import CrawlPaused, CrawlSummary, crawl, load_summary, read_crawl_manifest

__all__ = ["CrawlPaused", "CrawlSummary", "Politeness", "SiteConfig", "SiteConfigError", "crawl", "load_summary",
           "read_crawl_manifest"]

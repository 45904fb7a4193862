"""``python -m toonlab.data.scrape SITE.yaml OUT [--start-url URL] [--delay S] ...``: crawl, resumably."""

from __future__ import annotations

import argparse

from toonlab.data.scrape.config import SiteConfig
from toonlab.data.scrape.crawler import crawl


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m toonlab.data.scrape", description=__doc__)
    parser.add_argument("site", help="site configuration YAML (e.g. data/sites/toyhollywood.yaml)")
    parser.add_argument("out", help="output folder; run again with the same folder to resume")
    parser.add_argument("--start-url", action="append", help="replace the configured start URLs")
    parser.add_argument("--max-products", type=int, help="stop after this many product pages (rerun larger to go on)")
    parser.add_argument("--max-pages", type=int, help="budget: HTML pages fetched in the whole crawl")
    parser.add_argument("--max-requests", type=int, help="budget: HTTP requests in the whole crawl")
    parser.add_argument("--drop-param", action="append", help="a query parameter to ignore in URLs (repeatable)")
    parser.add_argument("--delay", type=float, help="seconds between requests to one host")
    parser.add_argument("--concurrency", type=int, help="parallel image downloads")
    parser.add_argument("--timeout", type=float, help="seconds per request")
    parser.add_argument("--checkpoint-every", type=int, help="save the resumable state after this many URLs")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    import yaml
    from pathlib import Path

    raw = yaml.safe_load(Path(args.site).read_text(encoding="utf-8"))
    politeness = dict(raw.get("politeness") or {})
    for name in ("delay", "concurrency", "timeout", "checkpoint_every"):
        if getattr(args, name) is not None:
            politeness[name] = getattr(args, name)
    limits = dict(raw.get("limits") or {})
    for name in ("max_pages", "max_requests"):
        if getattr(args, name) is not None:
            limits[name] = getattr(args, name)
    overrides = {"politeness": politeness, "limits": limits}
    if args.drop_param:
        overrides["drop_params"] = [*(raw.get("drop_params") or []), *args.drop_param]
    if args.start_url:
        overrides["start_urls"] = args.start_url
    if args.max_products is not None:
        overrides["max_products"] = args.max_products
    summary = crawl(SiteConfig.from_dict(raw, **overrides), args.out, progress=not args.no_progress)
    print(summary.text())


if __name__ == "__main__":
    main()

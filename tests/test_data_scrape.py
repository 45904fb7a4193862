"""The scraper against the local fixture shop: the fault matrix, politeness, safe names, kill-and-resume.

No test touches the internet: the shop listens on 127.0.0.1 only.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from toonlab import atomic
from toonlab.data.manifest import sha256_file
from toonlab.data.scrape import SiteConfig, SiteConfigError, crawl, read_crawl_manifest
from toonlab.data.scrape import crawler as crawler_module
from toonlab.data.scrape.names import image_filename, inside, safe_label
from toonlab.data.scrape.validate import RejectedImage, inspect_image
from toonlab.data.scrape.srcset import Candidate, image_url, largest, parse_srcset
from toonlab.data.scrape.urls import canonical_url, drop_list
from toonlab.data.shop import (FAULTS, PAGINATION_FAULTS, FixtureShop, _page, _Route, fixture_site_config, toy_image,
                               toy_products)

FAST = dict(delay=0.0, timeout=0.4, retries=3, backoff=0.01, max_bytes=500_000, checkpoint_every=3)


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def _by_url(rows, base):
    return {row["url"].removeprefix(base): row for row in rows}


@pytest.fixture(scope="module")
def fault_crawl(tmp_path_factory):
    """One crawl of a shop that serves every fault; the tests below read its outputs."""
    out = tmp_path_factory.mktemp("crawl")
    with FixtureShop(toy_products(3, 5), per_page=4, faults=True, slow_seconds=1.0) as shop:
        summary = crawl(fixture_site_config(shop.base_url, **FAST), out, progress=False)
        yield shop, out, summary


def test_fault_matrix_saves_exactly_the_good_images(fault_crawl):
    shop, out, summary = fault_crawl
    saved = _by_url(read_crawl_manifest(out), shop.base_url)
    assert sorted(saved) == sorted(shop.expected["accepted"])
    assert {url: row["label"] for url, row in saved.items()} == shop.expected["labels"]
    assert summary.images == len(shop.expected["accepted"])
    assert {row["label_from"] for row in saved.values()} == {"selector"}
    for row in saved.values():  # manifest rows describe the files on disk
        path = out / row["path"]
        assert sha256_file(path) == row["sha256"] and path.stat().st_size == int(row["bytes"])
        with Image.open(path) as image:
            assert image.size == (int(row["width"]), int(row["height"]))
        assert row["time"] and row["phash"]


def test_fault_matrix_records_every_failure_by_cause(fault_crawl):
    shop, out, summary = fault_crawl
    with open(out / "failures.csv", newline="") as handle:
        failures = {row["url"].removeprefix(shop.base_url): row for row in csv.DictReader(handle)}
    assert {url: row["cause"] for url, row in failures.items()} == shop.expected["failures"]
    assert failures["/image/catalog/slow/sloth.jpg"]["attempts"] == "3"  # retried, then given up
    assert summary.failures == {
        "http_500": 1, "timeout": 1, "no_images": 1, "not_image": 2, "truncated": 1,
        "redirect_loop": 1, "robots_disallowed": 1, "oversized": 2,
    }
    assert summary.retries >= 2 + 2 * 2  # transient 500s recovered, permanent 500 and the timeout retried


def test_transient_server_errors_are_retried_until_they_pass(fault_crawl):
    shop, out, summary = fault_crawl
    first_listing = "/index.php?path=1&route=product/category"
    assert len(shop.requested(first_listing)) >= 3  # 500, 500, then the page
    labels = {row["label"] for row in read_crawl_manifest(out)}
    assert shop.labels[0] in labels


def test_duplicates_and_near_duplicates_are_reported(fault_crawl):
    shop, out, summary = fault_crawl
    with open(out / "duplicates.csv", newline="") as handle:
        duplicates = {r["url"].removeprefix(shop.base_url): r["duplicate_of"].removeprefix(shop.base_url)
                      for r in csv.DictReader(handle)}
    assert duplicates == shop.expected["duplicates"]
    with open(out / "near_duplicates.csv", newline="") as handle:
        pairs = {frozenset((r["url"].removeprefix(shop.base_url), r["near_duplicate_of"].removeprefix(shop.base_url)))
                 for r in csv.DictReader(handle)}
    (brighter, original), = shop.expected["near_duplicate_of"].items()
    assert frozenset((brighter, original)) in pairs
    assert summary.duplicates == 1 and summary.near_duplicates == len(pairs)


def test_robots_and_user_agent_are_honoured(fault_crawl):
    shop, out, summary = fault_crawl
    assert shop.requested("/private/") == []
    assert shop.requested("/robots.txt")
    expected = SiteConfig.from_dict(fixture_site_config("http://x")).politeness.user_agent
    assert {r.user_agent for r in shop.requests} == {expected}
    assert "toonlab-scraper" in shop.requests[0].user_agent


def test_hostile_names_stay_inside_the_output_folder(fault_crawl):
    shop, out, summary = fault_crawl
    images = (out / "images").resolve()
    for path in _files(out):
        assert images in path.resolve().parents or path.parent == out
        assert not path.name.startswith(".") and not path.name.endswith(".tmp")
    saved = _by_url(read_crawl_manifest(out), shop.base_url)
    hostile = saved["/image/catalog/..%2F..%2Fetc%2Fx.jpg"]
    assert hostile["path"].startswith("images/") and hostile["path"].endswith(".jpg") and "/x-" in hostile["path"]
    assert saved["/image/catalog/etc/passwd.jpg"]["path"].startswith("images/etc-")
    assert not (out.parent / "etc").exists()


def test_the_fault_matrix_crawl_ends_with_its_reasons_recorded(fault_crawl):
    shop, out, summary = fault_crawl
    report = crawler_module.load_summary(out)
    assert report["complete"] and report["stop_reason"] == "frontier_exhausted" and report["pending"] == 0
    stale = sorted(s["scope"].removeprefix(shop.base_url) for s in report["stops"] if s["reason"] == "stale_pages")
    assert stale == shop.expected["stale_categories"]  # the endless category, and only it
    assert {s["reason"] for s in report["stops"]} == {"frontier_exhausted", "stale_pages"}
    assert "stopped: frontier_exhausted" in summary.text() and "stopped: stale_pages [" in summary.text()
    assert report["manifest_sha256"] == sha256_file(out / "manifest.csv")
    for url in shop.expected["never_requested"]:  # smaller srcset candidates and lazy placeholders
        assert shop.requested(url) == []


def test_a_finished_crawl_is_not_redone(fault_crawl):
    shop, out, _ = fault_crawl
    before = len(shop.requests)
    summary = crawl(fixture_site_config(shop.base_url, **FAST), out, progress=False)
    assert summary.resumed and len(shop.requests) == before


def test_two_crawls_cannot_share_an_output_folder(tmp_path):
    from toonlab.data.scrape.crawler import Crawler

    with FixtureShop(toy_products(1, 1), faults=False) as shop:
        config = SiteConfig.from_dict(fixture_site_config(shop.base_url, **FAST))
        first = Crawler(config, tmp_path, progress=False)
        first._lock()
        try:
            with pytest.raises(RuntimeError, match="another crawl is running"):
                Crawler(config, tmp_path, progress=False).run()
        finally:
            first._unlock()
        assert Crawler(config, tmp_path, progress=False).run().images == 1


def test_delay_spaces_requests_to_one_host(tmp_path):
    with FixtureShop(toy_products(1, 4), faults=False) as shop:
        crawl(fixture_site_config(shop.base_url, **{**FAST, "delay": 0.08, "concurrency": 2}), tmp_path, progress=False)
        times = sorted(r.time for r in shop.requests)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(times) >= 7 and min(gaps) > 0.06


def test_unreachable_robots_txt_pauses_the_crawl_until_it_answers(tmp_path):
    """RFC 9309: a 5xx robots.txt disallows the whole site for now. Retried, then the crawl stops
    having fetched nothing else, and a later run, once robots.txt answers, crawls as if nothing happened."""
    from toonlab.data.scrape import CrawlPaused

    with FixtureShop(toy_products(1, 2), faults=False) as shop:
        shop.routes["/robots.txt"] = _Route(status=503, body=b"down")
        with pytest.raises(CrawlPaused, match=r"robots_unavailable.*HTTP 503 after 3 tries.*Run it again later"):
            crawl(fixture_site_config(shop.base_url, **FAST), tmp_path, progress=False)
        assert [r.path for r in shop.requests] == ["/robots.txt"] * 3  # retried, nothing else touched
        shop.routes["/robots.txt"] = _Route(body=b"User-agent: *\nAllow: /\n", content_type="text/plain")
        summary = crawl(fixture_site_config(shop.base_url, **FAST), tmp_path, progress=False)
    assert summary.images == 2 and not summary.failures


def test_a_passing_robots_txt_failure_is_retried(tmp_path):
    with FixtureShop(toy_products(1, 1), faults=False) as shop:
        shop.routes["/robots.txt"] = _Route(body=b"", content_type="text/plain", fail_first=1, fail_status=503)
        summary = crawl(fixture_site_config(shop.base_url, **FAST), tmp_path, progress=False)
    assert summary.images == 1 and not summary.failures


def test_robots_crawl_delay_is_respected(tmp_path):
    # urllib.robotparser reads whole seconds only, so this test waits about 3 s.
    with FixtureShop(toy_products(1, 1), faults=False) as shop:
        shop.routes["/robots.txt"] = _Route(body=b"User-agent: *\nCrawl-delay: 1\n", content_type="text/plain")
        crawl(fixture_site_config(shop.base_url, **FAST), tmp_path, progress=False)
        times = sorted(r.time for r in shop.requests if r.path != "/robots.txt")
    assert len(times) == 4 and min(b - a for a, b in zip(times, times[1:])) > 0.95


# --- units -------------------------------------------------------------------------------------------


def test_fetcher_backs_off_and_honours_retry_after():
    from toonlab.data.scrape.config import Politeness
    from toonlab.data.scrape.fetch import Fetcher, FetchError

    waits: list[float] = []
    with FixtureShop(toy_products(1, 1), faults=False) as shop:
        url = shop.base_url + "/image/catalog/product/1-0.jpg"
        shop.routes["/image/catalog/product/1-0.jpg"].fail_first = 2
        shop.routes["/image/catalog/product/1-0.jpg"].fail_status = 429
        shop.routes["/image/catalog/product/1-0.jpg"].fail_headers = {"Retry-After": "7"}
        fetcher = Fetcher(Politeness(delay=0, backoff=0.5, retries=3, timeout=2), sleep=waits.append)
        response = fetcher.get(url)
        assert response.status == 200 and response.attempts == 3 and waits == [7.0, 7.0]
        waits.clear()
        shop.routes["/robots.txt"] = _Route(body=b"", content_type="text/plain")
        missing = shop.base_url + "/image/catalog/none.jpg"
        with pytest.raises(FetchError) as caught:
            Fetcher(Politeness(delay=0, backoff=0.5, retries=3, timeout=2), sleep=waits.append).get(missing)
        assert caught.value.cause == "http_404" and caught.value.attempts == 1 and waits == []  # 4xx: no retry
        shop.routes["/always-503"] = _Route(status=503, body=b"busy")
        with pytest.raises(FetchError) as caught:
            Fetcher(Politeness(delay=0, backoff=0.5, retries=3, timeout=2), sleep=waits.append).get(
                shop.base_url + "/always-503")
        assert caught.value.cause == "http_503" and caught.value.attempts == 3 and waits == [0.5, 1.0]  # doubling


@pytest.mark.parametrize("url", [
    "http://shop/image/catalog/..%2F..%2Fetc%2Fx.jpg",
    "http://shop/a/..\\..\\windows\\x.jpg",
    "http://shop/%2e%2e/%2e%2e/x.jpg",
    "http://shop/",
    "http://shop/" + "a" * 500 + ".jpg",
    "http://shop/\u00fcber/\u00e9t\u00e9%00.jpg",
])
def test_image_filenames_are_safe(url, tmp_path):
    name = image_filename(url, "jpg")
    assert "/" not in name and "\\" not in name and not name.startswith(".") and ".." not in name
    assert name.endswith(".jpg") and len(name) < 100 and "\x00" not in name
    assert inside(tmp_path, tmp_path / "label" / name).parent == (tmp_path / "label").resolve()


def test_names_are_unique_per_url_and_stable():
    assert image_filename("http://a/x.jpg", "jpg") == image_filename("http://a/x.jpg", "jpg")
    assert image_filename("http://a/x.jpg", "jpg") != image_filename("http://b/x.jpg", "jpg")
    assert safe_label("Funko Pop") != safe_label("Funko_Pop") and safe_label("Funko_Pop") == "Funko_Pop"
    assert safe_label("../../etc").startswith("etc-") and safe_label("..") .startswith("unlabelled-")


def test_inside_refuses_paths_outside_the_root(tmp_path):
    with pytest.raises(ValueError, match="refusing to write outside"):
        inside(tmp_path / "images", tmp_path / "images" / ".." / "x.jpg")


def test_inspect_image_accepts_only_complete_images_of_allowed_formats():
    jpeg = toy_image(0, 0)
    info = inspect_image(jpeg, "image/jpeg", ("JPEG", "PNG"), 10_000)
    assert (info.format, info.extension, info.width) == ("JPEG", "jpg", 64) and len(info.phash) == 16
    cases = [
        (jpeg, "text/html", "not_image"),
        (b"<html></html>", "image/jpeg", "not_image"),
        (jpeg[: len(jpeg) // 2], "image/jpeg", "truncated"),
        (jpeg, "image/jpeg", "oversized", 100),
    ]
    for data, mime, cause, *limit in cases:
        with pytest.raises(RejectedImage) as caught:
            inspect_image(data, mime, ("JPEG",), limit[0] if limit else 10_000)
        assert caught.value.cause == cause
    bmp = io.BytesIO()
    Image.new("RGB", (4, 4)).save(bmp, format="BMP")
    with pytest.raises(RejectedImage, match="format"):
        inspect_image(bmp.getvalue(), "image/bmp", ("JPEG",), 10_000)


def test_bad_site_configurations_say_what_is_wrong(tmp_path):
    good = fixture_site_config("http://127.0.0.1:1")
    with pytest.raises(SiteConfigError, match=r"lacks \['product_links'\]"):
        SiteConfig.from_dict({k: v for k, v in good.items() if k != "product_links"})
    with pytest.raises(SiteConfigError, match="unknown politeness settings \\['speed'\\]"):
        SiteConfig.from_dict({**good, "politeness": {"speed": 3}})
    with pytest.raises(SiteConfigError, match="delay must be >= 0"):
        SiteConfig.from_dict({**good, "politeness": {"delay": -1}})
    with pytest.raises(SiteConfigError, match="must be an http"):
        SiteConfig.from_dict({**good, "start_urls": ["file:///etc/passwd"]})
    with FixtureShop(toy_products(1, 1), faults=False) as shop:
        crawl(fixture_site_config(shop.base_url, **FAST), tmp_path, progress=False)
        other = {**fixture_site_config(shop.base_url, **FAST), "product_links": "a.other"}
        with pytest.raises(ValueError, match="another site configuration: these settings changed since it "
                                             "started: drop_params, product_links"):
            crawl({**other, "drop_params": []}, tmp_path, progress=False)
        relaxed = {**fixture_site_config(shop.base_url, **FAST), "limits": {"max_pages": 9}, "max_products": 5}
        assert crawl(relaxed, tmp_path, progress=False).images == 1  # limits are no part of the identity
    state = json.loads((tmp_path / "state.json").read_text())
    (tmp_path / "state.json").write_text(json.dumps({**state, "version": 1}))
    with pytest.raises(ValueError, match="version 1 recorded URLs as found, before they were made canonical"):
        crawl(fixture_site_config("http://127.0.0.1:1", **FAST), tmp_path, progress=False)


def test_the_committed_toyhollywood_site_configuration_is_valid():
    from toonlab.paths import repo_root

    config = SiteConfig.from_yaml(repo_root() / "data" / "sites" / "toyhollywood.yaml")
    assert config.start_urls[0].startswith("https://www.toyhollywood.com/")
    assert config.politeness.delay >= 1.0  # polite by default on a real site


# --- kill and resume ---------------------------------------------------------------------------------

RESUME_FAULTS = [f for f in FAULTS if f not in ("server_error_transient", "slow")]  # stateless faults only


def _comparable(out: Path) -> list[tuple[str, str, str, str]]:
    return sorted((r["url"], r["label"], r["path"], r["sha256"]) for r in read_crawl_manifest(out))


def _check_complete(out: Path, reference: list) -> None:
    assert _comparable(out) == reference
    rows = read_crawl_manifest(out)
    on_disk = {p.relative_to(out).as_posix() for p in _files(out / "images")}
    expected_files = {"crawl.lock", "state.json", "manifest.csv", "failures.csv", "duplicates.csv",
                      "near_duplicates.csv", "summary.json"}
    assert {p.name for p in out.iterdir() if p.is_file()} <= expected_files
    assert on_disk == {r["path"] for r in rows}  # nothing lost, nothing extra
    assert len({r["sha256"] for r in rows}) == len(rows)  # nothing duplicated
    assert not [p for p in _files(out) if p.name.endswith(".tmp")]


def test_crash_mid_crawl_then_resume_gives_the_same_result(tmp_path, monkeypatch):
    with FixtureShop(toy_products(3, 6), per_page=4, faults=RESUME_FAULTS) as shop:
        config = fixture_site_config(shop.base_url, **FAST)
        crawl(config, tmp_path / "reference", progress=False)
        reference = _comparable(tmp_path / "reference")

        for crash_at in (2, 7, 13):
            dying, _ = _dying_writer(crash_at)
            monkeypatch.setattr(crawler_module.atomic, "write_bytes", dying)
            with pytest.raises(KeyboardInterrupt):
                crawl(config, tmp_path / "out", progress=False)
        monkeypatch.setattr(crawler_module.atomic, "write_bytes", _REAL_WRITE_BYTES)
        summary = crawl(config, tmp_path / "out", progress=False)
    assert summary.resumed
    _check_complete(tmp_path / "out", reference)


_REAL_WRITE_BYTES = atomic.write_bytes  # taken at import, before any test patches the module


def _dying_writer(call: int) -> tuple[Callable[[Path, bytes], Any], dict[str, int]]:
    """A stand-in for ``atomic.write_bytes`` that raises KeyboardInterrupt on its ``call``-th call (a crawl
    killed mid-write) and writes for real otherwise; the dict counts the calls."""
    count = {"n": 0}

    def dying(target, data):
        count["n"] += 1
        if count["n"] == call:
            raise KeyboardInterrupt("power cut")
        return _REAL_WRITE_BYTES(target, data)

    return dying, count


def _kill_then_finish(raw: dict, out: Path, site: Path, thresholds: tuple[int, ...],
                      after_kill: Callable[[], None] | None = None) -> subprocess.CompletedProcess:
    """Run the scraper's command line on site config ``raw`` into ``out``, SIGKILL it as soon as ``out``
    holds each of ``thresholds`` images (one process per threshold; ``after_kill`` runs after each process
    once one was killed), then once more to the end. Returns that last run, checked to have succeeded."""
    site.write_text(yaml.safe_dump(raw))
    command = [sys.executable, "-m", "toonlab.data.scrape", str(site), str(out), "--no-progress"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    kills = 0
    for threshold in thresholds:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            images = _files(out / "images") if (out / "images").exists() else set()
            if len(images) >= threshold:
                process.send_signal(signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.01)
        process.wait(timeout=30)
        process.stdout.close()
        process.stderr.close()
        if kills and after_kill is not None:
            after_kill()
    assert kills >= 2, "the crawl finished before it could be killed; slow the shop down"
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_kill_minus_nine_and_resume(tmp_path):
    """SIGKILL the crawler process several times mid-crawl; the resumed crawl loses and duplicates nothing."""
    with FixtureShop(toy_products(3, 8), per_page=4, faults=RESUME_FAULTS, latency=0.03) as shop:
        raw = fixture_site_config(shop.base_url, **{**FAST, "checkpoint_every": 2})
        crawl(raw, tmp_path / "reference", progress=False)
        reference = _comparable(tmp_path / "reference")
        out = tmp_path / "out"
        done = _kill_then_finish(raw, out, tmp_path / "site.yaml", thresholds=(3, 10, 18))
        assert "(resumed)" in done.stdout
    _check_complete(out, reference)


# --- termination: shops the crawler was not written for ---------------------------------------------

NEW_FAULTS = ["endless_pagination", "self_linking_last_page", "changing_tracking_parameter", "srcset_only",
              "picture_lazy"]


def _report(out: Path) -> dict:
    return crawler_module.load_summary(out)


def _check_ended_well(shop: FixtureShop, out: Path, summary) -> list[dict]:
    """Every good image once, with its label, files = manifest rows, and a recorded stop reason."""
    rows = read_crawl_manifest(out)
    saved = {row["url"].removeprefix(shop.base_url): row["label"] for row in rows}
    assert saved == shop.expected["labels"]
    assert len(rows) == len(saved) == len({r["sha256"] for r in rows})  # no duplicates
    assert {p.relative_to(out).as_posix() for p in _files(out / "images")} == {r["path"] for r in rows}
    for row in rows:
        assert sha256_file(out / row["path"]) == row["sha256"]
    report = _report(out)
    assert report["stop_reason"] == summary.stop_reason == "frontier_exhausted" and report["complete"]
    return report["stops"]


@pytest.mark.parametrize("fault", NEW_FAULTS)
def test_each_new_fault_ends_with_all_products_and_a_stop_reason(fault, tmp_path):
    with FixtureShop(toy_products(2, 3), per_page=3, faults=[fault]) as shop:
        summary = crawl(fixture_site_config(shop.base_url, **FAST), tmp_path, progress=False)
        stops = _check_ended_well(shop, tmp_path, summary)
        assert not summary.failures
        category = f"path={shop.labels.index(PAGINATION_FAULTS[fault]) + 1}&" if fault in PAGINATION_FAULTS else None
        listings = [r.path for r in shop.requested("/index.php?") if category and category in r.path]
        products = [r.path for r in shop.requested("/index.php?product_id=")]
        for url in shop.expected["never_requested"]:
            assert shop.requested(url) == []
    assert len(products) == len(set(products))  # each product page fetched once: tracking ids were dropped
    stale = [s for s in stops if s["reason"] == "stale_pages"]
    if fault == "endless_pagination":  # 2 real pages, then stale_pages (3) pages with nothing new
        assert len(listings) == 2 + 3 and len(stale) == 1 and stale[0]["scope"].endswith(category + "route=product/category")
    else:
        assert not stale
    if fault == "self_linking_last_page":  # the last page once more under its self-link, then nothing new
        assert len(listings) == 3
    if fault == "changing_tracking_parameter":
        assert len(listings) == 2


def test_a_tracking_parameter_off_the_drop_list_is_stopped_by_the_category_cap(tmp_path):
    """Without `shopsid` on the drop list every product link is new on every request: the stale rule cannot
    see it, the per-category page cap ends it - with the right images and the stop recorded."""
    with FixtureShop(toy_products(1, 2), per_page=3, faults=["changing_tracking_parameter"]) as shop:
        config = {**fixture_site_config(shop.base_url, **FAST), "drop_params": [],
                  "limits": {"max_pages_per_category": 6}}
        summary = crawl(config, tmp_path, progress=False)
        base = shop.base_url
        tracked = base + "/index.php?path=2&route=product/category"
        listings = [r for r in shop.requested("/index.php?") if "path=2&" in r.path]
    rows = read_crawl_manifest(tmp_path)
    assert {r["url"].removeprefix(base) for r in rows} == set(shop.expected["accepted"])
    assert len(rows) == len({r["url"] for r in rows})
    assert len(listings) == 6
    caps = [s for s in summary.stops if s["reason"] == "max_pages_per_category"]
    # The category is named by its first page as the home page linked it, tracking id and all.
    assert len(caps) == 1 and caps[0]["scope"].startswith(tracked + "&shopsid=")
    assert summary.stop_reason == "frontier_exhausted"


def test_urls_are_fetched_as_found_and_visited_by_their_canonical_form(tmp_path):
    """The Tracked category spells its links in OpenCart's natural order (route first): the crawler requests
    them as spelled (a signed URL breaks when its query is reordered) and records the canonical form."""
    with FixtureShop(toy_products(1, 1), per_page=3, faults=["changing_tracking_parameter"]) as shop:
        summary = crawl(fixture_site_config(shop.base_url, **FAST), tmp_path, progress=False)
        raw = [r.path for r in shop.requests]
    assert summary.complete and not summary.failures
    tracked = [p for p in raw if "path=2" in p or "route=product/product&product_id" in p]
    assert tracked and all(p.startswith("/index.php?route=") and "shopsid=" in p for p in tracked)
    products = [p for p in raw if p.startswith("/index.php?route=product/product")]
    assert len(products) == len({p.split("&utm_source")[0] for p in products})  # each product once
    state = json.loads((tmp_path / "state.json").read_text())
    assert all("route=product" not in key.split("?", 1)[1].split("&", 1)[0] for key in state["seen"]
               if "?" in key)  # the visited keys are canonical: query sorted, tracking dropped


def test_keep_params_and_the_drop_list_settings_are_checked():
    assert canonical_url("http://s/?sid=7&p=2") == "http://s/?p=2&sid=7"  # sid is a content id too often
    assert canonical_url("http://s/?cfid=1&p=2", drop_list(keep=["CFID"])) == "http://s/?cfid=1&p=2"
    assert canonical_url("http://s/?cfid=1&p=2", drop_list()) == "http://s/?p=2"
    good = fixture_site_config("http://127.0.0.1:1")
    assert SiteConfig.from_dict({**good, "keep_params": ["cfid"]}).keep_params == ("cfid",)
    with pytest.raises(SiteConfigError, match="drop_default_params must be true or false"):
        SiteConfig.from_dict({**good, "drop_default_params": "false"})
    with pytest.raises(SiteConfigError, match="max_products must be null or an int"):
        SiteConfig.from_dict({**good, "max_products": True})


def _path_shop(shop: FixtureShop, pages: list[list[int]]) -> None:
    """Turn ``shop`` into a shop whose product URLs are paths (``/p/toy-3``), one category "Toys" with these
    pages of product numbers, and every link carrying a ``shopsid`` that is new on every request."""
    counter = iter(range(1, 10**6))

    def sid() -> str:
        return f"shopsid={next(counter):06d}"

    def listing(number: int) -> bytes:
        thumbs = "".join(f"<div class='product-thumb'><h4><a href='/p/toy-{k}?{sid()}'>toy {k}</a></h4></div>"
                         for k in pages[number - 1])
        links = "".join(f"<li><a href='/c/toys?page={n}&{sid()}'>{n}</a></li>" for n in range(1, len(pages) + 1))
        return _page("Toys", f"<h2>Toys</h2>{thumbs}<ul class='pagination'>{links}</ul>")

    shop.routes["/index.php"] = _Route(render=lambda host: _page(
        "home", f"<nav id='menu'><a href='/c/toys?{sid()}'>Toys</a></nav>"))
    shop.routes["/c/toys"] = _Route(render=lambda host: listing(1))
    for number in range(1, len(pages) + 1):
        shop.routes[f"/c/toys?page={number}"] = _Route(render=lambda host, number=number: listing(number))
    for k in sorted({k for page in pages for k in page}):
        shop.routes[f"/img/{k}.jpg"] = _Route(body=toy_image(5, k), content_type="image/jpeg")
        shop.routes[f"/p/toy-{k}"] = _Route(body=_page(f"toy {k}", "<ul class='thumbnails'><li><a class='thumbnail' "
                                                                   f"href='/img/{k}.jpg'>x</a></li></ul>"))


def test_a_tracking_parameter_off_the_drop_list_on_path_product_urls_is_stopped_by_the_stale_rule(tmp_path):
    """Product URLs that are paths: a listed-again product is recognised by its path whatever its query, so
    the stale rule ends the category (not only the page cap), with every image once."""
    with FixtureShop(toy_products(1, 1), faults=False) as shop:
        _path_shop(shop, [[1, 2], [3]])
        config = {**fixture_site_config(shop.base_url, **FAST), "drop_params": [],
                  "limits": {"max_pages_per_category": 40}}
        summary = crawl(config, tmp_path, progress=False)
        listings = shop.requested("/c/toys")
        base = shop.base_url
    rows = read_crawl_manifest(tmp_path)
    assert sorted(r["url"].removeprefix(base) for r in rows) == ["/img/1.jpg", "/img/2.jpg", "/img/3.jpg"]
    assert {r["label"] for r in rows} == {"Toys"}
    assert sorted(s["reason"] for s in summary.stops) == ["frontier_exhausted", "stale_pages"]
    # Each page links to every page, so pagination branches: bounded by stale_pages along each chain, well
    # under the page cap (which the old rule, comparing whole URLs, ran into).
    assert len(listings) < 40
    assert summary.complete


def test_a_category_listing_products_of_other_categories_first_is_still_followed(tmp_path):
    """Cross-listed products: the stale rule counts products new to *this* category, so a category whose first
    page lists only products another category already queued still reaches its own later pages."""
    with FixtureShop(toy_products(2, 4), per_page=2, faults=False) as shop:
        # class-1's first page lists class-0's first two products (toys 1 and 2); its page 2 has toys 7 and 8.
        first = shop.routes["/index.php?path=1&route=product/category"].body.decode()
        thumbs = first[first.index("<div class='row'>"):first.index("<ul class='pagination'>")]
        second = shop.routes["/index.php?path=2&route=product/category"].body.decode()
        start, end = second.index("<div class='row'>"), second.index("<ul class='pagination'>")
        shop.routes["/index.php?path=2&route=product/category"] = _Route(
            body=(second[:start] + thumbs + second[end:]).encode())
        config = {**fixture_site_config(shop.base_url, **FAST), "limits": {"stale_pages": 1}}
        summary = crawl(config, tmp_path, progress=False)
        base = shop.base_url
    saved = {r["url"].removeprefix(base): r["label"] for r in read_crawl_manifest(tmp_path)}
    expected = {u: label for u, label in shop.expected["labels"].items() if not u.startswith(
        ("/image/catalog/product/5-", "/image/catalog/product/6-"))}
    assert saved == expected and len(saved) == 6
    assert [s["reason"] for s in summary.stops] == ["frontier_exhausted"]


def test_max_products_stops_an_endless_crawl_and_a_larger_limit_resumes_it(tmp_path):
    with FixtureShop(toy_products(2, 4), per_page=3, faults=["endless_pagination"]) as shop:
        config = fixture_site_config(shop.base_url, **FAST)
        crawl(config, tmp_path / "reference", progress=False)
        reference = _comparable(tmp_path / "reference")

        before = len(shop.requested("/index.php?product_id="))
        partial = crawl({**config, "max_products": 4}, tmp_path / "out", progress=False)
        assert partial.stop_reason == "max_products" and not partial.complete and partial.pending > 0
        assert partial.images == 4 and len(read_crawl_manifest(tmp_path / "out")) == 4
        assert [s["reason"] for s in partial.stops] == ["max_products"]
        assert len(shop.requested("/index.php?product_id=")) - before == 4
        assert "stopped: max_products: 4 product pages queued" in partial.text()

        again = crawl({**config, "max_products": 4}, tmp_path / "out", progress=False)  # same limit: nothing to do
        assert again.stop_reason == "max_products" and again.images == 4
        full = crawl(config, tmp_path / "out", progress=False)  # limit lifted: carries on
    assert full.resumed and full.complete and full.stop_reason == "frontier_exhausted"
    _check_complete(tmp_path / "out", reference)


def test_a_crawl_killed_after_its_max_products_stop_resumes_when_the_limit_is_lifted(tmp_path, monkeypatch):
    """Killed after the max_products stop, while the queued products are still being fetched (the crawl is
    not done): a rerun without the limit must read the held listing pages too and end complete."""
    with FixtureShop(toy_products(2, 4), per_page=3, faults=False) as shop:
        config = fixture_site_config(shop.base_url, **{**FAST, "checkpoint_every": 1})
        crawl(config, tmp_path / "reference", progress=False)
        reference = _comparable(tmp_path / "reference")

        dying, _ = _dying_writer(2)
        monkeypatch.setattr(crawler_module.atomic, "write_bytes", dying)
        with pytest.raises(KeyboardInterrupt):
            crawl({**config, "max_products": 2}, tmp_path / "out", progress=False)
        monkeypatch.setattr(crawler_module.atomic, "write_bytes", _REAL_WRITE_BYTES)
        killed = json.loads((tmp_path / "out" / "state.json").read_text())
        assert killed["stop_reason"] == "max_products" and not killed["done"] and killed["held"]
        full = crawl(config, tmp_path / "out", progress=False)
    assert full.complete and full.stop_reason == "frontier_exhausted"
    assert [s["reason"] for s in full.stops] == ["frontier_exhausted"]
    _check_complete(tmp_path / "out", reference)


@pytest.mark.parametrize("budget, value", [("max_pages", 6), ("max_requests", 12)])
def test_page_and_request_budgets_stop_the_crawl_with_a_usable_manifest(budget, value, tmp_path):
    with FixtureShop(toy_products(3, 4), per_page=2, faults=["endless_pagination"]) as shop:
        summary = crawl({**fixture_site_config(shop.base_url, **FAST), "limits": {budget: value}}, tmp_path,
                        progress=False)
        served = len(shop.requests)
    assert summary.stop_reason == budget and not summary.complete and summary.pending > 0
    assert [s["reason"] for s in summary.stops] == [budget]
    if budget == "max_pages":
        assert summary.pages == value
    else:
        assert served <= value + 2 * 4  # checked before each step: one batch of images (concurrency x 4) may finish
    rows = read_crawl_manifest(tmp_path)
    assert {p.relative_to(tmp_path).as_posix() for p in _files(tmp_path / "images")} == {r["path"] for r in rows}
    for row in rows:
        assert sha256_file(tmp_path / row["path"]) == row["sha256"]


def test_max_pages_counts_page_fetches_attempted_failed_ones_too(tmp_path):
    with FixtureShop(toy_products(1, 3), per_page=3, faults=["server_error_permanent"]) as shop:
        # home, 2 listings (class-0, Clearance), 3 good products, 1 product that always answers 500 = 7
        summary = crawl({**fixture_site_config(shop.base_url, **FAST), "limits": {"max_pages": 7}}, tmp_path,
                        progress=False)
    assert summary.failures == {"http_500": 1} and summary.pages == 6  # six pages came back ...
    assert summary.stop_reason == "frontier_exhausted"  # ... seven attempts: within the budget of 7
    with FixtureShop(toy_products(1, 3), per_page=3, faults=["server_error_permanent"]) as shop:
        summary = crawl({**fixture_site_config(shop.base_url, **FAST), "limits": {"max_pages": 6}},
                        tmp_path / "six", progress=False)
    (stop,) = summary.stops
    assert stop["reason"] == "max_pages" and "6 page fetches attempted, failed ones included" in stop["detail"]


def test_the_manifest_is_written_at_every_checkpoint(tmp_path, monkeypatch):
    """A crawl that dies leaves a manifest of what it had at its last checkpoint: every row a complete file."""
    dying, count = _dying_writer(9)
    with FixtureShop(toy_products(3, 4), per_page=2, faults=["endless_pagination"]) as shop:
        monkeypatch.setattr(crawler_module.atomic, "write_bytes", dying)
        with pytest.raises(KeyboardInterrupt):
            crawl(fixture_site_config(shop.base_url, **FAST), tmp_path, progress=False)
    rows = read_crawl_manifest(tmp_path)
    assert 0 < len(rows) < count["n"]  # what the last checkpoint had, not the image being written
    for row in rows:
        assert sha256_file(tmp_path / row["path"]) == row["sha256"]
    report = _report(tmp_path)
    assert report["stop_reason"] is None and not report["complete"] and report["images"] == len(rows)
    assert report["manifest_sha256"] == sha256_file(tmp_path / "manifest.csv")


def test_kill_minus_nine_on_endless_pagination_and_resume(tmp_path):
    """SIGKILL mid-crawl on endless, self-linking and tracked listings; the resumed crawl ends like an
    uninterrupted one: same images, no duplicates, the same stops."""
    faults = ["endless_pagination", "self_linking_last_page", "changing_tracking_parameter"]
    with FixtureShop(toy_products(2, 4), per_page=3, faults=faults, latency=0.03) as shop:
        raw = fixture_site_config(shop.base_url, **{**FAST, "checkpoint_every": 2})
        crawl(raw, tmp_path / "reference", progress=False)
        reference = _comparable(tmp_path / "reference")
        reference_stops = sorted((s["reason"], s["scope"]) for s in _report(tmp_path / "reference")["stops"])
        out = tmp_path / "out"

        def manifest_is_usable() -> None:  # a killed crawl still has a usable manifest
            if (out / "manifest.csv").is_file():
                for row in read_crawl_manifest(out):
                    assert sha256_file(out / row["path"]) == row["sha256"]

        done = _kill_then_finish(raw, out, tmp_path / "site.yaml", thresholds=(2, 6, 11), after_kill=manifest_is_usable)
        assert "(resumed)" in done.stdout and "stopped: stale_pages" in done.stdout
    _check_complete(out, reference)
    assert sorted((s["reason"], s["scope"]) for s in _report(out)["stops"]) == reference_stops


# --- robots.txt on another host ------------------------------------------------------------------------


def _shop_with_cdn_images(shop: FixtureShop, cdn: FixtureShop) -> None:
    """Point the shop's product pages at the CDN's images (another origin: another robots.txt)."""
    for pid in range(1, len(shop.products) + 1):
        url = f"{cdn.base_url}/image/catalog/product/{pid}-0.jpg"
        shop.routes[shop._product_path(pid)] = _Route(body=_page(
            "cdn product", f"<ul class='thumbnails'><li><a class='thumbnail' href='{url}'>x</a></li></ul>"))


@pytest.mark.parametrize("fails", [4, None])
def test_an_unreachable_robots_txt_on_a_cdn_is_retried_in_bounded_rounds(fails, tmp_path):
    # The cooldown outlasts the three product pages, so every round is one ask of robots.txt for all URLs.
    polite = {**FAST, "robots_cooldown": 0.4, "robots_rounds": 3}
    with FixtureShop(toy_products(1, 3), faults=False) as shop, FixtureShop(toy_products(1, 3), faults=False) as cdn:
        _shop_with_cdn_images(shop, cdn)
        if fails is None:
            cdn.routes["/robots.txt"] = _Route(status=503, body=b"down")
        else:
            cdn.routes["/robots.txt"] = _Route(body=b"User-agent: *\n", content_type="text/plain", fail_first=fails,
                                               fail_status=503)
        summary = crawl(fixture_site_config(shop.base_url, **polite), tmp_path, progress=False)
        robots_asked = len(cdn.requested("/robots.txt"))
        images_asked = len(cdn.requested("/image/"))
        cdn_origin = cdn.base_url
        if fails is None:  # the CDN comes back: a later run fetches what waited for it, and nothing else
            cdn.routes["/robots.txt"] = _Route(body=b"User-agent: *\n", content_type="text/plain")
            pages_before = len([r for r in shop.requests if r.path != "/robots.txt"])
            later = crawl(fixture_site_config(shop.base_url, **polite), tmp_path, progress=False)
            assert later.images == 3 and not later.failures and later.complete
            assert len([r for r in shop.requests if r.path != "/robots.txt"]) == pages_before  # no page again
            assert [s["reason"] for s in later.stops] == ["frontier_exhausted"]
            on_disk = {p.relative_to(tmp_path).as_posix() for p in _files(tmp_path / "images")}
            assert on_disk == {r["path"] for r in read_crawl_manifest(tmp_path)}
    assert summary.stop_reason == "frontier_exhausted"
    if fails is not None:  # down for the first round, up in the second: nothing lost
        assert summary.images == 3 and not summary.failures and robots_asked == fails + 1
        assert all(s["reason"] != "robots_unavailable" for s in summary.stops)
    else:  # down for good: each URL waited 3 rounds, robots.txt was asked 3 x 3 times (not per URL)
        assert summary.images == 0 and summary.failures == {"robots_unavailable": 3} and images_asked == 0
        assert robots_asked == 3 * FAST["retries"]
        (stop,) = [s for s in summary.stops if s["reason"] == "robots_unavailable"]
        assert stop["scope"] == cdn_origin and "not as disallowed" in stop["detail"]


# --- labels ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fallback", ["link_text", "none"])
def test_the_label_falls_back_to_the_category_link_text_as_documented(fallback, tmp_path):
    with FixtureShop(toy_products(2, 2), faults=False) as shop:
        config = {**fixture_site_config(shop.base_url, **FAST),
                  "label": {"selector": "h3.no-such-heading", "fallback": fallback}}
        summary = crawl(config, tmp_path, progress=False)
    rows = read_crawl_manifest(tmp_path)
    if fallback == "link_text":  # the home page's link texts are the class names
        assert sorted((r["label"], r["label_from"]) for r in rows) == [("class-0", "link_text")] * 2 + [
            ("class-1", "link_text")] * 2
    else:
        assert rows == [] and summary.failures == {"no_label": 2}


def test_the_label_url_param_comes_before_the_fallback(tmp_path):
    with FixtureShop(toy_products(2, 1), faults=False) as shop:
        config = {**fixture_site_config(shop.base_url, **FAST), "label": {"url_param": "path"}}
        crawl(config, tmp_path, progress=False)
    assert sorted((r["label"], r["label_from"]) for r in read_crawl_manifest(tmp_path)) == [
        ("1", "url_param"), ("2", "url_param")]


# --- units: URLs and srcset ----------------------------------------------------------------------------


@pytest.mark.parametrize("url, expected", [
    ("HTTP://Shop.Example:80/a?b=2&a=1#top", "http://shop.example/a?a=1&b=2"),
    ("https://shop/x?utm_source=feed&page=2&UTM_Campaign=z&gclid=1", "https://shop/x?page=2"),
    ("https://shop/x;jsessionid=ABC123?id=1&PHPSESSID=f", "https://shop/x?id=1"),
    ("https://shop:8443?c=3&c=1&b", "https://shop:8443/?b&c=3&c=1"),  # repeated keys keep their order
    ("https://shop/index.php?route=product/category&path=1", "https://shop/index.php?path=1&route=product/category"),
    ("https://shop/a%2Fb?q=%2F", "https://shop/a%2Fb?q=%2F"),  # percent-encoding kept as it was
])
def test_canonical_urls(url, expected):
    assert canonical_url(url) == expected


def test_the_drop_list_is_configurable():
    assert canonical_url("http://s/?shopsid=1&p=2", drop_list(["shopsid"])) == "http://s/?p=2"
    assert canonical_url("http://s/?ref_a=1&ref_b=2&p=2", drop_list(["ref_*"])) == "http://s/?p=2"
    assert canonical_url("http://s/?PHPSESSID=1", drop_list(defaults=False)) == "http://s/?PHPSESSID=1"


@pytest.mark.parametrize("value, expected", [
    ("a.png 100w, //h/b.png 1024w", [Candidate("a.png", 100), Candidate("//h/b.png", 1024)]),
    ("a.png, b.png 2x", [Candidate("a.png"), Candidate("b.png", density=2.0)]),
    ("  a,b.png 1.5x ,c.png", [Candidate("a,b.png", density=1.5), Candidate("c.png")]),  # commas inside URLs
    ("x.png,,, y.png 3x", [Candidate("x.png"), Candidate("y.png", density=3.0)]),
    ("data:image/png;base64,AAA= 1x, z.png 2x", [Candidate("data:image/png;base64,AAA=", density=1.0),
                                                  Candidate("z.png", density=2.0)]),
    ("a.png 100w 2x, b.png 0w, c.png -1x, d.png 50h, e.png 100w 50h", [Candidate("e.png", 100)]),  # invalid dropped
    ("a.png foo(bar, baz) 10w, b.png 20w", [Candidate("b.png", 20)]),  # unknown descriptor: dropped whole
    ("", []),
])
def test_srcset_is_parsed_as_the_html_standard_says(value, expected):
    assert parse_srcset(value) == expected


def test_the_largest_candidate_and_lazy_attributes():
    from bs4 import BeautifulSoup

    assert largest([Candidate("a", 100), Candidate("b", 50), Candidate("c", density=3.0)]).url == "a"
    assert largest([Candidate("a"), Candidate("b", density=2.0)]).url == "b"
    assert largest([]) is None
    soup = BeautifulSoup(
        "<img id=lazy src='data:image/gif;base64,R0=' data-src='/big.jpg'>"
        "<img id=both src='/small.jpg' srcset='/s.jpg 200w, /l.jpg 800w' data-srcset='/xl.jpg 1600w'>"
        "<picture id=pic><source srcset='/p1.webp 1x, /p2.webp 2x'><img src='/p.jpg'></picture>"
        "<a id=a href='/full.jpg'><img src='/thumb.jpg'></a>", "lxml")
    assert image_url(soup.select_one("#lazy"), "auto") == "/big.jpg"
    assert image_url(soup.select_one("#both"), "auto") == "/xl.jpg"
    assert image_url(soup.select_one("#both"), "srcset") == "/l.jpg"
    assert image_url(soup.select_one("#both"), "src") == "/small.jpg"
    assert image_url(soup.select_one("#pic"), "auto") == "/p2.webp"
    assert image_url(soup.select_one("#a"), "auto") == "/full.jpg"


def test_a_data_placeholder_in_srcset_does_not_hide_the_real_image():
    from bs4 import BeautifulSoup

    gif = "data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs="
    soup = BeautifulSoup(
        f"<img id=placeholder srcset='{gif} 1x' data-src='/real.jpg'>"
        f"<img id=lazy-srcset src='{gif}' data-srcset='{gif} 2000w, /a-400.jpg 400w, /a-800.jpg 800w'>"
        f"<img id=lazy-lazy data-lazy-srcset='/b-300.jpg 300w, /b-900.jpg 900w' src='/b-thumb.jpg'>"
        f"<img id=blob srcset='blob:https://shop/1 4x, /c.jpg 1x'>"
        f"<img id=nothing src='{gif}' srcset='{gif} 1x'>", "lxml")
    assert image_url(soup.select_one("#placeholder"), "auto") == "/real.jpg"
    assert image_url(soup.select_one("#lazy-srcset"), "auto") == "/a-800.jpg"
    assert image_url(soup.select_one("#lazy-srcset"), "data-srcset") == "/a-800.jpg"
    assert image_url(soup.select_one("#lazy-lazy"), "auto") == "/b-900.jpg"
    assert image_url(soup.select_one("#blob"), "auto") == "/c.jpg"
    assert image_url(soup.select_one("#nothing"), "auto") is None


@pytest.mark.parametrize("value", ["a.png 1.x", "a.png 2.5x\n", "a.png 100w\n"])
def test_srcset_descriptors_must_be_whole_numbers_as_the_standard_spells_them(value):
    # "1." is no valid floating-point number; a trailing newline is whitespace, never part of a number
    expected = {"a.png 1.x": [], "a.png 2.5x\n": [Candidate("a.png", density=2.5)],
                "a.png 100w\n": [Candidate("a.png", 100)]}[value]
    assert parse_srcset(value) == expected
    from toonlab.data.scrape.srcset import _FLOAT, _INTEGER
    assert not _FLOAT.fullmatch("1.") and _FLOAT.fullmatch("1.5") and not _INTEGER.fullmatch("12\n")


def test_the_documented_image_rules_take_one_rendition_of_a_picture():
    """An <img srcset> inside <picture> matched both documented rules: two renditions of one image."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(
        "<ul class='thumbnails'><li><picture><source srcset='/a-640.jpg 2x'><img srcset='/a-320.jpg 1x'></picture>"
        "</li><li><img srcset='/b-100.jpg 100w, /b-900.jpg 900w'></li></ul>", "lxml")
    rules = SiteConfig.from_dict(fixture_site_config("http://127.0.0.1:1")).image_links
    found = [image_url(element, rule.attr) for rule in rules for element in soup.select(rule.selector)]
    assert sorted(found) == ["/a-640.jpg", "/b-900.jpg"]


def test_bad_limits_and_labels_say_what_is_wrong():
    good = fixture_site_config("http://127.0.0.1:1")
    with pytest.raises(SiteConfigError, match="limits.stale_pages must be an int >= 1"):
        SiteConfig.from_dict({**good, "limits": {"stale_pages": 0}})
    with pytest.raises(SiteConfigError, match=r"unknown limits settings \['max_page'\]"):
        SiteConfig.from_dict({**good, "limits": {"max_page": 3}})
    with pytest.raises(SiteConfigError, match="label.fallback must be one of"):
        SiteConfig.from_dict({**good, "label": {"selector": "h2", "fallback": "title"}})
    with pytest.raises(SiteConfigError, match=r"unknown site settings \['max_product'\]"):
        SiteConfig.from_dict({**good, "max_product": 3})
    config = SiteConfig.from_dict(good)
    assert config.limits.stale_pages == 3 and config.max_products is None and config.drop_params == ("shopsid",)

"""The scraper against the local fixture shop: the fault matrix, politeness, safe names, kill-and-resume.

No test touches the internet: the shop listens on 127.0.0.1 only.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from PIL import Image

from toonlab import atomic
from toonlab.data.manifest import sha256_file
from toonlab.data.scrape import SiteConfig, SiteConfigError, crawl, read_crawl_manifest
from toonlab.data.scrape import crawler as crawler_module
from toonlab.data.scrape.names import image_filename, inside, safe_label
from toonlab.data.scrape.validate import RejectedImage, inspect_image
from toonlab.data.shop import FAULTS, FixtureShop, _Route, fixture_site_config, toy_image, toy_products

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
    assert summary.images == len(shop.expected["accepted"])
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
    first_listing = "/index.php?route=product/category&path=1"
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
        with pytest.raises(ValueError, match="another site configuration"):
            crawl(other, tmp_path, progress=False)


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

        real = atomic.write_bytes
        for crash_at in (2, 7, 13):
            count = {"n": 0}

            def dying(target, data, crash_at=crash_at, count=count):
                count["n"] += 1
                if count["n"] == crash_at:
                    raise KeyboardInterrupt("power cut")
                return real(target, data)

            monkeypatch.setattr(crawler_module.atomic, "write_bytes", dying)
            with pytest.raises(KeyboardInterrupt):
                crawl(config, tmp_path / "out", progress=False)
        monkeypatch.setattr(crawler_module.atomic, "write_bytes", real)
        summary = crawl(config, tmp_path / "out", progress=False)
    assert summary.resumed
    _check_complete(tmp_path / "out", reference)


def test_kill_minus_nine_and_resume(tmp_path):
    """SIGKILL the crawler process several times mid-crawl; the resumed crawl loses and duplicates nothing."""
    with FixtureShop(toy_products(3, 8), per_page=4, faults=RESUME_FAULTS, latency=0.03) as shop:
        raw = fixture_site_config(shop.base_url, **{**FAST, "checkpoint_every": 2})
        crawl(raw, tmp_path / "reference", progress=False)
        reference = _comparable(tmp_path / "reference")
        site = tmp_path / "site.yaml"
        site.write_text(yaml.safe_dump(raw))
        out = tmp_path / "out"
        command = [sys.executable, "-m", "toonlab.data.scrape", str(site), str(out), "--no-progress"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        kills = 0
        for threshold in (3, 10, 18):
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
        assert kills >= 2, "the crawl finished before it could be killed; slow the shop down"
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "(resumed)" in done.stdout
    _check_complete(out, reference)

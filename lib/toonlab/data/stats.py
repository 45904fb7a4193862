"""Descriptive statistics of an image collection, per class and overall (the Comics study's data
overview, colour breakdown and HSV notebooks, and ToyHollyWood's class balance).

:func:`describe` reads every image once, in worker processes, and keeps only small per-image numbers
(size, aspect, bytes, mean RGB, mean HSV, sha256, perceptual hash, a few hundred sampled pixels) and
per-class HSV histograms, so memory stays flat however many images there are. Everything else
(tables, dominant colours, duplicates) is computed from that summary.

Conventions, where the sources were silent: aspect is width / height (the Comics value 0.7048 is
1128 / 1600); colours are measured after compositing transparency over white, as the loaders do;
HSV comes from Pillow's 8-bit HSV conversion (hue, saturation, value in [0, 1], hue 0 = red, its
plain arithmetic mean as the Comics notebook reported it); dominant colours are k-means centres in
CIELAB, where distances follow perceived colour differences.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import imagehash
import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from toonlab.data.hashing import near_duplicate_pairs
from toonlab.data.images import to_rgb_on_white

HIST_BINS = 256  # Pillow's HSV channels are 8-bit
INLINE_BELOW = 256  # fewer images than this are read in-process (worker start-up would dominate)


@dataclass
class ImageStats:
    """Per-image numbers (``images``), per-class HSV histograms and sampled pixels for colour clustering."""

    images: pd.DataFrame
    hsv_hist: dict[str, np.ndarray]  # class -> 3 x 256 counts (H, S, V)
    pixels: np.ndarray  # N x P x 3 uint8: P pixels sampled per image
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return sorted(self.images["label"].unique())


@dataclass(frozen=True)
class _Job:
    index: int
    path: str
    label: str
    samples: int
    seed: int


def _measure(job: _Job) -> tuple[int, dict | None, np.ndarray | None, np.ndarray | None, str]:
    """Worker: read one image and reduce it to numbers. Never raises: a bad file comes back as an error."""
    try:
        data = Path(job.path).read_bytes()
        with Image.open(job.path) as opened:
            width, height = opened.size
            rgb_image = to_rgb_on_white(opened)
        # Means come from Pillow's C histograms (exact integer counts), not from float passes over pixels:
        # this halves the time per image, and the HSV histogram is needed anyway.
        levels = np.arange(HIST_BINS, dtype=np.float64)
        pixels_total = rgb_image.size[0] * rgb_image.size[1]
        rgb_hist = np.asarray(rgb_image.histogram(), dtype=np.int64).reshape(3, HIST_BINS)
        hist = np.asarray(rgb_image.convert("HSV").histogram(), dtype=np.int64).reshape(3, HIST_BINS)
        mean_rgb = rgb_hist @ levels / pixels_total
        mean_hsv = hist @ levels / pixels_total / 255.0
        flat = np.asarray(rgb_image).reshape(-1, 3)
        rng = np.random.default_rng([job.seed, job.index])
        sample = flat[rng.integers(0, len(flat), job.samples)]
        row = {
            "path": job.path,
            "label": job.label,
            "width": width,
            "height": height,
            "aspect": width / height,
            "bytes": len(data),
            "mean_r": float(mean_rgb[0]),
            "mean_g": float(mean_rgb[1]),
            "mean_b": float(mean_rgb[2]),
            "mean_h": float(mean_hsv[0]),
            "mean_s": float(mean_hsv[1]),
            "mean_v": float(mean_hsv[2]),
            "sha256": hashlib.sha256(data).hexdigest(),
            "phash": str(imagehash.phash(rgb_image)),
        }
        return job.index, row, hist, sample, ""
    except Exception as error:  # noqa: BLE001 - reported by name, never fatal
        return job.index, None, None, None, f"{type(error).__name__}: {error}"


def describe(paths: Sequence[str | Path], labels: Sequence[str], *, workers: int | None = None,
             pixel_samples: int = 64, seed: int = 0, progress: bool = True) -> ImageStats:
    """Measure every image. ``workers`` processes (default: all cores); unreadable files are listed, not fatal."""
    if len(paths) != len(labels):
        raise ValueError(f"{len(paths)} paths but {len(labels)} labels; give one label per image")
    if pixel_samples < 1:
        raise ValueError(f"pixel_samples must be >= 1, got {pixel_samples}")
    jobs = [_Job(i, str(p), str(label), pixel_samples, seed) for i, (p, label) in enumerate(zip(paths, labels))]
    workers = workers or os.cpu_count() or 1
    rows: list[dict | None] = [None] * len(jobs)
    pixels = np.zeros((len(jobs), pixel_samples, 3), dtype=np.uint8)
    hists: dict[str, np.ndarray] = {}
    unreadable: list[tuple[str, str]] = []

    def consume(results) -> None:
        for index, row, hist, sample, error in tqdm(results, total=len(jobs), desc="image statistics",
                                                    disable=not progress, leave=False, mininterval=5.0):
            if row is None:
                unreadable.append((jobs[index].path, error))
                continue
            rows[index] = row
            pixels[index] = sample
            label = row["label"]
            hists[label] = hists.get(label, 0) + hist  # streamed: no per-image histogram is kept

    if workers == 1 or len(jobs) < INLINE_BELOW:
        consume(map(_measure, jobs))
    else:
        # spawn, not fork: the parent may hold torch threads, which fork can deadlock.
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            consume(pool.imap(_measure, jobs, chunksize=64))
    keep = [i for i, row in enumerate(rows) if row is not None]
    images = pd.DataFrame([rows[i] for i in keep], columns=_COLUMNS)
    return ImageStats(images=images, hsv_hist=dict(sorted(hists.items())), pixels=pixels[keep], unreadable=unreadable)


_COLUMNS = ["path", "label", "width", "height", "aspect", "bytes", "mean_r", "mean_g", "mean_b",
            "mean_h", "mean_s", "mean_v", "sha256", "phash"]


# --- tables ----------------------------------------------------------------------------------------


def duplicate_flags(stats: ImageStats, max_distance: int = 6) -> pd.DataFrame:
    """Per image: is it an exact copy of an earlier image (sha256), and is it in a near-duplicate pair (phash)?"""
    frame = stats.images
    exact = frame.duplicated("sha256", keep="first")
    near = np.zeros(len(frame), dtype=bool)
    for i, j, _distance in near_duplicate_pairs(frame["phash"].tolist(), max_distance):
        if frame["sha256"].iat[i] != frame["sha256"].iat[j]:
            near[i] = near[j] = True
    return pd.DataFrame({"exact_duplicate": exact.to_numpy(), "near_duplicate": near}, index=frame.index)


def class_table(stats: ImageStats, max_distance: int = 6) -> pd.DataFrame:
    """One row per class plus ``all``: counts, share, size/aspect/bytes, mean RGB and HSV, duplicates."""
    frame = pd.concat([stats.images, duplicate_flags(stats, max_distance)], axis=1)
    numeric = ["width", "height", "aspect", "bytes", "mean_r", "mean_g", "mean_b", "mean_h", "mean_s", "mean_v"]
    grouped = frame.groupby("label")
    table = grouped[numeric].mean()
    table.insert(0, "images", grouped.size())
    table.insert(1, "share", table["images"] / len(frame))
    table["exact_duplicates"] = grouped["exact_duplicate"].sum()
    table["near_duplicates"] = grouped["near_duplicate"].sum()
    overall = frame[numeric].mean().to_frame().T
    overall.insert(0, "images", len(frame))
    overall.insert(1, "share", 1.0)
    overall["exact_duplicates"] = int(frame["exact_duplicate"].sum())
    overall["near_duplicates"] = int(frame["near_duplicate"].sum())
    overall.index = ["all"]
    result = pd.concat([table, overall])
    result.index.name = "class"
    return result


def summary(stats: ImageStats) -> dict[str, float]:
    """The headline numbers, in the Comics study's terms."""
    frame = stats.images
    return {
        "images": int(len(frame)),
        "classes": int(frame["label"].nunique()),
        "mean_aspect": float(frame["aspect"].mean()),
        "mean_bytes": float(frame["bytes"].mean()),
        "mean_r": float(frame["mean_r"].mean()),
        "mean_g": float(frame["mean_g"].mean()),
        "mean_b": float(frame["mean_b"].mean()),
        "mean_h": float(frame["mean_h"].mean()),
        "mean_s": float(frame["mean_s"].mean()),
        "mean_v": float(frame["mean_v"].mean()),
        "unreadable": len(stats.unreadable),
    }


def dominant_colours(stats: ImageStats, k: int = 5, by_class: bool = True, max_pixels: int = 20_000,
                     seed: int = 0) -> pd.DataFrame:
    """The ``k`` dominant colours overall (and per class): k-means centres in CIELAB with their pixel share."""
    from skimage.color import lab2rgb, rgb2lab
    from sklearn.cluster import KMeans

    groups = [("all", np.arange(len(stats.images)))]
    if by_class:
        labels = stats.images["label"].to_numpy()
        groups += [(label, np.flatnonzero(labels == label)) for label in stats.classes]
    rows = []
    rng = np.random.default_rng(seed)
    for name, index in groups:
        pixels = stats.pixels[index].reshape(-1, 3)
        if len(pixels) > max_pixels:
            pixels = pixels[rng.choice(len(pixels), max_pixels, replace=False)]
        clusters = min(k, len(np.unique(pixels, axis=0)))
        lab = rgb2lab(pixels[None].astype(np.float64) / 255.0)[0]
        model = KMeans(n_clusters=clusters, n_init=4, random_state=seed).fit(lab)
        share = np.bincount(model.labels_, minlength=clusters) / len(lab)
        rgb = np.clip(lab2rgb(model.cluster_centers_[None])[0], 0, 1)
        for rank, c in enumerate(np.argsort(-share)):
            r, g, b = (int(round(v * 255)) for v in rgb[c])
            rows.append({"class": name, "rank": rank + 1, "hex": f"#{r:02x}{g:02x}{b:02x}", "r": r, "g": g, "b": b,
                         "L": float(model.cluster_centers_[c, 0]), "share": float(share[c])})
    return pd.DataFrame(rows)

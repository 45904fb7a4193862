"""Figures for the data chapter: class balance, size distributions, HSV histograms, palettes, sample grids."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from toonlab.data.images import fit_square
from toonlab.data.stats import ImageStats

HSV_NAMES = ("hue", "saturation", "value")


def class_balance(stats: ImageStats, title: str = "") -> Figure:
    counts = stats.images["label"].value_counts().sort_values()
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(counts) + 1.2))
    ax.barh(counts.index.astype(str), counts.to_numpy(), color="#4c72b0")
    for y, value in enumerate(counts.to_numpy()):
        ax.text(value, y, f" {value}", va="center", fontsize=8)
    ax.set_xlabel("images")
    ax.set_title(title or f"class balance ({len(stats.images)} images, {len(counts)} classes)")
    fig.tight_layout()
    return fig


def distributions(stats: ImageStats, title: str = "") -> Figure:
    """Resolution (width x height), aspect ratio and file size."""
    frame = stats.images
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    axes[0].scatter(frame["width"], frame["height"], s=6, alpha=0.4)
    axes[0].set(xlabel="width (px)", ylabel="height (px)", title="resolution")
    axes[1].hist(frame["aspect"], bins=30, color="#55a868")
    axes[1].set(xlabel="aspect (width / height)", ylabel="images", title="aspect ratio")
    axes[2].hist(frame["bytes"] / 1024, bins=30, color="#c44e52")
    axes[2].set(xlabel="file size (KiB)", ylabel="images", title="file size")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def hsv_histograms(stats: ImageStats, bins: int = 32, classes: Sequence[str] | None = None, title: str = "") -> Figure:
    """Per-class distributions of hue, saturation and value (each normalised to sum to 1)."""
    classes = list(stats.hsv_hist) if classes is None else list(classes)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    centres = (np.arange(bins) + 0.5) / bins
    for label in classes:
        hist = stats.hsv_hist[label].reshape(3, bins, -1).sum(axis=2).astype(np.float64)
        hist /= hist.sum(axis=1, keepdims=True)
        for channel, ax in enumerate(axes):
            ax.plot(centres, hist[channel], label=label, linewidth=1.2)
    for channel, ax in enumerate(axes):
        ax.set(xlabel=HSV_NAMES[channel], ylabel="share of pixels", xlim=(0, 1))
    axes[0].legend(fontsize=7, ncol=1 if len(classes) < 8 else 2)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def palettes(colours: pd.DataFrame, title: str = "dominant colours (k-means in CIELAB)") -> Figure:
    """One bar per group, split into its dominant colours by pixel share."""
    groups = list(dict.fromkeys(colours["class"]))
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(groups) + 1))
    for y, group in enumerate(groups):
        left = 0.0
        for row in colours[colours["class"] == group].itertuples():
            ax.barh(y, row.share, left=left, color=row.hex, edgecolor="white", linewidth=0.5)
            left += row.share
    ax.set_yticks(range(len(groups)), groups)
    ax.invert_yaxis()
    ax.set(xlim=(0, 1), xlabel="share of pixels", title=title)
    fig.tight_layout()
    return fig


def sample_grid(paths: Sequence[str | Path], labels: Sequence[str], per_class: int = 8, size: int = 64,
                seed: int = 0, classes: Sequence[str] | None = None, title: str = "") -> Figure:
    """``per_class`` random images of each class, one row per class (transparency shown on white)."""
    by_class: dict[str, list[str]] = {}
    for path, label in zip(paths, labels):
        by_class.setdefault(str(label), []).append(str(path))
    classes = sorted(by_class) if classes is None else [str(c) for c in classes]
    rng = random.Random(seed)
    fig, axes = plt.subplots(len(classes), 1, figsize=(per_class * 0.9 + 1.8, 0.95 * len(classes) + 0.4), squeeze=False)
    for ax, label in zip(axes[:, 0], classes):
        members = by_class.get(label, [])
        chosen = sorted(rng.sample(members, min(per_class, len(members))))
        strip = Image.new("RGB", (size * per_class, size), (255, 255, 255))
        for i, path in enumerate(chosen):
            with Image.open(path) as image:
                strip.paste(fit_square(image, size, "pad"), (i * size, 0))
        ax.imshow(np.asarray(strip))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        for spine in ax.spines.values():
            spine.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig

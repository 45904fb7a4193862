"""Failed generations counted, not judged by eye: NaN images and black images.

The Comics study saw its learning-rate sweep "give black images" at 1e-1 and 1e-2. Two things look black:
a model whose weights went non-finite (NaN latents, which diffusers' uint8 conversion turns into 0), and a
model that really outputs near-black pictures. :func:`failure_flags` tells them apart on float images, before
any conversion; :func:`failure_rates` is the number a table reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BLACK_MEAN = 0.02  # mean intensity in [0, 1] at or below which an image counts as black ...
BLACK_STD = 0.02  # ... and almost no structure in it (a dark photo still has contrast)


@dataclass(frozen=True)
class FailureRates:
    n: int
    nan: float  # share of images holding any non-finite value
    black: float  # share of finite images that are (near) uniformly black
    failed: float  # nan + black

    def as_dict(self) -> dict[str, float]:
        return {"images": self.n, "NaN share": self.nan, "black share": self.black, "failed share": self.failed}


def _as_float(images: np.ndarray | Sequence) -> np.ndarray:
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise ValueError(f"expected images (N, H, W, C) or (H, W, C), got shape {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    return array.astype(np.float32)


def failure_flags(images: np.ndarray | Sequence) -> tuple[np.ndarray, np.ndarray]:
    """(nan, black) boolean flags per image; float images in [0, 1] (uint8 is scaled). A NaN image is not also
    counted black."""
    array = _as_float(images)
    flat = array.reshape(len(array), -1)
    nan = ~np.isfinite(flat).all(axis=1)
    finite = np.where(np.isfinite(flat), flat, 0.0)
    black = ~nan & (finite.mean(axis=1) <= BLACK_MEAN) & (finite.std(axis=1) <= BLACK_STD)
    return nan, black


def failure_rates(images: np.ndarray | Sequence) -> FailureRates:
    nan, black = failure_flags(images)
    n = len(nan)
    if n == 0:
        raise ValueError("no images to check")
    return FailureRates(n, float(nan.mean()), float(black.mean()), float((nan | black).mean()))


__all__ = ["BLACK_MEAN", "BLACK_STD", "FailureRates", "failure_flags", "failure_rates"]

"""Input checks shared by every metric: a wrong input fails here with the problem and the fix.

Metrics are easy to get silently wrong (images in [-1, 1] fed as [0, 1], a NaN from a diverged GAN, two sets
of different sizes paired by position). Every public metric function runs its inputs through these checks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


class MetricInputError(ValueError):
    """A metric was given inputs it cannot score (shape, emptiness, NaN, value range)."""


def check_images(images: torch.Tensor, name: str = "images", min_size: int = 1) -> torch.Tensor:
    """A float batch (N, 3, H, W) with values in [0, 1]; returned unchanged."""
    if not isinstance(images, torch.Tensor):
        raise MetricInputError(f"{name} must be a torch.Tensor (N, 3, H, W) in [0, 1], got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise MetricInputError(f"{name} must have shape (N, 3, H, W), got {tuple(images.shape)}; "
                               f"add a batch dimension with .unsqueeze(0) or convert grey images to RGB")
    if images.shape[0] == 0:
        raise MetricInputError(f"{name} is empty (0 images); a metric needs at least one image")
    if min(images.shape[-2:]) < min_size:
        raise MetricInputError(f"{name} are {tuple(images.shape[-2:])} pixels; this metric needs at least "
                               f"{min_size}x{min_size} (resize them first)")
    if not images.is_floating_point():
        raise MetricInputError(f"{name} have dtype {images.dtype}; convert with images.float() / 255")
    if not torch.isfinite(images).all():
        raise MetricInputError(f"{name} contain NaN or inf values; the model that produced them diverged")
    low, high = images.min().item(), images.max().item()
    if low < 0.0 or high > 1.0:
        hint = ("they look like [-1, 1] outputs: use (images + 1) / 2" if low >= -1.0 and high <= 1.0
                else "they look like [0, 255]: divide by 255" if low >= 0.0 and high <= 255.0
                else "rescale them to [0, 1]")
        raise MetricInputError(f"{name} must lie in [0, 1], found [{low:.4g}, {high:.4g}]; {hint}")
    return images


def check_pair(x: torch.Tensor, y: torch.Tensor, names: tuple[str, str] = ("x", "y"), min_size: int = 1) -> None:
    """Two image batches scored pairwise: both valid and of identical shape."""
    check_images(x, names[0], min_size)
    check_images(y, names[1], min_size)
    if x.shape != y.shape:
        raise MetricInputError(f"{names[0]} {tuple(x.shape)} and {names[1]} {tuple(y.shape)} must have the same "
                               f"shape: paired metrics compare image i with image i")


def check_features(features: np.ndarray | torch.Tensor, name: str = "features", min_rows: int = 1) -> np.ndarray:
    """A finite 2-D float array (N, D) with at least ``min_rows`` rows, as float64 numpy."""
    array = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
    if array.ndim != 2:
        raise MetricInputError(f"{name} must be 2-D (N, D), got shape {array.shape}")
    if array.shape[0] < min_rows:
        raise MetricInputError(f"{name} has {array.shape[0]} rows; this metric needs at least {min_rows}")
    if array.shape[1] == 0:
        raise MetricInputError(f"{name} has 0 feature dimensions")
    if not np.issubdtype(array.dtype, np.number):
        raise MetricInputError(f"{name} must be numeric, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if not np.isfinite(array).all():
        raise MetricInputError(f"{name} contain NaN or inf values; check the images and the feature extractor")
    return array


def check_same_dim(a: np.ndarray, b: np.ndarray, names: tuple[str, str] = ("a", "b")) -> None:
    if a.shape[1:] != b.shape[1:]:
        raise MetricInputError(f"{names[0]} {a.shape} and {names[1]} {b.shape} differ in feature dimensions: "
                               f"they must come from the same extractor")


def check_labels(labels: Sequence | np.ndarray | torch.Tensor, name: str = "labels") -> np.ndarray:
    """A non-empty 1-D array of integer (or string) labels without missing values."""
    array = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if array.ndim != 1:
        raise MetricInputError(f"{name} must be 1-D (one label per item), got shape {array.shape}")
    if array.size == 0:
        raise MetricInputError(f"{name} is empty; clustering metrics need at least one item")
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise MetricInputError(f"{name} contain NaN or inf; every item needs a label")
        if not np.all(array == np.round(array)):
            raise MetricInputError(f"{name} must be integer class ids, got non-integer floats")
        array = array.astype(np.int64)
    return array
